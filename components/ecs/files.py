"""The stack's EFS file system: where named volumes (and host dirs) live on ECS.

Encrypted, reachable only over NFS from the tasks of apps that mount it (each app adds its own rule
to this group), one mount target per private subnet. Each volume is an access point with its own
directory and owner (components/ecs/app_service.py). Prod protects and retains it, with AWS Backup's
daily backups on; staging's goes with `pulumi destroy`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
import pulumi_aws as aws

from components.ecs.network import EcsNetwork, nth
from components.options import kept_in_prod
from config.app import App
from config.stack import EcsHostSettings
from rules.environments import EnvironmentPolicy


def needs_files(apps: Iterable[App]) -> bool:
    """Whether any service of the stack's apps mounts a volume or a host dir."""
    return any(s.mounted_volumes or s.host_dirs for a in apps for s in a.services.values())


class EcsFileSystem(pulumi.ComponentResource):
    def __init__(self, name: str, settings: EcsHostSettings, stack: str, policy: EnvironmentPolicy,
                 network: EcsNetwork, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:ecs:FileSystem", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=network.vpc_id, opts=child,
            description="berth EFS: NFS only from the tasks of apps that mount it")
        self.file_system = aws.efs.FileSystem(
            name, encrypted=True, performance_mode="generalPurpose", throughput_mode="elastic",
            lifecycle_policies=[{"transition_to_ia": "AFTER_30_DAYS"}],
            tags={"Name": f"berth-{stack}"},
            opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(policy)))
        aws.efs.BackupPolicy(name, file_system_id=self.file_system.id,
                             backup_policy={"status": "ENABLED" if policy.keeps_data else "DISABLED"}, opts=child)
        self.mount_targets = [
            aws.efs.MountTarget(f"{name}-{i + 1}", file_system_id=self.file_system.id, subnet_id=subnet,
                                security_groups=[self.security_group.id], opts=child)
            for i, subnet in enumerate(self._subnets(settings, network))
        ]
        self.register_outputs({"fileSystemId": self.file_system.id})

    @staticmethod
    def _subnets(host: EcsHostSettings, network: EcsNetwork) -> list[pulumi.Output[str]]:
        """One mount target per private subnet; their number is known before they exist."""
        count = len(host.network.private_subnet_ids) if host.network else host.availability_zones
        return [nth(network.private_subnet_ids, i) for i in range(count)]
