"""Stand-in images for every public image berth pins, and for the apps' own images, built without a registry.

No image registry is reachable from our machines, so the engine tier builds its images from Debian
packages: one root file system (`mmdebstrap` with this machine's own apt sources, cached as a tar
by the hash of its package list), from which each stand-in is imported (`docker import`) with
only what its official image has. Each keeps its official image's runtime contract (docs/standins.md,
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
import re
import struct
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import rootfs
from tests.support.stacks import require_tool

log = logging.getLogger(__name__)
SERVERS = Path(__file__).parent / "standin_servers"
PG_BIN = "/usr/lib/postgresql/15/bin"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL = "berth.standin.recipe"

# What each official image lacks is removed from the shared root file system: a path, a directory
# (`dir/`) or a prefix (`prefix*`).
CURL = ("usr/bin/curl",)
PYTHON = ("usr/bin/python3", "usr/bin/python3.11")
NODE = ("usr/bin/node", "usr/bin/nodejs", "usr/lib/x86_64-linux-gnu/libnode*", "usr/share/nodejs/")
REDIS = ("usr/bin/redis-server", "usr/bin/redis-cli", "usr/bin/redis-benchmark", "usr/bin/redis-check-aof",
         "usr/bin/redis-check-rdb", "usr/bin/redis-sentinel")
POSTGRES = ("usr/lib/postgresql/",)
CADDY = ("usr/bin/caddy",)
BASH = ("usr/bin/bash", "bin/bash")
# Never: perl (no official image here has it), setpriv (the official images step down with gosu; a
# `gosu` shim over a private setpriv stands in, GOSU below), Debian's own cluster and its pg_* wrappers
# (the official images have neither), Postgres's JIT
# (LLVM: a third of the file system; Postgres runs without it), documentation and translations.
NEVER = ("usr/bin/perl", "usr/bin/perl5*", "usr/bin/setpriv", "var/lib/postgresql/15/", "etc/postgresql/", "usr/bin/pg_*", "usr/bin/psql", "var/cache/apt/",
         "var/lib/apt/lists/", "usr/lib/x86_64-linux-gnu/libLLVM*", "usr/lib/x86_64-linux-gnu/libz3*",
         "usr/lib/postgresql/15/lib/llvmjit*", "usr/lib/postgresql/15/lib/bitcode/", "usr/share/doc/",
         "usr/share/man/", "usr/share/locale/", "usr/share/info/")
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
    content: bytes | None = None  # None: a directory (or a symlink when `link` is set)
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    link: str | None = None


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
    drop: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()
    users: tuple[User, ...] = ()
    changes: tuple[str, ...] = ()  # Dockerfile instructions `docker import --change` takes
    busybox: tuple[str, ...] = ()  # busybox applets the official image has as commands
    private: tuple[str, ...] = ()  # files moved off PATH into /opt/standin/bin (PRIVATE): the stand-in's own tools
    bind_cap: tuple[str, ...] = ()  # binaries given `setcap cap_net_bind_service=+ep`, as the official image does

    def digest(self, base: str) -> str:
        data = json.dumps([base, self.name, self.drop, [(e.path, e.mode, e.uid, e.gid, e.link,
                          hashlib.sha256(e.content).hexdigest() if e.content is not None else None) for e in self.entries],
                          self.users, self.changes, self.busybox, self.private, self.bind_cap], default=str)
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


APP_USER = User("app", 1000, 1000, "/home/app")
RECIPES = {
    # postgres:17.6-alpine (docker-library/postgres 17/alpine3.22). Its STOPSIGNAL SIGINT is not here:
    # docker 20.10's import refuses that change; berth and the tests set the stop signal themselves.
    "postgres": Recipe(
        "postgres", drop=CURL + PYTHON + NODE + REDIS + CADDY,
        users=(User("postgres", 70, 70, "/var/lib/postgresql"),),
        entries=(*_gosu(), Entry("usr/local/bin/docker-entrypoint.sh", _script("postgres-entrypoint.sh")),
                 Entry("docker-entrypoint-initdb.d"),
                 Entry("var/lib/postgresql", mode=0o1777, uid=70, gid=70),
                 Entry("var/lib/postgresql/data", mode=0o1777, uid=70, gid=70),
                 Entry("var/run/postgresql", mode=0o3777, uid=70, gid=70)),
        busybox=("wget",), private=(SETPRIV,),
        changes=(f"ENV PATH={PG_BIN}:{PATH}", "ENV PGDATA=/var/lib/postgresql/data", "ENV LANG=C.UTF-8",
                 "VOLUME /var/lib/postgresql/data", 'ENTRYPOINT ["docker-entrypoint.sh"]',
                 "EXPOSE 5432", 'CMD ["postgres"]')),
    # redis:7.4.5-alpine (docker-library/redis 7.4/alpine)
    "redis": Recipe(
        "redis", drop=CURL + PYTHON + NODE + POSTGRES + CADDY + BASH,
        users=(User("redis", 999, 1000, "/home/redis"),),
        entries=(*_gosu(), Entry("usr/local/bin/docker-entrypoint.sh", _script("redis-entrypoint.sh")),
                 Entry("data", mode=0o755, uid=999, gid=1000)),
        busybox=("wget",), private=(SETPRIV,),
        changes=(f"ENV PATH={PATH}", "VOLUME /data", "WORKDIR /data", 'ENTRYPOINT ["docker-entrypoint.sh"]',
                 "EXPOSE 6379", 'CMD ["redis-server"]')),
    # caddy:2.10.2-alpine (caddyserver/caddy-docker 2.10/alpine)
    "caddy": Recipe(
        "caddy", drop=CURL + PYTHON + NODE + POSTGRES + REDIS + BASH,
        bind_cap=("usr/bin/caddy",),
        entries=(Entry("etc/caddy"), Entry("etc/caddy/Caddyfile", b":80 {\n\trespond \"stand-in caddy\"\n}\n", 0o644),
                 Entry("config"), Entry("data"), Entry("srv")),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "ENV XDG_CONFIG_HOME=/config", "ENV XDG_DATA_HOME=/data", "VOLUME /config",
                 "VOLUME /data", "WORKDIR /srv", "EXPOSE 80 443 443/udp 2019",
                 'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]')),
    # chromadb/chroma:0.6.3 (python:3.11-slim-bookworm + curl: python, bash and curl, no wget)
    "chromadb/chroma": Recipe(
        "chroma", drop=NODE + POSTGRES + REDIS + CADDY,
        entries=_server(Entry("docker_entrypoint.sh", _script("chroma-entrypoint.sh")), Entry("chroma"),
                        Entry("chroma/chroma"), Entry("usr/local/bin/python", link="/usr/bin/python3"), PUBLIC_PYTHON),
        changes=(f"ENV PATH={PATH}", "WORKDIR /chroma", 'ENTRYPOINT ["/docker_entrypoint.sh"]', "EXPOSE 8000",
                 'CMD ["--workers", "1", "--host", "0.0.0.0", "--port", "8000"]')),
    # qdrant/qdrant:v1.15.5 (debian:13-slim, as root: bash; no curl, wget or python)
    "qdrant/qdrant": Recipe(
        "qdrant", drop=CURL + PYTHON + NODE + POSTGRES + REDIS + CADDY,
        entries=_server(Entry("qdrant"), Entry("qdrant/entrypoint.sh", _script("qdrant-entrypoint.sh")),
                        Entry("qdrant/storage"), Entry("qdrant/snapshots"), Entry("qdrant/config")),
        private=(PYTHON_BIN,),
        changes=(f"ENV PATH={PATH}", "ENV TZ=Etc/UTC", "ENV RUN_MODE=production", "WORKDIR /qdrant",
                 "EXPOSE 6333 6334", 'CMD ["./entrypoint.sh"]')),
    # ollama/ollama:0.13.5 (ubuntu:24.04: bash; no curl, wget or python; the CLI talks to the server)
    "ollama/ollama": Recipe(
        "ollama", drop=CURL + PYTHON + NODE + POSTGRES + REDIS + CADDY,
        entries=_server(Entry("usr/bin/ollama", _script("ollama")), Entry("root/.ollama", mode=0o755)),
        private=(PYTHON_BIN,),
        changes=(f"ENV PATH={PATH}", "ENV OLLAMA_HOST=0.0.0.0:11434", 'ENTRYPOINT ["/usr/bin/ollama"]',
                 "EXPOSE 11434", 'CMD ["serve"]')),
    # App stand-ins (what the seeds' Dockerfiles build): the server lives outside /app.
    "python-backend": Recipe(
        "python-backend", drop=NODE + POSTGRES + REDIS + CADDY,
        entries=_server(Entry("opt/standin/run", _script("app-run.sh")), Entry("app"),
                        Entry("usr/local/bin/python", link="/usr/bin/python3"), PUBLIC_PYTHON),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "WORKDIR /app", 'ENTRYPOINT ["/opt/standin/run"]', "EXPOSE 8000")),
    "node-frontend": Recipe(
        "node-frontend", drop=PYTHON + POSTGRES + REDIS + CADDY,
        entries=(Entry("opt/standin"), Entry("opt/standin/server.js", _script("server.js"), 0o644),
                 Entry("opt/standin/run", _script("node-run.sh")), Entry("app")),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "ENV NODE_ENV=production", "WORKDIR /app", 'ENTRYPOINT ["/opt/standin/run"]',
                 "EXPOSE 3000")),
    # Runs as `app` (1000:1000) and creates none of its mount points: fresh volumes are root's.
    "nonroot-service": Recipe(
        "nonroot-service", drop=NODE + POSTGRES + REDIS + CADDY,
        users=(APP_USER,),
        entries=_server(Entry("opt/standin/run", _script("app-run.sh")), Entry("app"),
                        Entry("home/app", uid=1000, gid=1000), Entry("usr/local/bin/python", link="/usr/bin/python3"), PUBLIC_PYTHON),
        busybox=("wget",),
        changes=(f"ENV PATH={PATH}", "WORKDIR /app", "USER app", 'ENTRYPOINT ["/opt/standin/run"]', "EXPOSE 8000")),
    # A static site's build stage output: files (added per service), a shell, cp and rm.
    "static-site": Recipe(
        "static-site", drop=CURL + PYTHON + NODE + POSTGRES + REDIS + CADDY,
        changes=(f"ENV PATH={PATH}", "WORKDIR /")),
}
APP_ROLES = ("python-backend", "node-frontend", "nonroot-service", "static-site")


def repository(ref: str) -> str:
    """`postgres:17.6-alpine`, `docker.io/library/postgres@sha256:…`, `qdrant/qdrant:v1.15.5` -> repository."""
    name = ref.split("@", 1)[0]
    if re.search(r":[^/]+$", name):
        name = name.rsplit(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"):
        name = name.removeprefix(prefix)
    return name


# --- the shared root file system ---------------------------------------------------------------------

def base_rootfs() -> Path:
    """The Debian root file system every stand-in is cut from (tests/support/rootfs.py), cached."""
    path = rootfs.rootfs_path()
    if not path.is_file():  # mmdebstrap is needed only to build it (and its absence fails CI)
        path, seconds = rootfs.build(require_tool("mmdebstrap"))
        if seconds is not None:
            log.info("stand-ins: built the root file system %s in %.0f s", path.name, seconds)
    return path


# --- cutting one image from it -----------------------------------------------------------------------

def _normal(name: str) -> str:
    return name.removeprefix("./").rstrip("/")


def _dropped(path: str, drop: tuple[str, ...]) -> bool:
    return any(path == d or (d.endswith("/") and (path + "/").startswith(d)) or
               (d.endswith("*") and path.startswith(d[:-1])) for d in drop)


def _accounts(text: str, users: tuple[User, ...], group: bool) -> str:
    names = {u.name for u in users}
    kept = [line for line in text.splitlines() if line.split(":", 1)[0] not in names]
    for u in users:
        kept.append(f"{u.name}:x:{u.gid}:" if group else f"{u.name}:x:{u.uid}:{u.gid}:{u.name}:{u.home}:{u.shell}")
    return "\n".join(kept) + "\n"


def _info(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo("./" + entry.path)
    info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, 0
    if entry.link:
        info.type, info.linkname = tarfile.SYMTYPE, entry.link
    elif entry.content is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(entry.content)
    return info


def cut(recipe: Recipe, base: Path, out: Path) -> None:
    """Write the recipe's root file system: the base minus what the official image lacks, plus its files."""
    drop = recipe.drop + NEVER
    added = {e.path for e in recipe.entries}
    old_ids: dict[int, int] = {}  # a user's uid in Debian -> its uid in the official image
    with tarfile.open(base) as src:
        passwd = src.extractfile("./etc/passwd").read().decode()
        for line in passwd.splitlines():
            name, _, uid, gid, *_ = line.split(":")
            for u in recipe.users:
                if u.name == name:
                    old_ids[int(uid)] = u.uid
                    old_ids[-int(gid) - 1] = u.gid  # groups keyed apart from users
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
            for member in src:
                path = _normal(member.name)
                if path in recipe.private:
                    moved = tarfile.TarInfo(f"./opt/standin/bin/{PRIVATE[path]}")
                    moved.mode, moved.size, moved.mtime = member.mode, member.size, member.mtime
                    dst.addfile(moved, src.extractfile(member))
                    continue
                if not path or _dropped(path, drop) or path in added:
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
            for applet in recipe.busybox:
                dst.addfile(_info(Entry(f"usr/local/bin/{applet}", link="/usr/bin/busybox")))
            for entry in recipe.entries:
                dst.addfile(_info(entry), io.BytesIO(entry.content) if entry.content is not None else None)


class StandIns:
    """The stand-ins on one engine: `image_for(public ref)` and `app_image(role)` give local image ids."""

    def __init__(self, engine):
        self._engine = engine
        self._lock = threading.Lock()
        self._built: dict[str, str] = {}

    def image_for(self, ref: str) -> str:
        name = repository(ref)
        if name not in RECIPES or name in APP_ROLES:
            raise KeyError(f"no stand-in for {ref!r} (repository {name!r}); stand-ins exist for "
                           f"{', '.join(n for n in RECIPES if n not in APP_ROLES)}")
        return self._ensure(name)

    def app_image(self, role: str) -> str:
        if role not in APP_ROLES:
            raise KeyError(f"no app stand-in {role!r}; roles: {', '.join(APP_ROLES)}")
        return self._ensure(role)

    def ensure_all(self) -> dict[str, str]:
        return {name: self._ensure(name) for name in RECIPES}

    def _ensure(self, name: str) -> str:
        with self._lock:  # apply() asks from many threads; each image is built once
            if name not in self._built:
                self._built[name] = self._build(RECIPES[name])
            return self._built[name]

    def _build(self, recipe: Recipe) -> str:
        client = self._engine.client
        base = base_rootfs()
        digest = recipe.digest(base.name)
        tag = f"berth-standin/{recipe.name}:{digest}"
        for image in client.images.list(name=f"berth-standin/{recipe.name}"):
            if tag in image.tags:
                return image.id
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="berth-standin-") as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            cut(recipe, base, rootfs)
            changes = [*recipe.changes, f"LABEL {LABEL}={digest}"]
            client.api.import_image_from_file(str(rootfs), repository=f"berth-standin/{recipe.name}", tag=digest,
                                              changes=changes)
        log.info("stand-ins: built %s in %.1f s", tag, time.monotonic() - started)
        return client.images.get(tag).id
