"""The CHM server (seed 000) as each stack file deploys it, run through the real program under mocks."""

from __future__ import annotations

import json

import pytest

from tests.support.stacks import PROD_SECRETS, stack_config
from offline.mockrun import Run, plain_strings, reveal

CONTAINER = "docker:index/container:Container"
CHM_CONTAINERS = {"shared-postgres", "mediahub-redis", "proxy",
                  "mediahub-backend", "mediahub-frontend", "chatbot-backend", "chatbot-frontend"}


def networks_of(run: Run, container: str) -> dict[str, list[str]]:
    """Network name -> aliases, for one container."""
    return {n["name"]: n.get("aliases", []) for n in run.containers()[container].values["networksAdvanced"]}


def env_of(run: Run, container: str) -> dict[str, str]:
    return dict(e.split("=", 1) for e in run.containers()[container].values.get("envs", []))


def secret_values(run: Run) -> set[str]:
    """Every secret the run handled: config secrets (test strings), generated passwords, the ECR token."""
    generated = {r.state["result"] for r in run.of_type("random:index/randomPassword:RandomPassword")}
    return generated | set(PROD_SECRETS.values()) | {"ecr-token-for-tests"}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_chm_container_is_deployed_and_nothing_else(deploy, stack):
    run = deploy(stack)
    names = {r.name for r in run.of_type(CONTAINER)}
    assert names == CHM_CONTAINERS


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_only_the_proxy_publishes_ports(deploy, stack):
    run = deploy(stack)
    published = {name: c.values.get("ports") for name, c in run.containers().items() if c.values.get("ports")}
    assert set(published) == {"proxy"}


def test_dev_binds_the_proxy_to_localhost_on_a_high_port(deploy):
    ports = deploy("dev").containers()["proxy"].values["ports"]
    assert ports == [{"internal": 80, "external": 8080, "ip": "127.0.0.1"}]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_ec2_stacks_publish_http_and_https(deploy, stack):
    ports = deploy(stack).containers()["proxy"].values["ports"]
    assert sorted((p["internal"], p["external"], p["ip"]) for p in ports) == [(80, 80, "0.0.0.0"), (443, 443, "0.0.0.0")]


def test_dev_registers_no_aws_resource(deploy):
    run = deploy("dev")
    assert [r.type for r in run.resources if r.type.startswith("aws:")] == []
    assert run.of_type("pulumi:providers:docker")[0].values["host"] == "unix:///var/run/docker.sock"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_docker_resource_uses_the_hosts_explicit_provider(deploy, stack):
    run = deploy(stack)
    host_provider = next(r for r in run.of_type("pulumi:providers:docker") if r.name == "host-docker")
    on_host = [r for r in run.resources if r.type.startswith("docker:index/") and r.type != "docker:index/image:Image"]
    assert on_host and all(r.provider.startswith(host_provider.urn + "::") for r in on_host)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_ec2_docker_provider_goes_over_ssh_after_the_readiness_gate(deploy, stack):
    run = deploy(stack)
    provider = run.get("pulumi:providers:docker", "host-docker")
    gate = run.get("command:remote:Command", "host-ready")
    assert provider.values["host"] == f"ssh://ubuntu@{run.outputs['hostPublicIp']}"
    assert gate.urn in provider.dependencies
    assert "cloud-init status --wait" in gate.values["create"] and "docker info" in gate.values["create"]


def test_databases_sit_on_internal_networks_the_frontends_cannot_reach(deploy):
    run = deploy("dev")
    assert networks_of(run, "shared-postgres") == {"berth-mediahub-data": ["postgres"]}
    assert networks_of(run, "mediahub-redis") == {"berth-mediahub-data": ["redis"]}
    data = run.get("docker:index/network:Network", "mediahub-data")
    assert data.values["internal"] is True
    for frontend in ("mediahub-frontend", "chatbot-frontend"):
        assert not any(n.endswith("-data") for n in networks_of(run, frontend))
    assert "berth-mediahub-data" in networks_of(run, "mediahub-backend")
    assert not any(n.endswith("-data") for n in networks_of(run, "chatbot-backend"))  # the chatbot uses no database


def test_services_are_found_by_alias_and_the_proxy_only_joins_edge_networks(deploy):
    run = deploy("dev")
    assert networks_of(run, "proxy") == {"berth-mediahub-edge": [], "berth-chatbot-edge": []}
    assert networks_of(run, "chatbot-backend") == {"berth-chatbot": ["backend"], "berth-chatbot-edge": ["chatbot-backend"]}
    assert networks_of(run, "mediahub-frontend") == {"berth-mediahub": ["frontend"],
                                                     "berth-mediahub-edge": ["mediahub-frontend"]}


def test_chatbot_data_lives_in_the_volumes_the_migration_plan_restores_into(deploy):
    run = deploy("dev")
    mounts = {v["containerPath"]: v["volumeName"] for v in run.containers()["chatbot-backend"].values["volumes"]}
    assert mounts == {"/data/chroma_db": "chatbot_chroma", "/data/pdfs": "chatbot_pdfs",
                      "/data/transcripts": "chatbot_transcripts"}


@pytest.mark.parametrize("stack, root", [("staging", "/srv/berth"), ("prod", "/srv/berth")])
def test_report_automation_dir_is_mounted_from_the_data_volume(deploy, stack, root):
    volumes = deploy(stack).containers()["mediahub-backend"].values["volumes"]
    assert volumes == [{"hostPath": f"{root}/host-dirs/mediahub/reports",
                        "containerPath": "/home/ubuntu/chm_report_automation", "readOnly": False}]


def test_connection_env_is_injected_and_secret(deploy):
    run = deploy("dev")
    backend = run.containers()["mediahub-backend"]
    assert backend.is_secret("envs")
    env = env_of(run, "mediahub-backend")
    assert set(env) == {"DATABASE_URL", "REDIS_URL", "ENVIRONMENT", "HOSTNAME"}
    assert env["DATABASE_URL"].startswith("postgresql://mediahub:") and env["DATABASE_URL"].endswith("@postgres:5432/mediahub")
    assert env["REDIS_URL"].startswith("redis://mediahub:") and env["REDIS_URL"].endswith("@redis:6379/0")


def test_openai_key_reaches_the_chatbot_backend_as_a_secret(deploy):
    run = deploy("prod")
    backend = run.containers()["chatbot-backend"]
    assert backend.is_secret("envs")
    assert env_of(run, "chatbot-backend")["OPENAI_API_KEY"] == "sk-prod-test-openai-key"


def test_frontends_are_built_to_call_the_backend_through_the_public_api_path(deploy):
    """`next build` compiles NEXT_PUBLIC_* into the browser code: each stack's URL is a build argument."""
    run = deploy("prod")
    build = run.get("docker:index/image:Image", "mediahub-frontend").values["build"]
    assert build["args"] == {"NEXT_PUBLIC_API_URL": "https://mediahub.chmedia.com/api"}
    dev = deploy("dev").get("docker:index/image:Image", "chatbot-frontend").values["build"]
    assert dev["args"] == {"NEXT_PUBLIC_API_URL": "http://chatbot.localhost:8080/api"}
    assert "NEXT_PUBLIC_API_URL" not in env_of(run, "mediahub-frontend")  # at run time it would change nothing


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_secret_appears_in_plain_inputs_outputs_or_logs(deploy, stack):
    run = deploy(stack)
    secrets = secret_values(run)
    assert secrets, "the run handled no secrets at all"
    clear = [s for r in run.resources for s in plain_strings(r.inputs)]
    clear += [s for k, v in run.outputs.items() if k not in run.secret_outputs for s in plain_strings(v)]
    clear += run.logs
    leaks = [(secret, text) for secret in secrets for text in clear if secret in text]
    assert leaks == []


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_databases_start_before_the_apps_that_use_them(deploy, stack):
    """Started after they are healthy: each waits on the health gate of what it needs (which waits on it)."""
    run = deploy(stack)
    command = "command:local:Command" if stack == "dev" else "command:remote:Command"
    backend = run.containers()["mediahub-backend"]
    provision = run.get(command, "mediahub-postgres-provision")

    def healthy(name: str) -> str:
        gate = run.get(command, f"{name}-healthy")
        assert run.containers()[name].urn in gate.dependencies
        return gate.urn

    assert provision.urn in backend.dependencies and healthy("mediahub-redis") in backend.dependencies
    assert healthy("shared-postgres") in provision.dependencies
    assert healthy("mediahub-backend") in run.containers()["mediahub-frontend"].dependencies


def test_postgres_provisioning_sends_its_sql_as_a_secret_on_stdin(deploy):
    provision = deploy("dev").get("command:local:Command", "mediahub-postgres-provision")
    assert provision.is_secret("stdin")
    sql = provision.values["stdin"]
    assert "SELECT 'CREATE DATABASE \"mediahub\"'" in sql and 'GRANT CONNECT, CREATE, TEMPORARY ON DATABASE "mediahub"' in sql
    assert "test-secret" not in provision.values["create"] and "PASSWORD" not in provision.values["create"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_built_images_run_by_pushed_digest(deploy, stack):
    run = deploy(stack)
    built = run.get("docker:index/image:Image", "chatbot-backend")
    assert built.values["imageName"].endswith(":5be2a1f")
    assert built.values["build"]["platform"] == "linux/amd64"
    pushed = built.state["repoDigest"]
    assert pushed.startswith(f"123456789012.dkr.ecr.us-east-1.amazonaws.com/berth/{stack}/chatbot-backend@sha256:")
    pull = next(r for r in run.resources if r.name == "chatbot-backend-pull")
    assert f"docker pull --quiet {pushed}" in pull.values["create"]
    # the container runs the image id the host reports for that digest (tests/test_images.py has the why)
    assert run.containers()["chatbot-backend"].values["image"] == pull.state["stdout"].strip()


def test_dev_builds_locally_without_pushing(deploy):
    run = deploy("dev")
    built = run.get("docker:index/image:Image", "mediahub-backend")
    assert built.values["skipPush"] is True
    assert run.containers()["mediahub-backend"].values["image"].startswith("sha256:")
    assert run.of_type("aws:ecr/repository:Repository") == []


def test_outputs_name_each_apps_url_and_how_to_reach_the_host(deploy):
    run = deploy("prod")
    assert run.outputs["urls"] == {"mediahub": "https://mediahub.chmedia.com", "chatbot": "https://chatbot.chmedia.com"}
    assert run.outputs["sshCommand"] == "ssh ubuntu@198.51.100.20"
    assert run.outputs["ssmCommand"].startswith("aws ssm start-session --target i-")
    assert deploy("dev").outputs["urls"]["mediahub"] == "http://mediahub.localhost:8080"


def test_staging_host_names_follow_the_stack_name(deploy):
    run = deploy("staging", stack_name="pr-42")
    assert run.outputs["urls"]["chatbot"] == "https://chatbot.pr-42.chmedia.com"
    assert reveal(run.outputs["urls"]) == run.outputs["urls"]


# --- what a real engine needs ---------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_proxy_writes_its_caddyfile_to_a_tmpfs_so_its_root_stays_read_only(deploy, stack):
    """`uploads` are extracted at `/` before start, which the daemon refuses on a read-only root."""
    proxy = deploy(stack).containers()["proxy"].values
    assert proxy["readOnly"] is True and "uploads" not in proxy
    assert "/etc/caddy" in proxy["tmpfs"]
    assert proxy["command"] == ["sh", "-c", 'printf "%s" "$CADDYFILE" > /etc/caddy/Caddyfile && '
                                            "exec caddy run --config /etc/caddy/Caddyfile --adapter caddyfile"]
    assert any(e.startswith("CADDYFILE=") and "reverse_proxy" in e for e in proxy["envs"])


def test_postgres_is_pid_1_and_stops_with_its_own_signal_and_time_to_checkpoint(deploy):
    """tini (root without KILL) cannot signal the postgres user's server: no init, SIGINT, and time to stop."""
    postgres = deploy("prod").containers()["shared-postgres"].values
    assert postgres["init"] is False and postgres["stopSignal"] == "SIGINT"
    assert postgres["stopTimeout"] == postgres["destroyGraceSeconds"] >= 60


def test_app_services_keep_docker_init(deploy):
    assert deploy("prod").containers()["mediahub-backend"].values["init"] is True


def test_services_with_a_port_listen_on_every_address_not_only_hostname(deploy):
    """Next.js standalone binds `$HOSTNAME`, the container id unless set; the healthcheck asks 127.0.0.1."""
    run = deploy("dev")
    for name in ("mediahub-frontend", "mediahub-backend", "chatbot-frontend"):
        assert env_of(run, name)["HOSTNAME"] == "0.0.0.0"


def test_an_app_files_own_hostname_wins(deploy):
    apps = json.loads(json.dumps(stack_config("dev").object("berth:apps")))
    apps["mediahub"]["services"]["frontend"]["env"] = {"HOSTNAME": "::"}
    run = deploy("dev", plain={"berth:apps": apps})
    assert env_of(run, "mediahub-frontend")["HOSTNAME"] == "::"


# --- each app's own Redis ------------------------------------------------------------------------------

@pytest.fixture
def two_redis_apps(deploy) -> Run:
    """The dev stack plus customer-support: mediahub keeps a Redis store, customer-support a cache."""
    apps = json.loads(json.dumps(stack_config("dev").object("berth:apps")))
    context = {"build": {"context": "../chm-mediahub/backend"}}
    apps["customer-support"] = {"services": {"backend": context, "frontend": context}}
    return deploy("dev", plain={"berth:apps": apps})


def test_each_app_gets_its_own_redis_on_its_own_data_network_only(two_redis_apps):
    run = two_redis_apps
    assert networks_of(run, "mediahub-redis") == {"berth-mediahub-data": ["redis"]}
    assert networks_of(run, "customer-support-redis") == {"berth-customer-support-data": ["redis"]}
    assert "berth-mediahub-data" not in networks_of(run, "customer-support-backend")


def test_redis_runs_as_its_user_with_no_capabilities_and_is_pid_1(two_redis_apps):
    """The image's entrypoint drops privileges only for a bare `redis-server`, never for `sh -c`."""
    for name in ("mediahub-redis", "customer-support-redis"):
        redis = two_redis_apps.containers()[name].values
        assert redis["user"] == "redis" and redis["capabilities"] == {"drops": ["ALL"]}
        assert redis["readOnly"] is True and redis["init"] is False and redis["stopSignal"] == "SIGTERM"
        assert redis["stopTimeout"] == redis["destroyGraceSeconds"] >= 30


def test_a_store_keeps_an_aof_on_its_volume_and_a_cache_evicts_and_keeps_nothing(two_redis_apps):
    store, cache = (two_redis_apps.containers()[n].values for n in ("mediahub-redis", "customer-support-redis"))
    assert "--maxmemory-policy noeviction" in store["command"][-1] and "--appendonly yes" in store["command"][-1]
    assert store["volumes"] == [{"volumeName": "mediahub_redis", "containerPath": "/data"}]
    assert "--maxmemory-policy allkeys-lru" in cache["command"][-1] and "--appendonly no" in cache["command"][-1]
    assert "volumes" not in cache


def test_redis_password_is_secret_and_the_same_in_the_server_and_the_apps_url(two_redis_apps):
    run = two_redis_apps
    redis = run.containers()["mediahub-redis"]
    assert redis.is_secret("envs") and "$REDIS_PASSWORD" in redis.values["command"][-1]
    password = env_of(run, "mediahub-redis")["REDIS_PASSWORD"]
    assert password not in redis.values["command"][-1]
    assert env_of(run, "mediahub-backend")["REDIS_URL"] == f"redis://mediahub:{password}@redis:6379/0"
    assert env_of(run, "customer-support-redis")["REDIS_PASSWORD"] != password


def test_each_app_is_provisioned_by_its_own_psql_run(two_redis_apps):
    """One app's bad init SQL stops only its own run; each app's services wait only for their own."""
    run = two_redis_apps
    mine, theirs = (run.get("command:local:Command", f"{a}-postgres-provision") for a in ("mediahub", "customer-support"))
    assert 'CREATE DATABASE "mediahub"' in mine.values["stdin"] and '"customer_support"' not in mine.values["stdin"]
    assert 'CREATE DATABASE "customer_support"' in theirs.values["stdin"]
    backend = run.containers()["mediahub-backend"]
    assert mine.urn in backend.dependencies and theirs.urn not in backend.dependencies
