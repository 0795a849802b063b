"""berth: deploy this stack's apps onto one hardened Docker host behind one reverse proxy, or onto ECS.

Everything is validated first (config/load.py); a bad config stops here, before any resource exists.
Each backend's `deploy()` returns what it deployed (components/common.py: Deployed), exported here the
same way for both.
"""

import pulumi

from components import ecs, single_host
from components.aws_common import tag_every_aws_resource
from components.images import Builder
from components.monitoring import Monitoring
from components.secrets import Secrets
from config.load import load_from_pulumi

deployment = load_from_pulumi()
tag_every_aws_resource(deployment)  # before any resource: the stack's tags on every AWS resource that takes them
builder = Builder("builder")
secrets = Secrets("secrets", deployment.set_secrets, deployment.policy)
# the alarm topic, log groups and alarms (docs/operate.md)
monitoring = Monitoring("monitoring", deployment.stack, deployment.policy, deployment.alarms_on,
                        deployment.settings.alarm_email)

# the same apps on an ECS cluster (components/ecs, docs/ecs.md), or on one host (components/single_host)
backend = ecs if deployment.on_ecs else single_host
deployed = backend.deploy(deployment, secrets, builder, monitoring)

pulumi.export("environment", deployment.environment)
pulumi.export("urls", dict(deployed.urls))
pulumi.export("secretsNotSet", sorted(secrets.not_set))  # stand-ins in this stack (refused in prod)
for output, value in deployed.outputs.items():  # what only this backend has (the host's address, the ALB's name)
    pulumi.export(output, value)
