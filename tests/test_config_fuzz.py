"""Mutated configs keep bad input closed: Hypothesis mutates every stack file, example and app
file (types, keys, YAML text, paths, names, CIDRs, numbers) and each result must be either

- a ConfigError whose every problem names its config path (and, run as a program, registered nothing), or
- an accepted config whose registered resources pass every rule of the policy pack; run as a program,
  its apps' shell scripts parse and run against stubs, and no network, volume or secret serves two apps
  (tests/support/run_oracles.py).

Most cases go through the loader alone (fast); a sample runs the whole program under mocks. A failing
case is printed by Hypothesis as the mutation that produced it (and a @reproduce_failure blob).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings, strategies as st

from config.deployment import Deployment
from config.errors import ConfigError
from config.load import OFFLINE_PLAN_ENV, load
from config.raw_config import RawConfig
from offline import mockrun
from render import caddyfile
from tests.support import caddy_oracle, run_oracles
from tests.support.policy import policy_violations
from tests.support.stacks import PROD_SECRETS, REPO, mocked_instance_type, stack_config

STACK_FILES = [REPO / f"Pulumi.{s}.yaml" for s in ("dev", "staging", "prod")] + sorted(
    (REPO / "examples").glob("*/Pulumi.*.yaml"))
APP_FILES = sorted((REPO / "apps").glob("*.yaml"))

# CI runs at least 1,000 generated configs (loader) plus a whole-program sample; BERTH_FUZZ scales it.
SCALE = float(os.environ.get("BERTH_FUZZ", "1"))
FUZZ = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Values a hostile or careless user writes where something else belongs.
NASTY: list[Any] = [
    None, "", 0, -1, 1, 10 ** 400, math.inf, -math.inf, math.nan, True, [], {}, [[]], {"a": {}},
    "x" * 300, "a" * 5000, "../../etc/passwd", "/var/run/docker.sock", "/srv/berth/../../etc", "/", ".",
    "0.0.0.0/0", "::/1", "128.0.0.0/1", "10.0.0.1", 3405803783, "shop.", "Shop.Example.COM", "a b", "a{b}",
    "{$HOME}", "x\ny", "host:8080", "a,b", "bücher", "${stack}", "${url}", "${nope}", "CAP_SYS_ADMIN", "sys_admin",
    "NET_ADMIN", "ALL", "ssh-ed25519 AAAAC3Nza new@key", "-----BEGIN OPENSSH PRIVATE KEY-----",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123", "latest", "caddy:latest", "\x00", "\t", "'", '"', "*", "&a",
    "1e400", "NaN", "-0", "65536", "t3.banana", "db", "redis", "postgres", "shared", "proxy",
]
KEYS = ["image", "build", "hostname", "services", "volumes", "capAdd", "hostDirs", "env", "replicas", "memoryMb",
        "cpus", "adminCidrs", "initSql", "database", "routes", "port", "kind", "source", "target", "<<", "x-junk",
        "OPENAI_API_KEY", "SESSION_SECRET", "sharedVolumes", "redis", "network", "subnet"]
TEXT_NOISE = ["\t", "'", '"', "\x00", ": ", "{", "}", "[", "&a ", "*a", "<<: *a\n", "!!python/object ", "!tag ",
              "\n  ", "? ", "- ", "#", "%", "@", "`", "\ufeff", "\r\n", "---\n", "...\n"]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a nested config a mutation may hit."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, prefix + (index,))
    return out


def _at(root: Any, path: tuple) -> Any:
    for part in path:
        root = root[part]
    return root


@st.composite
def mutated(draw, base: Any) -> Any:
    """`base` with one to three changes: a value replaced, a key removed or added."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        op = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        value = copy.deepcopy(draw(st.sampled_from(NASTY) | st.text(max_size=12) | st.integers() | st.floats()))
        if not path:
            data = value if op == "replace" else data
            continue
        parent = _at(data, path[:-1])
        if op == "replace":
            parent[path[-1]] = value
        elif op == "remove":
            del parent[path[-1]]
        else:
            target = _at(data, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = value
            elif isinstance(target, list):
                target.append(value)
            else:
                parent[path[-1]] = value
    return data


def _assert_config_error(err: ConfigError) -> None:
    assert err.problems, "a ConfigError with no problem in it"
    for problem in err.problems:
        assert problem.where and (problem.where.startswith(("berth:", "apps/"))), f"a problem without its path: {problem}"
        assert problem.message and "Traceback" not in problem.message
        for jargon in ("lax-or-strict", "discriminator", "function-after", "json-or-python", "Input tag"):
            assert jargon not in str(problem), f"pydantic jargon in {problem}"


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[Path, tuple[mockrun.StackConfig, Path]]:
    """Each stack file's base config and a sandboxed project of its own, with a writable copy of apps/."""
    out = {}
    for index, path in enumerate(STACK_FILES):
        stack = path.name.split(".")[1]
        config = stack_config(stack, stack_file=None if path.parent == REPO else path)
        project = tmp_path_factory.mktemp(f"fuzz{index}") / "berth"
        project.mkdir()
        shutil.copytree(REPO / "apps", project / "apps")
        mockrun.sandbox_project(project.parent, config)
        out[path] = (config, project)
    return out


def _load(config: mockrun.StackConfig, stack: str, project: Path) -> Deployment:
    raw = RawConfig.from_values(config.values, config.secret_keys)
    return load(raw, stack, project, offline_plan=True, instance_types=mocked_instance_type)


@functools.cache
def _parsed(text: str) -> Any:
    """An app file as it is in the repository, parsed once: each mutation starts from a copy of it."""
    return yaml.safe_load(text)


def _stack_of(path: Path) -> str:
    return path.name.split(".")[1]


@settings(FUZZ, max_examples=int(700 * SCALE))
@given(data=st.data())
def test_mutated_stack_settings_are_refused_with_a_path_or_accepted(projects, data):
    path = data.draw(st.sampled_from(STACK_FILES), label="stack file")
    config, project = projects[path]
    key = data.draw(st.sampled_from(sorted(k for k in config.values if k not in config.secret_keys)), label="key")
    value = data.draw(mutated(config.object(key)), label=f"new value of {key}")
    changed = config.with_values(plain={key: value})
    try:
        _load(changed, _stack_of(path), project)
        event("accepted")
    except ConfigError as err:
        _assert_config_error(err)
        event("refused")


def test_mutated_app_files_are_refused_with_a_path_or_accepted_with_a_caddyfile_caddy_adapts(projects, tmp_path):
    """Each accepted config's Caddyfile goes to the pinned `caddy adapt` after the run, many per call
    (tests/support/caddy_oracle.py), so a failure names the mutation by its number and its app file."""
    proxied: list[caddy_oracle.Proxied] = []

    @settings(FUZZ, max_examples=int(400 * SCALE))
    @given(data=st.data())
    def mutate(data):
        path = data.draw(st.sampled_from([p for p in STACK_FILES if p.parent == REPO]), label="stack file")
        config, project = projects[path]
        app_file = data.draw(st.sampled_from([project / "apps" / f"{a}.yaml" for a in config.object("berth:apps")]),
                             label="app file")
        original = app_file.read_text(encoding="utf-8")
        if data.draw(st.booleans(), label="mutate the text (else the data)"):
            at = data.draw(st.integers(0, len(original)), label="at")
            text = original[:at] + data.draw(st.sampled_from(TEXT_NOISE) | st.text(max_size=3), label="insert") + original[at:]
        else:
            text = yaml.safe_dump(data.draw(mutated(copy.deepcopy(_parsed(original))), label="app data"), allow_unicode=True)
        try:
            app_file.write_text(text, encoding="utf-8")
            deployment = _load(config, _stack_of(path), project)
            event("accepted")
            proxied.append(caddy_oracle.Proxied(f"mutation {len(proxied) + 1}", [caddyfile.plan(deployment)],
                                                f"{path.name} with {app_file.name}:\n{text}"))
        except ConfigError as err:
            _assert_config_error(err)
            event("refused")
        finally:
            app_file.write_text(original, encoding="utf-8")

    mutate()
    problems = caddy_oracle.judge(proxied, tmp_path / "caddy")
    assert not problems, "\n\n".join(problems)


@settings(FUZZ, max_examples=int(12 * SCALE))
@given(data=st.data())
def test_mutated_stacks_run_as_programs_register_nothing_or_pass_the_pack(projects, data):
    path = data.draw(st.sampled_from(STACK_FILES), label="stack file")
    config, project = projects[path]
    key = data.draw(st.sampled_from(sorted(k for k in config.values if k not in config.secret_keys)), label="key")
    changed = config.with_values(plain={key: data.draw(mutated(config.object(key)), label=f"new value of {key}")})
    stack = _stack_of(path)
    if (stack, path) == ("prod", REPO / "Pulumi.prod.yaml"):
        changed = changed.with_values(secrets=PROD_SECRETS)
    try:
        with mock.patch.dict(os.environ, {OFFLINE_PLAN_ENV: "1"}):  # examples' unset secrets: stand-ins (mocks only)
            run = mockrun.run(stack, changed, root_directory=project)
    except ConfigError as err:
        _assert_config_error(err)
        assert mockrun.last_recorded == [], "a refused config registered resources"
        event("refused")
        return
    event("accepted")
    assert run.resources and policy_violations(run) == []
    apps = list(changed.object("berth:apps"))
    workdir = project.parent / "stubs"
    workdir.mkdir(exist_ok=True)
    assert run_oracles.shell_problems(run, apps, [], workdir) + run_oracles.reach_problems(run, apps) == []
