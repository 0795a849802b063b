"""Being told before users notice, under mocks: every prod stack and example has its log groups (with
their retention) and its alarms, each with a runbook; staging has alarms only when asked, dev none; the
alarm topic keeps the identity deployed stacks gave it; and what berth sends CloudWatch (the alarms,
the metric filters, the reporter's metrics and log events) is what CloudWatch's own API model accepts.
The reporter itself: tests/test_reporter.py; on a deployed stack: tests/engine/operating.py.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import sys
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.model import OperationModel
from botocore.validate import ParamValidator

from components import monitoring
from config import conventions
from offline.mockrun import Run
from operate import intent, reporter
from operate.stack_file import load_stack
from render import report_host
from tests.support.stacks import PROD_SECRETS, REPO, require_tool
from tests.support.validators import run_tool, shellcheck

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
EC2_PROD = [("prod", None)] + [("prod", p) for p in sorted((REPO / "examples").glob("*/Pulumi.prod.yaml"))
                               if "-ecs/" not in str(p)]
ECS_PROD = [("prod", p) for p in sorted((REPO / "examples").glob("*-ecs/Pulumi.prod.yaml"))]


def ids(cases):
    return [f.parent.name if f else "berth" for _, f in cases]


@pytest.fixture
def run_of(deploy, monkeypatch):
    """A stack's shared run. The examples' files leave their secrets unset: they are stood in for, as the plan
    does (the run `SharedRuns.recorded` makes); berth's own stacks are given every secret, so they need no
    stand-in and are the runs the other tests read."""
    def _run(stack: str, stack_file: Path | None = None, plain=None) -> Run:
        if stack_file is None:
            return deploy(stack, plain=plain, secrets=PROD_SECRETS if stack == "prod" else None)
        with monkeypatch.context() as patched:
            patched.setenv("BERTH_OFFLINE_PLAN", "1")
            return deploy(stack, stack_file=stack_file, plain=plain)
    return _run


def monitoring_alarms(run: Run) -> dict[str, dict]:
    return {a.name.removeprefix("monitoring-"): a.values for a in run.of_type(ALARM) if a.name.startswith("monitoring-")}


# --- what each stack has --------------------------------------------------------------------------------

@pytest.mark.parametrize("stack, stack_file", EC2_PROD, ids=ids(EC2_PROD))
def test_every_prod_host_ships_its_logs_and_alarms_on_what_users_would_notice(run_of, stack, stack_file):
    run = run_of(stack, stack_file)
    deployment = load_stack(stack, stack_file).deployment
    wanted = intent.intended(deployment)
    groups = {g.values["name"]: g for g in run.of_type(LOG_GROUP)}
    owners = {w.service.split("/", 1)[0] for w in wanted}
    assert set(groups) == {conventions.log_group(deployment.stack, o) for o in owners}
    assert {g.values["retentionInDays"] for g in groups.values()} == {deployment.settings.host.log_retention_days}
    assert all(g.protect and g.retain_on_delete for g in groups.values()), "prod keeps its logs"

    alarms = monitoring_alarms(run)
    expected = {"data-volume-80", "data-volume-90", "memory", "silent"}
    expected |= {f"{w.service.replace('/', '-')}-{k}" for w in wanted for k in ("down", "restarts")}
    expected |= {f"{a}-{k}" for a in deployment.apps for k in ("5xx", "certificate")}
    assert set(alarms) == expected
    down = alarms[f"{wanted[0].service.replace('/', '-')}-down"]
    assert (down["namespace"], down["metricName"]) == (reporter.NAMESPACE, reporter.UNHEALTHY)
    assert down["dimensions"] == {"Stack": deployment.stack, "Service": wanted[0].service}
    assert alarms["data-volume-90"]["threshold"] == 90 and alarms["silent"]["treatMissingData"] == "breaching"


@pytest.mark.parametrize("stack, stack_file", ECS_PROD, ids=ids(ECS_PROD))
def test_every_prod_ecs_stack_alarms_on_tasks_targets_and_5xx(run_of, stack, stack_file):
    run = run_of(stack, stack_file)
    deployment = load_stack(stack, stack_file).deployment
    services = {r.name for r in run.of_type("aws:ecs/service:Service")}
    groups = {r.name for r in run.of_type("aws:lb/targetGroup:TargetGroup")}
    alarms = monitoring_alarms(run)
    assert {f"{s}-tasks" for s in services} | {f"{g}-unhealthy-targets" for g in groups} \
        | {f"{g}-5xx" for g in groups} | {"load-balancer-5xx"} == set(alarms)
    suffixes = {r.state["arnSuffix"] for r in run.of_type("aws:lb/targetGroup:TargetGroup")}
    unhealthy = [a for k, a in alarms.items() if k.endswith("-unhealthy-targets")]
    assert {a["dimensions"]["TargetGroup"] for a in unhealthy} == suffixes
    log_groups = {g.values["name"]: g.values["retentionInDays"] for g in run.of_type(LOG_GROUP)}
    assert {conventions.log_group(deployment.stack, a) for a in deployment.apps} <= set(log_groups)
    assert set(log_groups.values()) == {deployment.settings.host.log_retention_days}


def test_staging_ships_logs_but_alarms_only_when_asked(run_of):
    quiet = run_of("staging")
    assert monitoring_alarms(quiet) == {} and quiet.of_type(LOG_GROUP)
    assert not any(g.protect for g in quiet.of_type(LOG_GROUP)), "staging keeps nothing after destroy"
    asked = run_of("staging", plain={"berth:monitoring": {"alarms": True}})
    assert "memory" in monitoring_alarms(asked) and "chatbot-5xx" in monitoring_alarms(asked)
    assert monitoring_alarms(run_of("prod", plain={"berth:monitoring": {"alarms": False}})) == {}


def test_dev_has_no_alarms_and_refuses_to_be_given_some(run_of, config_problems):
    run = run_of("dev")
    assert not run.of_type(ALARM) and not run.of_type(LOG_GROUP) and not run.of_type("aws:sns/topic:Topic")
    problems = config_problems("dev", plain={"berth:monitoring": {"alarms": True}})
    assert problems == [("berth:monitoring: dev runs on this machine and has no alarms; remove `alarms` "
                         "(staging and prod have them)")]


def test_every_alarm_says_what_to_do_and_tells_the_stacks_topic(run_of):
    for stack, stack_file in EC2_PROD + ECS_PROD:
        run = run_of(stack, stack_file)
        topic = run.get("aws:sns/topic:Topic", "monitoring-alarms").state["arn"]
        for alarm in run.of_type(ALARM):
            if alarm.name == "host-recover":
                continue  # recovers the instance itself
            values = alarm.values
            runbook = values["alarmDescription"].partition("Runbook: ")[2]
            assert len(runbook) > 20, (alarm.name, values["alarmDescription"])
            assert values["alarmActions"] == [topic] and values.get("okActions", [topic]) == [topic], alarm.name


# --- the alarm topic keeps its identity ------------------------------------------------------------------

def test_the_alarm_topic_and_its_subscription_keep_the_urns_deployed_stacks_have(run_of):
    """They were the backups component's (`backups-alarms`, `backups-alarm-email`): with these aliases
    `pulumi up` moves them, never replaces them (a new topic would need a new e-mail confirmation)."""
    run = run_of("prod")
    old = "urn:pulumi:prod::berth::berth:backups:Backups$aws:sns/{}::{}"
    topic = run.get("aws:sns/topic:Topic", "monitoring-alarms")
    assert old.format("topic:Topic", "backups-alarms") in topic.aliases
    email = run.get("aws:sns/topicSubscription:TopicSubscription", "monitoring-alarm-email")
    assert old.format("topicSubscription:TopicSubscription", "backups-alarm-email") in email.aliases
    assert email.values["endpoint"] == "ops@chmedia.com"
    assert [a.values["alarmActions"] for a in run.of_type(ALARM) if a.name.startswith("backups-")] == \
           [[topic.state["arn"]]] * 2, "missed backups tell the same topic"


def test_the_alarm_email_has_one_place_now_and_one_older_one(config_problems, run_of):
    older = run_of("prod", plain={"berth:monitoring": {}, "berth:backups": {"alarmEmail": "oncall@chmedia.com"}})
    assert older.get("aws:sns/topicSubscription:TopicSubscription", "monitoring-alarm-email").values["endpoint"] == \
           "oncall@chmedia.com", "a stack file that still has it under backups keeps its subscription"
    problems = config_problems("prod", plain={"berth:backups": {"alarmEmail": "other@chmedia.com"}},
                               secrets=PROD_SECRETS)
    assert len(problems) == 1 and problems[0].startswith("berth:monitoring: alarmEmail is set here and in "
                                                          "berth:backups.alarmEmail")


# --- the host's rights ---------------------------------------------------------------------------------

def test_the_host_may_write_its_stacks_logs_and_host_metrics_only(run_of):
    run = run_of("prod")
    policy = json.loads(run.get("aws:iam/rolePolicy:RolePolicy", "monitoring-host").values["policy"])
    logs, metrics = policy["Statement"]
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert all(":log-group:/berth/prod/*" in r for r in logs["Resource"])
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": reporter.NAMESPACE}}
    install = run.get("command:remote:Command", "monitoring-report-install").values
    assert install["create"] == "sudo -n bash -s" and "berth-report.timer" in install["stdin"]


# --- CloudWatch's API model accepts what berth sends ------------------------------------------------------

def _dimensions(d: dict) -> list[dict]:
    return [{"Name": k, "Value": v} for k, v in d.items()]


def put_metric_alarm(values: dict) -> dict:
    """The PutMetricAlarm request the provider makes of an alarm's inputs (terraform-provider-aws
    `internal/service/cloudwatch/metric_alarm.go`: expandPutMetricAlarmInput)."""
    params = {"AlarmName": values["name"], "AlarmDescription": values["alarmDescription"],
              "AlarmActions": values["alarmActions"], "OKActions": values["okActions"],
              "EvaluationPeriods": int(values["evaluationPeriods"]), "Threshold": values["threshold"],
              "ComparisonOperator": values["comparisonOperator"], "TreatMissingData": values["treatMissingData"]}
    if "metricQueries" in values:
        params["Metrics"] = [{"Id": q["id"], "ReturnData": q["returnData"],
                              **({"Expression": q["expression"], "Label": q["label"]} if "expression" in q else {
                                  "MetricStat": {"Metric": {"Namespace": q["metric"]["namespace"],
                                                            "MetricName": q["metric"]["metricName"],
                                                            "Dimensions": _dimensions(q["metric"]["dimensions"])},
                                                 "Period": int(q["metric"]["period"]), "Stat": q["metric"]["stat"]}})}
                             for q in values["metricQueries"]]
    else:
        params.update(Namespace=values["namespace"], MetricName=values["metricName"], Statistic=values["statistic"],
                      Period=int(values["period"]), Dimensions=_dimensions(values["dimensions"]))
    return params


@functools.cache
def operation_model(service: str, operation: str) -> OperationModel:
    """botocore's model of an AWS operation, read once (a new session reads the service's whole model again)."""
    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def check_shape(service: str, operation: str, params: dict) -> None:
    report = ParamValidator().validate(params, operation_model(service, operation).input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("stack, stack_file", EC2_PROD + ECS_PROD, ids=ids(EC2_PROD + ECS_PROD))
def test_cloudwatchs_model_accepts_every_alarm_and_metric_filter(run_of, stack, stack_file):
    run = run_of(stack, stack_file)
    for alarm in run.of_type(ALARM):
        if not alarm.name.startswith("monitoring-"):
            continue
        params = put_metric_alarm(alarm.values)
        check_shape("cloudwatch", "PutMetricAlarm", params)
        assert len(params["AlarmName"]) <= 255 and len(params["AlarmDescription"]) <= 1024
        if "Metrics" in params:  # CloudWatch's own rules for metric math alarms
            assert sum(m["ReturnData"] for m in params["Metrics"]) == 1
            assert all(m["MetricStat"]["Period"] % 60 == 0 for m in params["Metrics"] if "MetricStat" in m)
    for f in run.of_type(FILTER):
        t = f.values["metricTransformation"]
        check_shape("logs", "PutMetricFilter", {
            "logGroupName": "/berth/prod/proxy", "filterName": f.name, "filterPattern": f.values["pattern"],
            "metricTransformations": [{"metricName": t["name"], "metricNamespace": t["namespace"],
                                       "metricValue": t["value"], "unit": t["unit"], "dimensions": t["dimensions"]}]})


def test_cloudwatchs_model_accepts_what_the_reporter_sends(tmp_path):
    metrics = reporter.host_metrics("prod", str(tmp_path)) + [
        reporter.datum(reporter.UNHEALTHY, 1, "Count", Stack="prod", Service="chatbot/backend"),
        reporter.datum(reporter.CERTIFICATE_DAYS, 12.5, "None", Stack="prod", Host="chatbot.chmedia.com")]
    check_shape("cloudwatch", "PutMetricData", {"Namespace": reporter.NAMESPACE, "MetricData": metrics})
    events = reporter.events_of([{"log": "hello\n", "stream": "stdout", "time": "2026-11-22T03:30:00.123456789Z"}])
    check_shape("logs", "PutLogEvents", {"logGroupName": "/berth/prod/chatbot", "logStreamName": "s", "logEvents": events})
    assert events == [{"timestamp": 1795318200123, "message": "hello"}]


def test_the_5xx_alarm_counts_only_the_proxys_access_lines():
    """Caddy's error log repeats a failed request's status; only the access logger's lines count."""
    rate = monitoring.rate_alarm_math("ns", "E", "R", {"Host": "h"})["metric_queries"]
    assert rate[-1]["expression"].startswith(f"IF(FILL(requests, 0) >= {monitoring.MIN_REQUESTS}")
    assert monitoring.ACCESS == '$.logger = "http.log.access*"'


# --- how the reporter reaches the host -----------------------------------------------------------------

def user_data_of(run: Run) -> dict:
    text = run.get("aws:ec2/instance:Instance", "host-instance").values["userData"]
    return yaml.safe_load(text.removeprefix("#cloud-config\n")) | {"_bytes": len(text.encode())}


@pytest.mark.parametrize("stack, stack_file", [("staging", None), *EC2_PROD], ids=["staging", *ids(EC2_PROD)])
def test_the_user_data_installs_the_reporter_for_the_stack_and_stays_under_16_kb(run_of, stack, stack_file):
    doc = user_data_of(run_of(stack, stack_file))
    files = {f["path"]: f for f in doc["write_files"]}
    tool = files[report_host.TOOL]
    assert tool["encoding"] == "gz+b64"
    assert gzip.decompress(base64.b64decode(tool["content"])).decode() == Path(reporter.__file__).read_text()
    config = json.loads(files[report_host.CONFIG]["content"])
    assert config == {"stack": stack, "region": "us-east-1", "dataRoot": "/srv/berth", "logGroupPrefix": f"/berth/{stack}/",
                      "backupLedger": "/srv/berth/backup-work/stopped-containers.json"}
    assert "python3-boto3" in doc["packages"]
    runcmd = [" ".join(c) for c in doc["runcmd"]]
    assert runcmd.index("systemctl enable --now berth-report.timer") > runcmd.index("/usr/local/sbin/berth-install-docker")
    assert doc["_bytes"] < 16384, "EC2 refuses user data over 16 KB"


def test_a_deploy_installs_the_same_files_as_the_first_boot(run_of, tmp_path):
    """prod ignores user-data changes: each deploy writes the reporter again (the same bytes)."""
    run = run_of("prod")
    script = run.get("command:remote:Command", "monitoring-report-install").values["stdin"]
    shellcheck(script, tmp_path)
    for path, (content, _) in report_host.files("prod", "us-east-1", "/srv/berth").items():
        assert f"cat > {path} <<'BERTH_FILE_END'\n{content.rstrip(chr(10))}\nBERTH_FILE_END\n" in script


def test_systemd_accepts_the_reporters_units(tmp_path):
    service = tmp_path / "berth-report.service"
    service.write_text(report_host.service_unit(str(tmp_path)).replace("/usr/bin/python3", sys.executable)
                       .replace(report_host.TOOL, reporter.__file__).replace("After=docker.service\n", ""))
    (tmp_path / "berth-report.timer").write_text(report_host.timer_unit())
    result = run_tool([require_tool("systemd-analyze"), "verify", str(service), str(tmp_path / "berth-report.timer")],
                      expect_ok=False)
    assert result.returncode == 0, result.stderr
    broken = tmp_path / "broken.timer"
    broken.write_text(report_host.timer_unit().replace("OnUnitActiveSec=1min", "OnUnitActiveSec=soon"))
    assert "soon" in run_tool([require_tool("systemd-analyze"), "verify", str(broken)], expect_ok=False).stderr
