"""The Docker API calls terraform-provider-docker (v4.5.0, resource_docker_container_funcs.go) makes for
one container: create, update, delete. tests/support/apply.py decides when; this says how.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import docker
from docker.errors import APIError, NotFound

from config import docker_provider
from tests.support.docker_inputs import ContainerPlan

HEALTH_POLL_S = 1.0  # the provider inspects once a second while it waits for healthy


class ContainerFailed(Exception):
    """A container create failed; `cid` is the ID the provider had set by then (None: nothing created)."""

    def __init__(self, message: str, cid: str | None):
        super().__init__(message)
        self.cid = cid


def create(client: docker.DockerClient, plan: ContainerPlan, created: Callable[[str], None]) -> str:
    """resourceDockerContainerCreate: ContainerCreate (the ID is set here: `created(id)`), leave the
    default bridge, join networks, upload, start, wait. Raises ContainerFailed, with the ID when a step
    after the create failed (Pulumi then keeps the container with an initialization error)."""
    api = client.api
    try:
        cid = api.create_container(host_config=api.create_host_config(**plan.host_config), **plan.create)["Id"]
    except APIError as error:
        raise ContainerFailed(f"container {plan.name}: Unable to create container: {error.explanation or error}",
                              None) from error
    created(cid)
    try:
        _start(client, cid, plan)
    except APIError as error:
        raise ContainerFailed(f"container {plan.name}: {error.explanation or error}", cid) from error
    return cid


def _start(client: docker.DockerClient, cid: str, plan: ContainerPlan) -> None:
    api = client.api
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
            _wait_healthy(client, cid, plan)


def _wait_healthy(client: docker.DockerClient, cid: str, plan: ContainerPlan) -> None:
    """As the provider waits (`wait`), but it fails at once when Docker already calls the container
    unhealthy, instead of sitting out `waitTimeout`: the outcome is the same failed deploy."""
    deadline = time.monotonic() + plan.wait_timeout_s
    while True:
        state = client.api.inspect_container(cid)["State"]
        health = (state.get("Health") or {}).get("Status")
        if health is None:
            raise ContainerFailed(f"container {plan.name}: 'wait' without a healthcheck (the provider refuses it)", cid)
        if health == "healthy":
            return
        if health == "unhealthy" or time.monotonic() > deadline:
            raise ContainerFailed(f"container {plan.name}: container failed to be in healthy state ({health}, "
                                  f"{state.get('Status')})\n{_why(client, cid)}", cid)
        time.sleep(HEALTH_POLL_S)


def _why(client: docker.DockerClient, cid: str) -> str:
    state = client.api.inspect_container(cid)["State"]
    probes = [f"probe exit {p.get('ExitCode')}: {p.get('Output', '').strip()[-400:]}"
              for p in (state.get("Health") or {}).get("Log", [])[-3:]]
    logs = client.api.logs(cid, tail=40).decode(errors="replace")
    return "\n".join([*probes, "--- logs", logs])


def update(client: docker.DockerClient, cid: str, values: dict, changed: set[str], was_stopped: bool) -> None:
    """resourceDockerContainerUpdate: when a field it applies changed, one ContainerUpdate of the restart
    policy and resources (memory swap only when set); a `mustRun` that was false starts the container.
    Nothing else reaches the container."""
    if changed & docker_provider.UPDATE_APPLIES:
        swap = int(values.get("memorySwap") or 0)
        kwargs = {"restart_policy": {"Name": values.get("restart") or "no",
                                     "MaximumRetryCount": int(values.get("maxRetryCount") or 0)},
                  "mem_limit": int(values.get("memory") or 0) * docker_provider.MIB,
                  "cpu_shares": int(values.get("cpuShares") or 0), "cpuset_cpus": values.get("cpuSet") or ""}
        if swap:
            kwargs["memswap_limit"] = swap * docker_provider.MIB if swap > 0 else swap
        client.api.update_container(cid, **kwargs)
    if "mustRun" in changed and was_stopped:
        client.api.start(cid)


def delete(client: docker.DockerClient, cid: str, grace_s: int, remove_volumes: bool) -> None:
    """resourceDockerContainerDelete: stop with `destroyGraceSeconds`, remove (force); a container already
    gone is no error ("No such container" is ignored at each step)."""
    for call in (lambda: client.api.stop(cid, timeout=grace_s),
                 lambda: client.api.remove_container(cid, v=remove_volumes, force=True)):
        with contextlib.suppress(NotFound):
            call()
