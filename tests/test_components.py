"""Component pieces on their own: the hardened-container floor, start order, env placeholders, and the
text the shared databases are configured with.

`hardened_container` is run inside a tiny program under the same mocks as the real one, so what is
asserted is what the Docker provider would receive.
"""

from __future__ import annotations

import pytest

from components.common import probe_command
from components.single_host.app_stack import start_order
from components.single_host.container import healthcheck_args
from render import datastores
from config.app import App, HealthCheck
from offline import mockrun

PROGRAM = '''
import pulumi
import pulumi_command as command
import pulumi_docker as docker
from components.single_host.container import Attachment, ContainerSpec, hardened_container, healthcheck_args
from config.app import HealthCheck

class Engine:  # a DockerHost as far as hardened_container asks: its provider, nothing to wait for, commands
    provider = docker.Provider("engine", host="unix:///var/run/docker.sock")
    ready = []

    @staticmethod
    def run(name, create, *, triggers=(), stdin=None, parent, depends_on=()):
        return command.local.Command(name, create=create, triggers=list(triggers),
                                     opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)))

net = docker.Network("net", name="berth-unit")
check = healthcheck_args(HealthCheck(path="/health", probe="curl"), 8000)
for name, stateful in (("api", False), ("db", True)):
    hardened_container(name, ContainerSpec(image="sha256:" + "a" * 64, networks=[Attachment(net, [name])],
                       healthcheck=check, memory_mb=256, cap_add=["CHOWN"] if stateful else [],
                       tmpfs=["/tmp"], stateful=stateful, labels={"berth.service": f"unit/{name}"},
                       replicas=[name]), host=Engine, parent=None)
'''


@pytest.fixture(scope="module")
def unit_run(tmp_path_factory) -> mockrun.Run:
    program = tmp_path_factory.mktemp("unit") / "program.py"
    program.write_text(PROGRAM, encoding="utf-8")
    return mockrun.run("unit", mockrun.StackConfig({}, frozenset()), root_directory=program.parent, program=program)


def test_every_container_gets_the_hardened_floor(unit_run):
    api = unit_run.containers()["api"].values
    assert api["restart"] == "unless-stopped" and api["memory"] == 256
    assert api["securityOpts"] == ["no-new-privileges:true"] and api["readOnly"] is True and api["privileged"] is False
    assert api["capabilities"] == {"drops": ["ALL"]}
    assert api["logDriver"] == "json-file" and api["logOpts"] == {"max-file": "5", "max-size": "10m"}
    assert api["tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=64m"}
    assert api["healthcheck"]["tests"] == ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/health"]
    assert "ports" not in api and "volumes" not in api


def test_stateless_containers_are_auto_named_stateful_ones_keep_their_name(unit_run):
    api, db = unit_run.containers()["api"], unit_run.containers()["db"]
    assert "name" not in api.values and not api.delete_before_replace
    assert db.values["name"] == "db" and db.delete_before_replace
    assert db.values["capabilities"] == {"drops": ["ALL"], "adds": ["CHOWN"]}


def test_stateless_containers_replace_create_first_overriding_the_providers_delete_first(unit_run):
    """pulumi-docker maps containers with DeleteBeforeReplace: true (config/docker_provider.py): a stateless
    container is create-first only because berth says so, explicitly."""
    api, db = unit_run.containers()["api"], unit_run.containers()["db"]
    assert (api.delete_before_replace, api.delete_before_replace_defined) == (False, True)
    assert (db.delete_before_replace, db.delete_before_replace_defined) == (True, True)


def test_every_change_reaches_the_container_on_the_next_up(unit_run):
    """What the provider records but never applies replaces the container; a setting the program stops
    giving that the provider would keep is in the replacement trigger."""
    for c in unit_run.containers().values():
        assert c.replace_on_changes == ["cpuPeriod", "cpuQuota", "healthcheck", "init", "rm", "tmpfs"]
        assert c.replacement_trigger == {"command": None, "user": None, "noEnv": True}


def test_memory_can_rise_in_place_and_a_refresh_reads_back_what_was_written(unit_run):
    api = unit_run.containers()["api"].values
    assert api["memorySwap"] == api["memory"] == 256  # no swap beyond the limit; Update sends it along
    assert api["healthcheck"]["startPeriod"] == "20s" and api["healthcheck"]["interval"] == "15s"
    slow = healthcheck_args(HealthCheck(path="/", start_period_s=60, interval_s=90), 80)
    assert (slow.start_period, slow.interval) == ("1m0s", "1m30s")  # as Go prints them, as Read stores them


def test_the_deploy_waits_on_a_gate_that_runs_whenever_the_container_is_new(unit_run):
    for name in ("api", "db"):
        container = unit_run.containers()[name]
        gate = unit_run.get("command:local:Command", f"{name}-healthy")
        assert "wait" not in container.values  # the provider's wait: a retry would skip it
        assert gate.values["triggers"] == [f"{name}-id"] and container.urn in gate.dependencies
        assert "did not become healthy" in gate.values["create"]
    retiring = "label=berth.service=unit/api"
    assert retiring in unit_run.get("command:local:Command", "api-healthy").values["create"]
    assert "docker rm" not in unit_run.get("command:local:Command", "db-healthy").values["create"]  # never two


@pytest.mark.parametrize("probe, expected_head", [
    ("curl", ["CMD", "curl", "-fsS"]), ("wget", ["CMD", "wget", "-q"]),
    ("python", ["CMD", "python", "-c"]), ("node", ["CMD", "node", "-e"]),
])
def test_http_probes_use_a_tool_the_image_has(probe, expected_head):
    test = probe_command(HealthCheck(path="/ready", probe=probe), 5000)
    assert test[:len(expected_head)] == expected_head and "http://127.0.0.1:5000/ready" in test[-1]


def test_a_command_check_runs_as_given():
    assert probe_command(HealthCheck(command=["pg_isready", "-U", "postgres"]), None) == ["CMD", "pg_isready", "-U", "postgres"]


APP = App.model_validate({
    "name": "shop", "hostname": "shop",
    "services": {
        "web": {"image": "w:1", "port": 3000, "healthcheck": {"path": "/"}, "dependsOn": ["api"],
                "env": {"API": "${url}/api", "HOST": "${hostname}"}},
        "api": {"image": "a:1", "port": 8000, "healthcheck": {"path": "/"}, "dependsOn": ["cache"]},
        "cache": {"image": "c:1", "port": 6379, "healthcheck": {"command": ["true"]}},
    },
})


def test_services_start_after_what_they_depend_on():
    assert start_order(APP) == ["cache", "api", "web"]


def test_env_placeholders_become_this_stacks_address(tmp_path):
    from config.load import load
    from config.raw_config import RawConfig
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "shop.yaml").write_text(APP.model_dump_json(by_alias=True, exclude_unset=True), encoding="utf-8")
    raw = RawConfig({"environment": "dev", "host": {"kind": "local"}, "apps": {"shop": {}}, "proxy": {"httpPort": 8080}})
    deployment = load(raw, "dev", tmp_path)
    shop = deployment.stack_app("shop")
    web = shop.app.services["web"]
    assert shop.substitute(web.env["API"]) == "http://shop.localhost:8080/api"
    assert shop.substitute(web.env["HOST"]) == "shop.localhost"


def test_the_admin_script_is_idempotent_quotes_what_it_is_given_and_holds_no_app_text():
    db = datastores.AppDatabase("my-app", "pa'ss", ("uuid-ossp",), "CREATE TABLE IF NOT EXISTS t ();")
    sql = datastores.provision_sql(db)
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'my_app')\\gexec" in sql
    assert "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'my_app')\\gexec" in sql
    assert "PASSWORD 'pa''ss';" in sql
    assert 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA "berth_extensions";' in sql
    assert db.init_sql not in sql and "SET ROLE" not in sql
    assert sql.startswith("\\set ON_ERROR_STOP on")


def test_the_admin_script_names_no_admin_so_the_superuser_and_the_rds_master_run_the_same_text():
    """The master (no superuser) acts on the app's database through membership in its role."""
    sql = datastores.provision_sql(datastores.AppDatabase("rag", "pw"))
    assert "berth_admin" not in sql and '"postgres"' not in sql and "SUPERUSER " not in sql.split("\\gexec")[0]
    assert sql.index('GRANT "rag" TO CURRENT_USER;') < sql.index("""SELECT 'CREATE DATABASE "rag"'""")
    assert 'ALTER DATABASE "rag" OWNER TO CURRENT_USER;' in sql


def test_init_sql_is_one_query_led_by_a_comment_so_a_leading_backslash_is_sql():
    """psql -c reads a leading backslash as a meta-command; anything else it sends unread."""
    query = datastores.init_sql_query("rag", "\\! touch /tmp/x")
    assert query.startswith("-- ") and query.endswith("\n\\! touch /tmp/x")
    stdin = datastores.init_sql_stdin(datastores.AppDatabase("rag", "pw", (), "SELECT 1"))
    assert stdin.split("\n", 1) == ["pw", datastores.init_sql_query("rag", "SELECT 1")]
    assert datastores.RUN_INIT_SQL.endswith('-c "$INIT_SQL"')


@pytest.mark.parametrize("mode, policy, persistence", [
    ("cache", "--maxmemory-policy allkeys-lru", '--appendonly no --save ""'),
    ("store", "--maxmemory-policy noeviction", "--appendonly yes"),
])
def test_redis_evicts_as_a_cache_and_keeps_everything_as_a_store(mode, policy, persistence):
    line = datastores.redis_command("chat-bot", mode, memory_mb=256)[-1]
    assert policy in line and persistence in line and "--maxmemory 204mb" in line


def test_redis_has_the_apps_acl_user_and_no_password_on_its_command_line():
    command = datastores.redis_command("chat-bot", "store", memory_mb=256)
    line = command[-1]
    assert command[:2] == ["sh", "-c"] and line.startswith("exec redis-server ")
    assert '--user chat_bot on ">$REDIS_PASSWORD" "~*" "&*" +@all -@admin' in line
    assert "--user default off" in line and "--user healthcheck on nopass -@all +ping" in line
    assert datastores.redis_url("chat-bot", "pw") == "redis://chat_bot:pw@redis:6379/0"
    assert datastores.postgres_url("chat-bot", "pw", "postgresql+asyncpg") == "postgresql+asyncpg://chat_bot:pw@postgres:5432/chat_bot"

