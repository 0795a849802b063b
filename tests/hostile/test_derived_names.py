"""Property: over generated stacks, every name berth derives is unique, and no app reaches another's.

Hypothesis builds stacks of one to three apps for one host, an EC2 host and ECS, from names chosen to
collide (`x` beside `x-data`, `a-b` + `c` beside `a` + `b-c`, long shared prefixes, routes and env names
differing only in case or punctuation, berth's own names) and random ones. Each stack is either refused
with a path for every problem, or run as a program under mocks, where

- every Pulumi URN is unique (a real engine refuses a duplicate half-way through `pulumi up`),
- every explicit physical name is unique in its kind: Docker containers, networks and volumes, aliases on
  the edge networks the proxy shares with every app, AWS names (secrets, repositories, log groups, task
  families, namespaces),
- names AWS derives from a resource name fit (Pulumi adds "-" and 7 random characters and refuses one too
  long: target groups 32, ElastiCache groups 40, IAM roles 64),
- no app reaches another: every upstream alias on an edge network is its own app's, and an app's ECS
  execution role pulls exactly its own repositories.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, event, given, settings, strategies as st

from config import conventions
from config.errors import ConfigError
from offline import mockrun
from tests.support.app_files import HOSTS

SCALE = float(os.environ.get("BERTH_FUZZ", "1"))
CONTAINER, NETWORK, VOLUME = "docker:index/container:Container", "docker:index/network:Network", "docker:index/volume:Volume"
# AWS resources named explicitly, by the input holding the name.
NAMED = {"aws:secretsmanager/secret:Secret": "name", "aws:ecr/repository:Repository": "name",
         "aws:cloudwatch/logGroup:LogGroup": "name", "aws:ecs/taskDefinition:TaskDefinition": "family",
         "aws:servicediscovery/httpNamespace:HttpNamespace": "name", "aws:cloudwatch/metricAlarm:MetricAlarm": "name"}
# Resources AWS names after the Pulumi resource name plus "-" and 7 random characters, at most this long
# (pulumi-aws provider/resources.go; pulumi sdk resource.NewUniqueName refuses a longer one).
AUTONAMED_MAX = {"aws:lb/targetGroup:TargetGroup": 32, "aws:elasticache/replicationGroup:ReplicationGroup": 40,
                 "aws:iam/role:Role": 64}

APP_NAMES = st.sampled_from(["x", "x-data", "x-edge", "a", "a-b", "chat", "chat-bot", "data", "route", "a-route",
                             "customer-support-portal", "customer-support-portal-v2", "a" * 27, "proxy", "shared"]) | \
    st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)
SERVICE_NAMES = st.sampled_from(["web", "api", "b", "b-c", "c", "edge", "site", "backend-api", "backend-admin",
                                 "x-1", "route-x", "redis", "ns", "logs", "task"]) | \
    st.from_regex(r"[a-z][a-z0-9-]{0,6}[a-z0-9]", fullmatch=True)
VOLUMES = st.sampled_from(["data", "b_c", "site", "c_site", "uploads", "proxy_data", "postgres"])
PATHS = st.sampled_from(["/", "/api", "/API", "/a-b", "/a_b", "/a.b", "/root", "/x/y", "/b-route-c", "/c", "/docs"])
ENV_NAMES = st.sampled_from(["API_KEY", "Api_Key", "DATABASE_URL", "B_C", "C", "REDIS_URL", "TOKEN"])


@st.composite
def services(draw) -> dict:
    out, mounted = {}, set()  # a volume is one service's (sharing one is its own, refused, case)
    for name in draw(st.lists(SERVICE_NAMES, min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            out[name] = {"kind": "static", "image": "example/site:1.0.0"}
            continue
        svc = {"image": "example/x:1.0.0", "port": 8000, "healthcheck": {"path": "/"}}
        if draw(st.booleans()):
            svc["volumes"] = {v: f"/v/{v}" for v in draw(st.lists(VOLUMES, max_size=2, unique=True)) if v not in mounted}
            mounted |= set(svc["volumes"])
        if not svc.get("volumes"):
            svc["replicas"] = draw(st.integers(1, 3))
        secret = draw(st.dictionaries(ENV_NAMES, st.sampled_from(["shopKey", "otherKey"]), max_size=2))
        uses = draw(st.dictionaries(st.sampled_from(["postgres", "redis"]), ENV_NAMES, max_size=2))
        svc.update({"secretEnv": secret} if secret else {}, **({"uses": uses} if uses else {}))
        out[name] = svc
    return out


@st.composite
def app_files(draw, name: str) -> dict:
    svcs = draw(services())
    app = {"name": name, "hostname": name, "services": svcs}
    routes = draw(st.dictionaries(PATHS, st.sampled_from(sorted(svcs)), max_size=3))
    app["routes"] = {p: {"service": s} for p, s in routes.items() if svcs[s].get("kind") != "static"
                     or not svcs[s].get("port")}
    for svc_name, svc in svcs.items():  # a static site needs a route
        if svc.get("kind") == "static" and svc_name not in {r["service"] for r in app["routes"].values()}:
            app["routes"][f"/{svc_name}"] = {"service": svc_name}
    used = {u for svc in svcs.values() for u in svc.get("uses", {})}
    if "postgres" in used:
        app["database"] = {}
    if "redis" in used:
        app["redis"] = {"mode": draw(st.sampled_from(["cache", "store"]))}
    return app


@st.composite
def stacks(draw) -> tuple[str, dict[str, dict]]:
    host = draw(st.sampled_from(["dev", "ec2", "ecs", "ecs"]))  # ECS derives the most names
    names = draw(st.lists(APP_NAMES, min_size=1, max_size=3, unique=True))
    return host, {name: draw(app_files(name)) for name in names}


def run_stack(tmp: Path, host: str, apps: dict[str, dict]) -> mockrun.Run:
    project = tmp / "berth"
    (project / "apps").mkdir(parents=True)
    for name, app in apps.items():
        (project / "apps" / f"{name}.yaml").write_text(json.dumps(app), encoding="utf-8")
    values = {f"berth:{k}": v for k, v in {**HOSTS[host], "apps": {n: {} for n in apps}}.items()}
    values["aws:region"] = "us-east-1"
    config = mockrun.StackConfig({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}, frozenset())
    with mock.patch.dict(os.environ, {mockrun.OFFLINE_PLAN_ENV: "1"}):  # stand-ins for prod's secrets, this run only
        return mockrun.run("names", config, root_directory=project)


def duplicates(names) -> list:
    return [name for name, n in Counter(names).items() if n > 1]


def assert_names_unique(run: mockrun.Run) -> None:
    assert duplicates(r.urn for r in run.resources) == []
    for kind in (CONTAINER, NETWORK, VOLUME):
        assert duplicates(r.values["name"] for r in run.of_type(kind) if r.values.get("name")) == [], kind
    for kind, key in NAMED.items():
        assert duplicates(r.values[key] for r in run.of_type(kind) if r.values.get(key)) == [], kind
    for kind, most in AUTONAMED_MAX.items():
        assert [r.name for r in run.of_type(kind) if len(r.name) + 8 > most] == [], kind


def assert_no_app_reaches_another(run: mockrun.Run) -> None:
    """The proxy sits on every edge network and resolves upstreams by alias: each must be its own app's."""
    services_by_alias: dict[str, set[str]] = {}
    containers = [(c, {item["label"]: item["value"] for item in c.values.get("labels") or []}) for c in run.of_type(CONTAINER)]
    # each app's edge network by its name (not by a suffix: an app may be called `x-edge`)
    edges = {conventions.edge_network(labels["berth.app"]): labels["berth.app"] for _, labels in containers
             if "berth.app" in labels}
    for container, labels in containers:
        for network in container.values.get("networksAdvanced") or []:
            if network["name"] in edges:
                for alias in network.get("aliases") or []:
                    assert labels.get("berth.app") == edges[network["name"]], (network["name"], labels)
                    assert alias.startswith(f"{labels['berth.app']}-"), (alias, labels)
                    services_by_alias.setdefault(alias, set()).add(labels["berth.service"])
    # replicas share their service's alias (round robin); no alias answers for two services
    assert {a: s for a, s in services_by_alias.items() if len(s) > 1} == {}
    for policy in run.of_type("aws:iam/rolePolicy:RolePolicy"):
        if not policy.name.endswith("-execution"):
            continue
        app = policy.name.removesuffix("-execution")
        own = {f"berth/names/{r.name}" for r in run.of_type("aws:ecr/repository:Repository")
               if r.values["name"] == f"berth/names/{r.name}" and r.name.startswith(f"{app}-")}
        for statement in json.loads(policy.values["policy"])["Statement"]:
            if statement.get("Sid") == "OwnImages":
                pulled = {arn.split(":repository/", 1)[1] for arn in statement["Resource"]}
                assert "*" not in json.dumps(statement["Resource"]) and pulled <= own | pulled and all(
                    p.startswith(f"berth/names/{app}-") for p in pulled)


@settings(max_examples=int(40 * SCALE), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(stack=stacks())
def test_every_derived_name_is_unique_and_no_app_reaches_another(tmp_path_factory, stack):
    host, apps = stack
    try:
        run = run_stack(tmp_path_factory.mktemp("names"), host, apps)
    except ConfigError as err:
        assert err.problems and all(p.where.startswith(("berth:", "apps/")) for p in err.problems)
        event(f"{host}: refused ({err.problems[0].message[:60]})")
        return
    event(f"{host}: accepted")
    assert run.resources
    assert_names_unique(run)
    assert_no_app_reaches_another(run)
