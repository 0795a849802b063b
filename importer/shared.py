"""The Compose Postgres and Redis services -> berth's shared Postgres (a database and role per app)
and the app's own Redis: what carries over (database name, extensions, init SQL, persistence) and
what berth does itself (credentials, ports, versions per stack)."""

from __future__ import annotations

import re
from pathlib import Path

from importer.draft import AppDraft
from rules.images import repository, tag

BERTH_POSTGRES_MAJOR = "17"  # config/stack.py PostgresSettings.image: postgres:17.6-alpine
EXTENSION_IMAGES = {"postgis/postgis": "postgis", "pgvector/pgvector": "vector", "timescale/timescaledb": "timescaledb"}
ROLE_STATEMENT = re.compile(r"^\s*(CREATE\s+(USER|ROLE|DATABASE)|ALTER\s+(USER|ROLE)|GRANT|REVOKE|\\c(onnect)?\b)",
                            re.IGNORECASE)
EXTENSION = re.compile(r"^\s*CREATE\s+EXTENSION\s+(IF\s+NOT\s+EXISTS\s+)?\"?([A-Za-z0-9_-]+)\"?[^;]*;", re.IGNORECASE)


def database(draft: AppDraft, compose_name: str) -> None:
    svc = draft.project.services[compose_name]
    env = {k: str(v or "") for k, v in (svc.get("environment") or {}).items()}
    db = draft.data.setdefault("database", {})
    at = ("database",)
    named = env.get("POSTGRES_DB") or env.get("POSTGRESQL_DATABASE") or _named_by_users(draft, compose_name) \
        or env.get("POSTGRES_USER") or "postgres"
    ours = draft.name.replace("-", "_")
    if named == ours:
        draft.notes.add(at, f"the Compose {compose_name} service's database {named!r}: berth's shared Postgres gives "
                            f"this app a database and role of that name, with a generated password")
    else:
        draft.notes.todo(at, f"the Compose database was {named!r}; berth names the app's database after the app "
                             f"({ours!r}). Restore a dump into it (pg_restore -d {ours}), or import with "
                             f"--app {named.replace('_', '-')} to keep the name")
    dropped = sorted(k for k in env if k not in ("POSTGRES_DB",))
    if dropped:
        draft.notes.add(at, f"{', '.join(dropped)} dropped: berth's Postgres has its own superuser and a generated "
                            "role per app")
    image = svc.get("image") or ""
    extension = EXTENSION_IMAGES.get(repository(image))
    if extension:
        db.setdefault("extensions", []).append(extension)
        draft.notes.todo(("database", "extensions"), f"{image} brings the {extension} extension; berth's default "
                                                     f"Postgres image lacks it: set berth:shared.postgres.image to a "
                                                     f"pinned {repository(image)} image")
    major = re.match(r"(\d+)", tag(image) or "")
    if major and major.group(1) != BERTH_POSTGRES_MAJOR:
        draft.shared.setdefault("postgres", {})
        draft.overlay_notes.todo(("shared", "postgres"),
                                 f"Compose ran {image}; berth's default is Postgres {BERTH_POSTGRES_MAJOR}. To stay on "
                                 f"{major.group(1)} (a dump restores into the same or a newer major only), set "
                                 f"image: postgres:{major.group(1)}.<patch>-alpine (pinned)")
    for mount in svc.get("volumes") or []:
        target = mount["target"]
        if target.startswith("/docker-entrypoint-initdb.d"):
            _init_script(draft, Path(mount.get("source") or ""), target)
        elif mount.get("source"):
            draft.notes.todo(at, f"the Compose data {draft.shown(mount['source'])} ({target}) is not copied: move it with "
                                 f"pg_dump from the old server and pg_restore into berth's database {ours!r}")
    if svc.get("ports"):
        draft.notes.add(at, "the Compose postgres published its port; berth's is reachable only from the app's services")


def _named_by_users(draft: AppDraft, compose_name: str) -> str | None:
    """The database the app's services asked for: a URL's path (`.../plausible_db`) or a DB_NAME-like setting."""
    envs = [draft.project.services[name].get("environment") or {} for name in draft.services]
    for env in envs:
        for value in env.values():
            match = re.match(rf"^postgres(?:ql)?(?:\+\w+)?://(?:[^/@]*@)?{re.escape(compose_name)}(?::\d+)?/(\w+)",
                             str(value or ""))
            if match:
                return match.group(1)
    for env in envs:
        for key, value in env.items():
            if re.fullmatch(r"(DB|DATABASE|POSTGRES|PG|DB_POSTGRESDB)_?(NAME|DATABASE|DB)", key, re.IGNORECASE) and value:
                return str(value)
    return None


def _init_script(draft: AppDraft, source: Path, target: str) -> None:
    at = ("database",)
    scripts = sorted(source.glob("*")) if source.is_dir() else [source]
    for script in scripts:
        if script.suffix not in (".sql",):
            draft.notes.todo(at, f"init script {script.name} ({target}) is not SQL; berth runs SQL only: port it")
            continue
        if not script.is_file():
            draft.notes.todo(at, f"init script {script} is not on this machine; berth's database.initSql needs its SQL")
            continue
        _init_sql(draft, script)


def _init_sql(draft: AppDraft, script: Path) -> None:
    kept, dropped, extensions = [], [], []
    statement: list[str] = []
    for line in script.read_text(encoding="utf-8").splitlines():
        statement.append(line)
        if not line.rstrip().endswith(";") and not line.strip().startswith("--") and line.strip():
            continue
        text = "\n".join(statement)
        statement = []
        ext = EXTENSION.match(text.strip().split("\n")[-1]) if text.strip() else None
        body = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
        if ext:
            extensions.append(ext.group(2))
        elif ROLE_STATEMENT.match(body):
            dropped.append(re.split(r"\s+", body.strip())[:2])
        elif body.strip():
            kept.append(text)
    if statement:
        kept.append("\n".join(statement))
    db = draft.data.setdefault("database", {})
    if extensions:
        db.setdefault("extensions", []).extend(e for e in extensions if e not in db.get("extensions", []))
        draft.notes.add(("database", "extensions"), f"from {script.name}'s CREATE EXTENSION: berth creates them as "
                                                    "the superuser")
    if dropped:
        kinds = sorted({" ".join(words).upper() for words in dropped})
        draft.notes.add(("database",), f"{script.name}: {len(dropped)} statement(s) about roles and databases left out "
                                       f"({', '.join(kinds)}): berth creates the app's role and database (passwords "
                                       "in them were not copied)")
    if kept:
        name = f"{draft.name}-init.sql"
        header = (f"-- From {script.name} (imported). berth runs it as the app's own role in its own database, each\n"
                  "-- time it provisions the database: every statement must be safe to run twice.\n")
        draft.files[name] = header + "\n".join(kept).strip() + "\n"
        db["initSql"] = name
        draft.notes.todo(("database", "initSql"), f"{name}: the rest of {script.name}; check each statement may run "
                                                  "again (CREATE TABLE IF NOT EXISTS, ...)")


def redis(draft: AppDraft, compose_name: str) -> None:
    svc = draft.project.services[compose_name]
    command = " ".join(svc.get("command") or [])
    volume = any(m.get("target") == "/data" and m.get("type") in ("volume", "bind") for m in svc.get("volumes") or [])
    at = ("redis",)
    if re.search(r"maxmemory-policy\s+(allkeys|volatile)-", command):
        mode, why = "cache", "its maxmemory-policy evicts keys: a cache"
    elif re.search(r"--appendonly\s+yes", command) or volume:
        mode, why = "store", ("it keeps its data (appendonly/a /data volume): `store` never evicts and keeps an "
                              "append-only file. If it only caches, `cache` evicts instead of refusing writes when full")
    else:
        mode, why = "cache", "nothing of it is kept on disk: a cache"
    draft.data["redis"] = {"mode": mode}
    draft.notes.add(at, f"the Compose {compose_name} service, as the app's own Redis; {why}")
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = limits.get("memory") or svc.get("mem_limit")
    if memory:
        draft.data["redis"]["memoryMb"] = max(1, int(memory) // 1048576)
    if "requirepass" in command or any("PASSWORD" in k for k in svc.get("environment") or {}):
        draft.notes.add(at, "its password is dropped: berth generates one and hands it over in the URL (uses.redis)")
    draft.shared.setdefault("redis", {})
