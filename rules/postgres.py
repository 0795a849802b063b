"""What berth creates in Postgres for an app, and which names and extensions it refuses.

Each app that uses Postgres gets a role and a database named after it. The names Postgres, Amazon RDS,
Redis and berth already use are refused, and so are extensions outside a short allow-list, each with
its config path before anything is deployed (docs/trust.md, "Databases").
"""

from __future__ import annotations

from typing import Literal, get_args

SUPERUSER = "postgres"  # the official image's superuser (POSTGRES_USER): berth's admin on one host
RDS_MASTER_USER = "berth_admin"  # the RDS instance's master user: berth's admin on ECS (not a superuser)
BACKUP_SUFFIXES = ("__restore", "__previous")  # the backup tool's staging copies of a database (backup/postgres.py)

# Role and database names that are not free for an app, and why (verified on Postgres 15.18 and 18.6:
# tests/test_postgres_trust.py proves each is a built-in or refused).
RESERVED_NAMES = {
    "postgres": "the cluster's superuser and its maintenance database",
    "template0": "the template database Postgres keeps pristine",
    "template1": "the template every new database is copied from",
    "public": "Postgres's name for every role (`role name \"public\" is reserved`)",
    "none": "reserved by Postgres (`SET ROLE NONE`)",
    RDS_MASTER_USER: "berth's RDS master user on ECS",
    "default": "the Redis user berth turns off",
    "healthcheck": "the Redis user berth's healthcheck logs in as",
}
RESERVED_PREFIXES = {
    "pg_": "Postgres reserves role names starting with pg_",
    "rds": "Amazon RDS's own roles and database (rdsadmin, rds_superuser, rdstopmgr, ...)",
}

# Extensions berth creates for an app (`database.extensions`): Postgres's *trusted* extensions, the ones
# a database owner may create without a superuser, shipped with every official image and supported by
# RDS (PostgreSQL docs 15/17, appendix F "trusted"; `pg_available_extension_versions.trusted` on 15.18
# and 18.6; AWS "Extension versions for Amazon RDS for PostgreSQL"). All are relocatable and need no
# other extension, which is how berth creates them safely (render/datastores.py).
Extension = Literal["btree_gin", "btree_gist", "citext", "cube", "dict_int", "fuzzystrmatch", "hstore", "intarray",
                    "isn", "lo", "ltree", "pg_trgm", "pgcrypto", "seg", "tablefunc", "tcn", "tsm_system_rows",
                    "tsm_system_time", "unaccent", "uuid-ossp"]
EXTENSIONS: tuple[str, ...] = get_args(Extension)

# The most init SQL berth sends: ECS keeps it in Secrets Manager (a secret holds at most 65,536 bytes) and
# both backends hand it to psql as one argument (Linux: at most 131,072 bytes).
INIT_SQL_MAX_BYTES = 60_000


def query_text_problem(data: bytes) -> str | None:
    """Why Postgres could not take `data` as the text of a query, or None: a query is UTF-8 text (the
    server's encoding) and ends at its first NUL byte (libpq sends it as a C string)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        return f"is not UTF-8 text (line {line}); save the file as UTF-8"
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        return f"has a NUL byte (line {line}), where the query would end; remove it"
    return None


def database_name(app: str) -> str:
    """Role, database and Redis user name of an app: its name with `-` as `_`, usable unquoted in URLs.

    App names are `[a-z][a-z0-9-]*`, never `_`, so no two apps map to one name."""
    return app.replace("-", "_")


def reserved_reason(app: str) -> str | None:
    """Why the role and database an app would get are not free for it; None when they are."""
    name = database_name(app)
    if name in RESERVED_NAMES:
        return f"{name!r} is {RESERVED_NAMES[name]}"
    for prefix, why in RESERVED_PREFIXES.items():
        if name.startswith(prefix):
            return f"{name!r} starts with {prefix!r}: {why}"
    if "__" in name:
        return (f"{name!r} contains '__' (from '--'): the backup tool names its copies of a database "
                f"{' and '.join('<db>' + s for s in BACKUP_SUFFIXES)}")
    return None
