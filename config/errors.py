"""Config problems, collected with their path so a user sees every one of them at once."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pydantic import ValidationError


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


UNION_TAGS = {"host": ("local", "ec2", "ecs")}  # pydantic puts a tagged union's tag in the path; users never write it


def join_path(prefix: str, loc: tuple) -> str:
    """`berth:host` + ('instanceType',) -> `berth:host.instanceType`; list indexes as `[0]`."""
    out = prefix
    previous = None
    for part in loc:
        if part in UNION_TAGS.get(previous, ()):
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


def _friendly(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "is not a setting berth knows; remove it or check its spelling"
    if kind == "missing":
        return "is required; set it"
    msg = err["msg"]
    # Our own validators raise ValueError("..."); pydantic prefixes "Value error, ".
    return msg.removeprefix("Value error, ")


@dataclass
class Problems:
    """An accumulator: validation steps add to it, the loader raises once at the end."""

    items: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.items.append(Problem(where, message))

    def add_validation_error(self, prefix: str, error: ValidationError, origin=None) -> None:
        """Turn each pydantic error into a Problem; `origin(loc)` may re-home a path (overlays)."""
        for err in error.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            where = origin(loc) if origin else join_path(prefix, loc)
            self.add(where, _friendly(err))

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)
