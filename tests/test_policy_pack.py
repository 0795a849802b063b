"""The policy pack (policy/policies.py) over every stack and example, under mocks.

The workflows run the same pack in `pulumi preview|up --policy-pack policy`; here its own validate
functions judge what each stack registers. Every stack must pass, and every rule is shown catching a
deliberately broken resource of its type, so no rule can pass while judging nothing.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offline.mockrun import Run
from policy.policies import POLICIES, RESOURCE_TYPES
from tests.support.policy import policy_violations
from tests.support.stacks import PROD_SECRETS, REPO

EXAMPLES = sorted((REPO / "examples").glob("*/Pulumi.*.yaml"))
STACKS = [("dev", None), ("staging", None), ("prod", None)] + [(p.name.split(".")[1], p) for p in EXAMPLES]


@pytest.fixture
def run_of(deploy, monkeypatch):
    """A stack file's run; examples' unset secrets get the offline plan's stand-ins (no secret is needed here)."""
    monkeypatch.setenv("BERTH_OFFLINE_PLAN", "1")

    def _run(stack: str, stack_file: Path | None) -> Run:
        return deploy(stack, stack_file=stack_file, secrets=PROD_SECRETS if (stack, stack_file) == ("prod", None) else None)
    return _run


@pytest.mark.parametrize("stack, stack_file", STACKS, ids=[f"{s}:{f.parent.name if f else 'berth'}" for s, f in STACKS])
def test_every_stack_and_example_passes_the_pack(run_of, stack, stack_file):
    assert policy_violations(run_of(stack, stack_file)) == []


# What breaks each rule, applied to the first resource of its type that a stack registers.
BREAKS = {
    "container-unprivileged": {"privileged": True},
    "container-no-host-system-mounts": {"volumes": [{"hostPath": "/var/run/docker.sock", "containerPath": "/s"}]},
    "container-only-own-host-dirs": {"volumes": [{"hostPath": "/srv/berth/backup-work", "containerPath": "/b"}]},
    "container-capabilities": {"capabilities": {"drops": ["ALL"], "adds": ["SYS_ADMIN"]}},
    "container-no-new-privileges": {"securityOpts": []},
    "container-read-only-root": {"readOnly": False},
    "container-limited-and-checked": {"memory": 0},
    "container-only-proxy-publishes": {"ports": [{"internal": 5432, "external": 5432}]},
    "host-only-web-open-to-world": {"cidrIpv4": "0.0.0.0/0", "fromPort": 5432, "toPort": 5432, "ipProtocol": "tcp"},
    "host-ssh-only-from-admin-networks": {"cidrIpv4": "128.0.0.0/1", "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"},
    "host-imdsv2-encrypted-root": {"metadataOptions": {"httpTokens": "optional"}},
    "host-encrypted-volumes": {"encrypted": False},
    "host-prod-volumes-protected": {"tags": {"berth:environment": "prod"}},  # staging's volume, unprotected, said prod
    "host-daily-snapshots": {"state": "DISABLED"},
    "ecs-private-encrypted-database": {"publiclyAccessible": True},
    "ecs-encrypted-file-system": {"encrypted": False},
    "ecs-encrypted-cache": {"atRestEncryptionEnabled": False},
    "iam-least-privilege-role-policy": {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})},
    "iam-no-admin-managed-policy": {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    "ecs-no-plain-secrets": {"containerDefinitions": json.dumps(
        [{"name": "api", "environment": [{"name": "OPENAI_API_KEY", "value": "sk-plain"}]}])},
}


def test_every_rule_has_a_break_shown():
    assert set(BREAKS) == {p.name for p in POLICIES}


@pytest.mark.parametrize("policy", sorted(BREAKS))
def test_each_rule_catches_its_break(run_of, policy):
    resource_type = RESOURCE_TYPES[policy]
    for stack, stack_file in STACKS:
        run = run_of(stack, stack_file)
        # by name: the order a run registers resources made from outputs varies from run to run
        candidates = sorted((r for r in run.of_type(resource_type) if r.name != "proxy"), key=lambda r: r.name)
        if candidates:
            break
    else:
        pytest.fail(f"no stack or example registers a {resource_type}: {policy} judges nothing")
    clone = copy.deepcopy(run)
    target = next(r for r in clone.resources if r.urn == candidates[0].urn)
    target.inputs.update(BREAKS[policy])
    found = policy_violations(clone)
    assert found and all(v.startswith(f"{policy}: {target.name}: ") for v in found), found


def test_a_prod_database_needs_deletion_protection(run_of):
    run = copy.deepcopy(run_of("prod", REPO / "examples" / "chm-ecs" / "Pulumi.prod.yaml"))
    database = run.of_type("aws:rds/instance:Instance")[0]
    assert database.protect  # prod keeps its database
    database.inputs["deletionProtection"] = False
    assert policy_violations(run) == [f"ecs-private-encrypted-database: {database.name}: is a prod database without "
                                      "deletion protection"]


def test_an_ecs_prod_database_is_judged_as_prod_by_its_environment_tag(run_of):
    """Not only by `protect`: on ECS as on one host, every AWS resource carries its environment."""
    run = copy.deepcopy(run_of("prod", REPO / "examples" / "chm-ecs" / "Pulumi.prod.yaml"))
    database = run.of_type("aws:rds/instance:Instance")[0]
    assert database.values["tags"]["berth:environment"] == "prod"
    database.protect, database.inputs["deletionProtection"] = False, False
    assert policy_violations(run) == [f"ecs-private-encrypted-database: {database.name}: is a prod database without "
                                      "deletion protection"]


def test_prods_data_volume_is_judged_as_prod_and_kept(run_of):
    """The prod rule judges prod's real data volume (tagged with its environment), not only a made-up one."""
    run = copy.deepcopy(run_of("prod", None))
    (volume,) = run.of_type("aws:ebs/volume:Volume")
    assert volume.values["tags"]["berth:environment"] == "prod" and volume.protect
    volume.protect = False
    assert policy_violations(run) == [f"host-prod-volumes-protected: {volume.name}: is a prod EBS volume without "
                                      "`protect`: `pulumi destroy` or a replacement would delete its data"]


def test_the_pack_loads_as_pulumi_runs_it_from_its_own_directory():
    """Pulumi runs the pack with `policy/` as its directory; it must find berth's shared rules (rules/) and
    serve: the analyzer prints the port it listens on (pulumi_policy.PolicyPack), then waits for the engine."""
    pack = subprocess.Popen([sys.executable, "__main__.py"], cwd=REPO / "policy", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": ""})
    try:
        port = pack.stdout.readline().decode().strip()
        assert port.isdigit(), pack.stderr.read().decode() if pack.poll() is not None else port
    finally:
        pack.kill()
        pack.wait(timeout=10)
