"""The ECS cluster: Fargate for ordinary services, EC2 GPU capacity for the services that need a GPU.

GPU instances come from an Auto Scaling group that ECS scales itself (a managed capacity provider):
none run while no GPU task is wanted. They use the ECS GPU-optimized Amazon Linux 2023 AMI (driver and
container toolkit included; the Amazon Linux 2 one reached end of life on 2026-06-30: AWS, Amazon ECS
Developer Guide, "Amazon ECS-optimized Linux AMIs"), IMDSv2 with hop limit 1 and encrypted disks, like
berth's single host. A GPU service is created only once the capacity provider is attached to the
cluster (`capacity`): before that, CreateService refuses a provider the cluster does not have.
"""

from __future__ import annotations

import base64

import pulumi
import pulumi_aws as aws

from components.aws_common import assumed_by
from components.ecs.network import EcsNetwork
from config.stack import EcsHostSettings

# The recommended ECS GPU AMI of Amazon Linux 2023, as Systems Manager publishes it (AWS, "Retrieving Amazon
# ECS-optimized Linux AMI metadata": /aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/<version>).
GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
ECS_INSTANCE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
MAX_GPU_INSTANCES = 2


def gpu_user_data(cluster_name: str) -> str:
    """The ECS agent's config: join this cluster, expose the GPUs to tasks."""
    script = "\n".join(["#!/bin/bash", "set -euo pipefail",
                        f"echo ECS_CLUSTER={cluster_name} >> /etc/ecs/ecs.config",
                        "echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config", ""])
    return base64.b64encode(script.encode()).decode()


class EcsCluster(pulumi.ComponentResource):
    """The cluster, with GPU capacity when `berth:host.gpuInstanceType` is set and a service needs a GPU (`gpu`)."""

    gpu_capacity_provider: pulumi.Output[str] | None
    capacity: aws.ecs.ClusterCapacityProviders  # the providers' attachment to the cluster

    def __init__(self, name: str, settings: EcsHostSettings, gpu: bool, network: EcsNetwork,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:ecs:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.cluster = aws.ecs.Cluster(f"{name}", settings=[{"name": "containerInsights", "value": "enabled"}],
                                       opts=child)
        providers: list[pulumi.Input[str]] = ["FARGATE"]
        self.gpu_capacity_provider = None
        if settings.gpu_instance_type and gpu:
            provider = self._gpu_capacity(name, settings, network)
            self.gpu_capacity_provider = provider.name
            providers.append(provider.name)
        self.capacity = aws.ecs.ClusterCapacityProviders(f"{name}-capacity", cluster_name=self.cluster.name,
                                         capacity_providers=providers, opts=child)
        self.register_outputs({"clusterName": self.cluster.name})

    def _gpu_capacity(self, name: str, settings: EcsHostSettings, network: EcsNetwork) -> aws.ecs.CapacityProvider:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-gpu-role", assume_role_policy=assumed_by("ec2.amazonaws.com"),
            description="berth GPU capacity: the ECS agent and SSM Session Manager", opts=child)
        for key, arn in (("ecs", ECS_INSTANCE_POLICY), ("ssm", SSM_CORE_POLICY)):
            aws.iam.RolePolicyAttachment(f"{name}-gpu-{key}", role=role.name, policy_arn=arn, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-gpu-profile", role=role.name, opts=child)
        group = aws.ec2.SecurityGroup(f"{name}-gpu-hosts", vpc_id=network.vpc_id, opts=child,
                                      description="berth GPU container instances: no inbound, outbound for the agent")
        aws.vpc.SecurityGroupEgressRule(f"{name}-gpu-out", security_group_id=group.id, ip_protocol="-1",
                                        cidr_ipv4="0.0.0.0/0", description="ECS agent, registries", opts=child)
        ami = aws.ssm.get_parameter_output(name=GPU_AMI_PARAMETER)
        template = aws.ec2.LaunchTemplate(
            f"{name}-gpu", image_id=ami.value, instance_type=settings.gpu_instance_type,
            iam_instance_profile={"arn": profile.arn}, vpc_security_group_ids=[group.id],
            user_data=self.cluster.name.apply(gpu_user_data),
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            block_device_mappings=[{"device_name": "/dev/xvda",
                                    "ebs": {"volume_size": 100, "volume_type": "gp3", "encrypted": "true"}}],
            opts=child)
        asg = aws.autoscaling.Group(
            f"{name}-gpu", min_size=0, max_size=MAX_GPU_INSTANCES, vpc_zone_identifiers=network.private_subnet_ids,
            launch_template={"id": template.id, "version": "$Latest"}, protect_from_scale_in=True,
            tags=[{"key": "AmazonECSManaged", "value": "true", "propagate_at_launch": True}],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]))
        return aws.ecs.CapacityProvider(f"{name}-gpu", auto_scaling_group_provider={
            "auto_scaling_group_arn": asg.arn, "managed_termination_protection": "ENABLED",
            "managed_scaling": {"status": "ENABLED", "target_capacity": 100}}, opts=child)
