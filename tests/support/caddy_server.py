"""A real Caddy (the release berth pins) serving a rendered Caddyfile on loopback, for tests.

`caddy run` on unprivileged ports, stopped by its own pid; requests go to 127.0.0.1 by host name
(HTTPS with the name as SNI, certificates from Caddy's own local CA).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from pathlib import Path

from tests.support import tiers
from tests.support.pins import pinned_caddy
from tests.support.validators import caddy_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_locally(text: str, http_port: int, https_port: int | None = None) -> str:
    """The rendered file on unprivileged ports (and, for TLS, certificates from Caddy's own local CA)."""
    head = "{\n\tadmin off\n"
    assert text.count(head) == 1 and text.count("\n:80 {\n") == 1
    extra = f"\thttp_port {http_port}\n"
    if https_port:
        extra += f"\thttps_port {https_port}\n\tlocal_certs\n\tskip_install_trust\n"
    return text.replace(head, head + extra).replace("\n:80 {\n", f"\n:{http_port} {{\n")


class Caddy:
    """`caddy run` on a rendered Caddyfile, stopped (by its own pid) when the test is done."""

    def __init__(self, text: str, tmp_path: Path, http_port: int, https_port: int | None = None):
        tiers.starting("a Caddy server")
        binary = pinned_caddy()
        path = tmp_path / "Caddyfile"
        path.write_text(listening_locally(text, http_port, https_port), encoding="utf-8")
        self.log = tmp_path / "caddy.log"
        self.http_port, self.https_port = http_port, https_port
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([binary, "run", "--config", str(path), "--adapter", "caddyfile"],
                                            stdout=log, stderr=subprocess.STDOUT, env=caddy_env(tmp_path), cwd=tmp_path)
        deadline = time.monotonic() + 15
        while True:
            try:
                if self.get("127.0.0.1", "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert self.process.poll() is None, f"caddy exited:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"caddy did not answer /health:\n{self.log.read_text()}"
            time.sleep(0.05)

    def request(self, host: str, path: str, method: str = "GET", body: bytes | None = None,
                headers: dict | None = None, tls: bool = False, timeout: float = 10):
        if tls:
            conn, port = _SniConnection(host, self.https_port, timeout), self.https_port
        else:
            conn, port = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout), self.http_port
        try:
            conn.request(method, path, body=body, headers={"Host": f"{host}:{port}", **(headers or {})})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def get(self, host: str, path: str, **kwargs):
        return self.request(host, path, **kwargs)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _SniConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 that asks for `host`'s certificate (Caddy picks it by SNI)."""

    def __init__(self, host: str, port: int, timeout: float):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # Caddy's local CA, not a public one
        super().__init__("127.0.0.1", port, timeout=timeout, context=context)
        self.sni = host

    def connect(self):
        self.sock = self._context.wrap_socket(socket.create_connection((self.host, self.port), self.timeout),
                                              server_hostname=self.sni)
