"""The stand-ins and validators run the release lines berth pins (docs/standins.md, "Versions").

A pin that moves to a release line no stand-in runs fails here until the stand-in follows, or until
`DIFFERS` (tests/support/standins.py) and the docs' table say why it cannot. The engine tier asks each
server for its version (test_standins.py); the validators' Caddy checks its own (`pinned_caddy`).
"""

from __future__ import annotations

import re

import pytest

from rules.images import repository
from tests.support.pins import caddy_version, pinned_caddy, pinned_images, series, version
from tests.support.stacks import REPO
from tests.support.standins import DIFFERS, RECIPES, recipe_for


def pin_problems(pins: dict[str, list[str]]) -> list[str]:
    """Each pin whose release line no stand-in runs, and no DIFFERS entry explains."""
    problems = []
    for ref, where in pins.items():
        name = repository(ref)
        try:
            recipe = recipe_for(ref)
        except KeyError as err:
            problems.append(f"{ref} ({'; '.join(where)}): {err.args[0]}")
            continue
        line = series(name, version(ref) or "")
        if (recipe.runs and series(name, recipe.runs) == line) or (name, line) in DIFFERS:
            continue
        problems.append(f"{ref} ({'; '.join(where)}) is on {name} {line}, but the {recipe.name} stand-in runs "
                        f"{recipe.runs or 'a stand-in server'}: make it follow (tests/support/standins.py), or say "
                        "in DIFFERS and docs/standins.md why it cannot")
    return problems


def test_every_pin_is_run_by_a_stand_in_on_its_release_line():
    assert pin_problems(pinned_images()) == []


@pytest.mark.parametrize("ref", ["postgres:16.10-alpine", "redis:8.2.1-alpine", "caddy:2.11.2-alpine",
                                 "chromadb/chroma:1.0.0", "qdrant/qdrant:v1.16.0", "mysql:8.4.6"])
def test_a_pin_moved_to_a_line_no_stand_in_runs_is_reported(ref):
    assert len(pin_problems({ref: ["Pulumi.prod.yaml"]})) == 1


@pytest.mark.parametrize("ref", ["postgres:17.9-alpine", "postgres:15.2", "chromadb/chroma:0.6.2", "redis:7.4.6-alpine"])
def test_a_pin_moved_within_a_line_a_stand_in_runs_is_not(ref):
    assert pin_problems({ref: ["Pulumi.prod.yaml"]}) == []


def test_the_validators_caddy_and_the_proxy_stand_in_are_the_pinned_release():
    assert RECIPES["caddy"].runs == caddy_version()
    assert pinned_caddy()  # `caddy version` of the binary both use


def versions_table() -> dict[str, list[str]]:
    """docs/standins.md's "Versions" table: the pinned reference -> its row's cells."""
    text = (REPO / "docs/standins.md").read_text()
    section = text.split("\n## Versions\n", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| `")]
    return {row[0].strip("`"): row for row in rows}


def test_the_docs_table_names_every_pin_and_what_its_stand_in_runs():
    table = versions_table()
    assert set(table) == set(pinned_images())
    for ref, row in table.items():
        recipe = recipe_for(ref)
        runs = row[2]
        if recipe.runs:
            assert re.search(rf"\b{re.escape(recipe.runs)}\b", runs), (ref, runs)
        if (repository(ref), series(repository(ref), version(ref))) in DIFFERS:
            assert "**not" in runs, f"{ref}: the table must say the stand-in is not the pinned release: {runs}"
