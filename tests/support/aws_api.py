"""What AWS would answer to the API calls a stack's resources become: botocore's own models, offline.

A mock run records each resource's inputs with their wire (camelCase) names. `tests/support/aws_calls.py`
says, as data per resource type, which API operation(s) the AWS provider makes of them and where each
input goes in the request. This module builds those requests and checks each against the operation's
input shape in botocore's service model:

- `botocore.validate.ParamValidator`: required members, types, unknown members, minimum lengths and
  values (its `min` checks);
- what it leaves out: `max` of lengths and ranges, `enum` values, `pattern`s (Java regular
  expressions, read here with Python's `re` after the few rewrites `java_pattern` makes);
- AWS's documented limits the models do not carry (`tests/support/aws_limits.py`).

An input the mapping does not know is a finding, not a pass: nothing the program sends goes unchecked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import regex
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

from offline.mockrun import Resource

_session = botocore.session.get_session()
_models: dict[str, Any] = {}


def operation_model(service: str, operation: str):
    if service not in _models:
        _models[service] = _session.get_service_model(service)
    return _models[service].operation_model(operation)


# --- the mapping's vocabulary --------------------------------------------------------------------------

@dataclass(frozen=True)
class To:
    """The input goes to `path` of the request (dots for nesting), through `convert` if given; a dict (or
    each dict of a list) is mapped key by key through `fields`, and a key `fields` lacks is a finding."""

    path: str
    convert: Callable[[Any], Any] | None = None
    fields: Mapping[str, To | Skip] | None = None


@dataclass(frozen=True)
class Skip:
    """An input the provider keeps for itself (how it waits, when it replaces): no API member."""

    why: str


@dataclass(frozen=True)
class Call:
    """One API operation made of a resource's inputs. `fixed`: members the provider fills in itself
    (an auto-name, a constant), as values or functions of the resource. `each`: one request per item
    of that list input (a route table's routes). `when`: only for resources it returns true for."""

    service: str
    operation: str
    fields: Mapping[str, To | Skip]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    each: str | None = None
    when: Callable[[Resource], bool] | None = None


@dataclass(frozen=True)
class Finding:
    resource: str
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.where}: {self.problem}"


def put(request: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        request = request.setdefault(part, {})
    request[last] = value


def mapped(value: Any, rule: To, where: str, findings: list[str]) -> Any:
    if rule.convert is not None:
        value = rule.convert(value)
    if rule.fields is None:
        return value
    if isinstance(value, list):
        return [mapped(v, To("", fields=rule.fields), f"{where}[{i}]", findings) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        findings.append(f"{where}: expected an object, got {value!r}")
        return value
    return build(value, rule.fields, where, findings)


def build(values: Mapping[str, Any], fields: Mapping[str, To | Skip], where: str, findings: list[str]) -> dict:
    request: dict = {}
    for key, value in values.items():
        rule = fields.get(key)
        if rule is None:
            findings.append(f"{where}.{key}: an input the mapping does not know (say where it goes, or why not)")
        elif isinstance(rule, To) and value is not None:
            result = mapped(value, rule, f"{where}.{key}", findings)
            if rule.path:
                put(request, rule.path, result)
            elif isinstance(result, dict):  # its members go to the request itself
                request.update(result)
    return request


def requests(resource: Resource, calls: list[Call]) -> tuple[list[tuple[Call, dict]], list[str]]:
    """The requests `calls` make of the resource's inputs, and the inputs no call knows."""
    values = resource.values
    findings: list[str] = []
    known = {k for c in calls for k in c.fields}
    findings += [f"inputs.{k}: an input the mapping does not know (say where it goes, or why not)"
                 for k in values if k not in known]
    out = []
    for call in calls:
        if call.when is not None and not call.when(resource):
            continue
        own = {k: v for k, v in values.items() if k in call.fields and k != call.each}
        items = values.get(call.each) or [] if call.each else [None]
        for item in items:
            request = build(own, call.fields, "inputs", findings)
            if call.each:
                request.update(build(item, call.fields[call.each].fields, f"inputs.{call.each}[]", findings))
            for key, value in call.fixed.items():
                put(request, key, value(resource) if callable(value) else value)
            out.append((call, request))
    return out, findings


# --- what botocore's validator leaves out ----------------------------------------------------------------

@functools.cache
def java_pattern(pattern: str) -> regex.Pattern:
    """An AWS model pattern (a Java regular expression) as the `regex` module reads it: Unicode classes
    (`\\p{L}`) as they are, Java's `\\p{all}` as `\\p{Any}`, and a UTF-16 surrogate pair range
    (`\\uD800\\uDC00-\\uDBFF\\uDFFF`, the characters beyond U+FFFF) as the code points it stands for."""
    python = (pattern.replace(r"\p{all}", r"\p{Any}")
              .replace(r"\uD800\uDC00-\uDBFF\uDFFF", r"\U00010000-\U0010FFFF"))
    return regex.compile(python, regex.DOTALL)


def shape_findings(value: Any, shape: Shape, where: str) -> list[str]:  # noqa: C901 - to split
    """`max`, `enum` and `pattern` of the shape and its members, walked along the value."""
    out: list[str] = []
    meta = shape.metadata
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, member in value.items():
            if key in shape.members:
                out += shape_findings(member, shape.members[key], f"{where}.{key}")
    elif isinstance(shape, ListShape) and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"{where}: {len(value)} items, at most {meta['max']}")
        for i, item in enumerate(value):
            out += shape_findings(item, shape.member, f"{where}[{i}]")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"{where}: {len(value)} entries, at most {meta['max']}")
        for key, item in value.items():
            out += shape_findings(key, shape.key, f"{where}<key>")
            out += shape_findings(item, shape.value, f"{where}.{key}")
    elif isinstance(value, str) and shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"{where}: {len(value)} characters, at most {meta['max']}")
        if shape.enum and value not in shape.enum:
            out.append(f"{where}: {value!r} is not one of {shape.enum}")
        if "pattern" in meta and not java_pattern(meta["pattern"]).fullmatch(value):
            out.append(f"{where}: {value!r} does not match {meta['pattern']!r}")
    elif (isinstance(value, (int, float)) and not isinstance(value, bool)
          and shape.type_name in ("integer", "long", "double", "float") and "max" in meta and value > meta["max"]):
        out.append(f"{where}: {value} is above the maximum {meta['max']}")
    return out


def validate(service: str, operation: str, request: dict) -> list[str]:
    """Everything botocore's model says is wrong with `request` for that operation."""
    shape = operation_model(service, operation).input_shape
    report = ParamValidator().validate(request, shape)
    found = [line.strip() for line in report.generate_report().splitlines()[1:] if line.strip()] \
        if report.has_errors() else []
    return found + shape_findings(request, shape, operation)


# --- a whole run ------------------------------------------------------------------------------------

def integral(value: Any) -> Any:
    """Numbers as the SDK sends them: the run records every number as a float (protobuf's); 8000.0 is 8000."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value

