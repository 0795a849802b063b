"""What users and attackers of an applied stack see: requests through its proxy on 127.0.0.1, and what
one container's network can reach.

- `Through(applied)`: HTTP(S), WebSocket and Server-Sent Events through the proxy's published ports,
  addressed by host name (Host header and TLS SNI), the way a browser reaches the stack.
- `seed_certificates(...)`: staging/prod proxies serve HTTPS only, with certificates Caddy keeps on its
  data volume. The tests put a certificate from a throwaway CA on that volume first, as a host that
  already holds its certificates has them, so Caddy serves TLS without asking a CA (no traffic leaves).
- `in_network_of(...)`: a probe container in another container's network namespace (`--network
  container:<id>`): the same addresses, names and routes, without relying on tools in that image.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import socket
import ssl
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import docker

from tests.support.stacks import require_tool
from tests.support.container_exec import output_of

CADDY_CERTS = "caddy/certificates/acme-v02.api.letsencrypt.org-directory"  # under Caddy's /data (XDG_DATA_HOME)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class _SniConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 that names `sni` in the handshake, as a browser asking for that host does."""

    def __init__(self, port: int, sni: str, context: ssl.SSLContext, timeout: float):
        super().__init__("127.0.0.1", port, context=context, timeout=timeout)
        self._sni = sni

    def connect(self):
        self.sock = self._context.wrap_socket(socket.create_connection(("127.0.0.1", self.port), self.timeout),
                                              server_hostname=self._sni)


class Through:
    """The stack's proxy as this machine reaches it: its published ports on 127.0.0.1."""

    def __init__(self, client: docker.DockerClient, proxy_container: str, ca_file: Path | None = None):
        ports = client.api.inspect_container(proxy_container)["NetworkSettings"]["Ports"] or {}
        self.http_port = int(ports["80/tcp"][0]["HostPort"])
        self.https_port = int(ports["443/tcp"][0]["HostPort"]) if ports.get("443/tcp") else None
        self.context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    def _connection(self, url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        if parts.scheme == "https":
            return _SniConnection(self.https_port, parts.hostname, self.context, timeout), parts.hostname
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout), parts.netloc

    def request(self, url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
                timeout: float = 15) -> Response:
        connection, host = self._connection(url, timeout)
        parts = urlsplit(url)
        try:
            connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                               headers={"Host": host, **(headers or {})})
            response = connection.getresponse()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def _socket(self, url: str, timeout: float) -> tuple[socket.socket, str]:
        parts = urlsplit(url)
        if parts.scheme == "https":
            raw = socket.create_connection(("127.0.0.1", self.https_port), timeout)
            return self.context.wrap_socket(raw, server_hostname=parts.hostname), parts.hostname
        return socket.create_connection(("127.0.0.1", self.http_port), timeout), parts.netloc

    def websocket_echo(self, url: str, message: str, timeout: float = 15) -> str:
        """Open a WebSocket at `url` through the proxy, send one text message, return the reply."""
        sock, host = self._socket(url, timeout)
        with sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((f"GET {urlsplit(url).path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            head = _read_until(sock, b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            assert b" 101 " in status, f"no WebSocket upgrade through the proxy: {head.decode(errors='replace')}"
            assert accept in head, "the upgrade answer does not carry the key's accept value"
            payload, mask = message.encode(), os.urandom(4)
            sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            first, length = _read_exact(sock, 2)
            size = length & 0x7F
            if size == 126:
                size = int.from_bytes(_read_exact(sock, 2), "big")
            assert first & 0x0F == 0x1, f"expected a text frame, got opcode {first & 0x0F}"
            return _read_exact(sock, size).decode()

    def event_stream(self, url: str, timeout: float = 30) -> list[tuple[float, str]]:
        """Read a Server-Sent Events stream to its end: (seconds since the request, data) per event."""
        connection, host = self._connection(url, timeout)
        started = time.monotonic()
        try:
            connection.request("GET", urlsplit(url).path, headers={"Host": host, "Accept": "text/event-stream",
                                                                  "Accept-Encoding": "gzip, zstd"})
            response = connection.getresponse()
            assert response.status == 200, f"{url}: {response.status} {response.read()[:300]!r}"
            events = []
            while line := response.readline():
                if line.startswith(b"data:"):
                    events.append((time.monotonic() - started, line[5:].strip().decode()))
            return events
        finally:
            connection.close()


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the connection closed mid-frame")
        data += chunk
    return data


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while end not in data:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"the connection closed before {end!r}: {data!r}")
        data += chunk
    return data


# --- certificates a host already holds -------------------------------------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([require_tool("openssl"), *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def seed_certificates(client: docker.DockerClient, volume: str, image: str, hosts: list[str], workdir: Path) -> Path:
    """Put a certificate for each of `hosts` (from a CA made here) where Caddy keeps its managed
    certificates on `volume`; returns the CA's certificate file for clients to trust."""
    workdir.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
             "-subj", "/CN=berth engine tier test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=workdir)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for host in hosts:
            (workdir / "ext.cnf").write_text(f"subjectAltName=DNS:{host}\nbasicConstraints=CA:FALSE\n")
            _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={host}",
                     "-keyout", f"{host}.key", "-out", f"{host}.csr", cwd=workdir)
            _openssl("x509", "-req", "-in", f"{host}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                     "-days", "30", "-extfile", "ext.cnf", "-out", f"{host}.crt", cwd=workdir)
            files = {f"{host}.crt": (workdir / f"{host}.crt").read_bytes() + (workdir / "ca.crt").read_bytes(),
                     f"{host}.key": (workdir / f"{host}.key").read_bytes(),
                     f"{host}.json": json.dumps({"sans": [host], "issuer_data": None}).encode()}
            for name, data in files.items():
                info = tarfile.TarInfo(f"{CADDY_CERTS}/{host}/{name}")
                info.size, info.mode = len(data), 0o600
                tar.addfile(info, io.BytesIO(data))
    client.volumes.create(volume)
    holder = client.api.create_container(image, command=["true"], entrypoint=[], volumes=["/data"],
                                         host_config=client.api.create_host_config(binds=[f"{volume}:/data:rw"]))
    try:
        client.api.put_archive(holder["Id"], "/data", archive.getvalue())
    finally:
        client.api.remove_container(holder["Id"], force=True)
    return workdir / "ca.crt"


# --- from inside a container's network ---------------------------------------------------------------

def in_network_of(client: docker.DockerClient, container: str, image: str, command: list[str],
                  entrypoint: list[str] | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run `command` in a throwaway container of `image` sharing `container`'s network; (exit code, output)."""
    probe = client.containers.create(image, command, entrypoint=entrypoint, network_mode=f"container:{container}",
                                     user="0:0")
    try:
        probe.start()
        code = probe.wait(timeout=timeout)["StatusCode"]
        return code, probe.logs().decode(errors="replace")
    finally:
        probe.remove(force=True)


CONNECT = ("import socket, sys, threading\n"
           "def probe(target):\n"
           "    host, port = target.rsplit(':', 1)\n"
           "    try:\n"
           "        socket.create_connection((host, int(port)), 3).close()\n"
           "        print('open', target, flush=True)\n"
           "    except OSError as error:\n"
           "        print('closed', target, error, flush=True)\n"
           "threads = [threading.Thread(target=probe, args=(t,)) for t in sys.argv[1:]]\n"
           "for t in threads: t.start()\n"
           "for t in threads: t.join()\n")  # all at once: an unreachable address costs its 3 s timeout once


NODE_CONNECT = ("const net = require('net'); const targets = process.argv.slice(1); let left = targets.length;"
                "for (const t of targets) { const i = t.lastIndexOf(':');"
                " const s = net.connect({host: t.slice(0, i), port: +t.slice(i + 1), timeout: 3000});"
                " const done = (open) => { console.log((open ? 'open ' : 'closed ') + t); s.destroy();"
                " if (--left === 0) process.exit(0); };"
                " s.on('connect', () => done(true)); s.on('timeout', () => done(false)); s.on('error', () => done(false)); }")


def reachable(client: docker.DockerClient, container: str, targets: list[str], probe_image: str | None = None) -> set[str]:
    """Which `host:port` targets a TCP connection from inside `container` reaches: with its own python3
    or node, or else (an image with neither, such as Qdrant's) from `probe_image`'s python3 in its network."""
    for command in (["python3", "-c", CONNECT, *targets], ["node", "-e", NODE_CONNECT, *targets]):
        code, output = output_of(client.containers.get(container), command)
        if code == 0:
            return {line.split()[1] for line in output.splitlines() if line.startswith("open ")}
        if code not in (126, 127):
            raise AssertionError(f"probe in {container} failed ({code}): {output}")
    if probe_image is None:
        raise AssertionError(f"{container} has neither python3 nor node to probe with")
    code, output = in_network_of(client, container, probe_image, ["-c", CONNECT, *targets], entrypoint=["python3"])
    assert code == 0, f"probe in the network of {container} failed ({code}): {output}"
    return {line.split()[1] for line in output.splitlines() if line.startswith("open ")}


def addresses(client: docker.DockerClient, container: str) -> list[str]:
    """Every IP address `container` has, on every network it joined."""
    networks = client.api.inspect_container(container)["NetworkSettings"]["Networks"] or {}
    return [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]
