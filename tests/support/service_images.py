"""The image each service of a run gets on the engine: a stand-in, made specific to that service.

No registry is reachable, so a pinned public image (`postgres:17.6-alpine`) becomes the stand-in
engine-images built for its repository, and an app's own image (a dev build, or the ECR image a prod
host pulls) becomes one of the app stand-ins, chosen by what the app file says about the service:

| the app file says                                        | stand-in          |
| -------------------------------------------------------- | ----------------- |
| `kind: static`                                           | `static-site`     |
| its healthcheck runs `node` (probe or command)           | `node-frontend`   |
| `volumeOwner` (or a numeric `user`): the image runs as    | `nonroot-service` |
|  that user and never creates its mount points            |                   |
| anything else (python, curl or wget probe)               | `python-backend`  |

and then specific to it, in one small build on top (`FROM <stand-in>`): `PORT`/`STANDIN_PORT` set to
the service's port (the stand-in servers listen there, as a Next.js server reads `PORT`), the
image's `USER` for a non-root service (its `volumeOwner` uid:gid, as the seeds' `USER app`),
`STANDIN_SERVICE` (`<app>/<service>`, which the stand-in server reports), `STANDIN_DATA_DIR` (its
first volume, where the server's data endpoint writes) and `STANDIN_SOURCE` (the
image the program asked for, so a new version is a new image id, as a real new build is), a static
site's files at its `sitePath`, and an executable for each
`afterDeploy` command that records its run in `/tmp/berth-after-deploy.log` and exits 0 (the app's
`alembic` exists in its image; the stand-in's stands for it).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from typing import Protocol

import docker

from config.app import App, Service
from config.deployment import Deployment

HOOK_LOG = "/tmp/berth-after-deploy.log"
SITE_MARKER = "berth stand-in site"


class StandIns(Protocol):
    """What engine-images provides (tests/support/standins.py)."""

    def image_for(self, ref: str) -> str: ...

    def app_image(self, role: str) -> str: ...


def role(svc: Service) -> str:
    """Which app stand-in a service runs on the engine (see the module docstring)."""
    if svc.kind == "static":
        return "static-site"
    check = svc.healthcheck
    runtime = (check.command[0] if check.command else check.probe) if check else None
    if runtime == "node":
        return "node-frontend"
    return "nonroot-service" if svc.volume_owner_ids is not None else "python-backend"


def site_files(app: str, svc: str) -> dict[str, str]:
    """A static site's files: an index naming the service, an asset, a nested page."""
    return {
        "index.html": f"<!doctype html><title>{app}</title><p>{SITE_MARKER} {app}/{svc}</p>\n",
        "assets/app.js": f"console.log({json.dumps(f'{app}/{svc}')});\n",
        "about/index.html": f"<!doctype html><p>{SITE_MARKER} {app}/{svc}: about</p>\n",
    }


def hook_script(command: str) -> str:
    return ("#!/bin/sh\n"
            f"# stand-in for the app's `{command}`: records that the after-deploy hook ran\n"
            f'echo "{command} $*" >> {HOOK_LOG}\n'
            f'echo "stand-in {command} $*: done"\n')


def derived_context(base: str, app: App, svc_name: str, svc: Service, source: str) -> bytes:
    """The build context (a tar with its Dockerfile) of one service's image.

    As few instructions as possible: with the engine's vfs storage driver each one copies the whole
    image once. The environment says which service and which program image this is, so a new version
    is a new image id, as a real new build is.
    """
    env = {"STANDIN_SERVICE": f"{app.name}/{svc_name}", "STANDIN_SOURCE": source}
    if svc.port is not None:
        env.update(PORT=str(svc.port), STANDIN_PORT=str(svc.port))
    if svc.mounted_volumes:
        env["STANDIN_DATA_DIR"] = next(iter(svc.mounted_volumes.values()))  # where its data endpoint writes
    lines = [f"FROM {base}", "ENV " + " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(env.items()))]
    if role(svc) == "nonroot-service":
        uid, gid = svc.volume_owner_ids
        lines.append(f"USER {uid}:{gid}")
    files: dict[str, tuple[str, int]] = {}
    if svc.kind == "static":
        for path, text in site_files(app.name, svc_name).items():
            files[f"root{svc.site_path}/{path}"] = (text, 0o644)
    for command in sorted({hook.command[0] for hook in svc.after_deploy}):
        files[f"root/usr/local/bin/{command}"] = (hook_script(command), 0o755)
    if files:
        lines.append("COPY root/ /")
    files["Dockerfile"] = ("\n".join(lines) + "\n", 0o644)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, (text, mode) in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class ServiceImages:
    """Builds (once per service and program image) and returns the engine's image id."""

    def __init__(self, client: docker.DockerClient, standins: StandIns, deployment: Deployment):
        self._client, self._standins, self._deployment = client, standins, deployment
        self._services = {f"{a.name}-{s}": (a, s) for a in deployment.apps.values() for s in a.services}
        self._built: dict[tuple[str, str], str] = {}
        self._building: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def app_image(self, role_name: str) -> str:
        """An app stand-in as built (e.g. a python image for probes)."""
        return self._standins.app_image(role_name)

    def pinned(self, ref: str) -> str:
        """A pinned public image: the stand-in for its repository."""
        return self._standins.image_for(ref)

    def service(self, component: str) -> tuple[App, str, Service]:
        """The app and service a `berth:image:ServiceImage` component named `component` is for."""
        app, svc_name = self._services[component]
        return app, svc_name, app.services[svc_name]

    def for_service(self, component: str, source: str) -> str:
        """The image of the service whose ServiceImage is `component`, for the program's image `source`."""
        app, svc_name, svc = self.service(component)
        if svc.image is not None:
            return self.pinned(svc.image)
        key = (component, source)
        with self._lock:  # one build per service image; different services build at once
            lock = self._building.setdefault(key, threading.Lock())
        with lock:
            if key not in self._built:
                context = derived_context(self._standins.app_image(role(svc)), app, svc_name, svc, source)
                tag = f"berth-applied/{component}:{hashlib.sha256(context).hexdigest()[:12]}"
                image, _ = self._client.images.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag,
                                                     rm=True, forcerm=True)
                self._built[key] = image.id
            return self._built[key]
