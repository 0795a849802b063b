"""Being told before users notice: the stack's alarm topic, its log groups and its alarms (docs/operate.md).

- **The alarm topic** (SNS, encrypted, `berth:monitoring.alarmEmail` subscribed) takes every alarm of
  the stack, a missed backup's too. It used to be the backups component's: its `aliases` keep the
  topic and the e-mail subscription that deployed stacks have (no new topic, no new confirmation).
- **EC2 hosts** (staging and prod): a log group per app (`/berth/<stack>/<app>`), one for the proxy's
  access log and one for the shared Postgres, with `berth:host.logRetentionDays`; the host's role may
  write to those groups and put metrics in `berth/host` only. The host's reporter (operate/reporter.py,
  installed by cloud-init: render/report_host.py) fills them. Two metric filters turn the proxy's
  JSON access log into requests and 5xx answers per host name.
- **Alarms** (prod by default, staging when `berth:monitoring.alarms: true`, dev never), each with
  what to do in its description. EC2: data volume above 80% and 90%, host memory above 90%, the host
  silent, per service a container down or unhealthy and repeated restarts, per app the proxy's 5xx
  rate, per host name a certificate close to expiry. ECS: per service fewer running than desired
  tasks, per target group unhealthy targets and the 5xx rate, the load balancer's own 5xx.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from components.options import kept_in_prod
from config import conventions
from operate import intent, reporter
from render import report_host
from rules.environments import EnvironmentPolicy

PROXY_NAMESPACE = "berth/proxy"  # what the proxy's access-log metric filters count, per `Host`
REQUESTS, ERRORS = "Requests", "Http5xx"
ACCESS = '$.logger = "http.log.access*"'  # Caddy's access logger (its error log repeats the status)
ERROR_RATE_PERCENT = 5
MIN_REQUESTS = 20  # fewer requests in 5 minutes than this never alarm: one failed probe is no rate
DISK_THRESHOLDS = (80, 90)
MEMORY_PERCENT = 90
RESTARTS_IN_15_MIN = 3
CERTIFICATE_DAYS = 14
STATUS = "scripts/status"  # what the runbooks start with


class WatchedHost(Protocol):
    """What watching needs of the EC2 host (components/single_host/ec2_host.py; this module, shared by both
    backends, imports neither): its instance role, and commands run on it."""

    @property
    def role(self) -> aws.iam.Role: ...

    def run(self, name: str, create: pulumi.Input[str], *, triggers: Sequence[pulumi.Input[str]] = (),
            stdin: pulumi.Input[str] | None = None, parent: pulumi.Resource | None) -> pulumi.Resource: ...


@dataclass(frozen=True)
class HostWatch:
    """What watching the EC2 host reads of the stack: it watches every app, so it has each one's services
    (operate/intent.py) and host name, with `berth:host.logRetentionDays` and the host's data root."""

    intended: Sequence[intent.Intended]  # every service that should run a container on the host
    hostnames: Mapping[str, str]  # each app's host name, by app
    log_retention_days: int
    data_root: str


class Monitoring(pulumi.ComponentResource):
    """The stack's alarm topic and alarms: `alarms_on` (Deployment.alarms_on), `alarm_email`, and what the
    environment keeps (`policy`); what it watches comes with `watch_host` and `watch_ecs`."""

    def __init__(self, name: str, stack: str, policy: EnvironmentPolicy, alarms_on: bool, alarm_email: str | None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:monitoring:Monitoring", name, None, opts)
        self._name, self._stack, self._policy, self._alarm_email = name, stack, policy, alarm_email
        self._topic: aws.sns.Topic | None = None
        self.alarms_on = alarms_on
        self.log_groups: dict[str, aws.cloudwatch.LogGroup] = {}
        self.register_outputs({})

    # --- the topic ------------------------------------------------------------------------------------

    def alarm_topic(self) -> aws.sns.Topic:
        """The stack's one alarm topic, made when the first alarm needs it."""
        if self._topic is None:
            self._topic = self._make_topic()
        return self._topic

    def _make_topic(self) -> aws.sns.Topic:
        """Formerly `backups-alarms` under the backups component: aliased, so deployed stacks keep theirs."""
        name = self._name
        backups = pulumi.create_urn("backups", "berth:backups:Backups")
        topic = aws.sns.Topic(f"{name}-alarms", kms_master_key_id="alias/aws/sns",
                              opts=pulumi.ResourceOptions(
                                  parent=self, aliases=[pulumi.Alias(name="backups-alarms", parent=backups)]))
        email = self._alarm_email
        if email:
            aws.sns.TopicSubscription(f"{name}-alarm-email", topic=topic.arn, protocol="email", endpoint=email,
                                      opts=pulumi.ResourceOptions(parent=self, aliases=[
                                          pulumi.Alias(name="backups-alarm-email", parent=backups)]))
        return topic

    def _alarm(self, key: str, description: str, **args: Any) -> aws.cloudwatch.MetricAlarm:
        topic = self.alarm_topic()
        stack = self._stack
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{key}", name=f"berth-{stack}-{key}", alarm_description=f"berth {stack}: {description}",
            alarm_actions=[topic.arn], ok_actions=[topic.arn], opts=pulumi.ResourceOptions(parent=self), **args)

    # --- the EC2 host ---------------------------------------------------------------------------------

    def watch_host(self, host: WatchedHost, watch: HostWatch) -> None:
        """Log groups and the host role's rights to them (every EC2 stack); alarms where they are on."""
        owners = sorted({w.service.split("/", 1)[0] for w in watch.intended})
        for owner in owners:
            self.log_groups[owner] = aws.cloudwatch.LogGroup(
                f"{self._name}-{owner}-logs", name=conventions.log_group(self._stack, owner),
                retention_in_days=watch.log_retention_days,
                opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(self._policy)))
        self._access_log_metrics()
        self._host_policy(host)
        self._install_reporter(host, watch.data_root)
        if self.alarms_on:
            self._host_alarms()
            self._service_alarms(watch.intended)
            self._app_alarms(watch.hostnames)

    def _host_policy(self, host: WatchedHost) -> None:
        region = aws.get_region_output().region
        account = aws.get_caller_identity_output().account_id
        groups = pulumi.Output.concat("arn:aws:logs:", region, ":", account, ":log-group:",
                                      conventions.log_group(self._stack, "*"))
        aws.iam.RolePolicy(f"{self._name}-host", role=host.role.name, policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "ShipLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": [groups, pulumi.Output.concat(groups, ":log-stream:*")]},
                {"Sid": "ReportHost", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                 "Condition": {"StringEquals": {"cloudwatch:namespace": reporter.NAMESPACE}}},
            ]}), opts=pulumi.ResourceOptions(parent=self))

    def _install_reporter(self, host: WatchedHost, data_root: str) -> None:
        """The reporter cloud-init installed, installed again by every deploy that changes it: prod ignores
        user-data changes (render/report_host.py)."""
        stack = self._stack
        script = aws.get_region_output().region.apply(
            lambda region: report_host.install_script(stack, region, data_root))
        host.run(f"{self._name}-report-install", "sudo -n bash -s", stdin=script,
                 triggers=[script.apply(lambda s: hashlib.sha256(s.encode()).hexdigest())], parent=self)

    def _access_log_metrics(self) -> None:
        """Requests and 5xx answers per host name, counted from the proxy's JSON access log."""
        group = self.log_groups[conventions.PROXY_SERVICE]
        for metric, pattern in ((REQUESTS, f"{{ {ACCESS} }}"), (ERRORS, f"{{ {ACCESS} && $.status >= 500 }}")):
            aws.cloudwatch.LogMetricFilter(
                f"{self._name}-proxy-{metric.lower()}", log_group_name=group.name, pattern=pattern,
                metric_transformation={"name": metric, "namespace": PROXY_NAMESPACE, "value": "1", "unit": "Count",
                                       "dimensions": {"Host": "$.request.host"}},
                opts=pulumi.ResourceOptions(parent=self))

    def _host_alarms(self) -> None:
        stack = {"Stack": self._stack}
        for percent in DISK_THRESHOLDS:
            self._alarm(
                f"data-volume-{percent}",
                f"the data volume is more than {percent}% full. Runbook: `{STATUS}` shows its use; free space "
                "(`docker image prune`, volumes of removed apps, old backups in /srv/berth/backup-work) or raise "
                "berth:host.dataVolumeGiB and `pulumi up` (EBS grows online)",
                namespace=reporter.NAMESPACE, metric_name=reporter.DATA_VOLUME_USED, dimensions=stack,
                statistic="Maximum", period=300, evaluation_periods=1, threshold=percent,
                comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching")
        self._alarm(
            "memory", f"the host's memory is more than {MEMORY_PERCENT}% used for 5 minutes. Runbook: `{STATUS}` "
            "shows each container's use against its limit; lower a memoryMb or move to a larger instanceType",
            namespace=reporter.NAMESPACE, metric_name=reporter.MEMORY_USED, dimensions=stack, statistic="Minimum",
            period=60, evaluation_periods=5, threshold=MEMORY_PERCENT, comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching")
        self._alarm(
            "silent", "the host has not reported for 10 minutes: it is down, or its reporter is. Runbook: "
            "`aws ssm start-session` (stack output ssmCommand), then `systemctl status berth-report` and "
            "`journalctl -u berth-report`; the EC2 console shows the status checks",
            namespace=reporter.NAMESPACE, metric_name=reporter.REPORTS, dimensions=stack, statistic="Sum",
            period=300, evaluation_periods=2, threshold=1, comparison_operator="LessThanThreshold",
            treat_missing_data="breaching")

    def _service_alarms(self, intended: Sequence[intent.Intended]) -> None:
        for w in intended:
            key, dims = w.service.replace("/", "-"), {"Stack": self._stack, "Service": w.service}
            logs = f"`scripts/logs {w.app}`" if w.app else f"`docker logs {key}` on the host"
            self._alarm(
                f"{key}-down", f"a container of {w.service} has been stopped or unhealthy for 3 minutes. Runbook: "
                f"`{STATUS}` shows its state and last health probe, {logs} its logs; `pulumi up` starts a removed one",
                namespace=reporter.NAMESPACE, metric_name=reporter.UNHEALTHY, dimensions=dims, statistic="Minimum",
                period=60, evaluation_periods=3, threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching")
            self._alarm(
                f"{key}-restarts", f"{w.service} restarted {RESTARTS_IN_15_MIN} times or more in 15 minutes (a crash "
                "loop, or the OOM killer). Runbook: `scripts/logs` around the restarts; `scripts/status` shows "
                "'killed for memory (OOM)' when its memoryMb is too small",
                namespace=reporter.NAMESPACE, metric_name=reporter.RESTARTS, dimensions=dims, statistic="Sum",
                period=900, evaluation_periods=1, threshold=RESTARTS_IN_15_MIN,
                comparison_operator="GreaterThanOrEqualToThreshold", treat_missing_data="notBreaching")

    def _app_alarms(self, hostnames: Mapping[str, str]) -> None:
        for app, host in hostnames.items():
            self._alarm(
                f"{app}-5xx", f"more than {ERROR_RATE_PERCENT}% of {host}'s requests failed with 5xx for 10 "
                f"minutes. Runbook: `scripts/logs {app} --since 15m` (the proxy's lines show which paths), "
                f"`{STATUS}` shows which service is down",
                **rate_alarm_math(PROXY_NAMESPACE, ERRORS, REQUESTS, {"Host": host}),
                threshold=ERROR_RATE_PERCENT, comparison_operator="GreaterThanThreshold", evaluation_periods=2,
                treat_missing_data="notBreaching")
            self._alarm(
                f"{app}-certificate", f"{host}'s certificate expires in less than {CERTIFICATE_DAYS} days: Caddy "
                "renews 30 days ahead, so renewals are failing. Runbook: `docker logs proxy` on the host (ACME "
                "errors), check the host name's DNS record points at the host and port 80 is open",
                namespace=reporter.NAMESPACE, metric_name=reporter.CERTIFICATE_DAYS,
                dimensions={"Stack": self._stack, "Host": host}, statistic="Minimum", period=3600,
                evaluation_periods=1, threshold=CERTIFICATE_DAYS, comparison_operator="LessThanThreshold",
                treat_missing_data="notBreaching")

    # --- ECS ------------------------------------------------------------------------------------------

    def watch_ecs(self, cluster_name: pulumi.Input[str], load_balancer: aws.lb.LoadBalancer, apps: dict) -> None:
        """Where alarms are on: each service's running tasks, each target group's health and 5xx rate."""
        if not self.alarms_on:
            return
        for app_name, app in apps.items():
            for svc_name, service in app.services.items():
                self._alarm(
                    f"{app_name}-{svc_name}-tasks", f"{app_name}/{svc_name} has run fewer tasks than desired for 5 "
                    f"minutes. Runbook: `aws ecs describe-services` shows its events (a task failing its health "
                    f"check, no capacity); `aws logs tail /berth/{self._stack}/{app_name}`",
                    **shortfall_math(cluster_name, service.name), threshold=1,
                    comparison_operator="GreaterThanOrEqualToThreshold", evaluation_periods=5,
                    treat_missing_data="notBreaching")
            for key, group in app.target_groups.items():
                dims = {"TargetGroup": group.arn_suffix, "LoadBalancer": load_balancer.arn_suffix}
                self._alarm(
                    f"{app_name}-{key}-unhealthy-targets", f"{app_name}/{key} has had unhealthy targets for 3 minutes. "
                    "Runbook: the target group's health check reasons in the EC2 console, the task's logs in "
                    f"/berth/{self._stack}/{app_name}",
                    namespace="AWS/ApplicationELB", metric_name="UnHealthyHostCount", dimensions=dims,
                    statistic="Maximum", period=60, evaluation_periods=3, threshold=1,
                    comparison_operator="GreaterThanOrEqualToThreshold", treat_missing_data="notBreaching")
                self._alarm(
                    f"{app_name}-{key}-5xx", f"more than {ERROR_RATE_PERCENT}% of {app_name}/{key}'s requests failed "
                    f"with 5xx for 10 minutes. Runbook: its logs in /berth/{self._stack}/{app_name}",
                    **rate_alarm_math("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "RequestCount", dims),
                    threshold=ERROR_RATE_PERCENT, comparison_operator="GreaterThanThreshold", evaluation_periods=2,
                    treat_missing_data="notBreaching")
        self._alarm(
            "load-balancer-5xx", "the load balancer itself answered 5xx (no healthy target, or a target that "
            "closed the connection) more than 20 times in 5 minutes. Runbook: the target groups' health",
            namespace="AWS/ApplicationELB", metric_name="HTTPCode_ELB_5XX_Count",
            dimensions={"LoadBalancer": load_balancer.arn_suffix}, statistic="Sum", period=300, evaluation_periods=1,
            threshold=20, comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching")


def rate_alarm_math(namespace: str, errors: str, requests: str, dimensions: dict) -> dict:
    """A 5-minute error rate in percent, 0 below `MIN_REQUESTS` requests (metric math: IF, FILL)."""
    def metric(key: str, name: str) -> dict:
        return {"id": key, "return_data": False, "metric": {
            "namespace": namespace, "metric_name": name, "dimensions": dimensions, "period": 300, "stat": "Sum"}}
    return {"metric_queries": [
        metric("errors", errors), metric("requests", requests),
        {"id": "rate", "label": "5xx %", "return_data": True,
         "expression": f"IF(FILL(requests, 0) >= {MIN_REQUESTS}, 100 * FILL(errors, 0) / requests, 0)"}]}


def shortfall_math(cluster_name: pulumi.Input[str], service_name: pulumi.Input[str]) -> dict:
    """Desired less running tasks (Container Insights, on for berth's clusters: components/ecs/cluster.py)."""
    dims = {"ClusterName": cluster_name, "ServiceName": service_name}

    def metric(key: str, name: str) -> dict:
        return {"id": key, "return_data": False, "metric": {
            "namespace": "ECS/ContainerInsights", "metric_name": name, "dimensions": dims, "period": 60,
            "stat": "Average"}}
    return {"metric_queries": [metric("desired", "DesiredTaskCount"), metric("running", "RunningTaskCount"),
                               {"id": "shortfall", "label": "tasks missing", "return_data": True,
                                "expression": "desired - running"}]}

