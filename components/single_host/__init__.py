"""berth on one Docker host (`berth:host.kind: local` or `ec2`): the default backend.

The host (dev's local engine, or the EC2 instance berth creates), the data tier the apps share, each app's
networks, volumes and containers, the one reverse proxy in front of them, the backups and the optional
DNS records. `deploy()` is the whole assembly; `__main__.py` exports what it returns (components/common.py).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.common import Deployed, required
from components.images import Builder
from components.monitoring import HostWatch, Monitoring
from components.secrets import Secrets
from components.single_host.app_stack import AppStack
from components.single_host.backups import Backups
from components.single_host.dns import DnsRecords
from components.single_host.ec2_host import Ec2Host
from components.single_host.host import LocalHost
from components.single_host.proxy import Proxy
from components.single_host.shared_services import SharedServices
from config.deployment import Deployment
from config.stack import Ec2HostSettings, LocalHostSettings
from operate import intent
from render import backup_plan, caddyfile


def deploy(deployment: Deployment, secrets: Secrets, builder: Builder, monitoring: Monitoring) -> Deployed:
    """The stack's apps on its host. Every resource keeps the name and parent it had when this was inline
    in `__main__.py` (a function is no component: nothing moves in state). Each component is given what it
    reads of the Deployment (config/deployment.py), nothing more: an app's own, its StackApp."""
    policy = deployment.policy
    host: Ec2Host | LocalHost
    if deployment.on_ec2:
        settings = deployment.host_settings(Ec2HostSettings)
        # what AWS says of the instance type, asked for every EC2 stack (config/load.py)
        host_type = required(deployment.host_type, "the EC2 instance type's facts (checks.host_type)")
        host = Ec2Host("host", settings, host_type, deployment.stack, policy)
        monitoring.watch_host(host, HostWatch(intended=intent.intended(deployment), hostnames=deployment.hostnames,
                                              log_retention_days=settings.log_retention_days,
                                              data_root=deployment.data_root))
    else:
        host = LocalHost("host", deployment.host_settings(LocalHostSettings))
    shared = SharedServices("shared", deployment.stack_apps, deployment.settings.shared, policy, host)
    apps = {a.name: AppStack(a.name, a, host, shared, secrets, builder) for a in deployment.stack_apps}
    proxy = Proxy(
        "proxy", caddyfile.plan(deployment), deployment.settings.proxy, policy, host,
        edge_networks=[a.edge_network for a in apps.values() if a.edge_network is not None],
        site_volumes={root: vol for a in apps.values() for root, vol in a.site_volumes.items()},
    )
    backups = Backups("backups", backup_plan.stack_backups(deployment), policy, host, monitoring.alarm_topic,
                      opts=pulumi.ResourceOptions(depends_on=list(apps.values())))
    dns = deployment.settings.dns
    if dns is not None and isinstance(host, Ec2Host):  # config/checks.py refuses berth:dns on the local engine
        DnsRecords("dns", dns, deployment.hostnames, host.public_ip)
    outputs: dict[str, pulumi.Input[Any]] = {
        "proxy": proxy.summary,
        "routes": proxy.routes,
        "backups": backups.summary,  # schedule, retention, what each app's backup holds
    }
    if isinstance(host, Ec2Host):
        outputs["hostPublicIp"] = host.public_ip
        outputs["sshCommand"] = pulumi.Output.concat("ssh ", host.ssh_user, "@", host.public_ip)
        outputs["ssmCommand"] = pulumi.Output.concat("aws ssm start-session --target ", host.instance.id)
    return Deployed(urls={name: app.url for name, app in apps.items()}, outputs=outputs)
