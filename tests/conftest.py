"""Fixtures that run the real program under mocks, and a guard that every such test really did.

`engine` is a real Docker engine for the session (tests/support/engine.py); every test that uses it
is marked `engine`; a test that starts a server (Postgres, Redis, Caddy, moto's) is marked `servers`
(tests/support/tiers.py); every other test is marked `mock`, so `scripts/test -m mock -n 2` runs the mock
tier alone (`host`: tests/host).
`deploy(stack, ...)` runs `__main__.py` with `Pulumi.<stack>.yaml` (secure values replaced by test
strings, build contexts by empty stand-ins) and returns the recorded run, shared by every test that asks
for the same stack, config and mocks (tests/support/stacks.py: SharedRuns). `config_problems(...)`
runs it expecting a ConfigError and checks that nothing at all was registered.
"""

from __future__ import annotations

import os

import pytest

from config.errors import ConfigError
from offline import mockrun
from tests.support import tiers
from tests.support.engine import EngineUnavailable, running_engine
from tests.support.engine_stacks import OnEngine
from tests.support.stacks import SharedRuns, require_tool, run_stack, stack_config
from tests.support.standins import StandIns


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory) -> SharedRuns:
    return SharedRuns.for_session(tmp_path_factory)


@pytest.fixture
def deploy(shared_runs):
    """Run a stack under mocks: once per session for each stack, config and mocks, shared by the tests."""
    calls = []

    def _deploy(stack: str, *, plain=None, secrets=None, remove=(), stack_file=None, mocks=None,
                stack_name: str | None = None) -> mockrun.Run:
        config = stack_config(stack, plain=plain, secrets=secrets, remove=remove, stack_file=stack_file)
        result = shared_runs.get(stack_name or stack, config, mocks)
        calls.append(result)
        return result

    yield _deploy
    # The guard: a test that asked for a deployment must have got one with resources in it.
    assert calls, "this test requested `deploy` but never ran the program"
    assert all(r.resources for r in calls), "a program run recorded no resources: the mocks were not used"


@pytest.fixture
def config_problems(tmp_path):
    """Run a stack expecting a ConfigError; returns its problems as 'where: message' strings."""

    def _problems(stack: str, *, plain=None, secrets=None, remove=(), stack_file=None,
                  stack_name: str | None = None, leave_missing=()) -> list[str]:
        config = stack_config(stack, plain=plain, secrets=secrets, remove=remove, stack_file=stack_file)
        with pytest.raises(ConfigError) as caught:
            run_stack(tmp_path, stack_name or stack, config, leave_missing=leave_missing)
        assert mockrun.last_recorded == [], "a bad config must stop before any resource is registered"
        message = str(caught.value)
        assert "Traceback" not in message
        return [str(p) for p in caught.value.problems]

    return _problems


@pytest.fixture(autouse=True)
def berth_environment_restored():
    """A test leaves berth's own environment variables as it found them: one left set (BERTH_OFFLINE_PLAN
    makes prod's missing secrets stand-ins) changes what every later test in the process sees."""
    before = {k: v for k, v in os.environ.items() if k.startswith("BERTH_")}
    yield
    after = {k: v for k, v in os.environ.items() if k.startswith("BERTH_")}
    assert after == before, "this test changed berth's environment variables; use monkeypatch or mock.patch.dict"


GROUPED = ("load", "loadgroup")  # the `--dist` modes under which an xdist_group goes to one worker


def pytest_xdist_make_scheduler(config, log):
    """Under `-n`, pytest-xdist's load balancing, except that the tests of one `xdist_group` go to one worker:
    a group sharing a costly run (an older commit's program, tests/test_layout.py) makes it once, while the
    other worker goes on with other tests instead of waiting for it. `--dist loadgroup` gets the same (xdist's
    own does not group under pytest 9.2: tests/support/xdist_groups.py); any other `--dist` is kept."""
    if config.getoption("dist") not in GROUPED:
        return None
    from tests.support.xdist_groups import GroupScheduling
    return GroupScheduling(config, log)


def pytest_configure_node(node):
    """Each worker is told where to write the groups it collects (tests/support/xdist_groups.py)."""
    if node.config.getoption("dist") in GROUPED:
        from tests.support.xdist_groups import name_the_file
        name_the_file(node)


def pytest_unconfigure(config):
    from tests.support.xdist_groups import forget
    forget(config)


def pytest_collection_modifyitems(config, items):
    """A test that needs the engine is in the engine tier, whether or not its author marked it; a test in
    none of the tiers that start something (the engine, the host's VM, servers) is in the mock tier. A
    worker also writes the tests' xdist groups for the scheduler."""
    from tests.support.xdist_groups import write_groups
    write_groups(config, items)
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)
        if not any(item.get_closest_marker(tier) for tier in tiers.TIERS_THAT_START_SERVERS):
            item.add_marker(pytest.mark.mock)


def pytest_collection_finish(session):
    """The session's hundreds of program runs with the collector tuned for them (offline/mockrun.py)."""
    mockrun.collect_seldom()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before the test's fixtures: a server it starts asks which test it is for (tests/support/tiers.py)."""
    tiers.entering(item)


@pytest.fixture(scope="session")
def engine():
    """Our own dockerd for the whole session (started once; cleaned and stopped at the end)."""
    dockerd = require_tool("dockerd")
    try:
        with running_engine(dockerd) as running:
            yield running
    except EngineUnavailable as err:
        pytest.fail(f"the engine tier needs a Docker engine: {err}")


@pytest.fixture(scope="session")
def standins(engine):
    """The stand-in images on the session's engine (built or found by recipe hash, once each)."""
    return StandIns(engine)


@pytest.fixture(scope="session")
def on_engine(engine, standins, tmp_path_factory):
    """`on_engine(name)`: that stack deployed on the engine, one at a time (tests/support/engine_stacks.py)."""
    shelf = OnEngine(engine, standins, tmp_path_factory)
    yield shelf
    shelf.discard()
