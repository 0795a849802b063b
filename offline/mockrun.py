"""Run the real `__main__.py` under Pulumi mocks with a stack's config, and record what it declares.

No Pulumi CLI, cloud account or Docker engine is needed: every resource registration is recorded
with its inputs (secrets still marked), its options (protect, retainOnDelete, ignoreChanges,
deleteBeforeReplace and whether the program set it, replaceOnChanges, replacementTrigger, dependencies,
per-property dependencies) and its provider; stack outputs with their secret flag; and
every log line. Tests assert on this record, and `plan` prints it.

It shows intended state, not what the cloud currently runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import gc
import hashlib
import json
import logging
import os
import re
import runpy
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.proto import alias_pb2, resource_pb2, source_pb2

REPO = Path(__file__).resolve().parent.parent
SECRET_SIG = rpc._special_secret_sig  # noqa: SLF001 - the wire marker of a secret value
SIG_KEY = rpc._special_sig_key  # noqa: SLF001
TEST_ACCOUNT = "123456789012"
TEST_REGION = "us-east-1"
RECORD_VERSION = 1
# Asks the program for stand-ins of prod's unset secrets (config/load.py honours it only under mocks).
OFFLINE_PLAN_ENV = "BERTH_OFFLINE_PLAN"
PULLED = re.compile(r"docker pull --quiet ([^\s'\"]+)")  # the image a host command pulls


class NothingRecorded(AssertionError):
    """The program ran but registered nothing: the mocks were not in use, so nothing was tested."""


# --- recorded state --------------------------------------------------------------------------------

def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def reveal(value: Any) -> Any:
    """The value with every secret marker removed (for asserting on content)."""
    if is_secret_value(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def plain_strings(value: Any) -> list[str]:
    """Every string in `value` that is *not* under a secret marker: what state would keep in clear."""
    if is_secret_value(value):
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in plain_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in plain_strings(v)]
    return [value] if isinstance(value, str) else []


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    inputs: dict
    parent: str
    provider: str
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    state: dict = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)  # URNs it was known by before (so it is not replaced)
    # What decides the step of a second `pulumi up` (tests/support/apply.py, offline/diff.py):
    delete_before_replace_defined: bool = False  # the program set deleteBeforeReplace (True or False)
    replace_on_changes: list[str] = field(default_factory=list)
    replacement_trigger: Any = None
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)  # input -> URNs its value came from

    @property
    def values(self) -> dict:
        """Inputs with secret markers removed."""
        return reveal(self.inputs)

    def is_secret(self, key: str) -> bool:
        return is_secret_value(self.inputs.get(key))

    @property
    def survives_destroy(self) -> bool:
        return self.protect or self.retain_on_delete


@dataclass
class Run:
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    logs: list[str]
    calls: list[tuple[str, dict]] = field(default_factory=list)
    config: StackConfig | None = None
    project: str | None = None  # the project directory it ran in (host paths are relative to it)

    def to_record(self) -> dict:
        """Everything the run registered and exported, as JSON data (secret markers kept)."""
        return {
            "berthRecord": RECORD_VERSION, "stack": self.stack,
            "config": {"values": self.config.values, "secretKeys": sorted(self.config.secret_keys)} if self.config else None,
            "resources": [dataclasses.asdict(r) for r in self.resources],
            "outputs": self.outputs, "secretOutputs": sorted(self.secret_outputs), "logs": self.logs,
            "project": self.project,
        }

    @classmethod
    def from_record(cls, record: dict) -> Run:
        config = record.get("config")
        return cls(record["stack"], [Resource(**r) for r in record["resources"]], record["outputs"],
                   set(record["secretOutputs"]), record["logs"],
                   config=StackConfig(config["values"], frozenset(config["secretKeys"])) if config else None,
                   project=record.get("project"))

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, type_: str, name: str) -> Resource:
        found = [r for r in self.of_type(type_) if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{type_} {name!r}: found {len(found)} (have: {[r.name for r in self.of_type(type_)]})")
        return found[0]

    def containers(self) -> dict[str, Resource]:
        return {r.name: r for r in self.of_type("docker:index/container:Container")}

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)


# --- mocks ---------------------------------------------------------------------------------------

def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


# What EC2's DescribeInstanceTypes says of the types tests and examples use: MiB, vCPUs, GPU, architecture.
INSTANCE_TYPES = {
    "t3.small": (2048, 2, None, "x86_64"), "t3.medium": (4096, 2, None, "x86_64"),
    "t3.large": (8192, 2, None, "x86_64"), "t3.xlarge": (16384, 4, None, "x86_64"),
    "t3.2xlarge": (32768, 8, None, "x86_64"), "m6i.large": (8192, 2, None, "x86_64"),
    "m7i.large": (8192, 2, None, "x86_64"), "m7i.xlarge": (16384, 4, None, "x86_64"),
    "c7i.xlarge": (8192, 4, None, "x86_64"), "r6i.large": (16384, 2, None, "x86_64"),
    "t4g.medium": (4096, 2, None, "arm64"), "t4g.xlarge": (16384, 4, None, "arm64"),
    "g4dn.xlarge": (16384, 4, "T4", "x86_64"), "g5.xlarge": (16384, 4, "A10G", "x86_64"),
    "g6.xlarge": (16384, 4, "L4", "x86_64"), "g5g.4xlarge": (32768, 16, "T4g", "arm64"),
    "mac2.metal": (16384, 8, None, "arm64_mac"),
}


# --- what the providers compute ----------------------------------------------------------------------
# Each resource type's outputs from its name and (revealed) inputs; every other resource echoes its inputs.

def _built_image(name: str, values: dict) -> dict:
    image_name = values["imageName"]
    digest = _digest(image_name, json.dumps(values.get("build", {}), sort_keys=True))
    pushed = not values.get("skipPush")
    return {"repoDigest": (image_name.rsplit(":", 1)[0] + "@sha256:" + digest) if pushed else "sha256:" + digest}


def _command(name: str, values: dict) -> dict:
    """An image pull on the host prints the pulled image's id (components/single_host/images.py)."""
    pulled = PULLED.search(values.get("create") or "")
    return {"stdout": "sha256:" + _digest(pulled.group(1)) + "\n"} if pulled else {}


def _bucket(name: str, values: dict) -> dict:
    """Auto-named from its prefix, as the provider does."""
    bucket = values.get("bucket") or (values.get("bucketPrefix") or f"{name}-") + _digest(name)[:12]
    return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}


def _certificate(name: str, values: dict) -> dict:
    hosts = [values["domainName"], *(values.get("subjectAlternativeNames") or [])]
    return {"domainValidationOptions": [
        {"domainName": h, "resourceRecordName": f"_{_digest(h)[:12]}.{h}.", "resourceRecordType": "CNAME",
         "resourceRecordValue": f"_{_digest(h, 'v')[:12]}.acm-validations.aws."} for h in hosts]}


def _ecr_repository(name: str, values: dict) -> dict:
    return {"repositoryUrl": f"{TEST_ACCOUNT}.dkr.ecr.{TEST_REGION}.amazonaws.com/{values['name']}",
            "registryId": TEST_ACCOUNT, "arn": f"arn:aws:ecr:{TEST_REGION}:{TEST_ACCOUNT}:repository/{values['name']}"}


PROVIDER_OUTPUTS: dict[str, Callable[[str, dict], dict]] = {
    "docker:index/container:Container": lambda name, v: {"name": v.get("name") or f"{name}-{_digest(name)[:7]}"},
    "docker:index/remoteImage:RemoteImage": lambda name, v: {
        "imageId": "sha256:" + _digest(v["name"]), "repoDigest": v["name"].split(":")[0] + "@sha256:" + _digest(v["name"])},
    "docker:index/image:Image": _built_image,
    "command:remote:Command": _command,
    "command:local:Command": _command,
    "random:index/randomPassword:RandomPassword": lambda name, v: {"result": f"generated-{name}-{_digest(name)[:12]}"},
    "aws:ec2/instance:Instance": lambda name, v: {
        "publicIp": "198.51.100.10", "privateIp": "10.0.1.10", "arn": f"arn:aws:ec2:::instance/{name}"},
    "aws:ec2/eip:Eip": lambda name, v: {"publicIp": "198.51.100.20", "allocationId": "eipalloc-0123456789abcdef0"},
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:iam/role:Role": lambda name, v: {"arn": f"arn:aws:iam::{TEST_ACCOUNT}:role/{name}"},
    "aws:s3/bucket:Bucket": _bucket,
    "aws:ec2/keyPair:KeyPair": lambda name, v: {"keyName": name},
    "aws:route53/record:Record": lambda name, v: {"fqdn": v.get("name")},
    "aws:acm/certificate:Certificate": _certificate,
    "aws:acm/certificateValidation:CertificateValidation": lambda name, v: {"certificateArn": v.get("certificateArn")},
    "aws:lb/loadBalancer:LoadBalancer": lambda name, v: {
        "dnsName": f"{name}-123456789.{TEST_REGION}.elb.amazonaws.com", "zoneId": "Z35SXDOTRQ7X7K",
        "arnSuffix": f"app/{name}/{_digest(name)[:16]}"},  # CloudWatch's LoadBalancer dimension
    "aws:lb/targetGroup:TargetGroup": lambda name, v: {
        "arnSuffix": f"targetgroup/{name}/{_digest(name)[:16]}"},  # CloudWatch's TargetGroup dimension
    "aws:rds/instance:Instance": lambda name, v: {
        "address": f"{name}.abcdefghijkl.{TEST_REGION}.rds.amazonaws.com", "port": 5432},
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda name, v: {
        "primaryEndpointAddress": f"master.{name}.abcdef.use1.cache.amazonaws.com"},
}

# Ids in the shapes AWS's APIs give (EFS refuses any other); these resources keep their state as computed
# above, without the ARN and auto-name every other AWS resource gets.
PROVIDER_IDS: dict[str, Callable[[str], str]] = {
    "aws:ec2/instance:Instance": lambda name: "i-0123456789abcdef0",
    "aws:ebs/volume:Volume": lambda name: "vol-0123456789abcdef0",
    "aws:ec2/vpc:Vpc": lambda name: "vpc-0a1b2c3d4e5f67890",
    "aws:ec2/subnet:Subnet": lambda name: "subnet-" + _digest(name)[:17],
    "aws:ec2/securityGroup:SecurityGroup": lambda name: "sg-" + _digest(name)[:17],
    "aws:efs/fileSystem:FileSystem": lambda name: "fs-" + _digest(name)[:17],
    "aws:efs/accessPoint:AccessPoint": lambda name: "fsap-" + _digest(name)[:17],
}


# --- what AWS's data sources answer --------------------------------------------------------------------

def _instance_type(args: dict) -> Any:
    name = args.get("instanceType")
    if name not in INSTANCE_TYPES:  # as EC2's DescribeInstanceTypes answers
        return {}, [("instanceType", f"reading EC2 Instance Type ({name}): InvalidInstanceType: The following "
                                     f"supplied instance types do not exist: [{name}]")]
    memory, vcpus, gpus, arch = INSTANCE_TYPES[name]
    return {"id": name, "instanceType": name, "memorySize": memory, "defaultVcpus": vcpus,
            "supportedArchitectures": [arch],
            "gpuses": [{"count": 1, "manufacturer": "NVIDIA", "name": gpus, "memorySize": 16384}] if gpus else []}


INVOKES: dict[str, Callable[[dict], Any]] = {
    "aws:index/getRegion:getRegion": lambda args: {"region": TEST_REGION, "name": TEST_REGION, "id": TEST_REGION},
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": TEST_ACCOUNT, "arn": f"arn:aws:iam::{TEST_ACCOUNT}:user/test", "id": TEST_ACCOUNT},
    "aws:ec2/getSubnet:getSubnet": lambda args: {
        "id": "subnet-0123456789abcdef0", "vpcId": "vpc-0123456789abcdef0",
        "availabilityZone": args.get("availabilityZone", f"{TEST_REGION}a")},
    "aws:ec2/getAmi:getAmi": lambda args: {
        "id": "ami-0123456789abcdef0", "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101"},
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda args: {
        "userName": "AWS", "password": "ecr-token-for-tests", "authorizationToken": "QVdTOnRva2Vu",
        "proxyEndpoint": f"https://{TEST_ACCOUNT}.dkr.ecr.{TEST_REGION}.amazonaws.com"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda args: {
        "id": TEST_REGION, "names": [f"{TEST_REGION}{z}" for z in "abc"], "zoneIds": [f"use1-az{i}" for i in (1, 2, 4)]},
    "aws:ec2/getVpc:getVpc": lambda args: {
        "id": args.get("id"), "cidrBlock": "10.0.0.0/16", "arn": f"arn:aws:ec2:::vpc/{args.get('id')}"},
    "aws:ssm/getParameter:getParameter": lambda args: {
        "id": args.get("name"), "name": args.get("name"), "type": "String", "value": "ami-0fedcba9876543210",
        "arn": f"arn:aws:ssm:::parameter{args.get('name')}"},
    "aws:ec2/getInstanceType:getInstanceType": _instance_type,
    "aws:route53/getZone:getZone": lambda args: {"zoneId": "Z0123456789ABCDEFGHIJ", "name": args.get("name")},
}


class BerthMocks(pulumi.runtime.Mocks):
    """Plausible provider answers: ids, digests, addresses. Everything else echoes its inputs."""

    def __init__(self, existing_image_tags: dict[str, list[str] | dict[str, str]] | None = None):
        """`existing_image_tags`: the ECR repositories that already exist, with the tags they hold
        (a list, digests made up; or tag -> digest). Any other repository does not exist yet."""
        self.existing_image_tags = existing_image_tags or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """The resource's id and its state: its inputs, with what the provider computes (PROVIDER_OUTPUTS)."""
        typ, name = args.typ, args.name
        outputs = PROVIDER_OUTPUTS.get(typ)
        state = {**args.inputs, **(outputs(name, reveal(dict(args.inputs))) if outputs else {})}
        if typ in PROVIDER_IDS:
            return PROVIDER_IDS[typ](name), state
        if typ.startswith("aws:") and "arn" not in state:
            service = typ.split(":")[1].split("/")[0]
            state["arn"] = f"arn:aws:{service}:{TEST_REGION}:{TEST_ACCOUNT}:{typ.rsplit(':', 1)[-1].lower()}/{name}"
        if typ.startswith("aws:") and "name" not in state:
            state["name"] = f"{name}-{_digest(name)[:7]}"  # the provider's auto-naming
        return f"{name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        """What an invoke answers: AWS's data sources (INVOKES), and ECR's as `existing_image_tags` says."""
        tok = args.token
        if tok == "aws:ecr/getRepositories:getRepositories":
            return {"id": TEST_REGION, "names": sorted(self.existing_image_tags)}
        if tok == "aws:ecr/getImages:getImages":
            return self._images(args.args.get("repositoryName"))
        answer = INVOKES.get(tok)
        return answer(args.args) if answer else {}

    def _images(self, repository: str | None) -> dict:
        if repository not in self.existing_image_tags:  # as ECR answers for a repository not created yet
            raise Exception(f"RepositoryNotFoundException: The repository with name '{repository}' does not exist")
        tags = self.existing_image_tags[repository]
        digests = tags if isinstance(tags, dict) else {t: "sha256:" + _digest(t) for t in tags}
        return {"imageIds": [{"imageTag": t, "imageDigest": d} for t, d in digests.items()]}


@contextlib.contextmanager
def _closed_loop_off_the_main_thread() -> Iterator[None]:
    """An event loop for a monitor call made on a worker thread, closed when the call returns.

    A synchronous invoke (aws.ec2.get_instance_type while config loads) and a registration reach the
    monitor on the SDK's worker threads, where the stock monitor makes an event loop it never closes
    (pulumi/runtime/sync_await.py `_ensure_event_loop`). Left to the garbage collector, such a loop is
    finalized at exit after its sockets and prints a traceback. Nothing else sets a loop on those threads,
    so there is none to keep between calls.
    """
    if threading.current_thread() is threading.main_thread():
        yield
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor drops resource options; tests need them (what survives a destroy)."""

    def __init__(self, mocks: BerthMocks):
        super().__init__(mocks)
        self.recorded: list[Resource] = []
        self.calls: list[tuple[str, dict]] = []
        self._stack_urn = ""

    def Invoke(self, request: resource_pb2.ResourceInvokeRequest) -> Any:  # noqa: N802 - gRPC method name
        self.calls.append((request.tok, reveal(rpc.deserialize_properties(request.args))))
        with _closed_loop_off_the_main_thread():
            return super().Invoke(request)

    def ReadResource(self, request: resource_pb2.ReadResourceRequest) -> Any:  # noqa: N802 - gRPC method name
        with _closed_loop_off_the_main_thread():
            return super().ReadResource(request)

    def RegisterResource(self, request: resource_pb2.RegisterResourceRequest) -> Any:  # noqa: N802 - gRPC method name
        with _closed_loop_off_the_main_thread():
            response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self._stack_urn = response.urn
        else:
            urn = self.make_urn(request.parent, request.type, request.name)
            self.recorded.append(Resource(
                type=request.type, name=request.name, urn=urn, inputs=rpc.deserialize_properties(request.object),
                parent=request.parent, provider=request.provider, dependencies=list(request.dependencies),
                protect=request.protect, retain_on_delete=request.retainOnDelete,
                delete_before_replace=request.deleteBeforeReplace, ignore_changes=list(request.ignoreChanges),
                state=registered.state if (registered := self.resources.get(urn)) else {},
                aliases=[self._alias_urn(a, request) for a in request.aliases],
                delete_before_replace_defined=request.deleteBeforeReplaceDefined,
                replace_on_changes=list(request.replaceOnChanges),
                replacement_trigger=(json_format.MessageToDict(request.replacement_trigger)
                                     if request.HasField("replacement_trigger") else None),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            ))
        return response

    def _alias_urn(self, alias: alias_pb2.Alias, request: resource_pb2.RegisterResourceRequest) -> str:
        """An alias as the URN it names, built as this monitor builds URNs ("no parent": the stack)."""
        if alias.urn:
            return alias.urn
        spec = alias.spec
        parent = self._stack_urn if spec.noParent else (spec.parentUrn or request.parent)
        return self.make_urn(parent, spec.type or request.type, spec.name or request.name)


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower()}: {record.getMessage()}")


# --- stack files -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _stack_file(text: str) -> dict:
    """A stack file's YAML, parsed once per process (the tests read each stack file hundreds of times) by
    libyaml's parser where PyYAML has it. The result is shared: read it, never change it."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


@dataclass(frozen=True)
class StackConfig:
    """A stack file's config as the CLI hands it to a program: text values, and which keys are secret."""

    values: dict[str, str]
    secret_keys: frozenset[str]

    @classmethod
    def from_file(cls, path: Path, secrets: dict[str, str] | None = None) -> StackConfig:
        """Secure values become test strings (`test-secret-<key>`), or those given in `secrets`."""
        data = _stack_file(path.read_text(encoding="utf-8"))
        values, secret_keys = {}, set()
        for key, value in (data.get("config") or {}).items():
            if isinstance(value, dict) and set(value) == {"secure"}:
                secret_keys.add(key)
                values[key] = (secrets or {}).get(key, f"test-secret-{key.split(':')[-1]}")
            else:
                values[key] = value if isinstance(value, str) else json.dumps(value)
        return cls(values, frozenset(secret_keys))

    def with_values(self, plain: dict[str, Any] | None = None, secrets: dict[str, str] | None = None,
                    remove: tuple[str, ...] = ()) -> StackConfig:
        values = {k: v for k, v in self.values.items() if k not in remove}
        values.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (plain or {}).items()})
        values.update(secrets or {})
        return StackConfig(values, frozenset((self.secret_keys - set(remove)) | set(secrets or {})))

    def object(self, key: str) -> Any:
        raw = self.values.get(key)
        try:
            return json.loads(raw) if raw is not None else None
        except ValueError:
            return raw


# --- a project directory with stand-in sources -----------------------------------------------------

def _builds(value: Any) -> list[dict]:
    """Every `build:` mapping in a config or app value."""
    if isinstance(value, dict):
        found = [value["build"]] if isinstance(value.get("build"), dict) else []
        return found + [b for v in value.values() for b in _builds(v)]
    if isinstance(value, list):
        return [b for v in value for b in _builds(v)]
    return []


def sandbox_project(root: Path, config: StackConfig, leave_missing: tuple[str, ...] = ()) -> Path:
    """A project dir under `root` with the real `apps/`, and an empty stand-in for each build context.

    Build contexts point outside the repository (`../chm-chatbot`); this lets a stack's program run
    without those checkouts, as `plan` and the tests do. A checkout a stack mounts read-only also gets
    the directories the app mounts volumes over (a real checkout must have them). Returns the project dir.
    """
    project = root / "berth"
    project.mkdir(parents=True, exist_ok=True)
    if not (project / "apps").exists():
        (project / "apps").symlink_to(REPO / "apps", target_is_directory=True)
    dockerfiles = {b["dockerfile"] for app in _repo_app_files().values() for b in _builds(app) if b.get("dockerfile")}
    for key in config.values:
        for build in _builds({"build": config.object(key)}) + _builds(config.object(key)):
            if isinstance(build.get("context"), str) and build["context"] not in leave_missing:
                context = (project / build["context"]).resolve()
                context.mkdir(parents=True, exist_ok=True)
                for dockerfile in dockerfiles | ({build["dockerfile"]} if build.get("dockerfile") else set()):
                    (context / dockerfile).parent.mkdir(parents=True, exist_ok=True)
                    (context / dockerfile).touch()
    _mount_points(project, config.object("berth:apps") or {}, leave_missing)
    return project


@functools.cache
def _repo_app_files() -> dict[str, dict]:
    """The repository's app files by name, read once per process (a sandbox is made for every run)."""
    return {f.stem: yaml.safe_load(f.read_text(encoding="utf-8")) or {} for f in sorted((REPO / "apps").glob("*.yaml"))}


def _mount_points(project: Path, overlays: dict, leave_missing: tuple[str, ...]) -> None:
    """In each read-only source checkout a stack mounts, the directories the service mounts over."""
    for app_name, overlay in overlays.items():
        services = (_repo_app_files().get(app_name) or {}).get("services", {})
        for svc_name, svc in ((overlay or {}).get("services") or {}).items():
            base = services.get(svc_name) or {}
            for hd in ((svc or {}).get("hostDirs") or {}).values():
                source, target = hd.get("source"), str(hd.get("target", "")).rstrip("/")
                if not isinstance(source, str) or source.startswith("/") or source in leave_missing or not hd.get("readOnly"):
                    continue
                paths = [*(base.get("volumes") or {}).values(), *(base.get("sharedVolumes") or {}).values(),
                         *(base.get("tmpfs") or [])]
                for path in paths:
                    if str(path).startswith(target + "/"):
                        (project / source / str(path)[len(target) + 1:]).mkdir(parents=True, exist_ok=True)


# --- running ---------------------------------------------------------------------------------------

def run(stack: str, config: StackConfig, root_directory: Path = REPO, mocks: BerthMocks | None = None,
        program: Path = REPO / "__main__.py") -> Run:
    """Run the program once in a fresh runtime; raise what the program raised (e.g. ConfigError)."""
    return contextvars.Context().run(_run, stack, config, root_directory, mocks or BerthMocks(), program)


def _no_stack_trace() -> source_pb2.StackTrace:
    """What Pulumi sends as a resource's source position when it has none.

    Pulumi's SDK (3.272.0, pulumi/runtime/resource.py `_get_stack_trace`) walks the whole call stack of
    every registration to tell the engine where in the program it came from: a quarter of a run's CPU
    under mocks, for `sourcePosition` and `stackTrace` fields no mock monitor reads or records.
    """
    return source_pb2.StackTrace()


def _run(stack: str, config: StackConfig, root_directory: Path, mocks: BerthMocks, program: Path) -> Run:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    capture = _LogCapture()
    # A logger of this run's own, outside logging's registry: a registered one would outlive the run, and
    # pytest's log capture attaches to every non-propagating logger there on each phase of every test.
    logger = logging.Logger("berth.mockrun", logging.INFO)  # the SDK's debug lines are never kept
    logger.addHandler(capture)
    monitor = RecordingMonitor(mocks)
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="berth", stack=stack, preview=False, logger=logger, monitor=monitor)
    settings.SETTINGS.root_directory = str(root_directory)
    pulumi.runtime.set_all_config(dict(config.values), sorted(config.secret_keys))
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    stack_trace, pulumi_resource._get_stack_trace = pulumi_resource._get_stack_trace, _no_stack_trace  # noqa: SLF001
    try:
        def run_program() -> None:
            runpy.run_path(str(program), run_name="__main__")

        loop.run_until_complete(pulumi_stack.run_pulumi_func(run_program))
        root = settings.get_root_resource()
        # set_mocks made the root stack resource above (pulumi/runtime/mocks.py, `set_mocks`)
        assert isinstance(root, pulumi_stack.Stack), "the program ran without its root stack resource"
        outputs, secret_outputs = {}, set()
        for key, value in root.outputs.items():
            out = pulumi.Output.from_input(value)
            outputs[key] = loop.run_until_complete(out.future())
            if loop.run_until_complete(out.is_secret()):
                secret_outputs.add(key)
    except BaseException:
        global last_recorded
        last_recorded = monitor.recorded
        raise
    finally:
        pulumi_resource._get_stack_trace = stack_trace  # noqa: SLF001
        loop.close()
        asyncio.set_event_loop(None)
        gc.collect(1)  # the run's cycles (Outputs, tasks), at once: see collect_seldom
    if not monitor.recorded:
        raise NothingRecorded(f"stack {stack!r}: the program registered no resources under the mocks")
    return Run(stack, monitor.recorded, outputs, secret_outputs, capture.lines, monitor.calls, config,
               str(root_directory))


# What the last run that failed registered before failing: a refused config must have registered nothing.
last_recorded: list[Resource] = []


def collect_seldom() -> None:
    """Make the cyclic garbage collector run seldom, and skip everything alive now, for a process that runs
    programs one after another (the tests, `plan`, `plan diff`'s older commit).

    A run makes some hundred thousand short-lived objects (Pulumi's Outputs, asyncio's tasks and
    handles). At CPython's default threshold (700 allocations) the collector walks every survivor again
    every few hundred of them: a third of a run's CPU. Reference counting still frees at once everything
    outside a cycle; the cycles a run leaves (many live as long as the run) are freed by a collection of
    the two younger generations when the run ends (`_run`), before they would reach the oldest and stay
    there. Over 40 runs of prod in one process: 0.39 s of CPU a run and 139 MB at CPython's default; 0.33 s
    and 222 MB, growing, with this threshold alone; 0.31 s and 144 MB with the collection after each run.
    A full collection there would walk everything a test session keeps (its shared runs): 25 s more.
    """
    gc.freeze()  # what exists now (modules, the SDK's classes) lives as long as the process
    gc.set_threshold(50_000, 20, 20)


# --- a record for plans -------------------------------------------------------------------------------

def record(stack: str, config: StackConfig, sandbox: Path) -> Run:
    """The run a plan describes: in a sandbox project, prod's unset secrets stood in for (and exported)."""
    project = sandbox_project(sandbox, config)
    previous = os.environ.get(OFFLINE_PLAN_ENV)
    os.environ[OFFLINE_PLAN_ENV] = "1"
    try:
        return run(stack, config, root_directory=project)
    finally:
        if previous is None:
            del os.environ[OFFLINE_PLAN_ENV]
        else:
            os.environ[OFFLINE_PLAN_ENV] = previous


def main(argv: list[str] | None = None) -> int:
    """`python -m offline.mockrun STACK --config-file FILE [--and STACK FILE]...`: print the record of each run
    as one line of JSON, in the order asked.

    `plan diff` copies this module (it needs only Pulumi and PyYAML) into an exported older commit and
    runs that commit's program with it; this checkout's plan then describes the record. Several stacks
    run one after another in one process, as the tests run this checkout's program: the interpreter
    starts and the program's libraries import once. A config error is printed as the program raised it
    (exit 1); the records printed before it are the stacks that ran.
    """
    parser = argparse.ArgumentParser(prog="python -m offline.mockrun")
    parser.add_argument("stack")
    parser.add_argument("--config-file", type=Path, required=True)
    parser.add_argument("--and", nargs=2, action="append", default=[], dest="more", metavar=("STACK", "FILE"),
                        help="another stack and its stack file, run after the first in the same process")
    args = parser.parse_args(argv)
    collect_seldom()
    for stack, config_file in [(args.stack, args.config_file), *((s, Path(f)) for s, f in args.more)]:
        if not print_record(stack, config_file):
            return 1
    return 0


def print_record(stack: str, config_file: Path) -> bool:
    """One line of JSON on standard output: the record of `stack` with `config_file`; False when it failed."""
    try:
        config = StackConfig.from_file(config_file)
    except (OSError, yaml.YAMLError, AttributeError) as err:
        print(f"{config_file.name} is not a stack file berth can read: {err}", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory(prefix="berth-record-") as tmp:
        try:
            result = record(stack, config, Path(tmp))
        except Exception as err:  # noqa: BLE001 - whatever the program raised, reported as it would be
            # A config error's message is the report; anything else is a bug in that program: show where.
            print(err if type(err).__name__ == "ConfigError" else traceback.format_exc(), file=sys.stderr)
            return False
    print(json.dumps(result.to_record(), default=str), flush=True)
    return True


if __name__ == "__main__":
    sys.exit(main())
