"""Config problems, collected with their path so a user sees every one of them at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from pydantic import ValidationError
from pydantic_core import ErrorDetails


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is (a config path or file) and what to do."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(pulumi.RunError):
    """Raised before any resource is registered; Pulumi prints a RunError without a traceback."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"berth found {len(problems)} problem(s) in this stack's configuration:"]
        lines += [f"  - {p}" for p in problems]
        lines.append("Nothing was deployed. Fix the settings above and run `pulumi up` again.")
        super().__init__("\n".join(lines))


UNION_TAGS: dict[str, tuple[str, ...]] = {"host": ("local", "ec2", "ecs")}  # pydantic puts a tagged union's tag in the path; users never write it


def _internal(part: int | str) -> bool:
    """pydantic's names for validator steps (`function-after[...]`, `lax-or-strict[...]`) in an error's location."""
    return isinstance(part, str) and (("[" in part and part.endswith("]") and not part.startswith("["))
                                      or part.startswith("function-"))


def join_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    """`berth:host` + ('instanceType',) -> `berth:host.instanceType`; list indexes as `[0]`."""
    out = prefix
    previous: int | str | None = None
    for part in loc:
        if isinstance(previous, str) and part in UNION_TAGS.get(previous, ()):
            previous = part
            continue
        previous = part
        if isinstance(part, int):
            out += f"[{part}]"
        elif out.endswith(":") or out.endswith(": "):
            out += str(part)
        else:
            out += f".{part}"
    return out.removesuffix(": ") if out.endswith(": ") else out


# pydantic's own wording names its internals (class names, discriminators); users get what to write.
_MESSAGES = {
    "extra_forbidden": "is not a setting berth knows; remove it or check its spelling",
    "missing": "is required; set it",
    "model_type": "should be a mapping of settings (`key: value` lines), not {input}",
    "model_attributes_type": "should be a mapping of settings (`key: value` lines), not {input}",
    "dict_type": "should be a mapping (`key: value` lines), not {input}",
    "list_type": "should be a list, not {input}",
    "union_tag_not_found": "needs `kind`: {tags}",
    "union_tag_invalid": "has kind {tag!r}; use one of {tags}",
    "finite_number": "should be a finite number",
    "ip_v4_network": "is not an IPv4 network in CIDR notation with its host bits zero (e.g. 10.20.0.0/24)",
}


_KINDS: dict[type, str] = {list: "a list", dict: "a mapping", str: "text"}


def _describe(value: Any) -> str:
    return "nothing (null)" if value is None else _KINDS.get(type(value), f"{value!r}")


def _friendly(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind in _MESSAGES:
        ctx = err.get("ctx") or {}
        tags = ctx.get("expected_tags") or ", ".join(next((UNION_TAGS[p] for p in reversed(err["loc"]) if isinstance(p, str) and p in UNION_TAGS), ()))
        return _MESSAGES[kind].format(input=_describe(err.get("input")), tag=ctx.get("tag"),
                                      tags=tags.replace("'", "") if isinstance(tags, str) else tags)
    msg = err["msg"]
    # Our own validators raise ValueError("..."); pydantic prefixes "Value error, ".
    return msg.removeprefix("Value error, ")


@dataclass
class Problems:
    """An accumulator: validation steps add to it, the loader raises once at the end."""

    items: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.items.append(Problem(where, message))

    def add_validation_error(self, prefix: str, error: ValidationError) -> None:
        """Turn each pydantic error into a Problem at `prefix` + its path."""
        for err in error.errors():
            loc = tuple(p for p in err["loc"] if not _internal(p))
            problem = Problem(join_path(prefix, loc), _friendly(err))
            if problem not in self.items:  # a union reports once per member; users need it once
                self.items.append(problem)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)
