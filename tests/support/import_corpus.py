"""Measure `scripts/import compose` on real Compose projects, as their users would run it.

    .venv/bin/python -m tests.support.import_corpus /work/corpus [--only ID ...] [--markdown]

For each project in tests/fixtures/compose/corpus.yaml, and for each of the stacks dev and prod:
import it with `--stack <stack>`, apply the steps docs/import.md documents and that need no judgement
(merge the overlay into the stack file, set each secret it printed, pin each image prod refuses to the
digest `docker image inspect` prints, give each built service its `version`), load the result with
berth's own loader as that stack (prod as prod, on an EC2 host), and check two promises: no secret
value of the project reaches a written file or the terminal, and no data the project kept is dropped
without a TODO that says so. What the loader still refuses is what needs a human; the table says why.

The projects' files are not in this repository: the research tool they were fetched with forbids
committing what it fetches. The manifest says where each came from and how its env file was made;
the files live in a directory outside the repository (its first argument).
"""

from __future__ import annotations

import argparse
import copy
import io
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from importer import cli, compose
from importer.errors import ImportFailed
from rules.credentials import is_credential_name
from tests.support.compose_import import docker_host
from tests.support.stacks import REPO, mocked_instance_type

MANIFEST = REPO / "tests" / "fixtures" / "compose" / "corpus.yaml"
STACKS = ("dev", "prod")
DIGEST_STAND_IN = "sha256:" + "0" * 64  # what `docker image inspect` would print; no registry is reachable here
VERSION_STAND_IN = "0123abc"  # the git SHA a built service is tagged with outside dev
PROD_HOST = "t3.2xlarge"  # the prod stack's instance type: big enough for most, reported when not


@dataclass(frozen=True)
class Project:
    id: str  # its directory under the corpus directory
    name: str
    source: str  # where its files came from (URL at a commit)
    files: tuple[str, ...]  # the Compose files, merged in order
    args: tuple[str, ...] = ()  # more `scripts/import compose` arguments ({dir}: its directory)
    setup: str = ""  # what its users do before `docker compose up` that the corpus did too
    kind: str = ""  # what it is: web app, database, queue, worker, proxy ...


@dataclass
class StackResult:
    stack: str
    code: int  # the importer's exit status
    problems: list[str] = field(default_factory=list)  # what berth's loader still refuses, after the steps
    steps: list[str] = field(default_factory=list)  # the documented steps that were applied
    leaks: list[str] = field(default_factory=list)  # secret values found in a written file or the output
    error: str = ""  # why nothing was imported (exit 2)
    guessed: list[str] = field(default_factory=list)  # services whose healthcheck is a guess to confirm
    unreachable: list[str] = field(default_factory=list)  # services that serve only TCP/UDP berth cannot carry

    @property
    def loads(self) -> bool:
        return self.code != 2 and not self.problems


@dataclass
class Outcome:
    project: Project
    stacks: dict[str, StackResult]
    untold_drops: list[str] = field(default_factory=list)  # Compose mounts dropped with no TODO naming them

    @property
    def passes(self) -> bool:
        return all(r.loads and not r.leaks and not r.unreachable for r in self.stacks.values()) and not self.untold_drops


def projects(manifest: Path = MANIFEST) -> list[Project]:
    entries = yaml.safe_load(manifest.read_text(encoding="utf-8"))["projects"]
    return [Project(**{**e, "files": tuple(e["files"]), "args": tuple(e.get("args", ()))}) for e in entries]


# --- one project, one stack ------------------------------------------------------------------------

def run_import(project: Project, where: Path, stack: str, out: Path) -> tuple[int, str, str]:
    """The import, with no Docker engine to pin images from: the measurement is the same on every machine
    (a user's machine, where Compose ran, pins what it runs: importer/digests.py)."""
    args = [a.format(dir=where) for a in project.args]
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["compose", *[str(where / f) for f in project.files], "--stack", stack, "--out", str(out), *args]
    with docker_host(f"unix://{out}/no-engine.sock"):
        code = cli.main(argv, out=stdout, err=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def written(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file()}


def printed_secrets(stdout: str, stack: str) -> set[str]:
    """The config keys of `pulumi config set --stack <stack> --secret <key> <value>` lines the import printed."""
    return set(re.findall(rf"pulumi config set --stack {re.escape(stack)} --secret (\S+) <value>", stdout))


def stack_values(stack: str, overlay: dict) -> dict:
    """The stack file's `berth:*` values once the overlay is merged in (docs/import.md step 4)."""
    apps, shared = overlay.get("berth:apps", {}), overlay.get("berth:shared", {})
    if stack == "dev":
        return {"environment": "dev", "host": {"kind": "local"}, "apps": apps, **({"shared": shared} if shared else {})}
    prod = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text(encoding="utf-8"))["config"]
    values = {k.removeprefix("berth:"): v for k, v in prod.items() if k.startswith("berth:") and k != "berth:apps"}
    values["host"] = {**values["host"], "instanceType": PROD_HOST}
    merged_shared = copy.deepcopy(values.get("shared", {}))
    for name, settings in shared.items():
        merged_shared[name] = {**merged_shared.get(name, {}), **(settings or {})}
    return {**values, "apps": apps, "shared": merged_shared}


def loader_problems(values: dict, secrets: set[str], stack: str, out: Path) -> list[str]:
    raw = RawConfig({**values, **dict.fromkeys(secrets)}, frozenset(secrets))  # set: present, never read
    try:
        load(raw, stack, out, instance_types=mocked_instance_type)
    except ConfigError as err:
        return [str(p) for p in err.problems]
    except Exception as err:  # noqa: BLE001 - a loader crash is a finding, reported as one
        return [f"berth's loader crashed: {type(err).__name__}: {err}"]
    return []


UNPINNED = re.compile(r"^berth:apps\.([\w-]+)\.services\.([\w-]+)\.image: '([^']+)' is not pinned")
NO_VERSION = re.compile(r"^berth:apps\.([\w-]+)\.services\.([\w-]+)\.version: is required")


def mechanical_steps(problems: list[str], values: dict) -> list[str]:
    """Apply the documented steps that need no judgement to what the loader refused; say which."""
    done = []
    for problem in problems:
        for pattern, key, value, step in (
                (UNPINNED, "image", None, "pinned {ref} to the digest `docker image inspect` prints"),
                (NO_VERSION, "version", VERSION_STAND_IN, "set `version` of the built {svc}")):
            match = pattern.match(problem)
            if match:
                app, svc = match.group(1), match.group(2)
                ref = match.group(3) if pattern is UNPINNED else ""
                target = values["apps"].setdefault(app, {}).setdefault("services", {}).setdefault(svc, {})
                target[key] = value or f"{ref.split('@')[0]}@{DIGEST_STAND_IN}"
                done.append(step.format(ref=ref, svc=svc))
    return done


def measure_stack(project: Project, where: Path, stack: str, scratch: Path, secret_values: set[str]) -> StackResult:
    out = scratch / stack
    out.mkdir(parents=True)
    code, stdout, stderr = run_import(project, where, stack, out)
    result = StackResult(stack, code)
    files = written(out)
    result.leaks = leaks(secret_values, [stdout, stderr, *files.values()])
    if code == 2:
        result.error = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        return result
    result.guessed, result.unreachable = _judged(stdout)
    overlay_file = out / f"berth-import.{stack}.yaml"
    overlay = (yaml.safe_load(overlay_file.read_text(encoding="utf-8")) or {}).get("config", {}) if overlay_file.is_file() else {}
    values = stack_values(stack, overlay)
    secrets = printed_secrets(stdout, stack)
    result.steps = [f"set {len(secrets)} secret(s)"] if secrets else []
    problems = loader_problems(values, secrets, stack, out)
    steps = mechanical_steps(problems, values)
    if steps:
        result.steps += steps
        problems = loader_problems(values, secrets, stack, out)
    result.problems = problems
    return result


TODO_LINE = re.compile(r"^  - apps/(?P<app>[\w-]+)\.yaml services\.(?P<svc>[\w-]+)(?P<key>\.healthcheck)?: (?P<text>.*)$")


def _judged(stdout: str) -> tuple[list[str], list[str]]:
    """From the summary: services whose healthcheck the importer guessed, and services that published a
    TCP/UDP port that carries no HTTP (DNS, VPN, game, database, media): berth's proxy carries HTTP and
    HTTPS only, so what they served from outside is lost."""
    guessed, unreachable = [], []
    for match in (TODO_LINE.match(line) for line in stdout.splitlines()):
        if not match:
            continue
        if match["key"] and match["text"].startswith("GUESSED"):
            guessed.append(match["svc"])
        elif "which is not HTTP" in match["text"]:
            ports = match["text"].split(", which is not HTTP")[0].removeprefix("Compose published ")
            unreachable.append(f"{match['svc']} ({ports})")
    return guessed, unreachable


# --- what the project holds: its secret values, its data ------------------------------------------

def secret_values(project: compose.ComposeProject) -> set[str]:
    """Values the project holds that a reader must never see: those of credential-named variables (in its
    services' environment and env files) and the passwords in its URLs. Values the project also uses as
    plain values (a user `paperless` whose password is `paperless`, a placeholder `replace-me` in a URL and
    a key alike), names in the file (`postgres`, a service's name) and values too short to mean anything
    are left out."""
    names = set(project.services) | {str(s.get("image", "")).rsplit("/", 1)[-1].split(":")[0]
                                     for s in project.services.values()}
    found = set()
    for svc in project.services.values():
        for key, value in (svc.get("environment") or {}).items():
            value = "" if value is None else str(value)
            if not is_credential_name(key) and "://" not in value:
                names.add(value)
            if is_credential_name(key):
                found.add(value)
            found |= set(re.findall(r"://[^/@\s:]*:([^/@\s]+)@", value))
            found |= {m for m in re.findall(r"[?&](?:p|pass|password|pwd|secret|token|key)=([^&\s]+)", value)}
    found |= {value for name, value in project.variables.items() if is_credential_name(name)}
    return {v for v in found if len(v) >= 6 and v not in names and not v.startswith("$")}


def leaks(values: set[str], texts: list[str]) -> list[str]:
    """The secret values found in `texts`: anywhere as a whole token when the value could not be an
    ordinary word (it has a digit or a sign, or is long); a plain word (`password`) only where it is a
    whole YAML value or a `KEY=value` pair, since notes use such words themselves."""
    found = []
    for value in sorted(values):
        token = rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])"
        wordy = re.fullmatch(r"[A-Za-z]{1,15}", value) is not None
        pattern = rf"(?::\s*[\"']?|=){re.escape(value)}[\"']?(?:\s|$)" if wordy else token
        if any(re.search(pattern, text, re.MULTILINE) for text in texts):
            found.append(value)
    return found


def mount_targets(project: compose.ComposeProject) -> dict[str, list[str]]:
    """Service -> the paths Compose kept data at (named volumes and bind-mounted directories)."""
    kept = {}
    for name, svc in project.services.items():
        for mount in svc.get("volumes") or []:
            source, target = str(mount.get("source") or ""), mount.get("target", "")
            if mount.get("type") not in ("volume", "bind") or not source or source.endswith(".sock"):
                continue
            if mount.get("type") == "bind" and (Path(source).is_file() or target.startswith("/etc/localtime")):
                continue
            kept.setdefault(name, []).append(target)
    return kept


def untold_drops(project: compose.ComposeProject, where: Path, project_spec: Project, scratch: Path) -> list[str]:
    """Mount targets that are neither kept (a volume, shared volume or host dir of that path) nor named by
    a note in the written files (a TODO to move the data)."""
    out = scratch / "dev"
    texts = "\n".join(written(out).values()) if out.is_dir() else ""
    flat = " ".join(texts.replace("#", " ").split())
    kept_paths = set(re.findall(r"(?:^|\s|:|\{)\s*(/[^\s,}\"']+)", texts))
    missing = []
    for service, targets in mount_targets(project).items():
        for target in targets:
            if target.rstrip("/") in {p.rstrip("/") for p in kept_paths} or target.rstrip("/") in flat:
                continue
            missing.append(f"{service}:{target}")
    return missing


def measure(project: Project, corpus: Path) -> Outcome:
    where = corpus / project.id
    try:
        loaded = compose.load([where / f for f in project.files])
    except ImportFailed:
        loaded = None
    values = secret_values(loaded) if loaded else set()
    with tempfile.TemporaryDirectory(prefix="berth-corpus-") as scratch:
        stacks = {s: measure_stack(project, where, s, Path(scratch), values) for s in STACKS}
        drops = untold_drops(loaded, where, project, Path(scratch)) if loaded and stacks["dev"].code != 2 else []
    return Outcome(project, stacks, drops)


# --- the table ---------------------------------------------------------------------------------------

def verdict(result: StackResult) -> str:
    if result.code == 2:
        return "not imported"
    return "loads" if not result.problems else f"{len(result.problems)} problem(s)"


SHORT = ((re.compile(r"services\.([\w-]+)\.capAdd\[\d+\]: '(\w+)' lets a container reach past.*"),
          r"\1 needs \2, which berth never grants"),
         (re.compile(r"services\.([\w-]+): a server needs a `healthcheck`.*"), r"\1 has no healthcheck berth can run"),
         (re.compile(r"services\.([\w-]+): has no image.*"), r"\1 has no image"),
         (re.compile(r"services\.([\w-]+)\.build\.dockerfile: (\S+) is not in.*"), r"\1: \2 is not in its checkout"),
         (re.compile(r".*no service to import: (.*)"), r"nothing to import: \1"))


def short(problem: str) -> str:
    """A loader problem in the words of the table: what and where, without the fix."""
    for pattern, words in SHORT:
        match = pattern.search(problem)
        if match:
            return match.expand(words)
    return problem.split(": ", 1)[-1] if problem.startswith(("apps/", "berth:")) else problem


def why(outcome: Outcome) -> str:
    """What stops the project, once for both stacks where both say it, per stack otherwise."""
    said: dict[str, list[str]] = {}
    for result in outcome.stacks.values():
        reasons = ([short(result.error)] if result.error else []) + [short(p) for p in result.problems]
        reasons += [f"a secret value was written or printed ({v[:4]}…)" for v in result.leaks]
        reasons += [f"serves what berth's HTTP proxy cannot carry: {u}" for u in result.unreachable]
        for reason in reasons:
            said.setdefault(reason, []).append(result.stack)
    parts = [reason if len(stacks) == len(outcome.stacks) else f"{'/'.join(stacks)}: {reason}"
             for reason, stacks in said.items()]
    parts += [f"data dropped untold: {d}" for d in outcome.untold_drops]
    return "; ".join(dict.fromkeys(parts))


def table(outcomes: list[Outcome], markdown: bool) -> str:
    rows = [("project", "source", "dev", "prod", "guessed checks", "needs a human, and why")]
    for o in outcomes:
        guessed = ", ".join(o.stacks["dev"].guessed) or "-"
        source = o.project.source
        if markdown and source.startswith("https://github.com/"):
            repo = "/".join(source.split("/")[3:5])
            source = f"[{repo}]({source})"
        rows.append((o.project.name, source, verdict(o.stacks["dev"]), verdict(o.stacks["prod"]), guessed, why(o)))
    passed = [o for o in outcomes if o.passes]
    sure = sum(not o.stacks["dev"].guessed for o in passed)
    total = (f"{len(passed)}/{len(outcomes)} import and load as both dev and prod, with no secret leaked, no data "
             f"dropped untold and every service reachable; {sure} of them with no healthcheck guessed")
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "| " + " | ".join("---" for _ in rows[0]) + " |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows[1:]]
        return "\n".join(lines + ["", total])
    return "\n".join(" | ".join(row) for row in rows) + "\n\n" + total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.import_corpus", description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="the directory holding the projects' files (outside the repository)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--only", action="append", default=[], help="measure only this project id (repeatable)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (docs/import.md)")
    args = parser.parse_args(argv)
    chosen = [p for p in projects(args.manifest) if not args.only or p.id in args.only]
    outcomes = []
    for project in chosen:
        outcomes.append(measure(project, args.corpus))
        print(f"{project.id}: {'pass' if outcomes[-1].passes else 'fail'}", file=sys.stderr)
    print(table(outcomes, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
