"""Text the shared Postgres and each app's Redis are configured with: a role, database and ACL user per app.

Pure functions of plain values; the component feeds them secret passwords inside `apply`, so what
they return is itself a secret.

Postgres is provisioned in two sessions per app (docs/trust.md, "Databases"):

- `provision_sql`, as the admin (the superuser on one host, the RDS master on ECS): the app's role,
  its database and the extensions it asks for. Only berth's own text: a name derived from the
  validated app name, a generated password, extension names from the allow-list.
- the app's init SQL, in a session that logged in as the app's role with its password, to its own
  database. psql gets it as the argument of `-c`, which it sends to the server as one query string
  without reading it: a meta-command (`\\connect`, `\\!`, `\\copy`, `\\i`, `\\o |cmd`) is a syntax error there,
  not a command (psql's startup.c: `-c` not starting with a backslash is ACT_SINGLE_QUERY, sent with
  SendQuery). The role belongs to no other role, so `RESET ROLE` leads back to itself and `SET ROLE`
  or `SET SESSION AUTHORIZATION` to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.conventions import POSTGRES_PORT, REDIS_PORT
from rules.postgres import database_name as db_name
# Where berth creates an app's extensions: a schema of the admin's in the app's database, which the app may use.
EXTENSIONS_SCHEMA = "berth_extensions"


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class AppDatabase:
    app: str
    password: str
    extensions: tuple[str, ...] = ()
    init_sql: str | None = None


def provision_sql(db: AppDatabase) -> str:
    """Idempotent psql script the admin runs for one app: its role, database and extensions; no app text.

    The same text on one host (as the superuser) and on RDS (as the master, which is no superuser: it
    may not touch SUPERUSER, and it acts on the app's role and database through its membership in the
    role, which it grants itself). Safe to run on every change. The database belongs to the admin, so
    the app cannot `ALTER DATABASE ... SET` what the admin's next session runs with (`role`,
    `session_authorization`, `search_path`); the app gets CONNECT, CREATE and TEMPORARY on it and owns
    its `public` schema. Each session pins `search_path` to pg_catalog, so no name the admin uses
    resolves to an object of the app's.
    """
    role, lit = sql_identifier(db_name(db.app)), sql_literal(db_name(db.app))
    lines = [
        "\\set ON_ERROR_STOP on",
        "SET client_min_messages = warning;",  # not the NOTICEs of what exists already
        "SET search_path = pg_catalog, pg_temp;",
        f"SELECT 'CREATE ROLE {role}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {lit})\\gexec",
        f"ALTER ROLE {role} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD {sql_literal(db.password)};",
        # Only ever true of a role someone else changed; on RDS the master cannot, and fails here.
        (f"SELECT 'ALTER ROLE {role} NOSUPERUSER NOREPLICATION NOBYPASSRLS' FROM pg_roles WHERE rolname = {lit} "
         "AND (rolsuper OR rolreplication OR rolbypassrls)\\gexec"),
        f"GRANT {role} TO CURRENT_USER;",
        f"SELECT 'CREATE DATABASE {role}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {lit})\\gexec",
        f"ALTER DATABASE {role} OWNER TO CURRENT_USER;",
        f"ALTER DATABASE {role} RESET ALL;",
        f"REVOKE ALL ON DATABASE {role} FROM PUBLIC;",
        f"GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {role} TO {role};",
        f"\\connect {role}",
        "SET client_min_messages = warning;",
        "SET search_path = pg_catalog, pg_temp;",
        f"ALTER SCHEMA public OWNER TO {role};",
        *_extensions_sql(db_name(db.app), db.extensions),
    ]
    return "\n".join(lines) + "\n"


def _extensions_sql(name: str, extensions: tuple[str, ...]) -> list[str]:
    """The app's extensions, created where the app cannot have put anything, and on its search_path.

    An extension's script runs with its target schema first on the search_path, then the schemas of
    the extensions it needs (PostgreSQL docs, CREATE EXTENSION and "Security Considerations for
    Extensions": trojan-horse objects are a hazard only there). So the target is a schema the admin
    owns and the app may only use; the allow-listed extensions need no other. One that exists already
    (IF NOT EXISTS) runs no script. The app's sessions find the extensions' objects unqualified.
    """
    if not extensions:
        return []
    role, schema = sql_identifier(name), sql_identifier(EXTENSIONS_SCHEMA)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema};",
        ("DO $$BEGIN IF EXISTS (SELECT FROM pg_namespace WHERE nspname = "
         f"{sql_literal(EXTENSIONS_SCHEMA)} AND nspowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)) "
         f"THEN RAISE EXCEPTION 'schema {EXTENSIONS_SCHEMA} belongs to another role: berth creates extensions only in "
         "a schema the app cannot write; rename that schema'; END IF; END$$;"),
        f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC, {role};",
        f"GRANT USAGE ON SCHEMA {schema} TO {role};",
        *[f"CREATE EXTENSION IF NOT EXISTS {sql_identifier(ext)} WITH SCHEMA {schema};" for ext in extensions],
        f'ALTER ROLE {role} SET search_path = "$user", public, {schema};',
    ]


def init_sql_query(app: str, init_sql: str) -> str:
    """The app's init SQL as the one query psql sends: led by a comment line, so even a file that starts
    with a backslash is never read as a meta-command (`psql -c` treats a leading one as one)."""
    return f"-- init SQL of app {app}, run as its own role in its own database\n{init_sql}"


# Runs the init SQL in $INIT_SQL as one query (libpq's PG* variables say where and as whom).
RUN_INIT_SQL = 'exec psql -X -w -q -c "$INIT_SQL"'
# On one host: the password, then the query, arrive on standard input (neither is on a command line).
RUN_INIT_SQL_FROM_STDIN = f'IFS= read -r PGPASSWORD && export PGPASSWORD && INIT_SQL=$(cat) && {RUN_INIT_SQL}'


def init_sql_stdin(db: AppDatabase) -> str:
    """What RUN_INIT_SQL_FROM_STDIN reads: the app's password on the first line, then its query."""
    return f"{db.password}\n{init_sql_query(db.app, db.init_sql or '')}"


def postgres_url(app: str, password: str, scheme: str | None = None) -> str:
    name = db_name(app)
    return f"{scheme or 'postgresql'}://{name}:{password}@postgres:{POSTGRES_PORT}/{name}"


def redis_url(app: str, password: str, scheme: str | None = None) -> str:
    return f"{scheme or 'redis'}://{db_name(app)}:{password}@redis:{REDIS_PORT}/0"


REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
REDIS_MODES = {
    # a full cache evicts the least recently used keys and keeps nothing on disk
    "cache": ["--maxmemory-policy allkeys-lru", "--appendonly no", '--save ""'],
    # a full store refuses writes rather than lose keys, and logs every write to its append-only file
    "store": ["--maxmemory-policy noeviction", "--appendonly yes"],
}


def redis_command(app: str, mode: str, memory_mb: int) -> list[str]:
    """redis-server for one app: its mode, the default user off, the app's ACL user (no admin commands).

    The password is expanded from the container's (secret) environment by the shell, so it is in
    neither the command line Pulumi stores nor `docker inspect`'s Cmd. The container runs as the
    image's `redis` user, so the image's entrypoint has nothing to chown or drop.
    """
    args = [
        "exec redis-server",
        *REDIS_MODES[mode],
        f"--maxmemory {int(memory_mb * 0.8)}mb",
        "--user default off",
        "--user healthcheck on nopass -@all +ping",
        f'--user {db_name(app)} on ">${REDIS_PASSWORD_ENV}" "~*" "&*" +@all -@admin',
    ]
    return ["sh", "-c", " ".join(args)]


# The `healthcheck` ACL user may only PING, so it needs no secret.
REDIS_HEALTHCHECK = ["sh", "-c", "redis-cli --no-auth-warning --user healthcheck --pass ping ping | grep -q PONG"]
POSTGRES_HEALTHCHECK = ["pg_isready", "-U", "postgres", "-h", "127.0.0.1"]
