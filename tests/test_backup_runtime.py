"""backup/runtime.py's DockerRuntime against a scripted `docker` CLI: a restore starts each container and
moves on as soon as its own health check passes, as a deploy's health gate does, not at Docker's first
scheduled probe. The round trip on a real engine is tests/engine/test_stacks.py's backup test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from backup import runtime as runtime_module
from backup.manifest import BackupError
from backup.runtime import DockerRuntime

FAKE_DOCKER = '''#!{python}
import json, sys
from pathlib import Path
here = Path(__file__).parent
world = json.loads((here / "world.json").read_text())
args = sys.argv[1:]
with open(here / "calls", "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[0] == "inspect" and "{{{{json .Config.Healthcheck}}}}" in args:
    print(json.dumps(world["healthcheck"]))
elif args[0] == "inspect":
    states = world["states"]
    print(states.pop(0) if len(states) > 1 else states[0])
    (here / "world.json").write_text(json.dumps(world))
elif args[0] == "exec":
    sys.exit(world["exec"])
'''


def runtime(tmp_path: Path, world: dict) -> tuple[DockerRuntime, Path]:
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(0o755)
    (tmp_path / "world.json").write_text(json.dumps(world))
    return DockerRuntime(str(docker)), tmp_path / "calls"


def calls(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


PG_ISREADY = {"Test": ["CMD", "pg_isready", "-U", "postgres"], "Interval": 15_000_000_000}


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch) -> None:
    """The scripted docker answers at once: the runtime looks at a container again after 10 ms, not 500."""
    monkeypatch.setattr(runtime_module, "LOOK_EVERY_S", 0.01)


def test_a_container_passing_its_own_check_is_started_before_docker_probes_it(tmp_path):
    docker, log = runtime(tmp_path, {"states": ["starting"], "healthcheck": PG_ISREADY, "exec": 0})
    docker.start(["shared-postgres"])
    assert ["exec", "shared-postgres", "pg_isready", "-U", "postgres"] in calls(log)


def test_a_shell_form_check_runs_in_sh(tmp_path):
    check = {"Test": ["CMD-SHELL", "redis-cli ping | grep -q PONG"]}
    docker, log = runtime(tmp_path, {"states": ["starting"], "healthcheck": check, "exec": 0})
    docker.start(["mediahub-redis"])
    assert ["exec", "mediahub-redis", "sh", "-c", "redis-cli ping | grep -q PONG"] in calls(log)


def test_a_failing_check_waits_for_one_that_passes_or_dockers_verdict(tmp_path):
    docker, log = runtime(tmp_path, {"states": ["starting", "starting", "healthy"], "healthcheck": PG_ISREADY,
                                     "exec": 1})
    docker.start(["shared-postgres"])
    assert len([c for c in calls(log) if c[0] == "exec"]) == 2


@pytest.mark.parametrize("state", ["unhealthy", "exited"])
def test_a_container_docker_calls_unhealthy_or_that_exits_stops_the_restore(tmp_path, state):
    docker, _ = runtime(tmp_path, {"states": ["starting", state], "healthcheck": PG_ISREADY, "exec": 1})
    with pytest.raises(BackupError, match=f"did not become healthy after start \\({state}\\)"):
        docker.start(["shared-postgres"])


def test_a_container_without_a_healthcheck_is_started_once_it_runs(tmp_path):
    docker, log = runtime(tmp_path, {"states": ["running"], "healthcheck": None, "exec": 1})
    docker.start(["worker"])
    assert not [c for c in calls(log) if c[0] == "exec"]
