"""The host's reporter (operate/reporter.py) against a CloudWatch and CloudWatch Logs API on loopback
(moto's server), with Docker's answers and json-file logs as a host has them: what it reports per
host, service and certificate, each log line sent once across runs and rotations, lines kept back
while their group does not exist, containers a backup stopped not counted as down. On a real engine
with a deployed stack: tests/engine/operating.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from config import conventions
from operate import reporter
from tests.support.stacks import require_tool
from tests.support.moto_server import MotoServer


FAKE_DOCKER = r'''#!/usr/bin/env python3
import json, os, sys
state = json.load(open(os.environ["FAKE_DOCKER_STATE"]))
args = sys.argv[1:]
if args[:2] == ["ps", "-aq"]:
    print("\n".join(c["Id"] for c in state["containers"]))
elif args[0] == "inspect":
    print(json.dumps([c for c in state["containers"] if c["Id"] in args[1:]]))
elif args[:2] == ["volume", "inspect"]:
    if not state.get("proxyData"):
        sys.exit("Error: No such volume")
    print(state["proxyData"])
else:
    sys.exit(f"unexpected docker call: {args}")
'''


@pytest.fixture(scope="module")
def aws():
    """CloudWatch and CloudWatch Logs on loopback; the clients the reporter is given."""
    server = MotoServer()
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1",
            "endpoint_url": server.url}
    yield boto3.client("cloudwatch", **keys), boto3.client("logs", **keys)
    server.stop()


class Host:
    """A host as the reporter sees it: a data root, Docker's answers (a stand-in CLI), container logs."""

    def __init__(self, root: Path, monkeypatch, stack: str):
        self.root, self.containers, self.stack = root, [], stack
        (root / "bin").mkdir()
        (root / "bin" / "docker").write_text(FAKE_DOCKER.replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1))
        (root / "bin" / "docker").chmod(0o755)
        (root / "data").mkdir()
        monkeypatch.setenv("PATH", f"{root / 'bin'}:{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_DOCKER_STATE", str(root / "docker.json"))
        self.config = {"stack": stack, "dataRoot": str(root / "data"), "logGroupPrefix": f"/berth/{stack}/",
                       "backupLedger": str(root / "data" / "ledger.json")}
        self.proxy_data = None
        self.save()

    def add(self, name: str, service: str, running: bool = True, health: str | None = "healthy") -> dict:
        log = self.root / "containers" / name / f"{name}-json.log"
        log.parent.mkdir(parents=True)
        log.touch()
        container = {"Id": f"{name:0<64}"[:64], "Name": f"/{name}", "RestartCount": 0, "LogPath": str(log),
                     "Config": {"Labels": {"berth.service": service}},
                     "State": {"Running": running, "Restarting": False, "Status": "running" if running else "exited",
                               **({"Health": {"Status": health}} if health else {})}}
        self.containers.append(container)
        self.save()
        return container

    def save(self) -> None:
        (self.root / "docker.json").write_text(json.dumps({"containers": self.containers, "proxyData": self.proxy_data}))

    def write(self, container: dict, *lines: str, at: datetime | None = None) -> None:
        stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Docker's nanoseconds
        with open(container["LogPath"], "a", encoding="utf-8") as f:
            f.writelines(json.dumps({"log": line + "\n", "stream": "stdout", "time": stamp}) + "\n" for line in lines)

    def rotate(self, container: dict) -> None:
        """As json-file does past max-size: `.1` becomes `.2`, the file becomes `.1`, a new one starts."""
        path = container["LogPath"]
        for n in range(4, 0, -1):
            if os.path.exists(f"{path}.{n}"):
                os.rename(f"{path}.{n}", f"{path}.{n + 1}")
        os.rename(path, f"{path}.1")
        Path(path).touch()

    def report(self, aws) -> dict:
        return reporter.run(self.config, str(self.root / "state" / "state.json"), *aws)


def latest(aws, name: str, **dims: str) -> float | None:
    now = datetime.now(UTC)
    points = aws[0].get_metric_statistics(
        Namespace=reporter.NAMESPACE, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Maximum", "Sum"])["Datapoints"]
    return max(points, key=lambda p: p["Timestamp"])["Maximum"] if points else None


def messages(aws, group: str) -> list[str]:
    logs = aws[1]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    return [e["message"] for s in streams
            for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"]]


@pytest.fixture
def host(tmp_path, monkeypatch, aws, request):
    """A host of a stack of its own (metrics and groups of one test never meet another's)."""
    stack = f"t{abs(hash(request.node.name)) % 10**8}"
    for group in ("shop", "proxy"):
        aws[1].create_log_group(logGroupName=f"/berth/{stack}/{group}")
    return Host(tmp_path, monkeypatch, stack)


@pytest.mark.servers
def test_a_run_reports_the_host_each_service_and_each_certificate(host, aws, tmp_path):
    host.add("shop-api-1", "shop/api")
    host.add("shop-api-2", "shop/api", health="unhealthy")
    host.add("shop-worker", "shop/worker", running=False, health=None)
    cert_dir = tmp_path / "proxy" / "caddy" / "certificates" / "acme-v02.api.letsencrypt.org-directory" / "shop.example.com"
    cert_dir.mkdir(parents=True)
    subprocess.run([require_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(cert_dir / "shop.example.com.key"), "-out", str(cert_dir / "shop.example.com.crt"), "-days",
                    "10", "-subj", "/CN=shop.example.com"], check=True, capture_output=True)
    host.proxy_data = str(tmp_path / "proxy")
    host.save()

    done = host.report(aws)
    assert done["containers"] == 3
    assert latest(aws, reporter.UNHEALTHY, Stack=host.stack, Service="shop/api") == 1
    assert latest(aws, reporter.UNHEALTHY, Stack=host.stack, Service="shop/worker") == 1
    assert latest(aws, reporter.RESTARTS, Stack=host.stack, Service="shop/api") == 0
    fs = os.statvfs(host.config["dataRoot"])
    used = 100 * (fs.f_blocks - fs.f_bfree) / (fs.f_blocks - fs.f_bfree + fs.f_bavail)
    assert abs(latest(aws, reporter.DATA_VOLUME_USED, Stack=host.stack) - used) < 1
    assert 0 < latest(aws, reporter.MEMORY_USED, Stack=host.stack) < 100
    assert latest(aws, reporter.REPORTS, Stack=host.stack) == 1
    assert 9.9 < latest(aws, reporter.CERTIFICATE_DAYS, Stack=host.stack, Host="shop.example.com") <= 10


@pytest.mark.servers
def test_restarts_are_counted_between_runs_and_a_backups_stops_are_not_downtime(host, aws):
    api = host.add("shop-api", "shop/api")
    worker = host.add("shop-worker", "shop/worker")
    host.report(aws)
    api["RestartCount"] = 2
    worker["State"].update(Running=False, Status="exited")
    host.save()
    Path(host.config["backupLedger"]).write_text(json.dumps([worker["Id"][:12]]))  # backup/jobs.py's ledger
    host.report(aws)
    assert latest(aws, reporter.RESTARTS, Stack=host.stack, Service="shop/api") == 2
    assert latest(aws, reporter.UNHEALTHY, Stack=host.stack, Service="shop/worker") == 0


@pytest.mark.servers
def test_each_log_line_is_shipped_once_across_runs_and_rotations(host, aws):
    api, proxy = host.add("shop-api", "shop/api"), host.add("proxy", "proxy")
    host.write(api, "started", "GET /orders 200")
    host.write(proxy, json.dumps({"logger": "http.log.access.log0", "status": 200}))
    assert host.report(aws)["logEvents"] == 3
    host.write(api, "GET /orders/1 200")
    host.rotate(api)  # the line above is now in .1, unread
    host.write(api, "GET /orders/2 500")
    host.rotate(api)
    host.write(api, "after two rotations")
    with open(api["LogPath"], "a", encoding="utf-8") as f:
        f.write('{"log":"half a line')  # being written: read next time, never twice
    assert host.report(aws)["logEvents"] == 3
    assert messages(aws, f"/berth/{host.stack}/shop") == ["started", "GET /orders 200", "GET /orders/1 200",
                                                     "GET /orders/2 500", "after two rotations"]
    assert json.loads(messages(aws, f"/berth/{host.stack}/proxy")[0])["status"] == 200
    (stream,) = aws[1].describe_log_streams(logGroupName=f"/berth/{host.stack}/shop")["logStreams"]
    assert stream["logStreamName"] == f"shop/api/shop-api/{api['Id'][:12]}"


@pytest.mark.servers
def test_lines_wait_while_their_group_does_not_exist(host, aws):
    worker = host.add("shop-worker", "billing/worker")  # an app deployed after the host's last report
    host.write(worker, "first")
    assert host.report(aws)["logEvents"] == 0
    aws[1].create_log_group(logGroupName=f"/berth/{host.stack}/billing")
    try:
        host.write(worker, "second")
        assert host.report(aws)["logEvents"] == 2
        assert messages(aws, f"/berth/{host.stack}/billing") == ["first", "second"]
    finally:
        aws[1].delete_log_group(logGroupName=f"/berth/{host.stack}/billing")


def test_batches_keep_to_put_log_events_limits():
    start = 1_800_000_000_000
    events = [{"timestamp": start + i, "message": "x" * 1000} for i in range(2500)]
    events.append({"timestamp": start + 2 * reporter.DAY_MS, "message": "two days later"})
    batches = reporter.batches(events)
    assert sum(len(b) for b in batches) == len(events)
    for batch in batches:
        assert sum(len(e["message"]) + 26 for e in batch) <= reporter.BATCH_BYTES <= 1_048_576
        assert batch[-1]["timestamp"] - batch[0]["timestamp"] < reporter.DAY_MS
    assert batches[-1] == [events[-1]]


def test_the_reporter_runs_with_the_standard_library_and_boto3_alone():
    source = Path(reporter.__file__).read_text(encoding="utf-8")
    imported = {line.split()[1].split(".")[0] for line in source.splitlines()
                if line.strip().startswith(("import ", "from "))}
    assert imported <= {"__future__", "argparse", "base64", "boto3", "datetime", "glob", "json", "os", "subprocess",
                        "sys", "time", "typing"}


def test_the_reporter_watches_the_certificates_volume_the_proxy_creates():
    """The reporter runs on the host with the standard library only, so it names the volume itself."""
    assert reporter.PROXY_DATA_VOLUME == conventions.PROXY_DATA_VOLUME
