"""berth on Amazon ECS (`berth:host.kind: ecs`): the same apps/*.yaml on a cluster, behind one ALB.

The single host stays the default; an ECS stack swaps the host, the shared containers and the proxy
for their managed counterparts (docs/ecs.md): Fargate services (GPU services on EC2 capacity),
Service Connect for the same aliases, an Application Load Balancer for routes, RDS and ElastiCache
for Postgres and Redis, EFS for volumes, Secrets Manager for secrets.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.common import Deployed, required
from components.ecs.app_service import EcsApp, Platform
from components.ecs.cluster import EcsCluster
from components.ecs.databases import ManagedData
from components.ecs.files import EcsFileSystem, needs_files
from components.ecs.load_balancer import LoadBalancer, idle_timeout
from components.ecs.network import EcsNetwork
from components.ecs.secret_store import SecretStore
from components.images import Builder
from components.monitoring import Monitoring
from components.secrets import Secrets
from config.deployment import Deployment
from config.stack import EcsHostSettings

RULES_PER_APP = 100  # listener rule priorities: app i owns [i*100+1, i*100+99]


def deploy(deployment: Deployment, secrets: Secrets, builder: Builder, monitoring: Monitoring) -> Deployed:
    """The stack's apps on its cluster; `__main__.py` exports what it returns (components/common.py). Each
    component is given what it reads of the Deployment (config/deployment.py), nothing more: an app's own,
    its StackApp."""
    settings, policy, stack = deployment.host_settings(EcsHostSettings), deployment.policy, deployment.stack
    apps = deployment.apps.values()
    network = EcsNetwork("network", settings, stack)
    cluster = EcsCluster("cluster", settings, any(s.gpu for a in apps for s in a.services.values()), network)
    load_balancer = LoadBalancer("edge", network, stack, policy, deployment.hostnames,
                                 required(deployment.settings.dns, "berth:dns.zoneName (ECS: ecs_checks)"),
                                 idle_timeout(apps))
    files = EcsFileSystem("files", settings, stack, policy, network) if needs_files(apps) else None
    store = SecretStore(stack, policy)
    # berth's own one-off tasks' logs (database provisioning), under the cluster that runs them; it was
    # registered at the stack's root before, and the alias keeps it the same log group in state
    # (Alias(parent=ROOT_STACK_RESOURCE) names "no original parent": pulumi 3.272.0, pulumi/resource.py, Alias)
    logs = aws.cloudwatch.LogGroup("berth-logs", name=f"/berth/{stack}/berth",
                                   retention_in_days=settings.log_retention_days,
                                   opts=pulumi.ResourceOptions(parent=cluster,
                                                               aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]))
    data = ManagedData("data", deployment.stack_apps, deployment.settings.shared, settings, stack, policy, network,
                       cluster.cluster, store, logs)
    platform = Platform(log_retention_days=settings.log_retention_days, proxy_image=deployment.settings.proxy.image,
                        network=network, cluster=cluster.cluster,
                        gpu_capacity_provider=cluster.gpu_capacity_provider, capacity=cluster.capacity,
                        load_balancer=load_balancer,
                        file_system=files.file_system if files else None,
                        file_system_group=files.security_group if files else None,
                        mount_targets=files.mount_targets if files else [], store=store, secrets=secrets,
                        builder=builder)
    services = {name: EcsApp(name, deployment.stack_app(name), platform, data.apps.get(name),
                             rule_base=(i + 1) * RULES_PER_APP)
                for i, name in enumerate(sorted(deployment.apps))}
    monitoring.watch_ecs(cluster.cluster.name, load_balancer.alb, services)
    for app in apps:
        if app.network is not None:
            pulumi.log.info(f"{app.name}: network.subnet does not apply on ECS; its tasks get addresses in the "
                            "VPC's private subnets and are fenced by security groups")
    return Deployed(urls={name: app.url for name, app in services.items()},
                    outputs={"loadBalancerDnsName": load_balancer.alb.dns_name, "clusterName": cluster.cluster.name})
