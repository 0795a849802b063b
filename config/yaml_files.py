"""Reading app files: YAML that refuses duplicate keys, and whose every failure is a message with a line.

Two routes for one path must be an error, not a silent overwrite; a tab indent, an unclosed quote or an
unknown tag must name the line to fix, never escape as a traceback. Merge keys (`<<: *base`) work.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 50  # no app file nests deeper; deeper input is hostile and would exhaust the parser's stack
MAX_VALUES = 100_000  # an app file has hundreds


class YamlFileError(ValueError):
    """An app file that is not the YAML berth reads: the message says where and what to do."""


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base`: merged keys are defaults the explicit ones override
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlFileError(f"line {key_node.start_mark.line + 1}: a key must be a plain word, not "
                                    f"{_kind(key_node)}; write the key as text")
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise YamlFileError(f"line {key_node.start_mark.line + 1}: {key!r} appears twice; keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_scalar(self, node: yaml.ScalarNode | yaml.MappingNode) -> str:
        """A double-quoted escape (`"\\0"`, `"\\ud800"`) writes what the text itself may not hold: a NUL
        byte (no argument, environment variable or SQL query can carry it) or half a surrogate pair
        (no UTF-8 spells it). Either would pass every check and fail half-way through a deploy. A
        whole pair, as JSON writes a character beyond U+FFFF, is that character (PyYAML keeps two halves)."""
        value = super().construct_scalar(node)
        if any("\ud800" <= c <= "\udfff" for c in value):  # JSON's `\ud83d\ude00` is one character: join pairs
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
        if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
            what = "a NUL byte" if "\x00" in value else "half of a UTF-16 surrogate pair, which is no character"
            raise YamlFileError(f"line {node.start_mark.line + 1}: an escape in this value writes {what}; remove it")
        return value


def _kind(node: yaml.Node) -> str:
    return "a mapping" if isinstance(node, yaml.MappingNode) else "a list"


def _measure(node: yaml.Node, depth: int, memo: dict[int, tuple[int, int]], active: set[int]) -> tuple[int, int]:
    """(values, levels) of `node` with aliases expanded; refuses what no app file needs: deep nesting,
    an alias inside itself, or aliases multiplying into a huge document ("billion laughs")."""
    line = node.start_mark.line + 1
    if depth > MAX_DEPTH:
        raise YamlFileError(f"line {line}: nested more than {MAX_DEPTH} levels deep; an app file never needs that")
    if id(node) in active:
        raise YamlFileError(f"line {line}: an alias is used inside the value it names; YAML cannot expand that")
    if id(node) not in memo:
        children = (node.value if isinstance(node, yaml.SequenceNode) else
                    [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else [])
        active.add(id(node))
        measured = [_measure(child, depth + 1, memo, active) for child in children]
        active.discard(id(node))
        memo[id(node)] = (1 + sum(m[0] for m in measured), 1 + max((m[1] for m in measured), default=0))
    size, levels = memo[id(node)]
    if depth + levels - 1 > MAX_DEPTH:
        raise YamlFileError(f"line {line}: nested more than {MAX_DEPTH} levels deep; an app file never needs that")
    if size > MAX_VALUES:
        raise YamlFileError(f"line {line}: aliases expand to more than {MAX_VALUES} values; write the values out")
    return size, levels


def parse_yaml(text: str) -> Any:
    """The YAML document in `text`; YamlFileError (with its line) for anything berth cannot read.

    Each text is parsed once per process (the offline plan, its diff and the tests run the program
    many times in one process, on the same app files); callers get their own copy.
    """
    return copy.deepcopy(_parse_once(text))


@functools.lru_cache(maxsize=128)
def _parse_once(text: str) -> Any:
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise YamlFileError(f"line {line}: contains a NUL byte; an app file is text")
    loader = None
    try:
        loader = _UniqueKeyLoader(text)  # reads the text at once: a control character fails here
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, 1, {}, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = err.problem or err.context or "not valid YAML"
        if problem.startswith("could not determine a constructor for the tag"):
            problem = f"unknown tag {problem.rsplit(' ', 1)[-1]}; berth reads plain YAML: remove the tag"
        hint = "; indent with spaces, not tabs" if _starts_with_tab(text, mark) else ""
        raise YamlFileError(f"{where}{problem}{hint}") from None
    except yaml.reader.ReaderError as err:  # a control character: PyYAML gives its offset, users want its line
        line = text[:err.position].count("\n") + 1
        raise YamlFileError(f"line {line}: contains the control character {chr(err.character)!r}; remove it") from None
    except yaml.YAMLError as err:
        raise YamlFileError(f"not valid YAML: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise YamlFileError(f"nested more than {MAX_DEPTH} levels deep; an app file never needs that") from None
    finally:
        if loader is not None:
            loader.dispose()


def _starts_with_tab(text: str, mark: yaml.Mark | None) -> bool:
    """YAML forbids tab indentation; PyYAML's own message does not say so."""
    lines = text.splitlines()
    return mark is not None and mark.line < len(lines) and lines[mark.line].lstrip(" ").startswith("\t")


def load_yaml(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise YamlFileError(f"cannot be read: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise YamlFileError(f"line {line}: is not UTF-8 text; save the file as UTF-8") from None
    return parse_yaml(text)
