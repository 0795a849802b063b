"""What every AWS resource berth creates has in common, written once: its tags and its roles' trust.

Every AWS resource that takes tags carries `berth:stack` and `berth:environment`, whatever else it is
tagged with (`Name`, `berth:app`): the policy pack judges a resource by its environment tag (prod's
databases must refuse deletion, prod's volumes must be protected), on one host and on ECS alike, and a bill
or a console search finds a stack's resources by them. `tag_every_aws_resource()` does it, once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi

from config.deployment import Deployment


AUTO_SCALING_GROUP = "aws:autoscaling/group:Group"


def resource_tags(stack: str, environment: str) -> dict[str, str]:
    """The stack's tags."""
    return {"berth:stack": stack, "berth:environment": environment}


def tag_every_aws_resource(deployment: Deployment) -> None:
    """From now on, every AWS resource that takes tags gets the stack's, beside its own. Call it before any
    resource is registered.

    A stack transformation (pulumi 3.272.0): `register_stack_transformation` adds it to the root stack
    resource (pulumi/runtime/stack.py), every resource constructed later inherits it through its parents,
    and `Resource.__init__` registers what it returns (pulumi/resource.py), so previews, the policy pack and
    the mocks all see the tags. The props it gets are the resource's Args as a dict, with every input its
    type declares (`_types.input_type_to_untranslated_dict`); pulumi_aws sets `tags_all` there on exactly
    the resources whose `tags` is AWS's tag map, the ones the provider's `default_tags` reach (pulumi_aws
    7.51.1, each resource's `_internal_init`, e.g. cloudwatch/metric_alarm.py).
    Not one explicit provider with `default_tags`: that would move every AWS resource off the default
    provider, and that such a move replaces none of them is not shown.
    An Auto Scaling group takes its tags as a list of tag blocks instead (no `tags_all`): it gets the stack's
    as blocks propagated at launch, so the instances it launches carry them too (botocore's autoscaling
    model, `Tag.PropagateAtLaunch`: "whether the tag is added to new instances as they are launched").
    """
    stack_tags = resource_tags(deployment.stack, deployment.environment)

    def with_stack_tags(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ == AUTO_SCALING_GROUP:
            own_blocks = args.props.get("tags") or []
            if not isinstance(own_blocks, list):  # berth gives a group's tag blocks as a plain list
                raise TypeError(f"{args.name}: its tags are a {type(own_blocks).__name__}; berth gives them as a list")
            blocks = [*own_blocks, *({"key": k, "value": v, "propagate_at_launch": True} for k, v in stack_tags.items())]
            return pulumi.ResourceTransformationResult({**args.props, "tags": blocks}, args.opts)
        if not args.type_.startswith("aws:") or "tags_all" not in args.props:
            return None
        own = args.props.get("tags") or {}
        if not isinstance(own, Mapping):  # berth tags with plain dicts, never an Output
            raise TypeError(f"{args.name}: its tags are a {type(own).__name__}; berth gives tags as a plain dict")
        tags = {**own, **stack_tags}
        return pulumi.ResourceTransformationResult({**args.props, "tags": tags}, args.opts)

    pulumi.runtime.register_stack_transformation(with_stack_tags)


def assumed_by(service: str) -> str:
    """The trust policy of a role only AWS service `service` (e.g. `ecs-tasks.amazonaws.com`) may assume."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
