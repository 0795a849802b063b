"""A loaded Compose project -> one draft per app: the app file's data, its overlay, and the notes."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

from config.conventions import volume
from importer import digests, grouping, jobs, nginx, proxies, routes, secrets, services, shared
from importer.classify import Roles, classify, image_key
from importer.compose import ComposeProject
from importer.draft import AppDraft
from importer.errors import ImportFailed
from rules.images import is_pinned

ORDER = ("name", "description", "hostname", "network", "database", "redis", "external", "services", "routes", "maxBodyMb",
         "headers")
SERVICE_ORDER = ("kind", "image", "build", "sitePath", "port", "command", "healthcheck", "uses", "env", "secretEnv",
                 "volumes", "sharedVolumes", "hostDirs", "tmpfs", "user", "capAdd", "memoryMb", "cpus", "replicas",
                 "gpu", "singleton", "volumeOwner", "dependsOn", "afterDeploy")


def convert(project: ComposeProject, out_dir: Path, app: str | None = None, nginx_confs: Sequence[Path] = (),
            stack: str = "dev") -> list[AppDraft]:
    roles = classify(project)
    servers, conf_notes = proxies.servers(project, roles, list(nginx_confs))
    replicas = _replicas(project, roles, servers)
    copies = {c for others in replicas.values() for c in others}
    roles = dataclasses.replace(roles, app=tuple(n for n in roles.app if n not in copies))
    if not roles.app:
        raise ImportFailed(f"{project.path}: no service to import: every service is a database or a proxy, which "
                           "berth provides itself")
    groups = grouping.group(project.services, roles.app, servers, grouping.app_name(project.name), app,
                            _database_name(project, roles))
    values = secrets.project_secrets(project)
    unpinned = sorted({s["image"] for s in project.services.values() if s.get("image") and not s.get("build")
                       and not is_pinned(s["image"])})
    pins = digests.local(unpinned) if unpinned else {}
    drafts = [_draft(project, roles, group, out_dir, conf_notes, stack, values, replicas, pins) for group in groups]
    _unreached(drafts, roles)
    for helper in roles.helpers:  # the app it serves, else the first
        jobs.helper(next((d for d in drafts if jobs.belongs(d, helper)), drafts[0]), helper)
    for draft in drafts:
        _order(draft)
    return drafts


def _database_name(project: ComposeProject, roles: Roles) -> str | None:
    """An app named after its Compose database (`customer_support` -> customer-support) keeps that database's
    name in berth, which names each app's database after the app."""
    for name in roles.postgres:
        env = project.services[name].get("environment") or {}
        db = shared.database_name(env.get("POSTGRES_DB"))
        if db:
            return db.replace("_", "-")
    return None


def _replicas(project: ComposeProject, roles: Roles, servers: list[nginx.Server]) -> dict[str, list[str]]:
    """Services one nginx upstream balanced over that run one image (`web1`, `web2`): one berth service
    with replicas. Returns the service kept -> those merged into it."""
    merged: dict[str, list[str]] = {}
    for loc in (loc for server in servers for loc in server.locations):
        hosts = list(dict.fromkeys(project.service_for_host(h) for h in loc.upstream))
        apps = [h for h in hosts if h is not None and h in roles.app]
        if len(hosts) > 1 and len(apps) == len(hosts) and len({image_key(project.services[h]) for h in apps}) == 1:
            merged[apps[0]] = apps[1:]
    return merged


def _draft(project: ComposeProject, roles: Roles, group: grouping.AppGroup, out_dir: Path, conf_notes: list[str],
           stack: str, values: frozenset[str], replicas: dict[str, list[str]], pins: dict[str, str]) -> AppDraft:
    draft = AppDraft(group.name, project, group.services, out_dir, hostname=group.hostname, stack=stack,
                     secret_values=values, replicas={k: v for k, v in replicas.items() if k in group.services},
                     local_digests=pins)
    draft.data.update({"name": group.name, "description": f"imported from {project.path.name}",
                       "hostname": group.name})
    draft.notes.add((), f"Imported from {project.path.name} by scripts/import ({group.why}). Every choice and "
                        "every dropped Compose key is a comment; `REVIEW`, `GUESSED` and the summary say what a "
                        "person must check.")
    if group.hostname:
        draft.notes.add(("hostname",), f"served at {group.hostname} before: the app's label; the stack's domain "
                                       "completes it (or the stack overlay's full hostname)")
        if not draft.policy.on_this_machine:  # this machine serves <app>.localhost
            draft.overlay["hostname"] = group.hostname
    for text in conf_notes:
        draft.notes.add(("routes",), text)
    ports = routes.from_nginx(draft, group.server) if group.server else routes.from_ports(draft, bool(roles.proxy))
    for compose_name in group.services:
        name = services.convert(draft, roles, compose_name, ports.get(compose_name))
        if compose_name in draft.replicas:
            copies = draft.replicas[compose_name]
            draft.service(name)["replicas"] = 1 + len(copies)
            draft.notes.add(("services", name, "replicas"), f"nginx balanced over {', '.join([compose_name, *copies])}, "
                                                            "copies of one image: berth runs them as replicas")
    jobs.convert(draft, roles)
    _shared(draft, roles)
    _network(draft)
    _read_only_root(draft)
    _proxies(draft, roles)
    _data_moves(draft)
    return draft


def _proxies(draft: AppDraft, roles: Roles) -> None:
    for proxy in roles.proxy:
        draft.notes.add(("routes",), f"the Compose {proxy} service is replaced by berth's proxy (Caddy: HTTPS "
                                     "certificates automatic, the only container publishing ports)")
        kept = [m["target"] for m in draft.project.services[proxy].get("volumes") or [] if m.get("source")]
        if kept:
            draft.notes.add(("routes",), f"what the Compose {proxy} kept ({', '.join(kept)}: its configuration, "
                                         "certificates and files) is not carried over: berth's proxy obtains its own "
                                         "certificates, and routes say what it serves")


def _data_moves(draft: AppDraft) -> None:
    """Each volume whose data Compose kept elsewhere (another Docker volume name, a host directory): a TODO
    with the commands that move it. Outside dev every volume moves to a new host."""
    for text in draft.data_moves.values():
        draft.notes.todo(("services",), text)
    if not draft.policy.on_this_machine:
        kept = sorted(v for v in {v for svc in draft.data.get("services", {}).values()
                                  for v in [*svc.get("volumes", {}), *svc.get("sharedVolumes", {})]}
                      if volume(draft.name, v) not in draft.data_moves)
        if kept:
            draft.notes.todo(("services",), f"the {draft.stack} host is a new host: move each volume's data there "
                                            f"({', '.join(kept)}): `scripts/volume backup <volume> > <volume>.tar.gz` "
                                            "where Compose runs it, then `DOCKER_HOST=ssh://ubuntu@<host> "
                                            "scripts/volume restore <volume> < <volume>.tar.gz` after the first deploy")


def _reached(draft: AppDraft, names: tuple[str, ...]) -> list[str]:
    """Of `names` (the file's Postgres or Redis servers), those this app's services depend on or name in a
    setting, most named first (a URL counts twice: it is what berth's `uses` replaces); all of them when
    none is named."""
    counts = dict.fromkeys(names, 0)
    for compose_name in draft.services:
        svc = draft.project.services[compose_name]
        text = " ".join(str(v) for v in (svc.get("environment") or {}).values())
        for name in names:
            other = draft.project.services[name]
            for host in {h for h in (name, other.get("container_name"), other.get("hostname")) if h is not None}:
                counts[name] += len(re.findall(rf"(?<![\w.-]){re.escape(host)}(?![\w.-])", text))
                counts[name] += len(re.findall(rf"://[^/\s]*(?<![\w.-]){re.escape(host)}(?![\w.-])", text))
            counts[name] += name in (svc.get("depends_on") or {})
    named = sorted((n for n in names if counts[n]), key=lambda n: -counts[n])
    return named or list(names)


def _shared(draft: AppDraft, roles: Roles) -> None:
    used = {u for svc in draft.data.get("services", {}).values() for u in svc.get("uses", {})}
    for kind, replace in (("postgres", shared.database), ("redis", shared.redis)):
        servers = _reached(draft, getattr(roles, kind)) if kind in used else []
        if not servers:
            continue
        replace(draft, servers[0])
        if kind == "postgres":
            draft.shared.setdefault("postgres", {})
        for extra in servers[1:]:
            kept = [m["target"] for m in draft.project.services[extra].get("volumes") or [] if m.get("source")]
            draft.notes.todo((kind if kind == "redis" else "database",),
                             f"the app also reached the Compose {extra} ({kind}); berth gives an app one "
                             f"{'database' if kind == 'postgres' else 'Redis'}, {servers[0]}'s stand-in: the "
                             f"services that used {extra} now share it"
                             + (f", and {extra}'s data ({', '.join(kept)}) must be moved into it" if kept else ""))
    for kind in ("postgres", "redis"):
        if kind in used and not getattr(roles, kind):
            draft.notes.todo((), f"a service uses {kind} but the Compose file has no {kind} service")
    for svc_name in [*roles.postgres, *roles.redis]:
        if not any(svc_name in (draft.project.services[s].get("depends_on") or {}) for s in draft.services) and \
                not used & {"postgres", "redis"}:
            draft.notes.add((), f"the Compose {svc_name} service is not used by this app's services; not imported")


def _unreached(drafts: list[AppDraft], roles: Roles) -> None:
    """A Postgres or Redis no imported service reaches by any setting berth reads (the app has its URL in its
    own config files): never dropped in silence."""
    used = {u for d in drafts for svc in d.data.get("services", {}).values() for u in svc.get("uses", {})}
    for kind in ("postgres", "redis"):
        for svc_name in getattr(roles, kind) if kind not in used else ():
            drafts[0].notes.todo((), f"the Compose {svc_name} service ({kind}) is reached by no setting berth reads "
                                     f"(the app may name it in its own config files). If the app uses it, add "
                                     f"`uses: {{{kind}: <the variable it reads>}}` to that service: berth then gives "
                                     f"the app its own {'database' if kind == 'postgres' else 'Redis'}, and its data "
                                     "must be moved (docs/import.md, step 6)")


def _network(draft: AppDraft) -> None:
    subnets = [cfg.get("subnet") for net in draft.project.networks.values()
               for cfg in ((net.get("ipam") or {}).get("config") or []) if cfg.get("subnet")]
    if len(subnets) == 1:
        draft.data["network"] = {"subnet": subnets[0]}
        draft.notes.add(("network",), "the Compose network's fixed subnet")
    elif subnets:
        draft.notes.todo(("network",), f"Compose fixes several subnets ({', '.join(subnets)}); berth gives an app one")


def _read_only_root(draft: AppDraft) -> None:
    for name, svc in draft.data.get("services", {}).items():
        if svc.get("kind") == "static":
            continue
        if "/tmp" not in svc.get("tmpfs", []):
            svc.setdefault("tmpfs", []).insert(0, "/tmp")
            draft.notes.add(("services", name, "tmpfs"), "berth runs services on a read-only root; /tmp is writable "
                                                         "memory. Add any other path the app writes to")


def _order(draft: AppDraft) -> None:
    data = draft.data
    services = data.get("services", {})
    for svc_name, svc in list(services.items()):
        services[svc_name] = {k: svc[k] for k in SERVICE_ORDER if k in svc} | svc
    # servers first, in the Compose file's order; the static sites nginx served from files after them
    data["services"] = dict(sorted(services.items(), key=lambda item: item[1].get("kind") == "static"))
    if not data.get("routes"):
        data.pop("routes", None)
    draft.data = {k: data[k] for k in ORDER if k in data} | data
