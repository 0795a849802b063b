"""The stacks the engine tier deploys, each run under mocks and then applied to the engine.

Dev (the CHM server) and every example system whose host is not ECS; of the EC2 examples, their Docker
resources and host commands (tests/support/apply.py). Secure config values are test strings.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from config.app import SHARED_SERVICES, App
from config.deployment import Deployment
from offline.mockrun import reveal
from tests.support.apply import Applied, apply, deployment_of
from tests.support.docker_inputs import CONTAINER, REMOTE_IMAGE
from tests.support.stack_probes import Through, seed_certificates
from tests.support.stacks import REPO, run_stack, stack_config
from tests.support.container_exec import output_of

EXAMPLES = REPO / "examples"
# name -> (environment stack, stack file under examples/ or None for the repository's own)
ENGINE_STACKS = {
    "chm-dev": ("dev", None),
    "customer-support": ("prod", "customer-support/Pulumi.prod.yaml"),
    "collabry": ("prod", "collabry/Pulumi.prod.yaml"),
    "on-prem-rag": ("prod", "on-prem-rag/Pulumi.prod.yaml"),
    "on-prem-rag-dev": ("dev", "on-prem-rag/Pulumi.dev.yaml"),
    "youtube-talker": ("prod", "youtube-talker/Pulumi.prod.yaml"),
}
# Stacks tests/engine/test_second_up.py changes: the CHM server's staging file as a PR stack (its own
# host names), with a larger instance type so one service's memory can be raised 4x in place, and the
# CA's production directory (where the certificates put on the proxy's volume are looked for).
CHANGED_STACKS = {"chm-pr": ("pr-21", REPO / "Pulumi.staging.yaml")}
CHANGED_STACK_CONFIG = {"chm-pr": {"berth:host": {"instanceType": "t3.xlarge"}, "berth:proxy": {"acmeStaging": False}}}
# The app secrets each example's prod refuses to run without (test values: letters and digits).
EXAMPLE_SECRETS = {
    "customer-support/Pulumi.prod.yaml": ["supportSecretKey", "supportOpenaiApiKey"],
    "collabry/Pulumi.prod.yaml": ["collabryMongodbUri", "collabryJwtSecret", "collabryOpenaiApiKey"],
    "on-prem-rag/Pulumi.prod.yaml": ["ragChromaToken"],
    "youtube-talker/Pulumi.prod.yaml": ["youtubeTalkerOpenrouterApiKey", "youtubeTalkerSupadataApiKey"],
}


def example_secrets(example: str | None) -> dict[str, str] | None:
    return {f"berth:{k}": f"test{k}Value0" for k in EXAMPLE_SECRETS.get(example or "", [])} or None


def app_files_checked_every_second(into: Path, source: Path = REPO / "apps") -> None:
    """The app files, copied into a sandboxed project, with each service's healthcheck run every second.

    Deploys do not wait on Docker's probes (the health gate runs the check itself), but the tests that
    watch Docker's own verdict do: a hung service seen unhealthy, a killed one healthy again, would wait
    minutes at the files' 15-30 s. What is probed, how, its timeout, retries and start period stay as
    the app file says; the shared services and the proxy keep theirs.
    `BERTH_ENGINE_APP_INTERVALS=keep` runs the files as they are.
    """
    if into.exists():
        return
    into.mkdir(parents=True)
    keep = os.environ.get("BERTH_ENGINE_APP_INTERVALS") == "keep"
    for path in source.iterdir():
        if path.suffix != ".yaml" or keep:
            shutil.copy2(path, into / path.name)
            continue
        app = yaml.safe_load(path.read_text(encoding="utf-8"))
        for svc in (app.get("services") or {}).values():
            if isinstance(svc.get("healthcheck"), dict):
                svc["healthcheck"]["intervalS"] = 1
        (into / path.name).write_text(yaml.safe_dump(app, sort_keys=False), encoding="utf-8")


def mock_run(name: str, tmp: Path, plain: dict | None = None):
    """The stack's program run under mocks (with `plain` config overrides), its app files checked every second."""
    stack, example = {**ENGINE_STACKS, **CHANGED_STACKS}[name]
    stack_file = example if isinstance(example, Path) else EXAMPLES / example if example else None
    base = stack_config(stack, stack_file=stack_file)
    plain = {**{k: {**base.object(k), **v} for k, v in CHANGED_STACK_CONFIG.get(name, {}).items()}, **(plain or {})}
    config = stack_config(stack, stack_file=stack_file, secrets=example_secrets(example), plain=plain)
    app_files_checked_every_second(tmp / "berth" / "apps")
    return run_stack(tmp, stack, config)


# PUT (a body given) or GET the stand-in server's data endpoint on the service's own port
STANDIN_DATA = ("import sys, urllib.request\n"
                "body = sys.argv[2].encode() if len(sys.argv) > 2 else None\n"
                "request = urllib.request.Request(f'http://127.0.0.1:{sys.argv[1]}/__standin/data', data=body,"
                " method='PUT' if body else 'GET')\n"
                "print(urllib.request.urlopen(request, timeout=10).read().decode(), end='')\n")


@dataclass
class EngineStack:
    """One stack on the engine, and how to look at it."""

    name: str
    applied: Applied
    deployment: Deployment
    through: Through
    program_dir: Path

    def rerun(self, plain: dict | None = None):
        """The program run again in the same project directory (same host paths), with `plain` overrides."""
        return mock_run(self.name, self.program_dir, plain)

    @property
    def client(self):
        return self.applied.client

    def url(self, app: App, path: str) -> str:
        return f"{'https' if self.deployment.environment != 'dev' else 'http'}://{self.deployment.hostname(app)}{path}"

    def containers_of(self, app: str, service: str) -> list[str]:
        """The container resource names of one service (its replicas), as the run registered them."""
        return sorted(r.name for r in self.applied.run.of_type(CONTAINER)
                      if {"label": "berth.service", "value": f"{app}/{service}"} in (reveal(r.inputs).get("labels") or []))

    def service_of(self, resource_name: str) -> tuple[str, str] | None:
        """(app, service) of an app's container resource; None for the proxy and the data services."""
        labels = {lb["label"]: lb["value"] for lb in
                  reveal(self.applied.run.get(CONTAINER, resource_name).inputs).get("labels") or []}
        service = labels.get("berth.service", "")
        if "/" not in service or service.startswith("shared/") or "berth.redis-mode" in labels:
            return None
        app, svc = service.split("/", 1)
        return app, svc

    def app_containers(self) -> list[str]:
        """Every container resource of an app's own services."""
        return sorted(r.name for r in self.applied.run.of_type(CONTAINER) if self.service_of(r.name))

    def uses_database(self, resource_name: str) -> bool:
        app, svc = self.service_of(resource_name)
        return any(u in SHARED_SERVICES for u in self.deployment.apps[app].services[svc].uses)

    def standin_data(self, container: str, body: str | None = None) -> str:
        """The stand-in server's data file (`$STANDIN_DATA_DIR/standin.txt`: the service's first volume)
        through its own port, from inside the container: written when `body` is given, else read."""
        app, svc = self.service_of(container)
        port = self.deployment.apps[app].services[svc].port
        running = self.applied.container(container)
        for python in ("python3", "/opt/standin/bin/python3"):  # on PATH, or the server's own interpreter
            code, out = output_of(running, [python, "-c", STANDIN_DATA, str(port), *([body] if body is not None else [])])
            if code not in (126, 127):
                assert code == 0, f"{container}: {out}"
                return out
        raise AssertionError(f"{container} has no python to ask its server with")

    def refreshed_preview_changes(self) -> dict[str, str]:
        """What `pulumi preview --refresh` of the program as deployed would change, by resource (GPU
        services not run here left out): empty when what Read stores is what the program asks for."""
        return {n: d.text() for n, d in self.applied.preview(self.applied.run, refresh=True).items()
                if d.kind != "same" and n not in self.applied.not_run}

    @property
    def python_image(self) -> str:
        """An image with python3, for probes run in a container's network."""
        return self.applied.images.app_image("python-backend")

    def pinned_image(self, container: str) -> str:
        """The stand-in image of a pinned container (shared-postgres, <app>-redis, proxy)."""
        return self.client.api.inspect_container(self.applied.containers[container])["Image"]


def stack_certificates(run, deployment: Deployment, engine, standins, into: Path) -> Path | None:
    """Staging/prod proxies serve HTTPS only: the certificates for the stack's host names are put on the
    proxy's data volume first (a host that holds them); returns their CA, None for dev (plain HTTP)."""
    if deployment.environment == "dev":
        return None
    proxy = reveal(run.get(CONTAINER, "proxy").inputs)
    data_volume = next(v["volumeName"] for v in proxy["volumes"] if v["containerPath"] == "/data")
    caddy = standins.image_for(reveal(run.get(REMOTE_IMAGE, "proxy-image").inputs)["name"])
    return seed_certificates(engine.client, data_volume, caddy,
                             [deployment.hostname(app) for app in deployment.apps.values()], into)


def deploy_on_engine(name: str, engine, standins, tmp: Path, plain: dict | None = None) -> EngineStack:
    """Run the stack under mocks and apply it. Staging/prod proxies serve HTTPS only: the certificates
    for the stack's host names are put on the proxy's data volume first (a host that holds them)."""
    run = mock_run(name, tmp / "program", plain)
    deployment = deployment_of(run)
    ca = stack_certificates(run, deployment, engine, standins, tmp / "certificates")
    applied = apply(run, engine, standins)
    try:
        through = Through(applied.client, applied.containers["proxy"], ca)
    except BaseException:
        applied.destroy()
        raise
    return EngineStack(name, applied, deployment, through, tmp / "program")


class OnEngine:
    """At most one stack on the engine at a time (every stack runs a container named `proxy`): asking
    for another destroys the one there first. Test modules share it, so a stack one module left up is
    not deployed again by the next."""

    def __init__(self, engine, standins, tmp_factory):
        self._engine, self._standins, self._tmp = engine, standins, tmp_factory
        self.current: EngineStack | None = None

    def __call__(self, name: str) -> EngineStack:
        if self.current is not None and self.current.name != name:
            self.discard()
        if self.current is None:
            self.current = deploy_on_engine(name, self._engine, self._standins, self._tmp.mktemp(name))
        return self.current

    def discard(self) -> None:
        """Destroy the stack on the engine (a test that changed it beyond what the next one expects)."""
        if self.current is not None:
            current, self.current = self.current, None
            current.applied.destroy()
