"""Values from app files never become code or shell: they are arguments, quoted, or refused with their path.

A health check's `path` used to be pasted into the Python or Node probe's source, and an ECS static
site's `sitePath` into `sh -c`; image references and versions went to Docker unchecked.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest

from components.common import copy_site, probe_command
from config.app import HealthCheck
from tests.support.app_files import one_problem, repo_app, run_with_app_files, with_changes
from tests.support.shell_oracle import parses, run_against_stubs, sh_c_script
from tests.support.stacks import REPO, require_tool, stack_config


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def injection(probe: str, marker: Path) -> str:
    """A path that, pasted into the probe's source, also writes `marker` (URL characters only)."""
    if probe == "python":
        return f"/x',timeout=4);open('{marker}','w');urllib.request.urlopen('http://127.0.0.1:1/x"
    return f"/x');require('fs').writeFileSync('{marker}','');fetch('/x"


@pytest.mark.parametrize("probe", ["python", "node"])
def test_a_health_path_is_the_probes_argument_never_its_code(tmp_path, health_server, probe):
    require_tool(probe if probe == "node" else "python3")
    marker = tmp_path / "pwned"
    check = HealthCheck.model_validate({"path": injection(probe, marker), "probe": probe})
    argv = probe_command(check, health_server.server_address[1])[1:]
    argv[0] = "python3" if argv[0] == "python" else argv[0]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert not marker.exists(), "the health path ran as code"
    assert result.returncode == 0, result.stderr
    assert [urllib.parse.unquote(p) for p in health_server.seen] == [check.path]


@pytest.mark.parametrize("path", ["/health check", "/a#b", '/a"b', "/a\\b", "/a`b`", "/a{b}", "/é", "/" + "a" * 1024])
def test_a_health_path_that_is_not_a_url_path_is_refused(tmp_path, path):
    assert one_problem(tmp_path, with_changes(api={"healthcheck": {"path": path}})).startswith(
        f"apps/shop.yaml: services.api.healthcheck.path: {path!r} is not an HTTP path such as /health")


HOSTILE_SITE_PATH = "/site;touch$IFS/tmp/pwned;$(id)`id`"


def test_a_site_path_is_copied_as_one_argument(tmp_path):
    script = copy_site(HOSTILE_SITE_PATH)
    assert parses(script) is None
    run = run_against_stubs(script, tmp_path)
    assert run.returncode == 0, run.output
    assert run.of("cp") == [["-R", f"{HOSTILE_SITE_PATH}/.", "/out/"]]


def _with_static_site(site_path: str) -> dict:
    chatbot = repo_app("chatbot")
    chatbot["services"]["docs"] = {"kind": "static", "image": "example/docs:1.0.0", "sitePath": site_path}
    chatbot["routes"]["/docs/"] = {"service": "docs"}
    return chatbot


def test_on_ecs_the_edge_copies_a_site_path_as_one_argument(tmp_path):
    config = stack_config("prod", stack_file=REPO / "examples/chm-ecs/Pulumi.prod.yaml",
                          secrets={"berth:chatbotOpenaiApiKey": "sk-test"})
    run = run_with_app_files(tmp_path, "chm-ecs", config, {"chatbot": _with_static_site(HOSTILE_SITE_PATH)})
    edge = json.loads(run.get("aws:ecs/taskDefinition:TaskDefinition", "chatbot-edge").values["containerDefinitions"])
    copy = sh_c_script(next(c for c in edge if c["name"] == "site-docs")["command"])
    assert copy == copy_site(HOSTILE_SITE_PATH)
    stubbed = run_against_stubs(copy, tmp_path)
    assert stubbed.returncode == 0 and stubbed.of("cp") == [["-R", f"{HOSTILE_SITE_PATH}/.", "/out/"]]


def test_on_one_host_the_published_site_reaches_docker_and_cp_as_written(tmp_path):
    config = stack_config("dev")
    run = run_with_app_files(tmp_path, "dev", config, {"chatbot": _with_static_site(HOSTILE_SITE_PATH)})
    publish = run.get("command:local:Command", "chatbot-docs-publish").values["create"]
    assert parses(publish) is None
    docker = run_against_stubs(publish, tmp_path)
    assert docker.returncode == 0, docker.output
    [call] = docker.of("docker")
    assert call[:2] == ["run", "--rm"] and call[-3:-1] == ["sh", "-c"]
    inside = run_against_stubs(call[-1], tmp_path)
    assert inside.returncode == 0 and inside.of("cp") == [["-R", f"{HOSTILE_SITE_PATH}/.", "/out/"]]


@pytest.mark.parametrize("field, value, message", [
    ("image", "redis:7 --privileged", "'redis:7 --privileged' is not an image reference Docker accepts"),
    ("image", "Redis:7.4.5", "'Redis:7.4.5' is not an image reference Docker accepts"),
    ("image", "redis:7.4.5;id", "'redis:7.4.5;id' is not an image reference Docker accepts"),
])
def test_an_image_reference_docker_refuses_is_refused_with_its_path(tmp_path, field, value, message):
    assert one_problem(tmp_path, with_changes(api={field: value})).startswith(
        f"apps/shop.yaml: services.api.{field}: {message}")


@pytest.mark.parametrize("version", ["1.0 && id", "-rc1", ".1", "v\u00e9", "x" * 129, "a/b"])
def test_a_version_that_is_not_a_docker_tag_is_refused_with_its_path(config_problems, version):
    apps = stack_config("staging").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["version"] = version
    problems = config_problems("staging", plain={"berth:apps": apps})
    assert len(problems) == 1 and problems[0].startswith(
        f"berth:apps.chatbot.services.backend.version: {version!r} is not a Docker tag")


@pytest.mark.parametrize("key", ["berth:proxy", "berth:shared"])
def test_a_stack_image_docker_refuses_is_refused_with_its_path(config_problems, key):
    value = {"image": "caddy:2.10.2 x"} if key == "berth:proxy" else {"postgres": {"image": "postgres:17.6 x"}}
    problems = config_problems("dev", plain={key: value})
    where = "berth:proxy.image" if key == "berth:proxy" else "berth:shared.postgres.image"
    assert len(problems) == 1 and problems[0].startswith(f"{where}: ") and "not an image reference" in problems[0]
