"""The SQL oracle: what berth sends Postgres for accepted apps, run on a real cluster in one session.

For each accepted app with a database, in the order the configs came: the admin's script
(`render/datastores.py` `provision_sql`, as the superuser, as on one host) and then the app's init SQL
exactly as the one-host init container sends it (`components/single_host/shared_services.py`: the same `sh -c`
script, its password and query on standard input, PGUSER and PGDATABASE the app's). The generated
init SQL (tests/support/hostile_apps.py) is valid as written and records who ran it, where, and a
literal full of hostile text, so the oracle sees

- provisioning of every accepted name succeed (a name Postgres reserves, or one that takes the
  cluster's superuser away, fails this or a later app's run),
- the init SQL arrive byte for byte and run as the app's own role in its own database,
- and, at the end, no app's role able to reach beyond itself: none is a superuser or may create roles
  or databases, none may connect to another app's database, and the superuser is still one.

Apps of one name in several configs share a role and database (provisioning is idempotent), which
keeps the cluster's cost bounded: a CREATE DATABASE per distinct name, a psql pair per app.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass

from components.common import app_database
from components.single_host.shared_services import init_sql_command
from render import datastores
from rules.postgres import SUPERUSER
from tests.support.postgres_cluster import Cluster


@dataclass(frozen=True)
class Provisioned:
    """One accepted app's database, as berth renders it, and what its init SQL must record."""

    name: str  # names the config and app, for the failure message
    detail: str  # the config's app files, shown under a failure
    db: datastores.AppDatabase
    token: str
    body: str
    script: str  # the one-host init container's `sh -c` script


def provisioned(deployment, stack) -> list[Provisioned]:
    """The accepted stack's apps with a database, their SQL rendered as the program renders it."""
    out = []
    for app in deployment.apps.values():
        if app.database is None:
            continue
        db = app_database(deployment.stack_app(app.name), f"pw{stack.serial}x{app.name.replace('-', '')}")
        script = shlex.split(init_sql_command(app, "postgres:17.6"))[-1]  # its docker run, without docker
        out.append(Provisioned(f"stack {stack.serial} app {app.name}", stack.describe(), db, stack.token(app.name),
                               stack.sql[app.database.init_sql].body, script))
    return out


def _admin(cluster: Cluster, db: datastores.AppDatabase) -> subprocess.CompletedProcess:
    return cluster.run(["psql", "-q", "-X", "-U", SUPERUSER, "-d", "postgres"], datastores.provision_sql(db))


def _init(cluster: Cluster, item: Provisioned) -> subprocess.CompletedProcess:
    name = datastores.db_name(item.db.app)
    return cluster.run(["sh", "-c", item.script], datastores.init_sql_stdin(item.db),
                       PGHOST=cluster.socket_dir, PGUSER=name, PGDATABASE=name)


def judge(cluster: Cluster, apps: list[Provisioned]) -> list[str]:
    """Every problem running the apps' SQL shows, each naming its config and app."""
    problems = []
    for item in apps:
        admin = _admin(cluster, item.db)
        init = _init(cluster, item) if admin.returncode == 0 else admin
        if init.returncode != 0:
            step = "provisioning" if init is admin else "init SQL"
            problems.append(f"{item.name}: {step} failed: {init.stderr.strip()[-800:]}\n{item.detail}")
        else:
            problems += [f"{p}\n{item.detail}" for p in _recorded(cluster, item)]
    return problems + _no_reach(cluster, apps)


def _recorded(cluster: Cluster, item: Provisioned) -> list[str]:
    name = datastores.db_name(item.db.app)
    row = cluster.run(["psql", "-X", "-At", "-U", SUPERUSER, "-d", name, "-c",
                       f"SELECT who, db, encode(convert_to(body, 'UTF8'), 'hex') FROM fuzz_seen "
                       f"WHERE token = {datastores.sql_literal(item.token)}"]).stdout.strip()
    want = f"{name}|{name}|{item.body.encode().hex()}"
    return [] if row == want else [f"{item.name}: init SQL recorded {row!r}, not {want!r} (role|database|body as hex)"]


def _no_reach(cluster: Cluster, provisioned_apps: list[Provisioned]) -> list[str]:
    problems = []
    # one password per role: the last config's (each provisioning sets the role's password)
    last = {item.db.app: item.db for item in provisioned_apps}
    apps = sorted(last)
    roles = [datastores.db_name(a) for a in apps]
    if not roles:
        return problems
    found = cluster.query("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper")
    if found != SUPERUSER:
        problems.append(f"the cluster's superusers are {found!r}, not {SUPERUSER!r} alone")
    listed = ",".join(datastores.sql_literal(r) for r in roles)
    powerful = cluster.query(f"SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname IN ({listed}) "
                             "AND (rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)")
    if powerful:
        problems.append(f"app roles with more than their own: {powerful}")
    for app, other in zip(apps, apps[1:] + apps[:1], strict=True):
        if app == other:
            continue
        result = cluster.run(["psql", "-X", "-w", "-At", "-c", "SELECT 1"], PGUSER=datastores.db_name(app),
                             PGPASSWORD=last[app].password, PGDATABASE=datastores.db_name(other))
        if result.returncode == 0 or "permission denied" not in result.stderr:
            problems.append(f"app {app} reaches app {other}'s database: {result.stdout}{result.stderr}")
    return problems
