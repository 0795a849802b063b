"""The Compose Postgres and Redis services -> berth's shared Postgres (a database and role per app)
and the app's own Redis: what carries over (database name, extensions, init SQL, persistence) and
what berth does itself (credentials, ports, versions per stack)."""

from __future__ import annotations

import re
from pathlib import Path

from config.conventions import redis_volume
from importer import images
from importer.draft import AppDraft
from rules.images import repository, tag
from rules.postgres import EXTENSIONS as TRUSTED_EXTENSIONS

BERTH_POSTGRES_MAJOR = "17"  # config/stack.py PostgresSettings.image: postgres:17.6-alpine
# Names a Compose file gives its database that berth must not give an app: Postgres's own databases,
# and names that say nothing of the app.
GENERIC_DATABASES = {"postgres", "template0", "template1", "db", "database", "root_db", "app", "main", "data"}


def database_name(value: str | None) -> str | None:
    """A database name an app may be named after (it then keeps it): a berth name once '_' is '-', not generic."""
    if not value or value.lower() in GENERIC_DATABASES or not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", value):
        return None
    return value


ROLE_STATEMENT = re.compile(r"^\s*(CREATE\s+(USER|ROLE|DATABASE)|ALTER\s+(USER|ROLE)|GRANT|REVOKE|\\c(onnect)?\b)",
                            re.IGNORECASE)
EXTENSION = re.compile(r"^\s*CREATE\s+EXTENSION\s+(IF\s+NOT\s+EXISTS\s+)?\"?([A-Za-z0-9_-]+)\"?[^;]*;", re.IGNORECASE)


def database(draft: AppDraft, compose_name: str) -> None:
    svc = draft.project.services[compose_name]
    env = {k: str(v or "") for k, v in (svc.get("environment") or {}).items()}
    draft.data.setdefault("database", {})  # the app has a database in the shared Postgres
    at = ("database",)
    named = env.get("POSTGRES_DB") or env.get("POSTGRESQL_DATABASE") or _named_by_users(draft, compose_name) \
        or env.get("POSTGRES_USER") or "postgres"
    ours = draft.name.replace("-", "_")
    if named == ours:
        draft.notes.add(at, f"the Compose {compose_name} service's database {named!r}: berth's shared Postgres gives "
                            f"this app a database and role of that name, with a generated password")
    else:
        keep = database_name(named)
        draft.notes.todo(at, f"the Compose database was {named!r}; berth names the app's database after the app "
                             f"({ours!r}). Restore a dump into it (pg_restore -d {ours})"
                             + (f", or import with --app {keep.replace('_', '-')} to keep the name" if keep else ""))
    dropped = sorted(k for k in env if k not in ("POSTGRES_DB",))
    if dropped:
        draft.notes.add(at, f"{', '.join(dropped)} dropped: berth's Postgres has its own superuser and a generated "
                            "role per app")
    image = svc.get("image") or ""
    major = re.match(r"(\d+)", tag(image) or "")
    if major and major.group(1) != BERTH_POSTGRES_MAJOR:
        draft.shared.setdefault("postgres", {})
        draft.overlay_notes.todo(("shared", "postgres"),
                                 f"Compose ran {image}; berth's default is Postgres {BERTH_POSTGRES_MAJOR}. To stay on "
                                 f"{major.group(1)} (a dump restores into the same or a newer major only), set "
                                 f"image: postgres:{major.group(1)}.<patch>-alpine (pinned)")
    _data(draft, compose_name, svc, ours)


def _data(draft: AppDraft, compose_name: str, svc: dict, ours: str) -> None:
    at = ("database",)
    for mount in svc.get("volumes") or []:
        target = mount["target"]
        if target.startswith("/docker-entrypoint-initdb.d"):
            _init_script(draft, Path(mount.get("source") or ""), target)
        elif mount.get("source"):
            where = (f"the Docker volume {draft.project.volume_name(mount['source'])}" if mount.get("type") == "volume"
                     else draft.shown(mount["source"]))
            draft.notes.todo(at, f"the Compose {compose_name} kept its data in {where} ({target}), which berth does "
                                 f"not copy: pg_dump -Fc it where Compose runs it and pg_restore -d {ours} into berth's "
                                 f"database after the first deploy (docs/import.md, step 6)")
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
    """An init script, sorted: its extensions to `database.extensions`, its role and database statements
    left out (berth creates both), the rest to `<app>-init.sql` (`database.initSql`)."""
    kept, dropped, extensions = _statements(script.read_text(encoding="utf-8"))
    db = draft.data.setdefault("database", {})
    _extensions(draft, script, db, extensions)
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


def _statements(sql: str) -> tuple[list[str], list[list[str]], list[str]]:
    """The script's statements (each with the comments before it) as (kept, the first two words of each
    role or database statement, the extensions it creates)."""
    kept: list[str] = []
    dropped: list[list[str]] = []
    extensions: list[str] = []
    statement: list[str] = []
    for line in sql.splitlines():
        statement.append(line)
        if not line.rstrip().endswith(";") and not line.strip().startswith("--") and line.strip():
            continue
        text = "\n".join(statement)
        statement = []
        ext = EXTENSION.match(text.strip().split("\n")[-1]) if text.strip() else None
        body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
        if ext:
            extensions.append(ext.group(2))
        elif ROLE_STATEMENT.match(body):
            dropped.append(re.split(r"\s+", body.strip())[:2])
        elif body.strip():
            kept.append(text)
    if statement:
        kept.append("\n".join(statement))
    return kept, dropped, extensions


def _extensions(draft: AppDraft, script: Path, db: dict, extensions: list[str]) -> None:
    """Trusted extensions berth creates itself; any other needs a Postgres of the app's own."""
    trusted = [e for e in extensions if e in TRUSTED_EXTENSIONS]
    if trusted:
        db.setdefault("extensions", []).extend(e for e in trusted if e not in db.get("extensions", []))
        draft.notes.add(("database", "extensions"), f"from {script.name}'s CREATE EXTENSION: berth creates them as "
                                                    "the superuser")
    for extension in (e for e in extensions if e not in TRUSTED_EXTENSIONS):
        draft.notes.todo(("database",), f"{script.name} creates the {extension} extension, which berth's shared "
                                        "Postgres does not create (only Postgres's trusted extensions, docs/trust.md): "
                                        "the app needs a Postgres of its own (a service with that image)")


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
    image = svc.get("image") or ""
    if images.is_one_of(image, images.REDIS_MODULE_IMAGES):
        draft.shared.setdefault("redis", {})
        draft.overlay_notes.todo(("shared", "redis"), f"Compose ran {image}, Redis with modules (search, JSON) berth's "
                                                      "default Redis image lacks: if the app uses them, set image: to "
                                                      f"a pinned {repository(image)} image, for every app of the stack")
    elif repository(image) != "redis":
        draft.notes.add(at, f"{image} speaks Redis's protocol; berth runs Redis (berth:shared.redis.image)")
    for mount in svc.get("volumes") or []:
        if mode == "store" and mount.get("source") and mount["target"].rstrip("/") == "/data":
            where = (f"the Docker volume {draft.project.volume_name(mount['source'])}" if mount.get("type") == "volume"
                     else draft.shown(mount["source"]))
            draft.notes.todo(at, f"the Compose {compose_name} kept its data in {where} (/data); move it once into "
                                 f"berth's Redis volume {redis_volume(draft.name)}: stop Redis there, `tar -czf "
                                 f"redis.tar.gz` its /data, then after the first deploy `scripts/volume restore "
                                 f"--replace {redis_volume(draft.name)} < redis.tar.gz`")
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = limits.get("memory") or svc.get("mem_limit")
    if memory:
        draft.data["redis"]["memoryMb"] = max(1, int(memory) // 1048576)
    if "requirepass" in command or any("PASSWORD" in k for k in svc.get("environment") or {}):
        draft.notes.add(at, "its password is dropped: berth generates one and hands it over in the URL (uses.redis)")
    draft.shared.setdefault("redis", {})
