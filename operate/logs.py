"""`scripts/logs <app> [service]`: a service's logs from every replica, labelled, with the proxy's
access log for the app's host names; `--follow` keeps reading, `--since 10m` starts there.

The logs are Docker's own (`docker logs --timestamps` per container: the rotated json-file logs on
the host), read where the engine is (operate/reach.py). The proxy writes one JSON line per request
(render/caddyfile.py); only the lines for this app's host names are shown, one line each.

    python -m operate.logs APP [SERVICE] [--stack STACK] [--follow] [--since 10m] [--tail 100]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from config import conventions
from config.deployment import Deployment
from config.errors import ConfigError
from offline.plan import PlanError
from operate import intent
from operate.stack_file import load_stack
from operate.reach import Reach, ReachError, reach_for

SINCE = re.compile(r"(\d+(\.\d+)?(ms|s|m|h))+|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?")
ACCESS_LOGGER = "http.log.access"


class LogsError(Exception):
    """Bad arguments for this stack: a message naming what exists."""


@dataclass(frozen=True)
class Source:
    label: str  # `backend`, `backend.2`, `proxy`
    container: str  # id or name, as `docker logs` takes it


def services_of(deployment: Deployment, app_name: str, service: str | None) -> list[str]:
    """The `berth.service` labels to read: one service, or every one of the app that runs a container."""
    if app_name not in deployment.apps:
        raise LogsError(f"stack {deployment.stack} has no app {app_name!r}; its apps: {', '.join(deployment.apps)}")
    labels = [w.service for w in intent.intended(deployment) if w.app == app_name]
    if service is None:
        return labels
    label = conventions.service_label(app_name, service)
    if label not in labels:
        names = ", ".join(lb.split("/", 1)[1] for lb in labels)
        raise LogsError(f"app {app_name} has no service {service!r} that runs a container; its services: {names}")
    return [label]


def sources(reach: Reach, labels: list[str]) -> list[Source]:
    """Every container of these services (stopped ones too: their last words matter), labelled."""
    found = []
    for label in labels:
        rows = reach.run(["docker", "ps", "-a", "--filter", f"label={conventions.SERVICE_LABEL}={label}",
                          "--format", "{{.Names}}"]).split()
        service = label.split("/", 1)[1]
        found += [Source(service if len(rows) == 1 else f"{service}.{i}", name)
                  for i, name in enumerate(sorted(rows), start=1)]
    return found


def access_line(message: str, hosts: set[str]) -> str | None:
    """One proxy access-log entry for these hosts, for people: status, method, host and path, time, size."""
    try:
        entry = json.loads(message)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not str(entry.get("logger", "")).startswith(ACCESS_LOGGER):
        return None
    request = entry.get("request") or {}
    if request.get("host") not in hosts:
        return None
    millis = float(entry.get("duration") or 0) * 1000
    return (f"{entry.get('status')} {request.get('method')} {request.get('host')}{request.get('uri')} "
            f"{millis:.0f}ms {entry.get('size', 0)}B from {request.get('remote_ip')}")


def docker_logs_args(container: str, follow: bool, since: str | None, tail: int | None) -> list[str]:
    argv = ["docker", "logs", "--timestamps"]
    if follow:
        argv.append("--follow")
    if since:
        argv += ["--since", since]
    elif tail is not None:
        argv += ["--tail", str(tail)]
    return argv + [container]


def read(reach: Reach, source: Source, args: argparse.Namespace, emit: Callable[[str, str, str], None],
         keep: Callable[[str], str | None] = lambda m: m) -> None:
    """Stream one container's log through `keep` (None drops a line) into `emit(timestamp, label, text)`."""
    process = reach.popen(docker_logs_args(source.container, args.follow, args.since, args.tail))
    assert process.stdout is not None  # Reach.popen pipes it
    for line in process.stdout:
        stamp, _, message = line.rstrip("\n").partition(" ")
        shown = keep(message)
        if shown is not None:
            emit(stamp, source.label, shown)
    process.wait()


def show(reach: Reach, readers: list[tuple[Source, Callable[[str], str | None]]], args: argparse.Namespace,
         out: TextIO) -> None:
    """All sources at once; lines as they come (--follow), else sorted by time."""
    lines: list[tuple[str, str, str]] = []
    lock = threading.Lock()
    width = max(len(s.label) for s, _ in readers)

    def emit(stamp: str, label: str, text: str) -> None:
        with lock:
            if args.follow:
                print(f"{stamp} {label:<{width}} | {text}", file=out, flush=True)
            else:
                lines.append((stamp, label, text))

    threads = [threading.Thread(target=read, args=(reach, source, args, emit, keep), daemon=True)
               for source, keep in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for stamp, label, text in sorted(lines):
        print(f"{stamp} {label:<{width}} | {text}", file=out)


def plan_readers(deployment: Deployment, reach: Reach, app: str, service: str | None,
                 with_proxy: bool) -> list[tuple[Source, Callable[[str], str | None]]]:
    found = sources(reach, services_of(deployment, app, service))
    if not found:
        raise LogsError(f"no container of {app}{'/' + service if service else ''} on {reach.where}: "
                        "is the stack deployed? (scripts/status)")
    readers: list[tuple[Source, Callable[[str], str | None]]] = [(s, lambda m: m) for s in found]
    if with_proxy:
        hosts = {deployment.hostname(deployment.apps[app])}
        readers.append((Source("proxy", conventions.PROXY_SERVICE), lambda m: access_line(m, hosts)))
    return readers


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/logs", description=__doc__.split("\n\n")[0])
    parser.add_argument("app")
    parser.add_argument("service", nargs="?", help="one service (default: every one of the app)")
    parser.add_argument("--stack", default="dev", help="the stack (Pulumi.<stack>.yaml); default dev")
    parser.add_argument("--config-file", type=Path, help="its stack file, when not Pulumi.<stack>.yaml")
    parser.add_argument("--follow", "-f", action="store_true", help="keep reading new lines")
    parser.add_argument("--since", help="from this long ago (10m, 2h, 90s) or this time (2025-11-22T03:30:00Z)")
    parser.add_argument("--tail", type=int, default=100, help="lines per container without --since (default 100)")
    parser.add_argument("--no-proxy", dest="proxy", action="store_false", help="leave out the proxy's access log")
    args = parser.parse_args(argv)
    if args.since and not SINCE.fullmatch(args.since):
        parser.error(f"--since {args.since!r}: give a duration (10m, 2h, 90s) or a time (2025-11-22T03:30:00Z)")
    return args


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parse(argv)
    try:
        deployment = load_stack(args.stack, args.config_file).deployment
        if deployment.on_ecs:
            raise LogsError(f"stack {args.stack} runs on ECS: its logs are in CloudWatch Logs, group "
                            f"{conventions.log_group(deployment.stack, args.app)} (aws logs tail --follow <group>)")
        reach = reach_for(deployment)
        readers = plan_readers(deployment, reach, args.app, args.service, args.proxy)
    except (ConfigError, PlanError, LogsError) as err:
        print(f"berth: {err}", file=sys.stderr)
        return 2
    except ReachError as err:
        print(f"berth: cannot read the host: {err}", file=sys.stderr)
        return 3
    try:
        show(reach, readers, args, out)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
