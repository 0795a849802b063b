"""components/aws_common.py: every AWS resource berth creates, on any host kind, says which stack and
environment it belongs to (the policy pack's test of "prod" reads the environment tag)."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest

from components.aws_common import assumed_by
from offline import mockrun
from tests.support.stacks import REPO, STACK_FILES

# What the policy pack judges by the environment tag must carry it (policy/policies.py: _kept, _prod_volume_kept).
JUDGED_BY_ENVIRONMENT = {"aws:rds/instance:Instance", "aws:ebs/volume:Volume"}


def takes_tags(resource_type: str) -> bool:
    """Whether the pulumi_aws resource of this type takes AWS's tag map. Its class is named by the type token
    (`aws:<module>/<name>:<Class>` is `pulumi_aws.<module>.<Class>`, as pulumi_aws/__init__.py registers
    it), and its `tags` property is typed `Output[Optional[Mapping[str, str]]]` where the resource takes
    the map (pulumi_aws 7.51.1, e.g. cloudwatch/metric_alarm.py); autoscaling.Group's `tags` is a list of
    tag blocks instead, and a resource without tags has no such property."""
    _, module, name = resource_type.split(":")
    package = module.split("/")[0]
    cls = getattr(importlib.import_module("pulumi_aws" if package == "index" else f"pulumi_aws.{package}"), name)
    tags = getattr(cls, "tags", None)
    return isinstance(tags, property) and "Mapping[str, str]" in str(inspect.signature(tags.fget).return_annotation)


def test_a_type_takes_tags_as_the_sdk_declares_them():
    assert takes_tags("aws:cloudwatch/metricAlarm:MetricAlarm") and takes_tags("aws:ecr/repository:Repository")
    assert not takes_tags("aws:ecr/lifecyclePolicy:LifecyclePolicy")  # no tags at all
    assert not takes_tags("aws:autoscaling/group:Group")  # a list of tag blocks, not the map


@pytest.mark.xdist_group("stack-files-as-planned")  # the runs tests/test_layout.py compares: made once, on one worker
@pytest.mark.parametrize("config_file", STACK_FILES)
def test_every_aws_resource_that_takes_tags_carries_its_stack_and_environment(shared_runs, config_file):
    stack = Path(config_file).name.split(".")[1]
    config = mockrun.StackConfig.from_file(REPO / config_file)
    run = shared_runs.recorded(config_file)  # prod's unset app secrets stood in for, as a plan does
    on_aws = [r for r in run.resources if r.type.startswith("aws:")]
    taggable = [r for r in on_aws if takes_tags(r.type)]
    if json.loads(config.values["berth:host"])["kind"] == "local":  # this machine's engine: nothing in an AWS account
        assert on_aws == []
        return
    assert taggable, "a stack on AWS registers resources that take tags"
    assert {t for t in JUDGED_BY_ENVIRONMENT if run.of_type(t)} <= {r.type for r in taggable}
    wanted = {"berth:stack": stack, "berth:environment": config.values["berth:environment"]}
    untagged = [r.urn for r in taggable if {k: (r.values.get("tags") or {}).get(k) for k in wanted} != wanted]
    assert untagged == []


def test_a_roles_trust_policy_names_only_the_service_that_assumes_it():
    assert json.loads(assumed_by("ecs-tasks.amazonaws.com")) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
