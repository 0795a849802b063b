"""A service's Compose mounts -> berth's volumes, shared volumes, host dirs and tmpfs, leaving no data
behind without a TODO that says where it is and how to move it.

- A named volume keeps the Docker volume Compose kept its data in (`<project>_<name>`, or its `name:`)
  when berth's name for it, `<app>_<name>`, is that name; otherwise the TODO carries the
  `scripts/volume` commands that move the data.
- A bind-mounted directory the service writes is data: a volume (backed up, kept when the host is
  replaced), with the commands that copy the directory in. One it only reads is configuration: a
  host dir. A source checkout (the build context) is mounted in dev only. A single file is not
  mounted (COPY it into the image).
- Docker creates a bind source that does not exist as a directory (docs.docker.com, "Bind mounts":
  "-v ... It is always created as a directory"; Compose's short syntax sets `create_host_path`), so a
  path missing here is a directory whatever its name looks like (`./n8n:/home/node/.n8n`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from config.conventions import volume as docker_volume
from importer.draft import AppDraft

TIME_ZONE_FILES = ("/etc/localtime", "/etc/timezone")


def volume_key(text: str) -> str:
    """A berth volume name from anything: lowercase letters, digits and '_', starting with a letter."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    return (name if name[:1].isalpha() else "v_" + name)[:41].rstrip("_")


def convert(draft: AppDraft, compose_name: str, out: dict, at: tuple) -> None:
    svc = draft.project.services[compose_name]
    for mount in svc.get("volumes") or []:
        kind, source = mount.get("type"), mount.get("source")
        target = mount["target"].rstrip("/") or "/"
        read_only = bool(mount.get("read_only"))
        if kind == "tmpfs":
            out.setdefault("tmpfs", []).append(target)
        elif kind == "volume" and not source:
            draft.notes.add(at, f"anonymous volume {target} dropped (a dev trick to keep a dependency dir from a "
                                "bind mount); the image's own copy is used")
        elif kind == "volume":
            _named(draft, compose_name, out, at, source, target, read_only)
        elif kind == "bind":
            _bind(draft, compose_name, out, at, source, target, read_only)
        else:
            draft.notes.todo(at, f"a {kind} mount at {target} has no berth equivalent; dropped")


def _sharers(draft: AppDraft, compose_name: str, source: str) -> list[str]:
    return [other for other in draft.services if other != compose_name and any(
        m.get("source") == source for m in draft.project.services[other].get("volumes") or [])]


def _claim(draft: AppDraft, wanted: str, source: str, compose_name: str) -> str:
    """`wanted`, or `<service>_<wanted>` when another source already has that name in this app."""
    owners = draft.volume_sources
    name = wanted if owners.get(wanted, source) == source else volume_key(f"{draft.berth_name(compose_name)}_{wanted}")
    owners[name] = source
    return name


def _mount(draft: AppDraft, compose_name: str, out: dict, at: tuple, name: str, target: str, source: str) -> str:
    """Mount volume `name` at `target`, shared when another service or replica mounts it too."""
    svc = draft.project.services[compose_name]
    sharers = _sharers(draft, compose_name, source)
    replicas = (svc.get("deploy") or {}).get("replicas") or 1
    where = "sharedVolumes" if sharers or replicas > 1 else "volumes"
    out.setdefault(where, {})[name] = target
    if where == "sharedVolumes":
        who = ", ".join((["several replicas"] if replicas > 1 else []) + [draft.services[s] for s in sharers])
        draft.notes.todo(at + (where,), f"{name} is mounted by {who} at once: only safe for files written under "
                                        "unique names (uploads), never for a database's files")
    return where


def _named(draft: AppDraft, compose_name: str, out: dict, at: tuple, source: str, target: str, read_only: bool) -> None:
    on_disk = draft.project.volume_name(source)
    prefix = draft.name.replace("-", "_") + "_"
    wanted = volume_key(on_disk[len(prefix):] if on_disk.startswith(prefix) else _unprefixed(draft, source))
    name = _claim(draft, wanted, f"volume:{source}", compose_name)
    where = _mount(draft, compose_name, out, at, name, target, source)
    ours = docker_volume(draft.name, name)
    if ours == on_disk:
        draft.notes.add(at + (where,), f"the Compose volume {source}: berth mounts the same Docker volume, {on_disk}")
    else:
        draft.data_moves[ours] = (f"Compose keeps {target}'s data in the Docker volume {on_disk}; berth's is {ours}. "
                                  f"Move it once: `scripts/volume backup {on_disk} > {name}.tar.gz` where Compose ran "
                                  f"it, then after the first `pulumi up`: `scripts/volume restore {ours} < {name}.tar.gz`")
        draft.notes.add(at + (where,), f"the Compose volume {source} (Docker volume {on_disk}); berth's is {ours}")
    if read_only:
        draft.notes.add(at + (where,), f"{name} was mounted read-only; berth mounts volumes read-write")


def _unprefixed(draft: AppDraft, source: str) -> str:
    for prefix in (draft.project.name, draft.name, draft.name.replace("-", "_")):
        for sep in ("_", "-"):
            if source.startswith(prefix + sep) and len(source) > len(prefix) + 1:
                return source[len(prefix) + 1:]
    return source


def _bind(draft: AppDraft, compose_name: str, out: dict, at: tuple, source: str, target: str, read_only: bool) -> None:
    svc = draft.project.services[compose_name]
    src = Path(source)
    shown = draft.shown(source)
    if source.endswith("docker.sock"):
        draft.notes.todo(at, f"{source} (the Docker socket) is refused: it gives the container root on the host")
    elif target in TIME_ZONE_FILES:
        draft.notes.add(at, f"the host's {target} dropped: set the time zone with env TZ if the app needs one")
    elif src.is_file():
        draft.notes.todo(at, f"the file {shown} mounted at {target} was dropped: berth mounts directories. COPY it "
                             "into the image, or pass its settings as env")
    elif _is_checkout(svc, src):
        _checkout(draft, at, src, shown, target)
    elif read_only:
        name = _claim(draft, volume_key(src.name or "root"), f"bind:{source}", compose_name)
        out.setdefault("hostDirs", {})[name] = {"target": target, "readOnly": True}
        draft.notes.todo(at + ("hostDirs",), f"{name}: the Compose bind mount {shown}:{target} (read-only). Copy its "
                                             f"files to the host's data dir, host-dirs/{draft.name}/{name} "
                                             f"(/srv/berth/host-dirs/{draft.name}/{name} on EC2)")
    else:
        _data_dir(draft, compose_name, out, at, source, shown, target)


def _is_checkout(svc: dict, src: Path) -> bool:
    context = Path((svc.get("build") or {}).get("context") or "/nonexistent")
    return bool(svc.get("build")) and (src == context or context.is_relative_to(src) or src.is_relative_to(context))


def _checkout(draft: AppDraft, at: tuple, src: Path, shown: str, target: str) -> None:
    if not draft.policy.on_this_machine:
        draft.notes.add(at, f"the Compose bind mount {shown}:{target} mounted source code for live reload; outside "
                            "dev the image carries its code")
        return
    dev = draft.overlay.setdefault("services", {}).setdefault(at[1], {}).setdefault("hostDirs", {})
    dev["code"] = {"source": os.path.relpath(src, draft.out_dir.resolve()), "target": target, "readOnly": True}
    draft.overlay_notes.add(("services", at[1], "hostDirs"),
                            f"the Compose bind mount {shown}:{target}: source code for live reload, dev only "
                            "(read-only; a staging/prod image carries its code)")


def _data_dir(draft: AppDraft, compose_name: str, out: dict, at: tuple, source: str, shown: str, target: str) -> None:
    """A directory the service writes: its data, on a volume, with the commands that copy it in."""
    name = _claim(draft, volume_key(Path(source).name or "root"), f"bind:{source}", compose_name)
    where = _mount(draft, compose_name, out, at, name, target, source)
    ours = docker_volume(draft.name, name)
    draft.data_moves[ours] = (f"{target} was the host directory {shown}; its files now live in the Docker volume "
                              f"{ours} (backed up, kept when the host is replaced). Copy them in once: `tar -czf "
                              f"{name}.tar.gz -C {source} .`, then after the first `pulumi up`: "
                              f"`scripts/volume restore {ours} < {name}.tar.gz`")
    draft.notes.add(at + (where,), f"the Compose bind mount {shown}:{target}, the service's data: a volume")
