"""A Compose healthcheck -> berth's: an HTTP path with a probe where the test is a plain GET of the
service's own port, else the same command; durations in whole seconds."""

from __future__ import annotations

import re
import shlex

DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)")
SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
URL = re.compile(r"(?:https?://|(?<=\s))(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::(\d+))?(/[^\s'\"]*)?")


def seconds(value) -> int | None:
    """Compose durations (`1m30s`, `10s`, `500ms`) -> whole seconds, at least 1."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return max(1, round(value / 1e9)) if value > 1000 else max(1, round(value))
    total = sum(float(n) * SECONDS[u] for n, u in DURATION.findall(str(value)))
    return max(1, round(total)) if total else None


def test_words(test) -> list[str] | None:
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


def as_command(test) -> list[str] | None:
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
    if re.sub(r"(\|\|\s*(?:exit\s+1|false)|['\");]|\.read\(\)|\s)", "", tail):
        if probe in ("curl", "wget"):
            return None
    return match.group(2) or "/", probe


def convert(compose: dict, port: int | None) -> tuple[dict | None, list[str]]:
    """berth's healthcheck for a Compose one, and what about it the reader should know."""
    said = []
    test = compose.get("test")
    if compose.get("disable") or not test or (isinstance(test, list) and test[0] == "NONE"):
        return None, ["Compose disables this healthcheck"]
    words = test_words(test)
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
