"""Routes out of an nginx config: its `server` blocks, their `location`s and where `proxy_pass` sends them.

Only what berth's routes can say is read (nginx's own semantics noted where they matter):
- `proxy_pass http://$upstream` reads `set $upstream ...;` of its location or server; a config the
  nginx image fills from the environment (`${BACKEND}`) is read filled (`expand`);
- `proxy_pass http://up/` with a URI part replaces the location's prefix (berth: `stripPrefix`);
  without one the request keeps it;
- `Upgrade $http_upgrade` headers mean WebSockets, `proxy_buffering off` a stream (SSE),
  `proxy_read_timeout` a timeout, `ip_hash` in the upstream sticky sessions,
  `client_max_body_size` the body limit;
- `root` + `try_files ... /index.html` is a single-page app the proxy serves from files.
Everything else in a location is reported, not guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def first(self, name: str) -> list[str] | None:
        found = self.find(name)
        return found[0].args if found else None


@dataclass
class Location:
    path: str
    service: str | None = None  # a Compose service name (through an upstream or directly)
    upstream: list[str] = field(default_factory=list)  # every server host of its upstream (replicas, or not)
    port: int | None = None
    strip_prefix: bool = False
    websocket: bool = False
    stream: bool = False
    timeout_s: int | None = None
    sticky: bool = False
    max_body_mb: int | None = None
    spa: bool = False
    static_root: str | None = None
    unsupported: list[str] = field(default_factory=list)  # what in it berth's route cannot say


@dataclass
class Server:
    names: list[str]
    locations: list[Location]
    max_body_mb: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    regex: list[str] = field(default_factory=list)  # regex and exact-match locations: a human routes what they matched


class NginxSyntaxError(ValueError):
    pass


TOKEN = re.compile(r"""\s*(?:(\#[^\n]*)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([{};])|([^\s{};"'#]+))""")


def parse(text: str) -> list[Directive]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip():
                raise NginxSyntaxError(f"cannot read the nginx config near {text[pos:pos + 30]!r}")
            break
        pos = match.end()
        _comment, quoted, punct, word = match.groups()
        if quoted:
            tokens.append(("word", quoted[1:-1]))
        elif punct:
            tokens.append((punct, punct))
        elif word:
            tokens.append(("word", word))
    block, rest = _block(tokens, 0)
    if rest != len(tokens):
        raise NginxSyntaxError("unbalanced '}' in the nginx config")
    return block


def _block(tokens: list[tuple[str, str]], i: int) -> tuple[list[Directive], int]:
    out: list[Directive] = []
    words: list[str] = []
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "word":
            words.append(value)
        elif kind == ";":
            if words:
                out.append(Directive(words[0], words[1:]))
            words = []
        elif kind == "{":
            if not words:
                raise NginxSyntaxError("a '{' without a directive name in the nginx config")
            inner, i = _block(tokens, i + 1)
            if i >= len(tokens):
                raise NginxSyntaxError(f"the block of `{' '.join(words)}` is never closed")
            out.append(Directive(words[0], words[1:], inner))
            words = []
        elif kind == "}":
            return out, i
        i += 1
    return out, i


def _seconds(value: str) -> int | None:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    if not match:
        return None
    n, unit = int(match.group(1)), match.group(2) or "s"
    return max(1, {"ms": n // 1000, "s": n, "m": n * 60, "h": n * 3600, "d": n * 86400}[unit])


def _megabytes(value: str) -> int | None:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    if not match:
        return None
    n, unit = int(match.group(1)), match.group(2).lower()
    return max(1, {"": n // 1048576, "k": n // 1024, "m": n, "g": n * 1024}[unit])


def expand(text: str, environment: dict[str, str]) -> str:
    """The config as nginx runs it when its image fills in the container's environment first (the nginx
    image's templates, or `envsubst` in the command): `${NAME}` and `$NAME` of variables the proxy
    service sets. nginx's own variables ($host, $uri, ...) are lowercase and stay."""
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return environment.get(name, match.group(0))
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)\b", value, text)


def servers(text: str) -> list[Server]:
    """Every `server` block (inside `http` or at the top of a conf.d file) with its locations."""
    tree = parse(text)
    http = [d for d in tree if d.name == "http"]
    scope = (http[0].block or []) if http else tree
    upstreams = {d.args[0]: d for d in scope if d.name == "upstream" and d.args}
    http_body = _megabytes((Directive("http", [], scope).first("client_max_body_size") or [""])[0])
    out = []
    for server in (d for d in scope if d.name == "server"):
        names = [n for n in (server.first("server_name") or []) if n not in ("_", "localhost", "")]
        body = _megabytes((server.first("client_max_body_size") or [""])[0]) or http_body
        headers = {d.args[0]: d.args[1] for d in server.find("add_header") if len(d.args) >= 2}
        locations, dropped = [], []
        named = {loc.args[0]: loc for loc in server.find("location") if loc.args and loc.args[0].startswith("@")}
        regex = []
        variables = _variables(server)
        for loc in server.find("location"):
            args = loc.args[1:] if loc.args[:1] == ["^~"] else loc.args  # ^~ is a prefix match that wins over regexes
            if len(args) != 1:
                regex.append(" ".join(loc.args))
                continue
            if args[0].startswith("@"):
                continue
            block = list(loc.block or [])
            fallback = (loc.first("try_files") or [""])[-1]
            if not loc.first("proxy_pass") and fallback in named:
                # `try_files $uri @proxy`: files nginx had on its own disk first, then the named location's upstream
                block = [d for d in block if d.name != "try_files"] + list(named[fallback].block or [])
                dropped.append(f"try_files in location {args[0]} (files nginx served from its own disk before "
                               f"{fallback}; the service serves them now)")
            locations.append(_location(Directive(loc.name, args, block), upstreams, {**variables, **_variables(loc)}))
        for d in server.block or []:
            if d.name not in ("listen", "server_name", "location", "client_max_body_size", "add_header", "set"):
                dropped.append(f"{d.name} {' '.join(d.args)}".strip())
        out.append(Server(names, locations, body, headers, dropped, regex))
    return out


def _variables(block: Directive) -> dict[str, str]:
    """`set $upstream http://app:3000;` (the resolver pattern) -> {"$upstream": "http://app:3000"}."""
    return {d.args[0]: d.args[1] for d in block.find("set") if len(d.args) == 2 and d.args[0].startswith("$")}


PROXY_HEADERS_BERTH_SETS = {"host", "x-real-ip", "x-forwarded-for", "x-forwarded-proto", "upgrade", "connection"}
HANDLED = {"proxy_pass", "proxy_read_timeout", "proxy_send_timeout", "proxy_connect_timeout", "proxy_buffering",
           "proxy_cache", "proxy_http_version", "proxy_set_header", "client_max_body_size", "root", "try_files",
           "index", "proxy_cache_bypass", "access_log", "proxy_redirect"}


def _location(loc: Directive, upstreams: dict[str, Directive], variables: dict[str, str]) -> Location:
    """One `location` block: where it proxies to (or the files it serves), its limits, what berth cannot keep."""
    out = Location(path=loc.args[0])
    target = loc.first("proxy_pass")
    if target:
        substituted = re.sub(r"\$[A-Za-z_][A-Za-z0-9_]*", lambda m: variables.get(m.group(0), m.group(0)), target[0])
        _proxy_pass(out, substituted, upstreams)
    sets = {d.args[0].lower(): " ".join(d.args[1:]) for d in loc.find("proxy_set_header") if d.args}
    out.websocket = "upgrade" in sets and "$http_upgrade" in sets["upgrade"]
    out.stream = (loc.first("proxy_buffering") or [""])[0] == "off"
    read = loc.first("proxy_read_timeout")
    out.timeout_s = _seconds(read[0]) if read else None
    body = loc.first("client_max_body_size")
    out.max_body_mb = _megabytes(body[0]) if body else None
    root, try_files = loc.first("root"), loc.first("try_files")
    if root and not target:
        out.static_root = root[0]
        out.spa = bool(try_files and any(f.endswith("index.html") for f in try_files))
    out.unsupported += _unsupported(loc)
    return out


def _proxy_pass(out: Location, target: str, upstreams: dict[str, Directive]) -> None:
    """The service and port `proxy_pass` reaches (through an `upstream` block, its servers), and its path."""
    match = re.fullmatch(r"https?://([^/:$]+)(?::(\d+))?(/.*)?", target)
    if not match:
        out.unsupported.append(f"proxy_pass {target} (not an http upstream)")
        return
    host, port, uri = match.group(1), match.group(2), match.group(3)
    upstream = upstreams.get(host)
    if upstream is not None:
        servers_ = upstream.find("server")
        if servers_:
            host, _, up_port = servers_[0].args[0].partition(":")
            port = port or up_port or None
            out.upstream = [s.args[0].partition(":")[0] for s in servers_ if s.args]
        out.sticky = bool(upstream.find("ip_hash") or upstream.find("hash") or upstream.find("sticky"))
    default = 443 if target.startswith("https") else 80  # nginx's default ports
    out.service, out.port = host, int(port) if port else default
    if not uri:
        return
    if uri == "/" and out.path.endswith("/"):
        out.strip_prefix = out.path != "/"
    elif uri.rstrip("/") != out.path.rstrip("/"):
        out.unsupported.append(f"proxy_pass rewrites {out.path} to {uri}; berth can only strip the "
                               "whole prefix or keep it")


def _unsupported(loc: Directive) -> list[str]:
    """The location's directives berth has no equivalent for (proxy headers berth sets itself are kept)."""
    out = []
    for d in loc.block or []:
        if d.name == "proxy_set_header" and d.args and d.args[0].lower() not in PROXY_HEADERS_BERTH_SETS:
            out.append(f"proxy_set_header {' '.join(d.args)}")
        elif d.name == "location":
            out.append(f"nested location {' '.join(d.args)} (e.g. cache headers: see `headers.immutable`)")
        elif d.name not in HANDLED:
            out.append(f"{d.name} {' '.join(d.args)}".strip())
    return out
