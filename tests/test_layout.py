"""The code's shape may change; what Pulumi knows the resources by (their URNs) may not.

A URN is a resource's identity in state: a refactor that changes one makes `pulumi up` delete the old
resource and create a new one, which for prod's data volume or Elastic IP means losing what it holds.
"""

from __future__ import annotations

# The EC2 host's resources in prod, by URN (type and name under the host component): splitting
# Ec2Host.__init__ by concern kept every one of them.
PROD_HOST_URNS = {
    "aws:cloudwatch/metricAlarm:MetricAlarm::host-recover",
    "aws:dlm/lifecyclePolicy:LifecyclePolicy::host-snapshots",
    "aws:ebs/volume:Volume::host-data",
    "aws:ec2/eip:Eip::host-eip",
    "aws:ec2/eipAssociation:EipAssociation::host-eip-association",
    "aws:ec2/instance:Instance::host-instance",
    "aws:ec2/keyPair:KeyPair::host-key",
    "aws:ec2/securityGroup:SecurityGroup::host-sg",
    "aws:ec2/volumeAttachment:VolumeAttachment::host-data-attachment",
    "aws:iam/instanceProfile:InstanceProfile::host-profile",
    "aws:iam/role:Role::host-dlm-role",
    "aws:iam/role:Role::host-role",
    "aws:iam/rolePolicy:RolePolicy::host-pull",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment::host-dlm-policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment::host-ssm",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule::host-out-ipv4",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule::host-out-ipv6",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-http-ipv4",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-http-ipv6",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-https-ipv4",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-https-ipv6",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-ssh-office",
    "command:remote:Command::host-ready",
    "pulumi:providers:docker::host-docker",
}
HOST = "berth:host:Ec2Host$"  # a URN's type chain starts here for the host's children


def host_children(run) -> dict[str, object]:
    """The host component's resources by URN, less the `urn:pulumi:<stack>::<project>::` head."""
    return {urn: r for r in run.resources if (urn := r.urn.split("::", 2)[2]).startswith(HOST)}


def test_the_prod_hosts_resources_keep_their_urns(deploy):
    run = deploy("prod")
    assert {urn.removeprefix(HOST) for urn in host_children(run)} == PROD_HOST_URNS


def test_prod_keeps_the_hosts_data_volume_and_address(deploy):
    run = deploy("prod")
    kept = {r.name for r in host_children(run).values() if r.protect and r.retain_on_delete}
    assert kept == {"host-data", "host-eip"}
