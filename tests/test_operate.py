"""scripts/status and scripts/logs without an engine: what status expects is what the program runs (every
stack), how it judges the host's answers (each thing not as asked, and nothing else), the host's
certificate and size parsing, and the proxy's access log as Caddy writes it and scripts/logs reads it.
The engine tier runs both scripts on the deployed CHM stack (tests/engine/operating.py).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from config import conventions
from offline.mockrun import reveal
from operate import host_facts, intent, logs, reporter
from operate.intent import Image, Intended
from operate.stack_file import load_stack
from operate.status import compare, render_text
from render import caddyfile
from render.caddyfile import ProxyPlan, Rule, Site, render
from tests.support.caddy_server import Caddy, free_port
from tests.support.docker_inputs import CONTAINER
from tests.support.stacks import PROD_SECRETS, REPO, require_tool
from tests.test_caddyfile import Upstream

EXAMPLES = sorted(p for p in (REPO / "examples").glob("*/Pulumi.*.yaml") if "-ecs/" not in str(p))
STACKS = [("dev", None), ("staging", None), ("prod", None)] + [(p.name.split(".")[1], p) for p in EXAMPLES]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MIB = 1 << 20


# --- what status expects -------------------------------------------------------------------------------

@pytest.mark.parametrize("stack, stack_file", STACKS, ids=[f"{s}:{f.parent.name if f else 'berth'}" for s, f in STACKS])
def test_what_status_expects_is_what_the_program_runs(deploy, monkeypatch, stack, stack_file):
    """Per `berth.service` label: as many containers, the same memory limits, and pinned images by the
    same reference, as the program registers for the stack."""
    monkeypatch.setenv("BERTH_OFFLINE_PLAN", "1")
    run = deploy(stack, stack_file=stack_file, secrets=PROD_SECRETS if (stack, stack_file) == ("prod", None) else None)
    registered: dict[str, list[int]] = {}
    for c in run.of_type(CONTAINER):
        labels = {lb["label"]: lb["value"] for lb in reveal(c.inputs).get("labels") or []}
        registered.setdefault(labels[conventions.SERVICE_LABEL], []).append(int(c.values["memory"]))
    wanted = intent.intended(load_stack(stack, stack_file).deployment)
    assert registered == {w.service: [w.memory_mb] * w.replicas for w in wanted}
    pulled = {r.values["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")}
    built = {r.values["imageName"] for r in run.of_type("docker:index/image:Image")}
    repositories = {r.values["name"] for r in run.of_type("aws:ecr/repository:Repository")}
    for w in wanted:
        if w.image.in_ecr:
            assert w.image.reference.rsplit(":", 1)[0] in repositories, w
        else:
            assert w.image.reference in pulled | built, w


def test_routes_are_the_proxys(deploy):
    run = deploy("prod", secrets=PROD_SECRETS)
    expected = {f"{r.host}{r.path}" for r in intent.routes(load_stack("prod").deployment)}
    assert expected == set(run.outputs["routes"]) and all(r.tls for r in intent.routes(load_stack("prod").deployment))


# --- judging the host's answers --------------------------------------------------------------------------

WANTED = [
    Intended("shop/api", "shop", 2, 512, 0.5, Image("berth-dev/shop-api:dev", "dev")),
    Intended("shop/redis", "shop", 1, 256, None, intent.pinned("redis:7.4.5-alpine")),
    Intended("proxy", None, 1, 256, None, intent.pinned("caddy:2.10.2-alpine")),
]
IMAGES = {"berth-dev/shop-api:dev": "sha256:api", "redis:7.4.5-alpine": "sha256:redis", "caddy:2.10.2-alpine": "sha256:caddy"}


def container(name: str, service: str, image: str, **state) -> dict:
    memory = next(w.memory_mb for w in WANTED if w.service == service)
    return {"id": name[:12], "name": name, "service": service, "imageId": image, "status": "running", "running": True,
            "exitCode": 0, "oomKilled": False, "startedAt": "2026-11-22T11:00:00.123456789Z", "finishedAt": None,
            "health": "healthy", "failingStreak": 0, "lastProbe": {"exitCode": 0, "output": ""}, "restarts": 0,
            "memoryLimitBytes": memory * MIB, "cpuLimit": None, "memoryBytes": 100 * MIB, "cpuPercent": 1.5, **state}


def facts(**changes) -> dict:
    images = [{"id": i, "repository": ref.rsplit(":", 1)[0], "tag": ref.rsplit(":", 1)[1], "digest": "<none>"}
              for ref, i in IMAGES.items()]
    base = {
        "host": {"dockerRoot": "/srv/berth/docker", "disk": {"path": "/srv/berth/docker", "totalBytes": 100, "usedBytes": 40,
                                                           "availableBytes": 60},
                 "memory": {"totalBytes": 100, "availableBytes": 50}, "engineVersion": "28.0.0"},
        "containers": [container("shop-api-a", "shop/api", "sha256:api"), container("shop-api-b", "shop/api", "sha256:api"),
                       container("shop-redis", "shop/redis", "sha256:redis"), container("proxy", "proxy", "sha256:caddy")],
        "images": images,
        "routes": [{"host": "shop.localhost", "path": "/api/", "tls": False, "status": 200, "error": None, "seconds": 0.01,
                    "certificate": None}],
    }
    return {**base, **changes}


def judged(f: dict, digests=None, wanted=WANTED):
    return compare("test", "here", wanted, f, digests, now=NOW)


def test_a_route_is_probed_for_longer_than_the_proxy_holds_a_request_it_cannot_hand_over():
    """A down service's route answers 502 only after the proxy's tries: read as that answer, not a timeout."""
    assert host_facts.PROBE_TIMEOUT_S > caddyfile.TRY_DURATION_S + caddyfile.CADDY_DIAL_TIMEOUT_S


def test_everything_as_asked_is_ok_and_says_so():
    report = judged(facts())
    assert report.ok and report.problems == []
    api = report.services[0]
    assert [c["version"] for c in api.containers] == ["dev", "dev"] and round(api.containers[0]["uptimeSeconds"]) == 3600
    text = render_text(report)
    assert "everything runs as the stack file asks" in text and "shop-api-a" in text and "2/2 running" in text


def with_container(name: str, **state) -> dict:
    f = facts()
    f["containers"] = [{**c, **state} if c["name"] == name else c for c in f["containers"]]
    return f


@pytest.mark.parametrize("state, expected", [
    ({"health": "unhealthy", "failingStreak": 4, "lastProbe": {"exitCode": 1, "output": "curl: (7) refused"}},
     "shop-api-a is unhealthy (4 failed probes); last probe exit 1: curl: (7) refused"),
    ({"health": "starting", "checkedNow": {"exitCode": 7, "output": "curl: (7) refused"}},
     "shop-api-a is not healthy yet: Docker has not probed it yet, and its healthcheck fails when run now (exit 7): "
     "curl: (7) refused"),
    ({"health": "starting", "checkedNow": {"exitCode": None, "output": "no answer within 10 s"}},
     "shop-api-a is not healthy yet: Docker has not probed it yet, and its healthcheck gave no answer when run now "
     "(no answer within 10 s)"),
    ({"health": "starting", "checkedNow": None},
     "shop-api-a is not healthy yet: Docker has not probed it yet, and status could not run its healthcheck"),
    ({"running": False, "status": "exited", "exitCode": 137, "oomKilled": True},
     "shop-api-a is exited (exit 137, killed for memory (OOM))"),
    ({"status": "restarting"}, "shop-api-a is restarting"),
    ({"imageId": "sha256:old"}, "shop-api-a runs old, but the stack file asks for berth-dev/shop-api:dev"),
    ({"memoryLimitBytes": 1024 * MIB}, "shop-api-a has a memory limit of 1024 MiB; the stack file asks for 512 MiB"),
])
def test_each_container_not_as_asked_is_a_problem(state, expected):
    report = judged(with_container("shop-api-a", **state))
    assert not report.ok
    assert [p for p in report.problems if p.startswith("shop/api: shop-api-a")] == [f"shop/api: {expected}"]
    assert "NOT AS ASKED" in render_text(report)


def test_a_container_docker_has_not_probed_yet_is_ready_when_its_healthcheck_passes_now():
    """Right after a deploy: Docker's first probe is an `interval` away, and the deploy's gate has just run
    the same check."""
    report = judged(with_container("shop-api-a", health="starting", checkedNow={"exitCode": 0, "output": ""}))
    assert report.ok
    assert "shop-api-a                   ready" in render_text(report)


@pytest.mark.parametrize("test, command", [
    (["CMD", "curl", "-fsS", "http://127.0.0.1:8000/health"], ["curl", "-fsS", "http://127.0.0.1:8000/health"]),
    (["CMD-SHELL", "pg_isready -U postgres || exit 1"], ["sh", "-c", "pg_isready -U postgres || exit 1"]),
    (["NONE"], []),  # a healthcheck turned off
    (["CMD-SHELL"], []),
    (None, []),
])
def test_status_runs_a_healthcheck_in_the_form_docker_runs_it(test, command):
    """The Docker Engine API's HealthConfig.Test: `CMD` execs its arguments, `CMD-SHELL` its string in `sh -c`."""
    assert host_facts.health_check({"Config": {"Healthcheck": {"Test": test} if test else None}}) == command


def test_a_restart_is_counted_but_is_no_problem_once_healthy_again():
    report = judged(with_container("shop-api-a", restarts=3))
    assert report.ok and report.services[0].containers[0]["restarts"] == 3
    assert "restarts 3" in render_text(report)


def test_drift_names_the_image_the_container_runs():
    f = with_container("shop-api-a", imageId="sha256:other")
    f["images"].append({"id": "sha256:other", "repository": "python", "tag": "3.12-slim", "digest": "<none>"})
    assert "shop/api: shop-api-a runs python:3.12-slim, but the stack file asks for berth-dev/shop-api:dev" in judged(f).problems


def test_missing_replicas_extra_containers_and_unknown_services_are_problems():
    f = facts()
    f["containers"] = [c for c in f["containers"] if c["name"] != "shop-api-b"]
    assert "shop/api: 1 of 2 replicas running" in judged(f).problems
    f["containers"] = [c for c in f["containers"] if c["service"] != "shop/redis"]
    assert any(p.startswith("shop/redis: no container") for p in judged(f).problems)
    extra = facts()
    extra["containers"].append(container("shop-api-c", "shop/api", "sha256:api"))
    extra["containers"].append({**container("old-worker", "shop/api", "sha256:api"), "service": "shop/worker"})
    problems = judged(extra).problems
    assert "shop/api: 3 containers for 2 replica(s): one started by hand, or left by a failed deploy" in problems
    assert any(p.startswith("shop/worker: old-worker runs, but the stack file has no such service") for p in problems)


def test_an_image_the_host_lacks_is_a_problem():
    f = facts(images=[i for i in facts()["images"] if i["id"] != "sha256:redis"])
    assert any(p.startswith("shop/redis: the image the stack file asks for (redis:7.4.5-alpine) is not on the host")
               for p in judged(f).problems)


def certificate(tmp_path: Path, days: int) -> bytes:
    """A self-signed certificate's DER, valid for `days` from now."""
    subprocess.run([require_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(tmp_path / "k"), "-out", str(tmp_path / "c.der"), "-outform", "DER", "-days", str(days),
                    "-subj", "/CN=shop.example"], check=True, capture_output=True)
    return (tmp_path / "c.der").read_bytes()


@pytest.mark.parametrize("route, expected", [
    ({"status": 502}, "route shop.localhost/api/ answers 502"),
    ({"status": None, "error": "TimeoutError: timed out"}, "route shop.localhost/api/ does not answer: TimeoutError"),
    ({"status": 200, "certificate": 9}, "route shop.localhost/api/: its certificate expires in 9.0 days"),
])
def test_a_route_that_does_not_answer_or_a_certificate_near_expiry_is_a_problem(route, expected, tmp_path):
    f = facts()
    if route.get("certificate"):  # what the proxy served, as host_facts passes it on
        route = {**route, "certificate": base64.b64encode(certificate(tmp_path, route["certificate"])).decode()}
    f["routes"] = [{**f["routes"][0], **route}]
    (problem,) = compare("test", "here", WANTED, f, None).problems
    assert problem.startswith(expected)


@pytest.mark.parametrize("used, available_memory, expected", [
    (85, 50, ["the data volume (/srv/berth/docker) is 85% full"]),
    (95, 50, ["the data volume (/srv/berth/docker) is 95% full: free space before it fills"]),
    (40, 5, ["the host's memory is 95% used"]),
    (80, 10, []),
])
def test_a_full_data_volume_or_host_memory_is_a_problem(used, available_memory, expected):
    f = facts()
    f["host"] = {**f["host"], "disk": {**f["host"]["disk"], "usedBytes": used},
                 "memory": {"totalBytes": 100, "availableBytes": available_memory}}
    problems = judged(f).problems
    assert len(problems) == len(expected) and all(p.startswith(e) for p, e in zip(problems, expected, strict=True)), problems


def test_an_ec2_hosts_built_image_is_matched_by_the_digest_ecr_holds_for_its_version():
    wanted = [Intended("shop/api", "shop", 2, 512, 0.5, Image("berth/prod/shop-api:5be2a1f", "5be2a1f", in_ecr=True)),
              *WANTED[1:]]
    f = facts()
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/berth/prod/shop-api"
    f["images"] = [i for i in f["images"] if i["id"] != "sha256:api"] + [
        {"id": "sha256:api", "repository": ecr, "tag": "<none>", "digest": "sha256:d5be"},
        {"id": "sha256:older", "repository": ecr, "tag": "<none>", "digest": "sha256:d4a3"}]
    assert judged(f, {"shop/api": "sha256:d5be"}, wanted).ok
    assert judged(f, {"shop/api": "sha256:d5be"}, wanted).services[0].containers[0]["version"] == "5be2a1f"
    drifted = judged(f, {"shop/api": "sha256:d4a3"}, wanted)  # the stack file moved on; the host did not
    assert "shop/api: shop-api-a runs api, but the stack file asks for berth/prod/shop-api:5be2a1f" in drifted.problems
    assert judged(f, None, wanted).ok, "a version ECR was not asked about is not checked, never a mismatch"


def test_the_json_report_carries_no_environment_value():
    """Only what host_facts keeps leaves the host: no container's env, command or mounts."""
    inspect = {"Id": "a" * 64, "Name": "/shop-api", "Image": "sha256:api",
               "Config": {"Labels": {"berth.service": "shop/api"}, "Env": ["API_KEY=do-not-print-me"],
                          "Cmd": ["--token", "do-not-print-me"]},
               "State": {"Status": "running", "Running": True, "StartedAt": "2026-11-22T11:00:00Z"},
               "HostConfig": {"Memory": 512 * MIB, "NanoCpus": 500_000_000}, "RestartCount": 0}
    kept = host_facts.container_facts(inspect, {"MemUsage": "12.5MiB / 512MiB", "CPUPerc": "0.75%"})
    assert "do-not-print-me" not in json.dumps(kept)
    assert kept["memoryBytes"] == int(12.5 * MIB) and kept["cpuLimit"] == 0.5 and kept["cpuPercent"] == 0.75


@pytest.mark.parametrize("text, size", [("0B", 0), ("12.5MiB", int(12.5 * MIB)), ("1.5GB", 1_500_000_000),
                                        ("512KiB", 512 << 10), ("3kB", 3000)])
def test_docker_stats_sizes(text, size):
    assert host_facts.parse_size(text) == size


def test_a_certificates_expiry_is_read_from_its_der(tmp_path):
    days = (reporter.not_after(certificate(tmp_path, 9)) - datetime.now(UTC)) / timedelta(days=1)
    assert 8.9 < days <= 9


# --- the access log ---------------------------------------------------------------------------------------

@pytest.mark.servers
def test_the_proxy_writes_one_json_line_per_request_without_headers_and_logs_reads_it(tmp_path):
    """Caddy (the Caddyfile berth renders) logs each request with its host, status and time, and no
    request or response header, so no credential an app carries in one reaches the log."""
    upstream = Upstream("api")
    plan = ProxyPlan(tls=False, sites=(Site("shop.localhost", (Rule("/", 10, upstreams=(upstream.address,)),)),
                                       Site("other.localhost", (Rule("/", 10, upstreams=(upstream.address,)),))))
    caddy = Caddy(render(plan), tmp_path, free_port())
    try:
        secret = "Bearer do-not-log-this-token"
        asked = {"Authorization": secret, "X-Api-Key": secret, "Host": "shop.localhost"}  # as on port 80
        assert caddy.get("shop.localhost", "/orders?page=2", headers=asked)[0] == 200
        assert caddy.get("other.localhost", "/", headers={"Host": "other.localhost"})[0] == 200
    finally:
        caddy.stop()
    log = caddy.log.read_text()
    assert "do-not-log-this-token" not in log
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [e for e in entries if e.get("logger", "").startswith(logs.ACCESS_LOGGER) and e["request"]["uri"] != "/health"]
    assert [(e["request"]["host"], e["status"]) for e in access] == [("shop.localhost", 200), ("other.localhost", 200)]
    assert all("headers" not in e["request"] and "resp_headers" not in e for e in access)
    lines = [logs.access_line(line, {"shop.localhost"}) for line in log.splitlines()]
    (shown,) = [line for line in lines if line]
    assert shown.startswith("200 GET shop.localhost/orders?page=2 ") and "from 127.0.0.1" in shown


def test_logs_refuses_what_the_stack_does_not_have():
    deployment = load_stack("dev").deployment
    with pytest.raises(logs.LogsError, match="no app 'shop'; its apps: mediahub, chatbot"):
        logs.services_of(deployment, "shop", None)
    with pytest.raises(logs.LogsError, match="no service 'worker' that runs a container; its services: backend, frontend"):
        logs.services_of(deployment, "chatbot", "worker")
    assert logs.services_of(deployment, "mediahub", None) == ["mediahub/backend", "mediahub/frontend", "mediahub/redis"]


@pytest.mark.parametrize("since, ok", [("10m", True), ("1h30m", True), ("2026-11-22T03:30:00Z", True),
                                       ("2026-11-22", True), ("10d", False), ("10m; rm -rf /", False)])
def test_since_takes_durations_and_times_only(since, ok, capsys):
    if ok:
        assert logs.parse(["chatbot", "--since", since]).since == since
    else:
        with pytest.raises(SystemExit):
            logs.parse(["chatbot", "--since", since])
        assert "--since" in capsys.readouterr().err


def test_an_ec2_stack_without_a_way_to_its_host_says_how(capsys):
    from operate import status
    assert status.main(["prod"]) == 3
    err = capsys.readouterr().err
    assert "BERTH_HOST=ubuntu@<hostPublicIp>" in err and "Traceback" not in err


def test_a_stack_file_that_is_not_there_is_a_clear_error(capsys):
    from operate import status
    assert status.main(["nosuch"]) == 2
    assert "no stack file" in capsys.readouterr().err


def test_host_facts_runs_with_the_standard_library_alone(tmp_path):
    """It is sent to the EC2 host and run by its python3: nothing of berth's may be imported."""
    source = Path(host_facts.__file__).read_text(encoding="utf-8")
    imported = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imported <= {"__future__", "base64", "concurrent", "json", "os", "socket", "ssl", "subprocess", "sys", "time",
                        "datetime"}
    done = subprocess.run([sys.executable, "-I", "-", "{}"], check=False, input=source, capture_output=True, text=True,
                          env={"PATH": str(tmp_path)}, timeout=30)  # no docker here: a clear message, exit 3
    assert done.returncode == 3 and done.stderr.startswith("berth: ") and "Traceback" not in done.stderr


# --- ECS: the ECS and load balancer APIs on loopback ----------------------------------------------------

def test_an_ecs_stacks_status_is_read_from_its_services_and_targets(monkeypatch):
    """moto's ECS and ELB in process: the cluster found by its berth:stack tag, each service by its name;
    a service short of tasks, one missing, and an unhealthy target are what is not as asked."""
    from moto import mock_aws

    from operate import ecs_status
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    loaded = load_stack("prod", REPO / "examples" / "chm-ecs" / "Pulumi.prod.yaml")
    wanted = ecs_status.wanted_services(loaded.deployment)
    assert set(wanted) == {"mediahub-backend", "mediahub-frontend", "mediahub-edge", "chatbot-backend",
                           "chatbot-frontend", "chatbot-edge"}
    with mock_aws():
        ecs, elb = boto3.client("ecs", region_name=loaded.region), boto3.client("elbv2", region_name=loaded.region)
        ecs.create_cluster(clusterName="other", tags=[{"key": "berth:stack", "value": "staging"}])
        ecs.create_cluster(clusterName="cluster-1a2b3c4", tags=[{"key": "berth:stack", "value": "prod"}])
        ecs.register_task_definition(family="f", containerDefinitions=[{"name": "x", "image": "i", "memory": 512}])
        vpc = boto3.client("ec2", region_name=loaded.region).create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
        group = elb.create_target_group(Name="chatbot-backend", Protocol="HTTP", Port=8000, VpcId=vpc,
                                        TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.40.1.5", "Port": 8000}])
        for key in sorted(wanted):
            if key != "mediahub-edge":  # one service was never created
                ecs.create_service(cluster="cluster-1a2b3c4", serviceName=f"{key}-{key.encode().hex()[:7]}",
                                   taskDefinition="f", desiredCount=wanted[key][1],
                                   loadBalancers=[{"targetGroupArn": group, "containerName": "x", "containerPort": 8000}]
                                   if key == "chatbot-backend" else [])
        report = ecs_status.status(loaded.deployment, loaded.region, ecs, elb)
    assert report.where == "ECS cluster cluster-1a2b3c4" and not report.ok
    backend = next(s for s in report.services if s.service == "chatbot-backend")
    assert backend.tasks["targets"] == {"healthy": 1, "unhealthy": 0} and backend.tasks["desired"] == 1
    assert "chatbot-backend: 0 of 1 tasks running (1 pending)" in report.problems  # moto starts no task
    assert "mediahub-edge: no ECS service: not deployed (pulumi up creates it)" in report.problems
    text = render_text(report)
    assert "0/1 tasks running (1 pending, IN_PROGRESS), targets 1 healthy, 0 unhealthy" in text and "host:" not in text


def test_an_ecs_service_judged_by_its_targets_rollout_and_desired_count():
    from operate import ecs_status
    service = {"serviceName": "chatbot-backend-1a2b3c4", "desiredCount": 5, "runningCount": 5, "pendingCount": 0,
               "deployments": [{"status": "PRIMARY", "rolloutState": "FAILED",
                                "rolloutStateReason": "tasks failed to start"}]}
    targets = [{"Target": {"Id": "10.40.1.5", "Port": 8000},
                "TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
                                 "Description": "Health checks failed with these codes: [502]"}},
               {"Target": {"Id": "10.40.1.6", "Port": 8000}, "TargetHealth": {"State": "healthy"}}]
    report = ecs_status.judge("chatbot-backend", "chatbot", 2, 3, service, targets)
    assert report.problems == [
        "5 tasks desired; the stack file asks for 2-3",
        "its last deployment failed: tasks failed to start",
        "target 10.40.1.5:8000 is unhealthy: Health checks failed with these codes: [502]"]
    assert ecs_status.judge("chatbot-backend", "chatbot", 2, 3, {**service, "desiredCount": 3, "runningCount": 3,
                                                                   "deployments": []}, targets[1:]).problems == []
