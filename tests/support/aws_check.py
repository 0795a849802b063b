"""Every AWS API call a mock run's resources become, checked against botocore's models and AWS's limits.

`findings(run)` is empty when AWS would take every request as the run would send it: each resource's
inputs mapped to its operations (tests/support/aws_calls.py), each request valid for botocore's model of
that operation (tests/support/aws_api.py), and AWS's documented limits held (tests/support/aws_limits.py).
"""

from __future__ import annotations

from dataclasses import replace

from offline.mockrun import Resource, Run
from tests.support.aws_api import Finding, integral, requests, validate
from tests.support.aws_calls import calls_for
from tests.support.aws_limits import RULES, Sent, services


def _label(resource: Resource) -> str:
    return f"{resource.type} {resource.name}"


def findings(run: Run) -> list[Finding]:
    found: list[Finding] = []
    sent: list[Sent] = []
    task_arns: dict[str, dict] = {}
    for resource in run.resources:
        if not resource.type.startswith("aws:"):
            continue
        calls = calls_for(resource)
        if calls is None:
            found.append(Finding(_label(resource), "type", "no API mapping for this resource type (aws_calls.py)"))
            continue
        built, unknown = requests(replace(resource, inputs=integral(resource.values)), calls)
        found += [Finding(_label(resource), "mapping", problem) for problem in unknown]
        for call, request in built:
            found += [Finding(_label(resource), f"{call.service}:{call.operation}", p)
                      for p in validate(call.service, call.operation, request)]
            sent.append(Sent(_label(resource), call, request))
            if call.operation == "RegisterTaskDefinition":
                task_arns[resource.state.get("arn")] = request
    for rule in RULES:
        found += [Finding(s.resource, f"{s.call.service}:{s.call.operation}", p) for s, p in rule(sent)]
    found += [Finding(s.resource, f"{s.call.service}:{s.call.operation}", p) for s, p in services(sent, task_arns)]
    return found


def operations(run: Run) -> set[str]:
    """The operations a run's resources become (what the check covered)."""
    return {f"{c.service}:{c.operation}" for r in run.resources if r.type.startswith("aws:")
            for c in calls_for(r) or []}
