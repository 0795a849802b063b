"""berth's policy pack: `pulumi preview --policy-pack policy` (and `up`) refuse a stack breaking any rule.

Pulumi runs the pack from this directory, so the repository's root (where berth's shared rules live,
`rules/`) is put on the path explicitly.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.policies import POLICIES

# list(): PolicyPack is typed to take a list[Policy] (pulumi_policy/policy.py) and POLICIES holds the subclass
# ResourceValidationPolicy; a list of a subclass is not a list of its base to a type checker
PolicyPack("berth", list(POLICIES), enforcement_level=EnforcementLevel.MANDATORY)
