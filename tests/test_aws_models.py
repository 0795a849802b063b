"""What AWS would say to every API call the EC2 and ECS backends make, for every stack and example.

Each run's AWS resources become the requests the provider sends (tests/support/aws_calls.py, data per
resource type), checked against botocore's own service models and AWS's documented limits
(tests/support/aws_check.py). Zero findings means AWS accepts every request as the program builds it;
an input nobody mapped is a finding too. The checker's own tests (below) show it catches what AWS refuses.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from offline.mockrun import Resource, Run
from tests.support.aws_check import findings, operations
from tests.support.ecs import CHM, ECS_STACKS, ecs_run
from tests.test_systems import EC2_EXAMPLES, system_run

EC2_STACKS = ["staging", "prod", *EC2_EXAMPLES]
# ECS staging differs from prod in what it keeps and protects: CHM's staging copy stands for it.
STACKS = [("ec2", s) for s in EC2_STACKS] + [("ecs", s) for s in ECS_STACKS] + [("ecs-staging", CHM)]


@pytest.fixture
def stack_run(request, shared_runs):
    """A stack's run, shared: the base stacks through `deploy`'s cache, the ECS ones with tests/ecs/."""
    def _run(stack: str, kind: str = "ec2") -> Run:
        if stack in ("staging", "prod"):
            return request.getfixturevalue("deploy")(stack)
        if kind.startswith("ecs"):
            return ecs_run(stack, shared_runs, "staging" if kind == "ecs-staging" else "prod")
        return system_run(stack, shared_runs)
    return _run


@pytest.mark.parametrize("kind, stack", STACKS, ids=[f"{k}:{s}" for k, s in STACKS])
def test_aws_accepts_every_request_the_stack_makes(stack_run, kind, stack):
    run = stack_run(stack, kind)
    assert [r for r in run.resources if r.type.startswith("aws:")], "the run registered no AWS resource"
    assert [str(f) for f in findings(run)] == []


def test_the_check_covers_the_calls_the_issue_names(stack_run):
    """Task definitions, services, rules and target groups, load balancer attributes, RDS, ElastiCache,
    EFS, IAM, Secrets Manager, autoscaling, the EC2 instance, security groups, DLM, S3 configuration."""
    covered = set().union(*(operations(stack_run(s, "ecs")) for s in ECS_STACKS), operations(stack_run("prod")))
    assert {"ecs:RegisterTaskDefinition", "ecs:CreateService", "elbv2:CreateRule", "elbv2:CreateTargetGroup",
            "elbv2:ModifyLoadBalancerAttributes", "rds:CreateDBInstance", "elasticache:CreateReplicationGroup",
            "efs:CreateAccessPoint", "iam:PutRolePolicy", "secretsmanager:CreateSecret",
            "application-autoscaling:PutScalingPolicy", "ec2:RunInstances", "ec2:AuthorizeSecurityGroupIngress",
            "dlm:CreateLifecyclePolicy", "s3:PutBucketLifecycleConfiguration"} <= covered


# --- the checker catches what AWS refuses ---------------------------------------------------------------

def resource(type_: str, name: str, **inputs) -> Resource:
    return Resource(type=f"aws:{type_}", name=name, urn=f"urn:{name}", inputs=inputs, parent="", provider="",
                    dependencies=[], protect=False, retain_on_delete=False, delete_before_replace=False,
                    ignore_changes=[], state={"arn": f"arn:aws:test:::{name}"})


def problems(*resources: Resource) -> list[str]:
    return [str(f) for f in findings(Run("test", list(resources), {}, set(), []))]


def rule(name: str, priority: int, paths: list[str]) -> Resource:
    return resource("lb/listenerRule:ListenerRule", name, listenerArn="arn:listener", priority=priority,
                    actions=[{"type": "forward", "targetGroupArn": "arn:tg"}],
                    conditions=[{"hostHeader": {"values": ["a.example.com"]}}, {"pathPattern": {"values": paths}}])


def test_an_input_nobody_mapped_is_a_finding():
    (found,) = problems(resource("ec2/eip:Eip", "ip", domain="vpc", networkBorderGroup="us-east-1"))
    assert "inputs.networkBorderGroup: an input the mapping does not know" in found
    (found,) = problems(resource("ec2/placementGroup:PlacementGroup", "pg", strategy="cluster"))
    assert "no API mapping for this resource type" in found


def test_botocores_model_refuses_a_missing_member_an_enum_and_a_range():
    found = problems(resource("ecs/service:Service", "svc", cluster="c", taskDefinition="arn:td", launchType="LAMBDA",
                              desiredCount=1))
    assert any("launchType: 'LAMBDA' is not one of" in f for f in found)
    found = problems(rule("r", 60000, ["/api"]))
    assert any("Priority: 60000 is above the maximum 50000" in f for f in found)


def test_ec2_refuses_an_apostrophe_in_a_rule_description():
    (found,) = problems(resource("vpc/securityGroupIngressRule:SecurityGroupIngressRule", "in", securityGroupId="sg-1",
                                 ipProtocol="tcp", fromPort=443, toPort=443, cidrIpv4="0.0.0.0/0",
                                 description="the app's clients"))
    assert "rule description \"the app's clients\"" in found


def test_fargate_sizes_rule_priorities_and_condition_values():
    task = resource("ecs/taskDefinition:TaskDefinition", "td", family="f", networkMode="awsvpc", cpu="512",
                    memory="512", requiresCompatibilities=["FARGATE"], containerDefinitions=json.dumps(
                        [{"name": "app", "image": "app:1", "essential": True}]))
    assert any("no task of 512 CPU units with 512 MiB" in f for f in problems(task))
    tmpfs = replace(task, inputs={**task.inputs, "memory": "1024", "containerDefinitions": json.dumps([{
        "name": "app", "image": "app:1", "linuxParameters": {"tmpfs": [{"containerPath": "/tmp", "size": 64}]}}])})
    assert any("Fargate does not support linuxParameters.tmpfs" in f for f in problems(tmpfs))
    found = problems(rule("one", 101, ["/a"]), rule("two", 101, ["/b", "/b/*", "/c", "/d", "/e"]))
    assert any("priority 101 is" in f for f in found) and any("6 condition values" in f for f in found)


def test_a_service_must_name_its_task_definitions_ports():
    task = resource("ecs/taskDefinition:TaskDefinition", "td", family="f", networkMode="awsvpc", cpu="256",
                    memory="512", requiresCompatibilities=["FARGATE"], containerDefinitions=json.dumps(
                        [{"name": "app", "image": "app:1", "portMappings": [{"name": "app", "containerPort": 80}]}]))
    service = resource("ecs/service:Service", "svc", cluster="c", taskDefinition="arn:aws:test:::td",
                       loadBalancers=[{"targetGroupArn": "arn:tg", "containerName": "app", "containerPort": 8080}],
                       serviceConnectConfiguration={"enabled": True, "namespace": "arn:ns", "services": [
                           {"portName": "web", "clientAlias": [{"port": 80, "dnsName": "Web"}]}]})
    found = problems(task, service)
    assert any("load balancer target app:8080 is no port mapping" in f for f in found)
    assert any("Service Connect port 'web' names no port mapping" in f for f in found)
    assert any("client alias 'Web'" in f for f in found)
