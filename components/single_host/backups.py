"""Scheduled logical backups of every app, and where they are kept (docs/backups.md).

EBS snapshots (components/single_host/ec2_host.py) bring back a whole disk; these bring back one app: its
Postgres database (`pg_dump -Fc`), its Redis store and its volumes, each a file with a checksum in a
manifest, written by the host's backup tool (backup/) on a schedule.

- staging/prod: an S3 bucket of the stack's own, versioned, encrypted, never public, TLS only, with
  backups expiring after `berth:backups.retentionDays`. The instance role may write and read only
  its stack's prefix and delete nothing (old backups go by the lifecycle rule, overwritten ones stay
  as versions). prod protects and retains the bucket; staging's is emptied and deleted on destroy.
- A CloudWatch alarm per app fires when no successful backup was reported within one interval (the
  tool puts a metric after each success; a missing datapoint counts as a miss), to the stack's alarm
  topic (components/monitoring.py).
- dev: backups go to a local directory when `scripts/backup` is run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from components.single_host.ec2_host import Ec2Host
from components.single_host.host import DockerHost
from components.options import kept_in_prod
from render import backup_host, backup_plan
from rules.environments import EnvironmentPolicy

NONCURRENT_DAYS = 7  # an overwritten or deleted object's old version is kept this long


def bucket_prefix(stack: str) -> str:
    """S3 names are lowercase letters, digits and '-'; Pulumi appends a random suffix to the prefix."""
    return ("berth-" + re.sub(r"[^a-z0-9-]", "-", stack.lower()) + "-backups-")[:37]


class Backups(pulumi.ComponentResource):
    """Backups of every app that holds data: given the stack's backups as its Deployment decides them
    (render/backup_plan.py: StackBackups), what its environment keeps (`policy`), and the host."""

    def __init__(self, name: str, backups: backup_plan.StackBackups, policy: EnvironmentPolicy, host: DockerHost,
                 alarm_topic: Callable[[], aws.sns.Topic], opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:backups:Backups", name, None, opts)
        self._backups, self._policy, self._alarm_topic = backups, policy, alarm_topic
        self._on_ec2 = isinstance(host, Ec2Host)
        settings = backups.settings
        self.apps = backups.apps
        self.prefix = f"{backups.stack}/"
        self.bucket: aws.s3.Bucket | None = None
        outputs: dict[str, pulumi.Input[Any]] = {}
        if settings.enabled and isinstance(host, Ec2Host) and self.apps:
            self.bucket = bucket = self._bucket(name)
            self._role_policy(name, bucket, host.role)
            self._alarms(name)
            self._install_on_host(name, bucket, host)
            outputs["bucket"] = bucket.bucket
        elif settings.enabled and self.apps:
            self._write_local_plan(name, host)
        self.summary = self._summary()
        self.register_outputs({**outputs, "summary": self.summary})

    # --- the bucket --------------------------------------------------------------------------------

    def _bucket(self, name: str) -> aws.s3.Bucket:
        backups, policy = self._backups, self._policy
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket_prefix=bucket_prefix(backups.stack), force_destroy=not policy.keeps_data,
            # prod: backups outlive the stack; staging: `pulumi destroy` empties and deletes the bucket.
            opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(policy)))
        aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                       opts=child)
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(f"{name}-encryption", bucket=bucket.id, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}, "bucket_key_enabled": True}],
            opts=child)
        aws.s3.BucketLifecycleConfiguration(f"{name}-retention", bucket=bucket.id, rules=[{
            "id": "retention", "status": "Enabled", "filter": {"prefix": ""},
            "expiration": {"days": backups.settings.retention_days},
            "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_DAYS},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
        }], opts=child)
        aws.s3.BucketPolicy(f"{name}-tls-only", bucket=bucket.id, policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}), opts=child)
        return bucket

    def _role_policy(self, name: str, bucket: aws.s3.Bucket, role: aws.iam.Role) -> None:  # the EC2 host's role
        """The host may list, write and read its own prefix, and report its metric; it can delete nothing."""
        prefix = self.prefix
        objects = pulumi.Output.concat(bucket.arn, "/", prefix, "*")
        aws.iam.RolePolicy(f"{name}-host", role=role.name, policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "ListOwnPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket.arn,
                 "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}},
                {"Sid": "WriteAndReadOwnPrefix", "Effect": "Allow",
                 "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], "Resource": objects},
                {"Sid": "ReportBackups", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                 "Condition": {"StringEquals": {"cloudwatch:namespace": backup_plan.METRIC_NAMESPACE}}},
            ]}), opts=pulumi.ResourceOptions(parent=self))

    def _alarms(self, name: str) -> None:
        """One alarm per app: no successful backup reported within one interval (missing data breaches)."""
        stack, settings = self._backups.stack, self._backups.settings
        child = pulumi.ResourceOptions(parent=self)
        topic = self._alarm_topic()
        for app in self.apps:
            aws.cloudwatch.MetricAlarm(
                f"{name}-{app}-missed", namespace=backup_plan.METRIC_NAMESPACE, metric_name=backup_plan.SUCCEEDED_METRIC,
                dimensions={"Stack": stack, "App": app}, statistic="Sum",
                period=settings.every_hours * 3600, evaluation_periods=1, threshold=1,
                comparison_operator="LessThanThreshold", treat_missing_data="breaching",
                alarm_description=(f"berth {stack}: no successful backup of {app} within "
                                   f"{settings.every_hours} h. Runbook: `journalctl -u berth-backup` on the host says "
                                   f"why; `scripts/backup {app}` backs it up now (docs/backups.md)"),
                alarm_actions=[topic.arn], ok_actions=[topic.arn], opts=child)

    # --- the tool, its plan and its schedule ------------------------------------------------------

    def _install_on_host(self, name: str, bucket: aws.s3.Bucket, host: DockerHost) -> None:
        """Tool, plan and timer, installed as root on every deploy (render/backup_host.py says why)."""
        backups = self._backups
        region = aws.get_region_output().region
        script = pulumi.Output.all(bucket.bucket, region).apply(lambda a: backup_host.install_script(
            backup_plan.host_plan(backups, {"s3": {"bucket": a[0], "prefix": self.prefix, "region": a[1]}}, True),
            backups.settings.on_calendar, backups.data_root))
        host.run(f"{name}-install", "sudo -n bash -s", stdin=script,
                 triggers=[script.apply(lambda s: hashlib.sha256(s.encode()).hexdigest())], parent=self)

    def _write_local_plan(self, name: str, host: DockerHost) -> None:
        """dev: the plan `scripts/backup` reads, in the data dir; backups go to `localDir`."""
        backups = self._backups
        store = {"dir": backups.local_dir}
        plan = json.dumps(backup_plan.host_plan(backups, store, False), indent=2, sort_keys=True) + "\n"
        path = f"{backups.data_root}/{backup_plan.LOCAL_PLAN}"
        host.run(f"{name}-plan", f"mkdir -p {shlex.quote(backups.data_root)} && cat > {shlex.quote(path)}",
                 stdin=plan, triggers=[hashlib.sha256(plan.encode()).hexdigest()], parent=self)

    # --- what the plan shows -----------------------------------------------------------------------

    def _summary(self) -> dict[str, Any]:
        settings = self._backups.settings
        if not settings.enabled:
            return {"enabled": False}
        store: pulumi.Input[str] | None
        if self._on_ec2:
            store = pulumi.Output.concat("s3://", self.bucket.bucket, "/", self.prefix) if self.bucket else None
            retention = settings.retention_days
        else:
            store, retention = f"{settings.local_dir}/ (on this machine)", None
        return {
            "enabled": True,
            "schedule": self._backups.schedule,
            "retentionDays": retention,
            "store": store,
            "apps": {app: backup_plan.contents(plan) for app, plan in self.apps.items()},
        }
