"""What the importer reads of a build context on this machine: the git commit it is checked out at, the
`version` a stack outside dev tags and pushes the built image as (config/checks.py requires one)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def commit(context: Path) -> str | None:
    """The short SHA of the commit `context` is checked out at, when it is a clean git checkout; None
    when it is not a checkout or has changes (an image built from it would not be that commit)."""
    try:
        head = subprocess.run(["git", "-C", str(context), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(context), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0 or dirty.returncode != 0 or dirty.stdout.strip():
        return None
    return head.stdout.strip() or None
