"""One app cannot take over another through Postgres: berth's provisioning run against a real Postgres.

The exact commands the program registers (one host: `docker exec … psql` as the superuser with the
admin SQL, then the throwaway `docker run … sh -c` that sends the init SQL; ECS: the provisioning and
init tasks' command, environment and secrets) run here against a throwaway cluster of Debian's
Postgres, per major: as its superuser for one host, as a master shaped like RDS's (CREATEROLE,
CREATEDB, in `rds_superuser`, no SUPERUSER) for ECS. Docker and ECS are left out (the engine tier runs
the one-host commands for real): each command runs with the same argv, environment and standard input,
PGHOST pointing at the cluster's socket.

Two apps: `mediahub` (extensions, init SQL) and `youtube-talker`, whose data the hostile init SQL of
mediahub tries to reach.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offline.mockrun import Run, reveal
from render import datastores
from rules.postgres import RDS_MASTER_USER, RESERVED_NAMES, database_name
from tests.support.app_files import MINIMAL
from tests.support.postgres_cluster import POSTGRES_MAJORS, Cluster
from tests.support.provisioning import APP, OTHER, SECRET, registered_runs

# One xdist worker runs this module, so its Postgres clusters are started and provisioned once (tests/conftest.py).
pytestmark = [pytest.mark.servers, pytest.mark.xdist_group("test_postgres_trust")]


@dataclass
class Provisioner:
    """Runs what one backend registered for an app against the cluster."""

    cluster: Cluster
    run: Run
    backend: str

    def _resource(self, name: str):
        return next(r for r in self.run.resources if r.name == name)

    def admin(self, app: str) -> subprocess.CompletedProcess:
        if self.backend == "ecs":
            return self._task(f"{app}-postgres-provision")
        command = self._resource(f"{app}-postgres-provision")
        argv = shlex.split(command.values["create"])
        assert argv[:3] == ["docker", "exec", "-i"], argv  # into the shared Postgres container, then psql
        return self.cluster.run(argv[4:], command.values["stdin"])

    def init(self, app: str, sql: str | None = None) -> subprocess.CompletedProcess:
        """The registered init command; `sql` stands in for the app's file (the hostile cases)."""
        if self.backend == "ecs":
            return self._task(f"{app}-postgres-init", sql and datastores.init_sql_query(app, sql))
        command = self._resource(f"{app}-postgres-init")
        argv = shlex.split(command.values["create"])
        env = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-e")
        assert argv[argv.index("--entrypoint") + 1] == "sh" and argv[-2] == "-c", argv
        stdin = command.values["stdin"]
        if sql is not None:
            stdin = stdin.split("\n", 1)[0] + "\n" + datastores.init_sql_query(app, sql)
        return self.cluster.run(["sh", "-c", argv[-1]], stdin, **{**env, "PGHOST": self.cluster.socket_dir})

    def _task(self, name: str, init_query: str | None = None) -> subprocess.CompletedProcess:
        (container,) = json.loads(self._resource(name).values["containerDefinitions"])
        if name.endswith("-init"):  # the init SQL is not the master's to read: no master password in reach
            assert "PGPASSWORD" not in {e["name"] for e in container["environment"]}
        env = {e["name"]: e["value"] for e in container["environment"]}
        env.update({s["name"]: self.secret(s["valueFrom"]) for s in container["secrets"]})
        if init_query is not None:
            env["INIT_SQL"] = init_query
        return self.cluster.run(container["command"], **{**env, "PGHOST": self.cluster.socket_dir})

    def secret(self, arn: str) -> str:
        return next(v for v in self.run.of_type(SECRET) if arn.endswith(f":secret/{v.name}")).values["secretString"]

    def provision(self, *apps: str) -> None:
        for app in apps:
            for step in (self.admin, self.init):
                result = step(app)
                assert result.returncode == 0, f"{app} {step.__name__}: {result.stderr}"

    def login(self, app: str, sql: str) -> subprocess.CompletedProcess:
        """As the app's services connect: its role, its password, its database."""
        password = re.search(r"://[^:]+:([^@]+)@", self.url(app)).group(1)
        name = database_name(app)
        return self.cluster.run(["psql", "-X", "-w", "-At", "-c", sql], PGUSER=name, PGDATABASE=name, PGPASSWORD=password)

    def url(self, app: str) -> str:
        if self.backend == "ecs":
            return self.secret(f":secret/{app}-database-url")
        env = dict(e.split("=", 1) for e in reveal(self.run.containers()[f"{app}-backend"].inputs)["envs"])
        return env["DATABASE_URL"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    return registered_runs(tmp_path_factory.mktemp("registered"))


@pytest.fixture(scope="module", params=[(m, b) for m in POSTGRES_MAJORS for b in ("one-host", "ecs")],
                ids=lambda p: f"postgres{p[0]}-{p[1]}")
def berth(request, runs):
    """A cluster with both apps provisioned as the backend does it (its admin: superuser or RDS master).

    One per major and backend: each test leaves it as it found it (the hostile ones prove they do)."""
    major, backend = request.param
    cluster = Cluster(major)
    try:
        cluster.start()
        provisioner = Provisioner(cluster, runs[backend], backend)
        if backend == "ecs":
            cluster.rds_master(provisioner.secret(":secret/berth-postgres-master-password"))
        provisioner.provision(APP, OTHER)
        yield provisioner
    finally:
        cluster.stop()


def snapshot(cluster: Cluster) -> dict[str, str]:
    """Roles, databases, owners, grants, settings and extensions: what a second run must leave as it is
    (asked in one query per database: the hostile cases take two snapshots each)."""
    app = database_name(APP)
    cluster_wide = {
        "roles": "SELECT string_agg(rolname || ':' || rolsuper || rolcreaterole || rolcreatedb, ',' ORDER BY rolname) "
                 "FROM pg_roles WHERE rolname !~ '^pg_'",
        "databases": "SELECT string_agg(datname || ':' || datdba::regrole || ':' || coalesce(datacl::text, ''), ',' "
                     "ORDER BY datname) FROM pg_database",
        "settings": "SELECT string_agg(setrole::regrole || ':' || array_to_string(setconfig, ';'), ',') "
                    "FROM pg_db_role_setting",
    }
    in_the_app = {
        "extensions": "SELECT string_agg(extname || ':' || extnamespace::regnamespace, ',' ORDER BY extname) FROM pg_extension",
        "schemas": "SELECT string_agg(nspname || ':' || nspowner::regrole || ':' || coalesce(nspacl::text, ''), ',' "
                   "ORDER BY nspname) FROM pg_namespace WHERE nspname !~ '^(pg_|information_schema)'",
        "notes": "SELECT string_agg(body, ',') FROM notes",
    }

    def one_query(queries: dict[str, str], db: str) -> dict[str, str]:
        pairs = ", ".join(f"'{name}', ({sql})" for name, sql in queries.items())
        return json.loads(cluster.query(f"SELECT json_build_object({pairs})", db=db))

    return {**one_query(cluster_wide, "postgres"), **one_query(in_the_app, app)}


# --- provisioning works, as either admin, and again --------------------------------------------------

def test_each_app_gets_its_role_database_and_extensions_and_a_second_run_changes_nothing(berth):
    cluster, app = berth.cluster, database_name(APP)
    before = snapshot(cluster)
    admin = "postgres" if berth.backend == "one-host" else RDS_MASTER_USER
    assert f"{app}:{admin}:" in before["databases"]  # the admin's database: the app cannot ALTER DATABASE … SET
    assert f"{app}:falsefalsefalse" in before["roles"]  # no superuser, no CREATEROLE, no CREATEDB
    assert before["extensions"] == "citext:berth_extensions,pg_trgm:berth_extensions,plpgsql:pg_catalog"
    assert f"berth_extensions:{admin}:" in before["schemas"] and f"public:{app}:" in before["schemas"]
    assert before["notes"] == "hello"
    berth.provision(APP, OTHER)
    assert snapshot(cluster) == before
    # the app's own sessions find the extensions unqualified, and own what they create
    assert berth.login(APP, "SELECT similarity('berth', 'birth') > 0, 'A'::citext = 'a', "
                            "(SELECT tableowner FROM pg_tables WHERE tablename = 'notes')").stdout == f"t|t|{app}\n"


def test_init_sql_runs_logged_in_as_the_apps_own_role_in_its_own_database(berth):
    result = berth.init(APP, "CREATE TEMP TABLE who AS SELECT current_user AS u, session_user AS s, current_database() AS d;"
                             "INSERT INTO notes SELECT u || s || d FROM who")
    assert result.returncode == 0, result.stderr
    app = database_name(APP)
    assert berth.cluster.query("DELETE FROM notes WHERE body <> 'hello' RETURNING body", db=app) == app * 3


def test_one_apps_bad_init_sql_holds_up_no_other_app(berth):
    berth.cluster.query(f"DROP DATABASE {database_name(OTHER)}")
    bad = berth.init(APP, "CREATE TABLE oops (;")
    assert bad.returncode != 0 and "syntax error" in bad.stderr
    berth.provision(OTHER)
    assert berth.login(OTHER, "SELECT v FROM secrets").stdout == "kept\n"


# --- hostile init SQL: each attempt fails, and nothing of it happened ---------------------------------

HOSTILE = {
    "reset role to the admin, then make a superuser": "RESET ROLE;\nCREATE ROLE intruder SUPERUSER LOGIN PASSWORD 'x'",
    "set role to the admin": "SET ROLE postgres;\nCREATE ROLE intruder SUPERUSER",
    "set role to the RDS master": f"SET ROLE {RDS_MASTER_USER};\nCREATE ROLE intruder",
    "set session authorization": "SET SESSION AUTHORIZATION postgres;\nCREATE ROLE intruder SUPERUSER",
    "change another app's password": "ALTER ROLE youtube_talker PASSWORD 'taken'",
    "connect to another app's database and write": "\\connect youtube_talker\nINSERT INTO secrets VALUES ('pwned')",
    "set role to another app and write": "SET ROLE youtube_talker;\nINSERT INTO secrets VALUES ('pwned')",
    "run a shell command": "\\! touch {marker}",
    "run a program through COPY": "COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
    "read another file with \\i": "SELECT 1;\n\\i /etc/passwd",
    "pipe output to a command": "\\o |touch {marker}\nSELECT 1",
    "connect to the maintenance database": "\\connect postgres\nCREATE TABLE planted ()",
    "plant settings in the admin's next session": "ALTER DATABASE mediahub SET role = 'mediahub'",
    "plant a function where berth creates extensions": (
        "CREATE FUNCTION berth_extensions.lower(text) RETURNS text LANGUAGE sql AS 'SELECT 1::text'"),
    "take the extensions' schema": "ALTER SCHEMA berth_extensions OWNER TO mediahub",
}


@pytest.mark.parametrize("attempt", HOSTILE, ids=list(HOSTILE))
def test_hostile_init_sql_fails_and_changes_nothing_outside_the_app(berth, attempt, tmp_path):
    marker = tmp_path / "marker"
    before = snapshot(berth.cluster)
    result = berth.init(APP, HOSTILE[attempt].format(marker=marker))
    assert result.returncode != 0, result.stdout
    assert not marker.exists(), "a shell command ran"
    assert snapshot(berth.cluster) == before
    assert berth.cluster.query("SELECT count(*) FROM pg_class WHERE relname = 'planted'") == "0"
    assert berth.login(OTHER, "SELECT string_agg(v, ',') FROM secrets").stdout == "kept\n"  # its password still works
    berth.provision(APP)  # and the admin's next run is unaffected


def test_a_schema_the_app_made_for_berths_extensions_stops_the_admin_instead_of_being_used(berth):
    """An app that had `berth_extensions` before asking for an extension: berth refuses to create one there."""
    other = database_name(OTHER)
    assert berth.login(OTHER, "CREATE SCHEMA berth_extensions").returncode == 0
    sql = datastores.provision_sql(datastores.AppDatabase(OTHER, "pw", ("hstore",)))
    admin = {"one-host": ["psql", "-q", "-X", "-U", "postgres", "-d", "postgres"],
             "ecs": ["psql", "-q", "-X", "-U", RDS_MASTER_USER, "-d", "postgres"]}[berth.backend]
    result = berth.cluster.run(admin, sql, PGPASSWORD=berth.secret(":secret/berth-postgres-master-password")
                               if berth.backend == "ecs" else "")
    assert result.returncode != 0 and "schema berth_extensions belongs to another role" in result.stderr
    assert berth.cluster.query("SELECT count(*) FROM pg_extension WHERE extname = 'hstore'", db=other) == "0"
    berth.cluster.query("DROP SCHEMA berth_extensions", db=other)
    berth.provision(OTHER)  # its own password again


# --- reserved names -------------------------------------------------------------------------------

@pytest.mark.parametrize("major", POSTGRES_MAJORS)
def test_the_reserved_names_are_the_clusters_own_or_refused_by_it(major):
    """What rules/postgres.py reserves, checked against a fresh cluster: built-in roles and databases
    exist, and the rest Postgres refuses as role names."""
    cluster = Cluster(major)
    try:
        cluster.start()
        existing = cluster.query("SELECT string_agg(n, ',' ORDER BY n) FROM (SELECT rolname AS n FROM pg_roles "
                                 "UNION SELECT datname FROM pg_database) names WHERE n !~ '^pg_'")
        assert existing == "postgres,template0,template1"
        for name in ("public", "none", "pg_app"):
            result = cluster.run(["psql", "-X", "-U", "postgres", "-c", f'CREATE ROLE "{name}"'])
            assert result.returncode != 0 and "is reserved" in result.stderr, (name, result.stderr)
    finally:
        cluster.stop()
    assert {"postgres", "template0", "template1", "public", "none"} <= set(RESERVED_NAMES)


@pytest.mark.parametrize("app", ["postgres", "template1", "template0", "pg-x", "public", "none", "berth-admin",
                                 "rdsadmin", "rds-superuser", "default", "healthcheck", "shop--restore"])
def test_an_app_named_like_a_built_in_is_refused_at_its_name(tmp_path, app):
    from config.errors import ConfigError
    from config.load import load
    from config.raw_config import RawConfig

    (tmp_path / "apps").mkdir()
    services = {name: {**svc, "uses": {"postgres": "DATABASE_URL"}} for name, svc in MINIMAL["services"].items()}
    (tmp_path / "apps" / f"{app}.yaml").write_text(json.dumps({**MINIMAL, "name": app, "services": services}))
    raw = RawConfig({"environment": "dev", "host": {"kind": "local"}, "apps": {app: {}}, "shared": {"postgres": {}}})
    with pytest.raises(ConfigError) as caught:
        load(raw, "dev", tmp_path)
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith(f"apps/{app}.yaml: name: app {app!r} would own the database role and user "), problem
    assert problem.endswith("; rename the app (and its file)")


@given(st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True), st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True))
def test_no_two_app_names_share_a_role(a, b):
    """App names have no `_`, so `-` -> `_` maps no two of them onto one role (`a-b` and `a_b` cannot both exist)."""
    assert (database_name(a) == database_name(b)) == (a == b)
