"""The managed data tier on ECS: RDS and ElastiCache fenced per app, reached over TLS, provisioned per app.

Runs the ECS examples under mocks (tests/support/ecs.py); the provisioning SQL itself is proven
against a real Postgres in tests/test_postgres_trust.py.
"""

from __future__ import annotations

import json

import pytest
import yaml

from components.ecs.databases import rds_url
from offline.mockrun import REPO, StackConfig
from tests.support.ecs import (
    CHM,
    EXAMPLES,
    INGRESS,
    SECRETS,
    SERVICE,
    TASK,
    ecs_config,
    group_id,
)
from tests.support.stacks import run_stack, stack_config

# One xdist worker runs this module, so its CHM run with a second Postgres app is made once (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("test_databases")

SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


def test_databases_admit_only_the_services_that_use_them(ecs):
    """RDS and ElastiCache take connections only from the app's data-client group (and the provisioner),
    never from an address range; the frontends do not wear that group."""
    run = ecs(CHM)
    rules = [r for r in run.of_type(INGRESS) if r.values.get("fromPort") in (5432, 6379)]
    assert rules and all("cidrIpv4" not in r.values and "cidrIpv6" not in r.values for r in rules)
    sources = {r.name: r.values["referencedSecurityGroupId"] for r in rules}
    assert set(sources) == {"data-postgres-from-mediahub", "data-postgres-from-provisioner", "mediahub-redis-from-mediahub"}
    clients = run.get("aws:ec2/securityGroup:SecurityGroup", "mediahub-data-clients")
    client_id = group_id(run, clients.name)
    assert sources["data-postgres-from-mediahub"] == client_id
    wearing = {s.name for s in run.of_type(SERVICE)
               if client_id in s.values["networkConfiguration"]["securityGroups"]}
    assert wearing == {"mediahub-backend"}


def test_no_database_is_public_and_all_storage_is_encrypted(ecs):
    run = ecs(CHM)
    rds = run.get("aws:rds/instance:Instance", "data-postgres")
    assert rds.values["publiclyAccessible"] is False and rds.values["storageEncrypted"] is True
    assert rds.values["engineVersion"] == "17"
    for cache in run.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        assert cache.values["transitEncryptionEnabled"] and cache.values["atRestEncryptionEnabled"]
    assert run.get("aws:efs/fileSystem:FileSystem", "files").values["encrypted"] is True
    for service in run.of_type(SERVICE):
        assert service.values["networkConfiguration"]["assignPublicIp"] is False


def test_database_urls_are_generated_and_secret(ecs):
    run = ecs(CHM)
    redis = next(v for v in run.of_type("aws:secretsmanager/secretVersion:SecretVersion") if v.name == "mediahub-redis-url")
    url = redis.values["secretString"]
    assert url.startswith("rediss://:") and url.endswith(".cache.amazonaws.com:6379/0")  # TLS, the auth token
    postgres = next(v for v in run.of_type("aws:secretsmanager/secretVersion:SecretVersion")
                    if v.name == "mediahub-database-url")
    assert postgres.values["secretString"].startswith("postgresql://mediahub:")
    assert ".rds.amazonaws.com:5432/mediahub" in postgres.values["secretString"]


def test_databases_are_provisioned_by_a_one_off_task_before_the_apps_start(ecs):
    run = ecs(CHM)
    provision = run.get("command:local:Command", "mediahub-postgres-provision")
    backend = run.get(SERVICE, "mediahub-backend")
    assert provision.urn in backend.dependencies
    assert "aws ecs run-task" in provision.values["create"] and "aws ecs wait tasks-stopped" in provision.values["create"]
    sql = next(v for v in run.of_type("aws:secretsmanager/secretVersion:SecretVersion")
               if v.name == "mediahub-postgres.provision-sql")
    assert sql.is_secret("secretString")
    assert 'GRANT "mediahub" TO CURRENT_USER;' in sql.values["secretString"]
    (container,) = json.loads(run.get(TASK, "mediahub-postgres-provision").values["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert (env["PGUSER"], env["PGDATABASE"], env["PGSSLMODE"]) == ("berth_admin", "postgres", "require")


@pytest.fixture(scope="module")
def with_talker(tmp_path_factory):
    """The CHM stack with a second Postgres app, youtube-talker, whose backend asks for postgresql+asyncpg."""
    apps = StackConfig.from_file(EXAMPLES / CHM).object("berth:apps")
    apps["youtube-talker"] = {"services": {name: {"build": {"context": "../youtube-talker"}, "version": "3f9c2a1"}
                                           for name in ("backend", "frontend")}}
    config = stack_config("prod", stack_file=EXAMPLES / CHM, plain={"berth:apps": apps}, secrets={
        **SECRETS[CHM], "berth:youtubeTalkerOpenrouterApiKey": "or-test", "berth:youtubeTalkerSupadataApiKey": "sd-test"})
    return run_stack(tmp_path_factory.mktemp("talker"), "chm-ecs-prod", config)


def secret_values(run) -> dict[str, str]:
    return {v.name: v.values["secretString"] for v in run.of_type(SECRET_VERSION)}


def test_database_urls_ask_for_tls_as_rds_requires(ecs):
    """RDS for PostgreSQL 15+ refuses connections without TLS (rds.force_ssl); ElastiCache is TLS-only here."""
    values = secret_values(ecs(CHM))
    assert values["mediahub-database-url"].startswith("postgresql://mediahub:")
    assert values["mediahub-database-url"].endswith(".rds.amazonaws.com:5432/mediahub?sslmode=require")
    assert values["mediahub-redis-url"].startswith("rediss://:")


def test_a_service_gets_the_url_scheme_it_asks_for(with_talker):
    """youtube-talker asks for postgresql+asyncpg: that scheme, with asyncpg's own TLS parameter."""
    url = secret_values(with_talker)["youtube-talker-database-url"]
    assert url.startswith("postgresql+asyncpg://youtube_talker:") and url.endswith("/youtube_talker?ssl=require")


def test_rds_urls():
    assert rds_url("mediahub", "pw", "db.example") == "postgresql://mediahub:pw@db.example:5432/mediahub?sslmode=require"
    assert rds_url("a-b", "pw", "db", "postgresql+asyncpg") == "postgresql+asyncpg://a_b:pw@db:5432/a_b?ssl=require"


def test_each_apps_database_is_provisioned_by_its_own_task(with_talker):
    """As on one host: one app's failing init SQL stops its own deploy, never another app's. With a
    second Postgres app (youtube-talker) beside mediahub, each has its own SQL secret, task and run,
    and each app's services wait for their own provisioning only."""
    run = with_talker
    runs = {r.name: r for r in run.of_type("command:local:Command") if r.name.endswith("-postgres-provision")}
    assert not [r for r in run.of_type("command:local:Command") if r.name.endswith("-postgres-init")]  # no init SQL
    assert set(runs) == {"mediahub-postgres-provision", "youtube-talker-postgres-provision"}
    sql = {v.name: v.values["secretString"] for v in run.of_type("aws:secretsmanager/secretVersion:SecretVersion")}
    tasks = {t.name: json.loads(t.values["containerDefinitions"]) for t in run.of_type(TASK)}
    for app, other in (("mediahub", "youtube_talker"), ("youtube-talker", "mediahub")):
        own = sql[f"{app}-postgres.provision-sql"]
        assert f'CREATE DATABASE "{app.replace("-", "_")}"' in own and f'"{other}"' not in own
        (container,) = tasks[f"{app}-postgres-provision"]  # the app's own task reads the app's own SQL
        assert {s["name"]: s["valueFrom"] for s in container["secrets"]}["PROVISION_SQL"].endswith(
            f":secret/{app}-postgres.provision-sql")
        assert runs[f"{app}-postgres-provision"].urn in run.get(SERVICE, f"{app}-backend").dependencies
        other_run = runs[f"{'youtube-talker' if app == 'mediahub' else 'mediahub'}-postgres-provision"]
        assert other_run.urn not in run.get(SERVICE, f"{app}-backend").dependencies


def test_init_sql_runs_in_a_task_of_its_own_as_the_apps_role_without_the_masters_password(tmp_path):
    """The admin task has the master's password and berth's SQL; the init task, after it, has the app's
    password and the app's SQL, and psql sends that as one query (`-c`): no meta-command is read."""
    apps = tmp_path / "berth" / "apps"
    apps.mkdir(parents=True)
    for source in (REPO / "apps").iterdir():
        (apps / source.name).write_bytes(source.read_bytes())
    mediahub = yaml.safe_load((apps / "mediahub.yaml").read_text())
    mediahub["database"] = {"initSql": "mediahub-init.sql", "extensions": ["pg_trgm"]}
    (apps / "mediahub.yaml").write_text(yaml.safe_dump(mediahub, sort_keys=False))
    (apps / "mediahub-init.sql").write_text("\\! id\nCREATE TABLE IF NOT EXISTS notes (body text);\n")
    run = run_stack(tmp_path, "chm-ecs-prod", ecs_config(CHM))
    admin, init = (run.get("command:local:Command", f"mediahub-postgres-{step}") for step in ("provision", "init"))
    assert admin.urn in init.dependencies and init.urn in run.get(SERVICE, "mediahub-backend").dependencies
    (container,) = json.loads(run.get(TASK, "mediahub-postgres-init").values["containerDefinitions"])
    assert container["command"] == ["sh", "-c", 'exec psql -X -w -q -c "$INIT_SQL"']
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert (env["PGUSER"], env["PGDATABASE"], env["PGSSLMODE"]) == ("mediahub", "mediahub", "require")
    secrets = {s["name"]: s["valueFrom"].rsplit(":secret/", 1)[1] for s in container["secrets"]}
    assert secrets == {"INIT_SQL": "mediahub-postgres.init-sql", "PGPASSWORD": "mediahub-postgres.password"}
    assert container["readonlyRootFilesystem"] is True and container["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    values = {v.name: v.values["secretString"] for v in run.of_type("aws:secretsmanager/secretVersion:SecretVersion")}
    assert values["mediahub-postgres.init-sql"].startswith("-- ")
    assert values["mediahub-postgres.init-sql"].endswith("\n\\! id\nCREATE TABLE IF NOT EXISTS notes (body text);\n")
    assert "notes" not in values["mediahub-postgres.provision-sql"]
    assert values["mediahub-postgres.password"] in values["mediahub-postgres.provision-sql"]
    # the init tasks' execution role reads the app's two secrets, never the master's password
    policy = json.loads(run.get("aws:iam/rolePolicy:RolePolicy", "data-init").values["policy"])
    (readable,) = [s["Resource"] for s in policy["Statement"] if s["Sid"] == "OwnSecrets"]
    assert sorted(r.rsplit(":secret/", 1)[1] for r in readable) == ["mediahub-postgres.init-sql", "mediahub-postgres.password"]
