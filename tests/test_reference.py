"""The reference users see (schema/*.schema.json, docs/reference.md) is what the models say, and the
schemas accept every app and stack file in the repository and refuse what the models refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from config import reference
from config.app import App

REPO = reference.REPO
APP_FILES = sorted(p for p in REPO.glob("**/apps/*.yaml") if ".venv" not in p.parts)
STACK_FILES = sorted([*REPO.glob("Pulumi.*.yaml"), *REPO.glob("examples/*/Pulumi.*.yaml")])


def validator(path: Path) -> Draft202012Validator:
    schema = json.loads((REPO / path).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_the_committed_schemas_and_reference_are_what_the_models_generate():
    assert reference.stale() == [], f"regenerate them: {reference.COMMAND}"


def test_a_stale_file_is_found(tmp_path):
    for path, text in reference.generated().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert reference.stale(tmp_path) == []
    (tmp_path / reference.REFERENCE).write_text("# edited by hand\n", encoding="utf-8")
    (tmp_path / reference.APP_SCHEMA).unlink()
    assert set(reference.stale(tmp_path)) == {reference.REFERENCE, reference.APP_SCHEMA}


@pytest.mark.parametrize("files, schema", [(APP_FILES, reference.APP_SCHEMA), (STACK_FILES, reference.STACK_SCHEMA)],
                         ids=["app files", "stack files"])
def test_every_app_and_stack_file_names_its_schema_on_its_first_line(files, schema):
    assert files
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        named = (path.parent / first.split("$schema=", 1)[-1]).resolve()
        assert first.startswith(reference.HEADER) and named == REPO / schema, path


@pytest.mark.parametrize("path", APP_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_app_schema_accepts_every_app_file(path):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in
              validator(reference.APP_SCHEMA).iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert errors == []


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_stack_schema_accepts_every_stack_file(path):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in
              validator(reference.STACK_SCHEMA).iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert errors == []


def _app(**changes) -> dict:
    app = yaml.safe_load((REPO / "apps/chatbot.yaml").read_text(encoding="utf-8"))
    backend = app["services"]["backend"]
    for key, value in changes.items():
        backend[key] = value
    return app


@pytest.mark.parametrize("changes", [
    {"memoryMb": 0}, {"colour": "blue"}, {"env": {"1BAD": "x"}}, {"volumes": {"Data": "/data"}},
    {"kind": "lambda"}, {"tmpfs": ["relative/path"]}, {"uses": {"postgres": {"env": "X", "extra": 1}}},
], ids=lambda c: next(iter(c)))
def test_the_app_schema_refuses_what_the_model_refuses(changes):
    app = _app(**changes)
    with pytest.raises(ValidationError):
        App.model_validate(app)
    assert list(validator(reference.APP_SCHEMA).iter_errors(app)), changes


def test_the_stack_schema_refuses_a_misspelt_setting_and_takes_secrets():
    stack = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text(encoding="utf-8"))
    check = validator(reference.STACK_SCHEMA)
    assert not list(check.iter_errors({**stack, "config": {**stack["config"], "berth:someApiKey": {"secure": "v1:x"}}}))
    assert list(check.iter_errors({**stack, "config": {**stack["config"], "berth:domian": "chmedia.com"}}))


def test_the_reference_names_every_key_users_write():
    text = (REPO / reference.REFERENCE).read_text(encoding="utf-8")
    for defs in (reference.app_schema()["$defs"], reference.stack_schema()["$defs"]):
        for name, model in defs.items():
            assert f"### {name}" in text
            for key in model.get("properties", {}):
                assert f"| `{key}` |" in text, f"{name}.{key}"


def test_every_key_has_a_meaning_in_its_model():
    """Field descriptions are the one source of docs/reference.md's meanings: none may be missing."""
    missing = [f"{name}.{key}" for defs in (reference.app_schema()["$defs"], reference.stack_schema()["$defs"])
               for name, model in defs.items() for key, prop in model.get("properties", {}).items()
               if not prop.get("description")]
    top = [key for key, prop in [*reference.app_schema()["properties"].items(),
                                 *reference.stack_schema()["properties"]["config"]["properties"].items()]
           if not prop.get("description")]
    assert missing == [] and top == []
