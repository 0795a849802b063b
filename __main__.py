"""berth: deploy this stack's apps onto one hardened Docker host behind one reverse proxy, or onto ECS.

Everything is validated first (config/load.py); a bad config stops here, before any resource exists.
"""

import pulumi

from components.app_stack import AppStack
from components.backups import Backups
from components.dns import DnsRecords
from components.ecs import deploy_on_ecs
from components.ec2_host import Ec2Host
from components.host import LocalHost
from components.images import Builder
from components.monitoring import Monitoring
from components.proxy import Proxy
from components.secrets import Secrets
from components.shared_services import SharedServices
from config.load import load_from_pulumi

deployment = load_from_pulumi()
builder = Builder("builder")
secrets = Secrets("secrets", deployment)
monitoring = Monitoring("monitoring", deployment)  # the alarm topic, log groups and alarms (docs/operate.md)

if deployment.on_ecs:  # the same apps on an ECS cluster (components/ecs, docs/ecs.md)
    apps = deploy_on_ecs(deployment, secrets, builder, monitoring)
else:
    host = Ec2Host("host", deployment) if deployment.on_ec2 else LocalHost("host", deployment)
    if deployment.on_ec2:
        monitoring.watch_host(host)
    shared = SharedServices("shared", deployment, host)
    apps = {name: AppStack(name, deployment, host, shared, secrets, builder) for name in deployment.apps}
    proxy = Proxy(
        "proxy", deployment, host,
        edge_networks=[a.edge_network for a in apps.values() if a.edge_network is not None],
        site_volumes={root: vol for a in apps.values() for root, vol in a.site_volumes.items()},
    )
    backups = Backups("backups", deployment, host, monitoring.alarm_topic,
                      opts=pulumi.ResourceOptions(depends_on=list(apps.values())))
    if deployment.settings.dns is not None:  # EC2 stacks only: config/checks.py refuses it on the local engine
        DnsRecords("dns", deployment, host.public_ip)

pulumi.export("environment", deployment.environment)
pulumi.export("urls", {name: app.url for name, app in apps.items()})
pulumi.export("secretsNotSet", sorted(secrets.not_set))  # stand-ins in this stack (refused in prod)
if not deployment.on_ecs:  # on ECS the load balancer's listener rules are the routes
    pulumi.export("proxy", proxy.summary)
    pulumi.export("routes", proxy.routes)
    pulumi.export("backups", backups.summary)  # schedule, retention, what each app's backup holds
if deployment.on_ec2:
    pulumi.export("hostPublicIp", host.public_ip)
    pulumi.export("sshCommand", pulumi.Output.concat("ssh ", deployment.settings.host.ssh_user, "@", host.public_ip))
    pulumi.export("ssmCommand", pulumi.Output.concat("aws ssm start-session --target ", host.instance.id))
