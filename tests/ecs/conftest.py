"""`ecs(example, environment)`: an ECS example run under mocks, once per session (tests/support/ecs.py)."""

from __future__ import annotations

import pytest

from tests.support.ecs import ecs_run


@pytest.fixture(scope="session")
def ecs_runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ecs-runs")


@pytest.fixture
def ecs(ecs_runs_dir):
    def _run(example: str, environment: str = "prod"):
        return ecs_run(example, ecs_runs_dir, environment)

    return _run
