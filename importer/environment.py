"""A service's Compose environment -> berth's `env`, `secretEnv`, `uses`, `external` and build args.

- A secret (rules/credentials.py) is never written: the service names a config secret instead, and
  the summary says where its value is today (the variables it came from, never the value).
- The app's connection to the Compose Postgres or Redis, however it was written (a URL, a JDBC URL,
  host/user/password settings such as `DB_POSTGRESDB_HOST` or `PGHOST`, the container's name), becomes
  `uses`: berth injects one URL with credentials it generates. What the URL replaces is dropped with a
  TODO naming the variable the app is given instead.
- A container that itself runs Postgres or Redis (one berth does not replace) keeps its settings.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from importer import images, secrets
from importer.classify import Roles
from importer.draft import AppDraft, SecretToSet
from rules.credentials import is_credential_name, looks_secret

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Host/user/password settings of a database client: <family><field>, e.g. DB_POSTGRESDB_ + HOST,
# AUTHENTIK_POSTGRESQL__ + PASSWORD, PG + HOST, PAPERLESS_DB + PASS.
SETTING = re.compile(r"^(?P<family>.*?(POSTGRES(QL|DB)?|PG|DB|DATABASE|REDIS)_{0,2})(?P<field>USER|USERNAME|PASSWORD|"
                     r"PASS|PASSWD|NAME|DB|DBINDEX|PORT|HOST|HOSTNAME|DATABASE|SERVER)$", re.IGNORECASE)
HOST_FIELDS = ("HOST", "HOSTNAME", "SERVER")
# Keys whose value names a host (`REDIS_HOST: redis`), unlike `CACHE_DRIVER: redis`, which names a kind.
HOST_KEY = re.compile(r"(HOST|HOSTNAME|SERVER|SERVERS|ADDR|ADDRESS|LOCATION|URI|URL|ENDPOINT|NODES?)$", re.IGNORECASE)
DEFAULT_ENV = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}
EXTERNAL_SCHEMES = {"mongodb": "mongodb", "mongodb+srv": "mongodb", "postgres": "postgres-external",
                    "postgresql": "postgres-external", "mysql": "mysql", "amqp": "rabbitmq", "amqps": "rabbitmq",
                    "rediss": "redis-external", "redis": "redis-external"}


def replaced_hosts(draft: AppDraft, names: tuple[str, ...], kind: str) -> dict[str, str]:
    """Every name the app reached a replaced Postgres or Redis by: the service's, its container_name,
    hostname and network aliases -> `kind`."""
    hosts = {}
    for name in names:
        svc = draft.project.services[name]
        aliases = [a for net in (svc.get("networks") or {}).values() for a in ((net or {}).get("aliases") or [])]
        for host in [name, svc.get("container_name"), svc.get("hostname"), *aliases]:
            if host:
                hosts[host] = kind
    return hosts


def _url_target(value: str, hosts: dict[str, str]) -> tuple[str, str, bool] | None:
    """(kind, scheme, is JDBC) when `value` is a URL (or JDBC URL) whose host is a replaced service."""
    jdbc = value.startswith("jdbc:")
    try:
        parts = urlsplit(value.removeprefix("jdbc:"))
    except ValueError:
        return None
    if parts.scheme and parts.hostname in hosts:
        return hosts[parts.hostname], parts.scheme, jdbc
    return None


def _host_value(value: str, hosts: dict[str, str]) -> str | None:
    return hosts.get(value.split(":")[0]) if value else None


class Environment:
    """Converts one service's environment; `run()` fills the berth service `out`."""

    def __init__(self, draft: AppDraft, roles: Roles, compose_name: str, out: dict, at: tuple) -> None:
        self.draft, self.compose_name, self.out, self.at = draft, compose_name, out, at
        self.svc = draft.project.services[compose_name]
        self.written = draft.project.raw_environment.get(compose_name, {})
        self.env = {k: "" if v is None else str(v) for k, v in (self.svc.get("environment") or {}).items()}
        image = self.svc.get("image") or ""
        self.runs_a_database = images.is_postgres(image) or images.is_redis(image) or bool(images.own_postgres(image))
        self.hosts = {} if self.runs_a_database else {**replaced_hosts(draft, roles.postgres, "postgres"),
                                                      **replaced_hosts(draft, roles.redis, "redis")}
        self.dropped: dict[str, list[str]] = {}  # kind -> settings the injected URL replaces

    def run(self) -> None:
        families = self._families()
        for key in sorted(self.env):
            self._one(key, self.env[key], families)
        for kind, keys in self.dropped.items():
            self._use(kind, None)
            self.draft.notes.todo(self.at + ("uses",), f"{', '.join(keys)} dropped: berth hands the service its {kind} "
                                                       f"as one URL with generated credentials in {self._env_of(kind)}, "
                                                       "not host/user/password settings; make the app read that URL "
                                                       "(or build them from it at start-up)")

    def _families(self) -> dict[str, str]:
        """Setting families (`DB_POSTGRESDB_`) whose host is a replaced service -> its kind; and, once the
        service reaches a kind (a URL, a host setting, depends_on, a network it shares with it, a setting
        named for it such as POSTGRES_DB), the generic families of that kind (POSTGRES_, PG, DB_ / REDIS_),
        but never a family whose host is another server (a MariaDB's DB_HOST)."""
        families: dict[str, str] = {}
        foreign: set[str] = set()
        for key, value in self.env.items():
            match = SETTING.match(key)
            target = _url_target(value, self.hosts)
            if match and match["field"].upper() in HOST_FIELDS and (host := _host_value(value, self.hosts)):
                families[match["family"].upper()] = host
            elif match and match["field"].upper() in HOST_FIELDS and value:
                foreign.add(match["family"].upper())
            elif target and target[2] and key.upper().endswith("URL"):  # JDBC: user and password set apart
                families[key.upper()[:-3]] = target[0]
        reached = set(families.values()) | {t[0] for t in (_url_target(v, self.hosts) for v in self.env.values()) if t}
        reached |= self._reached_otherwise()
        generic = {"postgres": ("POSTGRES_", "POSTGRESQL_", "PG", "DB_", "DATABASE_"), "redis": ("REDIS_",)}
        for kind in reached:
            for family in generic[kind]:
                if family not in foreign:
                    families.setdefault(family, kind)
        return families

    def _reached_otherwise(self) -> set[str]:
        """Kinds the service reaches with no URL or host setting: it depends on one, shares a network of
        the file's own with one, or has a setting named for one (POSTGRES_DB, REDIS_PORT)."""
        project = self.draft.project
        reached: set[str] = set()
        reached |= {self.hosts[d] for d in self.svc.get("depends_on") or {} if d in self.hosts}
        mine = set(self.svc.get("networks") or {}) - {"default"}
        for host, kind in self.hosts.items():
            other = project.services.get(host) or {}
            if mine & set(other.get("networks") or {}):
                reached.add(kind)
        for key in self.env:
            match = SETTING.match(key)
            family = match["family"].upper() if match else ""
            if match and family.startswith(("POSTGRES", "PG")) and "postgres" in self.hosts.values():
                reached.add("postgres")
            elif match and family.startswith("REDIS") and "redis" in self.hosts.values():
                reached.add("redis")
        return reached

    def _one(self, key: str, value: str, families: dict[str, str]) -> None:
        raw = self.written.get(key)
        target = _url_target(value, self.hosts)
        if target:
            return self._connection(key, *target)
        if HOST_KEY.search(key) and (host := _host_value(value, self.hosts)):
            self.dropped.setdefault(host, []).append(key)
            return None
        match = SETTING.match(key)
        family = match["family"].upper() if match else key.upper()[:-len(key.upper().split("_")[-1])]
        if (match and family in families) or (family in families and key.upper().endswith(("USERNAME", "PASSWORD", "USER"))):
            self.dropped.setdefault(families[family], []).append(key)
            return None
        if not ENV_NAME.fullmatch(key):
            return self.draft.notes.todo(self.at + ("env",), f"{key} dropped: berth's env names are letters, digits "
                                                             "and '_'; set it in the image's own config instead")
        if re.fullmatch(r"NEXT_PUBLIC_\w+", key):
            return build_time(self.draft, self.out, self.at, key, value)
        external = _external(value, set(self.draft.project.services))
        if external and looks_secret(key, value, raw):
            return self._external(key, value, raw, external)
        if looks_secret(key, value, raw) or is_credential_name(key):
            return self._secret(key, value, raw)
        return self._plain(key, value)

    def _connection(self, key: str, kind: str, scheme: str, jdbc: bool) -> None:
        if jdbc:
            self.dropped.setdefault(kind, []).append(key)
            self.draft.notes.todo(self.at + ("uses",), f"{key} was a JDBC URL of the Compose {kind}: JDBC takes "
                                                       f"jdbc:postgresql://host:port/db with the user and password "
                                                       f"apart; build them from {self._env_of(kind)} at start-up")
            return
        use = {"env": key, **({"scheme": scheme} if scheme not in ("postgres", "postgresql", "redis") else {})}
        if kind in self.out.get("uses", {}):  # a second variable for the same kind: one URL is all berth gives
            self.dropped.setdefault(kind, []).append(key)
            return
        self._use(kind, use if len(use) > 1 else key)
        self.draft.notes.add(self.at + ("uses",), f"{key} pointed at the Compose {kind} service: berth injects the URL "
                                                  f"of the app's own {'database' if kind == 'postgres' else 'Redis'}, "
                                                  "with credentials it generates (kept secret)")

    def _use(self, kind: str, use: str | dict | None) -> None:  # the env var's name, or a use with its scheme
        uses = self.out.setdefault("uses", {})
        if use is not None:
            uses[kind] = use
        elif kind not in uses:
            uses[kind] = DEFAULT_ENV[kind]
            self.draft.notes.todo(self.at + ("uses",), f"GUESSED {DEFAULT_ENV[kind]}: no variable held the URL of the "
                                                       f"Compose {kind}; name the variable the app reads")

    def _env_of(self, kind: str) -> str:
        use = self.out.get("uses", {}).get(kind) or DEFAULT_ENV[kind]
        return use if isinstance(use, str) else use["env"]

    def _external(self, key: str, value: str, raw: str | None, external: str) -> None:
        draft, secret = self.draft, secrets.config_key(self.draft.name, key)
        draft.data.setdefault("external", {})[external] = {
            "secret": secret, "description": f"{urlsplit(value).scheme} outside the Compose file"}
        self.out.setdefault("uses", {})[external] = key
        remember_secret(draft, secret, key, self.compose_name, raw)
        draft.notes.add(("external",), f"{external}: {key} of {self.at[1]} points outside the Compose file; berth hands "
                                       f"it over from the secret {secret} (pulumi config set --secret {secret} <url>)")
        draft.notes.todo(("external",), f"{external}: allow the berth host's address (stack output hostPublicIp) in "
                                        "its firewall or IP access list")

    def _secret(self, key: str, value: str, raw: str | None) -> None:
        secret = secrets.config_key(self.draft.name, key)
        self.out.setdefault("secretEnv", {})[key] = secret
        remember_secret(self.draft, secret, key, self.compose_name, raw)
        self.draft.notes.add(self.at + ("secretEnv",), f"{key} looks secret, so its value is not written here: pulumi "
                                                       f"config set --secret {secret} <value>"
                                                       + ("" if value else " (it was empty when Compose loaded the file)"))

    def _renames(self) -> dict[str, str]:
        """Names the app reached its services by that berth does not give them: a renamed service's Compose
        name, its container_name and hostname (berth finds services by their service name only)."""
        renames = {}
        for old, new in self.draft.services.items():
            other = self.draft.project.services[old]
            for name in (old, other.get("container_name"), other.get("hostname")):
                if name and name != new:
                    renames[name] = new
        return renames

    def _plain(self, key: str, value: str) -> None:
        if "${" in value:
            self.draft.notes.todo(self.at + ("env",), f"{key} dropped: its value holds `${{`, which berth reads as a "
                                                      "placeholder")
            return
        for old, new in self._renames().items():
            if re.search(rf"(//|^|@){re.escape(old)}(:|/|$)", value):
                value = re.sub(rf"(//|^|@){re.escape(old)}(?=:|/|$)", rf"\g<1>{new}", value)
                self.draft.notes.add(self.at + ("env",), f"{key}: {old!r} is the service {new!r} in berth (found "
                                                         "by its service name)")
        if re.search(r"//(localhost|127\.0\.0\.1)[:/]", value):
            self.draft.notes.todo(self.at + ("env",), f"{key}={value}: localhost inside a container is the container "
                                                      "itself; use a service name (http://backend:8000) or ${url} for "
                                                      "the public address")
        self.out.setdefault("env", {})[key] = value


def _external(value: str, compose_services: set[str]) -> str | None:
    """The name of an outside service (MongoDB Atlas, a managed database) a URL points at, if it does."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme in EXTERNAL_SCHEMES and parts.hostname and parts.hostname not in compose_services \
            and parts.hostname not in ("localhost", "127.0.0.1"):
        return EXTERNAL_SCHEMES[parts.scheme]
    return None


def remember_secret(draft: AppDraft, secret: str, env: str, compose_name: str, raw: str | None) -> None:
    """A secret to set, and where its value is today in words: the variables it came from, or the file
    it is in, never the value (nor a `${VAR:-default}`'s default, which may be the secret itself)."""
    files = [draft.shown(f) for f in draft.project.env_files.get(compose_name, [])]
    variables = secrets.shown_source(raw)
    source = (f"{variables} in {draft.project.path.name}" if variables else
              f"env file {', '.join(files)}" if raw is None and files else
              "an env file" if raw is None else f"{draft.project.path.name} (in plain text: rotate it)")
    service = draft.services[compose_name]
    known = draft.secrets.get(secret)
    draft.secrets[secret] = SecretToSet(secret, env, tuple(dict.fromkeys((known.services if known else ()) + (service,))),
                                        source)


def build_time(draft: AppDraft, out: dict, at: tuple, key: str, value: str) -> None:
    if "build" not in out:
        draft.notes.todo(at, f"{key} is compiled into browser code at build time, so setting it at run time does "
                             "nothing; it was dropped. Give it to the build that makes this image")
        return
    public = re.sub(r"^https?://(localhost|127\.0\.0\.1)(:\d+)?", "${url}" + _route_of_port(draft, value), value)
    out["build"].setdefault("args", {})[key] = public
    draft.notes.add(at + ("build",), f"{key} moved to a build arg: `next build` compiles NEXT_PUBLIC_* into the browser "
                                     f"code (the Dockerfile needs `ARG {key}` before the build)"
                    + (f"; {value} became {public} (this stack's public address): check the path" if public != value else ""))
    if public != value:
        draft.notes.todo(at + ("build",), f"{key}: check the path after ${{url}} (the API's route on the app's host name)")


def _route_of_port(draft: AppDraft, url: str) -> str:
    """The route prefix (no trailing '/') of the app's service Compose published on the URL's localhost port."""
    match = re.match(r"^https?://(?:localhost|127\.0\.0\.1):(\d+)", url)
    if not match:
        return ""
    for compose_name, name in draft.services.items():
        published = {str(p.get("published")) for p in draft.project.services[compose_name].get("ports") or []}
        if match.group(1) in published:
            paths = [path for path, route in draft.data.get("routes", {}).items() if route["service"] == name]
            stripped = [path for path in paths if draft.data["routes"][path].get("stripPrefix")]
            return ((stripped or paths or ["/"])[0]).rstrip("/")
    return ""


def convert(draft: AppDraft, roles: Roles, compose_name: str, out: dict, at: tuple) -> None:
    Environment(draft, roles, compose_name, out, at).run()
