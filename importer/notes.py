"""What the importer tells the reader: a note per choice and per dropped key, at its place in the output.

Notes become YAML comments above the key they are about, and those a human must act on before a
deploy are also listed in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Path = tuple[str, ...]


@dataclass(frozen=True)
class Note:
    path: Path  # where in the written file: ("services", "backend", "image")
    text: str
    human: bool = False  # a person must act on it before the first deploy


@dataclass
class Notes:
    items: list[Note] = field(default_factory=list)

    def add(self, path: Path, text: str, human: bool = False) -> None:
        note = Note(tuple(path), text, human)
        if note not in self.items:
            self.items.append(note)

    def todo(self, path: Path, text: str) -> None:
        """A note a human must act on."""
        self.add(path, text, human=True)

    def at(self, path: Path) -> list[Note]:
        return [n for n in self.items if n.path == tuple(path)]

    @property
    def for_humans(self) -> list[Note]:
        return [n for n in self.items if n.human]
