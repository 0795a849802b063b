"""What every AWS resource berth creates has in common, written once: its tags and its roles' trust.

Every taggable resource carries `berth:stack` and `berth:environment`: the policy pack judges a resource
by its environment tag (prod's databases must refuse deletion, prod's volumes must be protected), on one
host and on ECS alike, and a bill or a console search finds a stack's resources by them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from config.deployment import Deployment


def resource_tags(deployment: Deployment, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stack's tags, and `extra` (`Name`, `berth:app`, ...) beside them."""
    return {"berth:stack": deployment.stack, "berth:environment": deployment.environment, **(extra or {})}


def assumed_by(service: str) -> str:
    """The trust policy of a role only AWS service `service` (e.g. `ecs-tasks.amazonaws.com`) may assume."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
