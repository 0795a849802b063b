"""berth's policy pack: `pulumi preview --policy-pack policy` (and `up`) refuse a stack breaking any rule."""

from pulumi_policy import EnforcementLevel, PolicyPack

from rules import POLICIES

PolicyPack("berth", POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
