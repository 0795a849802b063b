"""One app's Postgres database: dumped with `pg_dump -Fc`, restored beside the live one, then swapped in.

Everything runs inside the Postgres container as the superuser over its local socket (as berth's
provisioning does), so no password is handled here. A restore never touches the app's database
until the new copy is complete:

1. `pg_restore --list` reads the whole dump's table of contents (a truncated dump fails here).
2. A new database `<db>__restore` is created like berth provisions one (owned by the app's role, no
   access for PUBLIC), the dump's extensions are created in it as the superuser, and the dump is
   restored into it in one transaction *as the app's role*, so the app owns every object again.
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
EXTENSION = re.compile(r"^\d+; \d+ \d+ EXTENSION - (\S+)")
EXTENSION_COMMENT = re.compile(r"^\d+; \d+ \d+ COMMENT - EXTENSION ")
# Restore as the app's role, without the objects' recorded owners, from a list with the extensions
# taken out (the superuser creates them first; their comments belong to the superuser).
RESTORE = ('list=$(mktemp) && printf "%s\\n" "$1" > "$list" && pg_restore -U postgres -d "$2" --no-owner --role="$3" '
           '--single-transaction --exit-on-error -L "$list"; status=$?; rm -f "$list"; exit $status')


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

    def contents(self, dump: Path, label: str) -> str:
        """The dump's table of contents; reading it to the end proves the archive is whole."""
        try:
            with dump.open("rb") as f:
                return self.runtime.run_in(self.container, ["pg_restore", "--list"], stdin=f)
        except BackupError as err:
            raise BackupError(f"{label} is not a readable pg_dump archive ({err}); choose another backup") from err

    def psql(self, *lines: str, query: bool = False) -> str:
        with tempfile.TemporaryFile() as script:
            script.write(("\n".join(["\\set ON_ERROR_STOP on", *lines]) + "\n").encode())
            script.seek(0)
            return self.runtime.run_in(self.container, ["psql", "-X", "-q", "-At", "-U", SUPERUSER, "-d", "postgres"],
                                       stdin=script)

    def exists(self, name: str) -> bool:
        return self.psql(f"SELECT 1 FROM pg_database WHERE datname = {literal(name)};").strip() == "1"

    def check_no_leftover(self) -> None:
        if self.exists(self.previous):
            raise BackupError(f"database {self.previous} is left from an interrupted restore; check it, then drop it "
                              f"(or rename it back to {self.name}) before restoring again")

    def stage(self, dump: Path, toc: str) -> None:
        """Restore the dump into `<db>__restore`, owned by the app's role, while the app keeps running."""
        role, staged = ident(self.name), ident(self.staged)
        extensions = [m.group(1) for line in toc.splitlines() if (m := EXTENSION.match(line))]
        self.psql(
            f"DROP DATABASE IF EXISTS {staged};",
            f"CREATE DATABASE {staged} OWNER {role};",
            f"REVOKE ALL ON DATABASE {staged} FROM PUBLIC;",
            f"GRANT ALL ON DATABASE {staged} TO {role};",
            f"\\connect {staged}",
            f"ALTER SCHEMA public OWNER TO {role};",
            *[f"CREATE EXTENSION IF NOT EXISTS {ident(e)};" for e in extensions],
        )
        keep = "\n".join(line for line in toc.splitlines() if not (EXTENSION.match(line) or EXTENSION_COMMENT.match(line)))
        with dump.open("rb") as f:
            self.runtime.run_in(self.container, ["sh", "-c", RESTORE, "sh", keep, self.staged, self.name], stdin=f)

    def _rename(self, old: str, new: str) -> str:
        return (f"SELECT format('ALTER DATABASE %I RENAME TO %I', {literal(old)}, {literal(new)}) "
                f"WHERE EXISTS (SELECT FROM pg_database WHERE datname = {literal(old)})\\gexec")

    def swap(self) -> None:
        """Put the staged copy in place (the app is stopped); the old one is kept as `<db>__previous`."""
        names = ", ".join(literal(n) for n in (self.name, self.staged))
        self.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ({names}) "
                  "AND pid <> pg_backend_pid();",
                  self._rename(self.name, self.previous), self._rename(self.staged, self.name))

    def undo(self) -> None:
        if self.exists(self.previous):
            self.psql(self._rename(self.name, self.staged), self._rename(self.previous, self.name))

    def drop(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {ident(name)} WITH (FORCE);")
