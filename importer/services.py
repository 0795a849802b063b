"""One Compose service -> one berth service: image or build, port, command, healthcheck, environment,
volumes, resources, dependencies. Every key berth has no place for is named in a note, with why."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from importer import healthchecks, images, secrets
from importer.classify import Roles
from importer.draft import AppDraft, SecretToSet
from rules.credentials import looks_secret
from rules.images import is_pinned, pin_fix, repository

# Ports official images listen on, for services that neither publish nor expose one.
KNOWN_PORTS = {"qdrant/qdrant": 6333, "chromadb/chroma": 8000, "ollama/ollama": 11434, "mongo": 27017,
               "elasticsearch": 9200, "clickhouse/clickhouse-server": 8123, "memcached": 11211, "minio/minio": 9000}
# Healthchecks that work in official images without curl (what berth's own app files use).
KNOWN_CHECKS = {
    "qdrant/qdrant": {"command": ["bash", "-c", 'exec 3<>/dev/tcp/127.0.0.1/6333 && printf "GET /readyz HTTP/1.0\\r\\n\\r\\n" >&3 '
                                  '&& read -r status <&3 && [[ $status == *" 200 "* ]]']},
    "chromadb/chroma": {"path": "/api/v2/heartbeat", "probe": "python"},
    "ollama/ollama": {"command": ["ollama", "list"]},
}
WHY_DROPPED = {
    "container_name": "berth names containers <app>-<service>",
    "restart": "berth always restarts services unless stopped",
    "networks": "berth gives each app its own networks; services find each other by service name as before",
    "ports": "only berth's proxy publishes ports; the service is reached through its routes",
    "labels": "berth sets its own labels",
    "logging": "berth rotates Docker's json-file logs itself",
    "hostname": "services are found by their service name",
    "stdin_open": "no terminal in a deployed service", "tty": "no terminal in a deployed service",
    "init": "berth decides per service whether Docker's init runs",
    "stop_grace_period": "berth's default grace applies", "stop_signal": "the image's own stop signal applies",
    "pull_policy": "berth pulls pinned images once", "platform": "berth builds for the host's platform",
    "working_dir": "berth keeps the image's WORKDIR; set it in the Dockerfile",
    "entrypoint": "berth has no entrypoint override; fold it into `command` or the image",
    "extra_hosts": "no /etc/hosts entries in berth; use DNS names", "dns": "the host's resolver applies",
    "security_opt": "berth's hardening sets no-new-privileges and drops capabilities itself",
    "privileged": "berth never runs a privileged container", "network_mode": "berth attaches its own networks",
    "pid": "no shared PID namespace in berth", "ipc": "no shared IPC namespace in berth",
    "ulimits": "no ulimits in berth's service model", "sysctls": "no sysctls in berth's service model",
    "devices": "berth maps GPUs only (`gpu: true`)", "links": "services find each other by name",
    "secrets": "Compose secrets become berth secretEnv (pulumi config set --secret)",
    "configs": "bake config files into the image", "env_file": "its values were read into the environment above",
    "profiles": "profiles were applied when the file was loaded", "read_only": "berth's root is read-only already",
    "shm_size": "no shm size in berth's service model", "group_add": "no extra groups in berth",
    "expose": "the service's `port` says where it listens", "mem_reservation": "berth sets a limit only",
    "oom_kill_disable": "no OOM settings in berth", "userns_mode": "no user namespaces in berth",
}
HANDLED = {"image", "build", "command", "environment", "healthcheck", "volumes", "deploy", "depends_on", "user",
           "cap_add", "cap_drop", "tmpfs", "mem_limit", "cpus", "ports", "expose", "restart", "networks", "env_file"}


def convert(draft: AppDraft, roles: Roles, compose_name: str, route_port: int | None) -> str:
    """Fill draft.data['services'][name] for one Compose service; returns its berth name."""
    svc = draft.project.services[compose_name]
    name = draft.berth_name(compose_name)
    out = draft.service(name)
    at = ("services", name)
    if name != compose_name:
        draft.notes.add(at, f"the Compose service {compose_name!r}")
    _image(draft, svc, out, at)
    port = _port(draft, svc, out, at, route_port)
    if svc.get("command"):
        command = [str(w) for w in svc["command"]]
        flag = secrets.secret_in_command(command)
        if flag:
            draft.notes.todo(at, f"its command passes a secret ({flag}), so it was not copied: give the value to the "
                                 "service as secretEnv and have the command read it from the environment")
        else:
            out["command"] = command
    _healthcheck(draft, svc, out, at, port)
    _environment(draft, roles, compose_name, svc, out, at)
    _volumes(draft, roles, compose_name, svc, out, at)
    _resources(draft, svc, out, at)
    _depends_on(draft, roles, svc, out, at)
    if svc.get("user"):
        out["user"] = str(svc["user"])
    caps = [c.removeprefix("CAP_") for c in svc.get("cap_add") or [] if c not in ("ALL", "SYS_ADMIN")]
    if caps:
        out["capAdd"] = caps
        draft.notes.add(at + ("capAdd",), "from cap_add; berth drops all others. Check each is really needed")
    if set(svc.get("cap_add") or []) & {"ALL", "SYS_ADMIN"}:
        draft.notes.todo(at, "cap_add ALL/SYS_ADMIN is as good as privileged; berth refuses it. Find the one "
                             "capability the service needs")
    _dropped(draft, svc, at)
    return name


def _image(draft: AppDraft, svc: dict, out: dict, at: tuple) -> None:
    build = svc.get("build")
    if build:
        spec = {k: v for k, v in (("dockerfile", build.get("dockerfile")), ("target", build.get("target"))) if v}
        args = {}
        for key, value in (build.get("args") or {}).items():
            if looks_secret(key, str(value or "")):
                draft.notes.todo(at + ("build",), f"build arg {key} looks secret and was left out: build args stay in "
                                                  "the image's history. Read it at run time (secretEnv) instead")
            else:
                args[key] = str(value if value is not None else "")
        if args:
            spec["args"] = args
        out["build"] = spec
        context = Path(build.get("context") or draft.project.directory)
        relative = os.path.relpath(context, draft.out_dir.resolve())
        draft.overlay.setdefault("services", {}).setdefault(at[1], {})["build"] = {"context": relative}
        draft.overlay_notes.add(("services", at[1], "build"),
                                f"the Compose build context {os.path.relpath(context, draft.project.directory)} "
                                f"(next to {draft.project.path.name}); staging/prod also need `version: <git SHA>`")
        draft.notes.add(at + ("build",), "built from source; the build context is a per-stack path (Pulumi.<stack>.yaml)")
        for key in set(build) - {"context", "dockerfile", "target", "args"}:
            draft.notes.add(at + ("build",), f"build.{key} dropped: berth builds with context, dockerfile, target and args")
        if svc.get("image"):
            draft.notes.add(at + ("build",), f"image {svc['image']} (the tag Compose gave the build) dropped: berth "
                                             "tags built images by `version`")
        return
    ref = svc.get("image")
    if not ref:
        draft.notes.todo(at, "neither image nor build in Compose; set one")
    elif is_pinned(ref):
        out["image"] = ref
    else:
        draft.notes.todo(at, pin_fix(ref, "berth did not copy it: set `image:` here"))


def _port(draft, svc, out, at, route_port) -> int | None:
    found = []
    if route_port:
        found.append((route_port, "where the proxy sent requests"))
    check = (svc.get("healthcheck") or {}).get("test")
    words = healthchecks.test_words(check) if check else None
    match = healthchecks.URL.search(" ".join(words or []))
    if match and match.group(1):
        found.append((int(match.group(1)), "the port its healthcheck asks"))
    for value in svc.get("expose") or []:
        found.append((int(str(value).split("/")[0].split("-")[0]), "Compose `expose`"))
    for port in svc.get("ports") or []:
        found.append((int(port["target"]), "the container port Compose published"))
    image = svc.get("image") or ""
    if image and repository(image) in KNOWN_PORTS:
        found.append((KNOWN_PORTS[repository(image)], "the port the image listens on"))
    if not found:
        return None
    port, why = found[0]
    out["port"] = port
    others = sorted({p for p, _ in found} - {port})
    draft.notes.add(at + ("port",), f"{why}" + (f"; other ports it had ({', '.join(map(str, others))}) are not "
                                                "reachable in berth: one port per service" if others else ""))
    published = [p for p in svc.get("ports") or [] if p.get("published")]
    if published:
        shown = ", ".join(f"{p.get('host_ip', '0.0.0.0')}:{p['published']}->{p['target']}" for p in published)
        draft.notes.add(at + ("port",), f"published {shown} in Compose; in berth only the proxy publishes ports "
                                        "(docker exec or an SSH tunnel reach the rest)")
    return port


def _healthcheck(draft, svc, out, at, port) -> None:
    image = svc.get("image") or ""
    compose = svc.get("healthcheck")
    known = KNOWN_CHECKS.get(repository(image)) if image else None
    if compose:
        check, said = healthchecks.convert(compose, port)
        if check and known and "command" not in known and check.get("probe") == "curl":
            check = {**check, **known}
            said.append(f"{repository(image)} has no curl: the check uses {known}")
        elif check and known and "command" in known and ("path" in check or "curl" in str(check.get("command"))):
            check = {k: v for k, v in check.items() if k not in ("path", "probe", "command")} | known
            said.append(f"{repository(image)} has no curl; the check is the one berth knows works in it")
        if check and secrets.secret_in_command(check.get("command") or []):
            draft.notes.todo(at + ("healthcheck",), "the Compose check passes a secret on its command line, so it "
                                                    "was not copied: write one that reads it from the environment")
            check = None
        if check:
            out["healthcheck"] = check
        for text in said:
            draft.notes.add(at + ("healthcheck",), text)
        return
    if known:
        out["healthcheck"] = dict(known)
        draft.notes.add(at + ("healthcheck",), f"none in Compose; the check berth knows for {repository(image)}")
        return
    command = " ".join(out.get("command") or [])
    celery = re.search(r"celery\s+(?:-A|--app)[= ](\S+).*\b(worker|beat)\b", command)
    if celery and celery.group(2) == "beat":
        out["singleton"] = True
        draft.notes.add(at + ("singleton",), "Celery beat schedules each task once only while exactly one runs: a "
                                             "singleton never runs twice, not even during a deploy")
    internal = bool(image) and images.is_one_of(image, images.INTERNAL_IMAGES)
    if port and not internal:
        probe = "python" if re.search(r"uvicorn|gunicorn|python|streamlit|django|flask", command) else (
            "node" if re.search(r"\bnode\b|npm|next|yarn", command) else "curl")
        out["healthcheck"] = {"path": "/", "probe": probe}
        draft.notes.todo(at + ("healthcheck",), f"GUESSED: Compose has no healthcheck; berth waits on one. A GET of / "
                                                f"with {probe} (the image must have it): point it at the app's health "
                                                "endpoint")
    elif celery and celery.group(2) == "worker":
        out["healthcheck"] = {"command": ["celery", "-A", celery.group(1), "inspect", "ping", "--timeout", "10"],
                              "intervalS": 60, "timeoutS": 20}
        draft.notes.add(at + ("healthcheck",), "a Celery worker: healthy when it answers a ping")
    else:
        draft.notes.todo(at, "no healthcheck and no port: berth needs a `healthcheck: {command: [...]}` that exits 0 "
                             "when this worker is up (it gates every deploy)")


def _service_host(value: str, hosts: set[str]) -> tuple[str, str | None] | None:
    """(host, scheme) when `value` is a URL pointing at one of `hosts`."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme and parts.hostname and parts.hostname in hosts:
        return parts.hostname, parts.scheme
    return None


def _environment(draft: AppDraft, roles: Roles, compose_name: str, svc: dict, out: dict, at: tuple) -> None:
    env = svc.get("environment") or {}
    written = draft.project.raw_environment.get(compose_name, {})
    postgres, redis = set(roles.postgres), set(roles.redis)
    renames = {old: new for old, new in draft.services.items() if old != new}
    settings: dict[str, list[str]] = {}  # database settings the generated URL replaces, by what they are for
    for key in sorted(env):
        value = "" if env[key] is None else str(env[key])
        raw = written.get(key)
        target = _service_host(value, postgres | redis)
        if target:
            used = "postgres" if target[0] in postgres else "redis"
            use = {"env": key}
            scheme = target[1]
            if scheme not in ("postgres", "postgresql", "redis"):
                use["scheme"] = scheme
            out.setdefault("uses", {})[used] = use if len(use) > 1 else key
            draft.notes.add(at + ("uses",), f"{key} pointed at the Compose {used} service: berth injects the URL of the "
                                            f"app's own {'database' if used == 'postgres' else 'Redis'}, with credentials "
                                            "it generates (kept secret)")
            continue
        if value in postgres | redis or any(value.startswith(h + ":") for h in postgres | redis):
            used = "postgres" if value.split(":")[0] in postgres else "redis"
            settings.setdefault(used, []).append(key)
            if used not in out.get("uses", {}):
                out.setdefault("uses", {})[used] = "DATABASE_URL" if used == "postgres" else "REDIS_URL"
            continue
        if postgres | redis and DATABASE_SETTING.search(key):
            settings.setdefault("redis" if "REDIS" in key.upper() else "postgres", []).append(key)
            continue
        if re.fullmatch(r"NEXT_PUBLIC_\w+", key):
            _build_time(draft, out, at, key, value)
            continue
        external = _external(value, set(draft.project.services))
        if external and looks_secret(key, value, raw):
            secret = secrets.config_key(draft.name, key)
            draft.data.setdefault("external", {})[external] = {
                "secret": secret, "description": f"{urlsplit(value).scheme} outside the Compose file"}
            out.setdefault("uses", {})[external] = key
            _remember_secret(draft, secret, key, compose_name, raw)
            draft.notes.add(("external",), f"{external}: {key} of {at[1]} points outside the Compose file; berth hands "
                                           f"it over from the secret {secret} (pulumi config set --secret {secret} <url>)")
            draft.notes.todo(("external",), f"{external}: allow the berth host's address (stack output hostPublicIp) "
                                            "in its firewall or IP access list")
            continue
        if looks_secret(key, value, raw):
            secret = secrets.config_key(draft.name, key)
            out.setdefault("secretEnv", {})[key] = secret
            _remember_secret(draft, secret, key, compose_name, raw)
            draft.notes.add(at + ("secretEnv",), f"{key} looks secret, so its value is not written here: "
                                                 f"pulumi config set --secret {secret} <value>"
                                                 + ("" if value else " (it was empty when Compose loaded the file)"))
            continue
        if "${" in value:
            draft.notes.todo(at + ("env",), f"{key} dropped: its value holds `${{`, which berth reads as a placeholder")
            continue
        for old, new in renames.items():
            if re.search(rf"(//|^){re.escape(old)}(:|/|$)", value):
                value = re.sub(rf"(//|^){re.escape(old)}(?=:|/|$)", rf"\g<1>{new}", value)
                draft.notes.add(at + ("env",), f"{key}: the service {old!r} is {new!r} in berth")
        if re.search(r"//(localhost|127\.0\.0\.1)[:/]", value):
            draft.notes.todo(at + ("env",), f"{key}={value}: localhost inside a container is the container itself; "
                                            "use a service name (http://backend:8000) or ${url} for the public address")
        out.setdefault("env", {})[key] = value
    for used, keys in settings.items():
        env_name = out.get("uses", {}).get(used)
        env_name = env_name if isinstance(env_name, str) else (env_name or {}).get("env")
        draft.notes.todo(at + ("uses",), f"{', '.join(keys)} dropped: berth hands the service its {used} as one URL "
                                         f"with generated credentials ({env_name}), not host/user/password variables; "
                                         "make the app read that URL (or build them from it at start-up)")


DATABASE_SETTING = re.compile(r"^(POSTGRES|PG|DB|DATABASE|REDIS|SENTRY_POSTGRES|SENTRY_REDIS|DB_POSTGRESDB|"
                              r"QUEUE_BULL_REDIS)_?(USER|USERNAME|PASSWORD|PASS|NAME|DB|PORT|HOST|DATABASE)$",
                              re.IGNORECASE)


EXTERNAL_SCHEMES = {"mongodb": "mongodb", "mongodb+srv": "mongodb", "postgres": "postgres-external",
                    "postgresql": "postgres-external", "mysql": "mysql", "amqp": "rabbitmq", "amqps": "rabbitmq",
                    "rediss": "redis-external", "redis": "redis-external"}


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


def _remember_secret(draft: AppDraft, secret: str, env: str, compose_name: str, raw: str | None) -> None:
    """A secret to set, and where its value is today in words (never the value)."""
    files = [draft.shown(f) for f in draft.project.env_files.get(compose_name, [])]
    source = f"`{raw}` in {draft.project.path.name}" if raw and "$" in raw else (
        f"env file {', '.join(files)}" if raw is None and files else
        "an env file" if raw is None else f"{draft.project.path.name} (in plain text: rotate it)")
    service = draft.services[compose_name]
    known = draft.secrets.get(secret)
    draft.secrets[secret] = SecretToSet(secret, env, tuple(dict.fromkeys((known.services if known else ()) + (service,))),
                                        source)


def _build_time(draft, out, at, key, value) -> None:
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


def _volume_name(draft: AppDraft, source: str) -> str:
    name = source
    for prefix in (draft.project.name, draft.name, draft.name.replace("-", "_")):
        for sep in ("_", "-"):
            if name.startswith(prefix + sep) and len(name) > len(prefix) + 1:
                name = name[len(prefix) + 1:]
    name = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return name if name[:1].isalpha() else "v_" + name


def _volumes(draft: AppDraft, roles: Roles, compose_name: str, svc: dict, out: dict, at: tuple) -> None:
    context = Path((svc.get("build") or {}).get("context") or "/nonexistent")
    for mount in svc.get("volumes") or []:
        kind, source, target = mount.get("type"), mount.get("source"), mount["target"]
        read_only = bool(mount.get("read_only"))
        if kind == "tmpfs":
            out.setdefault("tmpfs", []).append(target)
        elif kind == "volume" and not source:
            draft.notes.add(at, f"anonymous volume {target} dropped (a dev trick to keep a dependency dir from a "
                                "bind mount); the image's own copy is used")
        elif kind == "volume":
            name = _volume_name(draft, source)
            sharers = [other for other in draft.services if other != compose_name and any(
                m.get("source") == source for m in draft.project.services[other].get("volumes") or [])]
            replicas = (svc.get("deploy") or {}).get("replicas") or 1
            where = "sharedVolumes" if sharers or replicas > 1 else "volumes"
            out.setdefault(where, {})[name] = target
            why = f"the Compose volume {source}" + (f" (Docker volume {draft.name.replace('-', '_')}_{name} in berth)")
            draft.notes.add(at + (where,), why)
            if where == "sharedVolumes":
                draft.notes.todo(at + (where,), f"{name} is mounted by {'several replicas' if replicas > 1 else ''}"
                                                f"{' and ' if replicas > 1 and sharers else ''}"
                                                f"{', '.join(sharers)} at once: only safe for files written under "
                                                "unique names (uploads), never for a database's files")
            if read_only:
                draft.notes.add(at + (where,), f"{name} was mounted read-only; berth mounts volumes read-write")
        elif kind == "bind":
            _bind(draft, svc, out, at, source, target, read_only, context)
        else:
            draft.notes.todo(at, f"a {kind} mount at {target} has no berth equivalent; dropped")


def _bind(draft, svc, out, at, source, target, read_only, context) -> None:
    src = Path(source)
    shown = os.path.relpath(src, draft.project.directory) if src.is_absolute() else source
    shown = shown if not shown.startswith("../..") else source
    if source.endswith("docker.sock"):
        draft.notes.todo(at, f"{source} (the Docker socket) is refused: it gives the container root on the host")
        return
    if src.is_file() or (not src.exists() and re.search(r"\.[A-Za-z0-9]{1,5}$", target)):
        draft.notes.todo(at, f"the file {shown} mounted at {target} was dropped: berth mounts directories. COPY it "
                             "into the image, or pass its settings as env")
        return
    code = svc.get("build") and (src == context or context.is_relative_to(src) or src.is_relative_to(context))
    name = _volume_name(draft, src.name or "root")
    if code:
        dev = draft.overlay.setdefault("services", {}).setdefault(at[1], {}).setdefault("hostDirs", {})
        dev["code"] = {"source": os.path.relpath(src, draft.out_dir.resolve()), "target": target, "readOnly": True}
        draft.overlay_notes.add(("services", at[1], "hostDirs"),
                                f"the Compose bind mount {shown}:{target}: source code for live reload, dev only "
                                "(read-only; a staging/prod image carries its code)")
        return
    image = svc.get("image") or ""
    if image and images.is_one_of(image, images.INTERNAL_IMAGES) and not read_only:
        out.setdefault("volumes", {})[name] = target
        draft.notes.todo(at + ("volumes",), f"{name}: was the host directory {shown}; a data store's files belong on a "
                                            "volume (backed up, kept across host replacement). Copy them in once: "
                                            f"scripts/volume restore {draft.name.replace('-', '_')}_{name} < data.tar.gz")
        return
    out.setdefault("hostDirs", {})[name] = {"target": target, **({"readOnly": True} if read_only else {})}
    draft.notes.todo(at + ("hostDirs",), f"{name}: REVIEW the Compose bind mount {shown}:{target}. berth keeps host "
                                         "dirs under the host's data dir (copy the files there), or make it a volume if "
                                         "only this service uses it")


def _resources(draft, svc, out, at) -> None:
    deploy = svc.get("deploy") or {}
    limits = (deploy.get("resources") or {}).get("limits") or {}
    memory = limits.get("memory") or svc.get("mem_limit")
    if memory:
        out["memoryMb"] = max(1, math.ceil(int(memory) / 1048576))
        draft.notes.add(at + ("memoryMb",), "the Compose memory limit")
    else:
        draft.notes.todo(at, "no memory limit in Compose; berth gives every container one (512 MiB unless "
                             "`memoryMb` says otherwise): set what it needs")
    cpus = limits.get("cpus") or svc.get("cpus")
    if cpus:
        out["cpus"] = float(cpus)
    reservations = (deploy.get("resources") or {}).get("reservations") or {}
    devices = reservations.get("devices") or []
    if any("gpu" in (d.get("capabilities") or []) for d in devices):
        out["gpu"] = True
        draft.notes.add(at + ("gpu",), "the Compose GPU reservation; berth needs a GPU host (an EC2 g4dn/g5/... type)")
    if reservations.get("memory") or reservations.get("cpus"):
        draft.notes.add(at, "deploy.resources.reservations dropped: berth sets limits only")
    replicas = deploy.get("replicas")
    if replicas and replicas != 1:
        out["replicas"] = int(replicas)
    for key in set(deploy) - {"resources", "replicas", "placement"}:
        draft.notes.add(at, f"deploy.{key} dropped: berth replaces containers itself (create-first when stateless)")


def _depends_on(draft, roles, svc, out, at) -> None:
    deps = svc.get("depends_on") or {}
    keep = []
    for dep, spec in deps.items():
        condition = (spec or {}).get("condition", "service_started")
        if dep in draft.services:
            keep.append(draft.services[dep])
        elif dep in roles.postgres or dep in roles.redis:
            used = "postgres" if dep in roles.postgres else "redis"
            if used not in out.get("uses", {}):
                env = "DATABASE_URL" if used == "postgres" else "REDIS_URL"
                out.setdefault("uses", {})[used] = env
                draft.notes.todo(at + ("uses",), f"GUESSED {env}: the service depends on {dep} but no variable held "
                                                 f"its URL; name the variable the app reads")
        elif dep in roles.jobs:
            continue
        else:
            draft.notes.add(at, f"depends_on {dep} dropped: {dep} is not part of this app")
        if condition == "service_completed_successfully":
            draft.notes.add(at, f"waited for {dep} to finish: its command runs as afterDeploy of the service it shares "
                                "an image with")
    if keep:
        out["dependsOn"] = keep
        draft.notes.add(at + ("dependsOn",), "berth starts these first and waits until their healthchecks pass "
                                             "(Compose's condition: service_healthy, always)")


# Dropped keys the service may not work without: a person must decide what replaces them.
NEEDS_A_HUMAN = {"entrypoint", "secrets", "configs", "privileged", "devices", "network_mode", "extra_hosts",
                 "working_dir", "pid", "ipc", "sysctls"}


def _dropped(draft, svc, at) -> None:
    for key in sorted(set(svc) - HANDLED):
        if svc[key] in (None, {}, []):
            continue
        text = f"{key} dropped: {WHY_DROPPED.get(key, 'berth has no equivalent; check whether it matters')}"
        draft.notes.add(at, text, human=key in NEEDS_A_HUMAN or key not in WHY_DROPPED)
    for key in ("restart", "networks"):
        value = svc.get(key)
        if value and not (key == "networks" and set(value) == {"default"}):
            draft.notes.add(at, f"{key} dropped: {WHY_DROPPED[key]}")
    if svc.get("cap_drop"):
        draft.notes.add(at, "cap_drop dropped: berth drops every capability not in capAdd")
