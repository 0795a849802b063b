"""Text the shared Postgres and each app's Redis are configured with: a role, database and ACL user per app.

Pure functions of plain values; the component feeds them secret passwords inside `apply`, so what
they return is itself a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

POSTGRES_PORT = 5432
REDIS_PORT = 6379


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def db_name(app: str) -> str:
    """Role, database and Redis user name of an app: its name, usable unquoted in URLs."""
    return app.replace("-", "_")


@dataclass(frozen=True)
class AppDatabase:
    app: str
    password: str
    extensions: tuple[str, ...] = ()
    init_sql: str | None = None


def provision_sql(db: AppDatabase, admin: str | None = None) -> str:
    """Idempotent psql script for one app: (re)create its role and database, keep its password in step.

    Run as the superuser (or, on RDS, as `admin`, which must belong to the role to create a database
    it owns) and safe to run on every change. The app's init SQL runs as its role and is closed with
    its own `;` line, so a last statement written without one still ends before `RESET ROLE`.
    """
    name = db_name(db.app)
    role, lit = sql_identifier(name), sql_literal(name)
    lines = [
        "\\set ON_ERROR_STOP on",
        f"SELECT 'CREATE ROLE {role} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {lit})\\gexec",
        f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {sql_literal(db.password)};",
        *([f"GRANT {role} TO {sql_identifier(admin)};"] if admin else []),
        f"SELECT 'CREATE DATABASE {role} OWNER {role}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_database WHERE datname = {lit})\\gexec",
        f"REVOKE ALL ON DATABASE {role} FROM PUBLIC;",
        f"GRANT ALL ON DATABASE {role} TO {role};",
        f"\\connect {role}",
        f"ALTER SCHEMA public OWNER TO {role};",
        *[f"CREATE EXTENSION IF NOT EXISTS {sql_identifier(ext)};" for ext in db.extensions],
    ]
    if db.init_sql:
        lines += [f"SET ROLE {role};", db.init_sql.rstrip(), ";", "RESET ROLE;"]
    lines.append("\\connect postgres")
    return "\n".join(lines) + "\n"


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
