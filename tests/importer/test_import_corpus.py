"""The corpus measurement (tests/support/import_corpus.py), run here over fixtures standing in for the
real projects (which are not in the repository): it imports each project as dev and as prod, applies
the documented steps, loads the result as that stack, and finds leaked secrets, data dropped untold and
services berth's proxy cannot carry."""

from __future__ import annotations

import shutil

import pytest
import yaml

from importer import compose, mounts
from tests.support import import_corpus
from tests.support.compose_import import FIXTURES


@pytest.fixture
def corpus(tmp_path):
    """Three fixtures as a corpus, with a manifest naming them as the real one names projects."""
    entries = []
    for name in ("upstream-replicas", "tcp-udp", "prod-stack"):
        shutil.copytree(FIXTURES / name, tmp_path / "corpus" / name)
        entries.append({"id": name, "name": name, "source": f"fixture {name}", "files": ["docker-compose.yml"]})
    manifest = tmp_path / "corpus.yaml"
    manifest.write_text(yaml.safe_dump({"projects": entries}))
    return tmp_path / "corpus", manifest


def test_the_table_says_what_loads_as_dev_and_prod_and_why_not(corpus, capsys):
    where, manifest = corpus
    assert import_corpus.main([str(where), "--manifest", str(manifest), "--markdown"]) == 0
    table = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "| loads | loads |" in rows["upstream-replicas"]
    # prod pinned the unpinned image and set the built service's version, as docs/import.md says to
    assert "| loads | loads |" in rows["prod-stack"]
    assert "serves what berth's HTTP proxy cannot carry: game (25565/tcp)" in rows["tcp-udp"]
    assert table.rstrip().endswith("2/3 import and load as both dev and prod, with no secret leaked, no data dropped "
                                   "untold and every service reachable; 2 of them with no healthcheck guessed")


def test_the_prod_stack_is_loaded_as_prod_after_the_mechanical_steps(corpus):
    where, manifest = corpus
    project = next(p for p in import_corpus.projects(manifest) if p.id == "prod-stack")
    outcome = import_corpus.measure(project, where)
    steps = outcome.stacks["prod"].steps
    assert "pinned example/search:latest to the digest `docker image inspect` prints" in steps
    assert "set `version` of the built web" in steps and outcome.stacks["dev"].steps == []


def test_a_secret_value_in_the_output_is_found(tmp_path):
    values = import_corpus.secret_values(compose.load(FIXTURES / "secrets-in-use" / "docker-compose.yml"))
    assert {"redis-auth-value-456", "query-password-value", "api-token-value-abc"} <= values
    assert import_corpus.leaks(values, ["env: {REDIS_AUTH: redis-auth-value-456}"]) == ["redis-auth-value-456"]
    assert import_corpus.leaks({"hunter"}, ["the word hunters", "pass: hunter\n"]) == ["hunter"]
    assert import_corpus.leaks({"hunter"}, ["the word hunter in a note"]) == []


def test_data_dropped_without_a_word_is_found(corpus, monkeypatch):
    where, _ = corpus
    shutil.copytree(FIXTURES / "data-dirs", where / "data-dirs")
    project = import_corpus.Project("data-dirs", "data-dirs", "fixture", ("docker-compose.yml",))
    assert import_corpus.measure(project, where).untold_drops == []
    monkeypatch.setattr(mounts, "convert", lambda *args: None)  # an importer that forgets mounts
    assert import_corpus.measure(project, where).untold_drops == [
        "app:/home/node/.photos", "app:/srv/library", "app:/srv/thumbs", "app:/srv/legacy", "app:/etc/photos"]
