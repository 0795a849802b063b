"""Volumes as .tar.gz archives: ownership and modes kept, nothing extracted outside its directory.

Written and read with Python's tarfile as root on the host, straight from and into the volume's
directory, so no helper image is pulled and uid/gid survive for services that run as a user.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from backup.manifest import BackupError


def pack(directory: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname=".")


def verify(archive: Path, label: str) -> None:
    """Read every member to the end (gzip's CRC is checked at the end) and refuse unsafe paths."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                tarfile.tar_filter(member, "/nonexistent-berth-check")
                data = tar.extractfile(member) if member.isfile() else None  # None: not a regular file
                if data is not None:
                    with data as f:
                        while f.read(1 << 20):
                            pass
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BackupError(f"{label} is not a readable archive ({err}); choose another backup") from err


def unpack(archive: Path, directory: Path) -> None:
    """Extract into a new directory (it must not exist yet), keeping numeric owners."""
    directory.mkdir(mode=0o755)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(directory, numeric_owner=True, filter="tar")
