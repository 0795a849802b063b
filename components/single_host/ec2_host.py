"""staging/prod: one EC2 instance, locked down, whose data lives on its own EBS volume.

- The security group is the firewall (Docker-published ports bypass host firewalls): 80/443 from the
  world, SSH only from named admin networks. Humans may use SSM Session Manager instead of SSH.
- Docker's data root is on an encrypted EBS volume mounted by cloud-init, so replacing the instance
  loses nothing. In prod that volume is protected and retained, and snapshotted daily by DLM.
- IMDSv2 with hop limit 1: containers (one hop further) cannot reach the instance's credentials.
- A readiness gate (cloud-init done, Docker answering on the data volume) comes before the Docker
  provider, which every Docker resource uses. It is reached by SSH, directly or through SSM
  (components/single_host/host_access.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.aws_common import assumed_by
from components.single_host.host import HostCommand
from components.single_host.host_access import DirectSsh, SsmTunnel
from components.options import kept_in_prod
from config import conventions
from render import cloud_init
from config.instance_types import InstanceType
from config.stack import Ec2HostSettings
from rules.environments import EnvironmentPolicy

UBUNTU_OWNER = "099720109477"  # Canonical
UBUNTU_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-*"  # arch: amd64 or arm64
# GPU hosts: Ubuntu 24.04 with the NVIDIA driver for its kernel, the container toolkit and Docker
# (render/cloud_init.py says why not plain Ubuntu plus a driver). Published by AWS.
GPU_AMI_OWNER = "amazon"
GPU_AMI_NAME = {"amd64": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *",
                "arm64": "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *"}
AMI_ARCHITECTURE = {"amd64": "x86_64", "arm64": "arm64"}
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
DLM_SERVICE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
WORLD = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}


def readiness_check(user: str, gpu: bool = False) -> str:
    """The gate: cloud-init has finished, `user` may use Docker, and Docker answers from the data volume;
    on a GPU host, the driver sees the GPU and Docker has NVIDIA's runtime to hand it to containers.

    This SSH session may have logged in before cloud-init added `user` to the docker group, and a
    session's groups are fixed at login: so membership is read from /etc/group and Docker is asked
    through sudo here. Every later session (the provider, pulls, hooks) logs in with the group.
    """
    gpu_checks = ("nvidia-smi -L; sudo -n docker info --format '{{json .Runtimes}}' | grep -q '\"nvidia\"'; "
                  if gpu else "")
    return (
        "set -e; cloud-init status --wait >/dev/null || [ $? -eq 2 ]; "
        f"getent group docker | grep -qw {user}; "
        f"test \"$(sudo -n docker info --format '{{{{.DockerRootDir}}}}')\" = {conventions.DOCKER_ROOT}; "
        f"{gpu_checks}"
        "sudo -n docker info --format '{{.ServerVersion}}'"
    )


def ingress_rules(settings: Ec2HostSettings) -> dict[str, dict[str, Any]]:
    """Every inbound rule, keyed by a stable name so a rule's identity follows its key."""
    rules: dict[str, dict[str, Any]] = {}
    for port, label in ((80, "http"), (443, "https")):
        for family, cidr in WORLD.items():
            rules[f"{label}-{family}"] = {"port": port, "cidr": cidr, "description": f"{label.upper()} from anywhere ({family})"}
    for name, network in settings.admin_cidrs.items():
        rules[f"ssh-{name}"] = {"port": 22, "cidr": str(network), "description": f"SSH from admin network {name}"}
    return rules


class Ec2Host(pulumi.ComponentResource):
    """The instance and everything around it, built concern by concern (each method below is one).

    Every resource is a direct child of the host, named `<name>-…`: the methods only group the code,
    so splitting it changed no URN. It reads `berth:host` (`settings`), what AWS says of its instance type
    (`host_type`), the stack's name and what its environment decides (`policy`), nothing of the apps.
    """

    bind_address = "0.0.0.0"

    def __init__(self, name: str, settings: Ec2HostSettings, host_type: InstanceType, stack: str,
                 policy: EnvironmentPolicy, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:host:Ec2Host", name, None, opts)
        self._name, self._stack, self._policy = name, stack, policy
        self._settings = settings
        self.ssh_user = self._settings.ssh_user  # who logs in: the provider, host commands, the sshCommand output
        self._child = pulumi.ResourceOptions(parent=self)
        self._host_type = host_type
        self.platform = host_type.platform

        region = aws.get_region_output().region
        account = aws.get_caller_identity_output().account_id
        zone = self._settings.availability_zone or region.apply(lambda r: f"{r}a")
        subnet = aws.ec2.get_subnet_output(default_for_az=True, availability_zone=zone)

        self.security_group = self._firewall(subnet.vpc_id)
        self.role, profile = self._role(region, account)
        self.data_volume = self._data_volume(zone)
        registry = pulumi.Output.concat(account, ".dkr.ecr.", region, ".amazonaws.com")
        self.user_data = pulumi.Output.all(self.data_volume.id, registry, region).apply(lambda a: cloud_init.render(
            cloud_init.HostSetup(data_volume_id=a[0], ssh_user=self._settings.ssh_user, gpu=host_type.gpu,
                                 ecr_registry=a[1], arch=host_type.debian_arch, stack=stack, region=a[2])))
        self.instance = self._instance(subnet, profile)
        self.public_ip = self.instance.public_ip
        if policy.resilient:
            self.public_ip = self._prod_resilience(region)
        self.access, self.ready, self.provider = self._access(region)
        self.register_outputs({
            "publicIp": self.public_ip, "instanceId": self.instance.id, "dataVolumeId": self.data_volume.id,
            "securityGroupId": self.security_group.id,
        })

    def _firewall(self, vpc_id: pulumi.Input[str]) -> aws.ec2.SecurityGroup:
        """The security group: web from anywhere, SSH from the named admin networks, all outbound."""
        name, child = self._name, self._child
        group = aws.ec2.SecurityGroup(
            f"{name}-sg", description=f"berth {self._stack}: web from anywhere, SSH from admins only",
            vpc_id=vpc_id, opts=child,
        )
        for key, rule in ingress_rules(self._settings).items():
            family = "cidr_ipv6" if ":" in rule["cidr"] else "cidr_ipv4"
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{key}", security_group_id=group.id, ip_protocol="tcp",
                from_port=rule["port"], to_port=rule["port"], description=rule["description"],
                **{family: rule["cidr"]}, opts=child,
            )
        for family, cidr in WORLD.items():
            # an unset input is no input: the engine gets neither None (pulumi/runtime/rpc.py: serialize_properties)
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-{family}", security_group_id=group.id, ip_protocol="-1",
                description=f"all outbound ({family}): packages, registries, ACME, APIs",
                cidr_ipv4=cidr if family == "ipv4" else None, cidr_ipv6=cidr if family == "ipv6" else None,
                opts=child,
            )
        return group

    def _role(self, region: pulumi.Output[str], account: pulumi.Output[str]
              ) -> tuple[aws.iam.Role, aws.iam.InstanceProfile]:
        """The instance's role: SSM Session Manager, and pulling this stack's images from ECR, nothing else."""
        name, child = self._name, self._child
        role = aws.iam.Role(
            f"{name}-role", assume_role_policy=assumed_by("ec2.amazonaws.com"),
            description="berth host: SSM Session Manager and pulling this stack's images", opts=child,
        )
        aws.iam.RolePolicyAttachment(f"{name}-ssm", role=role.name, policy_arn=SSM_CORE_POLICY, opts=child)
        aws.iam.RolePolicy(f"{name}-pull", role=role.name, policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Sid": "PullThisStacksImages", "Effect": "Allow",
                 "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                 "Resource": pulumi.Output.concat("arn:aws:ecr:", region, ":", account, ":repository/berth/",
                                                  self._stack, "/*")},
            ]}), opts=child)
        return role, aws.iam.InstanceProfile(f"{name}-profile", role=role.name, opts=child)

    def _data_volume(self, zone: pulumi.Input[str]) -> aws.ebs.Volume:
        """The encrypted EBS volume Docker's data root lives on; prod keeps it, DLM snapshots it by its tag."""
        stack, settings = self._stack, self._settings
        return aws.ebs.Volume(
            f"{self._name}-data", availability_zone=zone, size=settings.data_volume_gib, type="gp3", encrypted=True,
            snapshot_id=settings.data_volume_snapshot_id,
            tags={"Name": f"berth-{stack}-data", "berth:snapshots": stack},
            opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(self._policy)),
        )

    def _instance(self, subnet: pulumi.Output[aws.ec2.GetSubnetResult], profile: aws.iam.InstanceProfile) -> aws.ec2.Instance:
        """The instance (Ubuntu, or AWS's NVIDIA AMI on a GPU type), IMDSv2 only, with the data volume attached."""
        name, settings = self._name, self._settings
        steady = self._policy.resilient  # replaced on purpose, never by a change
        key_name = None
        if settings.ssh_public_key:
            key_name = aws.ec2.KeyPair(f"{name}-key", public_key=settings.ssh_public_key,
                                       opts=self._child).key_name
        instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=self._ami().id, instance_type=settings.instance_type, subnet_id=subnet.id,
            vpc_security_group_ids=[self.security_group.id], iam_instance_profile=profile.name, key_name=key_name,
            user_data=self.user_data, user_data_replace_on_change=not steady,
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            root_block_device={"volume_type": "gp3", "volume_size": settings.root_volume_gib, "encrypted": True,
                               "delete_on_termination": True},
            monitoring=True, ebs_optimized=True, disable_api_termination=steady, maintenance_options={"auto_recovery": "default"},
            tags={"Name": f"berth-{self._stack}"},
            # prod: a newer AMI, user data or deploy key never silently replaces the host; replace it on purpose.
            # The key pair is read only at launch: a rotated key is installed on the running host by hand
            # (docs/host.md), while the new key pair waits for the next instance.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["ami", "userData", "keyName"] if steady else None),
        )
        aws.ec2.VolumeAttachment(
            f"{name}-data-attachment", device_name="/dev/sdf", volume_id=self.data_volume.id,
            instance_id=instance.id, stop_instance_before_detaching=True,
            # the volume can be attached to one instance at a time: detach from the old host first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        return instance

    def _ami(self) -> pulumi.Output[aws.ec2.GetAmiResult]:
        host_type = self._host_type
        arch = host_type.debian_arch
        owner, ami_name = ((GPU_AMI_OWNER, GPU_AMI_NAME[arch]) if host_type.gpu
                           else (UBUNTU_OWNER, UBUNTU_AMI_NAME.format(arch=arch)))
        return aws.ec2.get_ami_output(most_recent=True, owners=[owner], filters=[
            {"name": "name", "values": [ami_name]}, {"name": "architecture", "values": [AMI_ARCHITECTURE[arch]]},
            {"name": "virtualization-type", "values": ["hvm"]}])

    def _prod_resilience(self, region: pulumi.Output[str]) -> pulumi.Output[str]:
        """prod: a kept Elastic IP (returned: the host's address survives replacement), recovery onto
        healthy hardware when the system check fails, and daily snapshots of the data volume."""
        name, child = self._name, self._child
        eip = aws.ec2.Eip(f"{name}-eip", domain="vpc",
                          opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(self._policy)))
        aws.ec2.EipAssociation(f"{name}-eip-association", instance_id=self.instance.id,
                               allocation_id=eip.allocation_id, opts=child)
        aws.cloudwatch.MetricAlarm(
            f"{name}-recover", namespace="AWS/EC2", metric_name="StatusCheckFailed_System", statistic="Maximum",
            period=60, evaluation_periods=2, threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
            dimensions={"InstanceId": self.instance.id},
            alarm_description="recover the berth host onto healthy hardware when the system status check fails",
            alarm_actions=[region.apply(lambda r: f"arn:aws:automate:{r}:ec2:recover")], opts=child,
        )
        self._snapshots()
        return eip.public_ip

    def _snapshots(self) -> None:
        """Daily EBS snapshots of the data volume, kept for `snapshotRetentionDays`."""
        name, child, stack = self._name, self._child, self._stack
        role = aws.iam.Role(f"{name}-dlm-role", assume_role_policy=assumed_by("dlm.amazonaws.com"),
            opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-dlm-policy", role=role.name, policy_arn=DLM_SERVICE_POLICY, opts=child)
        aws.dlm.LifecyclePolicy(
            f"{name}-snapshots", description=f"berth {stack} daily data volume snapshots",
            execution_role_arn=role.arn, state="ENABLED",
            policy_details={
                "policy_type": "EBS_SNAPSHOT_MANAGEMENT",
                "resource_types": ["VOLUME"],
                "target_tags": {"berth:snapshots": stack},
                "schedules": [{
                    "name": "daily", "copy_tags": True,
                    "create_rule": {"interval": 24, "interval_unit": "HOURS", "times": "03:00"},
                    "retain_rule": {"count": self._settings.snapshot_retention_days},
                }],
            }, opts=child,
        )

    def _access(self, region: pulumi.Output[str]
                ) -> tuple[DirectSsh | SsmTunnel, list[pulumi.Resource], docker.Provider]:
        """How `pulumi up` reaches the host (SSH or SSM), the readiness gate, and the Docker provider behind it."""
        name, settings = self._name, self._settings
        access: DirectSsh | SsmTunnel
        if settings.access == "ssm":
            access = SsmTunnel(settings.ssh_user, self.instance.id, region)
        else:
            access = DirectSsh(settings.ssh_user, self.public_ip)
        gate = access.gate(f"{name}-ready", readiness_check(settings.ssh_user, self._host_type.gpu),
                           triggers=[self.instance.id], opts=pulumi.ResourceOptions(parent=self, depends_on=[self.instance]))
        provider = docker.Provider(
            f"{name}-docker", host=access.docker_host, ssh_opts=access.ssh_opts,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gate]),
        )
        return access, [gate], provider

    def run(self, name: str, create: pulumi.Input[str], *, triggers: Sequence[pulumi.Input[str]] = (),
            stdin: pulumi.Input[str] | None = None, parent: pulumi.Resource | None,
            depends_on: Sequence[pulumi.Resource] = ()) -> HostCommand:
        """Run `create` on the host, after the readiness gate."""
        return self.access.command(name, create, triggers=triggers, stdin=stdin, opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[*self.ready, *depends_on]))
