"""The rules every resource berth registers must keep, as CrossGuard resource validations.

One place for them: the preview and deploy workflows run this pack (`--policy-pack policy`), and the
test suite runs the same validate functions over every stack's and example's resources under mocks
(tests/test_policy_pack.py). A rule here guards every config path, including ones the loader does not
know about. Each rule names its source (CIS Docker Benchmark v1.2.0, checkov, AWS Well-Architected).
"""

from __future__ import annotations

import json
from ipaddress import ip_network
from collections.abc import Callable

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from rules.containers import (DATA_ROOT, REVIEWED_CAPABILITIES, app_host_dirs, is_system_path, own_directory_problem,
                              read_only_root_problem)
from rules import network
from rules.credentials import is_credential_name
from rules import environments

CONTAINER = "docker:index/container:Container"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
WORLD = ("0.0.0.0/0", "::/0")
WEB_PORTS = {80, 443}


Check = Callable[[ResourceValidationArgs, dict], str | None]  # (args, props) -> the violation, or None


def _for(resource_type: str, check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """A validation applying `check(args, props)` to one resource type; its message is the violation."""
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type == resource_type:
            problem = check(args, dict(args.props))
            if problem:
                report_violation(f"{args.name}: {problem}", None)
    return validate


def _keeps_data_by_tag(props: dict) -> bool:
    """The resource's `berth:environment` tag names an environment that keeps its data (rules/environments.py):
    berth tags every AWS resource, on one host and on ECS, with its environment."""
    tags = props.get("tags") or {}
    environment = environments.POLICIES.get(tags.get("berth:environment", "")) if isinstance(tags, dict) else None
    return environment is not None and environment.keeps_data


def _kept(args: ResourceValidationArgs, props: dict) -> bool:
    """Data berth keeps: protected, or of an environment that keeps its data."""
    return bool(args.opts and args.opts.protect) or _keeps_data_by_tag(props)


# --- containers (CIS Docker Benchmark v1.2.0) -------------------------------------------------------

def _unprivileged(_: ResourceValidationArgs, c: dict) -> str | None:
    if c.get("privileged"):
        return "runs privileged"
    shared = [k for k in ("networkMode", "pidMode", "ipcMode", "usernsMode") if c.get(k) == "host"]
    return f"shares the host's namespaces ({', '.join(shared)})" if shared else None


def _no_host_system_mounts(_: ResourceValidationArgs, c: dict) -> str | None:
    for volume in c.get("volumes") or []:
        path = volume.get("hostPath")
        if path and is_system_path(path):
            return f"mounts the host's {path}"
    return None


def _only_own_host_dirs(_: ResourceValidationArgs, c: dict) -> str | None:
    """Under berth's data root a container mounts only a directory of its own app's (rules/containers.py)."""
    labels = {item.get("label"): item.get("value") for item in c.get("labels") or []}
    for volume in c.get("volumes") or []:
        path = volume.get("hostPath") or ""
        if path == DATA_ROOT or path.startswith(DATA_ROOT + "/"):
            own = app_host_dirs(DATA_ROOT, labels["berth.app"]) if labels.get("berth.app") else None
            if own is None or own_directory_problem(path, own):
                return f"mounts {path}, which is not a directory of its app's own under {DATA_ROOT}"
    return None


def _capabilities(_: ResourceValidationArgs, c: dict) -> str | None:
    caps = c.get("capabilities") or {}
    added = set(caps.get("adds") or [])
    if caps.get("drops") != ["ALL"]:
        return "does not drop ALL capabilities"
    return f"adds unreviewed capabilities {sorted(added - REVIEWED_CAPABILITIES)}" if added - REVIEWED_CAPABILITIES else None


def _no_new_privileges(_: ResourceValidationArgs, c: dict) -> str | None:
    return None if "no-new-privileges:true" in (c.get("securityOpts") or []) else "may gain new privileges"


def _read_only_root(_: ResourceValidationArgs, c: dict) -> str | None:
    if read_only_root_problem(c.get("readOnly")):
        return "has a writable root filesystem"
    loose = [p for p, opts in (c.get("tmpfs") or {}).items() if "size=" not in opts or "noexec" not in opts]
    return f"has tmpfs without a size cap or noexec: {loose}" if loose else None


def _limited_and_checked(_: ResourceValidationArgs, c: dict) -> str | None:
    if not (c.get("memory") or 0) > 0:
        return "has no memory limit"
    if not (c.get("healthcheck") or {}).get("tests"):  # the deploy waits on berth's health gate (a host command)
        return "has no health check"
    if c.get("restart") != "unless-stopped":
        return "is not restarted unless stopped"
    if c.get("logDriver") != "json-file" or not (c.get("logOpts") or {}).get("max-size"):
        return "does not rotate its logs"
    return None


def _only_proxy_publishes(args: ResourceValidationArgs, c: dict) -> str | None:
    if args.name != "proxy" and c.get("ports"):
        return "publishes ports; only the proxy does (published ports bypass the host firewall)"
    return None


# --- the EC2 host (checkov, Well-Architected) ------------------------------------------------------

def _web_only_to_world(_: ResourceValidationArgs, rule: dict) -> str | None:
    if rule.get("cidrIpv4") in WORLD or rule.get("cidrIpv6") in WORLD:
        ports = set(range(int(rule.get("fromPort") or 0), int(rule.get("toPort") or 0) + 1))
        if not ports <= WEB_PORTS or rule.get("ipProtocol") in ("-1", "all"):
            return f"opens ports {rule.get('fromPort')}-{rule.get('toPort')} to the internet; only 80/443 may be"
    return None


def _ssh_only_from_admin_networks(_: ResourceValidationArgs, rule: dict) -> str | None:
    """One ingress rule to SSH admitting more than admins' networks need (rules/network.py), however the
    rest are split: a /1 is refused here as 0.0.0.0/0 is."""
    low, high = int(rule.get("fromPort") or 0), int(rule.get("toPort") or 0)
    if rule.get("ipProtocol") not in ("-1", "all") and not low <= network.SSH_PORT <= high:
        return None
    for key in ("cidrIpv4", "cidrIpv6"):
        if rule.get(key) and network.too_wide([ip_network(rule[key], strict=False)]):
            return f"opens SSH to {rule[key]}, more than admins' networks need (at most a /16 or a /48)"
    return None


def _imdsv2(_: ResourceValidationArgs, instance: dict) -> str | None:
    meta = instance.get("metadataOptions") or {}
    if meta.get("httpTokens") != "required" or int(meta.get("httpPutResponseHopLimit") or 2) > 1:
        return "allows IMDSv1 or lets containers reach the metadata service (hop limit > 1)"
    if not (instance.get("rootBlockDevice") or {}).get("encrypted"):
        return "has an unencrypted root disk"
    return None


def _encrypted_volume(_: ResourceValidationArgs, volume: dict) -> str | None:
    return None if volume.get("encrypted") else "is an unencrypted EBS volume"


def _prod_volume_kept(args: ResourceValidationArgs, volume: dict) -> str | None:
    if _keeps_data_by_tag(volume) and not (args.opts and args.opts.protect):
        return "is a prod EBS volume without `protect`: `pulumi destroy` or a replacement would delete its data"
    return None


def _daily_snapshots(_: ResourceValidationArgs, policy: dict) -> str | None:
    details = policy.get("policyDetails") or {}
    if policy.get("state") != "ENABLED":
        return "is not enabled: no snapshots are taken"
    daily = [s for s in details.get("schedules") or []
             if (s.get("createRule") or {}).get("intervalUnit") == "HOURS"
             and 0 < int((s.get("createRule") or {}).get("interval") or 0) <= 24
             and int((s.get("retainRule") or {}).get("count") or 0) >= 1]
    return None if daily else "has no schedule taking a snapshot at least daily and keeping it"


# --- ECS --------------------------------------------------------------------------------------------

def _private_encrypted_database(args: ResourceValidationArgs, db: dict) -> str | None:
    if db.get("publiclyAccessible"):
        return "is publicly accessible; databases are reached only from the tasks' security groups"
    if not db.get("storageEncrypted"):
        return "stores its data unencrypted"
    if _kept(args, db) and not db.get("deletionProtection"):
        return "is a prod database without deletion protection"
    return None


def _encrypted_file_system(_: ResourceValidationArgs, fs: dict) -> str | None:
    return None if fs.get("encrypted") else "is an unencrypted EFS file system"


def _encrypted_cache(_: ResourceValidationArgs, group: dict) -> str | None:
    if not group.get("atRestEncryptionEnabled") or not group.get("transitEncryptionEnabled"):
        return "is not encrypted at rest and in transit"
    return None


def _least_privilege(_: ResourceValidationArgs, policy: dict) -> str | None:
    document = policy.get("policy")
    try:
        statements = (json.loads(document) if isinstance(document, str) else document or {}).get("Statement", [])
    except (ValueError, AttributeError):
        return None
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if statement.get("Effect") == "Allow" and ("*" in actions or any(a.endswith(":*") for a in actions)) \
                and "*" in resources:
            return f"allows {actions} on every resource"
    return None


ADMIN_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "AmazonEC2FullAccess",
                  "AmazonS3FullAccess", "SecretsManagerReadWrite", "AmazonECS_FullAccess")


def _no_admin_managed_policy(_: ResourceValidationArgs, attachment: dict) -> str | None:
    arn = str(attachment.get("policyArn") or "")
    return f"attaches {arn}, far more than a role of berth's needs" if arn.rsplit("/", 1)[-1] in ADMIN_POLICIES else None


def _no_plain_secrets(_: ResourceValidationArgs, task: dict) -> str | None:
    definitions = task.get("containerDefinitions")
    try:
        containers = json.loads(definitions) if isinstance(definitions, str) else definitions or []
    except ValueError:
        return None
    for container in containers:
        for env in container.get("environment") or []:
            if is_credential_name(str(env.get("name", ""))):
                return (f"container {container.get('name')!r} gets {env.get('name')} as plain environment; "
                        "pass secrets through the task's `secrets` (Secrets Manager)")
    return None


RESOURCE_TYPES: dict[str, str] = {}  # policy name -> the resource type it judges


def _policy(name: str, description: str, resource_type: str, check: Check) -> ResourceValidationPolicy:
    RESOURCE_TYPES[name] = resource_type
    return ResourceValidationPolicy(name=name, description=description, validate=_for(resource_type, check))


POLICIES: list[ResourceValidationPolicy] = [
    _policy("container-unprivileged", "CIS Docker 5.4/5.9/5.15/5.16: no privileged containers, no host namespaces",
            CONTAINER, _unprivileged),
    _policy("container-no-host-system-mounts", "CIS Docker 5.5/5.31: no Docker socket, no host system directories",
            CONTAINER, _no_host_system_mounts),
    _policy("container-only-own-host-dirs", "CIS Docker 5.5: under berth's data root, only the app's own host dirs",
            CONTAINER, _only_own_host_dirs),
    _policy("container-capabilities", "CIS Docker 5.3: drop ALL capabilities, add back only reviewed ones",
            CONTAINER, _capabilities),
    _policy("container-no-new-privileges", "CIS Docker 5.25: no-new-privileges on every container",
            CONTAINER, _no_new_privileges),
    _policy("container-read-only-root", "CIS Docker 5.12: read-only root, size-capped noexec tmpfs",
            CONTAINER, _read_only_root),
    _policy("container-limited-and-checked", "CIS Docker 5.10/5.26: memory limit, health check, restart, log rotation",
            CONTAINER, _limited_and_checked),
    _policy("container-only-proxy-publishes", "CIS Docker 5.13: only the proxy publishes ports",
            CONTAINER, _only_proxy_publishes),
    _policy("host-only-web-open-to-world", "checkov CKV_AWS_24/25/260: only 80/443 are open to the internet",
            INGRESS, _web_only_to_world),
    _policy("host-ssh-only-from-admin-networks", "CIS AWS Foundations 5.2/5.3: SSH only from named admin networks",
            INGRESS, _ssh_only_from_admin_networks),
    _policy("host-imdsv2-encrypted-root", "checkov CKV_AWS_79/8: IMDSv2 only, hop limit 1, encrypted root disk",
            "aws:ec2/instance:Instance", _imdsv2),
    _policy("host-encrypted-volumes", "checkov CKV_AWS_3: EBS volumes encrypted", "aws:ebs/volume:Volume",
            _encrypted_volume),
    _policy("host-prod-volumes-protected", "AWS Well-Architected REL09: prod's data volume cannot be deleted by a deploy",
            "aws:ebs/volume:Volume", _prod_volume_kept),
    _policy("host-daily-snapshots", "AWS Well-Architected REL09-BP03: data volume snapshots at least daily, kept",
            "aws:dlm/lifecyclePolicy:LifecyclePolicy", _daily_snapshots),
    _policy("ecs-private-encrypted-database", "checkov CKV_AWS_17/16/293: RDS private, encrypted, with deletion protection where berth keeps it (prod)",
            "aws:rds/instance:Instance", _private_encrypted_database),
    _policy("ecs-encrypted-file-system", "checkov CKV_AWS_42: EFS encrypted", "aws:efs/fileSystem:FileSystem",
            _encrypted_file_system),
    _policy("ecs-encrypted-cache", "checkov CKV_AWS_29/30: ElastiCache encrypted at rest and in transit",
            "aws:elasticache/replicationGroup:ReplicationGroup", _encrypted_cache),
    _policy("iam-least-privilege-role-policy", "checkov CKV_AWS_290/355: no wildcard actions on every resource",
            "aws:iam/rolePolicy:RolePolicy", _least_privilege),
    _policy("iam-no-admin-managed-policy", "checkov CKV_AWS_274: no administrator-grade AWS managed policies",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment", _no_admin_managed_policy),
    _policy("ecs-no-plain-secrets", "checkov CKV_AWS_334-like: secrets reach tasks only through `secrets`",
            "aws:ecs/taskDefinition:TaskDefinition", _no_plain_secrets),
]

