"""The mock tier's shared program runs (tests/support/stacks.py SharedRuns): one run per stack, config and
mocks for the whole session, across pytest-xdist's workers, and never silently changed by a test."""

from __future__ import annotations

import pytest

from offline import mockrun
from tests.support import stacks
from tests.support.stacks import SharedRuns, stack_config


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """The stacks the program really ran for (not loaded from another worker's run)."""
    ran: list[str] = []
    real = stacks.run_stack

    def counting(tmp, stack, config, mocks=None, leave_missing=()):
        ran.append(stack)
        return real(tmp, stack, config, mocks, leave_missing)

    monkeypatch.setattr(stacks, "run_stack", counting)
    return ran


def test_a_run_is_made_once_and_another_worker_loads_it(tmp_path, counted):
    first, second = SharedRuns(tmp_path), SharedRuns(tmp_path)  # two workers of one session
    run = first.get("dev", stack_config("dev"))
    assert first.get("dev", stack_config("dev")) is run
    loaded = second.get("dev", stack_config("dev"))
    assert counted == ["dev"]
    assert [r.urn for r in loaded.resources] == [r.urn for r in run.resources]
    assert loaded.resources[0].inputs == run.resources[0].inputs


def test_a_different_config_or_existing_images_is_a_run_of_its_own(tmp_path, counted):
    runs = SharedRuns(tmp_path)
    runs.get("dev", stack_config("dev"))
    runs.get("dev", stack_config("dev", plain={"test:unread": "1"}))
    runs.get("dev", stack_config("dev"), mockrun.BerthMocks({"berth/chm-backend": ["v1"]}))
    assert counted == ["dev", "dev", "dev"]


def test_mocks_of_another_kind_are_never_shared(tmp_path, counted):
    class Failing(mockrun.BerthMocks):
        pass

    runs = SharedRuns(tmp_path)
    runs.get("dev", stack_config("dev"), Failing())
    runs.get("dev", stack_config("dev"), Failing())
    assert counted == ["dev", "dev"]


def test_a_test_that_changes_a_shared_run_is_told(tmp_path):
    runs = SharedRuns(tmp_path)
    runs.get("dev", stack_config("dev")).resources.pop()
    with pytest.raises(AssertionError, match="changed the shared run of stack 'dev'"):
        runs.get("dev", stack_config("dev"))


def test_the_run_a_plan_describes_is_made_once_with_its_stand_ins(tmp_path, monkeypatch):
    """`recorded` runs as `mockrun.record` does (prod's unset secrets stood in for), once for every worker."""
    ran: list[str] = []
    real = mockrun.record
    monkeypatch.setattr(mockrun, "record", lambda stack, config, sandbox: ran.append(stack) or real(stack, config, sandbox))
    first, second = SharedRuns(tmp_path), SharedRuns(tmp_path)
    run = first.recorded("Pulumi.prod.yaml")
    assert first.recorded("Pulumi.prod.yaml") is run and second.recorded("Pulumi.prod.yaml").outputs == run.outputs
    assert ran == ["prod"] and run.outputs["secretsNotSet"]  # prod's file leaves secrets unset: stood in for
    run.resources.pop()
    with pytest.raises(AssertionError, match="changed the shared run of stack 'prod'"):
        first.recorded("Pulumi.prod.yaml")
