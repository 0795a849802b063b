"""pulumi-docker inputs, as a mock run records them, turned into the Docker API calls the provider makes.

pulumi-docker is terraform-provider-docker underneath; this follows its create functions
(kreuzwerker/terraform-provider-docker `internal/provider/resource_docker_container_funcs.go`,
`resource_docker_network_funcs.go`, `resource_docker_volume.go`) field by field, with its schema
defaults (`restart` "no", port `ip` 0.0.0.0 and `protocol` tcp, `network_mode` bridge, `init` false,
`remove_volumes` true, `wait_timeout` 60). Inputs arrive with wire (camelCase) keys.

An input this module does not know is refused (`NotMapped`), never dropped: a test that applies a
stack must not pass while the engine runs something other than what the program declared.
"""

from __future__ import annotations

import base64
import io
import re
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

from offline.mockrun import reveal

NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
IMAGE = "docker:index/image:Image"


class NotMapped(AssertionError):
    """A resource type or input the engine mapping does not know: the apply fails instead of dropping it."""


def _refuse_unknown(where: str, values: dict, known: set[str]) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise NotMapped(f"{where}: the engine mapping does not know {unknown}; map it in "
                        "tests/support/docker_inputs.py the way terraform-provider-docker does")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
            "h": 3_600_000_000_000}


def go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration ("1m30s", "500ms"), as the provider parses healthcheck durations."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise NotMapped(f"healthcheck duration {text!r} is not a Go duration")
    return int(sum(float(n) * _UNIT_NS[u] for n, u in parts))


# --- networks and volumes ---------------------------------------------------------------------------

NETWORK_INPUTS = {"name", "driver", "internal", "attachable", "ingress", "ipv6", "labels", "options",
                  "ipamConfigs", "ipamDriver", "ipamOptions"}
IPAM_INPUTS = {"subnet", "gateway", "ipRange", "auxAddress"}


def network_create(inputs: dict) -> dict:
    """kwargs for `client.networks.create` (the provider's `NetworkCreate`)."""
    values = reveal(inputs)
    _refuse_unknown("network", values, NETWORK_INPUTS)
    kwargs: dict[str, Any] = {"name": values["name"], "check_duplicate": True,
                              "labels": {lb["label"]: lb["value"] for lb in values.get("labels") or []}}
    for key, arg in (("driver", "driver"), ("options", "options"), ("internal", "internal"),
                     ("attachable", "attachable"), ("ingress", "ingress"), ("ipv6", "enable_ipv6")):
        if values.get(key) is not None:
            kwargs[arg] = values[key]
    if values.get("ipamConfigs") or values.get("ipamDriver") or values.get("ipamOptions"):
        pools = []
        for pool in values.get("ipamConfigs") or []:
            _refuse_unknown("network.ipamConfigs", pool, IPAM_INPUTS)
            pools.append({"Subnet": pool.get("subnet"), "Gateway": pool.get("gateway"),
                          "IPRange": pool.get("ipRange"), "AuxiliaryAddresses": pool.get("auxAddress")})
        kwargs["ipam"] = {"Driver": values.get("ipamDriver") or "default", "Config": pools,
                          "Options": values.get("ipamOptions")}
    return kwargs


VOLUME_INPUTS = {"name", "driver", "driverOpts", "labels"}


def volume_create(inputs: dict) -> dict:
    """kwargs for `client.volumes.create` (the provider's `VolumeCreate`)."""
    values = reveal(inputs)
    _refuse_unknown("volume", values, VOLUME_INPUTS)
    return {"name": values["name"], "driver": values.get("driver") or "local",
            "driver_opts": values.get("driverOpts"),
            "labels": {lb["label"]: lb["value"] for lb in values.get("labels") or []}}


# --- containers -------------------------------------------------------------------------------------

CONTAINER_INPUTS = {
    # container.Config
    "image", "name", "envs", "command", "entrypoints", "user", "workingDir", "hostname", "labels",
    "healthcheck", "stopSignal", "stopTimeout", "ports",
    # container.HostConfig
    "volumes", "restart", "maxRetryCount", "readOnly", "privileged", "tmpfs", "init", "capabilities",
    "securityOpts", "memory", "memorySwap", "cpus", "logDriver", "logOpts", "gpus", "networkMode",
    # after create: networks, uploads, start, wait; on delete
    "networksAdvanced", "uploads", "start", "mustRun", "wait", "waitTimeout", "destroyGraceSeconds",
    "removeVolumes",
}
HEALTHCHECK_INPUTS = {"tests", "interval", "timeout", "startPeriod", "startInterval", "retries"}
PORT_INPUTS = {"internal", "external", "ip", "protocol"}
VOLUME_MOUNT_INPUTS = {"volumeName", "hostPath", "containerPath", "readOnly", "fromContainer"}
NETWORK_ATTACH_INPUTS = {"name", "aliases", "ipv4Address"}
UPLOAD_INPUTS = {"file", "content", "contentBase64", "source", "executable", "permissions"}
CAPABILITY_INPUTS = {"adds", "drops"}
LABEL_INPUTS = {"label", "value"}


@dataclass(frozen=True)
class ContainerPlan:
    """One `docker.Container` as the provider creates it: the create call, then what follows it."""

    name: str
    create: dict  # kwargs of APIClient.create_container (host_config given separately)
    host_config: dict  # kwargs of APIClient.create_host_config
    networks: list[tuple[str, list[str], str | None]] = field(default_factory=list)  # name, aliases, ipv4
    uploads: list[tuple[str, bytes, int]] = field(default_factory=list)  # file, content, mode
    start: bool = True
    wait: bool = False
    wait_timeout_s: int = 60
    destroy_grace_s: int = 0
    remove_volumes: bool = True
    gpu: bool = False

    def upload_archive(self) -> bytes:
        """The tar the provider builds for each upload and extracts at `/` (one archive for all here)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for file, content, mode in self.uploads:
                info = tarfile.TarInfo(file)
                info.size, info.mode, info.mtime = len(content), mode, int(time.time())
                tar.addfile(info, io.BytesIO(content))
        return buffer.getvalue()


def container_plan(inputs: dict, name: str, image: str) -> ContainerPlan:  # noqa: C901 - to split
    """The provider's ContainerCreate for recorded `inputs`; `name` is the container's (auto-)name and
    `image` the engine's id of the image the recorded `image` input stands for."""
    values = reveal(inputs)
    _refuse_unknown("container", values, CONTAINER_INPUTS)
    create: dict[str, Any] = {"image": image, "name": name}
    host: dict[str, Any] = {"network_mode": values.get("networkMode") or "bridge",
                            "init": bool(values.get("init", False)),
                            "privileged": bool(values.get("privileged", False)),
                            "read_only": bool(values.get("readOnly", False)),
                            "restart_policy": {"Name": values.get("restart") or "no",
                                               "MaximumRetryCount": int(values.get("maxRetryCount") or 0)}}
    if values.get("envs"):
        create["environment"] = list(values["envs"])
    if values.get("command"):
        if any(part == "" for part in values["command"]):
            raise NotMapped("container command: values for command may not be empty (the provider refuses them)")
        create["command"] = list(values["command"])
    if values.get("entrypoints"):
        create["entrypoint"] = list(values["entrypoints"])
    for key, arg in (("user", "user"), ("workingDir", "working_dir"), ("hostname", "hostname"),
                     ("stopSignal", "stop_signal")):
        if values.get(key):
            create[arg] = values[key]
    if values.get("stopTimeout") is not None:
        create["stop_timeout"] = int(values["stopTimeout"])
    if values.get("labels"):
        for label in values["labels"]:
            _refuse_unknown("container.labels", label, LABEL_INPUTS)
        create["labels"] = {lb["label"]: lb["value"] for lb in values["labels"]}
    if values.get("healthcheck"):
        check = values["healthcheck"]
        _refuse_unknown("container.healthcheck", check, HEALTHCHECK_INPUTS)
        create["healthcheck"] = {
            "test": list(check["tests"]),
            **{arg: go_duration_ns(check[key]) for key, arg in (
                ("interval", "interval"), ("timeout", "timeout"), ("startPeriod", "start_period"))
               if check.get(key)},
            "retries": int(check.get("retries") or 0),
        }
        if check.get("startInterval"):
            raise NotMapped("container.healthcheck.startInterval needs Docker API 1.44; this engine is 20.10")
    if values.get("ports"):
        exposed, bindings = [], {}
        for port in values["ports"]:
            _refuse_unknown("container.ports", port, PORT_INPUTS)
            key = f"{int(port['internal'])}/{port.get('protocol') or 'tcp'}"
            exposed.append((int(port["internal"]), port.get("protocol") or "tcp"))
            bindings.setdefault(key, []).append(
                (port.get("ip") or "0.0.0.0", int(port["external"]) if port.get("external") is not None else None))
        create["ports"] = exposed
        host["port_bindings"] = bindings
    if values.get("volumes"):
        binds, paths, volumes_from = [], [], []
        for volume in values["volumes"]:
            _refuse_unknown("container.volumes", volume, VOLUME_MOUNT_INPUTS)
            source = volume.get("hostPath") or volume.get("volumeName")
            if volume.get("fromContainer"):
                volumes_from.append(volume["fromContainer"])
                continue
            paths.append(volume["containerPath"])
            if source:
                binds.append(f"{source}:{volume['containerPath']}:{'ro' if volume.get('readOnly') else 'rw'}")
        create["volumes"] = paths
        host["binds"] = binds
        if volumes_from:
            host["volumes_from"] = volumes_from
    if values.get("tmpfs"):
        host["tmpfs"] = dict(values["tmpfs"])
    if values.get("capabilities"):
        _refuse_unknown("container.capabilities", values["capabilities"], CAPABILITY_INPUTS)
        host["cap_add"] = list(values["capabilities"].get("adds") or []) or None
        host["cap_drop"] = list(values["capabilities"].get("drops") or []) or None
    if values.get("securityOpts"):
        host["security_opt"] = list(values["securityOpts"])
    if values.get("memory"):
        host["mem_limit"] = int(values["memory"]) * 1024 * 1024  # MB, as the provider multiplies
    if values.get("memorySwap"):
        swap = int(values["memorySwap"])
        host["memswap_limit"] = swap * 1024 * 1024 if swap > 0 else swap
    if values.get("cpus"):
        host["nano_cpus"] = round(float(values["cpus"]) * 1e9)  # docker/cli opts.ParseCPUs
    if values.get("logDriver") or values.get("logOpts"):
        host["log_config"] = {"Type": values.get("logDriver") or "", "Config": dict(values.get("logOpts") or {})}
    gpu = bool(values.get("gpus"))
    if gpu:
        if values["gpus"] != "all":
            raise NotMapped(f"container.gpus {values['gpus']!r}: only 'all' is mapped")
        host["device_requests"] = [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]  # docker/cli GpuOpts "all"
    networks = []
    for attach in values.get("networksAdvanced") or []:
        _refuse_unknown("container.networksAdvanced", attach, NETWORK_ATTACH_INPUTS)
        networks.append((attach["name"], list(attach.get("aliases") or []), attach.get("ipv4Address")))
    uploads = []
    for upload in values.get("uploads") or []:
        _refuse_unknown("container.uploads", upload, UPLOAD_INPUTS)
        uploads.append(_upload(upload))
    return ContainerPlan(
        name=name, create=create, host_config=host, networks=networks, uploads=uploads,
        start=values.get("start", True) is not False,
        wait=bool(values.get("wait", False)),
        wait_timeout_s=int(values.get("waitTimeout") or 60),
        destroy_grace_s=int(values.get("destroyGraceSeconds") or 0),
        remove_volumes=values.get("removeVolumes", True) is not False,
        gpu=gpu,
    )


def _upload(upload: dict) -> tuple[str, bytes, int]:
    given = [k for k in ("content", "contentBase64", "source") if upload.get(k)]
    if len(given) != 1:
        raise NotMapped(f"container upload {upload.get('file')!r}: exactly one of content, contentBase64, source "
                        f"must be set (the provider refuses {given or 'none'})")
    if upload.get("content"):
        content = upload["content"].encode()
    elif upload.get("contentBase64"):
        content = base64.b64decode(upload["contentBase64"])
    else:
        with open(upload["source"], "rb") as f:
            content = f.read()
    if upload.get("permissions"):
        mode = int(upload["permissions"], 8)
    else:
        mode = 0o744 if upload.get("executable") else 0o644
    return upload["file"], content, mode


# --- images -----------------------------------------------------------------------------------------

REMOTE_IMAGE_INPUTS = {"name", "keepLocally", "platform", "forceRemove", "pullTriggers", "triggers"}
IMAGE_INPUTS = {"imageName", "build", "skipPush", "buildOnPreview", "registry"}


def remote_image_ref(inputs: dict) -> str:
    """The reference a `docker.RemoteImage` pulls."""
    values = reveal(inputs)
    _refuse_unknown("remoteImage", values, REMOTE_IMAGE_INPUTS)
    if values.get("platform") not in (None, "linux/amd64"):
        raise NotMapped(f"remoteImage {values['name']}: platform {values['platform']} (stand-ins are linux/amd64)")
    return values["name"]


def image_build(inputs: dict) -> dict:
    """A `docker.Image` (a build): its inputs, refused if unknown."""
    values = reveal(inputs)
    _refuse_unknown("image", values, IMAGE_INPUTS)
    return values


# --- host commands ----------------------------------------------------------------------------------

LOCAL_COMMAND = "command:local:Command"
REMOTE_COMMAND = "command:remote:Command"
COMMAND_INPUTS = {"create", "stdin", "triggers", "logging", "connection"}


def command_inputs(type_: str, inputs: dict) -> dict:
    """A host command's create script and stdin. `connection` (remote: the SSH login) means "on the host",
    which here is this machine with DOCKER_HOST pointing at the engine."""
    values = reveal(inputs)
    known = COMMAND_INPUTS if type_ == REMOTE_COMMAND else COMMAND_INPUTS - {"connection"}
    _refuse_unknown(type_.split(":")[1] + " command", values, known)
    return values
