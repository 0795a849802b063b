"""A real Postgres cluster to run berth's provisioning against, as the superuser or as an RDS-shaped master.

Debian's binaries for each major in POSTGRES_MAJORS, a throwaway cluster on a unix socket (no TCP),
stopped by its postmaster's PID. Authentication as on the servers berth provisions: the superuser
`postgres` is trusted locally (the official image's `docker exec … psql -U postgres`), every other role
logs in with its password (SCRAM), so an app role's login proves its password.

An RDS master is no superuser (AWS, "Understanding the rds_superuser role"): `CREATE ROLE … LOGIN
NOSUPERUSER INHERIT CREATEDB CREATEROLE`, a member of `rds_superuser`. `rds_master()` makes one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rules.postgres import RDS_MASTER_USER, SUPERUSER
from tests.support.local_data import LocalPostgres, postgres_bindir

# The Postgres majors berth's provisioning is proven on here. 17 joins when this machine has its binaries
# (Debian's are 15 on bookworm); the engine tier proves the stand-ins' majors.
POSTGRES_MAJORS = ("15",)


def bindir_of(major: str) -> Path:
    """Debian's binaries of `major`: a test needing them fails in CI (which installs them), skips elsewhere."""
    found = Path(f"/usr/lib/postgresql/{major}/bin")
    if (found / "postgres").is_file():
        return found
    postgres_bindir()  # fails in CI, skips elsewhere, when no Postgres is installed at all
    if os.environ.get("CI"):
        pytest.fail(f"Postgres {major} is not installed; CI must have every major in POSTGRES_MAJORS")
    pytest.skip(f"Postgres {major} is not installed here")


class Cluster(LocalPostgres):
    """LocalPostgres with password logins for everyone but the superuser."""

    def __init__(self, major: str):
        super().__init__()
        self.bindir, self.major = bindir_of(major), major
        self.env["PATH"] = f"{self.bindir}:{os.environ['PATH']}"

    def start(self) -> None:
        super().start()
        (self.data / "pg_hba.conf").write_text(f"local all {SUPERUSER} trust\nlocal all all scram-sha-256\n")
        self.psql("SELECT pg_reload_conf()")

    def run(self, argv: list[str], stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        """A client command (psql, sh …) against this cluster, with libpq variables `env` (PGUSER, …)."""
        return subprocess.run(argv, check=False, input=stdin, capture_output=True, text=True, timeout=60,
                              env={**self.env, "PGDATABASE": "postgres", **env})

    def query(self, sql: str, db: str = "postgres") -> str:
        """As the superuser: what an operator (or a test) sees."""
        return self.psql(sql, db=db)

    def rds_master(self, password: str) -> str:
        """A master shaped like RDS's, with `password`; returns its name."""
        self.psql(f"CREATE ROLE rds_superuser NOLOGIN; GRANT pg_monitor, pg_signal_backend TO rds_superuser;"
                  f"CREATE ROLE {RDS_MASTER_USER} LOGIN NOSUPERUSER INHERIT CREATEDB CREATEROLE NOREPLICATION "
                  f"PASSWORD '{password}' IN ROLE rds_superuser;")
        return RDS_MASTER_USER

