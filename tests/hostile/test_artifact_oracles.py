"""Property: an app file berth accepts is one that deploys, and reaches nothing beyond its own app.

Hypothesis writes stacks of one to three app files with hostile values (quotes, newlines, braces,
`$`, backslashes, unicode, Caddy and shell placeholders) in every field that reaches an artifact
(tests/support/hostile_apps.py). Each is refused with a path for every problem, or accepted; what berth
makes of the accepted ones is judged by the tool that will read it:

- the Caddyfile by the pinned Caddy's `caddy adapt`, and each site holds only its own app's upstreams,
  files and literal header values (tests/support/caddy_oracle.py);
- the SQL by a real Postgres: berth's provisioning as the superuser, the init SQL as the app's role,
  arriving byte for byte, and no role reaching past its app (tests/support/sql_oracle.py);
- on a sample run as whole programs, every shell script an app value reaches by `sh -n` and a run
  against stubs, and the registered containers by a reach oracle: none of app A on app B's networks,
  volumes, host directories or secrets (tests/support/run_oracles.py).

The loader-level part is cheap, so it carries the volume; its artifacts are judged in batches (one
`caddy adapt` for many configs, one Postgres for all), and a failure names the generated stack as
its app files. BERTH_FUZZ scales every count.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings

from components.ecs import edge
from config.edge_routes import needs_edge
from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from render import caddyfile
from tests.support import caddy_oracle, run_oracles, sql_oracle
from tests.support.hostile_apps import PLAIN_NAMES, SHELL_FIELDS, Stack, stacks
from tests.support.postgres_cluster import POSTGRES_MAJORS, Cluster
from tests.support.run_oracles import run_program
from tests.support.stacks import mocked_instance_type

SCALE = float(os.environ.get("BERTH_FUZZ", "1"))
LOADED = int(400 * SCALE)  # stacks through the loader, their accepted artifacts through the oracles
PROVISIONED = int(16 * SCALE)  # accepted apps' databases run on the real Postgres (~80 ms each)
PROGRAMS = int(5 * SCALE)  # accepted stacks run as whole programs (~0.65 s each)
PROGRAM_CANDIDATES = PROGRAMS * 20  # generated (and loaded) to find them
FUZZ = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


def proxy_plans(deployment) -> list[caddyfile.ProxyPlan]:
    """What the proxy is given: one Caddyfile on one host; on ECS one for each app that has an edge proxy."""
    if deployment.settings.host.kind == "ecs":
        return [edge.plan(deployment.stack_app(name)) for name, app in deployment.apps.items() if needs_edge(app)]
    return [caddyfile.plan(deployment)]


def assert_refused_with_paths(err: ConfigError) -> None:
    assert err.problems, "a ConfigError with no problem in it"
    for problem in err.problems:
        assert problem.where.startswith(("berth:", "apps/")) and problem.message, f"a problem without its path: {problem}"


@pytest.mark.servers
def test_accepted_hostile_app_files_make_artifacts_their_tools_accept(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    serials, outcomes = itertools.count(1), Counter()
    proxied: list[caddy_oracle.Proxied] = []
    databases: list[sql_oracle.Provisioned] = []

    @settings(FUZZ, max_examples=LOADED)
    @given(stack=stacks())
    def generate(stack: Stack) -> None:
        stack.serial = next(serials)
        project = work / "berth"
        shutil.rmtree(project, ignore_errors=True)
        stack.write(project)
        try:
            deployment = load(RawConfig(stack.settings()), "test", project, instance_types=mocked_instance_type)
        except ConfigError as err:
            assert_refused_with_paths(err)
            event("refused")
            outcomes["refused"] += 1
            return
        event(f"accepted on {stack.host}")
        outcomes["accepted"] += 1
        proxied.append(caddy_oracle.Proxied(f"stack {stack.serial}", proxy_plans(deployment), stack.describe()))
        databases.extend(sql_oracle.provisioned(deployment, stack))

    generate()
    assert outcomes["accepted"] >= LOADED // 20, f"too few accepted configs to judge: {outcomes}"
    problems = caddy_oracle.judge(proxied, work / "caddy")
    assert not problems, "\n\n".join(problems)
    cluster = Cluster(POSTGRES_MAJORS[0])
    try:
        cluster.start()
        distinct = list({item.body: item for item in databases}.values())  # Hypothesis repeats simple ones
        problems = sql_oracle.judge(cluster, distinct[:PROVISIONED])
        assert not problems, "\n\n".join(problems)
    finally:
        cluster.stop()


def test_accepted_hostile_stacks_run_as_programs_keep_shell_whole_and_apps_apart(tmp_path_factory):
    work = tmp_path_factory.mktemp("programs")
    accepted: list[Stack] = []

    @settings(FUZZ, max_examples=PROGRAM_CANDIDATES)
    @given(stack=stacks(min_apps=2, fields=SHELL_FIELDS, names=PLAIN_NAMES))  # the runs are few: make each count
    def generate(stack: Stack) -> None:
        if len(accepted) >= PROGRAMS or not any(
                re.search(r"[^\w/.=-]", v) for v in run_oracles.shell_values(stack)):
            return
        stack.serial = len(accepted) + 1
        project = work / f"candidate{stack.serial}"
        shutil.rmtree(project, ignore_errors=True)
        stack.write(project)
        try:
            load(RawConfig(stack.settings()), "test", project, instance_types=mocked_instance_type)
        except ConfigError:
            return
        accepted.append(stack)

    generate()
    assert len(accepted) == PROGRAMS, f"only {len(accepted)} of {PROGRAM_CANDIDATES} generated stacks were accepted"
    problems = []
    for stack in accepted:
        run = run_program(stack, work / f"run{stack.serial}")
        assert run.resources
        apps = list(stack.apps)
        found = (run_oracles.shell_problems(run, apps, run_oracles.shell_values(stack), work)
                 + run_oracles.reach_problems(run, apps))
        problems += [f"stack {stack.serial}: {p}" for p in found] + ([stack.describe()] if found else [])
    assert not problems, "\n\n".join(problems)
