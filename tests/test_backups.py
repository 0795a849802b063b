"""Backups under mocks: the bucket, who may touch it, the alarm, the schedule, what each app's backup holds.

The real round trip (real Postgres, Redis and an S3 API on loopback) is tests/test_backup_roundtrip.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from config.stack import BackupSettings
from offline import plan as offline_plan

BUCKET = "aws:s3/bucket:Bucket"


def policy_of(run) -> dict:
    return json.loads(run.get("aws:iam/rolePolicy:RolePolicy", "backups-host").values["policy"])


def test_prod_keeps_its_backups_bucket_and_protects_it(deploy):
    bucket = deploy("prod").get(BUCKET, "backups-bucket")
    assert bucket.survives_destroy and bucket.protect
    assert bucket.values["forceDestroy"] is False
    assert bucket.values["bucketPrefix"] == "berth-prod-backups-"


def test_staging_destroys_its_bucket_with_everything_in_it(deploy):
    bucket = deploy("staging").get(BUCKET, "backups-bucket")
    assert not bucket.survives_destroy and not bucket.protect
    assert bucket.values["forceDestroy"] is True


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_bucket_is_versioned_encrypted_private_and_tls_only(deploy, stack):
    run = deploy(stack)
    bucket_id = run.get(BUCKET, "backups-bucket").state.get("id", "backups-bucket-id")
    versioning = run.get("aws:s3/bucketVersioning:BucketVersioning", "backups-versioning").values
    assert versioning["versioningConfiguration"] == {"status": "Enabled"} and versioning["bucket"] == bucket_id
    rule = run.get("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                   "backups-encryption").values["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    block = run.get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "backups-public-access").values
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    deny = json.loads(run.get("aws:s3/bucketPolicy:BucketPolicy", "backups-tls-only").values["policy"])["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_retention_comes_from_the_stack_setting(deploy):
    run = deploy("prod", plain={"berth:backups": {"retentionDays": 30}})
    rule = run.get("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "backups-retention").values["rules"][0]
    assert rule["status"] == "Enabled" and rule["expiration"] == {"days": 30}
    assert rule["filter"] == {"prefix": ""} and rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert run.outputs["backups"]["retentionDays"] == 30


def test_the_host_may_write_and_read_only_its_own_prefix_and_delete_nothing(deploy):
    run = deploy("prod")
    arn = run.get(BUCKET, "backups-bucket").state["arn"]
    statements = {s["Sid"]: s for s in policy_of(run)["Statement"]}
    assert statements["ListOwnPrefix"]["Resource"] == arn
    assert statements["ListOwnPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["prod/", "prod/*"]}}
    assert statements["WriteAndReadOwnPrefix"]["Resource"] == f"{arn}/prod/*"
    assert statements["ReportBackups"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "berth/backups"}}
    actions = [a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if "Delete" in a or a.endswith("*")]
    s3_resources = [s["Resource"] for s in statements.values() if s["Sid"] != "ReportBackups"]
    assert all(r == arn or r.startswith(f"{arn}/prod/") for r in s3_resources)
    role = run.get("aws:iam/role:Role", "host-role")
    assert run.get("aws:iam/rolePolicy:RolePolicy", "backups-host").values["role"] == role.state["name"]


def test_an_alarm_fires_when_an_app_has_no_successful_backup_within_its_interval(deploy):
    run = deploy("prod", plain={"berth:backups": {"everyHours": 6, "alarmEmail": "ops@chmedia.com"}})
    alarms = {a.name: a.values for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.startswith("backups-")}
    assert set(alarms) == {"backups-chatbot-missed", "backups-mediahub-missed"}
    alarm = alarms["backups-mediahub-missed"]
    assert alarm["namespace"] == "berth/backups" and alarm["metricName"] == "BackupSucceeded"
    assert alarm["dimensions"] == {"Stack": "prod", "App": "mediahub"}
    assert alarm["period"] == 6 * 3600 and alarm["evaluationPeriods"] == 1
    assert alarm["treatMissingData"] == "breaching"
    assert alarm["comparisonOperator"] == "LessThanThreshold" and alarm["threshold"] == 1
    topic = run.get("aws:sns/topic:Topic", "backups-alarms").state["arn"]
    assert alarm["alarmActions"] == [topic]
    email = run.get("aws:sns/topicSubscription:TopicSubscription", "backups-alarm-email").values
    assert email["protocol"] == "email" and email["endpoint"] == "ops@chmedia.com"


def test_dev_has_no_bucket_and_writes_to_a_local_directory(deploy):
    run = deploy("dev")
    assert not run.of_type(BUCKET) and not run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert run.outputs["backups"]["store"] == ".berth-backups/ (on this machine)"
    assert run.outputs["backups"]["schedule"] == "on demand (scripts/backup <app>)"


def test_backups_can_be_turned_off(deploy):
    run = deploy("staging", plain={"berth:backups": {"enabled": False}})
    assert not run.of_type(BUCKET) and run.outputs["backups"] == {"enabled": False}


@pytest.mark.parametrize("every, at, expected", [
    (24, "03:30", "*-*-* 03:30:00 UTC"), (6, "03:30", "*-*-* 03/6:30:00 UTC"), (1, "00:05", "*-*-* 00/1:05:00 UTC"),
    (12, "23:00", "*-*-* 11/12:00:00 UTC"),
])
def test_the_schedule_becomes_a_systemd_calendar(every, at, expected):
    assert BackupSettings(everyHours=every, at=at).on_calendar == expected


def test_the_plan_shows_schedule_retention_and_what_each_backup_holds(deploy):
    plan = offline_plan.describe(deploy("prod"), "Pulumi.prod.yaml")
    backups = plan["backups"]
    assert backups["schedule"].startswith("daily from 03:30 UTC") and backups["retentionDays"] == 14
    assert backups["store"].startswith("s3://berth-prod-backups-") and backups["store"].endswith("/prod/")
    assert backups["apps"]["mediahub"] == [
        "postgres database mediahub (pg_dump -Fc)",
        "redis store mediahub_redis (its append-only file, copied while redis is stopped)"]
    assert backups["apps"]["chatbot"] == [f"volume chatbot_{v} (copied while backend is stopped)"
                                          for v in ("chroma", "pdfs", "transcripts")]
    text = offline_plan.render_text(plan)
    assert "Backups: daily from 03:30 UTC" in text and "kept 14 days" in text
    assert "  mediahub: postgres database mediahub (pg_dump -Fc)" in text
    assert "**Backups:** daily" in offline_plan.render_markdown(plan)


def test_recreatable_volumes_are_left_out(deploy):
    run = deploy("prod", stack_file=Path(__file__).parents[1] / "examples/on-prem-rag/Pulumi.prod.yaml",
                 stack_name="rag-prod", secrets={"berth:ragChromaToken": "token0123456789"})
    what = run.outputs["backups"]["apps"]["rag"]
    assert not [w for w in what if "rag_models" in w]
    assert "volume rag_vector_data (copied while vectordb is stopped)" in what
    assert "postgres database rag (pg_dump -Fc)" in what
    assert not [w for w in what if "redis" in w]  # rag's Redis is a cache: nothing to keep


def test_a_recreatable_volume_the_app_does_not_have_is_an_error(tmp_path):
    (tmp_path / "apps").mkdir()
    app = {"name": "shop", "hostname": "shop", "backup": {"recreatable": ["cache"]},
           "services": {"api": {"image": "example/api:1.0", "port": 8000, "healthcheck": {"path": "/"},
                                "volumes": {"data": "/data"}}}}
    (tmp_path / "apps" / "shop.yaml").write_text(json.dumps(app), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(RawConfig({"environment": "dev", "host": {"kind": "local"}, "apps": {"shop": {}}}), "dev", tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        "apps/shop.yaml: backup.recreatable names 'cache', which no service of this app mounts as a volume"]


def test_a_malformed_backup_time_is_reported_at_its_path(config_problems):
    problems = config_problems("prod", plain={"berth:backups": {"at": "3am", "everyHours": 5}})
    assert problems == [
        "berth:backups.everyHours: Input should be 1, 2, 3, 4, 6, 8, 12 or 24",
        "berth:backups.at: '3am' is not a UTC time of day such as 03:30",
    ]
