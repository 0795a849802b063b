"""One Compose service -> one berth service: image or build, port, command, healthcheck, environment,
mounts, resources, dependencies. Every key berth has no place for is named in a note, with why."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from importer import checkouts, environment, healthchecks, images, mounts, probes, secrets
from importer.classify import Roles
from importer.draft import AppDraft
from rules.credentials import looks_secret
from rules.images import is_pinned, pin_fix, reference_problem

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
    name = draft.services[compose_name]
    out = draft.service(name)
    at = ("services", name)
    if name != compose_name:
        draft.notes.add(at, f"the Compose service {compose_name!r}")
    _image(draft, svc, out, at)
    _own_postgres(draft, svc, at)
    port, http = _port(draft, svc, out, at, route_port)
    _command(draft, compose_name, svc, out, at)
    healthchecks.choose(draft, compose_name, out, at, port, http)
    environment.convert(draft, roles, compose_name, out, at)
    mounts.convert(draft, compose_name, out, at)
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


def _own_postgres(draft: AppDraft, svc: dict, at: tuple) -> None:
    brings = images.own_postgres(svc.get("image") or "")
    if brings:
        draft.notes.todo(at, f"berth's shared Postgres cannot stand in for {svc['image']}: it brings {brings} (berth "
                             "creates only Postgres's trusted extensions, docs/trust.md). It stays a service of the app "
                             "(no role of its own in berth's Postgres, no pg_dump backup: scripts/backup copies its "
                             "volume while it is stopped); the app reaches it by its name as before")


def _command(draft: AppDraft, compose_name: str, svc: dict, out: dict, at: tuple) -> None:
    if not svc.get("command"):
        return
    command = [str(w) for w in svc["command"]]
    written = draft.project.raw_services.get(compose_name, {}).get("command")
    written = [written] if isinstance(written, str) else [str(w) for w in written or []]
    flag = secrets.secret_in_command(command, draft.secret_values, written)
    if flag:
        draft.notes.todo(at, f"its command passes a secret ({flag}), so it was not copied: give the value to the "
                             "service as secretEnv and have the command read it from the environment")
    else:
        out["command"] = command


def _image(draft: AppDraft, svc: dict, out: dict, at: tuple) -> None:
    if svc.get("build"):
        _build(draft, svc, out, at)
        return
    ref = svc.get("image")
    if not ref:
        draft.notes.todo(at, "neither image nor build in Compose; set one")
    elif reference_problem(ref):
        draft.notes.todo(at, f"image dropped: {reference_problem(ref)}")
    elif ref in draft.local_digests:
        out["image"] = draft.local_digests[ref]
        draft.notes.add(at + ("image",), f"Compose named {ref}; pinned to the digest this machine's Docker engine "
                                         "has for it (docker image inspect): the release Compose runs here")
    else:
        out["image"] = ref
        if not is_pinned(ref):
            draft.notes.todo(at + ("image",), pin_fix(ref, "dev runs it as it is; prod refuses it until it is pinned"))


def _build(draft: AppDraft, svc: dict, out: dict, at: tuple) -> None:
    build = svc["build"]
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
    overlay = draft.overlay.setdefault("services", {}).setdefault(at[1], {})
    overlay["build"] = {"context": os.path.relpath(context, draft.out_dir.resolve())}
    draft.overlay_notes.add(("services", at[1], "build"),
                            f"the Compose build context {os.path.relpath(context, draft.project.directory)} "
                            f"(next to {draft.project.path.name})")
    if draft.policy.versions_builds:
        _version(draft, context, overlay, at)
    draft.notes.add(at + ("build",), "built from source; the build context is a per-stack path (Pulumi.<stack>.yaml)")
    for key in set(build) - {"context", "dockerfile", "target", "args"}:
        draft.notes.add(at + ("build",), f"build.{key} dropped: berth builds with context, dockerfile, target and args")
    if svc.get("image"):
        draft.notes.add(at + ("build",), f"image {svc['image']} (the tag Compose gave the build) dropped: berth "
                                         "tags built images by `version`")


def _version(draft: AppDraft, context: Path, overlay: dict, at: tuple) -> None:
    """Outside dev a built image is tagged with its version: the commit the checkout is at, when it is one."""
    found = checkouts.commit(context)
    if found:
        overlay["version"] = found
        draft.overlay_notes.add(("services", at[1], "version"), f"the commit {context.name} is checked out at; set "
                                                                "the commit you deploy each time")
    else:
        draft.overlay_notes.todo(("services", at[1], "version"), f"{context} is not a clean git checkout: set "
                                                                 "`version:` to the commit (or tag) you build")


def _port(draft: AppDraft, svc: dict, out: dict, at: tuple, route_port: int | None) -> tuple[int | None, bool]:
    """The service's port, and whether it speaks HTTP there (a route and an HTTP check may use it)."""
    found: list[tuple[int, str]] = []
    other: list[tuple[int, str]] = []
    if route_port:
        found.append((route_port, "where the proxy sent requests"))
    check = (svc.get("healthcheck") or {}).get("test")
    words = healthchecks.test_words(check) if check else None
    match = healthchecks.URL.search(" ".join(words or []))
    if match and match.group(1):
        found.append((int(match.group(1)), "the port its healthcheck asks"))
    for peer in _peer_ports(draft, svc):
        found.append((peer, "the port other services reach it on"))
    for value in svc.get("expose") or []:
        number, _, protocol = str(value).partition("/")
        (other if protocol == "udp" else found).append((int(number.split("-")[0]), "Compose `expose`"))
    for port in svc.get("ports") or []:
        web = port.get("protocol", "tcp") == "tcp" and int(port["target"]) not in probes.NON_HTTP_PORTS
        (found if web else other).append((int(port["target"]), "the container port Compose published"))
    known = probes.known(svc.get("image") or "")
    if known and known.port:
        found.append((known.port, f"the port the image listens on ({known.source})"))
    _not_web(draft, svc, at, other)
    found = [f for f in found if f[0] not in probes.NON_HTTP_PORTS] + [f for f in found if f[0] in probes.NON_HTTP_PORTS]
    if not found and not other:
        return None, False
    port, why = found[0] if found else other[0]
    http = bool(found) and port not in probes.NON_HTTP_PORTS
    out["port"] = port
    others = sorted({p for p, _ in found + other} - {port})
    draft.notes.add(at + ("port",), f"{why}" + (f"; other ports it had ({', '.join(map(str, others))}) are not "
                                                "reachable in berth: one port per service" if others else ""))
    published = [p for p in svc.get("ports") or [] if p.get("published")]
    if published:
        shown = ", ".join(f"{p.get('host_ip', '0.0.0.0')}:{p['published']}->{p['target']}" for p in published)
        draft.notes.add(at + ("port",), f"published {shown} in Compose; in berth only the proxy publishes ports "
                                        "(docker exec or an SSH tunnel reach the rest)")
    return port, http


def _peer_ports(draft: AppDraft, svc: dict) -> list[int]:
    """Ports other services' settings reach this one on (`FLASK_SERVER_ADDR: backend:9091`, `http://api:8000`)."""
    me = next(name for name, s in draft.project.services.items() if s is svc)
    names = {me, svc.get("container_name"), svc.get("hostname")} - {None}
    found = []
    for other, peer in draft.project.services.items():
        values = [str(v) for v in (peer.get("environment") or {}).values() if v is not None] if other != me else []
        for value in values:
            for match in re.finditer(r"(?:^|//|@)([A-Za-z0-9_.-]+):(\d{2,5})\b", value):
                if match.group(1) in names and int(match.group(2)) not in found:
                    found.append(int(match.group(2)))
    return found


def _not_web(draft: AppDraft, svc: dict, at: tuple, other: list[tuple[int, str]]) -> None:
    """Published TCP/UDP ports that carry no HTTP: berth's proxy cannot reach them from outside. A data
    server's (a database, a broker) were published for convenience: they stay inside the app."""
    published = [p for p in svc.get("ports") or [] if p.get("published") and (
        p.get("protocol", "tcp") != "tcp" or int(p["target"]) in probes.NON_HTTP_PORTS)]
    image = svc.get("image") or ""
    if published and (images.is_one_of(image, images.INTERNAL_IMAGES) or images.own_postgres(image)):
        draft.notes.add(at, f"a data server published {', '.join(str(p['published']) for p in published)} for "
                            "convenience; in berth it is reached from the app's own services only")
    elif published:
        shown = ", ".join(f"{p['published']}/{p.get('protocol', 'tcp')}" for p in published)
        draft.notes.todo(at, f"Compose published {shown}, which is not HTTP: berth's proxy carries HTTP and HTTPS "
                             "only, so nothing outside the host reaches that port in berth")


def _resources(draft: AppDraft, svc: dict, out: dict, at: tuple) -> None:
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


def _depends_on(draft: AppDraft, roles: Roles, svc: dict, out: dict, at: tuple) -> None:
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
        elif dep in roles.jobs or dep in roles.helpers:
            continue
        else:
            draft.notes.add(at, f"depends_on {dep} dropped: {dep} is not part of this app")
        if condition == "service_completed_successfully" and dep in roles.jobs:
            draft.notes.add(at, f"waited for {dep} to finish: its command runs as afterDeploy of the service it shares "
                                "an image with")
        elif condition == "service_completed_successfully":
            draft.notes.add(at, f"waited for the one-off {dep} to finish: see the app's TODO about it")
    if keep:
        out["dependsOn"] = keep
        draft.notes.add(at + ("dependsOn",), "berth starts these first and waits until their healthchecks pass "
                                             "(Compose's condition: service_healthy, always)")


# Dropped keys the service may not work without: a person must decide what replaces them.
NEEDS_A_HUMAN = {"entrypoint", "secrets", "configs", "privileged", "devices", "network_mode", "extra_hosts",
                 "working_dir", "pid", "ipc", "sysctls"}


def _dropped(draft: AppDraft, svc: dict, at: tuple) -> None:
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
