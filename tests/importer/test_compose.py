"""importer/compose.py: a project as Docker Compose's own loader reads it."""

from __future__ import annotations

import subprocess
import threading

from importer import compose
from tests.support.compose_import import FIXTURES


def test_composes_three_looks_at_a_project_run_at_once(monkeypatch):
    """The resolved file, the file as written and the interpolation environment: the import waits for one
    Compose process, not three in a row."""
    all_three = threading.Barrier(3, timeout=10)  # one after another, the first would wait here alone
    real_run = subprocess.run

    def run(args, *rest, **options):
        all_three.wait()
        return real_run(args, *rest, **options)

    monkeypatch.setattr(compose.subprocess, "run", run)
    project = compose.load(FIXTURES / "seed-001" / "docker-compose.prod.yml")
    assert project.services and project.raw_services and project.variables is not None
