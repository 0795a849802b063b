"""A backup's manifest: every part with its size and SHA-256, written last, so its presence means complete.

A restore trusts nothing it has not checked against the manifest: a part that is missing, has another
size or another checksum stops it before anything is changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = 1
NAME = "manifest.json"
POSTGRES_PART = "postgres.dump"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what and what to do."""


def volume_part(volume: str) -> str:
    return f"volume-{volume}.tar.gz"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Part:
    what: str
    bytes: int
    sha256: str

    @classmethod
    def of(cls, path: Path, what: str) -> Part:
        return cls(what=what, bytes=path.stat().st_size, sha256=sha256_of(path))


@dataclass
class Manifest:
    stack: str
    app: str
    id: str
    started_at: str
    seconds: float = 0.0
    parts: dict[str, Part] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {"berthBackup": FORMAT, "stack": self.stack, "app": self.app, "id": self.id,
                "startedAt": self.started_at, "seconds": self.seconds,
                "parts": {name: asdict(p) for name, p in sorted(self.parts.items())}}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        try:
            body = json.loads(text)
            if body.get("berthBackup") != FORMAT:
                raise ValueError(f"format {body.get('berthBackup')!r}, this tool reads {FORMAT}")
            parts = {name: Part(**p) for name, p in body["parts"].items()}
            return cls(body["stack"], body["app"], body["id"], body["startedAt"], body["seconds"], parts)
        except (ValueError, KeyError, TypeError) as err:
            raise BackupError(f"{where} is not a berth backup manifest ({err}); choose another backup") from err

    def check(self, name: str, path: Path) -> None:
        """The downloaded part is exactly what the backup wrote."""
        expected = self.parts[name]
        if not path.is_file():
            raise BackupError(f"backup {self.app}/{self.id} is missing {name}; choose another backup")
        size, digest = path.stat().st_size, sha256_of(path)
        if size != expected.bytes or digest != expected.sha256:
            raise BackupError(f"backup {self.app}/{self.id}: {name} is corrupted ({size} bytes, sha256 {digest[:12]}…; "
                              f"the manifest says {expected.bytes} bytes, {expected.sha256[:12]}…); choose another backup")
