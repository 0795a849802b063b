"""`diff`: what changes between two plans: containers, images, ports, env var names, volumes, routes.

Each side is a plan JSON file (`python -m offline.plan STACK --format json --out FILE`) or
`git:<ref>:<stack>`, the plan of that commit's program, apps and stack file: the commit is exported
into a temporary directory (`git archive`), its own program is run there under mocks by this
checkout's runner (offline/mockrun.py, which needs nothing but Pulumi), and the record of what it
registered and exported is described by this checkout's plan. No side's internals are imported, so
any two commits compare; a section an older program does not export is shown as not compared. Like `plan`, it compares intended states, never what the
cloud currently runs, and it needs no credentials: pull requests from forks can run it.

    python -m offline.diff BEFORE AFTER [--format text|markdown|json] [--out FILE] [--exit-code]

Exit status: 0 (1 with --exit-code when something changed); 2 when a side cannot be planned or read.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from config import docker_provider
from offline import mockrun, plan as planning

IDENTITY = ("stack", "environment")  # which stack a plan is of: shown when the two sides differ in it
KEYED = ("containers", "services", "images", "routes")  # sections of named items: added, removed, or changed field by field
OBJECTS = ("host", "proxy", "backups")  # one object each: changed field by field
SETS = ("keptOnDestroy", "secretsNotSet")  # lists of names: added or removed
INTENDED_STATES = (
    "Both sides are intended states: what the stack files ask for, computed offline by running the program under "
    "Pulumi mocks. This is not the cloud's current state; `pulumi preview` compares with what is deployed."
)
RUNNER = ("__init__.py", "mockrun.py")  # copied into an exported commit to run its program under mocks


class DiffError(Exception):
    """A side that cannot be read or planned; the message says which and what to do."""


# --- reading the two sides ---------------------------------------------------------------------------

def read_side(spec: str, repo: Path = mockrun.REPO) -> dict:
    if spec.startswith("git:"):
        ref, sep, stack = spec[len("git:"):].rpartition(":")
        if not (sep and ref and stack):
            raise DiffError(f"{spec!r}: write a git side as git:<ref>:<stack>, e.g. git:origin/main:prod")
        return plan_at_ref(ref, stack, repo)
    path = Path(spec)
    if not path.is_file():
        raise DiffError(f"{spec}: no such file; give a plan JSON file (python -m offline.plan STACK --format json "
                        "--out FILE) or git:<ref>:<stack>")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise DiffError(f"{spec} is not JSON ({err}); make it with: python -m offline.plan STACK --format json") from err
    if not isinstance(data, dict) or data.get("berthPlan") != planning.FORMAT_VERSION:
        raise DiffError(f"{spec} is not a berth plan (format {planning.FORMAT_VERSION}); "
                        "make it with: python -m offline.plan STACK --format json")
    return data


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=120)


def plan_at_ref(ref: str, stack: str, repo: Path = mockrun.REPO) -> dict:
    """Export `ref` (only berth's directory in it) to a temporary directory and plan `stack` there."""
    return planning.describe(run_at_ref(ref, stack, repo), f"Pulumi.{stack}.yaml")


def run_at_ref(ref: str, stack: str, repo: Path = mockrun.REPO) -> mockrun.Run:
    """What `ref`'s own program registers for `stack` with its Pulumi.<stack>.yaml."""
    return runs_at_ref(ref, [(stack, f"Pulumi.{stack}.yaml")], repo)[0]


def runs_at_ref(ref: str, stacks: list[tuple[str, str]], repo: Path = mockrun.REPO) -> list[mockrun.Run]:
    """What `ref`'s own program registers for each (stack, stack file), in order: the commit exported once
    and every stack run in one process of its program (offline/mockrun.py `main`)."""
    if shutil.which("git") is None:
        raise DiffError("git is not installed; install it, or compare two plan JSON files instead")
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise DiffError(f"git ref {ref!r} is not a commit in {repo}; fetch it first (git fetch origin {ref}) "
                        "or give a commit SHA")
    prefix = _git(repo, "rev-parse", "--show-prefix").stdout.decode().strip()
    top = Path(_git(repo, "rev-parse", "--show-toplevel").stdout.decode().strip())
    sha = commit.stdout.decode().strip()
    archive = _git(top, "archive", "--format=tar", f"{sha}:{prefix}" if prefix else sha)
    if archive.returncode != 0:
        raise DiffError(f"git archive of {ref} failed: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory(prefix="berth-diff-") as tmp:
        tree = Path(tmp) / "berth"
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            # git archive holds only the commit's files; the "data" filter (Python 3.11.4+) refuses anything else.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tree, filter="data")
            else:
                tar.extractall(tree)
        for _, config_file in stacks:
            if not (tree / config_file).is_file():
                raise DiffError(f"{ref} has no {config_file}; name a stack that commit has a file for")
        (tree / "offline").mkdir(exist_ok=True)
        for name in RUNNER:
            shutil.copy2(Path(mockrun.__file__).parent / name, tree / "offline" / name)
        (first, first_file), *more = stacks
        command = [sys.executable, "-m", "offline.mockrun", first, "--config-file", str(tree / first_file)]
        for stack, config_file in more:
            command += ["--and", stack, str(tree / config_file)]
        done = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=300 * len(stacks))
    lines = done.stdout.splitlines()
    if done.returncode != 0:  # the runner stops at the first stack that fails: the one after those printed
        stack, config_file = stacks[min(len(lines), len(stacks) - 1)]
        which = stack if config_file == f"Pulumi.{stack}.yaml" else f"{stack} ({config_file})"
        raise DiffError(f"the plan of {which} at {ref} failed:\n{done.stderr.strip()}")
    return [mockrun.Run.from_record(json.loads(line)) for line in lines]


# --- comparing ---------------------------------------------------------------------------------------

@dataclass
class Change:
    """One field: added (`+`), removed (`-`) or changed (`~`); `path` is dotted from the item."""

    kind: str
    path: str
    before: Any = None
    after: Any = None


@dataclass
class Keyed:
    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, list[Change]] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)  # container -> what `pulumi up` does to it

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass
class PlanDiff:
    before: str
    after: str
    sections: dict[str, Any]

    @property
    def empty(self) -> bool:
        return not any(self.sections.values())


def changes(before: Any, after: Any, path: str = "") -> list[Change]:
    """Field-level differences; lists are compared as sets of items (ports, capabilities, aliases)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else key
            if key not in before:
                out.append(Change("+", sub, after=after[key]))
            elif key not in after:
                out.append(Change("-", sub, before=before[key]))
            else:
                out += changes(before[key], after[key], sub)
        return out
    if isinstance(before, list) and isinstance(after, list):
        old = {json.dumps(i, sort_keys=True): i for i in before}
        new = {json.dumps(i, sort_keys=True): i for i in after}
        return ([Change("-", path, before=old[k]) for k in sorted(set(old) - set(new))]
                + [Change("+", path, after=new[k]) for k in sorted(set(new) - set(old))])
    return [] if before == after else [Change("~", path, before, after)]


STEP_FIELDS = ("inputs", "replaceOnChanges", "replacementTrigger")  # a plan's container fields the step is read from


def container_step(before: dict, after: dict) -> str | None:
    """What `pulumi up` does to a container whose intended state changed, as the pinned provider and
    Pulumi decide it (config/docker_provider.py): replaced (create- or delete-first) for a ForceNew input,
    one under `replace_on_changes` or a changed replacement trigger; else updated in place. None when
    nothing it compares changed, or a side's plan does not record inputs (an older berth)."""
    if "inputs" not in before or "inputs" not in after:
        return None
    changed = docker_provider.changed_digests(before["inputs"], after["inputs"])
    forced = (changed & docker_provider.FORCE_NEW) | docker_provider.forced_by(changed, after.get("replaceOnChanges") or [])
    triggers = (before.get("replacementTrigger"), after.get("replacementTrigger"))
    if None not in triggers and triggers[0] != triggers[1]:
        forced.add("command, user or env left out")
    if forced:
        return f"replaced {after.get('replace', 'create-first')} ({', '.join(sorted(forced))})"
    return f"updated in place ({', '.join(sorted(changed))})" if changed else None


@dataclass
class NotCompared:
    """A section one side's program does not export (an older berth): nothing can be said about it."""

    sides: list[str]

    def __bool__(self) -> bool:
        return True


def _not_compared(name: str, before: dict, after: dict, labels: tuple[str, str]) -> NotCompared | None:
    missing = [label for label, plan in zip(labels, (before, after), strict=True) if name in plan and plan[name] is None]
    return NotCompared(missing) if missing else None


def compare(before: dict, after: dict, labels: tuple[str, str]) -> PlanDiff:
    """Every difference between two plans, section by section (empty sections mean no change there)."""
    identity = [{k: plan.get(k) for k in IDENTITY} for plan in (before, after)]
    sections: dict[str, Any] = {"stack": changes(identity[0], identity[1])}
    for name in KEYED:
        if unknown := _not_compared(name, before, after, labels):
            sections[name] = unknown
            continue
        old, new = before.get(name) or {}, after.get(name) or {}
        section = Keyed(added={k: new[k] for k in sorted(set(new) - set(old))},
                        removed={k: old[k] for k in sorted(set(old) - set(new))})
        for key in sorted(set(old) & set(new)):
            found = [c for c in changes(old[key], new[key]) if c.path.split(".", 1)[0] not in STEP_FIELDS]
            step = container_step(old[key], new[key]) if name == "containers" else None
            if found or step:
                section.changed[key] = found
            if step:
                section.steps[key] = step
        sections[name] = section
    for name in OBJECTS:
        sections[name] = _not_compared(name, before, after, labels) or changes(before.get(name) or {}, after.get(name) or {})
    for name in SETS:
        sections[name] = _not_compared(name, before, after, labels) or changes(before.get(name) or [], after.get(name) or [])
    return PlanDiff(labels[0], labels[1], sections)


# --- rendering ---------------------------------------------------------------------------------------

TITLES = {"stack": "Stack", "containers": "Containers", "services": "ECS services", "images": "Images", "routes": "Routes", "host": "Host",
          "proxy": "Proxy", "backups": "Backups", "keptOnDestroy": "Kept on destroy", "secretsNotSet": "Secrets not set in the stack file"}


def _value(path: str, value: Any) -> str:
    top = path.split(".", 1)[0]
    if top == "image" and isinstance(value, dict):
        return planning.image_text(value)
    if isinstance(value, dict):
        return planning.field_text(top, value)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return "(none)" if value is None else str(value)


def change_text(change: Change) -> str:
    label = change.path or "value"
    if change.kind == "+":
        return f"{label}: added {_value(change.path, change.after)}"
    if change.kind == "-":
        return f"{label}: removed {_value(change.path, change.before)}"
    return f"{label}: {_value(change.path, change.before)} -> {_value(change.path, change.after)}"


def _summary(section: str, item: dict) -> str:
    if section == "images":
        return planning.image_text(item)
    if section == "routes":
        _, target, options = planning.route_text(item)
        return f"-> {target}" + (f" [{options}]" if options else "")
    if section == "services":
        return planning.service_text(item)
    return "; ".join(f"{f} {planning.field_text(f, item[f])}" for f in ("image", "ports", "env") if f in item)


def _lines(diff: PlanDiff) -> list[tuple[int, str]]:
    """(depth, text) lines shared by the text and Markdown renderings."""
    out: list[tuple[int, str]] = []
    for name, section in diff.sections.items():
        if not section:
            continue
        out.append((0, TITLES[name]))
        if isinstance(section, NotCompared):
            out.append((1, f"not compared: {' and '.join(section.sides)} does not export it (planned by an older berth)"))
        elif isinstance(section, Keyed):
            out += [(1, f"added {key}: {_summary(name, item)}") for key, item in section.added.items()]
            out += [(1, f"removed {key}: {_summary(name, item)}") for key, item in section.removed.items()]
            for key, found in section.changed.items():
                out.append((1, f"changed {key}" + (f": {section.steps[key]}" if key in section.steps else "")))
                out += [(2, change_text(c)) for c in found]
        elif name in SETS:
            out += [(1, f"{'added' if c.kind == '+' else 'removed'} {c.after or c.before}") for c in section]
        else:
            out += [(1, change_text(c)) for c in section]
    return out


def render_text(diff: PlanDiff) -> str:
    lines = [f"berth diff: {diff.before} -> {diff.after}", INTENDED_STATES, ""]
    if diff.empty:
        lines.append("No changes to the intended state.")
    lines += ["  " * depth + text for depth, text in _lines(diff)]
    return "\n".join(lines) + "\n"


def render_markdown(diff: PlanDiff) -> str:
    lines = [f"### berth diff: `{diff.before}` → `{diff.after}`", "", f"> {INTENDED_STATES}"]
    if diff.empty:
        lines += ["", "No changes to the intended state."]
    for depth, text in _lines(diff):
        lines += ["", f"**{text}**", ""] if depth == 0 else ["  " * (depth - 1) + f"- {text}"]
    return "\n".join(lines) + "\n"


def render_json(diff: PlanDiff) -> str:
    sections = {k: asdict(v) if isinstance(v, (Keyed, NotCompared)) else [asdict(c) for c in v]
                for k, v in diff.sections.items()}
    data = {"before": diff.before, "after": diff.after, "intendedState": INTENDED_STATES, "changed": not diff.empty,
            "sections": sections}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


# --- command line ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="plan JSON file, or git:<ref>:<stack>")
    parser.add_argument("after", help="plan JSON file, or git:<ref>:<stack>")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when the plans differ")
    args = parser.parse_args(argv)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # two git sides plan in parallel subprocesses
            before, after = pool.map(read_side, (args.before, args.after))
        diff = compare(before, after, (args.before, args.after))
    except DiffError as err:
        print(f"berth diff: {err}", file=sys.stderr)
        return 2
    text = RENDERERS[args.format](diff)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if args.exit_code and not diff.empty else 0


if __name__ == "__main__":
    sys.exit(main())
