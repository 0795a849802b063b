"""How soon each container's own process is ready, however often Docker asks: the physical limit that a
stack's time to healthy is measured against (the engine tier's benchmark).

A container's readiness is measured on a fresh copy of it, started beside the deployed stack, whose
dependencies are up as they were when the deploy started it: the same image, command, environment, user,
root file system, capabilities, tmpfs and networks (without aliases: the copy takes no traffic), no
published ports and no Docker healthcheck. Named volumes are fresh ones, so a datastore initialises as on
a first deploy; the proxy (the container that publishes ports) keeps its own, where its certificates are,
so its copy asks no CA. Its healthcheck's test is run in it every POLL_S from start until it passes.

The limit is the stack's longest chain of dependent steps (Applied.critical_path) with each health
gate's wait replaced by its container's readiness: what a deploy would take if each container were
known healthy the moment its process is.
"""

from __future__ import annotations

import time

import docker

POLL_S = 0.1
READY_WITHIN_S = 120
GATE_SUFFIX = "-healthy"  # components/single_host/container.py: a container's health gate is "<container>-healthy"
COPIED_CONFIG = ("Image", "Env", "Cmd", "Entrypoint", "User", "WorkingDir", "StopSignal")
COPIED_HOST_CONFIG = ("Tmpfs", "ReadonlyRootfs", "CapAdd", "CapDrop", "SecurityOpt", "Init", "Memory", "MemorySwap",
                      "NanoCpus")


def seconds_to_ready(client: docker.DockerClient, container_id: str) -> float:
    """From a fresh copy's start to its healthcheck test's first pass (0 for a container without one)."""
    info = client.api.inspect_container(container_id)
    test = (info["Config"].get("Healthcheck") or {}).get("Test") or ["NONE"]
    if test[0] == "NONE":
        return 0.0
    argv = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    copy, volumes = _copy(client, info)
    try:
        started = time.monotonic()
        client.api.start(copy)
        while time.monotonic() - started < READY_WITHIN_S:
            probe = client.api.exec_create(copy, argv)
            client.api.exec_start(probe)
            if client.api.exec_inspect(probe)["ExitCode"] == 0:
                return time.monotonic() - started
            time.sleep(POLL_S)
        raise AssertionError(f"a copy of {info['Name']} was not ready within {READY_WITHIN_S}s: "
                             f"{client.api.logs(copy, tail=20).decode(errors='replace')}")
    finally:
        client.api.remove_container(copy, force=True, v=True)
        for volume in volumes:
            client.api.remove_volume(volume, force=True)


def _copy(client: docker.DockerClient, info: dict) -> tuple[str, list[str]]:
    host = info["HostConfig"]
    keeps_volumes = bool(host.get("PortBindings"))  # the proxy: its certificates, so no CA is asked
    volumes, binds = [], []
    for bind in host.get("Binds") or []:
        source, rest = bind.split(":", 1)
        if keeps_volumes or (source.startswith("/") and rest.endswith(":ro")):
            binds.append(bind)
        else:  # a named volume, or a host directory it writes: a fresh volume of its own
            volumes.append(client.api.create_volume(labels={"berth.readiness-copy": "1"})["Name"])
            binds.append(f"{volumes[-1]}:{rest}")
    networks = list(info["NetworkSettings"]["Networks"])
    config = {k: info["Config"][k] for k in COPIED_CONFIG if info["Config"].get(k) is not None}
    config["HostConfig"] = {**{k: host[k] for k in COPIED_HOST_CONFIG if host.get(k) is not None},
                            "Binds": binds, "NetworkMode": networks[0]}
    copy = client.api.create_container_from_config(config)["Id"]
    for network in networks[1:]:
        client.api.connect_container_to_network(copy, network)
    return copy, volumes


def gate_as_ready(ready: dict[str, float]):
    """A step's seconds, a health gate's being its container's `ready` seconds."""
    def seconds(step) -> float:
        container = step.name.removesuffix(GATE_SUFFIX)
        return ready[container] if step.name.endswith(GATE_SUFFIX) and container in ready else step.seconds

    return seconds


def physical_limit(applied, ready: dict[str, float]):
    """Applied.critical_path with each health gate lasting its container's readiness."""
    return applied.critical_path(gate_as_ready(ready))


def chain(steps, seconds=lambda step: step.seconds) -> str:
    return " -> ".join(f"{step.name} {seconds(step):.1f}s" for step in steps)


def wait_docker_calls_healthy(client: docker.DockerClient, containers: dict[str, str], timeout_s: float = 180) -> None:
    """Wait until each container (name -> id) runs and, where it has a healthcheck, Docker calls it healthy.

    A deploy's health gate passes as soon as the container's own check does (render/health_gate.py);
    Docker's verdict follows at its next scheduled probe, up to one `interval` later."""
    deadline = time.monotonic() + timeout_s
    waiting = dict(containers)
    while True:
        now = {n: client.api.inspect_container(cid)["State"] for n, cid in waiting.items()}
        waiting = {n: waiting[n] for n, s in now.items()
                   if not s["Running"] or (s.get("Health") and s["Health"]["Status"] != "healthy")}
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy after {timeout_s}s: {sorted(waiting)}: "
                                 f"{ {n: now[n].get('Health', {}).get('Log', [])[-1:] for n in waiting} }")
        time.sleep(0.5)
