"""One app's Postgres database: dumped with `pg_dump -Fc`, restored beside the live one, then swapped in.

Everything runs inside the Postgres container as the superuser over its local socket (as berth's
provisioning does), so no password is handled here. A restore never touches the app's database
until the new copy is complete:

0. A dump counts as a backup once `pg_restore` has read all of it, data included (`verify`): an archive
   cut short fails there, though its table of contents, at its start, still lists.
1. `pg_restore --list` reads the dump's table of contents (the SHA-256 in the manifest has already
   proven the file is the one backed up).
2. A new database `<db>__restore` is created like berth provisions one (the superuser's, the app's role
   owning its `public` schema). The dump's schemas (with their owners and grants) and extensions are
   restored first, as the superuser, while the app cannot connect to it yet: each extension in the
   schema it was in (berth's `berth_extensions`, owned by the superuser, or one of the app's), its
   script running where nothing of the app's can be. Then the rest in one transaction *as the app's
   role*, so the app owns every object again, and only then is the app let in.
3. With the app stopped: `<db>` becomes `<db>__previous` and `<db>__restore` becomes `<db>` (two
   renames; undone if the second fails). `<db>__previous` is dropped once the app is back up.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from backup.manifest import BackupError
from backup.runtime import Runtime

SUPERUSER = "postgres"
TOC_HEADER = "; Archive created at "
# Table-of-contents entries the superuser restores (owners kept): schemas, their grants, extensions and
# their comments. The app's role restores everything else.
SUPERUSERS_ENTRY = re.compile(r"^\d+; \d+ \d+ (SCHEMA - |ACL - SCHEMA |EXTENSION - |COMMENT - EXTENSION )")
# pg_restore of the entries listed in $1 into database $2, then any further options.
RESTORE = ('list=$(mktemp) && printf "%s\\n" "$1" > "$list" && db=$2 && shift 2 && pg_restore -U postgres -d "$db" '
           '--single-transaction --exit-on-error -L "$list" "$@"; status=$?; rm -f "$list"; exit $status')


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Database:
    def __init__(self, runtime: Runtime, container: str, name: str):
        self.runtime, self.container, self.name = runtime, container, name
        self.staged, self.previous = f"{name}__restore", f"{name}__previous"

    def dump(self, target: Path) -> None:
        with target.open("wb") as out:
            self.runtime.run_in(self.container, ["pg_dump", "-Fc", "-U", SUPERUSER, "-d", self.name], stdout=out)

    def verify(self, dump: Path) -> None:
        """The dump just taken, read to its end by `pg_restore -f /dev/null` (every entry's data too), before
        it counts as a backup: a `docker exec` can exit 0 with its output lost, whole or in part."""
        try:
            with dump.open("rb") as f:
                self.runtime.run_in(self.container, ["pg_restore", "-f", "/dev/null"], stdin=f)
        except BackupError as err:
            raise BackupError(f"the dump of database {self.name} just taken is not a whole pg_dump archive "
                              f"({err}); nothing was stored; run the backup again") from err

    def contents(self, dump: Path, label: str) -> str:
        """The dump's table of contents. pg_restore's listing always opens with TOC_HEADER (PrintTOCSummary,
        src/bin/pg_dump/pg_backup_archiver.c): a listing without it was lost on its way here, and restoring
        by it would restore nothing."""
        try:
            with dump.open("rb") as f:
                toc = self.runtime.run_in(self.container, ["pg_restore", "--list"], stdin=f)
        except BackupError as err:
            raise BackupError(f"{label} is not a readable pg_dump archive ({err}); choose another backup") from err
        if TOC_HEADER not in toc:
            raise BackupError(f"pg_restore --list of {label} printed no table of contents (its output was lost, "
                              "not the backup); run the restore again")
        return toc

    def psql(self, *lines: str, query: bool = False) -> str:
        with tempfile.TemporaryFile() as script:
            script.write(("\n".join(["\\set ON_ERROR_STOP on", *lines]) + "\n").encode())
            script.seek(0)
            return self.runtime.run_in(self.container, ["psql", "-X", "-q", "-At", "-U", SUPERUSER, "-d", "postgres"],
                                       stdin=script)

    def exists(self, name: str) -> bool:
        """Whether database `name` exists, by psql's count: 0 or 1. Any other answer is one a `docker exec`
        lost on its way here (moby/moby#27289), which must not read as "no": a restore asks before it stops
        anything whether an interrupted one left `<db>__previous`."""
        answer = self.psql(f"SELECT count(*) FROM pg_database WHERE datname = {literal(name)};").strip()
        if answer not in ("0", "1"):
            raise BackupError(f"psql's answer to whether database {name} exists was lost on its way here "
                              f"(it read {answer!r}); run the restore again")
        return answer == "1"

    def check_no_leftover(self) -> None:
        if self.exists(self.previous):
            raise BackupError(f"database {self.previous} is left from an interrupted restore; check it, then drop it "
                              f"(or rename it back to {self.name}) before restoring again")

    def stage(self, dump: Path, toc: str) -> None:
        """Restore the dump into `<db>__restore` while the app keeps running; see the module docstring."""
        role, staged = ident(self.name), ident(self.staged)
        self.psql(
            f"DROP DATABASE IF EXISTS {staged};",
            f"CREATE DATABASE {staged};",
            f"REVOKE ALL ON DATABASE {staged} FROM PUBLIC;",
            f"\\connect {staged}",
            f"ALTER SCHEMA public OWNER TO {role};",
        )
        lines = toc.splitlines()
        superusers = "\n".join(line for line in lines if SUPERUSERS_ENTRY.match(line))
        rest = "\n".join(line for line in lines if not SUPERUSERS_ENTRY.match(line))
        for entries, options in ((superusers, []), (rest, ["--no-owner", f"--role={self.name}"])):
            with dump.open("rb") as f:
                self.runtime.run_in(self.container, ["sh", "-c", RESTORE, "sh", entries, self.staged, *options], stdin=f)
        self.psql(f"GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {staged} TO {role};")

    def _rename(self, old: str, new: str, also_present: str | None = None) -> str:
        """`old` renamed to `new`, decided by the server: only if `old` exists (and `also_present` does)."""
        present = " AND ".join(f"EXISTS (SELECT FROM pg_database WHERE datname = {literal(name)})"
                               for name in (old, also_present) if name)
        return f"SELECT format('ALTER DATABASE %I RENAME TO %I', {literal(old)}, {literal(new)}) WHERE {present}\\gexec"

    def swap(self) -> None:
        """Put the staged copy in place (the app is stopped); the old one is kept as `<db>__previous`."""
        names = ", ".join(literal(n) for n in (self.name, self.staged))
        self.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ({names}) "
                  "AND pid <> pg_backend_pid();",
                  self._rename(self.name, self.previous), self._rename(self.staged, self.name))

    def undo(self) -> None:
        """The replaced copy put back where a swap made `<db>__previous`, decided by Postgres, never by reading
        psql's answer here: the undo runs after a failure, when a lost answer must not decide anything."""
        self.psql(self._rename(self.name, self.staged, also_present=self.previous),
                  self._rename(self.previous, self.name))

    def drop(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {ident(name)} WITH (FORCE);")
