"""Block YAML with the importer's notes as comments above the keys they are about.

PyYAML cannot write comments, so this writes the small subset app files use (maps, lists, scalars)
itself; every scalar is quoted by YAML's own rules (plain when PyYAML reads it back unchanged).
"""

from __future__ import annotations

import json
import re
import textwrap

import yaml

from importer.notes import Notes

WIDTH = 110
PLAIN = re.compile(r"[A-Za-z0-9_/.@+~$-][A-Za-z0-9_/.@+~=:$-]*")


def scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "null"
    text = str(value)
    if PLAIN.fullmatch(text) and ": " not in text and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _flow(value: object) -> str | None:
    """A short map or list of scalars on one line, as berth's own app files write them."""
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    if isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
        return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items()) + "}"
    return None


def _comment(text: str, indent: str, human: bool) -> list[str]:
    prefix = f"{indent}# " + ("TODO: " if human else "")
    return textwrap.wrap(text, WIDTH - len(prefix), initial_indent=prefix,
                         subsequent_indent=f"{indent}#   ", break_on_hyphens=False, break_long_words=False)


def _paths(data: object, path: tuple = ()) -> set[tuple]:
    found = {path}
    if isinstance(data, dict):
        for key, value in data.items():
            found |= _paths(value, path + (str(key),))
    return found


def dump(data: dict, notes: Notes) -> str:
    """The YAML of `data`, each note a comment above its key; a note about a key the data does not hold
    (routes when none is left) goes at the top with its path, so nothing said is lost."""
    lines = []
    existing = _paths(data)
    for note in notes.at(()):
        lines += _comment(note.text, "", note.human)
    for note in (n for n in notes.items if n.path not in existing):
        lines += _comment(f"{'.'.join(note.path)}: {note.text}", "", note.human)
    _mapping(data, (), 0, notes, lines)
    return "\n".join(lines) + "\n"


def _has_notes_below(path: tuple, notes: Notes) -> bool:
    return any(n.path[: len(path)] == path and len(n.path) > len(path) for n in notes.items)


def _mapping(data: dict, path: tuple, depth: int, notes: Notes, lines: list[str]) -> None:
    indent = "  " * depth
    for key, value in data.items():
        here = path + (str(key),)
        for note in notes.at(here):
            lines += _comment(note.text, indent, note.human)
        head = f"{indent}{scalar(key)}:"
        flow = None if _has_notes_below(here, notes) else _flow(value)
        if flow is not None and len(head) + 1 + len(flow) <= WIDTH:
            lines.append(f"{head} {flow}")
        elif isinstance(value, dict):
            lines.append(head + (" {}" if not value else ""))
            _mapping(value, here, depth + 1, notes, lines)
        elif isinstance(value, list):
            lines.append(head + (" []" if not value else ""))
            for item in value:
                if isinstance(item, dict):
                    first, *rest = list(item.items()) or [("", "")]
                    sub: list[str] = []
                    _mapping(dict([first]), here, depth + 2, Notes(), sub)
                    lines.append(f"{indent}  - " + sub[0].lstrip())
                    lines += sub[1:]
                    _mapping(dict(rest), here, depth + 2, Notes(), lines)
                else:
                    lines.append(f"{indent}  - {scalar(item)}")
        else:
            lines.append(f"{head} {scalar(value)}")
