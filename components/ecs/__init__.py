"""berth on Amazon ECS (`berth:host.kind: ecs`): the same apps/*.yaml on a cluster, behind one ALB.

The single host stays the default; an ECS stack swaps the host, the shared containers and the proxy
for their managed counterparts (docs/ecs.md): Fargate services (GPU services on EC2 capacity),
Service Connect for the same aliases, an Application Load Balancer for routes, RDS and ElastiCache
for Postgres and Redis, EFS for volumes, Secrets Manager for secrets.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.common import Deployed, host_settings
from components.ecs.app_service import EcsApp, Platform
from components.ecs.cluster import EcsCluster
from components.ecs.databases import ManagedData
from components.ecs.files import EcsFileSystem, needs_files
from components.ecs.load_balancer import LoadBalancer
from components.ecs.network import EcsNetwork
from components.ecs.secret_store import SecretStore
from components.images import Builder
from components.monitoring import Monitoring
from components.secrets import Secrets
from config.deployment import Deployment
from config.stack import EcsHostSettings

RULES_PER_APP = 100  # listener rule priorities: app i owns [i*100+1, i*100+99]


def deploy(deployment: Deployment, secrets: Secrets, builder: Builder, monitoring: Monitoring) -> Deployed:
    """The stack's apps on its cluster; `__main__.py` exports what it returns (components/common.py)."""
    network = EcsNetwork("network", deployment)
    cluster = EcsCluster("cluster", deployment, network)
    load_balancer = LoadBalancer("edge", deployment, network)
    files = EcsFileSystem("files", deployment, network) if needs_files(deployment) else None
    store = SecretStore(deployment)
    # berth's own one-off tasks' logs (database provisioning), under the cluster that runs them; it was
    # registered at the stack's root before, and the alias keeps it the same log group in state
    # (Alias(parent=ROOT_STACK_RESOURCE) names "no original parent": pulumi 3.272.0, pulumi/resource.py, Alias)
    logs = aws.cloudwatch.LogGroup("berth-logs", name=f"/berth/{deployment.stack}/berth",
                                   retention_in_days=host_settings(deployment, EcsHostSettings).log_retention_days,
                                   opts=pulumi.ResourceOptions(parent=cluster,
                                                               aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]))
    data = ManagedData("data", deployment, network, cluster.cluster, store, logs)
    platform = Platform(deployment=deployment, network=network, cluster=cluster.cluster,
                        gpu_capacity_provider=cluster.gpu_capacity_provider, capacity=cluster.capacity,
                        load_balancer=load_balancer,
                        file_system=files.file_system if files else None,
                        file_system_group=files.security_group if files else None,
                        mount_targets=files.mount_targets if files else [], store=store, secrets=secrets,
                        builder=builder)
    apps = {name: EcsApp(name, platform, data.apps.get(name), rule_base=(i + 1) * RULES_PER_APP)
            for i, name in enumerate(sorted(deployment.apps))}
    monitoring.watch_ecs(cluster.cluster.name, load_balancer.alb, apps)
    for app in deployment.apps.values():
        if app.network is not None:
            pulumi.log.info(f"{app.name}: network.subnet does not apply on ECS; its tasks get addresses in the "
                            "VPC's private subnets and are fenced by security groups")
    return Deployed(urls={name: app.url for name, app in apps.items()},
                    outputs={"loadBalancerDnsName": load_balancer.alb.dns_name, "clusterName": cluster.cluster.name})
