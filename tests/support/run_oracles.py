"""Oracles on what a whole program run registers: the shell an app's values reach, and cross-app reach.

**Shell.** Every command resource of an app (after-deploy hooks, volume owners, static-site copies,
database provisioning; on ECS the hooks' `aws ecs run-task` scripts and the site copies in the edge's
task definition) is parsed by the shell that will run it (`sh -n`, or bash for a bash interpreter) and
then run against stubs (tests/support/shell_oracle.py), and so is every `sh -c` script a stubbed
`docker` call is given. A script must finish (exit 0), no word of it may run as a command of its own
(the stubs' PATH has no other programs: "not found"), and every value the app wrote for a field that
reaches shell arrives whole inside one argument of a stub call (or one string of a JSON argument).

**Reach.** Apps share a host, so nothing of one app may be in another's hands: no Docker network,
volume, or host directory is used by containers of two apps, no Secrets Manager secret is read by two
apps' task definitions, and no container is given another app's database or Redis credentials. Berth's
own containers (the proxy on every edge network, the shared Postgres on every data network) are the
only ones that span apps, by design.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from unittest import mock

from config.conventions import APP_LABEL
from offline import mockrun
from rules.postgres import database_name
from tests.support.hostile_apps import Stack
from tests.support.shell_oracle import parses, run_against_stubs, sh_c_script

CONTAINER, TASK = "docker:index/container:Container", "aws:ecs/taskDefinition:TaskDefinition"
COMMANDS = ("command:local:Command", "command:remote:Command")


def run_program(stack: Stack, tmp: Path) -> mockrun.Run:
    project = tmp / "berth"
    stack.write(project)
    values = {f"berth:{k}": v for k, v in stack.settings().items()} | {"aws:region": "us-east-1"}
    config = mockrun.StackConfig({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}, frozenset())
    with mock.patch.dict(os.environ, {mockrun.OFFLINE_PLAN_ENV: "1"}):  # stand-ins for prod's secrets, this run only
        return mockrun.run("hostile", config, root_directory=project)


# --- shell -----------------------------------------------------------------------------------------

def shell_values(stack: Stack) -> list[str]:
    """What the app wrote for the fields that reach a shell script."""
    out = []
    for app in stack.apps.values():
        for svc in app["services"].values():
            out += [a for hook in svc.get("afterDeploy", []) for a in hook["command"]]
            out += [svc["sitePath"]] if "sitePath" in svc else []
            owned = svc.get("volumeOwner") or re.fullmatch(r"\d+(:\d+)?", svc.get("user", ""))
            if owned and stack.host != "ecs":  # one host gives a fresh volume to its owner with chown
                out += list(svc.get("volumes", {}).values())
    return out


def app_scripts(run: mockrun.Run, apps: list[str]) -> dict[str, tuple[str, str]]:
    """name -> (shell, script) of every command resource and `sh -c` container command of the apps."""
    out = {}
    for resource in (r for t in COMMANDS for r in run.of_type(t)):
        # health gates poll a container by its id: no app value reaches them
        if any(resource.name.startswith(f"{app}-") for app in apps) and not resource.name.endswith("-healthy"):
            script = resource.values["create"]
            if script.startswith("ssh "):  # one host over an SSM tunnel: the script is ssh's last argument
                script = shlex.split(script)[-1]
            shell = "/bin/bash" if "bash" in " ".join(resource.values.get("interpreter") or []) else "/bin/sh"
            out[resource.name] = (shell, script)
    for task in run.of_type(TASK):
        for container in json.loads(task.values["containerDefinitions"]):
            if (script := sh_c_script(container.get("command") or [])) and container["name"].startswith("site-"):
                out[f"{task.name}/{container['name']}"] = ("/bin/sh", script)
    return out


def _strings(arg: str) -> list[str]:
    try:
        decoded = json.loads(arg)
    except ValueError:
        return [arg]
    return [arg] + mockrun.plain_strings(decoded)


def shell_problems(run: mockrun.Run, apps: list[str], values: list[str], workdir: Path) -> list[str]:
    """What is wrong with the apps' scripts, and which of `values` (the app files' values on their way
    to a shell) reached no stub call whole."""
    problems, args = [], []
    for name, (shell, script) in app_scripts(run, apps).items():
        pending = [(name, shell, script)]
        while pending:
            where, sh, text = pending.pop()
            if complaint := parses(text, sh):
                problems.append(f"{where}: {sh} -n: {complaint}\n{text}")
                continue
            result = run_against_stubs(text, workdir, shell=sh)
            if result.returncode != 0 or re.search(r"not found|syntax error|unexpected", result.output):
                problems.append(f"{where}: exit {result.returncode} against stubs: {result.output[-600:]}\n{text}")
            for call in result.calls:
                args += [s for a in call for s in _strings(a)]
                if inner := sh_c_script(call):
                    pending.append((f"{where} -> {call[0]} … sh -c", "/bin/sh", inner))
    lost = [v for v in values if not any(v in a for a in args)]
    return problems + [f"reached no stub call whole: {v!r}" for v in lost]


# --- reach -----------------------------------------------------------------------------------------

def _app_of(container) -> str | None:
    labels = {item["label"]: item["value"] for item in container.values.get("labels") or []}
    return labels.get(APP_LABEL)


def _container_uses(run: mockrun.Run, apps: list[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(kind, name, app) for each network, volume and host directory an app's container uses, and the
    containers given another app's database or Redis credentials."""
    uses, problems = [], []
    for container in run.of_type(CONTAINER):
        app = _app_of(container)
        if app not in apps:
            continue  # berth's own: the proxy, the shared Postgres and Redis
        values = container.values
        uses += [("network", n["name"], app) for n in values.get("networksAdvanced") or []]
        uses += [("volume", v["volumeName"], app) if v.get("volumeName") else ("host dir", v.get("hostPath"), app)
                 for v in values.get("volumes") or []]
        env = " ".join(values.get("envs") or [])
        problems += [f"container {container.name} of app {app} holds app {other}'s credentials" for other in apps
                     if other != app and re.search(rf"://{re.escape(database_name(other))}:", env)]
    return uses, problems


def _secrets_read(run: mockrun.Run, apps: list[str]) -> list[tuple[str, str, str]]:
    """("secret", ARN, app) for each secret an app's ECS task definition reads."""
    uses = []
    for task in run.of_type(TASK):
        if task.name.endswith("-postgres-provision"):
            continue  # berth's own: the admin's session, which runs berth's text only (docs/trust.md)
        owner = next(a for a in sorted(apps, key=len, reverse=True) if task.name.startswith(f"{a}-"))
        uses += [("secret", s["valueFrom"], owner) for c in json.loads(task.values["containerDefinitions"])
                 for s in c.get("secrets") or []]
    return uses


def reach_problems(run: mockrun.Run, apps: list[str]) -> list[str]:
    """Each network, volume, host directory or secret used by two apps, and credentials given across."""
    uses, problems = _container_uses(run, apps)
    users: dict[tuple[str, str], set[str]] = {}
    for kind, name, app in uses + _secrets_read(run, apps):
        users.setdefault((kind, name), set()).add(app)
    return problems + [f"{kind} {name} is used by apps {sorted(owners)}" for (kind, name), owners in users.items()
                       if len(owners) > 1]
