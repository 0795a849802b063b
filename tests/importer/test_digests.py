"""Pins from the local engine (importer/digests.py): an unpinned image this machine already runs is
pinned to the digest its Docker engine has for it, asked through the Docker SDK over DOCKER_HOST (here
a stand-in engine on a unix socket answering the two API calls the SDK makes); no engine, no answer."""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

import pytest

from importer import digests
from tests.support.compose_import import run_import

DIGEST = "sha256:" + "ab" * 32
IMAGES = {"example/cache:7-alpine": {"RepoDigests": [f"example/cache@{DIGEST}"]},
          "example/built:latest": {"RepoDigests": []}}  # built here: no registry digest


class Engine(BaseHTTPRequestHandler):
    def do_GET(self):
        path = unquote(self.path)
        if path == "/version":
            return self._send(200, {"ApiVersion": "1.41"})
        name = path.removeprefix("/v1.41/images/").removesuffix("/json")
        return self._send(200, IMAGES[name]) if name in IMAGES else self._send(404, {"message": "No such image"})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "engine.sock"
    server = UnixServer(str(path), Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"unix://{path}"
    server.shutdown()
    server.server_close()


def test_an_image_this_machine_runs_is_pinned_to_its_digest(tmp_path, engine):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  cache:\n    image: example/cache:7-alpine\n    healthcheck: {test: [CMD, check]}\n"
        "  built:\n    image: example/built:latest\n    healthcheck: {test: [CMD, check]}\n"
        "  other:\n    image: example/other:latest\n    healthcheck: {test: [CMD, check]}\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "shop", "--stack", "prod", engine=engine)
    services = result.apps["shop"]["services"]
    assert services["cache"]["image"] == f"example/cache:7-alpine@{DIGEST}"
    assert services["built"]["image"] == services["other"]["image"].replace("other", "built")  # left as written
    assert [p.split(": ")[0] for p in result.problems] == [
        "berth:apps.shop.services.built.image", "berth:apps.shop.services.other.image"]


def test_no_engine_is_no_answer(tmp_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
        assert digests.local(["example/cache:7-alpine"]) == {}
