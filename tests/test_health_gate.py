"""The health gate's script (render/health_gate.py), run by /bin/sh against a scripted `docker` CLI.

What it does on a real engine (a retry fails again with the service's health output until it is healthy,
the previous version retired once the new one is) is proven by tests/engine/test_second_up.py; these
pin its decisions without an engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from render.health_gate import STATE, WHY, gate_script

NEW = "new" + "0" * 61
FAKE_DOCKER = '''#!{python}
import json, sys
from pathlib import Path
here = Path(__file__).parent
world = json.loads((here / "world.json").read_text())
args = sys.argv[1:]
with open(here / "calls", "a") as calls:
    calls.write(" ".join(args) + "\\n")
if args[0] == "inspect":
    fmt, target = args[2], args[3]
    if fmt == {state!r}:
        states = world["states"]
        print(states.pop(0) if len(states) > 1 else states[0])
        (here / "world.json").write_text(json.dumps(world))
    elif fmt == {why!r}:
        print(world["why"])
    elif fmt == "{{{{.Name}}}}":
        print("/" + world["names"][target])
elif args[0] == "ps":
    print("\\n".join(world["names"]))
elif args[0] == "exec":  # the service's own health check, run by the gate
    sys.exit(world.get("probe", 1))
'''


# The gate's clock: `date +%s` reads, and `sleep` advances, a clock of the seconds slept (one line per
# sleep), so its waits and its deadline are decided exactly as with real time, without waiting.
CLOCK = {
    "sleep": '#!/bin/sh\necho "$1" >> "$(dirname "$0")/slept"\n',
    "date": '#!/bin/sh\n[ "$*" = +%s ] || exit 2\nawk \'{ s += $1 } END { print int(s) }\' "$(dirname "$0")/slept"\n',
}


def gate(tmp_path: Path, world: dict, **options) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in {"docker": FAKE_DOCKER.format(python=sys.executable, state=STATE, why=WHY), **CLOCK}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "slept").write_text("")
    (bin_dir / "world.json").write_text(json.dumps(world))
    options.setdefault("probe", PROBE)
    script = gate_script(NEW, "chatbot-frontend", timeout_s=options.pop("timeout_s", 30), **options)
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    calls = (bin_dir / "calls").read_text().splitlines() if (bin_dir / "calls").exists() else []
    return done, calls


STARTING = "running starting 0 0"  # status, health, failing streak, restarts
PROBE = ["node", "-e", "fetch('http://127.0.0.1:3000/')"]  # the service's check; the fake's exit: world["probe"]


def test_it_waits_while_the_container_starts_and_passes_once_it_is_healthy(tmp_path):
    done, _ = gate(tmp_path, {"states": [STARTING, STARTING, "running healthy 0 0"], "names": {}})
    assert done.returncode == 0 and "chatbot-frontend is healthy" in done.stdout


@pytest.mark.parametrize("state", ["running unhealthy 3 0", "exited unhealthy 3 0", "created none 0 0",
                                   "running none 0 0", "restarting starting 0 3"])
def test_it_fails_at_once_saying_why_when_the_container_cannot_become_healthy(tmp_path, state):
    why = "health check exit 1: curl: (7) Failed to connect to 127.0.0.1 port 3000"
    done, _ = gate(tmp_path, {"states": [STARTING, state], "names": {}, "why": why})
    assert done.returncode == 1
    assert f"chatbot-frontend did not become healthy: {state.split()[0]}, health {state.split()[1]}" in done.stderr
    assert why in done.stderr and "docker logs chatbot-frontend" in done.stderr


def test_a_retry_fails_again_at_the_next_check_that_fails(tmp_path):
    """The last run left the container unhealthy: the gate fails once Docker's next check fails too."""
    why = "health check exit 1: not ready"
    done, _ = gate(tmp_path, {"states": ["running unhealthy 3 0", "running unhealthy 3 0", "running unhealthy 4 0"],
                              "names": {}, "why": why})
    assert done.returncode == 1 and "did not become healthy: running, health unhealthy" in done.stderr
    assert why in done.stderr


def test_a_retry_passes_once_the_service_fixed_since_the_last_run_passes_its_check(tmp_path):
    """Docker keeps the last run's `unhealthy` until its next check: the gate waits for it."""
    states = ["running unhealthy 3 0", "running unhealthy 3 0", "running unhealthy 3 0", "running healthy 0 0"]
    done, _ = gate(tmp_path, {"states": states, "names": {}})
    assert done.returncode == 0 and "chatbot-frontend is healthy" in done.stdout


@pytest.mark.parametrize("verdict", [STARTING, "running unhealthy 3 0"])
def test_it_passes_as_soon_as_the_services_own_check_passes_before_dockers_next_probe(tmp_path, verdict):
    """Docker probes first one `intervalS` after the start (and next that long after a retry's failure):
    the gate runs the check itself, in the container, and does not wait for Docker's verdict."""
    done, calls = gate(tmp_path, {"states": [verdict], "names": {}, "probe": 0}, timeout_s=5)
    assert done.returncode == 0 and "chatbot-frontend is healthy" in done.stdout
    assert f"exec {NEW} node -e fetch('http://127.0.0.1:3000/')" in calls


def test_a_check_that_fails_keeps_it_waiting_until_docker_calls_it_unhealthy(tmp_path):
    states = [STARTING, STARTING, STARTING, "running unhealthy 1 0"]
    done, calls = gate(tmp_path, {"states": states, "names": {}, "probe": 1})
    assert done.returncode == 1 and "did not become healthy: running, health unhealthy" in done.stderr
    assert len([c for c in calls if c.startswith("exec ")]) == 2  # asked at each look while it started


def test_a_container_not_running_is_not_asked(tmp_path):
    """The gate's first look (the state it started from) and its loop's first look see it restarting: it
    waits without running the check in it, and passes once Docker calls it healthy."""
    states = ["restarting starting 0 0", "restarting starting 0 0", "running healthy 0 1"]
    done, calls = gate(tmp_path, {"states": states, "names": {}, "probe": 0})
    assert done.returncode == 0 and not any(c.startswith("exec ") for c in calls)
    assert (tmp_path / "bin" / "slept").read_text().split() == ["0.5"]  # the loop saw it restarting, and waited


@pytest.mark.parametrize("state", [STARTING, "running unhealthy 3 0"])
def test_it_gives_up_at_its_deadline(tmp_path, state):
    done, _ = gate(tmp_path, {"states": [state], "names": {}, "why": ""}, timeout_s=2)
    assert done.returncode == 1
    assert f"did not become healthy: running, health {state.split()[1]}" in done.stderr
    slept = [float(s) for s in (tmp_path / "bin" / "slept").read_text().split()]
    assert sum(slept) == 2 and set(slept) == {0.5}  # it looked twice a second until its deadline, not past it


NAMES = {NEW: "chatbot-frontend-2-bbbbbbb", "old" + "1" * 61: "chatbot-frontend-2-aaaaaaa",
         "sib" + "2" * 61: "chatbot-frontend-1-ccccccc", "gone" + "3" * 60: "chatbot-frontend-ddddddd"}
RETIRE = {"retire": ("berth.service", "chatbot/frontend", 30), "siblings": ("chatbot-frontend-1", "chatbot-frontend-3")}


def test_once_healthy_it_retires_the_services_other_containers_but_other_replicas(tmp_path):
    done, calls = gate(tmp_path, {"states": ["running healthy 0 0"], "names": NAMES}, **RETIRE)
    assert done.returncode == 0
    assert "ps -aq --no-trunc --filter label=berth.service=chatbot/frontend" in calls
    stopped = {c.split()[-1] for c in calls if c.startswith("stop --time 30 ")}
    assert stopped == {"old" + "1" * 61, "gone" + "3" * 60}  # its own old one, and one of a replica now gone
    assert "retired chatbot-frontend-2-aaaaaaa, which chatbot-frontend replaces" in done.stdout


def test_it_retires_the_old_container_as_soon_as_the_services_own_check_passes(tmp_path):
    """Docker probes next up to `intervalS` later; the gate runs the check itself twice a second."""
    done, calls = gate(tmp_path, {"states": [STARTING], "names": NAMES, "probe": 0}, **RETIRE)
    assert done.returncode == 0 and done.stdout.index("retired") < done.stdout.index("is healthy")
    assert "exec " + NEW + " node -e fetch('http://127.0.0.1:3000/')" in calls
    assert len([c for c in calls if c.startswith("stop ")]) == 2  # each other container retired once


def test_a_stateful_containers_gate_retires_nothing(tmp_path):
    done, calls = gate(tmp_path, {"states": ["running healthy 0 0"], "names": {}})
    assert done.returncode == 0 and not any(c.startswith(("ps", "stop", "rm")) for c in calls)
