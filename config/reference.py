"""The reference users see, generated from the pydantic models: JSON Schema for app files and stack
files (editors complete and check them as you type), and docs/reference.md (every key, its type, its
default and its meaning). The models' field descriptions are the one source of each key's meaning.

    .venv/bin/python -m config.reference           write schema/*.schema.json and docs/reference.md
    .venv/bin/python -m config.reference --check   exit 1 naming what is stale (tests do the same)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from config.app import App
from config.deployment import NAMESPACE
from config.stack import StackSettings

REPO = Path(__file__).resolve().parent.parent
APP_SCHEMA = Path("schema/app.schema.json")
STACK_SCHEMA = Path("schema/stack.schema.json")
REFERENCE = Path("docs/reference.md")
DRAFT = "https://json-schema.org/draft/2020-12/schema"
COMMAND = ".venv/bin/python -m config.reference"
# The first line of every app and stack file, `<HEADER><relative path of its schema>`: yaml-language-server
# (VS Code's YAML extension, Neovim, ...) reads it.
HEADER = "# yaml-language-server: $schema="


def schema_line(relative_file: str) -> str:
    """The first line of the app or stack file at `relative_file` (relative to the project)."""
    schema = APP_SCHEMA if relative_file.startswith("apps/") else STACK_SCHEMA
    return HEADER + os.path.relpath(schema, Path(relative_file).parent) + "\n"

SECRET = {
    "description": "an app secret, set with `pulumi config set --secret <name> <value>` (the apps' `secretEnv` "
                   "and `external` name them)",
    "type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
    "additionalProperties": False,
}


class BerthJsonSchema(GenerateJsonSchema):
    """The models' rules, as editors apply them: text fields take numbers too, as the models do (`PORT: 8000`
    is the text "8000"), and a map refuses keys of the wrong shape, as the models do."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        return {**super().str_schema(schema), "type": ["string", "number"]}

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        out = super().dict_schema(schema)
        if "patternProperties" in out:  # keys of a shape (`Name`, `EnvName`): pydantic leaves others allowed
            out.setdefault("additionalProperties", False)
            keys = self.generate_inner(schema["keys_schema"])
            if "x-shape" in keys:
                out["x-keys"] = keys["x-shape"]  # what a key looks like, in words, for docs/reference.md
        return out


def app_schema() -> dict:
    schema = App.model_json_schema(by_alias=True, schema_generator=BerthJsonSchema)
    return {"$schema": DRAFT, "title": "berth app file (apps/<name>.yaml)", **schema}


def stack_schema() -> dict:
    """A Pulumi.<stack>.yaml: berth's settings are `berth:<key>` under `config`; other unknown `berth:` keys
    must be secrets; other namespaces (`aws:region`) are not berth's to check."""
    settings = StackSettings.model_json_schema(by_alias=True, schema_generator=BerthJsonSchema)
    config = {
        "description": settings.get("description", ""),
        "type": "object",
        "properties": {f"{NAMESPACE}:{key}": value for key, value in settings["properties"].items()},
        "required": [f"{NAMESPACE}:{key}" for key in settings.get("required", [])],
        "patternProperties": {f"^(?!{NAMESPACE}:)": {}},
        "additionalProperties": SECRET,
    }
    return {"$schema": DRAFT, "title": "berth stack file (Pulumi.<stack>.yaml)", "type": "object",
            "properties": {"config": config}, "required": ["config"], "$defs": settings["$defs"]}


# --- docs/reference.md ---------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(name: str) -> str:
    return name.lower()


def type_of(schema: dict) -> str:
    """A property's type in words, with links to the sections of object types."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " or ".join(type_of(s) for s in schema[union])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    return _of_kind(schema)


def _of_kind(schema: dict) -> str:
    """A schema by its JSON `type`: lists and maps of what they hold, text and numbers with their limits."""
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if not isinstance(values, dict):
            values = next(iter(schema.get("patternProperties", {}).values()), {})
        key = schema.get("x-keys", "text")
        return f"map of ({key}) to {type_of(values)}"
    if kind == ["string", "number"] or kind == "string":
        if "x-shape" in schema:
            return f"text: {schema['x-shape']}"
        return f"text ({schema['format']})" if "format" in schema else "text"
    if kind in ("integer", "number"):
        bounds = [f"≥ {schema['minimum']}" if "minimum" in schema else "",
                  f"> {schema['exclusiveMinimum']}" if "exclusiveMinimum" in schema else "",
                  f"≤ {schema['maximum']}" if "maximum" in schema else ""]
        return " ".join([kind, *filter(None, bounds)])
    if kind == "boolean":
        return "true or false"
    if kind == "null":
        return "null"
    return "any"


def _default(prop: dict, required: bool) -> str:
    if required:
        return "required"
    if "default" not in prop:
        return ""
    if "$ref" in prop and isinstance(prop["default"], dict):
        return "its keys' defaults"  # listed in the type's own section
    return f"`{json.dumps(prop['default'])}`"


def _refs(schema: Any) -> list[str]:
    """Object types a schema names, in the order it names them."""
    if isinstance(schema, dict):
        own = [schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else []
        return own + [name for value in schema.values() for name in _refs(value)]
    if isinstance(schema, list):
        return [name for value in schema for name in _refs(value)]
    return []


def _table(properties: dict, required: list[str]) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, prop in properties.items():
        lines.append(f"| `{key}` | {_cell(type_of(prop))} | {_cell(_default(prop, key in required))} | "
                     f"{_cell(prop.get('description', ''))} |")
    return lines


def _sections(top_title: str, top: dict, defs: dict, done: set[str]) -> list[str]:
    """The top object's table, then each object type it reaches (once in the whole document)."""
    lines = [f"## {top_title}", "", top.get("description", ""), "", *_table(top["properties"], top.get("required", []))]
    queue = _refs(top["properties"])
    while queue:
        name = queue.pop(0)
        if name in done:
            continue
        done.add(name)
        model = defs[name]
        lines += ["", f"### {name}", "", model.get("description", ""), ""]
        lines += _table(model["properties"], model.get("required", []))
        queue += _refs(model["properties"])
    return lines


def reference_md() -> str:
    app, stack = app_schema(), stack_schema()
    config = stack["properties"]["config"]
    done: set[str] = set()
    lines = [
        "# berth reference",
        "",
        f"Generated by `{COMMAND}` from the models in `config/app.py` and `config/stack.py`; do not edit by hand.",
        f"Editors check the same rules as you type with [`{APP_SCHEMA}`](../{APP_SCHEMA}) and",
        f"[`{STACK_SCHEMA}`](../{STACK_SCHEMA}), named on the first line of every app and stack file.",
        "Keys are camelCase, as you write them; a type's own section follows the first table that uses it.",
        "",
        *_sections("App file: `apps/<name>.yaml`", {**app, "properties": app["properties"]}, app["$defs"], done),
        "",
        *_sections("Stack file: `Pulumi.<stack>.yaml`, under `config:`",
                   {**config, "description": (
                       f"{config['description']} Any other `{NAMESPACE}:<name>` key is an app secret "
                       "(`pulumi config set --secret <name> <value>`); other namespaces such as `aws:region` "
                       "are Pulumi's and its providers'.")},
                   stack["$defs"], done),
        "",
    ]
    return "\n".join(lines)


def generated() -> dict[Path, str]:
    """Every generated file (relative to the repository) and its content."""
    dump = lambda schema: json.dumps(schema, indent=2, ensure_ascii=False) + "\n"  # noqa: E731
    return {APP_SCHEMA: dump(app_schema()), STACK_SCHEMA: dump(stack_schema()), REFERENCE: reference_md()}


def stale(root: Path = REPO) -> list[Path]:
    """Generated files whose committed content differs from what the models generate now."""
    return [path for path, text in generated().items()
            if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which generated files are stale")
    args = parser.parse_args(argv)
    if args.check:
        for path in stale():
            print(f"{path} is stale: run {COMMAND}", file=sys.stderr)
        return 1 if stale() else 0
    for path, text in generated().items():
        (REPO / path).parent.mkdir(parents=True, exist_ok=True)
        (REPO / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
