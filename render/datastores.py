"""Text the shared Postgres and Redis are configured with: one role, database and ACL user per app.

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


def provision_sql(databases: list[AppDatabase]) -> str:
    """Idempotent psql script: (re)create each app's role and database, keep its password in step.

    Run as the superuser over the container's local socket; safe to run on every change.
    """
    lines = ["\\set ON_ERROR_STOP on"]
    for db in databases:
        name = db_name(db.app)
        role, lit = sql_identifier(name), sql_literal(name)
        lines += [
            f"SELECT 'CREATE ROLE {role} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {lit})\\gexec",
            f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {sql_literal(db.password)};",
            f"SELECT 'CREATE DATABASE {role} OWNER {role}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = {lit})\\gexec",
            f"REVOKE ALL ON DATABASE {role} FROM PUBLIC;",
            f"GRANT ALL ON DATABASE {role} TO {role};",
            f"\\connect {role}",
            f"ALTER SCHEMA public OWNER TO {role};",
            *[f"CREATE EXTENSION IF NOT EXISTS {sql_identifier(ext)};" for ext in db.extensions],
        ]
        if db.init_sql:
            lines += [f"SET ROLE {role};", db.init_sql.rstrip(), "RESET ROLE;"]
        lines.append("\\connect postgres")
    return "\n".join(lines) + "\n"


def postgres_url(app: str, password: str, scheme: str | None = None) -> str:
    name = db_name(app)
    return f"{scheme or 'postgresql'}://{name}:{password}@postgres:{POSTGRES_PORT}/{name}"


def redis_url(app: str, password: str, scheme: str | None = None) -> str:
    return f"{scheme or 'redis'}://{db_name(app)}:{password}@redis:{REDIS_PORT}/0"


def redis_password_env(app: str) -> str:
    return f"REDIS_PASSWORD_{db_name(app).upper()}"


def redis_command(apps: list[str], memory_mb: int) -> list[str]:
    """redis-server with AOF on, the default user off, and an ACL user per app.

    Passwords are expanded from the container's (secret) environment by the shell, so they are in
    neither the command line Pulumi stores nor `docker inspect`'s Cmd.
    """
    args = [
        "exec redis-server",
        "--appendonly yes",
        f"--maxmemory {int(memory_mb * 0.8)}mb",
        "--maxmemory-policy noeviction",
        "--user default off",
        "--user healthcheck on nopass -@all +ping",
    ]
    for app in apps:
        args.append(f'--user {db_name(app)} on ">${redis_password_env(app)}" "~*" "&*" +@all -@admin')
    return ["sh", "-c", " ".join(args)]


# The `healthcheck` ACL user may only PING, so it needs no secret.
REDIS_HEALTHCHECK = ["sh", "-c", "redis-cli --no-auth-warning --user healthcheck --pass ping ping | grep -q PONG"]
POSTGRES_HEALTHCHECK = ["pg_isready", "-U", "postgres", "-h", "127.0.0.1"]
