"""A loaded Compose project -> one draft per app: the app file's data, its overlay, and the notes."""

from __future__ import annotations

from pathlib import Path

from importer import grouping, nginx, routes, services, shared
from importer.classify import Roles, classify
from importer.compose import ComposeProject
from importer.draft import AppDraft
from importer.errors import ImportFailed

ORDER = ("name", "description", "hostname", "network", "database", "redis", "external", "services", "routes", "maxBodyMb",
         "headers")
SERVICE_ORDER = ("kind", "image", "build", "sitePath", "port", "command", "healthcheck", "uses", "env", "secretEnv",
                 "volumes", "sharedVolumes", "hostDirs", "tmpfs", "user", "capAdd", "memoryMb", "cpus", "replicas",
                 "gpu", "singleton", "dependsOn", "afterDeploy")


def convert(project: ComposeProject, out_dir: Path, app: str | None = None, nginx_confs: list[Path] = (),
            stack: str = "dev") -> list[AppDraft]:
    roles = classify(project)
    servers, conf_notes = _nginx(project, roles, list(nginx_confs))
    if not roles.app:
        raise ImportFailed(f"{project.path}: no service to import: every service is a database or a proxy, which "
                           "berth provides itself")
    groups = grouping.group(project.services, roles.app, servers, grouping.app_name(project.name), app,
                            _database_name(project, roles))
    drafts = [_draft(project, roles, group, out_dir, conf_notes, stack) for group in groups]
    return drafts


def _database_name(project: ComposeProject, roles: Roles) -> str | None:
    """An app named after its Compose database (`customer_support` -> customer-support) keeps that database's
    name in berth, which names each app's database after the app."""
    for name in roles.postgres:
        env = project.services[name].get("environment") or {}
        db = env.get("POSTGRES_DB")
        if db and grouping.NAME.fullmatch(db.replace("_", "-")):
            return db.replace("_", "-")
    return None


def _nginx(project: ComposeProject, roles: Roles, confs: list[Path]) -> tuple[list[nginx.Server], list[str]]:
    said = []
    if not confs:
        for proxy in roles.proxy:
            for mount in project.services[proxy].get("volumes") or []:
                source, target = Path(mount.get("source") or ""), mount.get("target", "")
                if mount.get("type") == "bind" and target.startswith("/etc/nginx") and target.endswith(".conf") \
                        and source.is_file():
                    confs.append(source)
                    said.append(f"routes read from {source.name}, the config the Compose {proxy} service mounts")
    found = []
    for conf in confs:
        if not Path(conf).is_file():
            raise ImportFailed(f"{conf}: no such nginx config (--nginx-conf)")
        try:
            found += nginx.servers(Path(conf).read_text(encoding="utf-8"))
        except nginx.NginxSyntaxError as err:
            raise ImportFailed(f"{conf}: {err}") from err
    if roles.proxy and not confs:
        said.append(f"the Compose {', '.join(roles.proxy)} proxy's config was not given (--nginx-conf): routes are "
                    "guessed from published ports")
    return found, said


def _draft(project: ComposeProject, roles: Roles, group: grouping.AppGroup, out_dir: Path, conf_notes: list[str],
           stack: str) -> AppDraft:
    draft = AppDraft(group.name, project, group.services, out_dir, hostname=group.hostname)
    draft.data.update({"name": group.name, "description": f"imported from {project.path.name}",
                       "hostname": group.name})
    draft.notes.add((), f"Imported from {project.path.name} by scripts/import ({group.why}). Every choice and "
                        "every dropped Compose key is a comment; `REVIEW`, `GUESSED` and the summary say what a "
                        "person must check.")
    if group.hostname:
        draft.notes.add(("hostname",), f"served at {group.hostname} before: the app's label; the stack's domain "
                                       "completes it (or the stack overlay's full hostname)")
        if stack != "dev":
            draft.overlay["hostname"] = group.hostname
    for text in conf_notes:
        draft.notes.add(("routes",), text)
    ports = routes.from_nginx(draft, group.server) if group.server else routes.from_ports(draft, bool(roles.proxy))
    for compose_name in group.services:
        services.convert(draft, roles, compose_name, ports.get(compose_name))
    _hooks(draft, roles)
    _shared(draft, roles)
    _network(draft)
    _read_only_root(draft)
    for proxy in roles.proxy:
        draft.notes.add(("routes",), f"the Compose {proxy} service is replaced by berth's proxy (Caddy: HTTPS "
                                     "certificates automatic, the only container publishing ports)")
    _order(draft)
    return draft


def _hooks(draft: AppDraft, roles: Roles) -> None:
    for job, home in roles.jobs.items():
        if home not in draft.services:
            continue
        name = draft.services[home]
        command = [str(w) for w in draft.project.services[job].get("command") or []]
        draft.service(name).setdefault("afterDeploy", []).append({"command": command})
        draft.notes.add(("services", name, "afterDeploy"),
                        f"the one-off Compose service {job!r} (same image): berth runs it in this service once it is "
                        "healthy, and again whenever its image changes")


def _shared(draft: AppDraft, roles: Roles) -> None:
    used = {u for svc in draft.data.get("services", {}).values() for u in svc.get("uses", {})}
    if "postgres" in used and roles.postgres:
        shared.database(draft, roles.postgres[0])
        draft.shared.setdefault("postgres", {})
    if "redis" in used and roles.redis:
        shared.redis(draft, roles.redis[0])
    for kind in ("postgres", "redis"):
        if kind in used and not getattr(roles, kind):
            draft.notes.todo((), f"a service uses {kind} but the Compose file has no {kind} service")
    for svc_name in [*roles.postgres, *roles.redis]:
        if not any(svc_name in (draft.project.services[s].get("depends_on") or {}) for s in draft.services) and \
                not used & {"postgres", "redis"}:
            draft.notes.add((), f"the Compose {svc_name} service is not used by this app's services; not imported")


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
