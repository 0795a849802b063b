"""An app stack as data: the services of one application, their routes and what they use.

One file per app under `apps/`. Everything a reviewer needs to see about an app is here; what
differs per environment (image versions, sizes, host names) is an overlay in `Pulumi.<stack>.yaml`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from ipaddress import IPv4Network
from typing import Annotated, Literal, TypeVar
from collections.abc import Callable

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler,
                      GetJsonSchemaHandler, ValidationInfo, field_validator, model_validator)
from pydantic.alias_generators import to_camel
from pydantic_core import core_schema

from config import docker_provider
from config.conventions import EC2_DATA_ROOT
from rules import caddy, images, postgres
from rules.containers import (ESCAPE_CAPABILITIES, REVIEWED_CAPABILITIES, capability_name, is_system_path,
                              memory_problem, owner_problem, read_only_root_problem)


@dataclass(frozen=True)
class Shaped:
    """A string check whose error says what the value should look like (not the bare regex); the JSON
    Schema (config/reference.py) carries the regex as `pattern`, so editors check it as you type."""

    regex: str
    what: str
    # A rule's own account of what is wrong (rules/), said after the value; None: "is not <what>".
    problem: Callable[[str], str | None] | None = None

    def __get_pydantic_core_schema__(self, source: type, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        compiled = re.compile(self.regex)

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise ValueError(f"{value!r} {(self.problem and self.problem(value)) or f'is not {self.what}'}")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        return {**handler(schema), "pattern": f"^(?:{self.regex})$", "x-shape": self.what}


def shaped(regex: str, what: str, problem: Callable[[str], str | None] | None = None) -> Shaped:
    return Shaped(regex, what, problem)


Name = Annotated[str, shaped(r"[a-z][a-z0-9-]{0,30}", "a name: lowercase letters, digits and '-', starting with a letter")]
VolumeName = Annotated[str, shaped(r"[a-z][a-z0-9_]{0,40}", "a volume name: lowercase letters, digits and '_'")]
EnvName = Annotated[str, shaped(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")]
SecretName = Annotated[str, shaped(r"[a-z][A-Za-z0-9]*", "a config key for a secret: camelCase, e.g. chatbotOpenaiApiKey")]


def _usable_path(value: str) -> str:
    """A path the file system can hold: no NUL byte, no component over 255 bytes, at most 4096 in all."""
    if "\x00" in value:
        raise ValueError("a path cannot contain a NUL byte")
    if len(value.encode()) > 4096 or any(len(part.encode()) > 255 for part in value.split("/")):
        raise ValueError("is too long for a file system path (255 bytes a name, 4096 in all); shorten it")
    return value


UsablePath = Annotated[str, AfterValidator(_usable_path)]
AbsPath = Annotated[str, shaped(r"/[^\s:]*", "an absolute path (starting with '/', no spaces or ':')"),
                    AfterValidator(_usable_path)]
# A host path: absolute, or relative to the project (`../rag-system`, a checkout next to it; dev only)
HostPath = Annotated[str, shaped(r"(/|\.\.?(/|$))[^\s:]*", "an absolute path, or one relative to the project ('../x')"),
                     AfterValidator(_usable_path),
                     AfterValidator(lambda v: _host_path(v))]
# What a health check asks: an HTTP path with its query, in URL characters (RFC 3986), which every probe
# tool and the load balancer (at most 1024 characters) take as given.
UrlPath = Annotated[str, shaped(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,1023}",
                                "an HTTP path such as /health (URL characters only: no spaces, quotes or '#')")]


V = TypeVar("V")  # what a rule judges: text, or a number (memory)


def ruled(rule: Callable[[V], str | None]) -> AfterValidator:
    """A value judged by one of berth's rules (rules/), refused with the rule's own explanation."""
    def check(value: V) -> V:
        problem = rule(value)
        if problem:
            raise ValueError(problem)
        return value
    return AfterValidator(check)


ImageRef = Annotated[str, ruled(images.reference_problem)]  # what Docker, the provider and ECS parse
ImageTag = Annotated[str, ruled(images.tag_problem)]
Owner = Annotated[str, shaped(r"\d+(:\d+)?", "a numeric owner: uid or uid:gid, e.g. 1000:1000"),
                  ruled(lambda v: owner_problem(v, names=False))]  # and ids Linux has
RunAs = Annotated[str, ruled(owner_problem)]  # user or uid, optionally :group or :gid


def memory(kind: str) -> AfterValidator:
    """A memory limit in MiB, at least what a container of `kind` needs (rules/containers.py)."""
    def problem(memory_mb: int) -> str | None:
        return memory_problem(memory_mb, kind)
    return ruled(problem)

# Numbers users write: positive and bounded, so a typo (`10**400`) is a config error, not a crash later.
Positive = Annotated[int, Field(gt=0, le=1_000_000)]
Replicas = Annotated[int, Field(gt=0, le=64)]  # one host runs every replica; more is a typo

def _capability(value: str) -> str:
    """`cap_net_bind_service` and `CAP_NET_BIND_SERVICE` mean NET_BIND_SERVICE, as Docker reads them."""
    name = capability_name(value)
    if name in ESCAPE_CAPABILITIES:
        raise ValueError(f"{value!r} lets a container reach past its own walls (as good as privileged); berth "
                         "never grants it. Run the work that needs it outside the app, or drop it")
    if name not in REVIEWED_CAPABILITIES:
        raise ValueError(f"{value!r} is not a capability berth grants; choose from {', '.join(sorted(REVIEWED_CAPABILITIES))}")
    return name


Capability = Annotated[str, AfterValidator(_capability)]


def _cpus_kept(value: float) -> float:
    """Only a value the provider reads back as written (config/docker_provider.py): another would replace
    the container on every refreshed deploy."""
    docker_provider.cpus_as_read(value)
    return value


Cpus = Annotated[float, Field(gt=0, le=192, allow_inf_nan=False), AfterValidator(_cpus_kept)]

# Host paths no container may mount, besides the system trees (rules/containers.py): directories that
# hold every app's or user's files.
FORBIDDEN_HOST_PATHS = ("/home", "/var", "/var/log", "/var/lib", "/srv", "/opt", "/mnt", "/tmp", EC2_DATA_ROOT)


def _host_path(value: str) -> str:
    """Normalised (`/srv/berth/../../etc` is `/etc`) before any check; system paths are refused.
    A relative path (a dev checkout) is normalised here and judged once resolved (config/checks.py)."""
    path = posixpath.normpath(value)
    if not value.startswith("/"):
        return path if path.startswith(".") else f"./{path}"
    path = "/" + path.lstrip("/")
    if path in FORBIDDEN_HOST_PATHS or is_system_path(path):
        raise ValueError(f"{value!r} is {path}, a system path of the host (or its Docker socket); a container that "
                         "mounts it controls the host. Mount a directory of the app's own instead")
    return path


def _init_sql(value: str) -> str:
    """A file under apps/, named relative to it: berth reads it and sends it to Postgres."""
    path = posixpath.normpath(value)
    if value.startswith("/") or path == ".." or path.startswith("../"):
        raise ValueError(f"{value!r} is outside apps/; put the SQL file in apps/ and name it relative to apps/ "
                         "(e.g. sql/rag-init.sql)")
    return path


def _hostname(value: str) -> str:
    """A DNS name: LDH labels of at most 63 characters, lowercased. An internationalised name is refused
    with its ASCII (IDNA) form to write instead, so what the proxy, DNS and certificates see is one name."""
    name = value.lower()
    if not name.isascii():
        try:
            ascii_form = name.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_form = None
        hint = f"write it as {ascii_form!r} (its IDNA form)" if ascii_form else "use letters, digits and '-'"
        raise ValueError(f"{value!r} is not an ASCII host name; {hint}")
    if len(name) > 253 or not all(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label) for label in name.split(".")):
        raise ValueError(f"{value!r} is not a DNS host name: labels of letters, digits and '-' (not at either end), "
                         "joined by '.', no trailing dot, spaces, ports or other characters")
    return name


HostName = Annotated[str, AfterValidator(_hostname)]

SHARED_SERVICES = ("postgres", "redis")
PLACEHOLDERS = ("url", "hostname")  # `${url}` in env values becomes the app's public URL


class Strict(BaseModel):
    """Every model: unknown keys are errors, values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, coerce_numbers_to_str=True)


class Camel(Strict):
    """Models whose YAML keys are camelCase (`memoryMb`), like Pulumi's own config."""

    model_config = ConfigDict(alias_generator=to_camel)  # merged with Strict's


class HealthCheck(Camel):
    """How Docker tells this service is ready; `wait=True` deploys gate on it.

    `path` is an HTTP GET on the service's own port, run with a tool the image has (`probe`);
    `command` is any check in the image (exit 0 = healthy).
    """

    path: UrlPath | None = Field(default=None, description=(
        "HTTP path asked on the service's own port (e.g. /health); give this or `command`"))
    probe: Literal["curl", "wget", "python", "node"] = Field(default="curl", description=(
        "the tool in the image that asks `path`"))
    command: list[str] | None = Field(default=None, description=(
        "a check run in the container, healthy when it exits 0 (e.g. [pg_isready]); give this or `path`"))
    interval_s: Positive = Field(default=15, description="seconds between checks")
    timeout_s: Positive = Field(default=5, description="seconds one check may take")
    retries: Positive = Field(default=5, description=(
        "failed checks in a row before the container counts as unhealthy"))
    start_period_s: int = Field(
        description="seconds after start during which failures do not count (slow starters)", default=20, ge=0)

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if (self.path is None) == (self.command is None):
            raise ValueError("give exactly one of `path` (an HTTP check) or `command` (a check run in the container)")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"path {self.path!r} must start with '/'")
        return self


def _known_placeholders(values: dict[str, str]) -> dict[str, str]:
    for key, value in values.items():
        for found in re.findall(r"\$\{([^}]*)\}", value):
            if found not in PLACEHOLDERS:
                raise ValueError(f"{key}: ${{{found}}} is not a placeholder berth fills in; use ${{url}} or ${{hostname}}")
    return values


# Env a frontend's build compiles into the code it sends to browsers (Next.js `NEXT_PUBLIC_*`): set at
# run time it changes nothing the browser sees.
BUILD_TIME_ENV = re.compile(r"NEXT_PUBLIC_\w*")


class Build(Camel):
    """Build an image from source. `context` is a directory on the machine running `pulumi up`.

    `args` are Docker build arguments; `${url}` and `${hostname}` in them become this stack's address
    of the app, so public env a frontend bakes in (`NEXT_PUBLIC_API_URL: ${url}/api`) fits each stack.
    """

    context: UsablePath | None = Field(default=None, description=(
        "source directory, relative to the project (a checkout next to it: ../chm-chatbot)"))
    dockerfile: UsablePath | None = Field(default=None, description=(
        "Dockerfile path inside the context; default: its Dockerfile"))
    target: str | None = Field(default=None, description="stage of a multi-stage Dockerfile to build")
    args: Annotated[dict[EnvName, str], AfterValidator(_known_placeholders)] = Field(default={}, description=(
        "Docker build arguments; ${url} and ${hostname} become this stack's address of the app"))
    platform: Literal["linux/amd64", "linux/arm64"] | None = Field(default=None, description=(
        "unset: the host's (an EC2 type's architecture; linux/amd64 on ECS; the local engine's in dev)"))


class Use(Camel):
    """A connection this service needs: berth injects it as a (secret) env var."""

    env: EnvName = Field(description="the env var the connection URL (a secret) is given in, e.g. DATABASE_URL")
    scheme: str | None = Field(default=None, description="URL scheme, e.g. postgresql+asyncpg")


def _use_shorthand(value: object) -> object:
    """`uses: {postgres: DATABASE_URL}` is short for `{postgres: {env: DATABASE_URL}}`."""
    return {"env": value} if isinstance(value, str) else value


# A use, or just the env var's name (the schema editors see accepts both, as the model does).
UseOrEnv = Annotated[Use, BeforeValidator(_use_shorthand, json_schema_input_type=Use | EnvName)]


class HostDir(Camel):
    """A host directory bind-mounted into the service (e.g. the CHM report-automation checkout)."""

    target: AbsPath = Field(description="where it appears in the container")
    source: HostPath | None = Field(default=None, description=(
        "host path; defaults to the host's data dir. `./` or `../` is relative to the project: a source "
        "checkout mounted for live reload, dev only"))
    read_only: bool = Field(default=False, description="mount it read-only")


class Hook(Camel):
    """A command run inside the service after it is created or its image changes (migrations)."""

    command: list[str] = Field(
        min_length=1,
        description="the command and its arguments, run with `docker exec` in a healthy container of the new image")


class Service(Camel):
    """One container (or several replicas of it) of an app."""

    kind: Literal["server", "static"] = Field(default="server", description=(
        "server: a container; static: files the proxy serves (a built site copied out of the image)"))
    image: ImageRef | None = Field(default=None, description=(
        "a pinned image reference (tag or digest, never :latest); or give `build`"))
    build: Build | None = Field(default=None, description="build the image from source instead of `image`")
    version: ImageTag | None = Field(default=None, description=(
        "built services: the version (git commit or tag) of the source; a new one rebuilds and redeploys"))
    site_path: AbsPath = Field(default="/site", description=(
        "static kind: where the built site is in the image; the image needs `sh` and `cp` (the files are "
        "copied out of it into a volume the proxy serves)"))
    port: int | None = Field(
        default=None, ge=1, le=65535,
        description="the port the service listens on inside its network (routes reach it there); nothing is published")
    command: list[str] | None = Field(default=None, description=(
        "replaces the image's command (CMD); the entrypoint stays"))
    env: dict[EnvName, str] = Field(default={}, description=(
        "plain environment variables; ${url} and ${hostname} become this stack's address of the app"))
    secret_env: dict[EnvName, SecretName] = Field(default={}, description=(
        "env var name -> secret config key: the value comes from `pulumi config set --secret <key>`"))
    uses: dict[Name, UseOrEnv] = Field(default={}, description=(
        "shared services and external ones it connects to (postgres, redis, an `external` name) -> the env var "
        "given the connection URL (or {env, scheme})"))
    volumes: dict[VolumeName, AbsPath] = Field(default={}, description=(
        "named volume -> mount path: data that outlives the container (prod keeps the volume)"))
    shared_volumes: dict[VolumeName, AbsPath] = Field(default={}, description=(
        "volumes every replica (and any other service naming them here) mounts at the same time, and a "
        "new container while the old one still runs: only for files the app writes safely from several "
        "processes at once, such as uploads stored under unique names. A database's files never are"))
    host_dirs: dict[VolumeName, HostDir] = Field(default={}, description=(
        "name -> host directory mounted into the service"))
    tmpfs: list[AbsPath] = Field(default=[], description="writable in-memory paths on the read-only root (e.g. /tmp)")
    read_only: Annotated[bool, ruled(read_only_root_problem)] = Field(default=True, description=(
        "the container's root filesystem is read-only (always: write to volumes and tmpfs)"))
    user: RunAs | None = Field(default=None, description=(
        "user (name or uid[:gid]) the process runs as; default: the image's"))
    volume_owner: Owner | None = Field(default=None, description=(
        "uid[:gid] a fresh volume's top directory is given before the service first starts; default: a "
        "numeric `user`. For images that run as a user but never create their mount points"))
    cap_add: list[Capability] = Field(default=[], description=(
        "Linux capabilities to keep (CAP_ prefix and case optional); every other one is dropped. Only reviewed "
        "ones are granted: " + ", ".join(sorted(REVIEWED_CAPABILITIES))))
    memory_mb: Annotated[Positive, memory("service")] = Field(default=512, description=(
        "memory limit of each container, in MiB"))
    cpus: Cpus | None = Field(description="CPU limit of each container (e.g. 0.5); unset: none", default=None)
    replicas: Replicas = Field(default=1, description=(
        "containers of this service, behind the proxy's load balancing (1 when it has volumes)"))
    max_replicas: Replicas | None = Field(default=None, description=(
        "ECS: scale between `replicas` and this on CPU load; one host runs `replicas`"))
    singleton: bool = Field(default=False, description=(
        "must never run twice, even for a moment (a scheduler, a cron worker): replaced stop-first"))
    gpu: bool = Field(default=False, description=(
        "needs an NVIDIA GPU (the host must have one); a dev stack may set false to run it on the CPU"))
    depends_on: list[Name] = Field(default=[], description="services started (and healthy) before this one")
    healthcheck: HealthCheck | None = Field(default=None, description=(
        "how Docker tells the service is ready; deploys wait for it (required for servers)"))
    after_deploy: list[Hook] = Field(default=[], description=(
        "commands run in the new container after each deploy of a new image (migrations)"))

    @field_validator("env")
    @classmethod
    def _placeholders(cls, env: dict[str, str]) -> dict[str, str]:
        return _known_placeholders(env)

    @field_validator("env", "secret_env")
    @classmethod
    def _not_build_time(cls, env: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for key in filter(BUILD_TIME_ENV.fullmatch, env):
            fix = (f"move it to `build.args` (the Dockerfile needs `ARG {key}` before `next build`)"
                   if info.data.get("build") else "give it to the build that makes the image")
            raise ValueError(f"{key} is compiled into the browser code by `next build`; set at run time it changes "
                             f"nothing the browser sees: {fix}")
        return env

    @model_validator(mode="after")
    def _coherent(self) -> Service:
        given = [*self.env, *self.secret_env, *(use.env for use in self.uses.values())]
        if twice := sorted({name for name in given if given.count(name) > 1}):
            raise ValueError(f"env var {twice[0]} is given more than once across env, secretEnv and uses; the "
                             "container gets one value of it: keep one")
        if self.image and self.build:
            raise ValueError("give either `image` (a pinned reference) or `build` (a source context), not both")
        if self.replicas > 1 and (self.volumes or self.singleton):
            reason = "it has data volumes" if self.volumes else "it is a singleton"
            raise ValueError(f"replicas must be 1 because {reason}; two copies would corrupt or duplicate work")
        if self.max_replicas is not None and (self.max_replicas < self.replicas or self.stateful):
            raise ValueError("maxReplicas must be at least replicas, and only a stateless service (no volumes, not a "
                             "singleton) scales")
        if self.kind == "server" and self.healthcheck is None:
            raise ValueError("a server needs a `healthcheck` so deploys wait for it to be ready, not a sleep")
        if overlap := sorted(set(self.volumes) & set(self.shared_volumes)):
            raise ValueError(f"volume {overlap[0]!r} is under both `volumes` and `sharedVolumes`; keep it under one")
        if self.kind == "static" and (self.port or self.volumes or self.shared_volumes or self.after_deploy):
            raise ValueError("a static service only carries files for the proxy; drop port/volumes/afterDeploy")
        return self

    @property
    def volume_owner_ids(self) -> tuple[int, int] | None:
        """(uid, gid) this service's volumes belong to: `volumeOwner`, else a numeric `user`; None: root's."""
        for value in (self.volume_owner, self.user):
            if value and re.fullmatch(r"\d+(:\d+)?", value):
                uid, _, gid = value.partition(":")
                return int(uid), int(gid or uid)
        return None

    @property
    def uses_data(self) -> bool:
        """Whether it uses a shared data service (Postgres, Redis): it joins its app's data network on one
        host, and wears the database clients' security group on ECS."""
        return any(used in SHARED_SERVICES for used in self.uses)

    @property
    def stateful(self) -> bool:
        """Stateful containers are replaced delete-first so two never share one data volume."""
        return bool(self.volumes) or self.singleton

    @property
    def mounted_volumes(self) -> dict[str, str]:
        """Every named volume the service mounts, its own and shared ones: name -> path."""
        return {**self.volumes, **self.shared_volumes}

    def pushed_version(self) -> str:
        """The version a built image is tagged and pushed as outside dev, where config/checks.py requires one."""
        if self.version is None:
            raise ValueError("a built service outside dev has no version (config/checks.py requires one)")
        return self.version


class Route(Camel):
    """How requests on one path of the app's host name reach a service, through the proxy."""

    """Requests for a path prefix on the app's host name go to one service."""

    service: Name = Field(description="the service requests on this path go to")
    strip_prefix: bool = Field(default=False, description=(
        "remove the route's path before passing the request on (/api/x reaches the service as /x)"))
    websocket: bool = Field(default=False, description=(
        "the route carries WebSocket connections; the proxy upgrades them and, without timeoutS, never cuts them"))
    stream: bool = Field(default=False, description="Server-Sent Events: no buffering, no compression")
    timeout_s: Positive | None = Field(default=None, description=(
        "longest the service may stay silent (like nginx proxy_read_timeout); unset: no limit"))
    sticky: bool = Field(default=False, description=(
        "a client keeps reaching the same replica (cookie), for in-process sessions"))
    max_body_mb: Positive | None = Field(default=None, description=(
        "largest request body on this route, in MB; default: the app's maxBodyMb"))
    spa: bool = Field(default=False, description="static service: unknown paths fall back to /index.html")


# Referrer policies that never send a full URL to another origin (seed 001's no-referrer-when-downgrade does)
ReferrerPolicy = Literal["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"]

# A value the proxy serves exactly as written (rules/caddy.py), never a placeholder it expands.
HeaderValue = Annotated[str, shaped(caddy.HEADER_VALUE.pattern, "a header value: printable ASCII on one line, no "
                                    "backslash, no '{$', no space at either end", caddy.header_value_problem)]
AssetPath = Annotated[str, shaped(r"/[A-Za-z0-9._~/-]*\*?", "a path or a path prefix ending in '*', e.g. /_next/static/*")]


class Headers(Camel):
    """Response headers the proxy sets on every response of the app's site.

    The defaults are the strictest any seed sent (seed 004's `X-Frame-Options: DENY`); an app loosens
    one only on purpose, in its own file. Requests reaching a service carry `X-Real-IP` and
    `X-Forwarded-For` with the client's address whatever is set here.
    """

    frame_options: Literal["DENY", "SAMEORIGIN"] = Field(default="DENY", description=(
        "SAMEORIGIN only for an app that frames its own pages; no other site may frame it either way"))
    referrer_policy: ReferrerPolicy = Field(default="strict-origin-when-cross-origin", description=(
        "Referrer-Policy: only policies that never send a full URL to another origin"))
    content_security_policy: HeaderValue | None = Field(default=None, description=(
        "the app's own policy; unset, none is sent (a policy the proxy guessed would break the app or protect little)"))
    immutable: list[AssetPath] = Field(default=[], description=(
        "paths of content-hashed files (`/_next/static/*`): browsers keep them for a year without asking "
        "again. A response that already says how to cache keeps its own header (Next.js marks a missing "
        "file no-store)"))


class Database(Camel):
    """The app's own database in the shared Postgres (RDS on ECS), reached only by its own role, which owns
    its `public` schema and all it creates (docs/trust.md, "Databases")."""

    extensions: list[postgres.Extension] = Field(default=[], description=(
        "Postgres extensions berth creates in the app's database (schema berth_extensions, on the app role's "
        "search_path): Postgres's trusted extensions, e.g. pg_trgm, pgcrypto, uuid-ossp, citext, hstore"))
    init_sql: Annotated[str, AfterValidator(_usable_path), AfterValidator(_init_sql)] | None = Field(default=None, description=(
        "SQL file (relative to apps/) run on every deploy as the app's role in its own database, as one "
        "transaction; plain SQL only (psql's backslash commands are not read)"))


class Redis(Camel):
    """The app's own Redis (one per app: Redis cannot fence one user's keys from another's).

    `cache`: full memory evicts the least recently used keys and nothing is persisted, so a full cache
    keeps accepting writes. `store`: keys are never evicted (a full store refuses writes instead of
    silently losing data) and every write is kept in an append-only file on a retained volume.
    """

    mode: Literal["cache", "store"] = Field(description=(
        "cache: evict least recently used keys, keep nothing on disk; store: never evict, append-only file on a volume"))
    memory_mb: Annotated[Positive, memory("redis")] | None = Field(default=None, description=(
        "its container's memory; default berth:shared.redis.memoryMb"))


class AppBackup(Camel):
    """What the app's scheduled backup copies besides its database and its Redis store (docs/backups.md)."""

    recreatable: list[VolumeName] = Field(default=[], description=(
        "volumes that can be rebuilt (Ollama models pulled again, caches): not backed up; every other volume is"))


class External(Camel):
    """A service outside the host (MongoDB Atlas, a SaaS API): a name and a secret URI."""

    secret: SecretName = Field(description=(
        "the secret config key holding its URI (`pulumi config set --secret <key>`)"))
    description: str = Field(default="", description="what it is, for reviewers")


PRIVATE_RANGES = tuple(IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))  # RFC 1918
DOCKER_DEFAULT_BRIDGE = IPv4Network("172.17.0.0/16")  # docker0 on every engine
DOCKER_ADDRESS_POOL = IPv4Network("10.200.0.0/16")  # berth hosts' daemon.json: where unfixed networks get /24s


class AppNetwork(Camel):
    """The app's own Docker network, when it must have a fixed subnet."""

    """The app's own network on a fixed subnet, for apps whose peers or firewall rules expect one."""

    subnet: IPv4Network = Field(description=(
        "a fixed IPv4 subnet for the app's network (peers or firewall rules expect it)"))

    @field_validator("subnet")
    @classmethod
    def _usable(cls, subnet: IPv4Network) -> IPv4Network:
        if not any(subnet.subnet_of(r) for r in PRIVATE_RANGES):
            raise ValueError(f"{subnet} is not a private network; use one inside {', '.join(map(str, PRIVATE_RANGES))}")
        if subnet.prefixlen > 28:
            raise ValueError(f"{subnet} leaves too few addresses for the app's containers; use /28 or larger")
        for reserved, what in ((DOCKER_DEFAULT_BRIDGE, "Docker's default bridge"),
                               (DOCKER_ADDRESS_POOL, "the pool berth hosts give networks without a fixed subnet")):
            if subnet.overlaps(reserved):
                raise ValueError(f"{subnet} overlaps {what} ({reserved}); choose another range")
        return subnet


class App(Camel):
    """One app stack (`apps/<name>.yaml`)."""

    name: Name = Field(description="the app's name; must match the file name apps/<name>.yaml")
    description: str = Field(default="", description="what the app is, for reviewers")
    hostname: HostName = Field(description="sub-domain label, or a full host name containing a dot")
    services: dict[Name, Service] = Field(description="the app's services by name", min_length=1)
    routes: dict[str, Route] = Field(default={}, description=(
        "path on the app's host name -> route to a service (e.g. /api)"))
    database: Database | None = Field(default=None, description="its own database and role in the shared Postgres")
    redis: Redis | None = Field(default=None, description="required when a service uses redis: what the app keeps in it")
    backup: AppBackup = Field(default=AppBackup(), description="what the scheduled backup leaves out")
    external: dict[Name, External] = Field(default={}, description=(
        "services outside the host it connects to, by name (services name them under `uses`)"))
    network: AppNetwork | None = Field(default=None, description=(
        "a fixed subnet for its network; unset: Docker picks one"))
    max_body_mb: Positive = Field(default=10, description=(
        "largest request body the proxy accepts, in MB (a route may set its own)"))
    headers: Headers = Field(default=Headers(), description="response headers the proxy sets on the app's site")

    @field_validator("routes")
    @classmethod
    def _paths(cls, routes: dict[str, Route]) -> dict[str, Route]:
        seen: dict[str, str] = {}
        for path in routes:
            if not path.startswith("/"):
                raise ValueError(f"route {path!r} must start with '/'")
            if not re.fullmatch(r"/([A-Za-z0-9._~-]+/)*[A-Za-z0-9._~-]*", path):
                raise ValueError(f"route {path!r} is not a plain path prefix; use letters, digits, '-', '_', '.', '~' "
                                 "and '/' (no spaces, wildcards or placeholders)")
            key = path.rstrip("/") or "/"
            if key in seen:
                raise ValueError(f"routes {seen[key]!r} and {path!r} claim the same path; keep one")
            seen[key] = path
        return routes

    @model_validator(mode="after")
    def _references(self) -> App:
        """Every name the app refers to (routes' services, dependencies, volumes) must hold together."""
        problems = [*self._route_targets(), *self._volume_sharing(), *self._unserved_sites(), *self._names_used(),
                    *self._redis_declared(), *self._volume_owners(), *self._recreatable_mounted(),
                    *self._dependency_cycle()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _route_targets(self) -> list[str]:
        """A route goes to a service of this app, with what that kind of service can serve."""
        problems = []
        for path, route in self.routes.items():
            target = self.services.get(route.service)
            if target is None:
                problems.append(f"route {path!r} goes to service {route.service!r}, which this app does not define")
            elif target.kind == "server" and target.port is None:
                problems.append(f"route {path!r} goes to {route.service!r}, which has no `port`")
            elif target.kind == "static" and (route.strip_prefix or route.stream or route.sticky or route.websocket
                                              or route.timeout_s):
                problems.append(f"route {path!r} serves static files; stripPrefix/stream/sticky/websocket/timeoutS "
                                "do not apply (the site's files are served relative to the route's path)")
            elif target.kind == "server" and route.spa:
                problems.append(f"route {path!r} goes to server {route.service!r}; `spa` applies to static services only")
        return problems

    def _unserved_sites(self) -> list[str]:
        return [f"service {name!r} is a static site but no route serves it; add a route to it"
                for name, svc in self.services.items()
                if svc.kind == "static" and not any(r.service == name for r in self.routes.values())]

    def _names_used(self) -> list[str]:
        """What a service depends on is a service of the app; what it uses is shared or external, never its own."""
        problems = []
        for name, svc in self.services.items():
            for dep in svc.depends_on:
                if dep not in self.services:
                    problems.append(f"service {name!r} depends on {dep!r}, which this app does not define")
            for used in svc.uses:
                if used not in SHARED_SERVICES and used not in self.external:
                    problems.append(
                        f"service {name!r} uses {used!r}: name a shared service ({', '.join(SHARED_SERVICES)}) "
                        f"or add it under `external:`"
                    )
                if used in self.services:
                    problems.append(f"service {name!r} shares its name {used!r} with something it uses; rename one")
        return problems

    def _redis_declared(self) -> list[str]:
        """An app using Redis says what it keeps there, and leaves the name of Redis's volume free."""
        if not self.uses_shared("redis"):
            return []
        problems = []
        users = [repr(n) for n, s in self.services.items() if "redis" in s.uses]
        if self.redis is None:
            who = f"service {users[0]} uses" if len(users) == 1 else f"services {', '.join(users)} use"
            problems.append(f"{who} redis: say what the app keeps there, `redis: {{mode: cache}}` "
                            "(full memory evicts old keys, nothing kept on disk) or `redis: {mode: store}` "
                            "(never evicts, kept on a volume)")
        if any("redis" in s.mounted_volumes for s in self.services.values()):
            problems.append("a volume named 'redis' would clash with the app's own Redis's data; rename the volume")
        return problems

    def _volume_owners(self) -> list[str]:
        owners: dict[str, set] = {}
        for svc in self.services.values():
            for volume in svc.mounted_volumes:
                owners.setdefault(volume, set()).add(svc.volume_owner_ids)
        return [f"services mounting volume {volume!r} want different owners; give them one `volumeOwner`"
                for volume, found in owners.items() if len(found) > 1]

    def _recreatable_mounted(self) -> list[str]:
        volumes = {v for svc in self.services.values() for v in svc.mounted_volumes}
        return [f"backup.recreatable names {name!r}, which no service of this app mounts as a volume"
                for name in self.backup.recreatable if name not in volumes]

    def _dependency_cycle(self) -> list[str]:
        try:
            TopologicalSorter({n: [d for d in s.depends_on if d in self.services] for n, s in self.services.items()}).prepare()
        except CycleError as err:
            return [f"services depend on each other in a circle ({' -> '.join(err.args[1])}); break the cycle"]
        return []

    def _volume_sharing(self) -> list[str]:
        """A volume mounted by two services must be shared by both on purpose (`sharedVolumes`)."""
        problems: list[str] = []
        users: dict[str, list[str]] = {}
        for name, svc in self.services.items():
            for volume in svc.mounted_volumes:
                users.setdefault(volume, []).append(name)
        for volume, services in users.items():
            exclusive = [s for s in services if volume in self.services[s].volumes]
            if len(services) > 1 and exclusive:
                problems.append(f"services {', '.join(map(repr, services))} all mount volume {volume!r}, which "
                                f"{exclusive[0]!r} keeps to itself (`volumes`); list it under `sharedVolumes` in "
                                "each if they may write it at the same time, or give each its own")
        return problems

    @property
    def secret_names(self) -> set[str]:
        """The config secrets this app needs: those its services' env and its external services name."""
        return {e.secret for e in self.external.values()} | {
            name for svc in self.services.values() for name in svc.secret_env.values()}

    @property
    def start_order(self) -> list[str]:
        """Services in an order where each comes after what it depends on (validation rejects cycles)."""
        return list(TopologicalSorter({n: s.depends_on for n, s in self.services.items()}).static_order())

    def backed_up_volumes(self) -> dict[str, list[str]]:
        """Each volume the backup copies, with the services that mount it (stopped while it is copied)."""
        mounted: dict[str, list[str]] = {}
        for svc_name, svc in self.services.items():
            for vol in svc.mounted_volumes:
                if vol not in self.backup.recreatable:
                    mounted.setdefault(vol, []).append(svc_name)
        return mounted

    def uses_shared(self, shared: str) -> bool:
        return any(shared in svc.uses for svc in self.services.values())
