"""`pulumi up` without Pulumi: a mock run's Docker resources and host commands applied to a real engine,
across runs, as Pulumi and the pinned providers apply them.

`apply(run, engine, standins)` is the first `pulumi up` of a stack; `Applied.up(run)` every later one,
over the state the earlier ones left:

- a state kept between runs (`Applied.state`: each resource's resolved inputs, the provider's outputs,
  its options, initialization errors; `Applied.pending`: what waits to be deleted);
- for each resource, in dependency order and as parallel as Pulumi is (a resource starts once all it
  depends on is done; a dependency on a component is one on everything under it), the step Pulumi and
  the provider would take (tests/support/pulumi_steps.py, config/docker_provider.py): create, same,
  update in place applying only what the provider's Update applies, or replace (for a ForceNew input,
  `replace_on_changes`, a changed `replacement_trigger`), delete-first or create-first;
- deletes after every create and update succeeded: create-first replacements' old resources and what
  the program no longer declares, dependents first; a failed `up` deletes nothing;
- a container create that fails after the provider set its ID (a failed network join, start or health
  wait) is kept with an initialization error; a failed host command keeps nothing;
- `refresh()` reads each container back as the provider's Read stores it; `preview(run, refresh=True)`
  gives each resource's step without applying it; `pulumi_destroy()` deletes as Pulumi does, refusing
  protected resources and leaving retained ones.

How inputs become Docker API calls is tests/support/docker_inputs.py; images are stand-ins
(tests/support/service_images.py); host commands (`command:local`/`command:remote`: provisioning SQL
over stdin, health gates, after-deploy hooks, static-site publishing) run in a shell here with
DOCKER_HOST at the engine. AWS, random and Pulumi-internal resources are not applied: their recorded
outputs stand; commands that set up the EC2 instance's own system are listed in `not_run`. Outputs
the mocks made up (image ids, container ids and names) are replaced in every input and script that
carries them by what the engine returned, as Pulumi hands a resource's real outputs to its dependents.
A container asking for a GPU is created only where the engine has one (else `not_run`, "GPU service
not run: no GPU here"). Anything else the mapping does not know fails the apply (`NotMapped`).
"""

from __future__ import annotations

import contextlib
import copy
import secrets as pysecrets
import shutil
import subprocess
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable

import docker
from docker.errors import APIError, NotFound

from config import docker_provider
from config.load import load
from config.raw_config import RawConfig
from offline.mockrun import PULLED, Resource, Run, reveal
from tests.support import docker_inputs as inputs
from tests.support import provider_calls
from tests.support import pulumi_steps as steps
from tests.support.docker_inputs import NotMapped
from tests.support.pulumi_steps import Decision, Entry
from tests.support.service_images import ServiceImages, StandIns
from tests.support.stacks import mocked_instance_type

APPLIED_TYPES = {inputs.NETWORK, inputs.VOLUME, inputs.REMOTE_IMAGE, inputs.IMAGE, inputs.CONTAINER,
                 inputs.LOCAL_COMMAND, inputs.REMOTE_COMMAND}
NOT_APPLIED_PREFIXES = ("aws:", "random:", "pulumi:", "berth:")  # cloud, generated values, providers, components
HOST_GATE_PARENTS = {"berth:host:Ec2Host"}  # its commands gate on cloud-init; here: the engine answers
# Remote commands that set up the EC2 instance's own system, not its Docker engine: never run on this
# machine (they would install units into its /etc); listed in `Applied.not_run` instead.
HOST_SYSTEM_PARENTS = {"berth:backups:Backups": "installs the backup tool and its systemd timer on the EC2 host",
                       "berth:monitoring:Monitoring": "installs the reporter and its systemd timer on the EC2 host"}
SERVICE_IMAGE = "berth:image:ServiceImage"
PARALLEL = 16  # Pulumi runs every ready resource at once by default; the engine is the limit here
COMMAND_TIMEOUT_S = 420
NO_GPU = "GPU service not run: no GPU here"


class ApplyFailed(AssertionError):
    """A step failed on the engine, with what the engine said."""


@dataclass
class Step:
    """One resource's step in an `up`: what it was, when it started and finished (the benchmark's data)."""

    urn: str
    type: str
    name: str
    started: float
    finished: float
    depends_on: frozenset[str]
    decision: Decision = Decision("create")  # noqa: RUF009 - frozen, so one shared default is safe

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
    exit_code: int = 0


@dataclass
class Applied:
    """A stack on the engine and the state Pulumi would keep for it."""

    run: Run
    engine: Any
    client: docker.DockerClient
    images: ServiceImages
    gpu: bool
    standins: StandIns | None = None
    state: dict[str, Entry] = field(default_factory=dict)  # live resources by URN
    pending: list[Entry] = field(default_factory=list)  # replaced create-first, deleted once an up succeeds
    not_run: dict[str, str] = field(default_factory=dict)  # resource name -> why it was not created
    commands: list[CommandRun] = field(default_factory=list)  # every host command run, in order
    steps: dict[str, Step] = field(default_factory=dict)  # the last up's steps by URN
    created: list[str] = field(default_factory=list)  # every container id created, failed ones too (cleanup)
    _replaced_with: dict[str, str] = field(default_factory=dict)  # a dependent deleted first -> what it went with
    _real: dict[str, str] = field(default_factory=dict)  # a mock-made output -> the engine's value
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- reading it ---------------------------------------------------------------------------------

    @property
    def containers(self) -> dict[str, str]:
        """Container resource name -> engine container id, for the live containers."""
        return {e.name: e.id for e in self.state.values() if e.type == inputs.CONTAINER}

    @property
    def networks(self) -> dict[str, str]:
        return {e.inputs["name"]: e.id for e in [*self.state.values(), *self.pending] if e.type == inputs.NETWORK}

    @property
    def volumes(self) -> list[str]:
        return [e.id for e in [*self.state.values(), *self.pending] if e.type == inputs.VOLUME]

    def container(self, name: str) -> docker.models.containers.Container:
        """The engine's container for the container resource `name` (e.g. "chatbot-backend")."""
        if name in self.not_run:
            raise KeyError(f"{name} was not created: {self.not_run[name]}")
        return self.client.containers.get(self.containers[name])

    def entry(self, type_: str, name: str) -> Entry:
        return next(e for e in self.state.values() if e.type == type_ and e.name == name)

    def resource(self, type_: str, name: str) -> Resource:
        return self.run.get(type_, name)

    def command_runs(self, name: str) -> list[CommandRun]:
        return [c for c in self.commands if c.name == name]

    @property
    def seconds_to_healthy(self) -> float:
        """From the first step's start to the last one's end (the last container healthy)."""
        return max(s.finished for s in self.steps.values()) - min(s.started for s in self.steps.values())

    def critical_path(self, seconds=lambda step: step.seconds) -> tuple[float, list[Step]]:
        """The chain of dependent steps whose durations add up to the most: what bounds a deploy.
        `seconds`: a step's duration (tests/support/readiness.py gives health gates their container's)."""
        memo: dict[str, tuple[float, list[Step]]] = {}

        def longest(urn: str) -> tuple[float, list[Step]]:
            if urn not in memo:
                step = self.steps[urn]
                before = max((longest(d) for d in step.depends_on if d in self.steps), default=(0.0, []),
                             key=lambda x: x[0])
                memo[urn] = (before[0] + seconds(step), [*before[1], step])
            return memo[urn]

        return max((longest(u) for u in self.steps), key=lambda x: x[0])

    # --- `pulumi up` ----------------------------------------------------------------------------------

    def up(self, run: Run, *, replace: Iterable[str] = ()) -> dict[str, Decision]:
        """`pulumi up` of `run` over the state (`replace`: URNs, as `--replace`). Returns each
        resource's step by name; raises ApplyFailed (after what ran finished) when a step fails."""
        nodes = self._nodes(run)
        self.run = run
        if self.standins is not None:
            self.images = ServiceImages(self.client, self.standins, deployment_of(run))
        graph = {urn: self._dependencies(r) & nodes.keys() for urn, r in nodes.items()}
        forced = set(replace)
        self.steps, self._replaced_with = {}, {}
        _run_graph(graph, lambda urn: self._step(nodes[urn], graph[urn], urn in forced))
        self._delete_condemned(nodes)
        return {s.name: s.decision for s in self.steps.values()}

    def update(self, run: Run) -> list[str]:
        """`pulumi up` of `run`: the names of the resources whose step was not "same"."""
        return sorted(name for name, d in self.up(run).items() if d.kind != "same")

    def replace(self, *names: str) -> docker.models.containers.Container:
        """`pulumi up --replace` of container resources `names` (the program unchanged): each is replaced
        as the provider replaces it, and what depends on its id (health gate, provisioning) runs again."""
        self.up(self.run, replace=[self.run.get(inputs.CONTAINER, name).urn for name in names])
        return self.client.containers.get(self.containers[names[0]])

    def apply_all(self) -> None:
        """The first `pulumi up` (an empty state)."""
        self.up(self.run)

    def _nodes(self, run: Run) -> dict[str, Resource]:
        for r in run.resources:
            if r.type not in APPLIED_TYPES and not r.type.startswith(NOT_APPLIED_PREFIXES):
                raise NotMapped(f"{r.type} ({r.name}): the engine mapping does not know this resource type")
        return {r.urn: r for r in run.resources if r.type in APPLIED_TYPES}

    def _step(self, r: Resource, depends_on: set[str], forced: bool) -> None:
        started = time.monotonic()
        old = self.state.get(r.urn)
        values = _with_kept_name(r, self._inputs(r), old)
        delete_first = steps.effective_delete_before_replace(r.type, r)
        try:
            decision = steps.decide(old, values, r, delete_first)
        except steps.ProtectedReplace as refused:
            raise ApplyFailed(str(refused)) from refused
        if forced and old is not None:
            decision = Decision("replace", ("id",), delete_first)
        if old is None and r.urn in self._replaced_with:  # deleted first with a replaced dependency
            decision = Decision("replace", (self._replaced_with[r.urn],), True)
        try:
            if decision.kind == "create" or old is None:  # (a dependent deleted first is created again)
                self._create(r, values)
            elif decision.kind == "replace":
                self._replace(r, old, _without_kept_name(r, values), decision)
            elif decision.kind == "update":
                self._update(r, old, values, decision)
            else:
                self._same(r, old, values)
        finally:
            with self._lock:
                self.steps[r.urn] = Step(r.urn, r.type, r.name, started, time.monotonic(), frozenset(depends_on),
                                         decision)

    # --- the steps ------------------------------------------------------------------------------------

    def _create(self, r: Resource, values: dict) -> None:
        create = {inputs.NETWORK: self._create_network, inputs.VOLUME: self._create_volume,
                  inputs.REMOTE_IMAGE: self._resolve_remote_image, inputs.IMAGE: self._resolve_image,
                  inputs.CONTAINER: self._create_container_entry, inputs.LOCAL_COMMAND: self._run_command,
                  inputs.REMOTE_COMMAND: self._run_command}[r.type]
        entry = create(r, values)
        if entry is not None:
            self._keep(entry)

    def _replace(self, r: Resource, old: Entry, values: dict, decision: Decision) -> None:
        if decision.delete_first:
            with self._lock:
                dependents = steps.dependents_replaced_with(old, self.state)
                self._replaced_with.update({d.urn: f"{old.name} replaced" for d in dependents})
            for entry in [*dependents, old]:
                self._delete(entry)
                with self._lock:
                    self.state.pop(entry.urn, None)
            self._create(r, values)
            return
        with self._lock:
            old.pending_delete = True
            self.pending.append(old)
            del self.state[r.urn]
        try:
            self._create(r, values)
        except BaseException:
            if r.urn not in self.state:  # nothing kept of the new one: the old stays current
                with self._lock:
                    self.pending.remove(old)
                    old.pending_delete = False
                    self.state[r.urn] = old
            raise

    def _update(self, r: Resource, old: Entry, values: dict, decision: Decision) -> None:
        outputs = dict(old.outputs)
        if r.type == inputs.CONTAINER:
            outputs = self._update_container(old, values, set(decision.keys))
        elif r.type in (inputs.LOCAL_COMMAND, inputs.REMOTE_COMMAND):
            entry = self._run_command(r, values)  # pulumi-command's Update runs `create` again
            outputs = entry.outputs if entry else outputs
        elif r.type in (inputs.REMOTE_IMAGE, inputs.IMAGE):
            outputs = (self._create_image_entry(r, values) or old).outputs
        self._keep(Entry(**{**vars(old), "inputs": values, "outputs": outputs, "init_errors": [],
                            "protect": r.protect, "retain_on_delete": r.retain_on_delete,
                            "replace_on_changes": tuple(r.replace_on_changes),
                            "replacement_trigger": r.replacement_trigger}))

    def _same(self, r: Resource, old: Entry, values: dict) -> None:
        with self._lock:
            if r.type == inputs.CONTAINER and old.id:
                self._real[_mock_id(r)] = old.id
                self._real[str(r.state.get("name"))] = old.outputs.get("name", old.id)
        self._keep(Entry(**{**vars(old), "inputs": values, "protect": r.protect, "retain_on_delete": r.retain_on_delete,
                            "replace_on_changes": tuple(r.replace_on_changes),
                            "replacement_trigger": r.replacement_trigger}))

    def _keep(self, entry: Entry) -> None:
        with self._lock:
            self.state[entry.urn] = entry

    def _entry(self, r: Resource, values: dict, id_: str, outputs: dict, init_errors: list[str] | None = None) -> Entry:
        return Entry(urn=r.urn, type=r.type, name=r.name, id=id_, inputs=values, outputs=outputs,
                     dependencies=frozenset(self._dependencies(r)), property_dependencies=dict(r.property_dependencies),
                     protect=r.protect, retain_on_delete=r.retain_on_delete,
                     delete_before_replace=steps.effective_delete_before_replace(r.type, r),
                     replace_on_changes=tuple(r.replace_on_changes), replacement_trigger=r.replacement_trigger,
                     init_errors=list(init_errors or []))

    # --- networks, volumes, images ----------------------------------------------------------------------

    def _create_network(self, r: Resource, values: dict) -> Entry:
        kwargs = inputs.network_create(values)
        network = self.client.networks.create(**kwargs)
        return self._entry(r, values, network.id, dict(values))

    def _create_volume(self, r: Resource, values: dict) -> Entry:
        kwargs = inputs.volume_create(values)
        self.client.volumes.create(**kwargs)  # Docker returns the volume of that name if it exists (adopted)
        return self._entry(r, values, kwargs["name"], dict(values))

    def _resolve_remote_image(self, r: Resource, values: dict) -> Entry:
        return self._create_image_entry(r, values)

    def _resolve_image(self, r: Resource, values: dict) -> Entry:
        return self._create_image_entry(r, values)

    def _create_image_entry(self, r: Resource, values: dict) -> Entry:
        if r.type == inputs.REMOTE_IMAGE:
            real = self.images.pinned(inputs.remote_image_ref(values))
            self._produced(r, real, "imageId", "repoDigest")
        else:
            inputs.image_build(values)
            real = self.images.for_service(self._service_component(r), r.state["repoDigest"])
            self._produced(r, real, "repoDigest")
        return self._entry(r, values, real, {**values, "imageId": real})

    # --- containers ------------------------------------------------------------------------------------

    def _create_container_entry(self, r: Resource, values: dict) -> Entry | None:
        if values.get("gpus") and not self.gpu:
            with self._lock:
                self.not_run[r.name] = NO_GPU
            return None
        first = r.urn not in {e.urn for e in self.pending}
        name = values.get("name") or (str(r.state.get("name")) if first else f"{r.name}-{pysecrets.token_hex(4)[:7]}")
        plan = self._plan(r, values, name)
        try:
            cid = self._create_container(plan)
        except provider_calls.ContainerFailed as failed:
            if failed.cid:  # the provider had set the ID: Pulumi keeps it with an initialization error
                self._keep(self._entry(r, values, failed.cid, {**values, "name": name}, [str(failed)]))
                self._produced_container(r, failed.cid, name)
            raise ApplyFailed(str(failed)) from failed
        self._produced_container(r, cid, name)
        inspect = self.client.api.inspect_container(cid)
        return self._entry(r, values, cid, {**values, **docker_provider.read_back(inspect, values)})

    def _produced_container(self, r: Resource, cid: str, name: str) -> None:
        with self._lock:
            self._real[_mock_id(r)] = cid
            if r.state.get("name"):
                self._real[str(r.state["name"])] = name

    def _update_container(self, old: Entry, values: dict, changed: set[str]) -> dict:
        """resourceDockerContainerUpdate: only what it applies reaches the container; the state records
        every new value (no read-back)."""
        try:
            provider_calls.update(self.client, old.id, values, changed, was_stopped=old.outputs.get("mustRun") is False)
        except APIError as error:
            raise ApplyFailed(f"container {old.name}: Unable to update a container: {error.explanation or error}") \
                from error
        return planned_state(old.outputs, values)

    def _plan(self, r: Resource, values: dict, name: str) -> inputs.ContainerPlan:
        image = values.get("image")
        with self._lock:
            produced = set(self._real.values())
        if image not in produced:
            raise NotMapped(f"container {r.name}: its image {image!r} is no output of a resource this apply created")
        return inputs.container_plan(values, name, image)

    def _create_container(self, plan: inputs.ContainerPlan) -> str:
        def created(cid: str) -> None:  # every container made, failed ones too (the cleanup removes them)
            with self._lock:
                self.created.append(cid)

        return provider_calls.create(self.client, plan, created)

    # --- host commands ----------------------------------------------------------------------------------

    def _run_command(self, r: Resource, values: dict) -> Entry | None:
        inputs.command_inputs(r.type, values)
        create = values.get("create") or ""
        parent_type = self._type_of(r.parent)
        # An engine on a real host (the host tier's VM) runs remote commands there, the gate included
        on_host = getattr(self.engine, "run_on_host", None) if r.type == inputs.REMOTE_COMMAND else None
        if parent_type in HOST_GATE_PARENTS and on_host is None:
            self.client.ping()  # the gate waits for cloud-init and docker; here the engine is up
            return self._entry(r, values, f"{r.name}-gate", dict(values))
        if r.type == inputs.REMOTE_COMMAND and parent_type in HOST_SYSTEM_PARENTS and on_host is None:
            with self._lock:
                self.not_run[r.name] = f"{HOST_SYSTEM_PARENTS[parent_type]}: not run on this machine"
            return None
        missing = self._not_run_among(self._dependencies(r))
        if missing:  # a command on a container that was not created (a GPU service here) has nothing to act on
            with self._lock:
                self.not_run[r.name] = f"acts on {missing}, which was not run ({self.not_run[missing]})"
            return None
        pulled = PULLED.search(create)
        if pulled:  # the host pulls an image: the stand-in is there
            real = self.images.for_service(self._service_component(r), pulled.group(1))
            self._produced(r, real, "stdout")
            return self._entry(r, values, f"{r.name}-{pysecrets.token_hex(4)}", {**values, "stdout": real + "\n"})
        done = on_host(create, values.get("stdin"), COMMAND_TIMEOUT_S) if on_host else subprocess.run(
            ["/bin/sh", "-c", create], input=values.get("stdin"), text=True, capture_output=True,
            env=self.engine.env, timeout=COMMAND_TIMEOUT_S, check=False)
        with self._lock:
            self.commands.append(CommandRun(r.name, create, done.stdout, done.stderr, time.time(), done.returncode))
        if done.returncode != 0:  # pulumi-command: a plain error, nothing kept
            raise ApplyFailed(f"host command {r.name} exited {done.returncode}\n--- script\n{create}\n"
                              f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
        return self._entry(r, values, f"{r.name}-{pysecrets.token_hex(4)}",
                           {**values, "stdout": done.stdout, "stderr": done.stderr})

    # --- deletes ----------------------------------------------------------------------------------------

    def _delete_condemned(self, nodes: dict[str, Resource]) -> None:
        """After every step succeeded: the pending deletes and what the program no longer declares."""
        with self._lock:
            removed = [e for urn, e in self.state.items() if urn not in nodes]
            condemned = [*self.pending, *removed]
        errors = self._delete_in_order(condemned, refuse_protected=removed)
        if errors:
            raise ApplyFailed("\n".join(errors))

    def _delete_in_order(self, condemned: list[Entry], refuse_protected: Iterable[Entry] = ()) -> list[str]:
        """ScheduleDeletes: dependents first, one batch at a time; a protected resource is refused and
        what it depends on is left; a retained one leaves state without being deleted."""
        refused_ids = {id(e) for e in refuse_protected if e.protect}
        errors, blocked, ready = [], set(), []
        for batch in steps.delete_antichains(condemned):
            ready = []
            for entry in batch:
                if entry.urn in blocked or id(entry) in refused_ids:
                    blocked |= entry.dependencies  # what a resource left in place depends on stays too
                if id(entry) in refused_ids:
                    errors.append(f"unable to delete resource {entry.urn}: it is protected; remove `protect` or "
                                  "run `pulumi state unprotect` first")
                elif entry.urn not in blocked:
                    ready.append(entry)
            with ThreadPoolExecutor(PARALLEL) as pool:
                list(pool.map(self._forget, ready))
        return errors

    def _forget(self, entry: Entry) -> None:
        if not entry.retain_on_delete:
            self._delete(entry)
        with self._lock:
            if entry in self.pending:
                self.pending.remove(entry)
            elif self.state.get(entry.urn) is entry:
                del self.state[entry.urn]

    def _delete(self, entry: Entry) -> None:
        """The provider's Delete for one resource (commands have no delete script: nothing runs)."""
        if entry.type == inputs.CONTAINER:
            provider_calls.delete(self.client, entry.id, int(entry.inputs.get("destroyGraceSeconds") or 0),
                                  entry.inputs.get("removeVolumes", True) is not False)
        elif entry.type == inputs.NETWORK:
            self._remove_network(entry.id)
        elif entry.type == inputs.VOLUME:
            _ignore_missing(lambda: self.client.api.remove_volume(entry.id))

    def pulumi_destroy(self, *, exclude_protected: bool = False) -> list[str]:
        """`pulumi destroy` (`--exclude-protected`): every resource deleted, dependents first; a protected
        one fails (or, excluded, stays with what it depends on) and a retained one is left on the engine.
        Returns the errors Pulumi would print."""
        everything = [*self.state.values(), *self.pending]
        if exclude_protected:
            kept = {e.urn for e in everything if e.protect}
            kept |= {d for e in everything if e.urn in kept for d in e.dependencies}
            everything = [e for e in everything if e.urn not in kept]
        return self._delete_in_order(everything, refuse_protected=everything)

    # --- refresh and preview ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """`pulumi refresh`: each container read back as the provider's Read stores it (one that is gone
        leaves state), networks and volumes checked to exist; initialization errors are cleared."""
        for entry in [*self.state.values(), *self.pending]:
            gone = False
            if entry.type == inputs.CONTAINER:
                try:
                    inspect = self.client.api.inspect_container(entry.id)
                    entry.outputs = {**entry.outputs, **docker_provider.read_back(inspect, entry.inputs)}
                except NotFound:
                    gone = True
            elif entry.type in (inputs.NETWORK, inputs.VOLUME):
                look = self.client.api.inspect_network if entry.type == inputs.NETWORK else self.client.api.inspect_volume
                try:
                    look(entry.id)
                except NotFound:
                    gone = True
            entry.init_errors = []
            if gone:
                self._forget_quietly(entry)

    def _forget_quietly(self, entry: Entry) -> None:
        if entry in self.pending:
            self.pending.remove(entry)
        elif self.state.get(entry.urn) is entry:
            del self.state[entry.urn]

    def preview(self, run: Run, *, refresh: bool = False) -> dict[str, Decision]:
        """`pulumi preview [--refresh]`: each resource's step, nothing applied (the state unchanged). An
        output of a resource the preview creates or replaces is unknown to its dependents."""
        saved = copy.deepcopy((self.state, self.pending))
        try:
            if refresh:
                self.refresh()
            return self._plan_steps(run)
        finally:
            self.state, self.pending = saved

    def _plan_steps(self, run: Run) -> dict[str, Decision]:
        nodes = self._nodes(run)
        new: set[str] = set()  # URNs the preview creates or replaces: their outputs are unknown
        decisions = {}
        for r in _in_dependency_order(nodes, self._dependencies):
            values = {k: steps.UNKNOWN if set(r.property_dependencies.get(k, ())) & new else v
                      for k, v in _with_kept_name(r, self._inputs(r), self.state.get(r.urn)).items()}
            decision = steps.decide(self.state.get(r.urn), values, r, steps.effective_delete_before_replace(r.type, r))
            decisions[r.name] = decision
            if decision.kind in ("create", "replace"):
                new.add(r.urn)
        return decisions

    # --- cleanup -----------------------------------------------------------------------------------------

    def restart_engine(self) -> None:
        """Stop and start the engine itself (its data root kept), as a host reboot does."""
        self.engine.restart()

    def destroy(self) -> None:
        """Remove everything this stack made on the engine, kept resources too (the tests' cleanup, not
        `pulumi destroy`: see pulumi_destroy). Images stay, as a cache."""
        entries = [*self.state.values(), *self.pending]
        grace = {e.id: int(e.inputs.get("destroyGraceSeconds") or 0) for e in entries if e.type == inputs.CONTAINER}
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(lambda cid: provider_calls.delete(self.client, cid, grace.get(cid, 0), True),
                          [*self.created, *self._command_containers()]))
        for network in self.networks.values():
            self._remove_network(network)
        for volume in self.volumes:
            _ignore_missing(lambda volume=volume: self.client.api.remove_volume(volume, force=True))
        self.state.clear()
        self.pending.clear()
        self.created.clear()

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
        """Containers a host command started on this stack's volumes or networks and left behind (a
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

    def _not_run_among(self, urns: set[str]) -> str | None:
        """The name of a container among `urns` that this apply did not create, if any."""
        return next((r.name for r in self.run.resources if r.urn in urns and r.type == inputs.CONTAINER
                     and r.name in self.not_run), None)

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

    def _inputs(self, r: Resource) -> dict:
        """`r`'s inputs with every made-up output replaced by the engine's (as Pulumi resolves them)."""
        with self._lock:
            real = dict(self._real)
        return _replaced(reveal(r.inputs), real)


def _auto_named(r: Resource) -> bool:
    return r.type == inputs.CONTAINER and not reveal(r.inputs).get("name")


def _with_kept_name(r: Resource, values: dict, old: Entry | None) -> dict:
    """An auto-named container's inputs with the name it was given (Pulumi's Check keeps a resource's
    generated name from its state; a replacement gets a new one)."""
    if _auto_named(r) and old is not None and old.outputs.get("name"):
        return {**values, "name": old.outputs["name"]}
    return values


def _without_kept_name(r: Resource, values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "name"} if _auto_named(r) else values


def planned_state(outputs: dict, values: dict) -> dict:
    """What an update records: the program's values; a Computed input it left out keeps its old value."""
    kept = {k: v for k, v in outputs.items() if k in docker_provider.COMPUTED or k not in docker_provider.SDK_INPUTS}
    return {**kept, **{k: v for k, v in values.items() if v is not None}}


def _replaced(value: Any, real: dict[str, str]) -> Any:
    """`value` with every occurrence of a key of `real` (longest first) replaced by its value."""
    if isinstance(value, str):
        for made_up in sorted((k for k in real if k and k in value), key=len, reverse=True):
            value = value.replace(made_up, real[made_up])
        return value
    if isinstance(value, dict):
        return {k: _replaced(v, real) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, real) for v in value]
    return value


def _in_dependency_order(nodes: dict[str, Resource], dependencies) -> list[Resource]:
    entries = [Entry(urn, r.type, r.name, "", {}, {}, frozenset(dependencies(r) & nodes.keys()))
               for urn, r in nodes.items()]
    return [nodes[e.urn] for e in steps.dependency_order(entries)]


def _mock_id(r: Resource) -> str:
    return f"{r.name}-id"  # offline.mockrun.BerthMocks: every resource's id


def _ignore_missing(call) -> None:
    with contextlib.suppress(NotFound):
        call()


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
    """The stack's first `pulumi up` on `engine`; on failure what was created is removed again."""
    # ssh://: the `ssh` binary, as the provider dials it (not the SDK's own SSH client)
    client = docker.DockerClient(base_url=engine.url, timeout=COMMAND_TIMEOUT_S, max_pool_size=PARALLEL + 4,
                                 use_ssh_client=engine.url.startswith("ssh://"))
    applied = Applied(run, engine, client, ServiceImages(client, standins, deployment_of(run)),
                      gpu=engine_has_gpu(client), standins=standins)
    try:
        applied.apply_all()
    except BaseException as failure:
        try:
            applied.destroy()
        except Exception as cleanup:  # noqa: BLE001 - the apply's own failure is the one to see
            failure.add_note(f"and removing what was created failed too: {cleanup}")
        raise
    return applied


def containers_of(applied: Applied, prefix: str) -> Iterable[str]:
    """Container resource names starting with `prefix` (a service's replicas: "collabry-backend")."""
    return sorted(n for n in applied.containers if n == prefix or n.startswith(prefix + "-"))
