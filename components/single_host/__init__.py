"""berth on one Docker host (`berth:host.kind: local` or `ec2`): the default backend.

The host (dev's local engine, or the EC2 instance berth creates), the data tier the apps share, each app's
networks, volumes and containers, the one reverse proxy in front of them, the backups and the optional
DNS records. `deploy()` is the whole assembly; `__main__.py` exports what it returns (components/common.py).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.common import Deployed
from components.images import Builder
from components.monitoring import Monitoring
from components.secrets import Secrets
from components.single_host.app_stack import AppStack
from components.single_host.backups import Backups
from components.single_host.dns import DnsRecords
from components.single_host.ec2_host import Ec2Host
from components.single_host.host import LocalHost
from components.single_host.proxy import Proxy
from components.single_host.shared_services import SharedServices
from config.deployment import Deployment


def deploy(deployment: Deployment, secrets: Secrets, builder: Builder, monitoring: Monitoring) -> Deployed:
    """The stack's apps on its host. Every resource keeps the name and parent it had when this was inline
    in `__main__.py` (a function is no component: nothing moves in state)."""
    host = Ec2Host("host", deployment) if deployment.on_ec2 else LocalHost("host", deployment)
    if isinstance(host, Ec2Host):
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
    dns = deployment.settings.dns
    if dns is not None and isinstance(host, Ec2Host):  # config/checks.py refuses berth:dns on the local engine
        DnsRecords("dns", deployment, dns, host.public_ip)
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
