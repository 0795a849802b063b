"""Backups under mocks: the bucket, who may touch it, the alarm, the schedule, what each app's backup holds.

The real round trip (real Postgres, Redis and an S3 API on loopback) is tests/test_backup_roundtrip.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from config.stack import BackupSettings
from offline import plan as offline_plan
from render import backup_host
from tests.support.stacks import REPO, require_tool
from tests.support.validators import run_tool, shellcheck

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
    """checkov CKV_AWS_21 (versioning), CKV_AWS_145 (KMS encryption), CKV2_AWS_6 (public access block),
    AWS Well-Architected REL09-BP02 (secure and encrypt backups); TLS only: AWS Foundational Security
    Best Practices S3.5."""
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
    """checkov CKV2_AWS_61 (a lifecycle configuration); incomplete multipart uploads are cleaned up (CKV_AWS_300)."""
    run = deploy("prod", plain={"berth:backups": {"retentionDays": 30}})
    rule = run.get("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "backups-retention").values["rules"][0]
    assert rule["status"] == "Enabled" and rule["expiration"] == {"days": 30}
    assert rule["filter"] == {"prefix": ""} and rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert run.outputs["backups"]["retentionDays"] == 30


def test_the_host_may_write_and_read_only_its_own_prefix_and_delete_nothing(deploy):
    """Least privilege (AWS Well-Architected SEC03-BP02): a compromised host can neither read other
    prefixes nor delete its own backups; expiry is the bucket's lifecycle rule."""
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
    """AWS Well-Architected REL09-BP03 (back up automatically) and REL09-BP04 (know when it fails): a
    missing success metric, not only an error, raises the alarm."""
    run = deploy("prod", plain={"berth:backups": {"everyHours": 6, "alarmEmail": "ops@chmedia.com"}})
    alarms = {a.name: a.values for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.startswith("backups-")}
    assert set(alarms) == {"backups-chatbot-missed", "backups-mediahub-missed"}
    alarm = alarms["backups-mediahub-missed"]
    assert alarm["namespace"] == "berth/backups" and alarm["metricName"] == "BackupSucceeded"
    assert alarm["dimensions"] == {"Stack": "prod", "App": "mediahub"}
    assert alarm["period"] == 6 * 3600 and alarm["evaluationPeriods"] == 1
    assert alarm["treatMissingData"] == "breaching"
    assert alarm["comparisonOperator"] == "LessThanThreshold" and alarm["threshold"] == 1
    topic = run.get("aws:sns/topic:Topic", "monitoring-alarms").state["arn"]  # the stack's one alarm topic
    assert alarm["alarmActions"] == [topic]
    email = run.get("aws:sns/topicSubscription:TopicSubscription", "monitoring-alarm-email").values
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


def test_a_plan_diff_shows_what_changes_in_the_backups(deploy):
    from offline import diff
    before = offline_plan.describe(deploy("prod"), "Pulumi.prod.yaml")
    after = offline_plan.describe(deploy("prod", plain={"berth:backups": {"retentionDays": 30, "at": "01:00"}}),
                                  "Pulumi.prod.yaml")
    text = diff.render_text(diff.compare(before, after, ("main", "branch")))
    assert "Backups\n  retentionDays: 14 -> 30\n" in text
    assert "  schedule: daily from 03:30 UTC (systemd OnCalendar=*-*-* 03:30:00 UTC) -> daily from 01:00 UTC" in text


def test_recreatable_volumes_are_left_out(deploy):
    run = deploy("prod", stack_file=Path(__file__).parents[1] / "examples/on-prem-rag/Pulumi.prod.yaml",
                 stack_name="rag-prod", secrets={"berth:ragChromaToken": "token0123456789"})
    what = run.outputs["backups"]["apps"]["rag"]
    assert not [w for w in what if "rag_models" in w]
    assert "volume rag_vector_data (copied while vectordb is stopped)" in what
    assert "postgres database rag (pg_dump -Fc)" in what
    assert not [w for w in what if "redis" in w]  # rag's Redis is a cache: nothing to keep


def test_external_services_are_named_as_not_backed_up_and_every_replica_stops_for_a_shared_volume(deploy):
    secrets = {f"berth:{k}": "test-value-123" for k in ("collabryJwtSecret", "collabryMongodbUri", "collabryOpenaiApiKey")}
    run = deploy("prod", stack_file=Path(__file__).parents[1] / "examples/collabry/Pulumi.prod.yaml",
                 stack_name="collabry-prod", secrets=secrets)
    assert "not mongodb (external: its provider keeps its backups)" in run.outputs["backups"]["apps"]["collabry"]
    plan = json.loads(install_of(run)["stdin"].split("cat > /etc/berth/backup-plan.json <<'BERTH_FILE_END'\n", 1)[1]
                      .split("\nBERTH_FILE_END\n", 1)[0])
    collabry = plan["apps"]["collabry"]
    # the tool stops a service's containers by label: all three backend replicas share the uploads volume
    assert collabry["volumes"]["collabry_uploads"] == ["collabry/backend"]
    service_label = [{label["label"]: label["value"] for label in c.values["labels"]}.get("berth.service")
                     for c in run.containers().values()]
    assert service_label.count("collabry/backend") == 3 and service_label.count("collabry/redis") == 1
    assert collabry["services"][0] == "collabry/redis" and collabry["services"].index("collabry/ai-engine") < \
        collabry["services"].index("collabry/backend") < collabry["services"].index("collabry/frontend")


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


# --- the tool on the host: installed by every deploy, run by a systemd timer ------------------------

def install_of(run) -> dict:
    return run.get("command:remote:Command", "backups-install").values


def test_every_deploy_installs_the_tool_its_plan_and_the_timer_on_the_host(deploy):
    run = deploy("prod", plain={"berth:backups": {"everyHours": 12, "at": "02:15"}})
    install = install_of(run)
    assert install["create"] == "sudo -n bash -s"
    script = install["stdin"]
    bucket = run.get(BUCKET, "backups-bucket").state["bucket"]
    plan = json.loads(script.split("cat > /etc/berth/backup-plan.json <<'BERTH_FILE_END'\n", 1)[1]
                      .split("\nBERTH_FILE_END\n", 1)[0])
    assert plan["store"] == {"s3": {"bucket": bucket, "prefix": "prod/", "region": "us-east-1"}}
    assert plan["workDir"] == "/srv/berth/backup-work" and plan["metrics"]["metric"] == "BackupSucceeded"
    assert plan["apps"]["mediahub"]["postgres"] == {"container": "shared-postgres", "database": "mediahub"}
    assert plan["apps"]["mediahub"]["volumes"] == {"mediahub_redis": ["mediahub/redis"]}
    assert plan["apps"]["chatbot"]["volumes"]["chatbot_chroma"] == ["chatbot/backend"]
    assert "OnCalendar=*-*-* 02/12:15:00 UTC\nPersistent=true" in script
    assert "ExecStart=/usr/local/sbin/berth-backup backup --all" in script
    assert "systemctl enable --now berth-backup.timer" in script
    assert "ExecStart=/usr/local/sbin/berth-backup recover" in script and "systemctl enable berth-backup-recover.service" in script
    for path, text in backup_host.tool_files().items():  # the tool as this repository has it
        assert f"cat > {path} <<'BERTH_FILE_END'\n{text.rstrip()}\nBERTH_FILE_END\n" in script
    assert not [s for s in run.of_type("random:index/randomPassword:RandomPassword") if s.state["result"] in script]


def test_dev_writes_the_plan_scripts_backup_reads(deploy):
    command = deploy("dev").get("command:local:Command", "backups-plan").values
    plan = json.loads(command["stdin"])
    data_dir = plan["workDir"].removesuffix("/backup-work")
    assert command["create"].endswith(f"cat > {data_dir}/backup-plan.json") and data_dir.endswith("/.berth-data")
    assert plan["store"]["dir"].endswith("/.berth-backups") and plan["metrics"] is None


def test_the_install_script_passes_shellcheck(deploy, tmp_path):
    shellcheck(install_of(deploy("staging"))["stdin"], tmp_path)
    shellcheck(backup_host.command_script(), tmp_path, shell="sh")


@pytest.mark.parametrize("every, at", [(24, "03:30"), (6, "00:45"), (1, "23:59"), (12, "14:00")])
def test_systemd_reads_the_schedule_as_intended(every, at):
    """systemd's own reading of the calendar: runs `everyHours` apart, at `at` and its multiples, in UTC."""
    from datetime import datetime, timedelta
    from itertools import pairwise
    calendar = BackupSettings(everyHours=every, at=at).on_calendar
    result = run_tool([require_tool("systemd-analyze"), "calendar", "--iterations=4", calendar])
    runs = [datetime.strptime(" ".join(line.split()[-3:-1]), "%Y-%m-%d %H:%M:%S")
            for line in result.stdout.splitlines() if line.strip().startswith(("Next elapse:", "Iter. #"))]
    assert len(runs) == 4 and all(line.endswith(" UTC") for line in result.stdout.splitlines() if "elapse:" in line)
    assert {b - a for a, b in pairwise(runs)} == {timedelta(hours=every)}
    hour, minute = map(int, at.split(":"))
    assert all(r.minute == minute and (r.hour - hour) % every == 0 for r in runs)


def test_systemd_rejects_a_broken_calendar():
    result = run_tool([require_tool("systemd-analyze"), "calendar", "*-*-* 25:00:00 UTC"], expect_ok=False)
    assert result.returncode != 0


def test_systemd_accepts_the_units(tmp_path):
    command = tmp_path / "berth-backup"
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    service = tmp_path / "berth-backup.service"
    # this machine has no docker.service for the unit to require: the rest is checked as the host has it
    service.write_text(backup_host.service_unit("/srv/berth").replace(backup_host.COMMAND, str(command))
                       .replace("Requires=docker.service\nAfter=docker.service\n", ""))
    recover = tmp_path / "berth-backup-recover.service"
    recover.write_text(backup_host.recover_unit().replace(backup_host.COMMAND, str(command))
                       .replace("Requires=docker.service\nAfter=docker.service\n", ""))
    (tmp_path / "berth-backup.timer").write_text(backup_host.timer_unit("*-*-* 03:30:00 UTC"))
    result = run_tool([require_tool("systemd-analyze"), "verify", str(service), str(recover),
                       str(tmp_path / "berth-backup.timer")], expect_ok=False)
    assert result.returncode == 0, result.stderr


def test_the_backup_command_line_lists_and_refuses_with_clear_messages(tmp_path):
    """The command the timer and scripts run: a dev plan with a local store, no engine needed for these."""
    plan = {"berthBackupPlan": 1, "stack": "dev", "store": {"dir": str(tmp_path / "store")},
            "workDir": str(tmp_path / "work"), "metrics": None,
            "apps": {"shop": {"services": [], "postgres": None, "redisStore": None, "volumes": {"shop_data": []}}}}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    tool = [sys.executable, "-m", "backup", "--plan", str(tmp_path / "plan.json")]
    listed = subprocess.run([*tool, "list", "shop"], capture_output=True, text=True, cwd=REPO)
    assert listed.returncode == 0 and listed.stdout.strip() == f"no complete backup of shop in {tmp_path / 'store'}"
    restore = subprocess.run([*tool, "restore", "shop"], capture_output=True, text=True, cwd=REPO)
    assert restore.returncode == 1
    assert restore.stderr.strip() == (f"berth-backup: restore of shop failed: there is no complete backup of shop in "
                                      f"{tmp_path / 'store'}; nothing was changed")
    missing = subprocess.run([*tool[:-1], str(tmp_path / "none.json"), "list", "shop"], capture_output=True, text=True,
                             cwd=REPO)
    assert missing.returncode == 2 and "no plan at" in missing.stderr


@pytest.mark.parametrize("argv, message", [
    (["scripts/restore"], "usage: scripts/restore APP"),
    (["scripts/restore", "Shop!"], "berth: 'Shop!' is not an app name"),
    (["scripts/restore", "shop", "--from", "yesterday"], "--from takes a backup id such as 20261122T033000Z"),
    (["scripts/backup"], "usage: scripts/backup APP..."),
])
def test_the_scripts_refuse_bad_arguments(argv, message):
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env={**os.environ, "BERTH_HOST": ""})
    assert result.returncode == 2 and message in result.stderr
