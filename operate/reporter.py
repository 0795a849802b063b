"""berth-report: the EC2 host's own report to CloudWatch, once a minute (a systemd timer).

- **Metrics** (namespace `berth/host`, dimension `Stack`): the data volume's use, the host's memory,
  per service (`Service`: the `berth.service` label) its containers not running or unhealthy and its
  restarts since the last run, per host name (`Host`) the days left on the proxy's certificate, and
  one `Reports` a run, so silence itself can alarm (components/monitoring.py holds the alarms).
- **Logs**: every labelled container's new log lines, read from Docker's own json-file logs (so
  `docker logs` keeps working and container start never waits on CloudWatch), to the group of its app
  (`/berth/<stack>/<app>`; the proxy's to `/berth/<stack>/proxy`, the shared Postgres's to
  `/berth/<stack>/shared`), one stream per container; where each file was read up to is kept in the
  state file, so a run sends each line once, across rotations.

Standard library plus boto3 (Ubuntu's python3-boto3), like the backup tool, one file: cloud-init
writes it (render/report_host.py). It prints counts, never a log line or a container's environment.
A container a backup run stopped on purpose (its ledger, backup/jobs.py) is not counted as down.

    python3 reporter.py [--config /etc/berth/report.json] [--state /var/lib/berth-report/state.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

NAMESPACE = "berth/host"
DATA_VOLUME_USED = "DataVolumeUsedPercent"
MEMORY_USED = "MemoryUsedPercent"
UNHEALTHY = "UnhealthyContainers"
RESTARTS = "ContainerRestarts"
CERTIFICATE_DAYS = "CertificateDaysLeft"
REPORTS = "Reports"
SERVICE_LABEL = "berth.service"  # config/conventions.py
PROXY_DATA_VOLUME = "berth_proxy_data"  # components/single_host/proxy.py: Caddy's /data, certificates included
BATCH_BYTES = 900_000  # PutLogEvents takes 1,048,576 bytes a call, 26 bytes of it per event
BATCH_EVENTS = 10_000
EVENT_BYTES = 200_000  # longer lines are cut (an event may hold 256 KiB)
DAY_MS = 86_400_000


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], check=False, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def labelled_containers() -> list[dict]:
    ids = docker("ps", "-aq", "--no-trunc", "--filter", f"label={SERVICE_LABEL}").split()
    return json.loads(docker("inspect", *ids)) if ids else []


# --- metrics ---------------------------------------------------------------------------------------------

def datum(name: str, value: float, unit: str, **dimensions: str) -> dict:
    return {"MetricName": name, "Value": value, "Unit": unit,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}


def host_metrics(stack: str, data_root: str) -> list[dict]:
    fs = os.statvfs(data_root)
    used = 100 * (fs.f_blocks - fs.f_bfree) / (fs.f_blocks - fs.f_bfree + fs.f_bavail)  # as df counts it
    with open("/proc/meminfo", encoding="ascii") as f:
        mem = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f)}
    return [datum(DATA_VOLUME_USED, round(used, 2), "Percent", Stack=stack),
            datum(MEMORY_USED, round(100 * (1 - mem["MemAvailable"] / mem["MemTotal"]), 2), "Percent", Stack=stack),
            datum(REPORTS, 1, "Count", Stack=stack)]


def stopped_by_backup(ledger: str | None) -> set[str]:
    """Containers a backup stopped on purpose (ids as `docker ps -q` prints them)."""
    try:
        with open(ledger or "", encoding="utf-8") as f:
            return set(json.load(f))
    except (OSError, ValueError):
        return set()


def container_metrics(stack: str, containers: list[dict], state: dict, on_purpose: set[str]) -> list[dict]:
    """Per service: containers down or unhealthy now, and restarts since the last run (0 on first sight)."""
    down: dict[str, int] = {}
    restarts: dict[str, int] = {}
    seen = {}
    for c in containers:
        service = c["Config"]["Labels"][SERVICE_LABEL]
        health = (c["State"].get("Health") or {}).get("Status")
        not_ok = not c["State"].get("Running") or c["State"].get("Restarting") or health == "unhealthy"
        down[service] = down.get(service, 0) + (1 if not_ok and c["Id"][:12] not in on_purpose else 0)
        count = c.get("RestartCount", 0)
        restarts[service] = restarts.get(service, 0) + max(0, count - state.get("restarts", {}).get(c["Id"], count))
        seen[c["Id"]] = count
    state["restarts"] = seen
    return [datum(UNHEALTHY, n, "Count", Stack=stack, Service=s) for s, n in sorted(down.items())] + \
           [datum(RESTARTS, n, "Count", Stack=stack, Service=s) for s, n in sorted(restarts.items())]


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    tag, length, i = data[i], data[i + 1], i + 2
    if length & 0x80:
        size = length & 0x7F
        length, i = int.from_bytes(data[i:i + size], "big"), i + size
    return tag, i, i + length


def not_after(der: bytes) -> datetime:
    """A certificate's notAfter (X.509 tbsCertificate: [version], serial, signature, issuer, validity)."""
    _, start, _ = _tlv(der, 0)
    _, i, end = _tlv(der, start)
    fields = []
    while i < end:
        fields.append(_tlv(der, i))
        i = fields[-1][2]
    _, validity, _ = fields[4 if fields[0][0] == 0xA0 else 3]
    _, _, before_end = _tlv(der, validity)
    tag, start, end = _tlv(der, before_end)
    stamp = datetime.strptime(der[start:end].decode("ascii"), "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ")
    return stamp.replace(tzinfo=UTC)


def certificate_metrics(stack: str, now: datetime) -> list[dict]:
    """Days left on each certificate Caddy keeps (the one it serves for that host name)."""
    import base64
    try:
        root = docker("volume", "inspect", "-f", "{{.Mountpoint}}", PROXY_DATA_VOLUME).strip()
    except RuntimeError:
        return []
    out = []
    for path in sorted(glob.glob(f"{root}/caddy/certificates/*/*/*.crt")):
        with open(path, encoding="ascii") as f:
            pem = f.read().split("-----END CERTIFICATE-----")[0].split("-----BEGIN CERTIFICATE-----")[-1]
        days = (not_after(base64.b64decode(pem)) - now).total_seconds() / 86400
        out.append(datum(CERTIFICATE_DAYS, round(days, 2), "None", Stack=stack,
                         Host=os.path.basename(path).removesuffix(".crt")))
    return out


# --- logs ------------------------------------------------------------------------------------------------

def log_group(prefix: str, service: str) -> str:
    """`chatbot/backend` -> `<prefix>chatbot`; `proxy` -> `<prefix>proxy`; `shared/postgres` -> `<prefix>shared`."""
    return prefix + service.split("/", 1)[0]


def stream_name(container: dict) -> str:
    service = container["Config"]["Labels"][SERVICE_LABEL]
    return f"{service}/{container['Name'].lstrip('/')}/{container['Id'][:12]}"


def new_records(log_path: str, mark: dict | None) -> tuple[list[dict], dict]:
    """json-file records written since `mark` ({inode, offset}), across rotations (`<log>.1` is the newest
    rotated file); returns them and the new mark. A container first seen is read from its current file."""
    files = [log_path] + [f"{log_path}.{n}" for n in range(1, 10)]
    present = [(p, os.stat(p).st_ino) for p in files if os.path.exists(p)]
    if not present or present[0][0] != log_path:
        return [], mark or {}
    order = [present[0]]
    if mark and mark.get("inode") != present[0][1]:  # rotated since: finish the file we were in, then newer ones
        rotated = [ino for _, ino in present].index(mark["inode"]) if mark["inode"] in [i for _, i in present] else 0
        order = list(reversed(present[:rotated + 1])) if rotated else [present[0]]
    records: list[dict] = []
    position = mark or {}
    for path, inode in order:
        offset = position["offset"] if position.get("inode") == inode else 0
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line being written is read next time
        records += [json.loads(line) for line in complete.splitlines() if line.strip()]
        position = {"inode": inode, "offset": offset + len(complete)}
    return records, position


def milliseconds(docker_time: str) -> int:
    """json-file's `time` (RFC 3339 in UTC, nanoseconds: `2026-11-22T03:30:00.123456789Z`) in epoch ms."""
    seconds, _, fraction = docker_time.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(seconds).replace(tzinfo=UTC)
    return int(stamp.timestamp()) * 1000 + int((fraction + "000")[:3])


def events_of(records: list[dict]) -> list[dict]:
    out = [{"timestamp": milliseconds(r["time"]), "message": r["log"].rstrip("\n")[:EVENT_BYTES] or " "}
           for r in records]
    return sorted(out, key=lambda e: e["timestamp"])


def batches(events: list[dict]) -> list[list[dict]]:
    """PutLogEvents' limits: bytes and count per call, and at most a day between first and last."""
    out: list[list[dict]] = [[]]
    size = 0
    for e in events:
        cost = len(e["message"].encode()) + 26
        batch = out[-1]
        if batch and (size + cost > BATCH_BYTES or len(batch) >= BATCH_EVENTS
                      or e["timestamp"] - batch[0]["timestamp"] >= DAY_MS):
            out.append([])
            size = 0
        out[-1].append(e)
        size += cost
    return [b for b in out if b]


def ship_logs(logs: Any, prefix: str, containers: list[dict], state: dict) -> int:  # logs: boto3's (untyped)
    """Send each container's new lines; where the group is missing (not deployed yet), try next run."""
    marks, sent = state.setdefault("logs", {}), 0
    for c in containers:
        path = c.get("LogPath")
        if not path:
            continue  # another log driver: nothing on disk to read
        records, mark = new_records(path, marks.get(c["Id"]))
        group, stream = log_group(prefix, c["Config"]["Labels"][SERVICE_LABEL]), stream_name(c)
        try:
            for batch in batches(events_of(records)):
                try:
                    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
                except logs.exceptions.ResourceNotFoundException:
                    logs.create_log_stream(logGroupName=group, logStreamName=stream)
                    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
                sent += len(batch)
        except logs.exceptions.ResourceNotFoundException:
            print(f"berth-report: no log group {group} (yet): its lines wait for the next run", file=sys.stderr)
            continue
        marks[c["Id"]] = mark
    for gone in set(marks) - {c["Id"] for c in containers}:
        del marks[gone]
    return sent


# --- a run -----------------------------------------------------------------------------------------------

def run(config: dict, state_path: str, cloudwatch: Any, logs: Any) -> dict:  # boto3's clients (untyped)
    try:
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    stack, now = config["stack"], datetime.now(UTC)
    containers = labelled_containers()
    metrics = host_metrics(stack, config["dataRoot"])
    metrics += container_metrics(stack, containers, state, stopped_by_backup(config.get("backupLedger")))
    metrics += certificate_metrics(stack, now)
    for i in range(0, len(metrics), 500):
        cloudwatch.put_metric_data(Namespace=config.get("namespace", NAMESPACE), MetricData=metrics[i:i + 500])
    sent = ship_logs(logs, config["logGroupPrefix"], containers, state)
    os.makedirs(os.path.dirname(state_path), exist_ok=True)
    with open(state_path + ".new", "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(state_path + ".new", state_path)
    return {"metrics": len(metrics), "logEvents": sent, "containers": len(containers)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="berth-report", description="Report this berth host to CloudWatch.")
    parser.add_argument("--config", default="/etc/berth/report.json")
    parser.add_argument("--state", default="/var/lib/berth-report/state.json")
    args = parser.parse_args(argv)
    import boto3  # Ubuntu's python3-boto3; the region from the config, else the instance's own
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    region = config.get("region") or None
    started = time.monotonic()
    done = run(config, args.state, boto3.client("cloudwatch", region_name=region),
               boto3.client("logs", region_name=region))
    print(f"berth-report: {done['metrics']} metrics, {done['logEvents']} log lines from {done['containers']} "
          f"containers in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
