"""Check imported app files with berth's own loader (config/load.py), as the stack they were imported
for: dev on the local engine; staging or prod on an EC2 host (the project's Pulumi.<stack>.yaml where it
has one, else a stand-in for its host settings), so `--stack prod` output is judged by prod's rules.

The files are loaded from a scratch project holding only them, with the overlay's build contexts and
source mounts resolved from where the files are written. The secrets the summary prints count as set
(setting them is a step of their own). The loader stops at an app file it cannot read, so the problems
it would report next (an unpinned image in prod, a missing build context) stay hidden until that is
fixed; the check loads once more with stand-ins for what the first load refused at the service level,
so every problem is listed in one pass.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from config.checks import SETTINGS_KEYS
from config.errors import ConfigError
from config.instance_types import InstanceType
from config.load import load
from config.raw_config import RawConfig
from importer.draft import AppDraft
from rules.environments import environment_named_by, policy

STAND_IN_HOST = {"kind": "ec2", "instanceType": "t3.large", "sshPublicKey": "ssh-ed25519 AAAAstandin import-check",
                 "adminCidrs": {"admins": "203.0.113.0/24"}}
STAND_IN_SETTINGS = {"domain": "example.com", "host": STAND_IN_HOST, "proxy": {"acmeEmail": "ops@example.com"}}
# berth's import judges the app files, not the host's size: the stack's instance type is its own choice.
ANY_HOST = InstanceType(name="any", memory_mb=1 << 30, vcpus=192, gpus=8)
# What the loader refuses of one service, and what stands in for it in the second load.
SERVICE_PROBLEM = re.compile(r"^apps/(?P<app>[\w-]+)\.yaml: services\.(?P<svc>[\w-]+)(?P<what>: a server needs a "
                             r"`healthcheck`|\.capAdd)")


def stack_config(drafts: list[AppDraft], out_dir: Path, absolute: bool = False) -> dict:
    """The `berth:*` values the drafts add to a stack (paths absolute for a scratch project)."""
    apps: dict[str, dict] = {}
    shared: dict[str, dict] = {}
    for draft in drafts:
        overlay = copy.deepcopy(draft.overlay)
        if absolute:
            for svc in overlay.get("services", {}).values():
                if "build" in svc:
                    svc["build"]["context"] = str((out_dir / svc["build"]["context"]).resolve())
                for host_dir in svc.get("hostDirs", {}).values():
                    host_dir["source"] = str((out_dir / host_dir["source"]).resolve())
        apps[draft.name] = overlay
        for kind, settings in draft.shared.items():
            shared[kind] = {**shared.get(kind, {}), **settings}
    return {"apps": apps, **({"shared": shared} if shared else {})}


def _stack_settings(stack: str, out_dir: Path) -> dict:
    """The project's own stack settings for `stack` (all but its apps), else dev's or a stand-in's."""
    path = out_dir / f"Pulumi.{stack}.yaml"
    if path.is_file():
        config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
        found = {k.removeprefix("berth:"): v for k, v in config.items()
                 if k.startswith("berth:") and k.removeprefix("berth:") in SETTINGS_KEYS - {"apps"}}
        if "environment" in found and "host" in found:
            return found
    environment = environment_named_by(stack)
    if policy(environment).on_this_machine:
        return {"environment": environment, "host": {"kind": "local"}}
    return {"environment": environment, **copy.deepcopy(STAND_IN_SETTINGS)}


def _values(drafts: list[AppDraft], stack: str, out_dir: Path) -> dict:
    settings = _stack_settings(stack, out_dir)
    added = stack_config(drafts, out_dir, absolute=True)
    shared = copy.deepcopy(settings.get("shared") or {})
    for kind, more in added.get("shared", {}).items():
        shared[kind] = {**(shared.get(kind) or {}), **more}
    return {**settings, "apps": added["apps"], **({"shared": shared} if shared else {})}


def _load(values: dict, secrets: set[str], stack: str, project: Path) -> list[str]:
    raw = RawConfig({**values, **dict.fromkeys(secrets)}, frozenset(secrets))
    try:
        load(raw, stack, project, instance_types=lambda name: ANY_HOST)
    except ConfigError as err:
        return [str(p) for p in err.problems]
    return []


def _with_stand_ins(texts: dict[str, str], problems: list[str]) -> dict[str, str] | None:
    """The app files with a stand-in healthcheck where the loader wanted one, or None when nothing to stand in."""
    wanted = [m for m in (SERVICE_PROBLEM.match(p) for p in problems) if m]
    if not wanted:
        return None
    patched = dict(texts)
    for match in wanted:
        path = f"apps/{match['app']}.yaml"
        data = yaml.safe_load(patched[path])
        service = data["services"][match["svc"]]
        if match["what"] == ".capAdd":
            service.pop("capAdd", None)
        else:
            service["healthcheck"] = {"command": ["true"]}
        patched[path] = yaml.safe_dump(data)
    return patched


def problems(drafts: list[AppDraft], texts: dict[str, str], out_dir: Path, stack: str = "dev") -> list[str]:
    """Every problem berth's loader finds in the written files (`texts`: path under the project -> text)."""
    secrets = {key for draft in drafts for key in draft.secrets}
    values = _values(drafts, stack, out_dir)
    found = _in_scratch(texts, lambda project: _load(values, secrets, stack, project))
    patched = _with_stand_ins(texts, found)
    if patched is not None:
        found += [p for p in _in_scratch(patched, lambda project: _load(values, secrets, stack, project))
                  if p not in found]
    return found


def _in_scratch(texts: dict[str, str], check: Callable[[Path], list[str]]) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="berth-import-") as scratch:
        project = Path(scratch)
        for relative, text in texts.items():
            if relative.startswith("apps/"):
                (project / relative).parent.mkdir(parents=True, exist_ok=True)
                (project / relative).write_text(text, encoding="utf-8")
        return check(project)
