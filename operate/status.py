"""`scripts/status [stack]`: what runs on the stack's host against what its stack file asks for.

`compare()` is pure: the intended services (operate/intent.py) and the host's answers (operate/host_facts.py,
which asked the intended routes too) in, one report out, whose `problems` list everything not as asked. The text is
for people, `--format json` for scripts; the exit code is 1 when anything is not as asked.

    python -m operate.status [STACK] [--config-file FILE] [--format text|json]
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from config.errors import ConfigError
from offline.plan import PlanError
from operate import intent, reporter
from operate.intent import Intended
from operate.stack_file import load_stack
from operate.reach import Reach, ReachError, reach_for
from operate.report import ECS_WHERE, Report, ServiceReport

DISK_WARN, DISK_FULL = 80, 90  # percent of the data volume used (the alarms' thresholds too)
MEMORY_FULL = 90  # percent of the host's memory in use
CERTIFICATE_DAYS = 14  # Caddy renews 30 days ahead: fewer left means renewals have been failing
MIB = 1 << 20


# --- images ---------------------------------------------------------------------------------------------

def _normal(reference: str) -> str:
    """Docker Hub's short names: `postgres:17` and `docker.io/library/postgres:17` are one image."""
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if reference.startswith(prefix):
            return reference[len(prefix):]
    return reference


@dataclass(frozen=True)
class Images:
    """The host's images: which names and digests each id is known by."""

    rows: tuple[dict, ...]

    def names(self, image_id: str) -> list[str]:
        return sorted({_normal(f"{r['repository']}:{r['tag']}") for r in self.rows
                       if r["id"] == image_id and r["tag"] not in ("<none>", "")})

    def id_of(self, image: intent.Image, ecr_digest: str | None) -> str | None:
        if image.in_ecr:  # pulled by digest: the repository's row with the digest ECR holds for the version
            repository = image.reference.rsplit(":", 1)[0]
            return next((r["id"] for r in self.rows if ecr_digest and r["digest"] == ecr_digest
                         and r["repository"].endswith("/" + repository)), None)
        wanted = _normal(image.reference)
        if "@" in wanted:
            name, digest = wanted.rsplit("@", 1)
            name = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
            return next((r["id"] for r in self.rows if r["digest"] == digest and _normal(r["repository"]) == name), None)
        return next((r["id"] for r in self.rows if _normal(f"{r['repository']}:{r['tag']}") == wanted), None)


# --- one service ------------------------------------------------------------------------------------------

def _uptime(started: str | None, now: datetime) -> float | None:
    if not started or started.startswith("0001-"):
        return None
    stamp = datetime.fromisoformat(started.rstrip("Z")[:26].rstrip(".")).replace(tzinfo=UTC)
    return max(0.0, (now - stamp).total_seconds())


def _container_problems(c: dict, want: Intended, intended_id: str | None, running_as: str) -> list[str]:
    name, problems = c["name"], []
    if not c["running"]:
        oom = ", killed for memory (OOM)" if c["oomKilled"] else ""
        problems.append(f"{name} is {c['status']} (exit {c['exitCode']}{oom})")
    elif c["status"] == "restarting":
        problems.append(f"{name} is restarting")
    if c["running"] and c["health"] == "unhealthy":
        probe = c["lastProbe"] or {}
        problems.append(f"{name} is unhealthy ({c['failingStreak']} failed probes); last probe exit "
                        f"{probe.get('exitCode')}: {probe.get('output') or '(no output)'}")
    elif c["running"] and c["health"] == "starting" and not _passes_now(c):
        problems.append(f"{name} is not healthy yet: Docker has not probed it yet, and {_check_now_failed(c)}")
    if intended_id is not None and c["imageId"] != intended_id:
        problems.append(f"{name} runs {running_as}, but the stack file asks for {want.image.reference}")
    limit = c["memoryLimitBytes"]
    if limit and limit != want.memory_mb * MIB:
        problems.append(f"{name} has a memory limit of {limit // MIB} MiB; the stack file asks for {want.memory_mb} MiB")
    return problems


def service_report(want: Intended, found: list[dict], images: Images, ecr_digest: str | None,
                   now: datetime) -> ServiceReport:
    report = ServiceReport(want.service, want.app, want.replicas, want.image.reference, want.image.version)
    intended_id = images.id_of(want.image, ecr_digest)
    if intended_id is None and not (want.image.in_ecr and ecr_digest is None):
        report.problems.append(f"the image the stack file asks for ({want.image.reference}) is not on the host: "
                               "deploy it (pulumi up)")
    for c in sorted(found, key=lambda c: c["name"]):
        names = images.names(c["imageId"])
        running_as = (want.image.version if c["imageId"] == intended_id
                      else ", ".join(names) or c["imageId"].removeprefix("sha256:")[:12])
        report.containers.append({**c, "version": running_as, "uptimeSeconds": _uptime(c["startedAt"], now)
                                  if c["running"] else None})
        report.problems += _container_problems(c, want, intended_id, running_as)
    running = sum(1 for c in found if c["running"])
    if not found:
        report.problems.append("no container: not deployed, or removed by hand (pulumi up creates it)")
    elif running < want.replicas:
        report.problems.append(f"{running} of {want.replicas} replicas running")
    if len(found) > want.replicas:
        report.problems.append(f"{len(found)} containers for {want.replicas} replica(s): "
                               "one started by hand, or left by a failed deploy")
    return report


# --- the whole stack ---------------------------------------------------------------------------------------

def _with_certificate_days(route: dict, now: datetime) -> dict:
    """The certificate the proxy served (DER, base64) as its days left."""
    der = route.get("certificate")
    days = round((reporter.not_after(base64.b64decode(der)) - now).total_seconds() / 86400, 1) if der else None
    return {**{k: v for k, v in route.items() if k != "certificate"}, "certificateDaysLeft": days}


def _route_problem(r: dict) -> str | None:
    where = f"route {r['host']}{r['path']}"
    if r["status"] is None:
        return f"{where} does not answer: {r['error']}"
    if r["status"] >= 500:
        return f"{where} answers {r['status']}: the proxy cannot reach the service, or it fails"
    days = r.get("certificateDaysLeft")
    if days is not None and days < CERTIFICATE_DAYS:
        return f"{where}: its certificate expires in {days} days (renewals are failing: docker logs proxy)"
    return None


def _host_problems(host: dict) -> list[str]:
    problems = []
    disk = host.get("disk")
    if disk:
        used = 100 * disk["usedBytes"] / disk["totalBytes"]
        host["diskUsedPercent"] = round(used, 1)
        if used > DISK_FULL:
            problems.append(f"the data volume ({disk['path']}) is {used:.0f}% full: free space before it fills "
                            "(docker image prune, old volumes; or a larger dataVolumeGiB)")
        elif used > DISK_WARN:
            problems.append(f"the data volume ({disk['path']}) is {used:.0f}% full")
    memory = host.get("memory")
    if memory:
        used = 100 * (1 - memory["availableBytes"] / memory["totalBytes"])
        host["memoryUsedPercent"] = round(used, 1)
        if used > MEMORY_FULL:
            problems.append(f"the host's memory is {used:.0f}% used: containers risk the OOM killer")
    return problems


def compare(stack: str, where: str, wanted: list[Intended], facts: dict,
            ecr_digests: dict[str, str] | None = None, now: datetime | None = None) -> Report:
    now = now or datetime.now(UTC)
    images = Images(tuple(facts["images"]))
    by_service: dict[str, list[dict]] = {}
    for c in facts["containers"]:
        by_service.setdefault(c["service"], []).append(c)
    services = [service_report(w, by_service.pop(w.service, []), images, (ecr_digests or {}).get(w.service), now)
                for w in wanted]
    problems = [f"{s.service}: {p}" for s in services for p in s.problems]
    for label, found in sorted(by_service.items()):  # labelled by berth, but no such service in the stack file
        names = ", ".join(c["name"] for c in found)
        problems.append(f"{label}: {names} runs, but the stack file has no such service (left from an earlier "
                        "deploy, or started by hand)")
    answered = [_with_certificate_days(r, now) for r in facts["routes"]]
    problems += [p for r in answered if (p := _route_problem(r))]
    host = dict(facts["host"])
    problems += _host_problems(host)
    return Report(stack, where, services, answered, host, problems)


# --- text ------------------------------------------------------------------------------------------------

def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _passes_now(c: dict) -> bool:
    """Docker has not probed the container yet, but its healthcheck passed when status ran it."""
    return (c.get("checkedNow") or {}).get("exitCode") == 0


def _check_now_failed(c: dict) -> str:
    now = c.get("checkedNow")
    if not now:
        return "status could not run its healthcheck"
    if now["exitCode"] is None:
        return f"its healthcheck gave no answer when run now ({now['output']})"
    return f"its healthcheck fails when run now (exit {now['exitCode']}): {now['output'] or '(no output)'}"


def _container_line(c: dict) -> str:
    if c["health"] == "starting" and _passes_now(c):
        health = "ready"
    else:
        health = c["health"] or ("running" if c["running"] else c["status"])
    memory = f"{c['memoryBytes'] / MIB:.0f}" if c["memoryBytes"] is not None else "-"
    limit = f"/{c['memoryLimitBytes'] // MIB} MiB" if c["memoryLimitBytes"] else " MiB"
    cpu = f"{c['cpuPercent']:.1f}%" if c["cpuPercent"] is not None else "-"
    cpu_limit = f"/{c['cpuLimit']:g} cpu" if c["cpuLimit"] else ""
    return (f"    {c['name']:<28} {health:<10} restarts {c['restarts']:<3} up {_duration(c['uptimeSeconds']):<5} "
            f"mem {memory}{limit:<10} cpu {cpu}{cpu_limit}  {c['version']}")


def _tasks_text(tasks: dict | None) -> str:
    if tasks is None:
        return "no service"
    targets = tasks["targets"]
    return (f"{tasks['running']}/{tasks['desired']} tasks running ({tasks['pending']} pending, {tasks['rollout']}), "
            f"targets {targets['healthy']} healthy, {targets['unhealthy']} unhealthy")


def render_text(report: Report) -> str:
    lines = [f"berth status: stack {report.stack}, on {report.where}", ""]
    for s in report.services:
        mark = "ok" if not s.problems else "NOT AS ASKED"
        if report.where.startswith(ECS_WHERE):
            lines.append(f"  {s.service:<30} {_tasks_text(s.tasks)}, wants {s.version:<6} {mark}")
            continue
        running = sum(1 for c in s.containers if c["running"])
        lines.append(f"  {s.service:<30} {running}/{s.replicas} running, wants {s.version:<14} {mark}")
        lines += [_container_line(c) for c in s.containers]
    if report.routes:
        lines += ["", "  routes (through the proxy):"]
        for r in report.routes:
            answer = r["status"] if r["status"] is not None else r["error"]
            cert = f"  certificate {r['certificateDaysLeft']} days" if r.get("certificateDaysLeft") is not None else ""
            lines.append(f"    {r['host'] + r['path']:<48} {answer}  {r['seconds']}s{cert}")
    host = report.host
    lines += [] if not host else ["", "  host: " + ", ".join(filter(None, [
        f"data volume {host['diskUsedPercent']}% used of {host['disk']['totalBytes'] / (1 << 30):.1f} GiB"
        if "diskUsedPercent" in host else "data volume not measured (the engine is not on this machine)",
        f"memory {host['memoryUsedPercent']}% used of {host['memory']['totalBytes'] / (1 << 30):.1f} GiB"
        if "memoryUsedPercent" in host else None,
        f"Docker {host.get('engineVersion')}"]))]
    if report.problems:
        lines += ["", f"{len(report.problems)} not as asked:"] + [f"  - {p}" for p in report.problems]
    else:
        lines += ["", "everything runs as the stack file asks."]
    return "\n".join(lines)


# --- the command -------------------------------------------------------------------------------------------

def status(stack: str, config_file: Path | None, reach: Reach | None = None) -> Report:
    loaded = load_stack(stack, config_file)
    deployment = loaded.deployment
    if deployment.on_ecs:
        from operate import ecs_status  # the ECS and load balancer APIs, not a Docker engine
        return ecs_status.status(deployment, loaded.region)
    reach = reach or reach_for(deployment)
    routes = intent.routes(deployment)
    request = json.dumps({"routes": [{"host": r.host, "path": r.path, "tls": r.tls} for r in routes]})
    facts = json.loads(reach.host_facts(request))
    wanted = intent.intended(deployment)
    digests = None
    if any(w.image.in_ecr for w in wanted):
        from operate import ecr  # boto3 is asked only when a built image lives in ECR
        digests = ecr.version_digests(wanted, loaded.region)
    return compare(stack, reach.where, wanted, facts, digests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/status", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", nargs="?", default="dev", help="the stack (Pulumi.<stack>.yaml); default dev")
    parser.add_argument("--config-file", type=Path, help="its stack file, when not Pulumi.<stack>.yaml")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        report = status(args.stack, args.config_file)
    except (ConfigError, PlanError) as err:
        print(f"berth: {err}", file=sys.stderr)
        return 2
    except (ReachError, subprocess.SubprocessError, OSError) as err:
        print(f"berth: cannot read the host: {err}", file=sys.stderr)
        return 3
    print(json.dumps(report.to_json(), indent=2) if args.format == "json" else render_text(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
