"""Provisioning as each backend registers it, on the engine, against every Postgres major berth pins.

A Postgres stand-in per major (tests/support/standins.py: 17 from Debian 13, 15 from Debian 12) runs
as `shared-postgres` on the two apps' internal data networks, as berth runs it. Then, unchanged:

- one host: the admin's `docker exec -i shared-postgres psql …` with its script on stdin, as the
  superuser, then the throwaway `docker run … sh -c` of the init SQL (the pulled image id is the
  stand-in's, as the engine tier's apply does);
- ECS: each task's container (the Postgres image as `postgres`, read-only, no capabilities) with the
  task's command, environment and secrets, on a network where the stand-in answers as its PGHOST, the
  admin task logged in as a master shaped like RDS's (CREATEROLE, CREATEDB, in `rds_superuser`, not
  SUPERUSER) over the network with its password.

Each is run twice, the apps' own credentials are checked, and init SQL that climbs back to the admin or
into another app is refused.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import shlex
import subprocess
import tarfile
import time

import docker
import pytest

from components.single_host.shared_services import POSTGRES_CAPS
from config import conventions
from offline.mockrun import reveal
from render import datastores
from rules.postgres import RDS_MASTER_USER, database_name
from tests.support.provisioning import APP, OTHER, SECRET, registered_runs
from tests.support.standins import POSTGRES_MAJORS
from tests.support.container_exec import output_of

pytestmark = pytest.mark.engine
TASK_NETWORK = "berth-test-rds"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, on_engine):
    on_engine.discard()  # a kept stack's shared-postgres and data networks carry the names the commands use
    return registered_runs(tmp_path_factory.mktemp("registered"))


class EnginePostgres:
    """The stand-in of one major as `shared-postgres`, and the registered commands run against it."""

    def __init__(self, engine, client: docker.DockerClient, image: str, runs):
        self.engine, self.client, self.image, self.runs = engine, client, image, runs
        self.networks = [client.networks.create(conventions.data_network(a), internal=True) for a in (APP, OTHER)]
        self.networks.append(client.networks.create(TASK_NETWORK, internal=True))
        self.container = client.containers.create(
            image, name="shared-postgres", environment={"POSTGRES_PASSWORD": secrets.token_hex(16)},
            cap_drop=["ALL"], cap_add=POSTGRES_CAPS, tmpfs={"/var/run/postgresql": "", "/tmp": ""})
        client.networks.get("bridge").disconnect(self.container)
        for network in self.networks:
            network.connect(self.container, aliases=["postgres"])
        self.container.start()
        deadline = time.time() + 60  # the entrypoint's first server listens on its socket only
        while self.container.exec_run(["pg_isready", "-U", "postgres", "-h", "127.0.0.1"]).exit_code != 0:
            assert time.time() < deadline, self.container.logs().decode()[-2000:]
            time.sleep(0.5)

    def require_tls(self, tmp) -> None:
        """TLS on, as RDS has it (the tasks' PGSSLMODE=require refuses a server without it)."""
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=postgres", "-days", "1",
                        "-keyout", str(tmp / "server.key"), "-out", str(tmp / "server.crt")], check=True, capture_output=True)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name in ("server.key", "server.crt"):
                info = tar.gettarinfo(str(tmp / name), arcname=name)
                info.uid = info.gid = 70
                info.mode = 0o600
                with (tmp / name).open("rb") as f:
                    tar.addfile(info, f)
        self.container.put_archive("/var/lib/postgresql/data", archive.getvalue())
        self.query("ALTER SYSTEM SET ssl = on")
        self.query("SELECT pg_reload_conf()")

    def query(self, sql: str, db: str = "postgres") -> str:
        """psql's answer (a row or the command's tag)."""
        code, out = output_of(self.container, ["psql", "-X", "-At", "-U", "postgres", "-d", db, "-c", sql])
        assert code == 0, out
        return out.strip()

    def sh(self, script: str, stdin: str) -> subprocess.CompletedProcess:
        """A registered host command, run by a shell here with DOCKER_HOST at the engine."""
        return subprocess.run(["/bin/sh", "-c", script], input=stdin, capture_output=True, text=True, timeout=300,
                              env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": self.engine.url}, check=False)

    def one_host(self, app: str, step: str, sql: str | None = None) -> subprocess.CompletedProcess:
        command = next(r for r in self.runs["one-host"].resources if r.name == f"{app}-postgres-{step}")
        script, stdin = command.values["create"], command.values["stdin"]
        if step == "init":
            argv = shlex.split(script)
            pulled = argv[argv.index("--entrypoint") + 2]  # the image id the mocks made up
            script = script.replace(pulled, self.image)
            if sql is not None:
                stdin = stdin.split("\n", 1)[0] + "\n" + datastores.init_sql_query(app, sql)
        return self.sh(script, stdin)

    def secret(self, arn: str) -> str:
        run = self.runs["ecs"]
        return next(v for v in run.of_type(SECRET) if arn.endswith(f":secret/{v.name}")).values["secretString"]

    def ecs(self, app: str, step: str, sql: str | None = None) -> tuple[int, str]:
        task = next(r for r in self.runs["ecs"].resources if r.name == f"{app}-postgres-{step}"
                    and r.type == "aws:ecs/taskDefinition:TaskDefinition")
        (container,) = json.loads(task.values["containerDefinitions"])
        env = {e["name"]: e["value"] for e in container["environment"]}
        env.update({s["name"]: self.secret(s["valueFrom"]) for s in container["secrets"]})
        env["PGHOST"] = "postgres"  # RDS's address in the task; the stand-in's alias here
        if sql is not None:
            env["INIT_SQL"] = datastores.init_sql_query(app, sql)
        assert container["user"] == "postgres" and container["readonlyRootFilesystem"] is True
        run = self.client.containers.run(self.image, container["command"], environment=env,
                                         user="postgres", read_only=True, cap_drop=["ALL"], network=TASK_NETWORK,
                                         detach=True)
        code = run.wait(timeout=120)["StatusCode"]
        logs = run.logs().decode(errors="replace")
        run.remove()
        return code, logs

    def step(self, backend: str, app: str, step: str, sql: str | None = None) -> tuple[int, str]:
        if backend == "ecs":
            return self.ecs(app, step, sql)
        result = self.one_host(app, step, sql)
        return result.returncode, result.stdout + result.stderr

    def provision(self, backend: str, *apps: str) -> None:
        for app in apps:
            for step in ("provision", "init"):
                code, out = self.step(backend, app, step)
                assert code == 0, f"{backend} {app} {step}: {out}"

    def login(self, backend: str, app: str, sql: str) -> str:
        """psql with the app's own URL, from its data network (as its services connect)."""
        if backend == "ecs":
            url = self.secret(f":secret/{app}-database-url").split("@")[0] + "@postgres:5432/" + database_name(app)
        else:
            envs = reveal(self.runs["one-host"].containers()[f"{app}-backend"].inputs)["envs"]
            url = next(e for e in envs if e.startswith("DATABASE_URL=")).split("=", 1)[1]
        url = re.sub(r"^[^:]+://", "postgresql://", url)  # the scheme the app's driver asked for (+asyncpg)
        out = self.client.containers.run(self.image, ["psql", url, "-X", "-At", "-c", sql], entrypoint=[],
                                         network=conventions.data_network(app), remove=True)
        return out.decode().strip()

    def remove(self) -> None:
        self.container.remove(force=True, v=True)
        for network in self.networks:
            network.remove()


@pytest.fixture(scope="module", params=[(m, b) for m in POSTGRES_MAJORS for b in ("one-host", "ecs")],
                ids=lambda p: f"postgres{p[0]}-{p[1]}")
def provisioned(request, engine, standins, runs, tmp_path_factory):
    major, backend = request.param
    client = docker.DockerClient(base_url=engine.url, timeout=300)
    postgres = EnginePostgres(engine, client, standins.postgres(major), runs)
    try:
        assert postgres.query("SHOW server_version").startswith(f"{major}.")
        if backend == "ecs":
            postgres.require_tls(tmp_path_factory.mktemp("tls"))
            master = postgres.secret(":secret/berth-postgres-master-password")
            postgres.query("CREATE ROLE rds_superuser NOLOGIN; GRANT pg_monitor, pg_signal_backend TO rds_superuser;"
                           f"CREATE ROLE {RDS_MASTER_USER} LOGIN NOSUPERUSER INHERIT CREATEDB CREATEROLE "
                           f"PASSWORD '{master}' IN ROLE rds_superuser")
        postgres.provision(backend, APP, OTHER)
        yield postgres, backend
    finally:
        postgres.remove()


def test_each_app_is_provisioned_by_its_admin_and_again_with_no_change(provisioned):
    postgres, backend = provisioned
    app = database_name(APP)
    state = ("SELECT datdba::regrole || ' ' || (SELECT string_agg(extname || ':' || extnamespace::regnamespace, ',' "
             "ORDER BY extname) FROM pg_extension) || ' ' || (SELECT string_agg(body, ',') FROM notes) "
             f"FROM pg_database WHERE datname = '{app}'")
    before = postgres.query(state, db=app)
    admin = "postgres" if backend == "one-host" else RDS_MASTER_USER
    assert before == f"{admin} citext:berth_extensions,pg_trgm:berth_extensions,plpgsql:pg_catalog hello"
    postgres.provision(backend, APP, OTHER)
    assert postgres.query(state, db=app) == before
    assert postgres.login(backend, APP, "SELECT current_user, 'A'::citext = 'a'") == f"{app}|t"
    assert postgres.login(backend, OTHER, "SELECT v FROM secrets") == "kept"


@pytest.mark.parametrize("attempt, sql", [
    ("reset role, then make a superuser", "RESET ROLE;\nCREATE ROLE intruder SUPERUSER LOGIN PASSWORD 'x'"),
    ("change another app's password", "ALTER ROLE youtube_talker PASSWORD 'taken'"),
    ("write into another app's database", "\\connect youtube_talker\nINSERT INTO secrets VALUES ('pwned')"),
    ("run a shell command", "\\! touch /tmp/pwned"),
])
def test_init_sql_cannot_climb_to_the_admin_or_into_another_app(provisioned, attempt, sql):
    postgres, backend = provisioned
    code, out = postgres.step(backend, APP, "init", sql)
    assert code != 0 and re.search(r"ERROR: ", out), out
    assert postgres.query("SELECT count(*) FROM pg_roles WHERE rolname = 'intruder'") == "0"
    assert postgres.login(backend, OTHER, "SELECT string_agg(v, ',') FROM secrets") == "kept"
    assert postgres.container.exec_run(["test", "-e", "/tmp/pwned"]).exit_code != 0
