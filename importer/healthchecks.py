"""A service's healthcheck: the Compose one (an HTTP path with a probe where the test is a plain GET of
the service's own port, else the same command; durations in whole seconds), else one berth knows for
its image (importer/probes.py), else a guess a human must confirm, else a TODO.

A check that passes a secret on its command line is never copied (importer/secrets.py)."""

from __future__ import annotations

import re
import shlex

from importer import images, probes, secrets
from importer.draft import AppDraft
from rules.images import repository

DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)")
SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
URL = re.compile(r"(?:https?://|(?<=\s))(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::(\d+))?(/[^\s'\"]*)?")


def seconds(value: object) -> int | None:
    """Compose durations (`1m30s`, `10s`, `500ms`) -> whole seconds, at least 1."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return max(1, round(value / 1e9)) if value > 1000 else max(1, round(value))
    total = sum(float(n) * SECONDS[u] for n, u in DURATION.findall(str(value)))
    return max(1, round(total)) if total else None


def test_words(test: str | list[str] | None) -> list[str] | None:
    """The check as argv: `CMD x y` as is, `CMD-SHELL text` split as a shell would (for matching only)."""
    if not test:
        return None
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    kind, *rest = test
    if kind == "NONE":
        return None
    if kind == "CMD-SHELL":
        try:
            return shlex.split(" ".join(rest))
        except ValueError:
            return ["sh", "-c", " ".join(rest)]
    return list(rest)


def as_command(test: str | list[str]) -> list[str] | None:
    if isinstance(test, str):
        return ["sh", "-c", test]
    kind, *rest = test
    if kind == "NONE":
        return None
    return ["sh", "-c", " ".join(rest)] if kind == "CMD-SHELL" else list(rest)


def http_probe(words: list[str], port: int | None) -> tuple[str, str] | None:
    """(path, probe) when the check is curl/wget/python/node fetching localhost on the service's port."""
    if not words:
        return None
    tool = words[0].rsplit("/", 1)[-1]
    probe = {"curl": "curl", "wget": "wget"}.get(tool) or ("python" if tool.startswith("python") else
                                                           "node" if tool == "node" else None)
    if probe is None:
        return None
    text = " ".join(words)
    match = URL.search(text)
    if not match:
        return None
    url_port = int(match.group(1)) if match.group(1) else 80
    if port is not None and url_port != port:
        return None
    # anything after the fetch other than `|| exit 1` means the check does more than a GET
    tail = text[match.end():]
    if re.sub(r"(\|\|\s*(?:exit\s+1|false)|['\");]|\.read\(\)|\s)", "", tail) and probe in ("curl", "wget"):
        return None
    return match.group(2) or "/", probe


def convert(compose: dict, port: int | None) -> tuple[dict | None, list[str]]:
    """berth's healthcheck for a Compose one, and what about it the reader should know."""
    said = []
    test = compose.get("test")
    if not test and not compose.get("disable"):
        return None, ["Compose keeps the image's own HEALTHCHECK"]
    if compose.get("disable") or not test or (isinstance(test, list) and test[0] == "NONE"):
        return None, ["Compose disables this healthcheck"]
    words = test_words(test) or []  # a check that is set and not NONE has words
    found = http_probe(words, port)
    check: dict = {}
    if found:
        check["path"], check["probe"] = found
        said.append(f"the Compose check `{' '.join(words)}` is a GET of {found[0]}: berth's `path` with probe "
                    f"{found[1]} (the image must have {found[1]})")
    else:
        check["command"] = as_command(test)
    for key, ours in (("interval", "intervalS"), ("timeout", "timeoutS"), ("start_period", "startPeriodS")):
        if seconds(compose.get(key)) is not None:
            check[ours] = seconds(compose.get(key))
    if compose.get("retries"):
        check["retries"] = int(compose["retries"])
    if compose.get("start_interval"):
        said.append("start_interval has no berth equivalent; dropped")
    return check, said


def choose(draft: AppDraft, compose_name: str, out: dict, at: tuple, port: int | None, http: bool) -> None:
    """Set out["healthcheck"]: Compose's, the image's known one, a guess (a TODO), or nothing (a TODO)."""
    svc = draft.project.services[compose_name]
    image = svc.get("image") or ""
    known = probes.known(image, [str(w) for w in svc.get("command") or []])
    known_check = known.check if known else None
    if svc.get("healthcheck", {}).get("test"):
        check, said = convert(svc["healthcheck"], port)
        check = _for_image(check, known_check, image, said)
        if check and _passes_secret(draft, compose_name, check):
            draft.notes.todo(at + ("healthcheck",), "the Compose check passes a secret on its command line, so it was "
                                                    "not copied: write one that reads it from the environment")
            check = None
        if check:
            out["healthcheck"] = check
            for text in said:
                draft.notes.add(at + ("healthcheck",), text)
            return
    if known is not None and known_check:
        out["healthcheck"] = dict(known_check)
        draft.notes.add(at + ("healthcheck",), f"the check berth knows works in {repository(image)} ({known.source})")
        for key, value in (known.env or {}).items():
            out.setdefault("env", {})[key] = value
            draft.notes.add(at + ("env",), f"{key}={value}: turns on the endpoint the check asks ({known.source})")
        return
    _guess(draft, svc, out, at, port, http)


def _for_image(check: dict | None, known: dict | None, image: str, said: list[str]) -> dict | None:
    """A Compose check with a tool the image lacks, replaced by the one berth knows works in it."""
    if not check or not known:
        return check
    if "command" not in known and check.get("probe") == "curl":
        said.append(f"{repository(image)} has no curl: the check uses {known}")
        return {**check, **known}
    if "command" in known and ("path" in check or "curl" in str(check.get("command"))):
        said.append(f"{repository(image)} has no curl; the check is the one berth knows works in it")
        return {k: v for k, v in check.items() if k not in ("path", "probe", "command")} | known
    return check


def _passes_secret(draft: AppDraft, compose_name: str, check: dict) -> bool:
    written = (draft.project.raw_services.get(compose_name, {}).get("healthcheck") or {}).get("test")
    written = [written] if isinstance(written, str) else list(written or [])
    return bool(secrets.secret_in_command(check.get("command") or [], draft.secret_values, written)
                or secrets.contains(check.get("path") or "", draft.secret_values))


def _guess(draft: AppDraft, svc: dict, out: dict, at: tuple, port: int | None, http: bool) -> None:
    image = svc.get("image") or ""
    command = " ".join(out.get("command") or [])
    celery = re.search(r"celery\s+(?:-A|--app)[= ](\S+).*\b(worker|beat)\b", command)
    if celery and celery.group(2) == "beat":
        out["singleton"] = True
        draft.notes.add(at + ("singleton",), "Celery beat schedules each task once only while exactly one runs: a "
                                             "singleton never runs twice, not even during a deploy")
    internal = bool(image) and images.is_one_of(image, images.INTERNAL_IMAGES)
    if port and http and not internal:
        probe = "python" if re.search(r"uvicorn|gunicorn|python|streamlit|django|flask", command) else (
            "node" if re.search(r"\bnode\b|npm|next|yarn", command) else "curl")
        out["healthcheck"] = {"path": "/", "probe": probe}
        draft.notes.todo(at + ("healthcheck",), f"GUESSED: Compose has no healthcheck; berth waits on one. A GET of / "
                                                f"with {probe} (the image must have it): point it at the app's health "
                                                "endpoint")
    elif celery and celery.group(2) == "worker":
        out["healthcheck"] = {"command": ["celery", "-A", celery.group(1), "inspect", "ping", "--timeout", "10"],
                              "intervalS": 60, "timeoutS": 20}
        draft.notes.add(at + ("healthcheck",), "a Celery worker: healthy when it answers a ping")
    elif image and images.is_one_of(image, probes.NO_SHELL):
        draft.notes.todo(at, f"no healthcheck, and {repository(image)} has no shell to run one in: berth needs a "
                             "`healthcheck: {command: [...]}` that exits 0 when this service is up (it gates every deploy)")
    else:
        out["healthcheck"] = {"command": ["sh", "-c", "kill -0 1"], "startPeriodS": 10}
        what = "no HTTP port to ask" if port else "no port"
        draft.notes.todo(at + ("healthcheck",), f"GUESSED: Compose has no healthcheck and the service has {what}: healthy "
                                                "while its main process runs (one that crashes at start never turns "
                                                "healthy, so the deploy fails). Replace it with a check of its work")
