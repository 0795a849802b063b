"""A mock run's Docker resources and host commands, created on a real engine as `pulumi up` would.

`apply(run, engine, standins)` walks what the real `__main__.py` registered under mocks
(offline/mockrun.py) and creates it on the engine:

- in dependency order (each resource's recorded `dependencies`; a dependency on a component is one on
  everything under it), as parallel as Pulumi is: a resource starts the moment all it depends on is done;
- networks, volumes and containers through the Docker API exactly as terraform-provider-docker (under
  pulumi-docker) calls it (tests/support/docker_inputs.py);
- images as stand-ins (tests/support/service_images.py): a `RemoteImage` is the stand-in for its
  repository, a build (`docker.Image`) or the host's pull of an ECR image is the app stand-in made
  specific to its service;
- host commands (`command:local`/`command:remote`: provisioning SQL over stdin, after-deploy hooks,
  static-site publishing) run in a shell here with DOCKER_HOST pointing at the engine, stdin given;
  the EC2 readiness gate (cloud-init, the docker group) is the engine answering;
- AWS, random and Pulumi-internal resources are not applied: their recorded outputs stand; remote
  commands that set up the EC2 instance's own system (the backup timer) are listed in `not_run`;

Outputs the mocks made up (image ids, container ids) are replaced, in every input and script that
carries them, by what the engine returned: Pulumi hands a resource's real outputs to its dependents.
Containers keep the names the run recorded (a stateless container's auto-name included), so scripts
that name them (`docker exec -i shared-postgres …`) reach them.

A container asking for a GPU is created only where the engine has one; otherwise it is listed in
`Applied.not_run` with "GPU service not run: no GPU here" and its dependents go ahead without it.
Anything else the mapping does not know fails the apply (`NotMapped`).
"""

from __future__ import annotations

import secrets as pysecrets
import shutil
import subprocess
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import docker
from docker.errors import APIError, NotFound

from config.load import load
from config.raw_config import RawConfig
from offline.mockrun import PULLED, Resource, Run, reveal
from tests.support import docker_inputs as inputs
from tests.support.docker_inputs import NotMapped
from tests.support.service_images import ServiceImages, StandIns
from tests.support.stacks import mocked_instance_type

APPLIED_TYPES = {inputs.NETWORK, inputs.VOLUME, inputs.REMOTE_IMAGE, inputs.IMAGE, inputs.CONTAINER,
                 inputs.LOCAL_COMMAND, inputs.REMOTE_COMMAND}
NOT_APPLIED_PREFIXES = ("aws:", "random:", "pulumi:", "berth:")  # cloud, generated values, providers, components
HOST_GATE_PARENTS = {"berth:host:Ec2Host"}  # its commands gate on cloud-init; here: the engine answers
# Remote commands that set up the EC2 instance's own system, not its Docker engine: never run on this
# machine (they would install units into its /etc); listed in `Applied.not_run` instead.
HOST_SYSTEM_PARENTS = {"berth:backups:Backups": "installs the backup tool and its systemd timer on the EC2 host"}
SERVICE_IMAGE = "berth:image:ServiceImage"
PARALLEL = 16  # Pulumi runs every ready resource at once by default; the engine is the limit here
HEALTH_POLL_S = 1.0  # the provider inspects once a second while it waits for healthy
COMMAND_TIMEOUT_S = 180
NO_GPU = "GPU service not run: no GPU here"


class ApplyFailed(AssertionError):
    """A resource could not be created on the engine, with what the engine said."""


@dataclass
class Step:
    """One resource's creation: when it started and finished (the benchmark's raw data)."""

    urn: str
    type: str
    name: str
    started: float
    finished: float
    depends_on: frozenset[str]

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class CommandRun:
    name: str
    script: str
    stdout: str
    stderr: str
    at: float


@dataclass
class Applied:
    """What a run became on the engine; `destroy()` removes it."""

    run: Run
    engine: Any
    client: docker.DockerClient
    images: ServiceImages
    gpu: bool
    containers: dict[str, str] = field(default_factory=dict)  # container resource name -> engine container id
    not_run: dict[str, str] = field(default_factory=dict)  # resource name -> why it was not created
    commands: list[CommandRun] = field(default_factory=list)  # every host command run, in order
    steps: dict[str, Step] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)  # network name -> id
    volumes: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # every container id created, failed ones too (destroy)
    _real: dict[str, str] = field(default_factory=dict)  # a mock-made output -> the engine's value
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- reading it ---------------------------------------------------------------------------------

    def container(self, name: str) -> docker.models.containers.Container:
        """The engine's container for the container resource `name` (e.g. "chatbot-backend")."""
        if name in self.not_run:
            raise KeyError(f"{name} was not created: {self.not_run[name]}")
        return self.client.containers.get(self.containers[name])

    def resource(self, type_: str, name: str) -> Resource:
        return self.run.get(type_, name)

    def command_runs(self, name: str) -> list[CommandRun]:
        return [c for c in self.commands if c.name == name]

    @property
    def seconds_to_healthy(self) -> float:
        """From the first create to the last container healthy (or last step done)."""
        return max(s.finished for s in self.steps.values()) - min(s.started for s in self.steps.values())

    def critical_path(self) -> tuple[float, list[Step]]:
        """The chain of dependent steps whose durations add up to the most: what bounds a deploy."""
        memo: dict[str, tuple[float, list[Step]]] = {}

        def longest(urn: str) -> tuple[float, list[Step]]:
            if urn not in memo:
                step = self.steps[urn]
                before = max((longest(d) for d in step.depends_on if d in self.steps), default=(0.0, []),
                             key=lambda x: x[0])
                memo[urn] = (before[0] + step.seconds, [*before[1], step])
            return memo[urn]

        return max((longest(u) for u in self.steps), key=lambda x: x[0])

    # --- changing it ----------------------------------------------------------------------------------

    def replace(self, name: str) -> docker.models.containers.Container:
        """Replace container resource `name` as the provider does: delete-first when the program asked
        for `deleteBeforeReplace`, otherwise the new container (a new auto-name) healthy before the old
        goes. Host commands triggered by the container's id run again, as its new id triggers them."""
        self._replace(self.run.get(inputs.CONTAINER, name))
        for command in self._triggered_by(self.run.get(inputs.CONTAINER, name)):
            self._apply_command(command)
        return self.client.containers.get(self.containers[name])

    def _replace(self, resource: Resource) -> None:
        name = resource.name
        old_id = self.containers[name]
        plan = self._plan(resource, reveal(resource.inputs).get("name") or f"{name}-{pysecrets.token_hex(4)[:7]}")
        if resource.delete_before_replace:
            self._delete_container(old_id, plan.destroy_grace_s, plan.remove_volumes)
            new_id = self._create_container(plan)
        else:
            new_id = self._create_container(plan)
            self._delete_container(old_id, plan.destroy_grace_s, plan.remove_volumes)
        with self._lock:
            self.containers[name] = new_id
            self.created.remove(old_id)
            self._real[_mock_id(resource)] = new_id

    def update(self, run: Run) -> list[str]:
        """`pulumi up` of `run` over what is applied: a resource whose inputs changed is replaced (a
        container, as `replace`) or run again (a host command; an image is resolved again), in the
        dependency order of `run`; unchanged ones are left alone. Returns the names of what changed.
        Adding, removing or changing networks and volumes is not mapped (no test needs it)."""
        old = {r.urn: r for r in self.run.resources if r.type in APPLIED_TYPES}
        nodes = {r.urn: r for r in run.resources if r.type in APPLIED_TYPES}
        if set(old) != set(nodes):
            raise NotMapped(f"update adds or removes resources: {sorted(set(old) ^ set(nodes))}")
        changed = {urn for urn, r in nodes.items() if reveal(r.inputs) != reveal(old[urn].inputs)}
        for urn in changed:
            if nodes[urn].type in (inputs.NETWORK, inputs.VOLUME):
                raise NotMapped(f"update changes {nodes[urn].type} {nodes[urn].name}: not mapped")
        self.run = run
        graph = {urn: self._dependencies(r) & nodes.keys() for urn, r in nodes.items()}

        def step(urn: str) -> None:
            r = nodes[urn]
            if urn not in changed:
                return
            if r.type == inputs.CONTAINER:
                self._replace(r)
            else:
                self._apply_step(r, graph[urn])

        _run_graph(graph, step)
        return sorted(nodes[u].name for u in changed)

    def restart_engine(self) -> None:
        """Stop and start the engine itself (its data root kept), as a host reboot does."""
        self.engine.restart()

    def destroy(self) -> None:
        """Remove the containers, networks and volumes this apply created (images stay, as a cache)."""
        grace = {r.name: int(reveal(r.inputs).get("destroyGraceSeconds") or 0)
                 for r in self.run.of_type(inputs.CONTAINER)}
        current = {cid: grace.get(name, 0) for name, cid in self.containers.items()}
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(lambda cid: self._delete_container(cid, current.get(cid, 0), True),
                          [*self.created, *self._command_containers()]))
        for network in self.networks.values():
            self._remove_network(network)
        for volume in self.volumes:
            _ignore_missing(lambda: self.client.api.remove_volume(volume, force=True))
        self.containers.clear()
        self.created.clear()
        self.networks.clear()
        self.volumes.clear()

    def _remove_network(self, network: str, restarted: bool = False) -> None:
        """Remove a network once the daemon has let go of its removed containers' endpoints (it does
        that just after a removal returns, so a first try can find one still there). An endpoint no
        container holds any more is a stale record of Docker 20.10's libnetwork after many containers
        on one network are removed at once (moby/moby#17217): restarting the daemon clears it, once."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return _ignore_missing(lambda: self.client.api.remove_network(network))
            except docker.errors.APIError as error:
                if "active endpoints" not in str(error):
                    raise
                attached = self.client.api.inspect_network(network).get("Containers") or {}
                if time.monotonic() > deadline:
                    if attached or restarted:
                        raise ApplyFailed(f"network {network} still has "
                                          f"{sorted(c['Name'] for c in attached.values())} attached: {error}") from error
                    self.engine.restart()
                    return self._remove_network(network, restarted=True)
                time.sleep(0.5)

    def _command_containers(self) -> list[str]:
        """Containers a host command started on this apply's volumes or networks and left behind (a
        script that timed out leaves its `docker run --rm` running)."""
        ours = set(self.volumes) | set(self.networks)
        left = []
        for container in self.client.api.containers(all=True):
            if container["Id"] in self.created:
                continue
            mounts = {m.get("Name") for m in container.get("Mounts") or []}
            networks = set((container.get("NetworkSettings") or {}).get("Networks") or {})
            if ours & (mounts | networks):
                left.append(container["Id"])
        return left

    # --- applying ------------------------------------------------------------------------------------

    def apply_all(self) -> None:
        nodes = {r.urn: r for r in self.run.resources if r.type in APPLIED_TYPES}
        for r in self.run.resources:
            if r.type not in APPLIED_TYPES and not r.type.startswith(NOT_APPLIED_PREFIXES):
                raise NotMapped(f"{r.type} ({r.name}): the engine mapping does not know this resource type")
        graph = {urn: self._dependencies(r) & nodes.keys() for urn, r in nodes.items()}
        _run_graph(graph, lambda urn: self._apply_step(nodes[urn], graph[urn]))

    def _apply_step(self, r: Resource, depends_on: set[str]) -> None:
        started = time.monotonic()
        {
            inputs.NETWORK: self._apply_network,
            inputs.VOLUME: self._apply_volume,
            inputs.REMOTE_IMAGE: self._apply_remote_image,
            inputs.IMAGE: self._apply_image,
            inputs.CONTAINER: self._apply_container,
            inputs.LOCAL_COMMAND: self._apply_command,
            inputs.REMOTE_COMMAND: self._apply_command,
        }[r.type](r)
        with self._lock:
            self.steps[r.urn] = Step(r.urn, r.type, r.name, started, time.monotonic(), frozenset(depends_on))

    def _apply_network(self, r: Resource) -> None:
        kwargs = inputs.network_create(r.inputs)
        network = self.client.networks.create(**kwargs)
        with self._lock:
            self.networks[kwargs["name"]] = network.id

    def _apply_volume(self, r: Resource) -> None:
        kwargs = inputs.volume_create(r.inputs)
        self.client.volumes.create(**kwargs)
        with self._lock:
            self.volumes.append(kwargs["name"])

    def _apply_remote_image(self, r: Resource) -> None:
        self._produced(r, self.images.pinned(inputs.remote_image_ref(r.inputs)), "imageId", "repoDigest")

    def _apply_image(self, r: Resource) -> None:
        inputs.image_build(r.inputs)
        self._produced(r, self.images.for_service(self._service_component(r), r.state["repoDigest"]), "repoDigest")

    def _apply_container(self, r: Resource) -> None:
        values = reveal(r.inputs)
        if values.get("gpus") and not self.gpu:
            with self._lock:
                self.not_run[r.name] = NO_GPU
            return
        cid = self._create_container(self._plan(r, values.get("name") or r.state["name"]))
        with self._lock:
            self.containers[r.name] = cid
            self._real[_mock_id(r)] = cid

    def _apply_command(self, r: Resource) -> None:
        values = inputs.command_inputs(r.type, r.inputs)
        create = values.get("create") or ""
        parent_type = self._type_of(r.parent)
        if parent_type in HOST_GATE_PARENTS:
            self.client.ping()  # the gate waits for cloud-init and docker; here the engine is up
            return
        if r.type == inputs.REMOTE_COMMAND and parent_type in HOST_SYSTEM_PARENTS:
            with self._lock:
                self.not_run[r.name] = f"{HOST_SYSTEM_PARENTS[parent_type]}: not run on this machine"
            return
        pulled = PULLED.search(create)
        if pulled:  # the host pulls an image: the stand-in is there
            component = self._service_component(r)
            real = self.images.for_service(component, pulled.group(1))
            self._produced(r, real, "stdout")
            return
        script, stdin = self._resolve(create), self._resolve(values.get("stdin"))
        done = subprocess.run(["/bin/sh", "-c", script], input=stdin, text=True, capture_output=True,
                              env=self.engine.env, timeout=COMMAND_TIMEOUT_S, check=False)
        with self._lock:
            self.commands.append(CommandRun(r.name, script, done.stdout, done.stderr, time.time()))
        if done.returncode != 0:
            raise ApplyFailed(f"host command {r.name} exited {done.returncode}\n--- script\n{script}\n"
                              f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")

    # --- containers ------------------------------------------------------------------------------------

    def _plan(self, r: Resource, name: str) -> inputs.ContainerPlan:
        image = reveal(r.inputs).get("image")
        real = self._real.get(image)
        if real is None:
            raise NotMapped(f"container {r.name}: its image {image!r} is no output of a resource this apply created")
        return inputs.container_plan(r.inputs, name, real)

    def _create_container(self, plan: inputs.ContainerPlan) -> str:
        """The provider's create: create, leave the default bridge, join networks, upload, start, wait."""
        api = self.client.api
        try:
            cid = api.create_container(host_config=api.create_host_config(**plan.host_config), **plan.create)["Id"]
            with self._lock:
                self.created.append(cid)
            if plan.networks:
                try:
                    api.disconnect_container_from_network(cid, "bridge")
                except APIError as error:
                    if "is not connected to the network bridge" not in str(error):
                        raise
                for network, aliases, ipv4 in plan.networks:
                    api.connect_container_to_network(cid, network, aliases=aliases or None, ipv4_address=ipv4)
            if plan.uploads:
                api.put_archive(cid, "/", plan.upload_archive())
            if plan.start:
                api.start(cid)
                if plan.wait:
                    self._wait_healthy(cid, plan)
        except APIError as error:
            raise ApplyFailed(f"container {plan.name}: {error.explanation or error}") from error
        return cid

    def _wait_healthy(self, cid: str, plan: inputs.ContainerPlan) -> None:
        """As the provider waits (`wait`), but it fails at once when Docker already calls the container
        unhealthy, instead of sitting out `waitTimeout`: the outcome is the same failed deploy."""
        deadline = time.monotonic() + plan.wait_timeout_s
        while True:
            state = self.client.api.inspect_container(cid)["State"]
            health = (state.get("Health") or {}).get("Status")
            if health is None:
                raise ApplyFailed(f"container {plan.name}: 'wait' without a healthcheck (the provider refuses it)")
            if health == "healthy":
                return
            if health == "unhealthy" or time.monotonic() > deadline:
                raise ApplyFailed(f"container {plan.name} failed to be in healthy state ({health}, "
                                  f"{state.get('Status')})\n{self._why(cid)}")
            time.sleep(HEALTH_POLL_S)

    def _why(self, cid: str) -> str:
        state = self.client.api.inspect_container(cid)["State"]
        probes = [f"probe exit {p.get('ExitCode')}: {p.get('Output', '').strip()[-400:]}"
                  for p in (state.get("Health") or {}).get("Log", [])[-3:]]
        logs = self.client.api.logs(cid, tail=40).decode(errors="replace")
        return "\n".join([*probes, "--- logs", logs])

    def _delete_container(self, cid: str, grace_s: int, remove_volumes: bool) -> None:
        """The provider's delete: stop with `destroyGraceSeconds`, remove (force), wait until gone."""
        api = self.client.api
        _ignore_missing(lambda: api.stop(cid, timeout=grace_s))
        _ignore_missing(lambda: api.remove_container(cid, v=remove_volumes, force=True))

    # --- the graph and the outputs -----------------------------------------------------------------------

    def _dependencies(self, r: Resource) -> set[str]:
        """Recorded dependencies, a component's standing for everything under it."""
        out: set[str] = set()
        for urn in r.dependencies:
            out |= {urn} | self._descendants(urn)
        return out

    def _descendants(self, urn: str) -> set[str]:
        children = {r.urn for r in self.run.resources if r.parent == urn}
        return children.union(*(self._descendants(c) for c in children)) if children else set()

    def _type_of(self, urn: str) -> str | None:
        return next((r.type for r in self.run.resources if r.urn == urn), None)

    def _service_component(self, r: Resource) -> str:
        """The `berth:image:ServiceImage` above `r`: which service an image or pull is for."""
        urn = r.parent
        while urn:
            parent = next((p for p in self.run.resources if p.urn == urn), None)
            if parent is None:
                break
            if parent.type == SERVICE_IMAGE:
                return parent.name
            urn = parent.parent
        raise NotMapped(f"{r.type} {r.name}: an image outside any service (no {SERVICE_IMAGE} above it)")

    def _produced(self, r: Resource, real: str, *outputs: str) -> None:
        """`r` produced `real` where the mocks made up its `outputs`."""
        with self._lock:
            for output in outputs:
                made_up = str(r.state.get(output) or "").strip()
                if made_up:
                    self._real[made_up] = real

    def _resolve(self, text: str | None) -> str | None:
        """`text` with every made-up output replaced by the engine's."""
        if text is None:
            return None
        for made_up, real in sorted(self._real.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(made_up, real)
        return text

    def _triggered_by(self, container: Resource) -> list[Resource]:
        mock_id = _mock_id(container)
        return [r for r in self.run.resources if r.type in (inputs.LOCAL_COMMAND, inputs.REMOTE_COMMAND)
                and mock_id in (reveal(r.inputs).get("triggers") or [])]


def _mock_id(r: Resource) -> str:
    return f"{r.name}-id"  # offline.mockrun.BerthMocks: every resource's id


def _ignore_missing(call) -> None:
    try:
        call()
    except NotFound:
        pass


def _run_graph(graph: dict[str, set[str]], step) -> None:
    """Run `step(node)` for every node once all its dependencies are done, as many at once as are ready.
    On a failure nothing new starts; what runs finishes; the first error is raised (as Pulumi does)."""
    pending, done, running = dict(graph), set(), {}
    errors: list[BaseException] = []
    with ThreadPoolExecutor(PARALLEL) as pool:
        while pending or running:
            if not errors:
                for node in [n for n, deps in pending.items() if deps <= done]:
                    running[pool.submit(step, node)] = node
                    del pending[node]
            if not running:
                if errors:
                    break
                raise ApplyFailed(f"dependency cycle among {sorted(pending)}")
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                node = running.pop(future)
                if future.exception() is not None:
                    errors.append(future.exception())
                else:
                    done.add(node)
    if errors:
        raise errors[0]


def engine_has_gpu(client: docker.DockerClient) -> bool:
    """An NVIDIA runtime registered with the engine and a GPU device on this machine."""
    return "nvidia" in (client.info().get("Runtimes") or {}) and Path("/dev/nvidia0").exists() \
        and shutil.which("nvidia-smi") is not None


def deployment_of(run: Run):
    """The validated Deployment of the run (its app files and overlays), to choose stand-ins by."""
    if run.config is None or run.project is None:
        raise NotMapped("the run carries no config/project: run it with tests.support.stacks.run_stack")
    return load(RawConfig.from_values(run.config.values, run.config.secret_keys), run.stack, Path(run.project),
                instance_types=mocked_instance_type)


def apply(run: Run, engine, standins: StandIns) -> Applied:
    """Create `run`'s Docker resources on `engine`; on failure what was created is removed again."""
    client = docker.DockerClient(base_url=engine.url, timeout=COMMAND_TIMEOUT_S, max_pool_size=PARALLEL + 4)
    applied = Applied(run, engine, client, ServiceImages(client, standins, deployment_of(run)),
                      gpu=engine_has_gpu(client))
    try:
        applied.apply_all()
    except BaseException as failure:
        try:
            applied.destroy()
        except Exception as cleanup:  # the apply's own failure is the one to see
            failure.add_note(f"and removing what was created failed too: {cleanup}")
        raise
    return applied


def containers_of(applied: Applied, prefix: str) -> Iterable[str]:
    """Container resource names starting with `prefix` (a service's replicas: "collabry-backend")."""
    return sorted(n for n in applied.containers if n == prefix or n.startswith(prefix + "-"))
