"""AWS's documented limits that botocore's models state only in prose, checked on built requests.

Each rule names where AWS says it (the model's documentation text of that member, botocore 1.44.8,
unless another source is named). A rule sees every request of a run at once, so limits across
resources (rule priorities on one listener, a service's container in its task definition) are
checked too.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.support.aws_api import Call

# EC2, CreateSecurityGroup (GroupName, Description), IpRange / UserIdGroupPair (Description):
# "Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*"
EC2_TEXT = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{0,255}")
# elbv2, CreateTargetGroup / CreateLoadBalancer (Name): "a maximum of 32 characters, must contain only
# alphanumeric characters or hyphens, and must not begin or end with a hyphen"
ELB_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,32}(?<!-)")
# elasticache, CreateReplicationGroup (ReplicationGroupId): "from 1 to 40 alphanumeric characters or
# hyphens. The first character must be a letter. A name cannot end with a hyphen or contain two consecutive hyphens."
REPLICATION_GROUP_ID = re.compile(r"(?!.*--)[A-Za-z][A-Za-z0-9-]{0,39}(?<!-)")
# rds, CreateDBInstance (DBInstanceIdentifier): "From 1 to 63 letters, numbers, or hyphens. First character
# must be a letter. Can't end with a hyphen or contain two consecutive hyphens."
DB_INSTANCE_ID = re.compile(r"(?!.*--)[A-Za-z][A-Za-z0-9-]{0,62}(?<!-)")
# s3, bucket naming rules (Amazon S3 User Guide, "General purpose bucket naming rules"): 3-63 characters,
# lowercase letters, numbers, dots and hyphens, beginning and ending with a letter or number.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# ecs, ServiceConnectService (discoveryName): "up to 64 characters ... lowercase letters, numbers,
# underscores (_), and hyphens (-). The name can't start with a hyphen."; ServiceConnectClientAlias
# (dnsName): "up to 127 characters ... lowercase letters, numbers, underscores (_), hyphens (-), and
# periods (.). The name can't start with a hyphen."; PortMapping (name): as discoveryName.
DISCOVERY_NAME = re.compile(r"(?!-)[a-z0-9_-]{1,64}")
CLIENT_DNS_NAME = re.compile(r"(?!-)[a-z0-9_.-]{1,127}")
# ecs, Task size (Amazon ECS Developer Guide, "Task size"; RegisterTaskDefinition `cpu` points there): the
# memory (MiB) Fargate runs with each CPU value.
FARGATE_SIZES = {
    256: {512, 1024, 2048}, 512: set(range(1024, 4097, 1024)), 1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)), 4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)), 16384: set(range(32768, 122881, 8192)),
}
# elbv2 quotas (ELB User Guide, "Quotas for your Application Load Balancers"): priorities 1-50000 are the
# model's; "Condition values per rule: 5"; a path pattern "can be up to 128 characters".
CONDITION_VALUES_PER_RULE = 5
PATH_PATTERN_MAX = 128
# iam quotas (IAM User Guide, "IAM and AWS STS quotas"): "Role trust policy length: 2,048 characters";
# "Role policy size ... the total size of all inline policies for a role cannot exceed 10,240 characters".
TRUST_POLICY_MAX, INLINE_POLICIES_PER_ROLE_MAX = 2048, 10240
# ec2, RunInstances (User Guide, "Run commands when you launch an EC2 instance with user data input"):
# "User data is limited to 16 KB, in raw form, before it is base64-encoded".
USER_DATA_MAX = 16 * 1024
ALB_IDLE_TIMEOUT = range(1, 4001)  # elbv2 load balancer attributes: idle_timeout.timeout_seconds 1-4000


@dataclass(frozen=True)
class Sent:
    """One request a resource's inputs became."""

    resource: str
    call: Call
    request: dict


def _of(sent: list[Sent], operation: str) -> Iterator[Sent]:
    return (s for s in sent if s.call.operation == operation)


def _named(sent: list[Sent], operation: str, member: str, pattern: re.Pattern, what: str) -> Iterator[tuple[Sent, str]]:
    for s in _of(sent, operation):
        value = s.request.get(member)
        if isinstance(value, str) and not pattern.fullmatch(value):
            yield s, f"{member} {value!r}: {what}"


def ec2_texts(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    what = "EC2 allows up to 255 of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*"
    yield from _named(sent, "CreateSecurityGroup", "Description", EC2_TEXT, what)
    yield from _named(sent, "CreateSecurityGroup", "GroupName", EC2_TEXT, what)
    for s in (*_of(sent, "AuthorizeSecurityGroupIngress"), *_of(sent, "AuthorizeSecurityGroupEgress")):
        for permission in s.request.get("IpPermissions", []):
            for kind in ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs"):
                for item in permission.get(kind, []):
                    if not EC2_TEXT.fullmatch(item.get("Description", "")):
                        yield s, f"rule description {item['Description']!r}: {what}"


def names(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    elb = "at most 32 letters, digits or hyphens, no hyphen first or last"
    yield from _named(sent, "CreateTargetGroup", "Name", ELB_NAME, elb)
    yield from _named(sent, "CreateLoadBalancer", "Name", ELB_NAME, elb)
    yield from _named(sent, "CreateReplicationGroup", "ReplicationGroupId", REPLICATION_GROUP_ID,
                      "1-40 letters, digits or hyphens, a letter first, no hyphen last, no two in a row")
    yield from _named(sent, "CreateDBInstance", "DBInstanceIdentifier", DB_INSTANCE_ID,
                      "1-63 letters, digits or hyphens, a letter first, no hyphen last, no two in a row")
    yield from _named(sent, "CreateBucket", "Bucket", BUCKET, "3-63 lowercase letters, digits, dots or hyphens")


def fargate_sizes(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    for s in _of(sent, "RegisterTaskDefinition"):
        if "FARGATE" in s.request.get("requiresCompatibilities", []):
            cpu, memory = int(s.request["cpu"]), int(s.request["memory"])
            if memory not in FARGATE_SIZES.get(cpu, set()):
                yield s, f"Fargate runs no task of {cpu} CPU units with {memory} MiB"


# ecs, Amazon ECS Developer Guide, "Amazon ECS task definition differences for the Fargate launch type":
# "for capabilities the only capability you can add is CAP_SYS_PTRACE. The devices, sharedMemorySize, and
# tmpfs parameters are not supported"; privileged is not valid.
FARGATE_UNSUPPORTED_LINUX = ("devices", "sharedMemorySize", "tmpfs")


def fargate_parameters(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    for s in _of(sent, "RegisterTaskDefinition"):
        if "FARGATE" not in s.request.get("requiresCompatibilities", []):
            continue
        for container in s.request["containerDefinitions"]:
            linux = container.get("linuxParameters", {})
            for key in FARGATE_UNSUPPORTED_LINUX:
                if linux.get(key):
                    yield s, f"{container['name']}: Fargate does not support linuxParameters.{key}"
            if set(linux.get("capabilities", {}).get("add", [])) - {"SYS_PTRACE"}:
                yield s, f"{container['name']}: Fargate adds no capability but SYS_PTRACE"
            if container.get("privileged"):
                yield s, f"{container['name']}: Fargate runs no privileged container"


def containers(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    """Within a task definition: port mapping names, and every `dependsOn` names a container of it."""
    for s in _of(sent, "RegisterTaskDefinition"):
        defined = {c["name"] for c in s.request["containerDefinitions"]}
        for container in s.request["containerDefinitions"]:
            for mapping in container.get("portMappings", []):
                if "name" in mapping and not DISCOVERY_NAME.fullmatch(mapping["name"]):
                    yield s, f"port mapping name {mapping['name']!r}: up to 64 of a-z, 0-9, _ and -, not - first"
            for dependency in container.get("dependsOn", []):
                if dependency["containerName"] not in defined:
                    yield s, f"{container['name']} depends on {dependency['containerName']!r}, no container of this task"
        if not any(c.get("essential", True) for c in s.request["containerDefinitions"]):
            yield s, "a task definition needs an essential container"


def services(sent: list[Sent], task_arns: dict[str, dict]) -> Iterator[tuple[Sent, str]]:
    """A service's load balancer container and port, and its Service Connect port name, exist in its task
    definition (CreateService fails otherwise); aliases are DNS names ECS takes."""
    for s in _of(sent, "CreateService"):
        definition = task_arns.get(s.request.get("taskDefinition"))
        if definition is None:
            yield s, f"taskDefinition {s.request.get('taskDefinition')!r} is no task definition of this stack"
            continue
        ports = {(c["name"], m["containerPort"]) for c in definition["containerDefinitions"]
                 for m in c.get("portMappings", [])}
        port_names = {m.get("name") for c in definition["containerDefinitions"] for m in c.get("portMappings", [])}
        for balancer in s.request.get("loadBalancers", []):
            if (balancer["containerName"], balancer["containerPort"]) not in ports:
                yield s, f"load balancer target {balancer['containerName']}:{balancer['containerPort']} is no port mapping"
        for endpoint in s.request.get("serviceConnectConfiguration", {}).get("services", []):
            if endpoint["portName"] not in port_names:
                yield s, f"Service Connect port {endpoint['portName']!r} names no port mapping"
            if not DISCOVERY_NAME.fullmatch(endpoint.get("discoveryName", endpoint["portName"])):
                yield s, f"discoveryName {endpoint.get('discoveryName')!r}: up to 64 of a-z, 0-9, _ and -"
            for alias in endpoint.get("clientAliases", []):
                if not CLIENT_DNS_NAME.fullmatch(alias.get("dnsName", "")):
                    yield s, f"client alias {alias.get('dnsName')!r}: up to 127 of a-z, 0-9, _, - and ."


def listener_rules(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    taken: dict[tuple[str, int], str] = {}
    for s in _of(sent, "CreateRule"):
        key = (s.request["ListenerArn"], s.request["Priority"])
        if key in taken:
            yield s, f"priority {key[1]} is {taken[key]}'s on the same listener"
        taken[key] = s.resource
        values = [v for c in s.request["Conditions"] for config in c.values() if isinstance(config, dict)
                  for v in config.get("Values", [])]
        if len(values) > CONDITION_VALUES_PER_RULE:
            yield s, f"{len(values)} condition values, at most {CONDITION_VALUES_PER_RULE} per rule"
        for c in s.request["Conditions"]:
            for value in c.get("PathPatternConfig", {}).get("Values", []):
                if len(value) > PATH_PATTERN_MAX:
                    yield s, f"path pattern of {len(value)} characters, at most {PATH_PATTERN_MAX}"


def _policy(text: str, trust: bool) -> list[str]:
    try:
        policy = json.loads(text)
    except ValueError as err:
        return [f"not JSON: {err}"]
    problems = [] if policy.get("Version") == "2012-10-17" else ["Version is not 2012-10-17"]
    statements = policy.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"statement {statement!r}: Effect must be Allow or Deny")
            continue
        if "Action" not in statement and "NotAction" not in statement:
            problems.append(f"statement {statement.get('Sid', '')!r} has no Action")
        if trust and "Principal" not in statement:
            problems.append("a trust policy's statement names a Principal")
        if not trust and "Resource" not in statement and "NotResource" not in statement:
            problems.append(f"statement {statement.get('Sid', '')!r} has no Resource")
    return problems


def iam_policies(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    inline: dict[str, int] = {}
    for s in _of(sent, "CreateRole"):
        document = s.request["AssumeRolePolicyDocument"]
        if len(document) > TRUST_POLICY_MAX:
            yield s, f"trust policy of {len(document)} characters, at most {TRUST_POLICY_MAX}"
        yield from ((s, p) for p in _policy(document, trust=True))
    for s in _of(sent, "PutRolePolicy"):
        inline[s.request["RoleName"]] = inline.get(s.request["RoleName"], 0) + len(s.request["PolicyDocument"])
        yield from ((s, p) for p in _policy(s.request["PolicyDocument"], trust=False))
        if inline[s.request["RoleName"]] > INLINE_POLICIES_PER_ROLE_MAX:
            yield s, f"inline policies of role {s.request['RoleName']} exceed {INLINE_POLICIES_PER_ROLE_MAX} characters"
    for s in _of(sent, "PutBucketPolicy"):
        yield from ((s, p) for p in _policy(s.request["Policy"], trust=False))


def user_data(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    for s in (*_of(sent, "RunInstances"), *_of(sent, "CreateLaunchTemplate")):
        encoded = s.request.get("UserData") or s.request.get("LaunchTemplateData", {}).get("UserData")
        if encoded and len(base64.b64decode(encoded)) > USER_DATA_MAX:
            yield s, f"user data of {len(base64.b64decode(encoded))} bytes, at most {USER_DATA_MAX}"


def load_balancer_attributes(sent: list[Sent]) -> Iterator[tuple[Sent, str]]:
    for s in _of(sent, "ModifyLoadBalancerAttributes"):
        for attribute in s.request["Attributes"]:
            if attribute["Key"] == "idle_timeout.timeout_seconds" and int(attribute["Value"]) not in ALB_IDLE_TIMEOUT:
                yield s, f"idle timeout {attribute['Value']} s: an ALB's is 1-4000 s"


RULES: list[Callable[[list[Sent]], Iterator[tuple[Sent, str]]]] = [
    ec2_texts, names, fargate_sizes, fargate_parameters, containers, listener_rules, iam_policies, user_data, load_balancer_attributes]
