"""One-off Compose services (a migrator, a permissions fix, a bucket or replica-set set-up): berth runs
no container that is meant to exit, so none becomes a service that runs forever.

- A job that runs the image of one of the app's services is that service's `afterDeploy` hook.
- A `chown` of a volume's mount point is `volumeOwner` of the services that mount it (berth gives a
  fresh volume its owner before the service first starts).
- Anything else is a TODO that says what it ran, to be run once by hand or folded into a hook.
"""

from __future__ import annotations

import re

from importer import secrets
from importer.classify import Roles, job_command
from importer.draft import AppDraft

CHOWN = re.compile(r"\bchown\s+(?:-\w+\s+)*(\d+)(?::(\d+))?\s+(\S+)")


def convert(draft: AppDraft, roles: Roles) -> None:
    """The hooks of this app's services."""
    for job, home in roles.jobs.items():
        if home in draft.services:
            _hook(draft, job, draft.services[home])


def belongs(draft: AppDraft, name: str) -> bool:
    """The helper waits for, mounts a volume of, or is waited for by one of this app's services."""
    project, mine = draft.project, set(draft.services)
    svc = project.services[name]
    sources = {m.get("source") for m in svc.get("volumes") or [] if m.get("source")}
    waited = any(name in (project.services[s].get("depends_on") or {}) for s in mine)
    shares = any(m.get("source") in sources for s in mine for m in project.services[s].get("volumes") or [])
    return waited or shares or bool(set(svc.get("depends_on") or {}) & mine)


def _hook(draft: AppDraft, job: str, name: str) -> None:
    command = job_command(draft.project.services[job])
    if not command:
        draft.notes.todo(("services", name), f"the one-off Compose service {job!r} runs its image's own command; "
                                             "add it as this service's afterDeploy if it must run after each deploy")
        return
    if secrets.secret_in_command(command, draft.secret_values):
        draft.notes.todo(("services", name), f"the one-off Compose service {job!r} passes a secret on its command "
                                             "line, so it was not copied: add an afterDeploy that reads it from the "
                                             "environment")
        return
    draft.service(name).setdefault("afterDeploy", []).append({"command": command})
    draft.notes.add(("services", name, "afterDeploy"),
                    f"the one-off Compose service {job!r} (same image): berth runs it in this service once it is "
                    "healthy, and again whenever its image changes")


def helper(draft: AppDraft, name: str) -> None:
    """A one-off service no service of the app shares an image with: volumeOwner, or a TODO."""
    svc = draft.project.services[name]
    command = job_command(svc)
    owner = CHOWN.search(" ".join(command))
    if owner and _volume_owner(draft, svc, owner):
        return
    shown = " ".join(command) if not secrets.secret_in_command(command, draft.secret_values) else "(a command with a secret)"
    draft.notes.todo((), f"the one-off Compose service {name!r} ({svc.get('image') or 'built'}) ran `{shown}` once; "
                         "berth runs no one-off containers, so it is not imported: run it by hand once after the first "
                         "deploy, or make it an afterDeploy hook of a service whose image can run it")


def _volume_owner(draft: AppDraft, svc: dict, owner: re.Match) -> bool:
    """`chown -R 1000:1000 /data` on a volume the app's services mount -> their volumeOwner."""
    uid, gid, path = owner.group(1), owner.group(2) or owner.group(1), owner.group(3).rstrip("/")
    source = next((m.get("source") for m in svc.get("volumes") or [] if m["target"].rstrip("/") == path), None)
    users = [name for compose_name, name in draft.services.items()
             if any(m.get("source") == source for m in draft.project.services[compose_name].get("volumes") or [])]
    if not source or not users:
        return False
    for name in users:
        draft.service(name)["volumeOwner"] = f"{uid}:{gid}"
        draft.notes.add(("services", name, "volumeOwner"), f"a one-off Compose service chowned this volume to "
                                                           f"{uid}:{gid}; berth gives a fresh volume that owner itself")
    return True
