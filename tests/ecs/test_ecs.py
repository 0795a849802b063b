"""ECS (`berth:host.kind: ecs`): the same app files on a cluster, asserted as users rely on them.

Runs the real program under mocks with the ECS examples (tests/support/ecs.py) and a staging copy:
what is reachable from where, what is secret, what survives `pulumi destroy`, how deploys roll.
"""

from __future__ import annotations

import json

import pytest
import yaml

from components.ecs.app_service import posix_owner
from config.app import Service
from config.fargate import task_size
from offline.mockrun import REPO, Run, plain_strings
from render.ecs_tasks import OneOffTask, run_task_script
from tests.support.ecs import (
    CHM,
    COLLABRY,
    ECS_STACKS,
    EXAMPLES,
    INGRESS,
    RAG_GPU,
    SECRETS,
    SERVICE,
    TASK,
    containers,
    ecs_config,
    group_id,
    mock_id,
)
from tests.support.stacks import run_stack, stack_config
from tests.support.validators import shellcheck

# --- deploys: the seed's numbers -----------------------------------------------------------------------

def test_collabry_runs_the_seeds_replicas_with_autoscaling_bounds(ecs):
    """Seed 002: frontend 2-3 replicas, backend 3-5 (autoscaled on CPU), ai-engine and the worker exactly one."""
    run = ecs(COLLABRY)
    desired = {s.name: s.values["desiredCount"] for s in run.of_type(SERVICE)}
    assert desired == {"collabry-frontend": 2, "collabry-backend": 3, "collabry-ai-engine": 1, "collabry-worker": 1}
    bounds = {t.name: (t.values["minCapacity"], t.values["maxCapacity"])
              for t in run.of_type("aws:appautoscaling/target:Target")}
    assert bounds == {"collabry-frontend": (2, 3), "collabry-backend": (3, 5)}
    scaled = {s.name for s in run.of_type(SERVICE) if "desiredCount" in s.ignore_changes}
    assert scaled == {"collabry-frontend", "collabry-backend"}  # autoscaling owns the count, not the next `up`


def test_collabry_tasks_get_the_seeds_cpu_and_memory(ecs):
    """Fargate sizes round up to a pair Fargate runs: 0.5 vCPU with 512 MiB becomes 0.5 vCPU with 1 GiB."""
    run = ecs(COLLABRY)
    sizes = {t.name: (t.values["cpu"], t.values["memory"]) for t in run.of_type(TASK)}
    assert sizes == {"collabry-frontend": ("512", "1024"), "collabry-backend": ("512", "1024"),
                     "collabry-ai-engine": ("2048", "4096"), "collabry-worker": ("256", "512")}
    assert containers(run, "collabry-backend")["backend"]["stopTimeout"] == 30


def test_singletons_and_data_holders_never_run_twice_and_failed_deploys_roll_back(ecs):
    run = ecs(COLLABRY)
    for service in run.of_type(SERVICE):
        values = service.values
        assert values["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, service.name
        assert values["waitForSteadyState"] is True
        once = service.name in ("collabry-worker", "collabry-ai-engine")  # a singleton; the FAISS volume's writer
        assert (values["deploymentMaximumPercent"], values["deploymentMinimumHealthyPercent"]) == (
            (100, 0) if once else (200, 100)), service.name


def test_fargate_task_sizes():
    assert task_size(0.5, 512) == (512, 1024)
    assert task_size(None, 512) == (256, 512)
    assert task_size(0.25, 8192) == (1024, 8192)
    assert task_size(2.0, 4096) == (2048, 4096)
    assert task_size(17, 1024) is None
    assert task_size(4, 200_000) is None


# --- what is reachable from where ----------------------------------------------------------------------

def test_one_app_cannot_reach_anothers_services(ecs):
    """Each app's tasks admit only the app itself and the load balancer; aliases live in the app's own namespace."""
    run = ecs(CHM)
    alb = group_id(run, run.get("aws:ec2/securityGroup:SecurityGroup", "edge-sg").name)
    for app in ("mediahub", "chatbot"):
        own = group_id(run, run.get("aws:ec2/securityGroup:SecurityGroup", f"{app}-tasks").name)
        into = [r for r in run.of_type(INGRESS) if r.values["securityGroupId"] == own]
        assert {r.values["referencedSecurityGroupId"] for r in into} == {own, alb}, app
        assert all(r.values["fromPort"] != 0 for r in into if r.values["referencedSecurityGroupId"] == alb)
    namespaces = {s.name: s.values["serviceConnectConfiguration"]["namespace"] for s in run.of_type(SERVICE)}
    assert namespaces["mediahub-backend"] != namespaces["chatbot-backend"]


def test_services_reach_each_other_by_the_same_alias_as_on_one_host(ecs):
    run = ecs(COLLABRY)
    connect = run.get(SERVICE, "collabry-ai-engine").values["serviceConnectConfiguration"]
    (endpoint,) = connect["services"]
    assert (endpoint["portName"], endpoint["discoveryName"]) == ("ai-engine", "ai-engine")
    assert endpoint["clientAlias"] == [{"port": 8000, "dnsName": "ai-engine"}]
    env = {e["name"]: e["value"] for e in containers(run, "collabry-backend")["backend"]["environment"]}
    assert env["AI_ENGINE_URL"] == "http://ai-engine:8000"


def test_only_the_load_balancer_faces_the_internet(ecs):
    run = ecs(CHM)
    open_rules = [r for r in run.of_type(INGRESS) if r.values.get("cidrIpv4") == "0.0.0.0/0"]
    assert {(r.name, r.values["fromPort"]) for r in open_rules} == {("edge-in-http", 80), ("edge-in-https", 443)}
    alb = run.get("aws:lb/loadBalancer:LoadBalancer", "edge")
    assert alb.values["dropInvalidHeaderFields"] is True and alb.values["internal"] is False
    http = run.get("aws:lb/listener:Listener", "edge-http")
    assert http.values["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    https = run.get("aws:lb/listener:Listener", "edge-https")
    assert https.values["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")


# --- routing -----------------------------------------------------------------------------------------

def rules_of(run: Run) -> dict[str, tuple[int, list, str]]:
    out = {}
    for rule in run.of_type("aws:lb/listenerRule:ListenerRule"):
        conditions = {k: v["values"] for c in rule.values["conditions"] for k, v in c.items()}
        out[rule.name] = (rule.values["priority"], conditions, rule.values["actions"][0]["targetGroupArn"])
    return out


def test_routes_become_host_and_path_rules_most_specific_first(ecs):
    run = ecs(COLLABRY)
    rules = rules_of(run)
    order = sorted(rules, key=lambda n: rules[n][0])
    assert order.index("collabry-route-api-ai") < order.index("collabry-route-api")  # /api/ai/ before /api/
    assert order[-1] == "collabry-route-root"  # `/` only when nothing more specific matched
    assert rules["collabry-route-api"][1] == {"hostHeader": ["collabry.example.com"], "pathPattern": ["/api", "/api/*"]}
    assert rules["collabry-route-root"][1] == {"hostHeader": ["collabry.example.com"]}


def test_sticky_routes_use_target_group_stickiness_and_streams_get_a_long_idle_timeout(ecs):
    run = ecs(COLLABRY)
    groups = {g.name: g.values for g in run.of_type("aws:lb/targetGroup:TargetGroup")}
    assert groups["collabry-backend"]["stickiness"]["enabled"] is True  # /socket.io/ is sticky (seed: ip_hash)
    assert groups["collabry-frontend"].get("stickiness") is None
    assert groups["collabry-backend"]["healthCheck"]["path"] == "/ready"
    # /socket.io/ holds WebSockets with no timeout (one host never cuts them): the ALB's ceiling, 4000 s.
    assert run.get("aws:lb/loadBalancer:LoadBalancer", "edge").values["idleTimeout"] == 4000


def test_prefix_stripping_goes_through_the_apps_edge_proxy(ecs):
    """The ALB cannot strip `/api`: chatbot's /api/ goes to its edge Caddy, which strips and forwards by alias."""
    run = ecs(CHM)
    rules = rules_of(run)
    edge_group = run.get("aws:lb/targetGroup:TargetGroup", "chatbot-edge")
    assert rules["chatbot-route-api"][2] == edge_group.state["arn"]
    edge = containers(run, "chatbot-edge")["edge"]
    caddyfile = next(e["value"] for e in edge["environment"] if e["name"] == "CADDYFILE")
    assert "uri strip_prefix /api" in caddyfile and "reverse_proxy backend:8000" in caddyfile
    assert "http_port 8080" in caddyfile and edge["readonlyRootFilesystem"] is True
    assert edge["linuxParameters"]["capabilities"]["drop"] == ["ALL"]


def test_the_edge_proxys_caddyfile_is_valid(ecs, tmp_path):
    from tests.support.validators import caddy
    edge = containers(ecs(CHM), "chatbot-edge")["edge"]
    caddy("validate", next(e["value"] for e in edge["environment"] if e["name"] == "CADDYFILE"), tmp_path)


def test_every_host_name_has_a_validated_certificate_and_an_alias(ecs):
    run = ecs(CHM)
    cert = run.get("aws:acm/certificate:Certificate", "edge-cert")
    assert {cert.values["domainName"], *cert.values["subjectAlternativeNames"]} == {
        "mediahub.chmedia.com", "chatbot.chmedia.com"}
    aliases = {r.values["name"] for r in run.of_type("aws:route53/record:Record") if r.values["type"] == "A"}
    assert aliases == {"mediahub.chmedia.com", "chatbot.chmedia.com"}


# --- secrets -----------------------------------------------------------------------------------------

def test_secrets_reach_tasks_by_reference_never_as_plain_environment(ecs):
    run = ecs(COLLABRY)
    secret_values = set(SECRETS[COLLABRY].values())
    for task in run.of_type(TASK):
        assert not any(v in s for s in plain_strings(task.inputs) for v in secret_values), task.name
    backend = containers(run, "collabry-backend")["backend"]
    assert {s["name"] for s in backend["secrets"]} == {"MONGODB_URI", "REDIS_URL", "JWT_SECRET"}
    assert all(s["valueFrom"].startswith("arn:aws:secretsmanager:") for s in backend["secrets"])
    assert "MONGODB_URI" not in {e["name"] for e in backend["environment"]}
    versions = run.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert versions and all(v.is_secret("secretString") for v in versions)
    names = {s.values["name"] for s in run.of_type("aws:secretsmanager/secret:Secret")}
    assert {"berth/collabry-ecs-prod/collabry/MONGODB_URI", "berth/collabry-ecs-prod/collabry/REDIS_URL"} <= names


def test_an_apps_execution_role_reads_only_its_own_secrets_and_images(ecs):
    run = ecs(CHM)
    for app in ("mediahub", "chatbot"):
        policy = json.loads(run.get("aws:iam/rolePolicy:RolePolicy", f"{app}-execution").values["policy"])
        by_sid = {s["Sid"]: s for s in policy["Statement"]}
        secrets = by_sid["OwnSecrets"]["Resource"]
        assert secrets and all(f"/{app}-" in arn or f"{app}-" in arn.rsplit("/", 1)[-1] for arn in secrets), secrets
        assert by_sid["OwnImages"]["Resource"] == [f"arn:aws:ecr:us-east-1:123456789012:repository/berth/chm-ecs-prod/"
                                                   f"{app}-{service}" for service in ("backend", "frontend")]
        assert "*" not in json.dumps(by_sid["OwnSecrets"])


# --- what survives destroy --------------------------------------------------------------------------

def test_prod_protects_its_data_and_keeps_final_snapshots(ecs):
    run = ecs(CHM)
    rds = run.get("aws:rds/instance:Instance", "data-postgres")
    assert rds.survives_destroy and rds.values["deletionProtection"] is True
    assert rds.values["skipFinalSnapshot"] is False and rds.values["finalSnapshotIdentifier"]
    assert rds.values["backupRetentionPeriod"] == 14 and rds.values["multiAz"] is True
    assert run.get("aws:efs/fileSystem:FileSystem", "files").survives_destroy
    assert all(p.survives_destroy for p in run.of_type("aws:efs/accessPoint:AccessPoint"))
    store = run.get("aws:elasticache/replicationGroup:ReplicationGroup", "mediahub-redis")
    assert store.survives_destroy == (store.values["snapshotRetentionLimit"] > 0)


def test_staging_leaves_nothing_behind(ecs):
    run = ecs(CHM, "staging")
    kept = [f"{r.type} {r.name}" for r in run.resources if r.survives_destroy]
    assert kept == []
    rds = run.get("aws:rds/instance:Instance", "data-postgres")
    assert rds.values["skipFinalSnapshot"] is True and rds.values["deletionProtection"] is False
    assert all(s.values["recoveryWindowInDays"] == 0 for s in run.of_type("aws:secretsmanager/secret:Secret"))
    assert all(r.values["forceDelete"] for r in run.of_type("aws:ecr/repository:Repository"))


# --- volumes, provisioning and hooks -------------------------------------------------------------------

def test_volumes_are_efs_access_points_and_tmpfs_is_task_scratch(ecs):
    run = ecs(CHM)
    points = {p.name: p.values for p in run.of_type("aws:efs/accessPoint:AccessPoint")}
    assert set(points) == {"chatbot-chroma", "chatbot-pdfs", "chatbot-transcripts", "mediahub-reports"}
    assert points["chatbot-chroma"]["rootDirectory"]["path"] == "/berth/chatbot/chroma"
    backend = containers(run, "chatbot-backend")["backend"]
    assert backend["readonlyRootFilesystem"] is True
    mounts = {m["containerPath"]: m["sourceVolume"] for m in backend["mountPoints"]}
    assert mounts["/data/chroma_db"] == "volume-chroma" and mounts["/tmp"].startswith("scratch-")
    volumes = {v["name"]: v for v in run.get(TASK, "chatbot-backend").values["volumes"]}
    assert volumes["volume-chroma"]["efsVolumeConfiguration"]["transitEncryption"] == "ENABLED"


def test_two_services_mounting_one_volume_share_its_access_point(tmp_path):
    """A volume two services name is one directory for both, as the one Docker volume on a host: one
    access point, mounted by each service's task."""
    apps = tmp_path / "berth" / "apps"
    apps.mkdir(parents=True)
    for source in (REPO / "apps").iterdir():
        (apps / source.name).write_bytes(source.read_bytes())
    chatbot = yaml.safe_load((apps / "chatbot.yaml").read_text())
    backend, frontend = chatbot["services"]["backend"], chatbot["services"]["frontend"]
    backend["sharedVolumes"] = {"pdfs": backend["volumes"].pop("pdfs")}
    frontend["sharedVolumes"] = {"pdfs": "/app/public/pdfs"}  # serves the PDFs the backend stores
    (apps / "chatbot.yaml").write_text(yaml.safe_dump(chatbot, sort_keys=False))
    run = run_stack(tmp_path, "chm-ecs-prod", ecs_config(CHM))
    (pdfs,) = [p.name for p in run.of_type("aws:efs/accessPoint:AccessPoint") if "pdfs" in p.name]
    for service, path in (("backend", "/data/pdfs"), ("frontend", "/app/public/pdfs")):
        task = run.get(TASK, f"chatbot-{service}")
        volume = next(v for v in task.values["volumes"] if v["name"] == "volume-pdfs")
        assert volume["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"] == mock_id("fsap", pdfs)
        mounts = {m["containerPath"]: m["sourceVolume"] for m in containers(run, f"chatbot-{service}")[service]["mountPoints"]}
        assert mounts[path] == "volume-pdfs"


def test_one_off_task_script_fails_unless_the_container_exits_zero(tmp_path):
    script = run_task_script(OneOffTask(cluster="c", task_definition="arn:td", container="backend",
                                        subnets=("subnet-1", "subnet-2"), security_groups=("sg-1",),
                                        command=("alembic", "upgrade", "head")))
    shellcheck(script, tmp_path, shell="bash")
    assert 'if [ "$code" != 0 ]' in script and "--launch-type FARGATE" in script
    assert '"command":["alembic","upgrade","head"]' in script


# --- what ECS cannot do is refused -------------------------------------------------------------------

def test_an_ecs_stack_needs_a_route53_zone(config_problems):
    problems = config_problems("prod", stack_file=EXAMPLES / CHM, secrets=SECRETS[CHM], remove=("berth:dns",))
    assert problems == ["berth:dns.zoneName: an ECS stack serves its apps through a load balancer whose certificate "
                        "is validated in Route 53; name the public hosted zone that holds the apps' host names "
                        "(berth:dns.zoneName)"]


def test_gpu_services_need_ec2_capacity(config_problems, tmp_path):
    config = stack_config("prod", stack_file=EXAMPLES / "on-prem-rag/Pulumi.prod.yaml",
                          secrets={"berth:ragChromaToken": "ChromaTokenForTests0123"},
                          plain={"berth:host": {"kind": "ecs"}, "berth:dns": {"zoneName": "example.com"}})
    problems = config_problems("prod", stack_file=EXAMPLES / "on-prem-rag/Pulumi.prod.yaml",
                               secrets={"berth:ragChromaToken": "ChromaTokenForTests0123"},
                               plain={"berth:host": config.object("berth:host"), "berth:dns": {"zoneName": "example.com"}})
    assert any(p.startswith("berth:host.gpuInstanceType: rag.ollama needs a GPU, which Fargate does not offer")
               for p in problems), problems


def test_gpu_services_run_on_the_gpu_capacity_provider(ecs):
    run = ecs(RAG_GPU)
    ollama = run.get(SERVICE, "rag-ollama")
    assert "launchType" not in ollama.values and ollama.values["capacityProviderStrategies"][0]["weight"] == 1
    task = run.get(TASK, "rag-ollama")
    assert task.values["requiresCompatibilities"] == ["EC2"]
    assert containers(run, "rag-ollama")["ollama"]["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    template = run.get("aws:ec2/launchTemplate:LaunchTemplate", "cluster-gpu")
    assert template.values["metadataOptions"]["httpTokens"] == "required"
    assert template.values["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
    assert run.get(SERVICE, "rag-api").values["launchType"] == "FARGATE"


def test_what_fargate_cannot_do_is_refused_with_its_path(config_problems):
    plain = {"berth:apps": {"mediahub": {"services": {
        "backend": {"build": {"context": "../chm-mediahub/backend"}, "version": "9c41d07", "cpus": 32},
        "frontend": {"build": {"context": "../chm-mediahub/frontend"}, "version": "9c41d07"}}},
        "chatbot": {"services": {
            "backend": {"build": {"context": "../chm-chatbot"}, "version": "5be2a1f"},
            "frontend": {"build": {"context": "../chm-chatbot/chm-chatbot-frontend"}, "version": "5be2a1f"}}}}}
    problems = config_problems("prod", stack_file=EXAMPLES / CHM, secrets=SECRETS[CHM], plain=plain)
    assert problems == ["berth:apps.mediahub.services.backend: asks for 32.0 vCPU and 1024 MiB; the largest Fargate "
                        "task has 16 vCPU and 122880 MiB"]


def test_every_nested_input_reaches_the_provider_with_its_wire_name(ecs):
    """A snake_case key nested in a plain dict is not translated by the SDK and the provider ignores it
    (e.g. `client_aliases` for `client_alias`): every key the program sends must be a wire (camelCase) key."""
    def keys(value, path=""):
        if isinstance(value, dict):
            for k, v in value.items():
                yield f"{path}.{k}", k
                yield from keys(v, f"{path}.{k}")
        elif isinstance(value, list):
            for v in value:
                yield from keys(v, path)

    for example in (COLLABRY, CHM):
        for resource in ecs(example).resources:
            if resource.type.startswith("aws:"):
                snake = [p for p, k in keys(resource.values) if "_" in k and not k.isupper()]
                assert snake == [], f"{resource.type} {resource.name}: {snake}"


@pytest.mark.parametrize("fields, owner", [
    ({"volumeOwner": "1000:1000", "user": "app"}, (1000, 1000)),
    ({"user": "999"}, (999, 999)),
    ({"user": "app"}, (0, 0)),
    ({}, (0, 0)),
])
def test_efs_access_points_belong_to_the_services_volume_owner(fields, owner):
    """The same owner a fresh volume gets on one host: `volumeOwner`, else a numeric `user`, else root."""
    svc = Service.model_validate({"image": "a:1", "port": 80, "healthcheck": {"path": "/"}, **fields})
    assert posix_owner(svc) == owner


@pytest.mark.parametrize("example", ECS_STACKS)
def test_no_task_is_killed_before_the_load_balancer_can_call_it_healthy(ecs, example):
    """A service's grace period covers its container's start period and the load balancer's passes to healthy."""
    run = ecs(example)
    groups = {g.state["arn"]: g.values["healthCheck"] for g in run.of_type("aws:lb/targetGroup:TargetGroup")}
    balanced = [s for s in run.of_type(SERVICE) if s.values.get("loadBalancers")]
    assert balanced
    for service in balanced:
        (target,) = service.values["loadBalancers"]
        check = groups[target["targetGroupArn"]]
        start = containers(run, service.name)[target["containerName"]]["healthCheck"]["startPeriod"]
        assert service.values["healthCheckGracePeriodSeconds"] >= start + check["interval"] * check["healthyThreshold"]
        assert check["timeout"] < check["interval"]


@pytest.mark.parametrize("example", ECS_STACKS)
def test_a_routed_service_is_created_after_the_rules_that_forward_to_it(ecs, example):
    """CreateService refuses a target group no load balancer forwards to yet."""
    run = ecs(example)
    rules = run.of_type("aws:lb/listenerRule:ListenerRule")
    balanced = [s for s in run.of_type(SERVICE) if s.values.get("loadBalancers")]
    assert balanced
    for service in balanced:
        (target,) = service.values["loadBalancers"]
        forwarding = {r.urn for r in rules if r.values["actions"][0]["targetGroupArn"] == target["targetGroupArn"]}
        assert forwarding and forwarding <= set(service.dependencies), service.name
