"""What runs on a berth host, as its Docker engine and kernel answer: one JSON document.

Standard library only, one file: `scripts/status` runs it in-process for the local engine and sends
it to the EC2 host over SSH (`python3 - REQUEST`), so one round trip reads everything. It reads and
never changes anything (it runs a starting container's own healthcheck, as Docker does every interval),
and prints no environment value of any container (`docker inspect` has them; only the fields below
leave this file).

    python3 host_facts.py '{"routes": [{"host": "chatbot.chmedia.com", "path": "/api/", "tls": true}]}'
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

SERVICE_LABEL = "berth.service"  # config/conventions.py (this file runs where berth's package is not)
PROXY = "proxy"
# Longer than the proxy holds a request it cannot hand over (render/caddyfile.py TRY_DURATION_S, and its
# last try's dial, CADDY_DIAL_TIMEOUT_S), so a route whose service is down is read as the 502 it answers,
# not as a probe that timed out.
PROBE_TIMEOUT_S = 10
CHECK_TIMEOUT_S = 10  # one run of a container's own healthcheck


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], check=False, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- containers ----------------------------------------------------------------------------------------

def container_facts(inspect: dict, stats: dict | None) -> dict:
    """The fields status needs of one container (its env, command and mounts stay here)."""
    state, config, host = inspect["State"], inspect["Config"], inspect["HostConfig"]
    health = state.get("Health") or {}
    last = (health.get("Log") or [{}])[-1]
    return {
        "id": inspect["Id"][:12],
        "name": inspect["Name"].lstrip("/"),
        "service": (config.get("Labels") or {}).get(SERVICE_LABEL),
        "imageId": inspect["Image"],
        "status": state.get("Status"),
        "running": bool(state.get("Running")),
        "exitCode": state.get("ExitCode"),
        "oomKilled": bool(state.get("OOMKilled")),
        "startedAt": state.get("StartedAt"),
        "finishedAt": state.get("FinishedAt"),
        "health": health.get("Status"),  # None: no healthcheck
        "failingStreak": health.get("FailingStreak", 0),
        "lastProbe": {"exitCode": last.get("ExitCode"), "output": (last.get("Output") or "").strip()[-500:]} if last else None,
        "restarts": inspect.get("RestartCount", 0),
        "memoryLimitBytes": host.get("Memory") or None,
        "cpuLimit": (host.get("NanoCpus") or 0) / 1e9 or None,
        "memoryBytes": parse_size(stats["MemUsage"].split("/")[0]) if stats else None,
        "cpuPercent": float(stats["CPUPerc"].rstrip("%") or 0) if stats else None,
    }


UNITS = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
         "tib": 1 << 40}


def parse_size(text: str) -> int:
    """`docker stats` sizes: `12.5MiB`, `1.2GB`, `0B`."""
    text = text.strip()
    number = text.rstrip("BbKkMmGgTtIi")
    return int(float(number) * UNITS[text[len(number):].lower()])


def containers() -> list[dict]:
    ids = docker("ps", "-aq", "--no-trunc", "--filter", f"label={SERVICE_LABEL}").split()
    if not ids:
        return []
    inspected = json.loads(docker("inspect", *ids))
    running = [c["Id"] for c in inspected if c["State"].get("Running")]
    stats = {}
    if running:
        stats = {s["ID"]: s for s in json_lines(docker("stats", "--no-stream", "--no-trunc", "--format", "{{json .}}",
                                                       *running))}
    facts = [container_facts(c, stats.get(c["Id"])) for c in inspected]
    starting = [i for i, fact in enumerate(facts) if fact["running"] and fact["health"] == "starting"]
    with ThreadPoolExecutor(max_workers=8) as pool:  # after a reboot every container is starting
        checked = list(pool.map(check_now, [inspected[i] for i in starting]))
    for i, answer in zip(starting, checked, strict=True):
        facts[i]["checkedNow"] = answer
    return facts


def health_check(inspect: dict) -> list[str]:
    """A container's own healthcheck as a command to exec ([] without one): Docker's `CMD` form runs its
    arguments, `CMD-SHELL` its string in `sh -c` (the Docker Engine API's HealthConfig.Test)."""
    test = ((inspect.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    if test[:1] == ["CMD"]:
        return list(test[1:])
    if test[:1] == ["CMD-SHELL"] and len(test) == 2:
        return ["sh", "-c", test[1]]
    return []


def check_now(inspect: dict) -> dict | None:
    """A starting container's own healthcheck, run now (None without one). Docker runs its first probe one
    `interval` after the start, so right after a deploy, whose gate has just run this same check, Docker's
    `starting` says nothing yet. Its exit code is the answer; the output (which `docker exec` can lose) only
    explains a failure."""
    check = health_check(inspect)
    if not check:
        return None
    try:
        done = subprocess.run(["docker", "exec", inspect["Id"], *check], check=False, capture_output=True,
                              encoding="utf-8", errors="replace", timeout=CHECK_TIMEOUT_S)  # an app's bytes
    except subprocess.TimeoutExpired:
        return {"exitCode": None, "output": f"no answer within {CHECK_TIMEOUT_S} s"}
    return {"exitCode": done.returncode, "output": (done.stdout + done.stderr).strip()[-500:]}


def images() -> list[dict]:
    """Every image the engine keeps, by id, with the names and digests it is known by."""
    rows = json_lines(docker("image", "ls", "--no-trunc", "--digests", "--format", "{{json .}}"))
    return [{"id": r["ID"], "repository": r["Repository"], "tag": r["Tag"], "digest": r["Digest"]} for r in rows]


# --- the host ------------------------------------------------------------------------------------------

def meminfo() -> dict[str, int]:
    with open("/proc/meminfo", encoding="ascii") as f:
        return {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f)}


def host(info: dict) -> dict:
    """The data volume (the file system holding Docker's data root) and memory, where this machine
    is the engine's (an EC2 host, dev's engine on Linux); unknown for an engine in a VM."""
    out: dict = {"dockerRoot": info.get("DockerRootDir"), "engineMemoryBytes": info.get("MemTotal"),
                 "cpus": info.get("NCPU"), "engineVersion": info.get("ServerVersion")}
    root = out["dockerRoot"]
    if root and os.path.isdir(root):
        fs = os.statvfs(root)
        out["disk"] = {"path": root, "totalBytes": fs.f_blocks * fs.f_frsize,
                       "usedBytes": (fs.f_blocks - fs.f_bfree) * fs.f_frsize,
                       "availableBytes": fs.f_bavail * fs.f_frsize}
    try:
        mem = meminfo()
    except OSError:
        return out
    if info.get("MemTotal") and abs(mem["MemTotal"] - info["MemTotal"]) <= 0.05 * info["MemTotal"]:
        out["memory"] = {"totalBytes": mem["MemTotal"], "availableBytes": mem["MemAvailable"]}
    return out


# --- the routes, through the proxy ---------------------------------------------------------------------

def published(proxy: dict | None, port: str) -> tuple[str, int] | None:
    bindings = ((proxy or {}).get("NetworkSettings", {}).get("Ports") or {}).get(port) or []
    if not bindings:
        return None
    ip = bindings[0].get("HostIp") or "127.0.0.1"
    return ("127.0.0.1" if ip in ("0.0.0.0", "::") else ip), int(bindings[0]["HostPort"])


def probe(address: tuple[str, int], host: str, path: str, tls: bool) -> dict:
    """GET `path` of `host` through the proxy, as a browser would; any answer below 500 is an answer."""
    started = time.monotonic()
    try:
        sock = socket.create_connection(address, PROBE_TIMEOUT_S)
        certificate = None
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the route, not the chain
            sock = context.wrap_socket(sock, server_hostname=host)
            der = sock.getpeercert(binary_form=True)  # None when the proxy sent no certificate
            certificate = base64.b64encode(der).decode() if der else None  # read where berth runs
        with sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: berth-status\r\n"
                         "Connection: close\r\n\r\n".encode())
            head = sock.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
        status = int(head.split()[1]) if head.startswith("HTTP/") else None
        return {"status": status, "error": None if status else f"no HTTP answer: {head[:80]!r}",
                "seconds": round(time.monotonic() - started, 3), "certificate": certificate}
    except (OSError, ValueError, IndexError) as err:
        return {"status": None, "error": f"{type(err).__name__}: {err}", "seconds": round(time.monotonic() - started, 3),
                "certificate": None}


def routes(wanted: list[dict]) -> list[dict]:
    try:
        proxy = json.loads(docker("inspect", PROXY))[0]
    except (RuntimeError, ValueError):
        proxy = None

    def answer(route: dict) -> dict:
        address = published(proxy, "443/tcp" if route["tls"] else "80/tcp")
        return {**route, **(probe(address, route["host"], route["path"], route["tls"]) if address
                            else {"status": None, "error": "the proxy publishes no port for it", "seconds": 0,
                                  "certificate": None})}

    # At once: a route whose service is down answers only after the proxy's tries (up to PROBE_TIMEOUT_S).
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(answer, wanted))


def collect(request: dict) -> dict:
    info = json.loads(docker("info", "--format", "{{json .}}"))
    return {"collectedAt": datetime.now(UTC).isoformat(timespec="seconds"), "host": host(info),
            "containers": containers(), "images": images(), "routes": routes(request.get("routes", []))}


if __name__ == "__main__":
    try:
        print(json.dumps(collect(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})))
    except (RuntimeError, OSError, subprocess.SubprocessError) as failure:
        print(f"berth: {failure}", file=sys.stderr)
        sys.exit(3)
