"""The shell berth generates, judged by the shell itself: `sh -n` parses it, then it runs against stubs.

In the stub run only stub programs (which record their arguments and answer like the real ones) and a
few real text tools are on PATH. A value from an app file that became a command of its own (`; touch`,
`$(id)`) is "not found" and fails the run, and a value split or changed on its way shows in the
recorded arguments. Nothing real is called: no engine, no AWS, no database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Answers the stubs give where a script reads them (an id, a task ARN, an exit code).
STUB = r"""#!/bin/sh
{ printf '%s\0' "${0##*/}" "$@"; printf '\036'; } >> "$STUB_LOG"
case "${0##*/} $1 $2" in
  "docker ps "*|"docker image inspect"*) echo stub-0123456789ab ;;
  "aws ecs run-task"*) echo arn:aws:ecs:us-east-1:123456789012:task/stub ;;
  "aws ecs describe-tasks"*) echo 0 ;;
esac
[ -t 0 ] || cat > /dev/null
exit 0
"""
STUBBED = ("docker", "aws", "psql", "cp", "rm", "caddy", "redis-server", "redis-cli", "chown")
REAL_TOOLS = ("head", "awk", "xargs", "cat", "grep", "tr", "sed", "mkdir")


@dataclass(frozen=True)
class StubRun:
    returncode: int
    output: str
    calls: list[list[str]]  # each stub call: [program, *arguments], in order

    def of(self, program: str) -> list[list[str]]:
        return [call[1:] for call in self.calls if call[0] == program]


def parses(script: str, shell: str = "/bin/sh") -> str | None:
    """`sh -n`'s complaint about `script`, or None when it parses."""
    result = subprocess.run([shell, "-n", "-c", script], capture_output=True, text=True, timeout=30)
    return None if result.returncode == 0 else result.stderr.strip() or f"{shell} -n exited {result.returncode}"


def stub_bin(workdir: Path) -> Path:
    """A PATH directory of stubs and the few real tools scripts pipe through."""
    path = workdir / "stub-bin"
    if not path.is_dir():
        path.mkdir(parents=True)
        for name in STUBBED:
            (path / name).write_text(STUB, encoding="utf-8")
            (path / name).chmod(0o755)
        for name in REAL_TOOLS:
            (path / name).symlink_to(shutil.which(name))
    return path


def run_against_stubs(script: str, workdir: Path, shell: str = "/bin/sh", stdin: str = "") -> StubRun:
    """Run `script` with only stubs and text tools on PATH; every stub call recorded."""
    log = workdir / "stub-calls"
    log.unlink(missing_ok=True)
    log.touch()
    env = {"PATH": str(stub_bin(workdir)), "STUB_LOG": str(log), "HOME": str(workdir), "LC_ALL": "C"}
    result = subprocess.run([shell, "-c", script], input=stdin, capture_output=True, text=True, env=env,
                            cwd=workdir, timeout=30)
    records = log.read_bytes().split(b"\x1e")[:-1]
    calls = [[part.decode() for part in record.split(b"\0")[:-1]] for record in records]
    return StubRun(result.returncode, result.stdout + result.stderr, calls)


def sh_c_script(argv: list[str]) -> str | None:
    """The script of an `sh -c <script> ...` argv (a container's command), else None."""
    for i, part in enumerate(argv[:-1]):
        if os.path.basename(part) in ("sh", "bash") and argv[i + 1] == "-c" and i + 2 < len(argv):
            return argv[i + 2]
    return None
