"""Generated app files with hostile values in every field that reaches an artifact, and their stacks.

Each string field that ends up in the Caddyfile, a shell script, SQL or a container's settings gets
either an ordinary value, an ordinary value with pieces of syntax spliced in (quotes, newlines, braces,
`$`, backslashes, Caddy and shell placeholders, unicode), or the pieces alone. Most such apps are
refused by the loader; the ones it accepts are what the artifact oracles judge (tests/hostile/
test_artifact_oracles.py). A stack is one to three such apps on one kind of host (tests/support/app_files.py
HOSTS); its init SQL files are generated beside the app files (tests/support/sql_oracle.py says what
they carry).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from rules.postgres import EXTENSIONS
from tests.support.app_files import HOSTS

# Pieces of every syntax an app value passes through: Caddyfile tokens and placeholders, shell quoting,
# expansion and command separators, SQL quoting and psql's meta-commands, YAML/JSON escapes, unicode.
PIECES = ['"', "'", "`", "\\", "\n", "\r", "\t", " ", "{", "}", "{$HOME}", "{$X:y}", "{file./etc/passwd}",
          "{env.PATH}", "{http.request.header.Cookie}", "{path}", "\\{", "$", "$(touch /tmp/pwned)", "`id`",
          "${url}", "${hostname}", "${nope}", "$IFS", ";", "&&", "|", "#", "*", "?", "~", "..", "/", "%", "%0a",
          "\\!", "\\connect postgres", "$$", "$q$", "--", "/*", "é", "\u202e", "\u00a0", "\U0001f600", "\x1b", "\x00",
          ":", "=", ",", "@", "<<EOF", "\\\n"]
# The pieces that survive a field's shape check more often (printable ASCII on one line): what the
# oracles judge in accepted values.
PRINTABLE = [p for p in PIECES if p.isascii() and p.isprintable() and "\\" not in p and "{$" not in p]
PIECE = st.sampled_from(PIECES) | st.sampled_from(PRINTABLE)


@st.composite
def _spliced(draw, ordinary: tuple[str, ...]) -> str:
    value = draw(st.sampled_from(ordinary))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(PIECE) + value[at:]
    return value


@functools.cache
def hostile(*ordinary: str) -> st.SearchStrategy[str]:
    """An ordinary value, one with hostile pieces spliced in, or hostile pieces alone (built once:
    Hypothesis builds a composite strategy slowly)."""
    return st.one_of(st.sampled_from(ordinary), _spliced(ordinary), _spliced(ordinary),
                     st.lists(PIECE, min_size=1, max_size=4).map("".join))


@dataclass(frozen=True)
class InitSql:
    """Init SQL that is valid as written and carries hostile text in a literal and in a comment. It must
    reach Postgres byte for byte and run as the app's role: it records who ran it, where, and the text."""

    body: str  # the hostile text of the literal, as the row must hold it
    comment: str

    def text(self, token: str) -> str:
        literal = "'" + self.body.replace("'", "''") + "'"
        return (f"{self.comment}CREATE TABLE IF NOT EXISTS fuzz_seen (token text PRIMARY KEY, who text, db text, body text);\n"
                f"INSERT INTO fuzz_seen VALUES ('{token}', current_user, current_database(), {literal});\n")


# What a string literal in SQL may hold that a transport could change: quotes, line ends, escapes,
# dollar quotes, psql's meta-commands, characters beyond ASCII and beyond U+FFFF.
SQL_PIECE = st.sampled_from(["'", "''", "\\", "\r", "\n", "\r\n", "\t", "$$", "$q$", "--", "/*", "*/", ";", '"',
                             "\\connect postgres", "\\! id", ":x", "é", "\U0001f600", "\x1b", " "]) | st.text(max_size=3)


@st.composite
def init_sql(draw) -> InitSql:
    # a comment stays one: block comments nest in Postgres, and a line comment ends at a line break
    comment = draw(hostile("setup"))
    for ends in ("*/", "/*", "\n", "\r"):
        comment = comment.replace(ends, " ")
    form = draw(st.sampled_from(["", "-- {}\n", "/* {} */\n"]))
    return InitSql(draw(st.lists(SQL_PIECE, min_size=1, max_size=6).map("".join)), form.format(comment))


# The fields an app value reaches an artifact through; each app makes one or two of them hostile.
FIELDS = ("image", "port", "healthcheck", "command", "env", "volumes", "tmpfs", "user", "volumeOwner", "afterDeploy",
          "sitePath", "routes", "hostname", "contentSecurityPolicy", "immutable")


class Values:
    """Draws each field's value: hostile for the app's loud fields, ordinary for the rest."""

    def __init__(self, draw, loud: frozenset[str]):
        self.draw, self.loud = draw, loud

    def __call__(self, field_: str, *ordinary: str) -> str:
        return self.draw(hostile(*ordinary) if field_ in self.loud else st.sampled_from(ordinary))

    def many(self, field_: str, *ordinary: str, most: int = 3) -> list[str]:
        return [self(field_, *ordinary) for _ in range(self.draw(st.integers(1, most)))]


def server(value: Values, draw) -> dict:
    svc = {"image": value("image", "example/api:1.0", "ghcr.io/acme/api@sha256:" + "a" * 64),
           "port": draw(st.sampled_from([80, 8000, 65535])),
           "healthcheck": {"path": value("healthcheck", "/health", "/a?b=c&d=e", "/~x/(y)")}}
    optional = {
        "command": lambda: value.many("command", "serve", "--flag=1"),
        "env": lambda: {k: value("env", "plain", "${url}/api", "a=b") for k in draw(st.sets(st.sampled_from(["A", "URL"])))},
        "volumes": lambda: {draw(st.sampled_from(["data", "b_c"])): value("volumes", "/data", "/var/lib/app")},
        "tmpfs": lambda: value.many("tmpfs", "/tmp", "/run/x", most=2),
        "user": lambda: value("user", "1000", "1000:1000", "node"),
        "volumeOwner": lambda: value("volumeOwner", "1000", "0:0"),  # with volumes: a chown script
        "afterDeploy": lambda: [{"command": value.many("afterDeploy", "npm", "run", "migrate", "--name=a b", most=4)}],
    }
    for key, make in optional.items():
        if key in value.loud or draw(st.integers(0, 3)) == 0 or (key == "volumeOwner" and "volumes" in value.loud):
            svc[key] = make()
    if draw(st.integers(0, 2)) == 0:
        svc["uses"] = draw(st.sampled_from([{"postgres": "DATABASE_URL"}, {"redis": "REDIS_URL"}]))
    return svc


# The fields whose values reach a shell script.
SHELL_FIELDS = ("afterDeploy", "sitePath", "volumes")


@st.composite
def app_file(draw, name: str, fields: tuple[str, ...] = FIELDS) -> dict:
    value = Values(draw, frozenset(draw(st.sets(st.sampled_from(fields), min_size=1, max_size=2))))
    services = {"api": server(value, draw)}
    if "sitePath" in value.loud or draw(st.booleans()):
        services["web"] = {"kind": "static", "image": "example/site:1.0.0", "sitePath": value("sitePath", "/site", "/app/dist")}
    routes = {value("routes", "/api", "/v1/x", "/a.b~c"): {"service": "api"}}
    if "web" in services:
        routes[value("routes", "/", "/docs/")] = {"service": "web", "spa": draw(st.booleans())}
    app = {"name": name, "hostname": value("hostname", name, f"{name}.example.net", "Shop-2") if "hostname" in value.loud
           else name,
           "services": services, "routes": routes,
           "headers": {"contentSecurityPolicy": value("contentSecurityPolicy", "default-src 'self'", "img-src https: data:"),
                       "immutable": value.many("immutable", "/_next/static/*", "/assets/*", most=2)}}
    if "postgres" in services["api"].get("uses", {}) or draw(st.integers(0, 3)) == 0:
        app["database"] = {"extensions": draw(st.lists(st.sampled_from(EXTENSIONS), max_size=2, unique=True)),
                           "initSql": f"{name}-init.sql"}
        services["api"]["uses"] = {"postgres": "DATABASE_URL"}
    if "redis" in services["api"].get("uses", {}):
        app["redis"] = {"mode": draw(st.sampled_from(["cache", "store"]))}
    return app


# App names: ordinary ones, names meant to collide with berth's own or Postgres's, and random ones.
APP_NAMES = st.sampled_from(["shop", "blog", "x", "x-data", "a-b", "postgres", "template1", "pg-x", "rds-a", "a--b",
                             "proxy", "shared", "berth-admin", "my-app-2"]) | \
    st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)


@dataclass
class Stack:
    """A generated stack: the kind of host, its app files and the init SQL files beside them."""

    host: str
    apps: dict[str, dict]
    sql: dict[str, InitSql] = field(default_factory=dict)  # file name under apps/ -> what it holds
    serial: int = 0  # set per run: each stack's rows in a shared cluster are its own

    def token(self, app: str) -> str:
        return f"{self.serial}:{app}"

    def write(self, project: Path) -> None:
        (project / "apps").mkdir(parents=True, exist_ok=True)
        for name, app in self.apps.items():
            (project / "apps" / f"{name}.yaml").write_text(json.dumps(app), encoding="utf-8")
            if "database" in app:
                init = self.sql[app["database"]["initSql"]]
                (project / "apps" / app["database"]["initSql"]).write_text(init.text(self.token(name)), encoding="utf-8",
                                                                           newline="")

    def settings(self) -> dict:
        return {**HOSTS[self.host], "apps": {name: {} for name in self.apps}}

    def describe(self) -> str:
        """The stack as a reviewer reads it: host, app files and SQL (a failure names this)."""
        sql = {name: init.text(self.token(name.removesuffix("-init.sql"))) for name, init in self.sql.items()}
        return json.dumps({"host": self.host, "apps": self.apps, "sql": sql}, indent=1, ensure_ascii=True)


# Names no rule refuses, for the few stacks run as whole programs.
PLAIN_NAMES = st.from_regex(r"[a-z][a-z0-9]{1,8}", fullmatch=True).filter(lambda n: not n.startswith(("pg", "rds")))


@st.composite
def stacks(draw, min_apps: int = 1, fields: tuple[str, ...] = FIELDS, names=APP_NAMES) -> Stack:
    host = draw(st.sampled_from(["dev", "ec2", "ecs"]))
    names = draw(st.lists(names, min_size=min_apps, max_size=3, unique=True))
    apps = {name: draw(app_file(name, fields)) for name in names}
    sql = {app["database"]["initSql"]: draw(init_sql()) for app in apps.values() if "database" in app}
    return Stack(host, apps, sql)
