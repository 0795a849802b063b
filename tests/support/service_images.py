"""The image each service of a run gets on the engine: a stand-in, made specific to that service.

No registry is reachable, so a pinned public image (`postgres:17.6-alpine`) becomes the stand-in
built for its repository (for Postgres, for its major: tests/support/standins.py), and an app's own image (a dev build, or the ECR image a prod
host pulls) becomes one of the app stand-ins, chosen by what the app file says about the service:

| the app file says                                        | stand-in          |
| -------------------------------------------------------- | ----------------- |
| `kind: static`                                           | `static-site`     |
| its healthcheck runs `node` (probe or command)           | `node-frontend`   |
| `volumeOwner` (or a numeric `user`): the image runs as    | `nonroot-service` |
|  that user and never creates its mount points            |                   |
| anything else (python, curl or wget probe)               | `python-backend`  |

and then specific to it, as an image loaded over the stand-in's own layers (a new config, and one small
layer for its files; no build, which on vfs copies the whole image per instruction): `PORT`/`STANDIN_PORT` set to
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


HOOK_FAILS = "hook-fails"  # in the service's data dir (its first volume): its hooks fail while it is there


def hook_script(command: str) -> str:
    return ("#!/bin/sh\n"
            f"# stand-in for the app's `{command}`: records that the after-deploy hook ran (and fails while\n"
            f"# $STANDIN_DATA_DIR/{HOOK_FAILS} exists, as a migration fails until what it needs is there)\n"
            f'if [ -e "${{STANDIN_DATA_DIR:-/nonexistent}}/{HOOK_FAILS}" ]; then\n'
            f'  echo "stand-in {command} $*: failed ($STANDIN_DATA_DIR/{HOOK_FAILS} is there)" >&2; exit 3\n'
            "fi\n"
            f'echo "{command} $*" >> {HOOK_LOG}\n'
            f'echo "stand-in {command} $*: done"\n')


def derived_changes(app: App, svc_name: str, svc: Service, source: str) -> tuple[dict[str, str], str | None, dict[str, tuple[str, int]]]:
    """What one service's image adds to its stand-in: env, user, and files (path -> (text, mode)).

    The environment says which service and which program image this is, so a new version is a new
    image id, as a real new build is.
    """
    env = {"STANDIN_SERVICE": f"{app.name}/{svc_name}", "STANDIN_SOURCE": source}
    if svc.port is not None:
        env.update(PORT=str(svc.port), STANDIN_PORT=str(svc.port))
    if svc.mounted_volumes:
        env["STANDIN_DATA_DIR"] = next(iter(svc.mounted_volumes.values()))  # where its data endpoint writes
    user = "{}:{}".format(*svc.volume_owner_ids) if role(svc) == "nonroot-service" else None
    files: dict[str, tuple[str, int]] = {}
    if svc.kind == "static":
        for path, text in site_files(app.name, svc_name).items():
            files[f"{svc.site_path.strip('/')}/{path}"] = (text, 0o644)
    for command in sorted({hook.command[0] for hook in svc.after_deploy}):
        files[f"usr/local/bin/{command}"] = (hook_script(command), 0o755)
    return env, user, files


def _tar(entries: dict[str, tuple[bytes, int]], directories: set[str] = frozenset()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(directories):
            info = tarfile.TarInfo(path)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, (data, mode) in sorted(entries.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def derived_image_archive(base: dict, env: dict[str, str], user: str | None, files: dict[str, tuple[str, int]],
                          tag: str) -> bytes:
    """A `docker load` archive of the service's image: the stand-in's own layers (`base` is its
    inspect), a new config, and at most one small layer with the files.

    Not a `docker build`: with the vfs storage driver every build instruction copies the whole image
    (~250 MB), twice; an image loaded over layers the engine already has is only a new config (the
    engine reuses a layer it holds by its chain id and never reads the archive's copy).
    """
    config = dict(base["Config"])
    kept = [item for item in config.get("Env") or [] if item.split("=", 1)[0] not in env]
    config["Env"] = kept + [f"{k}={v}" for k, v in sorted(env.items())]
    if user:
        config["User"] = user
    diff_ids = list(base["RootFS"]["Layers"])
    members: dict[str, tuple[bytes, int]] = {}
    layers = [f"base-{i}/layer.tar" for i in range(len(diff_ids))]  # not read: the engine has them
    if files:
        directories = {"/".join(path.split("/")[:i]) for path in files for i in range(1, path.count("/") + 1)}
        layer = _tar({path: (text.encode(), mode) for path, (text, mode) in files.items()}, directories)
        diff_ids.append("sha256:" + hashlib.sha256(layer).hexdigest())
        layers.append("files/layer.tar")
        members["files/layer.tar"] = (layer, 0o644)
    image_config = json.dumps({"architecture": base["Architecture"], "os": base["Os"], "created": base["Created"],
                               "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = hashlib.sha256(image_config).hexdigest() + ".json"
    members[config_name] = (image_config, 0o644)
    members["manifest.json"] = (json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": layers}]).encode(), 0o644)
    return _tar(members)


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
                base = self._client.api.inspect_image(self._standins.app_image(role(svc)))
                env, user, files = derived_changes(app, svc_name, svc, source)
                recipe = json.dumps([base["Id"], env, user, files], sort_keys=True).encode()
                tag = f"berth-applied/{component}:{hashlib.sha256(recipe).hexdigest()[:12]}"
                try:
                    self._built[key] = self._client.images.get(tag).id  # cached on the engine's data root
                except docker.errors.ImageNotFound:
                    (image,) = self._client.images.load(derived_image_archive(base, env, user, files, tag))
                    self._built[key] = image.id
            return self._built[key]
