"""What pulumi-docker does with a `docker.Container` on the second `pulumi up`, as data read in its source.

berth writes containers by these rules (components/single_host/container.py), the offline diff shows the
step they give (offline/diff.py), and the engine tier applies stacks by them (tests/support/apply.py).

Pinned: pulumi-docker 5.2.0 (requirements.txt). It is kreuzwerker/terraform-provider-docker bridged into
Pulumi. Read in terraform-provider-docker v4.5.0, which pulumi-docker 5.1.0 bundles (its `upstream`
submodule, 5074970c) and whose container code is unchanged at that repository's master of 2026-07-22
(83c00e0b):
- internal/provider/resource_docker_container.go: the schema: which inputs are ForceNew (a change
  replaces the container), Optional+Computed (removing one from the program keeps the old value), defaults;
- internal/provider/resource_docker_container_funcs.go: Create sets the ID right after ContainerCreate,
  before it joins networks, starts and waits for health (so a failed wait leaves a container Pulumi keeps
  with an initialization error); Update calls ContainerUpdate with the restart policy and resources only
  and never reads the container back; Read stores what a refresh sees, formatted as below;
- internal/provider/helpers.go: `nanoInt64ToDecimalString`, how Read writes `cpus`;
- pulumi-docker provider/resources.go: `docker_container` is mapped with `DeleteBeforeReplace: true` and
  every `name` is auto-named (`SetAutonaming(255, "-")`); pulumi-terraform-bridge pkg/tfbridge/schema.go
  `nameRequiresDeleteBeforeReplace`: a resource given an explicit name is replaced delete-first too.
pulumi-docker 5.2.0's SDK differs from 5.1.0's only by `deviceCgroupRules` and uploads' `owner`/`group`
(terraform-provider-docker 4.6.0's additions, whose Go source is not available here: the rules are
v4.5.0's, and the engine tier's refresh test checks the Read formats against a real engine).
tests/test_docker_provider.py fails when the pin or the SDK's inputs move, until this is read again.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from typing import Any

PULUMI_DOCKER = "5.2.0"
READ_IN = "kreuzwerker/terraform-provider-docker v4.5.0 (pulumi-docker 5.1.0's upstream; 5.2.0's SDK adds only new inputs)"

# Every input of pulumi-docker 5.2.0's Container (the SDK's ContainerArgs, wire names).
SDK_INPUTS = frozenset({
    "attach", "capabilities", "cgroupParent", "cgroupnsMode", "command", "containerReadRefreshTimeoutMilliseconds",
    "cpuPeriod", "cpuQuota", "cpuSet", "cpuShares", "cpus", "destroyGraceSeconds", "deviceCgroupRules",
    "deviceReadBps", "deviceReadIops", "deviceRequests", "deviceWriteBps", "deviceWriteIops", "devices", "dns",
    "dnsOpts", "dnsSearches", "domainname", "entrypoints", "envs", "gpus", "groupAdds", "healthcheck", "hostname",
    "hosts", "image", "init", "ipcMode", "labels", "logDriver", "logOpts", "logs", "maxRetryCount", "memory",
    "memoryReservation", "memorySwap", "mounts", "mustRun", "name", "networkMode", "networksAdvanced", "pidMode",
    "platform", "ports", "privileged", "publishAllPorts", "readOnly", "removeVolumes", "restart", "rm", "runtime",
    "securityOpts", "shmSize", "start", "stdinOpen", "stopSignal", "stopTimeout", "storageOpts", "sysctls", "tmpfs",
    "tty", "ulimits", "uploads", "user", "usernsMode", "volumes", "wait", "waitTimeout", "workingDir",
})

# resource_docker_container.go: `ForceNew: true` at the top level. A change replaces the container.
FORCE_NEW = frozenset({
    "name", "image", "readOnly", "hostname", "domainname", "command", "entrypoints", "user", "dns", "dnsOpts",
    "dnsSearches", "publishAllPorts", "workingDir", "capabilities", "securityOpts", "runtime", "platform",
    "stopSignal", "stopTimeout", "mounts", "volumes", "ports", "hosts", "ulimits", "envs", "privileged", "devices",
    "deviceRequests", "labels", "shmSize", "logDriver", "logOpts", "networkMode", "networksAdvanced", "pidMode",
    "usernsMode", "uploads", "sysctls", "ipcMode", "groupAdds", "tty", "stdinOpen", "storageOpts", "gpus", "cpus",
    "cgroupnsMode", "cgroupParent",
})
# Not read in any source available here (a 4.6.0 addition); berth never sets it (the engine tier refuses it).
UNREAD = frozenset({"deviceCgroupRules"})

# resource_docker_container_funcs.go resourceDockerContainerUpdate: a change to any of these calls
# ContainerUpdate with the restart policy, memory, memory reservation, CPU shares and set, block-IO limits,
# and `memory_swap` only when it is set. (`mustRun` false -> true starts a stopped container.)
UPDATE_APPLIES = frozenset({
    "restart", "maxRetryCount", "cpuShares", "memory", "memoryReservation", "cpuSet", "memorySwap",
    "deviceReadBps", "deviceReadIops", "deviceWriteBps", "deviceWriteIops",
})
# Not ForceNew and not applied by Update: a change is recorded in state and never reaches the running
# container. These describe the running container (berth replaces on a change to them)...
UPDATE_IGNORES = frozenset({"healthcheck", "tmpfs", "init", "cpuPeriod", "cpuQuota", "rm"})
# ...and these only how the provider creates, waits and deletes: recording them is all a change needs.
LIFECYCLE = frozenset({"start", "mustRun", "attach", "logs", "wait", "waitTimeout", "destroyGraceSeconds",
                       "removeVolumes", "containerReadRefreshTimeoutMilliseconds"})

# `Optional: true, Computed: true`: an input the program stops giving keeps its old value (no change).
COMPUTED = frozenset({"hostname", "command", "entrypoints", "securityOpts", "runtime", "platform", "stopSignal",
                      "stopTimeout", "envs", "labels", "shmSize", "logDriver", "healthcheck", "ipcMode", "init"})
# `DiffSuppressFunc`: an empty new value means "as before" (Docker's default).
EMPTY_MEANS_UNCHANGED = frozenset({"user", "workingDir"})
# `Default:` values in the schema (and the healthcheck block's): an input left out has this value.
DEFAULTS: dict[str, Any] = {
    "restart": "no", "readOnly": False, "start": True, "wait": False, "waitTimeout": 60, "attach": False,
    "logs": False, "mustRun": True, "rm": False, "removeVolumes": True, "networkMode": "bridge",
    "memoryReservation": 0, "tty": False, "stdinOpen": False, "containerReadRefreshTimeoutMilliseconds": 15000,
}
HEALTHCHECK_DEFAULTS = {"interval": "0s", "timeout": "0s", "startPeriod": "0s", "startInterval": "0s", "retries": 0}
# `schema.TypeSet`: order does not matter (nested: capabilities' adds/drops, a network's aliases).
SETS = frozenset({"envs", "dns", "dnsOpts", "dnsSearches", "capabilities", "securityOpts", "mounts", "volumes",
                  "hosts", "ulimits", "devices", "deviceReadBps", "deviceReadIops", "deviceWriteBps",
                  "deviceWriteIops", "deviceRequests", "labels", "networksAdvanced", "uploads", "groupAdds"})

assert FORCE_NEW | UPDATE_APPLIES | UPDATE_IGNORES | LIFECYCLE | UNREAD == SDK_INPUTS
assert not FORCE_NEW & (UPDATE_APPLIES | UPDATE_IGNORES | LIFECYCLE)

# provider/resources.go: `docker_container` is replaced delete-first unless the program says otherwise
# (Pulumi's step generator lets an explicit `deleteBeforeReplace` override the provider).
CONTAINER_DELETE_BEFORE_REPLACE = True


def container_delete_first(program_set_it: bool, program_value: bool) -> bool:
    """Whether a container is replaced delete-first: the program's choice when it made one, else the provider's."""
    return program_value if program_set_it or program_value else CONTAINER_DELETE_BEFORE_REPLACE


# --- values written as Read formats them ------------------------------------------------------------

def go_duration(seconds: int | float) -> str:
    """Go's `time.Duration.String()`, which Read uses for healthcheck durations: 60 -> "1m0s", 90 -> "1m30s".

    berth writes durations this way so that what Read stores equals what the program asks for."""
    ns = round(seconds * 1_000_000_000)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trimmed(Fraction(ns, size)) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trimmed(Fraction(rest, 1_000_000_000)) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _trimmed(value: Fraction) -> str:
    """A non-negative decimal without trailing zeros (Go prints at most 9 fractional digits)."""
    whole, frac = divmod(value.numerator * 10**9 // value.denominator, 10**9)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") if frac else str(whole)


def parse_cpus(text: str) -> int:
    """docker/cli opts.ParseCPUs, which Create uses: a decimal CPU count as nano-CPUs."""
    try:
        nano = Fraction(text) * 1_000_000_000
    except (ValueError, ZeroDivisionError) as err:
        raise ValueError(f"failed to parse {text!r} as a rational number") from err
    if nano.denominator != 1:
        raise ValueError(f"{text!r}: value is too precise")
    return int(nano)


def nano_cpus_text(nano: int) -> str:
    """helpers.go nanoInt64ToDecimalString, how Read writes `cpus`: 1e9 -> "1.0", 1e10 -> "10.", 5e7 -> "0.1"."""
    if nano == 0:
        return "0"
    nine = _fixed(Fraction(nano, 1_000_000_000), 9)
    if nine.count("0") == 9:
        return _fixed(Fraction(nano, 1_000_000_000), 1)
    return nine.rstrip("0")


def _fixed(value: Fraction, digits: int) -> str:
    """Go's big.Rat.FloatString(digits): rounded half away from zero."""
    scaled = value * 10**digits
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    text = str(whole).rjust(digits + 1, "0")
    return f"{text[:-digits]}.{text[-digits:]}" if digits else text


def cpus_as_read(cpus: float) -> str:
    """The `cpus` input berth writes: what Read will store for it, so a refresh shows no change (`cpus` is
    ForceNew: a difference would replace the container on every refreshed up). Raises ValueError for a
    value Read cannot give back (0.05 reads back as "0.1")."""
    nano = parse_cpus(repr(float(cpus)))
    text = nano_cpus_text(nano)
    if parse_cpus(text) != nano:
        near = [t for t in (f"{int(cpus * 10) / 10:.1f}", f"{(int(cpus * 10) + 1) / 10:.1f}")
                if float(t) > 0 and nano_cpus_text(parse_cpus(t)) == t]
        raise ValueError(f"the provider reads {cpus} CPUs back as {text}, so every refreshed deploy would replace "
                         f"the container; use {' or '.join(near)}")
    return text


# --- the provider's diff: what a second `up` changes --------------------------------------------------

def changed_inputs(state: dict, config: dict) -> set[str]:
    """The inputs whose change the provider's diff reports, comparing what state holds (the last
    create's, update's or refresh's outputs) with what the program now gives (terraform-plugin-sdk v2
    rules: an input left out has its default; a Computed one left out keeps its value; zero values and
    empty collections equal an unset input; sets compare without order)."""
    changed = set()
    for key in (set(state) | set(config)) & SDK_INPUTS:
        new = config.get(key)
        if _zero(new):
            if key in COMPUTED or key in EMPTY_MEANS_UNCHANGED:
                continue
            new = DEFAULTS.get(key)
        if _normal(key, state.get(key)) != _normal(key, new):
            changed.add(key)
    return changed


def step_of(changed: set[str], replace_on_changes: list[str] | tuple[str, ...]) -> str:
    """"replace" when a ForceNew input or one under `replace_on_changes` changed, "update" for any other
    change, "same" for none."""
    forced = (changed & FORCE_NEW) | forced_by(changed, replace_on_changes)
    return "replace" if forced else "update" if changed else "same"


def forced_by(changed: set[str], replace_on_changes: list[str] | tuple[str, ...]) -> set[str]:
    """Pulumi's applyReplaceOnChanges (pulumi/pulumi pkg/resource/deploy/step_generator.go): the changed
    inputs under a `replace_on_changes` path (`*` is every input) become replace keys."""
    heads = {p.split(".", 1)[0].split("[", 1)[0] for p in replace_on_changes}
    return set(changed) if "*" in heads else set(changed) & heads


def _zero(value: Any) -> bool:
    return value is None or value == 0 or value is False or value == "" or value == [] or value == {}


def _normal(key: str, value: Any) -> Any:
    """A value in the form the provider compares: defaults filled in, sets sorted, zero values as None."""
    if _zero(value):
        return None
    if key == "healthcheck":
        check = value[0] if isinstance(value, list) else value
        return _normal("", {**HEALTHCHECK_DEFAULTS, **{k: v for k, v in check.items() if not _zero(v)}})
    if key == "ports":
        return [_normal("", {"ip": "0.0.0.0", "protocol": "tcp", **{k: v for k, v in p.items() if not _zero(v)}})
                for p in value]
    if isinstance(value, dict):
        return {k: _normal(k, v) for k, v in sorted(value.items()) if not _zero(v)}
    if isinstance(value, list):
        items = [_normal("", v) for v in value]
        if key in SETS or key in ("adds", "drops", "aliases"):
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
        return items
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- what Read stores ------------------------------------------------------------------------------

MIB = 1024 * 1024


def read_back(inspect: dict, config: dict) -> dict:
    """resourceDockerContainerRead: the outputs a refresh stores for a container, from `docker inspect`,
    in the provider's formats (`config` decides the few it reads only when the program set them)."""
    c, h = inspect["Config"], inspect["HostConfig"]
    out = {
        "name": inspect["Name"].lstrip("/"), "rm": h.get("AutoRemove"), "readOnly": h.get("ReadonlyRootfs"),
        "image": inspect["Image"] if str(config.get("image", "")).startswith("sha256:") else c.get("Image"),
        "hostname": c.get("Hostname"), "domainname": c.get("Domainname"), "command": c.get("Cmd"),
        "entrypoints": c.get("Entrypoint"), "user": c.get("User"), "workingDir": c.get("WorkingDir"),
        "dns": h.get("Dns"), "dnsOpts": h.get("DnsOptions"), "dnsSearches": h.get("DnsSearch"),
        "securityOpts": h.get("SecurityOpt"), "publishAllPorts": h.get("PublishAllPorts"),
        "restart": h["RestartPolicy"]["Name"], "maxRetryCount": h["RestartPolicy"].get("MaximumRetryCount"),
        "init": bool(h.get("Init")), "runtime": h.get("Runtime"), "platform": inspect.get("Platform"),
        "tmpfs": h.get("Tmpfs"), "privileged": h.get("Privileged"), "memory": (h.get("Memory") or 0) // MIB,
        "memoryReservation": (h.get("MemoryReservation") or 0) // MIB, "memorySwap": _swap(h.get("MemorySwap") or 0),
        "shmSize": (h.get("ShmSize") or 0) // MIB, "cpuShares": h.get("CpuShares"), "cpuSet": h.get("CpusetCpus"),
        "logDriver": h["LogConfig"]["Type"], "storageOpts": h.get("StorageOpt"), "networkMode": h.get("NetworkMode"),
        "usernsMode": h.get("UsernsMode"), "sysctls": h.get("Sysctls"), "ipcMode": h.get("IpcMode"),
        "groupAdds": h.get("GroupAdd"), "tty": c.get("Tty"), "stdinOpen": c.get("OpenStdin"),
        "stopSignal": c.get("StopSignal"), "stopTimeout": c.get("StopTimeout"),
        "hosts": [dict(zip(("host", "ip"), e.split(":", 1), strict=False)) for e in h.get("ExtraHosts") or []],
    }
    if h.get("CapAdd") or h.get("CapDrop"):
        out["capabilities"] = {"adds": h.get("CapAdd"), "drops": h.get("CapDrop")}
    if (h.get("NanoCpus") or 0) > 0:
        out["cpus"] = nano_cpus_text(h["NanoCpus"])
    if config.get("logOpts"):
        out["logOpts"] = h["LogConfig"].get("Config")
    if c.get("Healthcheck"):
        out["healthcheck"] = _healthcheck(c["Healthcheck"])
    running = inspect["State"]["Running"]
    if config.get("ports") and (running or config.get("mustRun", True)):
        out["ports"] = _ports(inspect["NetworkSettings"].get("Ports") or {})
    if not running:
        out["mustRun"] = False  # Read: a stopped container the program wants running shows a change
    return out


def _swap(swap: int) -> int:
    return swap // MIB if swap > 0 else swap


def _healthcheck(check: dict) -> dict:
    seconds = {k: (check.get(k) or 0) / 1e9 for k in ("Interval", "Timeout", "StartPeriod", "StartInterval")}
    return {"tests": check.get("Test"), "interval": go_duration(seconds["Interval"]),
            "timeout": go_duration(seconds["Timeout"]), "startPeriod": go_duration(seconds["StartPeriod"]),
            "startInterval": go_duration(seconds["StartInterval"]), "retries": check.get("Retries") or 0}


def _ports(bindings: dict) -> list[dict]:
    """flattenContainerPorts (resource_docker_container_structures.go): one entry per host binding."""
    out = []
    for key in sorted(bindings, key=lambda k: (int(k.split("/")[0]), k)):
        internal, protocol = key.split("/")
        for binding in bindings[key] or []:
            out.append({"internal": int(internal), "external": int(binding.get("HostPort") or 0),
                        "ip": binding.get("HostIp"), "protocol": protocol})
    return out


# --- the step between two intended states (offline/diff.py) ------------------------------------------

def digest(value: Any) -> str:
    """A short digest of a value: two plans compare values without holding them."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def input_digests(values: dict) -> dict[str, str]:
    """Each container input the program sets, as the digest of the value the provider compares."""
    return {k: digest(_normal(k, v)) for k, v in sorted(values.items()) if k in SDK_INPUTS and not _zero(v)}


def changed_digests(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """The inputs a second `up` changes between two programs' `input_digests` (one left out that the
    provider keeps, or whose empty value means "as before", changes nothing)."""
    return {k for k in set(before) | set(after)
            if before.get(k) != after.get(k) and not (k not in after and k in COMPUTED | EMPTY_MEANS_UNCHANGED)}
