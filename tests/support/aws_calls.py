"""The AWS API calls each resource type becomes, as data: operation, and where each input goes.

Keys are the Pulumi inputs as the mock run records them (wire names, camelCase); `To(path)` names
the member of the botocore request shape it fills (dots nest), `Skip(why)` an input the provider
keeps for itself. Read from pulumi-aws 7.51.1 (the Terraform AWS provider underneath): each resource's
Create (and the calls it makes right after, such as a log group's retention or a load balancer's
attributes). A resource type missing here, or an input missing from its entry, is a finding
(tests/support/aws_api.py), so a new input is mapped before it ships.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from offline.mockrun import Resource
from tests.support.aws_api import Call, Skip, To

AUTONAME_SUFFIX = "-a1b2c3d"  # Pulumi's auto-name: the resource name, a dash and 7 random characters
S3_PREFIX_SUFFIX = "20261203000000000000000001"  # the provider's unique suffix after a bucket_prefix (26)


def autoname(resource: Resource) -> str:
    return resource.name + AUTONAME_SUFFIX


def own_name(key: str = "name"):
    """The resource's own `name` input, else its auto-name."""
    return lambda r: r.values.get(key) or autoname(r)


def tag_list(tags: dict, key: str = "Key", value: str = "Value") -> list[dict]:
    return [{key: k, value: v} for k, v in tags.items()]


def tag_specs(resource_type: str):
    return lambda tags: [{"ResourceType": resource_type, "Tags": tag_list(tags)}]


def enabled(flag: bool) -> str:
    return "ENABLED" if flag else "DISABLED"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


TAGS = To("Tags", tag_list)
TAGS_MAP = To("Tags")
tags = To("tags", lambda t: tag_list(t, "key", "value"))
NOTHING: dict = {}

EC2_TAGS = {
    "ebs/volume:Volume": "volume", "ec2/eip:Eip": "elastic-ip", "ec2/instance:Instance": "instance",
    "ec2/internetGateway:InternetGateway": "internet-gateway", "ec2/keyPair:KeyPair": "key-pair",
    "ec2/launchTemplate:LaunchTemplate": "launch-template", "ec2/natGateway:NatGateway": "natgateway",
    "ec2/routeTable:RouteTable": "route-table", "ec2/securityGroup:SecurityGroup": "security-group",
    "ec2/subnet:Subnet": "subnet", "ec2/vpc:Vpc": "vpc",
}


def alias_target(aliases: list[dict]) -> dict:
    (alias,) = aliases  # a record has one alias target
    return {"DNSName": alias["name"], "HostedZoneId": alias["zoneId"], "EvaluateTargetHealth": alias["evaluateTargetHealth"]}


def ec2_tags(kind: str) -> To:
    return To("TagSpecifications", tag_specs(EC2_TAGS[kind]))


def security_group_rule(direction: str) -> Call:
    """vpc.SecurityGroup{In,E}gressRule: Authorize...(IpPermissions) with one range or group pair."""
    def permission(r: Resource) -> list[dict]:
        v = r.values
        item = {"IpProtocol": v["ipProtocol"]}
        if v["ipProtocol"] != "-1":
            item.update(FromPort=v["fromPort"], ToPort=v["toPort"])
        described = {"Description": v["description"]} if "description" in v else {}
        if "cidrIpv4" in v:
            item["IpRanges"] = [{"CidrIp": v["cidrIpv4"], **described}]
        if "cidrIpv6" in v:
            item["Ipv6Ranges"] = [{"CidrIpv6": v["cidrIpv6"], **described}]
        if "referencedSecurityGroupId" in v:
            item["UserIdGroupPairs"] = [{"GroupId": v["referencedSecurityGroupId"], **described}]
        return [item]
    parts = {k: Skip("in IpPermissions (fixed below)") for k in (
        "cidrIpv4", "cidrIpv6", "description", "fromPort", "toPort", "ipProtocol", "referencedSecurityGroupId")}
    return Call("ec2", f"AuthorizeSecurityGroup{direction}", {
        "securityGroupId": To("GroupId"), "tags": To("TagSpecifications", tag_specs("security-group-rule")), **parts},
                fixed={"IpPermissions": permission})


ALARM_METRIC = {"dimensions": To("Dimensions", lambda d: tag_list(d, "Name", "Value")),
                "metricName": To("MetricName"), "namespace": To("Namespace")}

CALLS: dict[str, list[Call]] = {
    "acm/certificate:Certificate": [Call("acm", "RequestCertificate", {
        "domainName": To("DomainName"), "subjectAlternativeNames": To("SubjectAlternativeNames"),
        "validationMethod": To("ValidationMethod"), "tags": TAGS})],
    "acm/certificateValidation:CertificateValidation": [Call("acm", "DescribeCertificate", {
        "certificateArn": To("CertificateArn"),
        "validationRecordFqdns": Skip("the provider compares them with the certificate's validation records")})],
    "appautoscaling/policy:Policy": [Call("application-autoscaling", "PutScalingPolicy", {
        "policyType": To("PolicyType"), "resourceId": To("ResourceId"), "scalableDimension": To("ScalableDimension"),
        "serviceNamespace": To("ServiceNamespace"),
        "targetTrackingScalingPolicyConfiguration": To("TargetTrackingScalingPolicyConfiguration", fields={
            "targetValue": To("TargetValue"), "scaleInCooldown": To("ScaleInCooldown"),
            "scaleOutCooldown": To("ScaleOutCooldown"),
            "predefinedMetricSpecification": To("PredefinedMetricSpecification", fields={
                "predefinedMetricType": To("PredefinedMetricType")})})},
        fixed={"PolicyName": autoname})],
    "appautoscaling/target:Target": [Call("application-autoscaling", "RegisterScalableTarget", {
        "maxCapacity": To("MaxCapacity"), "minCapacity": To("MinCapacity"), "resourceId": To("ResourceId"),
        "scalableDimension": To("ScalableDimension"), "serviceNamespace": To("ServiceNamespace"), "tags": TAGS_MAP})],
    "autoscaling/group:Group": [Call("autoscaling", "CreateAutoScalingGroup", {
        "launchTemplate": To("LaunchTemplate", fields={"id": To("LaunchTemplateId"), "version": To("Version")}),
        "maxSize": To("MaxSize"), "minSize": To("MinSize"), "protectFromScaleIn": To("NewInstancesProtectedFromScaleIn"),
        "tags": To("Tags", fields={"key": To("Key"), "value": To("Value"), "propagateAtLaunch": To("PropagateAtLaunch")}),
        "vpcZoneIdentifiers": To("VPCZoneIdentifier", ",".join)}, fixed={"AutoScalingGroupName": autoname})],
    "cloudwatch/logGroup:LogGroup": [
        Call("logs", "CreateLogGroup", {"name": To("logGroupName"), "tags": To("tags"),
                                        "retentionInDays": Skip("PutRetentionPolicy, below")}),
        Call("logs", "PutRetentionPolicy", {"name": To("logGroupName"), "retentionInDays": To("retentionInDays"),
                                            "tags": Skip("CreateLogGroup, above")},
             when=lambda r: bool(r.values.get("retentionInDays")))],
    "cloudwatch/logMetricFilter:LogMetricFilter": [Call("logs", "PutMetricFilter", {
        "logGroupName": To("logGroupName"), "pattern": To("filterPattern"),
        "metricTransformation": To("metricTransformations", lambda m: [m], fields={
            "name": To("metricName"), "namespace": To("metricNamespace"), "value": To("metricValue"),
            "unit": To("unit"), "dimensions": To("dimensions"), "defaultValue": To("defaultValue")})},
        fixed={"filterName": own_name()})],
    "cloudwatch/metricAlarm:MetricAlarm": [Call("cloudwatch", "PutMetricAlarm", {
        "name": To("AlarmName"), "alarmDescription": To("AlarmDescription"), "alarmActions": To("AlarmActions"),
        "okActions": To("OKActions"), "insufficientDataActions": To("InsufficientDataActions"),
        "comparisonOperator": To("ComparisonOperator"), "evaluationPeriods": To("EvaluationPeriods"),
        "datapointsToAlarm": To("DatapointsToAlarm"), "period": To("Period"), "statistic": To("Statistic"),
        "threshold": To("Threshold"), "treatMissingData": To("TreatMissingData"), "unit": To("Unit"), **ALARM_METRIC,
        "tags": TAGS,
        "metricQueries": To("Metrics", fields={
            "id": To("Id"), "expression": To("Expression"), "label": To("Label"), "returnData": To("ReturnData"),
            "period": To("Period"),
            "metric": To("MetricStat", fields={**{k: To(f"Metric.{v.path}", v.convert) for k, v in ALARM_METRIC.items()},
                                               "period": To("Period"), "stat": To("Stat"), "unit": To("Unit")})})})],
    "dlm/lifecyclePolicy:LifecyclePolicy": [Call("dlm", "CreateLifecyclePolicy", {
        "description": To("Description"), "executionRoleArn": To("ExecutionRoleArn"), "state": To("State"),
        "tags": TAGS_MAP,
        "policyDetails": To("PolicyDetails", fields={
            "policyType": To("PolicyType"), "resourceTypes": To("ResourceTypes"),
            "targetTags": To("TargetTags", tag_list),
            "schedules": To("Schedules", fields={
                "name": To("Name"), "copyTags": To("CopyTags"),
                "createRule": To("CreateRule", fields={"interval": To("Interval"), "intervalUnit": To("IntervalUnit"),
                                                       "times": To("Times")}),
                "retainRule": To("RetainRule", fields={"count": To("Count")})})})})],
    "ebs/volume:Volume": [Call("ec2", "CreateVolume", {
        "availabilityZone": To("AvailabilityZone"), "encrypted": To("Encrypted"), "size": To("Size"),
        "type": To("VolumeType"), "tags": ec2_tags("ebs/volume:Volume")})],
    "ec2/eip:Eip": [Call("ec2", "AllocateAddress", {"domain": To("Domain"), "tags": ec2_tags("ec2/eip:Eip")})],
    "ec2/eipAssociation:EipAssociation": [Call("ec2", "AssociateAddress", {
        "allocationId": To("AllocationId"), "instanceId": To("InstanceId")})],
    "ec2/instance:Instance": [Call("ec2", "RunInstances", {
        "ami": To("ImageId"), "disableApiTermination": To("DisableApiTermination"), "ebsOptimized": To("EbsOptimized"),
        "iamInstanceProfile": To("IamInstanceProfile.Name"), "instanceType": To("InstanceType"),
        "keyName": To("KeyName"), "maintenanceOptions": To("MaintenanceOptions", fields={"autoRecovery": To("AutoRecovery")}),
        "metadataOptions": To("MetadataOptions", fields={
            "httpEndpoint": To("HttpEndpoint"), "httpTokens": To("HttpTokens"),
            "httpPutResponseHopLimit": To("HttpPutResponseHopLimit")}),
        "monitoring": To("Monitoring.Enabled"),
        "rootBlockDevice": To("BlockDeviceMappings", lambda d: [{"DeviceName": "/dev/sda1", "Ebs": d}], fields={
            "DeviceName": To("DeviceName"),
            "Ebs": To("Ebs", fields={"deleteOnTermination": To("DeleteOnTermination"), "encrypted": To("Encrypted"),
                                     "volumeSize": To("VolumeSize"), "volumeType": To("VolumeType")})}),
        "subnetId": To("SubnetId"), "tags": ec2_tags("ec2/instance:Instance"), "userData": To("UserData", b64),
        "userDataReplaceOnChange": Skip("the provider replaces the instance when the user data changes"),
        "vpcSecurityGroupIds": To("SecurityGroupIds")}, fixed={"MinCount": 1, "MaxCount": 1})],
    "ec2/internetGateway:InternetGateway": [
        Call("ec2", "CreateInternetGateway", {"tags": ec2_tags("ec2/internetGateway:InternetGateway"),
                                              "vpcId": Skip("AttachInternetGateway, below")}),
        Call("ec2", "AttachInternetGateway", {"vpcId": To("VpcId"), "tags": Skip("CreateInternetGateway, above")},
             fixed={"InternetGatewayId": "igw-0123456789abcdef0"})],
    "ec2/keyPair:KeyPair": [Call("ec2", "ImportKeyPair", {
        "publicKey": To("PublicKeyMaterial", str.encode), "tags": ec2_tags("ec2/keyPair:KeyPair"),
        "keyName": To("KeyName")}, fixed={"KeyName": own_name("keyName")})],
    "ec2/launchTemplate:LaunchTemplate": [Call("ec2", "CreateLaunchTemplate", {
        "blockDeviceMappings": To("LaunchTemplateData.BlockDeviceMappings", fields={
            "deviceName": To("DeviceName"), "ebs": To("Ebs", fields={
                "encrypted": To("Encrypted", as_bool), "volumeSize": To("VolumeSize"), "volumeType": To("VolumeType")})}),
        "iamInstanceProfile": To("LaunchTemplateData.IamInstanceProfile", fields={"arn": To("Arn")}),
        "imageId": To("LaunchTemplateData.ImageId"), "instanceType": To("LaunchTemplateData.InstanceType"),
        "metadataOptions": To("LaunchTemplateData.MetadataOptions", fields={
            "httpEndpoint": To("HttpEndpoint"), "httpTokens": To("HttpTokens"),
            "httpPutResponseHopLimit": To("HttpPutResponseHopLimit")}),
        "userData": To("LaunchTemplateData.UserData"), "vpcSecurityGroupIds": To("LaunchTemplateData.SecurityGroupIds"),
        "tags": ec2_tags("ec2/launchTemplate:LaunchTemplate")}, fixed={"LaunchTemplateName": autoname})],
    "ec2/natGateway:NatGateway": [Call("ec2", "CreateNatGateway", {
        "allocationId": To("AllocationId"), "subnetId": To("SubnetId"), "tags": ec2_tags("ec2/natGateway:NatGateway")})],
    "ec2/routeTable:RouteTable": [
        Call("ec2", "CreateRouteTable", {"vpcId": To("VpcId"), "tags": ec2_tags("ec2/routeTable:RouteTable"),
                                         "routes": Skip("CreateRoute, below")}),
        Call("ec2", "CreateRoute", {"routes": To("", fields={
            "cidrBlock": To("DestinationCidrBlock"), "gatewayId": To("GatewayId"), "natGatewayId": To("NatGatewayId")}),
            "vpcId": Skip("CreateRouteTable, above"), "tags": Skip("CreateRouteTable, above")},
            each="routes", fixed={"RouteTableId": "rtb-0123456789abcdef0"})],
    "ec2/routeTableAssociation:RouteTableAssociation": [Call("ec2", "AssociateRouteTable", {
        "routeTableId": To("RouteTableId"), "subnetId": To("SubnetId")})],
    "ec2/securityGroup:SecurityGroup": [Call("ec2", "CreateSecurityGroup", {
        "description": To("Description"), "vpcId": To("VpcId"), "name": To("GroupName"),
        "tags": ec2_tags("ec2/securityGroup:SecurityGroup")}, fixed={"GroupName": own_name()})],
    "ec2/subnet:Subnet": [
        Call("ec2", "CreateSubnet", {"availabilityZone": To("AvailabilityZone"), "cidrBlock": To("CidrBlock"),
                                     "vpcId": To("VpcId"), "tags": ec2_tags("ec2/subnet:Subnet"),
                                     "mapPublicIpOnLaunch": Skip("ModifySubnetAttribute, below")}),
        Call("ec2", "ModifySubnetAttribute", {"mapPublicIpOnLaunch": To("MapPublicIpOnLaunch.Value"),
                                              **{k: Skip("CreateSubnet, above") for k in (
                                                  "availabilityZone", "cidrBlock", "vpcId", "tags")}},
             fixed={"SubnetId": "subnet-0123456789abcdef0"})],
    "ec2/volumeAttachment:VolumeAttachment": [Call("ec2", "AttachVolume", {
        "deviceName": To("Device"), "instanceId": To("InstanceId"), "volumeId": To("VolumeId"),
        "stopInstanceBeforeDetaching": Skip("the provider stops the instance before it detaches the volume")})],
    "ec2/vpc:Vpc": [
        Call("ec2", "CreateVpc", {"cidrBlock": To("CidrBlock"), "tags": ec2_tags("ec2/vpc:Vpc"),
                                  "enableDnsHostnames": Skip("ModifyVpcAttribute, below"),
                                  "enableDnsSupport": Skip("ModifyVpcAttribute, below")}),
        *[Call("ec2", "ModifyVpcAttribute", {key: To(f"{member}.Value"), **{k: Skip("another call") for k in (
            "cidrBlock", "tags", "enableDnsHostnames", "enableDnsSupport") if k != key}},
            fixed={"VpcId": "vpc-0a1b2c3d4e5f67890"})
          for key, member in (("enableDnsHostnames", "EnableDnsHostnames"), ("enableDnsSupport", "EnableDnsSupport"))]],
    "ecr/lifecyclePolicy:LifecyclePolicy": [Call("ecr", "PutLifecyclePolicy", {
        "policy": To("lifecyclePolicyText", text), "repository": To("repositoryName")})],
    "ecr/repository:Repository": [Call("ecr", "CreateRepository", {
        "name": To("repositoryName"), "imageTagMutability": To("imageTagMutability"),
        "imageScanningConfiguration": To("imageScanningConfiguration", fields={"scanOnPush": To("scanOnPush")}),
        "encryptionConfigurations": To("encryptionConfiguration", lambda c: c[0], fields={
            "encryptionType": To("encryptionType"), "kmsKey": To("kmsKey")}),
        "forceDelete": Skip("DeleteRepository deletes the images with it"), "tags": TAGS})],
    "ecs/capacityProvider:CapacityProvider": [Call("ecs", "CreateCapacityProvider", {
        "autoScalingGroupProvider": To("autoScalingGroupProvider", fields={
            "autoScalingGroupArn": To("autoScalingGroupArn"),
            "managedTerminationProtection": To("managedTerminationProtection"),
            "managedScaling": To("managedScaling", fields={"status": To("status"), "targetCapacity": To("targetCapacity")})}),
        "tags": tags}, fixed={"name": own_name()})],
    "ecs/cluster:Cluster": [Call("ecs", "CreateCluster", {
        "settings": To("settings"), "tags": tags}, fixed={"clusterName": own_name()})],
    "ecs/clusterCapacityProviders:ClusterCapacityProviders": [Call("ecs", "PutClusterCapacityProviders", {
        "capacityProviders": To("capacityProviders"), "clusterName": To("cluster"),
        "defaultCapacityProviderStrategies": To("defaultCapacityProviderStrategy")},
        fixed={"defaultCapacityProviderStrategy": lambda r: r.values.get("defaultCapacityProviderStrategies", [])})],
    "ecs/service:Service": [Call("ecs", "CreateService", {
        "cluster": To("cluster"), "taskDefinition": To("taskDefinition"), "desiredCount": To("desiredCount"),
        "launchType": To("launchType"),
        "capacityProviderStrategies": To("capacityProviderStrategy", fields={
            "capacityProvider": To("capacityProvider"), "weight": To("weight"), "base": To("base")}),
        "deploymentCircuitBreaker": To("deploymentConfiguration.deploymentCircuitBreaker"),
        "deploymentMaximumPercent": To("deploymentConfiguration.maximumPercent"),
        "deploymentMinimumHealthyPercent": To("deploymentConfiguration.minimumHealthyPercent"),
        "enableExecuteCommand": To("enableExecuteCommand"),
        "healthCheckGracePeriodSeconds": To("healthCheckGracePeriodSeconds"),
        "loadBalancers": To("loadBalancers", fields={
            "containerName": To("containerName"), "containerPort": To("containerPort"),
            "targetGroupArn": To("targetGroupArn")}),
        "networkConfiguration": To("networkConfiguration.awsvpcConfiguration", fields={
            "subnets": To("subnets"), "securityGroups": To("securityGroups"),
            "assignPublicIp": To("assignPublicIp", enabled)}),
        "propagateTags": To("propagateTags"), "tags": tags,
        "serviceConnectConfiguration": To("serviceConnectConfiguration", fields={
            "enabled": To("enabled"), "namespace": To("namespace"),
            "services": To("services", fields={
                "portName": To("portName"), "discoveryName": To("discoveryName"),
                "clientAlias": To("clientAliases", fields={"port": To("port"), "dnsName": To("dnsName")}),
                "timeout": To("timeout", fields={"idleTimeoutSeconds": To("idleTimeoutSeconds"),
                                                 "perRequestTimeoutSeconds": To("perRequestTimeoutSeconds")})})}),
        "forceNewDeployment": Skip("UpdateService's forceNewDeployment, on an update"),
        "triggers": Skip("the provider's own: a changed value is an update with forceNewDeployment"),
        "waitForSteadyState": Skip("the provider waits for DescribeServices to report a steady state")},
        fixed={"serviceName": autoname})],
    "ecs/taskDefinition:TaskDefinition": [Call("ecs", "RegisterTaskDefinition", {
        "containerDefinitions": To("containerDefinitions", json.loads), "cpu": To("cpu"), "memory": To("memory"),
        "executionRoleArn": To("executionRoleArn"), "taskRoleArn": To("taskRoleArn"), "family": To("family"),
        "networkMode": To("networkMode"), "requiresCompatibilities": To("requiresCompatibilities"),
        "runtimePlatform": To("runtimePlatform"), "tags": tags,
        "volumes": To("volumes", fields={"name": To("name"), "efsVolumeConfiguration": To("efsVolumeConfiguration", fields={
            "fileSystemId": To("fileSystemId"), "transitEncryption": To("transitEncryption"),
            "authorizationConfig": To("authorizationConfig", fields={
                "accessPointId": To("accessPointId"), "iam": To("iam")})})})})],
    "efs/accessPoint:AccessPoint": [Call("efs", "CreateAccessPoint", {
        "fileSystemId": To("FileSystemId"), "tags": TAGS,
        "posixUser": To("PosixUser", fields={"uid": To("Uid"), "gid": To("Gid")}),
        "rootDirectory": To("RootDirectory", fields={"path": To("Path"), "creationInfo": To("CreationInfo", fields={
            "ownerUid": To("OwnerUid"), "ownerGid": To("OwnerGid"), "permissions": To("Permissions")})})},
        fixed={"ClientToken": autoname})],
    "efs/backupPolicy:BackupPolicy": [Call("efs", "PutBackupPolicy", {
        "fileSystemId": To("FileSystemId"), "backupPolicy": To("BackupPolicy", fields={"status": To("Status")})})],
    "efs/fileSystem:FileSystem": [
        Call("efs", "CreateFileSystem", {
            "encrypted": To("Encrypted"), "performanceMode": To("PerformanceMode"), "throughputMode": To("ThroughputMode"),
            "tags": TAGS, "lifecyclePolicies": Skip("PutLifecycleConfiguration, below")},
            fixed={"CreationToken": autoname}),
        Call("efs", "PutLifecycleConfiguration", {
            "lifecyclePolicies": To("LifecyclePolicies", fields={"transitionToIa": To("TransitionToIA")}),
            **{k: Skip("CreateFileSystem, above") for k in ("encrypted", "performanceMode", "throughputMode", "tags")}},
            fixed={"FileSystemId": "fs-0123456789abcdef0"})],
    "efs/mountTarget:MountTarget": [Call("efs", "CreateMountTarget", {
        "fileSystemId": To("FileSystemId"), "securityGroups": To("SecurityGroups"), "subnetId": To("SubnetId")})],
    "elasticache/parameterGroup:ParameterGroup": [
        Call("elasticache", "CreateCacheParameterGroup", {
            "family": To("CacheParameterGroupFamily"), "description": To("Description"), "tags": TAGS,
            "parameters": Skip("ModifyCacheParameterGroup, below")}, fixed={"CacheParameterGroupName": autoname}),
        Call("elasticache", "ModifyCacheParameterGroup", {
            "parameters": To("ParameterNameValues", fields={"name": To("ParameterName"), "value": To("ParameterValue")}),
            "family": Skip("CreateCacheParameterGroup, above"), "description": Skip("CreateCacheParameterGroup, above")},
            fixed={"CacheParameterGroupName": autoname})],
    "elasticache/replicationGroup:ReplicationGroup": [Call("elasticache", "CreateReplicationGroup", {
        "description": To("ReplicationGroupDescription"), "engine": To("Engine"), "engineVersion": To("EngineVersion"),
        "nodeType": To("CacheNodeType"), "numCacheClusters": To("NumCacheClusters"),
        "automaticFailoverEnabled": To("AutomaticFailoverEnabled"), "multiAzEnabled": To("MultiAZEnabled"),
        "port": To("Port"), "subnetGroupName": To("CacheSubnetGroupName"), "securityGroupIds": To("SecurityGroupIds"),
        "parameterGroupName": To("CacheParameterGroupName"), "transitEncryptionEnabled": To("TransitEncryptionEnabled"),
        "atRestEncryptionEnabled": To("AtRestEncryptionEnabled"), "authToken": To("AuthToken"),
        "snapshotRetentionLimit": To("SnapshotRetentionLimit"), "tags": TAGS,
        "finalSnapshotIdentifier": Skip("DeleteReplicationGroup's, on destroy"),
        "applyImmediately": Skip("ModifyReplicationGroup's, on an update")},
        fixed={"ReplicationGroupId": autoname})],
    "elasticache/subnetGroup:SubnetGroup": [Call("elasticache", "CreateCacheSubnetGroup", {
        "description": To("CacheSubnetGroupDescription"), "subnetIds": To("SubnetIds"), "tags": TAGS},
        fixed={"CacheSubnetGroupName": autoname,
               "CacheSubnetGroupDescription": lambda r: r.values.get("description", "Managed by Pulumi")})],
    "iam/instanceProfile:InstanceProfile": [
        Call("iam", "CreateInstanceProfile", {"role": Skip("AddRoleToInstanceProfile, below"), "tags": TAGS},
             fixed={"InstanceProfileName": autoname}),
        Call("iam", "AddRoleToInstanceProfile", {"role": To("RoleName")}, fixed={"InstanceProfileName": autoname})],
    "iam/role:Role": [Call("iam", "CreateRole", {
        "assumeRolePolicy": To("AssumeRolePolicyDocument", text), "description": To("Description"), "tags": TAGS},
        fixed={"RoleName": autoname})],
    "iam/rolePolicy:RolePolicy": [Call("iam", "PutRolePolicy", {
        "policy": To("PolicyDocument", text), "role": To("RoleName")}, fixed={"PolicyName": autoname})],
    "iam/rolePolicyAttachment:RolePolicyAttachment": [Call("iam", "AttachRolePolicy", {
        "policyArn": To("PolicyArn"), "role": To("RoleName")})],
    "lb/listener:Listener": [Call("elbv2", "CreateListener", {
        "loadBalancerArn": To("LoadBalancerArn"), "port": To("Port"), "protocol": To("Protocol"),
        "sslPolicy": To("SslPolicy"), "certificateArn": To("Certificates", lambda arn: [{"CertificateArn": arn}]),
        "tags": TAGS,
        "defaultActions": To("DefaultActions", fields={
            "type": To("Type"), "targetGroupArn": To("TargetGroupArn"),
            "fixedResponse": To("FixedResponseConfig", fields={
                "contentType": To("ContentType"), "messageBody": To("MessageBody"), "statusCode": To("StatusCode")}),
            "redirect": To("RedirectConfig", fields={
                "port": To("Port"), "protocol": To("Protocol"), "statusCode": To("StatusCode")})})})],
    "lb/listenerRule:ListenerRule": [Call("elbv2", "CreateRule", {
        "listenerArn": To("ListenerArn"), "priority": To("Priority"), "tags": TAGS,
        "actions": To("Actions", fields={"type": To("Type"), "targetGroupArn": To("TargetGroupArn")}),
        "conditions": To("Conditions", fields={
            "hostHeader": To("HostHeaderConfig", fields={"values": To("Values")}),
            "pathPattern": To("PathPatternConfig", fields={"values": To("Values")})})},
        fixed={"Conditions": lambda r: [
            {"Field": {"hostHeader": "host-header", "pathPattern": "path-pattern"}[k],
             {"hostHeader": "HostHeaderConfig", "pathPattern": "PathPatternConfig"}[k]: {"Values": v["values"]}}
            for c in r.values["conditions"] for k, v in c.items()]})],
    "lb/loadBalancer:LoadBalancer": [
        Call("elbv2", "CreateLoadBalancer", {
            "internal": To("Scheme", lambda i: "internal" if i else "internet-facing"), "loadBalancerType": To("Type"),
            "securityGroups": To("SecurityGroups"), "subnets": To("Subnets"), "tags": TAGS,
            **{k: Skip("ModifyLoadBalancerAttributes, below") for k in (
                "dropInvalidHeaderFields", "enableDeletionProtection", "idleTimeout")}},
            fixed={"Name": autoname}),
        Call("elbv2", "ModifyLoadBalancerAttributes", {
            **{k: Skip("CreateLoadBalancer, above") for k in ("internal", "loadBalancerType", "securityGroups",
                                                              "subnets", "tags")},
            **{k: Skip("in Attributes (fixed below)") for k in (
                "dropInvalidHeaderFields", "enableDeletionProtection", "idleTimeout")}},
            fixed={"LoadBalancerArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/edge/0123456789abcdef",
                   "Attributes": lambda r: [{"Key": key, "Value": str(r.values[k]).lower()} for k, key in (
                       ("dropInvalidHeaderFields", "routing.http.drop_invalid_header_fields.enabled"),
                       ("enableDeletionProtection", "deletion_protection.enabled"),
                       ("idleTimeout", "idle_timeout.timeout_seconds")) if k in r.values]})],
    "lb/targetGroup:TargetGroup": [
        Call("elbv2", "CreateTargetGroup", {
            "port": To("Port"), "protocol": To("Protocol"), "targetType": To("TargetType"), "vpcId": To("VpcId"),
            "tags": TAGS,
            "healthCheck": To("", fields={
                "path": To("HealthCheckPath"), "matcher": To("Matcher.HttpCode"),
                "interval": To("HealthCheckIntervalSeconds"), "timeout": To("HealthCheckTimeoutSeconds"),
                "healthyThreshold": To("HealthyThresholdCount"), "unhealthyThreshold": To("UnhealthyThresholdCount")}),
            **{k: Skip("ModifyTargetGroupAttributes, below") for k in ("deregistrationDelay", "stickiness")}},
            fixed={"Name": autoname}),
        Call("elbv2", "ModifyTargetGroupAttributes", {
            **{k: Skip("CreateTargetGroup, above") for k in ("port", "protocol", "targetType", "vpcId", "tags",
                                                             "healthCheck")},
            "deregistrationDelay": Skip("in Attributes (fixed below)"),
            "stickiness": To("", fields={k: Skip("in Attributes (fixed below)") for k in (
                "type", "enabled", "cookieDuration")})},
            fixed={"TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef",
                   "Attributes": lambda r: [{"Key": k, "Value": str(v).lower()} for k, v in (
                       ("deregistration_delay.timeout_seconds", r.values.get("deregistrationDelay")),
                       ("stickiness.enabled", (r.values.get("stickiness") or {}).get("enabled")),
                       ("stickiness.type", (r.values.get("stickiness") or {}).get("type")),
                       ("stickiness.lb_cookie.duration_seconds", (r.values.get("stickiness") or {}).get("cookieDuration")),
                   ) if v is not None]})],
    "rds/instance:Instance": [Call("rds", "CreateDBInstance", {
        "allocatedStorage": To("AllocatedStorage"), "maxAllocatedStorage": To("MaxAllocatedStorage"),
        "autoMinorVersionUpgrade": To("AutoMinorVersionUpgrade"), "backupRetentionPeriod": To("BackupRetentionPeriod"),
        "copyTagsToSnapshot": To("CopyTagsToSnapshot"), "dbSubnetGroupName": To("DBSubnetGroupName"),
        "deletionProtection": To("DeletionProtection"), "engine": To("Engine"), "engineVersion": To("EngineVersion"),
        "instanceClass": To("DBInstanceClass"), "multiAz": To("MultiAZ"), "password": To("MasterUserPassword"),
        "publiclyAccessible": To("PubliclyAccessible"), "storageEncrypted": To("StorageEncrypted"),
        "storageType": To("StorageType"), "tags": TAGS, "username": To("MasterUsername"),
        "vpcSecurityGroupIds": To("VpcSecurityGroupIds"),
        "applyImmediately": Skip("ModifyDBInstance's, on an update"),
        "finalSnapshotIdentifier": Skip("DeleteDBInstance's, on destroy"),
        "skipFinalSnapshot": Skip("DeleteDBInstance's, on destroy")},
        fixed={"DBInstanceIdentifier": autoname})],
    "rds/subnetGroup:SubnetGroup": [Call("rds", "CreateDBSubnetGroup", {
        "description": To("DBSubnetGroupDescription"), "subnetIds": To("SubnetIds"), "tags": TAGS},
        fixed={"DBSubnetGroupName": autoname,
               "DBSubnetGroupDescription": lambda r: r.values.get("description", "Managed by Pulumi")})],
    "route53/record:Record": [Call("route53", "ChangeResourceRecordSets", {
        "zoneId": To("HostedZoneId"),
        **{k: Skip("in ChangeBatch (fixed below)") for k in ("name", "type", "ttl", "records", "aliases")},
        "allowOverwrite": Skip("UPSERT instead of CREATE")},
        fixed={"ChangeBatch": lambda r: {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": r.values["name"], "Type": r.values["type"],
            **({"TTL": r.values["ttl"], "ResourceRecords": [{"Value": v} for v in r.values.get("records", [])]}
               if "ttl" in r.values else {}),
            **({"AliasTarget": alias_target(r.values["aliases"])} if r.values.get("aliases") else {})}}]}})],
    "s3/bucket:Bucket": [
        Call("s3", "CreateBucket", {"bucketPrefix": Skip("the bucket's name, fixed below"), "tags": Skip(
            "PutBucketTagging, below"), "forceDestroy": Skip("the provider empties the bucket before DeleteBucket")},
            fixed={"Bucket": lambda r: r.values["bucketPrefix"] + S3_PREFIX_SUFFIX}),
        Call("s3", "PutBucketTagging", {"tags": To("Tagging.TagSet", tag_list), "bucketPrefix": Skip("above"),
                                        "forceDestroy": Skip("above")},
             fixed={"Bucket": lambda r: r.values["bucketPrefix"] + S3_PREFIX_SUFFIX})],
    "s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": [Call("s3", "PutBucketLifecycleConfiguration", {
        "bucket": To("Bucket"), "rules": To("LifecycleConfiguration.Rules", fields={
            "id": To("ID"), "status": To("Status"), "filter": To("Filter", fields={"prefix": To("Prefix")}),
            "expiration": To("Expiration", fields={"days": To("Days")}),
            "noncurrentVersionExpiration": To("NoncurrentVersionExpiration", fields={"noncurrentDays": To("NoncurrentDays")}),
            "abortIncompleteMultipartUpload": To("AbortIncompleteMultipartUpload", fields={
                "daysAfterInitiation": To("DaysAfterInitiation")})})})],
    "s3/bucketOwnershipControls:BucketOwnershipControls": [Call("s3", "PutBucketOwnershipControls", {
        "bucket": To("Bucket"), "rule": To("OwnershipControls.Rules", lambda r: [r], fields={
            "objectOwnership": To("ObjectOwnership")})})],
    "s3/bucketPolicy:BucketPolicy": [Call("s3", "PutBucketPolicy", {"bucket": To("Bucket"), "policy": To("Policy", text)})],
    "s3/bucketPublicAccessBlock:BucketPublicAccessBlock": [Call("s3", "PutPublicAccessBlock", {
        "bucket": To("Bucket"), **{k: To(f"PublicAccessBlockConfiguration.{k[0].upper()}{k[1:]}") for k in (
            "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}})],
    "s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": [Call("s3", "PutBucketEncryption", {
        "bucket": To("Bucket"), "rules": To("ServerSideEncryptionConfiguration.Rules", fields={
            "bucketKeyEnabled": To("BucketKeyEnabled"),
            "applyServerSideEncryptionByDefault": To("ApplyServerSideEncryptionByDefault", fields={
                "sseAlgorithm": To("SSEAlgorithm"), "kmsMasterKeyId": To("KMSMasterKeyID")})})})],
    "s3/bucketVersioning:BucketVersioning": [Call("s3", "PutBucketVersioning", {
        "bucket": To("Bucket"), "versioningConfiguration": To("VersioningConfiguration", fields={"status": To("Status")})})],
    "secretsmanager/secret:Secret": [Call("secretsmanager", "CreateSecret", {
        "name": To("Name"), "tags": TAGS, "recoveryWindowInDays": Skip("DeleteSecret's, on destroy")})],
    "secretsmanager/secretVersion:SecretVersion": [Call("secretsmanager", "PutSecretValue", {
        "secretId": To("SecretId"), "secretString": To("SecretString")})],
    "servicediscovery/httpNamespace:HttpNamespace": [Call("servicediscovery", "CreateHttpNamespace", {
        "name": To("Name"), "description": To("Description"), "tags": TAGS})],
    "sns/topic:Topic": [Call("sns", "CreateTopic", {
        "kmsMasterKeyId": To("Attributes.KmsMasterKeyId"), "tags": TAGS}, fixed={"Name": own_name()})],
    "sns/topicSubscription:TopicSubscription": [Call("sns", "Subscribe", {
        "endpoint": To("Endpoint"), "protocol": To("Protocol"), "topic": To("TopicArn")})],
    "vpc/securityGroupEgressRule:SecurityGroupEgressRule": [security_group_rule("Egress")],
    "vpc/securityGroupIngressRule:SecurityGroupIngressRule": [security_group_rule("Ingress")],
}


def calls_for(resource: Resource) -> list[Call] | None:
    """The calls of the resource's type (its token without the `aws:` package), or None: not mapped."""
    return CALLS.get(resource.type.split(":", 1)[1])
