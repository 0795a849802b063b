"""scripts/status and scripts/logs on the deployed CHM server (dev, on the engine): what an operator
sees when everything runs as asked, and when a container was killed, a service turned unhealthy, a
container runs another image, or a route stopped answering.

Collected in tests/engine/test_stacks.py (`TestOperatingChm`), so the CHM stack that file deploys is
used as it is, not applied again. Each test leaves the stack serving as it found it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from config import conventions
from offline.mockrun import reveal
from operate import intent, reporter
from render import report_host
from tests.support.docker_inputs import CONTAINER
from tests.support.engine_stacks import EngineStack
from tests.support.readiness import wait_docker_calls_healthy
from tests.support.stacks import PROD_SECRETS, REPO, run_stack, stack_config
from tests.support.moto_server import MotoServer

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

BACKEND, FRONTEND = "chatbot/backend", "chatbot/frontend"


def script(engine, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "scripts" / argv[0]), *argv[1:]], check=False, cwd=REPO, env=engine.env,
                          capture_output=True, text=True, timeout=timeout)


def named_as_deployed(stack: EngineStack) -> None:
    """Give each running image the name a real deploy leaves it under (the stand-ins are loaded under
    their own names): `postgres:17.6-alpine` pulled, `berth-dev/chatbot-backend:dev` built."""
    wanted = {w.service: w.image.reference for w in intent.intended(stack.deployment)}
    for resource in stack.applied.run.of_type(CONTAINER):
        if resource.name not in stack.applied.containers:
            continue
        labels = {lb["label"]: lb["value"] for lb in reveal(resource.inputs).get("labels") or []}
        reference = wanted[labels[conventions.SERVICE_LABEL]]
        image = stack.client.api.inspect_container(stack.applied.containers[resource.name])["Image"]
        repository, tag = reference.rsplit(":", 1)
        stack.client.api.tag(image, repository, tag)


def status(engine) -> tuple[int, dict, str]:
    """Exit code, the JSON report, and the text report."""
    as_json = script(engine, "status", "--format", "json")
    text = script(engine, "status")
    assert as_json.returncode in (0, 1) and text.returncode in (0, 1), (as_json.stderr, text.stderr)
    return as_json.returncode, json.loads(as_json.stdout), text.stdout


def service(report: dict, label: str) -> dict:
    return next(s for s in report["services"] if s["service"] == label)


def server_processes(stack: EngineStack, name: str) -> list[int]:
    """The processes under the container's init (tini): the service's server, not PID 1."""
    init = stack.client.api.inspect_container(stack.applied.containers[name])["State"]["Pid"]
    found, todo = [], [init]
    while todo:
        pid = todo.pop()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        found += [int(c) for c in children]
        todo += [int(c) for c in children]
    return found


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not {what} after {timeout_s}s"
        time.sleep(1)


def health(stack: EngineStack, name: str) -> str:
    state = stack.client.api.inspect_container(stack.applied.containers[name])["State"]
    return (state.get("Health") or {}).get("Status", state["Status"])


class OperatingChm:
    """Mixed into test_stacks.py's `TestOperatingChm` (parametrized there with the chm-dev stack)."""

    def test_status_shows_everything_as_asked(self, stack, engine):
        named_as_deployed(stack)
        wait_docker_calls_healthy(stack.client, dict(stack.applied.containers), timeout_s=60)  # its next probe
        code, report, text = status(engine)
        assert code == 0 and report["ok"], report["problems"]
        wanted = intent.intended(stack.deployment)
        assert [s["service"] for s in report["services"]] == [w.service for w in wanted]
        for w in wanted:
            (container,) = service(report, w.service)["containers"]
            assert container["running"] and container["health"] == "healthy", container
            assert container["version"] == w.image.version
            assert container["memoryLimitBytes"] == w.memory_mb << 20 and container["memoryBytes"] > 0
            assert w.service in text and container["name"] in text
        routes = {(r["host"], r["path"]): r["status"] for r in report["routes"]}
        assert set(routes) == {(r.host, r.path) for r in intent.routes(stack.deployment)}
        assert all(s == 200 for s in routes.values()), routes
        assert 0 < report["host"]["diskUsedPercent"] < 100 and "everything runs as the stack file asks" in text

    def test_status_runs_the_healthcheck_docker_has_not_run_yet(self, stack, engine):
        """Right after a deploy or a restart Docker says `starting` until its first probe, one interval away
        (here an hour): status runs each such container's own healthcheck in it, as Docker would."""
        named_as_deployed(stack)
        hour_ns = 3600 * 10**9
        checks = {"chatbot-frontend-passes": ["CMD", "true"],
                  "chatbot-frontend-fails": ["CMD-SHELL", "echo refused >&2; exit 3"]}
        started = [stack.client.containers.run(
            stack.python_image, ["sleep", "600"], detach=True, name=name,
            healthcheck={"test": test, "interval": hour_ns, "start_period": hour_ns},
            labels={conventions.SERVICE_LABEL: FRONTEND, conventions.APP_LABEL: "chatbot"})
            for name, test in checks.items()]
        try:
            _, report, text = status(engine)
            found = {c["name"]: c for c in service(report, FRONTEND)["containers"]}
            assert found["chatbot-frontend-passes"]["health"] == found["chatbot-frontend-fails"]["health"] == "starting"
            assert found["chatbot-frontend-passes"]["checkedNow"]["exitCode"] == 0
            assert found["chatbot-frontend-fails"]["checkedNow"] == {"exitCode": 3, "output": "refused"}
            problems = service(report, FRONTEND)["problems"]
            assert ("chatbot-frontend-fails is not healthy yet: Docker has not probed it yet, and its healthcheck "
                    "fails when run now (exit 3): refused") in problems
            assert not any(p.startswith("chatbot-frontend-passes is not healthy") for p in problems), problems
            assert re.search(r"chatbot-frontend-passes +ready ", text), text
        finally:
            for container in started:
                container.remove(force=True)

    def test_a_killed_container_shows_its_restart(self, stack, engine):
        named_as_deployed(stack)
        (backend,) = stack.containers_of("chatbot", "backend")
        before = service(status(engine)[1], BACKEND)["containers"][0]["restarts"]
        os.kill(stack.client.api.inspect_container(stack.applied.containers[backend])["State"]["Pid"], signal.SIGKILL)
        wait_for(lambda: stack.client.api.inspect_container(stack.applied.containers[backend])["RestartCount"] > before,
                 30, "restarted")
        wait_for(lambda: health(stack, backend) == "healthy", 120, "healthy again")
        _, report, text = status(engine)
        (container,) = service(report, BACKEND)["containers"]
        assert container["restarts"] == before + 1 and container["uptimeSeconds"] < 120
        assert f"restarts {before + 1}" in text

    def test_an_unhealthy_service_is_shown_with_its_last_probe_and_fails_the_status(self, stack, engine):
        named_as_deployed(stack)
        (frontend,) = stack.containers_of("chatbot", "frontend")
        stopped = server_processes(stack, frontend)
        for pid in stopped:  # the server hangs: its probes time out, the container stays up
            os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: health(stack, frontend) == "unhealthy", 180, "unhealthy")
            code, report, text = status(engine)
            assert code == 1 and not report["ok"]
            problems = service(report, FRONTEND)["problems"]
            assert any("is unhealthy" in p and "last probe exit" in p for p in problems), problems
            assert service(report, FRONTEND)["containers"][0]["lastProbe"]["output"]
            assert "NOT AS ASKED" in text and "is unhealthy" in text
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        wait_for(lambda: health(stack, frontend) == "healthy", 120, "healthy again")
        assert status(engine)[0] == 0

    def test_a_container_running_another_image_is_version_drift(self, stack, engine):
        named_as_deployed(stack)
        other = stack.client.containers.run(
            stack.python_image, ["sleep", "600"], detach=True, name="chatbot-frontend-by-hand",
            labels={conventions.SERVICE_LABEL: FRONTEND, conventions.APP_LABEL: "chatbot"})
        try:
            code, report, text = status(engine)
            assert code == 1
            problems = service(report, FRONTEND)["problems"]
            assert any(p.startswith("chatbot-frontend-by-hand runs ") and "berth-dev/chatbot-frontend:dev" in p
                       for p in problems), problems
            assert any("2 containers for 1 replica" in p for p in problems), problems
            assert "chatbot-frontend-by-hand" in text
        finally:
            other.remove(force=True)
        assert status(engine)[0] == 0

    def test_a_route_that_stops_answering_is_shown(self, stack, engine):
        named_as_deployed(stack)
        (frontend,) = stack.containers_of("chatbot", "frontend")
        container = stack.applied.container(frontend)
        container.stop(timeout=10)
        try:
            code, report, _ = status(engine)
            assert code == 1
            route = next(r for r in report["routes"] if r["host"] == "chatbot.localhost" and r["path"] == "/")
            assert route["status"] >= 500
            assert any(p.startswith("route chatbot.localhost/ answers 5") for p in report["problems"])
            assert any("is exited" in p for p in service(report, FRONTEND)["problems"])
            others = [r for r in report["routes"] if r is not route]
            assert all(r["status"] == 200 for r in others), others  # the other routes keep answering
        finally:
            container.start()
        wait_for(lambda: health(stack, frontend) == "healthy", 120, "healthy again")

    def test_logs_show_every_replica_labelled_and_the_apps_access_log(self, stack, engine):
        marker = f"/api/berth-logs-{time.monotonic_ns()}"
        assert stack.through.request(stack.url(stack.deployment.apps["chatbot"], marker)).status == 200
        assert stack.through.request(stack.url(stack.deployment.apps["mediahub"], marker)).status == 200
        done = script(engine, "logs", "chatbot")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        chatbot = stack.deployment.apps["chatbot"]
        expected = {*(s for s, svc in chatbot.services.items() if svc.kind == "server"), "proxy"}
        assert {line.split(" ", 2)[1] for line in lines} == expected | ({"redis"} if chatbot.uses_shared("redis") else set())
        access = [line for line in lines if " proxy " in line and marker in line]
        assert len(access) == 1 and " 200 GET chatbot.localhost" in access[0], access
        backend = [line for line in lines if line.split(" ", 2)[1] == "backend" and marker.removeprefix("/api") in line]
        assert backend, "the backend's own line for the request"
        assert not any("mediahub.localhost" in line for line in lines), "only the app's own host names"
        stamps = [line.split(" ", 1)[0] for line in lines]
        assert stamps == sorted(stamps)

        recent = script(engine, "logs", "chatbot", "backend", "--since", "2m", "--no-proxy")
        assert recent.returncode == 0 and marker.removeprefix("/api") in recent.stdout
        assert {line.split(" ", 2)[1] for line in recent.stdout.splitlines()} == {"backend"}
        bad = script(engine, "logs", "chatbot", "nope")
        assert bad.returncode == 2 and "has no service 'nope'" in bad.stderr and "backend" in bad.stderr

    def test_logs_follow_new_lines(self, stack, engine):
        follower = subprocess.Popen([str(REPO / "scripts" / "logs"), "chatbot", "--follow", "--since", "1s"],
                                    cwd=REPO, env=engine.env, stdout=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in follower.stdout], daemon=True).start()
        try:
            time.sleep(3)
            marker = f"/api/berth-follow-{time.monotonic_ns()}"
            assert stack.through.request(stack.url(stack.deployment.apps["chatbot"], marker)).status == 200
            deadline = time.monotonic() + 30
            while True:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                if marker in line and " proxy " in line:
                    break
        finally:
            follower.terminate()
            follower.wait(timeout=30)

    def test_the_reporter_moves_the_alarms_metrics_when_a_volume_fills_and_a_container_stops(self, stack, engine,
                                                                                            tmp_path):
        """operate/reporter.py as the host's timer runs it, on this engine, to CloudWatch on loopback (moto),
        judged by prod's own alarm definitions: quiet while all is well; the data volume filled past 90% and
        a container stopped move exactly the alarms that should fire. The containers' logs arrive too."""
        named_as_deployed(stack)
        prod = run_stack(tmp_path / "prod", "prod", stack_config("prod", secrets=PROD_SECRETS))
        alarms = {a.name.removeprefix("monitoring-"): a.values for a in prod.of_type(ALARM)
                  if a.name.startswith("monitoring-") and a.values.get("namespace") == reporter.NAMESPACE}
        data = tmp_path / "data"  # the host's data volume: a small file system of its own
        data.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(data)], check=True)
        server = MotoServer()
        (frontend,) = stack.containers_of("chatbot", "frontend")
        try:
            env = {**engine.env, "AWS_ENDPOINT_URL": server.url,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
            logs = boto3.client("logs", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"],
                                aws_access_key_id="testing", aws_secret_access_key="testing")
            cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"],
                                      aws_access_key_id="testing", aws_secret_access_key="testing")
            def fresh_cloudwatch() -> None:
                """CloudWatch as `pulumi up` leaves it for prod: its log groups, no datapoints. Each report
                gets its own (moto 5.2.5 moto_api/_internal/responses.py: POST /moto-api/reset empties every
                service), so the two runs' datapoints never share CloudWatch's one-minute period."""
                urllib.request.urlopen(urllib.request.Request(f"{env['AWS_ENDPOINT_URL']}/moto-api/reset",
                                                              method="POST"), timeout=10).close()
                for group in prod.of_type(LOG_GROUP):  # the groups `pulumi up` makes for prod
                    logs.create_log_group(logGroupName=group.values["name"])

            (tmp_path / "report.json").write_text(json.dumps(
                {**report_host.config("prod", "us-east-1", str(data)), "backupLedger": str(tmp_path / "none")}))

            def report() -> dict[str, bool]:
                done = subprocess.run([sys.executable, reporter.__file__, "--config", str(tmp_path / "report.json"),
                                       "--state", str(tmp_path / "state.json")], env=env, capture_output=True,
                                      text=True, timeout=120, check=False)
                assert done.returncode == 0 and done.stdout.startswith("berth-report: "), done.stderr
                return {name: breaching(a, cloudwatch) for name, a in alarms.items() if breaching(a, cloudwatch) is not None}

            fresh_cloudwatch()
            calm = report()
            assert calm and not any(calm.values()), calm
            lines = [e["message"] for s in logs.describe_log_streams(logGroupName="/berth/prod/chatbot")["logStreams"]
                     for e in logs.get_log_events(logGroupName="/berth/prod/chatbot", logStreamName=s["logStreamName"],
                                                  startFromHead=True)["events"]]
            assert any("GET " in line for line in lines), "the backend's request lines"
            proxy = logs.describe_log_streams(logGroupName="/berth/prod/proxy")["logStreams"]
            assert proxy and proxy[0]["logStreamName"].startswith("proxy/proxy/")
            (data / "fill").write_bytes(b"\0" * (15 << 20))
            stack.applied.container(frontend).stop(timeout=10)
            fresh_cloudwatch()
            fired = {name for name, on in report().items() if on}
            assert fired == {"data-volume-80", "data-volume-90", "chatbot-frontend-down"}, fired
        finally:
            stack.applied.container(frontend).start()
            server.stop()
            subprocess.run(["umount", str(data)], check=False)
        wait_for(lambda: health(stack, frontend) == "healthy", 120, "healthy again")


def breaching(alarm: dict, cloudwatch) -> bool | None:
    """Whether an alarm's latest datapoint is past its threshold (None: no datapoint yet)."""
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=alarm["namespace"], MetricName=alarm["metricName"],
        Dimensions=[{"Name": k, "Value": v} for k, v in alarm["dimensions"].items()],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=[alarm["statistic"]])["Datapoints"]
    if not points:
        return None
    value = max(points, key=lambda p: p["Timestamp"])[alarm["statistic"]]
    return {"GreaterThanThreshold": value > alarm["threshold"],
            "GreaterThanOrEqualToThreshold": value >= alarm["threshold"],
            "LessThanThreshold": value < alarm["threshold"]}[alarm["comparisonOperator"]]
