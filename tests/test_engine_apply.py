"""The engine tier's mapping of pulumi-docker inputs onto Docker API calls, checked without an engine.

tests/support/docker_inputs.py follows terraform-provider-docker's create functions; these tests pin
what that means for the containers berth registers (units, defaults, networks, GPUs) and that an input
the mapping does not know fails instead of being dropped. The engine tier (tests/engine/) then proves
the mapped calls on a real engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time

import pytest

from offline.mockrun import reveal
from tests.support import docker_inputs
from tests.support.apply import ApplyFailed, Applied, Step, _run_graph, deployment_of
from tests.support.docker_inputs import NotMapped, container_plan, go_duration_ns
from tests.support.service_images import HOOK_LOG, derived_changes, derived_image_archive, role
from tests.support.stacks import REPO

EXAMPLES = REPO / "examples"
SINGLE_HOST_STACKS = [
    ("dev", None),
    ("prod", None),
    ("staging", None),
    ("prod", "customer-support/Pulumi.prod.yaml"),
    ("prod", "collabry/Pulumi.prod.yaml"),
    ("prod", "on-prem-rag/Pulumi.prod.yaml"),
    ("dev", "on-prem-rag/Pulumi.dev.yaml"),
    ("prod", "youtube-talker/Pulumi.prod.yaml"),
]
EXAMPLE_SECRETS = {
    "customer-support/Pulumi.prod.yaml": ["supportSecretKey", "supportOpenaiApiKey"],
    "collabry/Pulumi.prod.yaml": ["collabryMongodbUri", "collabryJwtSecret", "collabryOpenaiApiKey"],
    "on-prem-rag/Pulumi.prod.yaml": ["ragChromaToken"],
    "youtube-talker/Pulumi.prod.yaml": ["youtubeTalkerOpenrouterApiKey", "youtubeTalkerSupadataApiKey"],
}


def _run(deploy, stack, example):
    secrets = {f"berth:{k}": f"test{k}Value0" for k in EXAMPLE_SECRETS.get(example, [])}
    return deploy(stack, stack_file=EXAMPLES / example if example else None, secrets=secrets or None)


@pytest.mark.parametrize("stack,example", SINGLE_HOST_STACKS)
def test_every_docker_resource_of_every_single_host_stack_maps(deploy, stack, example):
    run = _run(deploy, stack, example)
    containers = run.of_type(docker_inputs.CONTAINER)
    assert containers
    for r in containers:
        plan = container_plan(r.inputs, reveal(r.inputs).get("name") or r.state["name"], "sha256:real")
        assert plan.create["image"] == "sha256:real"
        assert not plan.wait and plan.host_config["restart_policy"]["Name"] == "unless-stopped"  # the gate waits
    for r in run.of_type(docker_inputs.NETWORK):
        assert docker_inputs.network_create(r.inputs)["name"]
    for r in run.of_type(docker_inputs.VOLUME):
        assert docker_inputs.volume_create(r.inputs)["name"]
    for r in run.of_type(docker_inputs.LOCAL_COMMAND) + run.of_type(docker_inputs.REMOTE_COMMAND):
        assert docker_inputs.command_inputs(r.type, r.inputs)["create"]


def test_a_container_maps_as_the_provider_creates_it(deploy):
    run = deploy("dev")
    proxy = run.get(docker_inputs.CONTAINER, "proxy")
    plan = container_plan(proxy.inputs, "proxy", "sha256:caddy")
    host = plan.host_config
    assert host["port_bindings"] == {"80/tcp": [("127.0.0.1", 8080)]}
    assert plan.create["ports"] == [(80, "tcp")]
    assert host["mem_limit"] == reveal(proxy.inputs)["memory"] * 1024 * 1024  # MB, as the provider multiplies
    assert host["cap_drop"] == ["ALL"] and host["cap_add"] == ["NET_BIND_SERVICE"]
    assert host["read_only"] is True and host["security_opt"] == ["no-new-privileges:true"]
    assert host["log_config"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "5"}}
    assert host["network_mode"] == "bridge"  # created on the default bridge, then moved to its networks
    assert {n for n, _, _ in plan.networks} == {"berth-mediahub-edge", "berth-chatbot-edge"}
    assert any(b.endswith(":/data:rw") for b in host["binds"])
    check = plan.create["healthcheck"]
    assert check["start_period"] == 5 * 10**9 and check["interval"] == 15 * 10**9


def test_a_gpu_service_asks_the_engine_for_every_gpu(deploy):
    run = _run(deploy, "prod", "on-prem-rag/Pulumi.prod.yaml")
    ollama = run.get(docker_inputs.CONTAINER, "rag-ollama")
    plan = container_plan(ollama.inputs, "rag-ollama", "sha256:ollama")
    assert plan.gpu and plan.host_config["device_requests"] == [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]


@pytest.mark.parametrize("extra", [{"shmSize": 64}, {"healthcheck": {"tests": ["CMD", "true"], "bogus": 1}},
                                   {"ports": [{"internal": 80, "hostIp": "127.0.0.1"}]}])
def test_an_input_the_mapping_does_not_know_fails(deploy, extra):
    proxy = deploy("dev").get(docker_inputs.CONTAINER, "proxy")
    with pytest.raises(NotMapped, match="does not know"):
        container_plan({**proxy.inputs, **extra}, "proxy", "sha256:caddy")


def test_an_empty_command_part_is_refused_as_the_provider_does():
    with pytest.raises(NotMapped, match="may not be empty"):
        container_plan({"image": "x", "command": ["sh", ""]}, "c", "sha256:x")


def test_uploads_are_one_archive_extracted_at_root():
    plan = container_plan({"image": "x", "uploads": [{"file": "/etc/app.conf", "content": "a=1"},
                                                     {"file": "/bin/run", "content": "#!", "executable": True}]},
                          "c", "sha256:x")
    assert plan.uploads == [("/etc/app.conf", b"a=1", 0o644), ("/bin/run", b"#!", 0o744)]
    assert b"a=1" in plan.upload_archive()


def test_go_durations():
    assert go_duration_ns("1m30s") == 90 * 10**9
    assert go_duration_ns("500ms") == 5 * 10**8
    with pytest.raises(NotMapped):
        go_duration_ns("15 seconds")


def test_the_graph_runs_each_node_after_its_dependencies_and_independent_ones_at_once():
    graph = {"net": set(), "vol": set(), "db": {"net", "vol"}, "app": {"db"}, "site": set()}
    started, finished, lock = {}, {}, threading.Lock()
    independent = threading.Barrier(3, timeout=10)  # passed only while all three run at once

    def step(node):
        with lock:
            started[node] = time.monotonic()
        if node in ("net", "vol", "site"):
            independent.wait()
        with lock:
            finished[node] = time.monotonic()

    _run_graph(graph, step)
    for node, deps in graph.items():
        assert all(finished[d] <= started[node] for d in deps), node


def test_the_graph_stops_starting_work_after_a_failure():
    ran = []

    def step(node):
        ran.append(node)
        if node == "db":
            raise ApplyFailed("db would not start")

    with pytest.raises(ApplyFailed, match="db would not start"):
        _run_graph({"db": set(), "app": {"db"}}, step)
    assert ran == ["db"]


def test_the_critical_path_is_the_longest_chain_of_dependent_steps():
    steps = {u: Step(u, "t", u, s, f, frozenset(d)) for u, s, f, d in [
        ("net", 0, 1, ()), ("img", 0, 5, ()), ("db", 1, 4, ("net",)), ("app", 5, 9, ("db", "img"))]}
    applied = Applied.__new__(Applied)
    applied.steps = steps
    seconds, path = applied.critical_path()
    assert [s.name for s in path] == ["img", "app"] and seconds == 9
    assert applied.seconds_to_healthy == 9


def test_each_service_gets_the_stand_in_its_app_file_points_to(deploy):
    talker = deployment_of(_run(deploy, "prod", "youtube-talker/Pulumi.prod.yaml")).apps["youtube-talker"]
    chatbot = deployment_of(deploy("dev")).apps["chatbot"]
    assert role(talker.services["frontend"]) == "static-site"
    assert role(talker.services["backend"]) == "python-backend"
    assert role(chatbot.services["frontend"]) == "node-frontend"
    support = deployment_of(_run(deploy, "prod", "customer-support/Pulumi.prod.yaml")).apps["customer-support"]
    assert role(support.services["backend"]) == "nonroot-service"
    assert derived_changes(support, "backend", support.services["backend"], "sha256:v1")[1] == "1000:1000"
    env, user, files = derived_changes(talker, "backend", talker.services["backend"], "sha256:v1")
    assert env == {"PORT": "8000", "STANDIN_PORT": "8000", "STANDIN_SERVICE": "youtube-talker/backend",
                   "STANDIN_SOURCE": "sha256:v1"} and user is None
    assert HOOK_LOG in files["usr/local/bin/alembic"][0] and files["usr/local/bin/alembic"][1] == 0o755
    site = derived_changes(talker, "frontend", talker.services["frontend"], "sha256:v1")[2]
    assert set(site) == {"site/index.html", "site/assets/app.js", "site/about/index.html"}


def test_a_service_image_is_its_stand_ins_layers_and_a_new_config():
    """The archive `docker load` takes: the stand-in's layers named (not copied), its env and user
    changed, and one more layer holding only the service's files."""
    base = {"Id": "sha256:b", "Architecture": "amd64", "Os": "linux", "Created": "2026-01-01T00:00:00Z",
            "Config": {"Env": ["PATH=/usr/bin", "PORT=1"], "User": "app", "Entrypoint": ["/opt/standin/run"]},
            "RootFS": {"Type": "layers", "Layers": ["sha256:" + "1" * 64]}}
    archive = derived_image_archive(base, {"PORT": "8000"}, "1000:1000", {"usr/local/bin/alembic": ("#!/bin/sh", 0o755)},
                                    "berth-applied/x:1")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())[0]
        config = json.loads(tar.extractfile(manifest["Config"]).read())
        layer = tar.extractfile("files/layer.tar").read()
        assert "base-0/layer.tar" not in tar.getnames()
    assert manifest["RepoTags"] == ["berth-applied/x:1"] and manifest["Layers"][-1] == "files/layer.tar"
    assert config["config"]["Env"] == ["PATH=/usr/bin", "PORT=8000"] and config["config"]["User"] == "1000:1000"
    assert config["config"]["Entrypoint"] == ["/opt/standin/run"]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64, "sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as files:
        assert files.getnames() == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/alembic"]
        assert files.getmember("usr/local/bin/alembic").mode == 0o755
