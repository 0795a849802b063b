"""components/aws_common.py: every AWS resource berth creates, on any host kind, says which stack and
environment it belongs to (the policy pack's test of "prod" reads the environment tag)."""

from __future__ import annotations

import json

import pytest

from components.aws_common import assumed_by
from offline import mockrun
from tests.support.stacks import REPO


# What the policy pack judges by the environment tag must carry it (policy/policies.py: _kept, _prod_volume_kept).
JUDGED_BY_ENVIRONMENT = {"aws:rds/instance:Instance", "aws:ebs/volume:Volume"}


@pytest.mark.parametrize(("stack", "config_file"), [
    ("prod", "Pulumi.prod.yaml"), ("staging", "Pulumi.staging.yaml"),
    ("prod", "examples/chm-ecs/Pulumi.prod.yaml"), ("prod", "examples/collabry-ecs/Pulumi.prod.yaml"),
])
def test_every_tagged_aws_resource_carries_its_stack_and_environment(tmp_path, stack, config_file):
    config = mockrun.StackConfig.from_file(REPO / config_file)
    run = mockrun.record(stack, config, tmp_path)  # prod's unset app secrets stood in for, as a plan does
    tagged = [r for r in run.resources if r.type.startswith("aws:") and isinstance(r.values.get("tags"), dict)]
    assert tagged and {r.type for r in tagged} >= {t for t in JUDGED_BY_ENVIRONMENT if run.of_type(t)}
    wanted = {"berth:stack": stack, "berth:environment": config.values["berth:environment"]}
    wrong = [r.urn for r in tagged if {k: r.values["tags"].get(k) for k in wanted} != wanted]
    assert wrong == []


def test_a_roles_trust_policy_names_only_the_service_that_assumes_it():
    assert json.loads(assumed_by("ecs-tasks.amazonaws.com")) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
