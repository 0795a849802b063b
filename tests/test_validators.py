"""Every generated artifact, checked by the program that will consume it.

The artifacts come from real program runs (the Caddyfile uploaded into the proxy, the instance's
user data), not from hand-built fixtures. In CI each validator must be installed: these never skip there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from render import cloud_init
from tests.conftest import require_tool

STACKS = ["dev", "staging", "prod"]


def caddyfile_of(run) -> str:
    uploads = run.containers()["proxy"].values["uploads"]
    return next(u["content"] for u in uploads if u["file"] == "/etc/caddy/Caddyfile")


def check(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=60)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.parametrize("stack", STACKS)
def test_caddy_accepts_the_rendered_caddyfile(deploy, stack, tmp_path):
    caddy = require_tool("caddy")
    path = tmp_path / "Caddyfile"
    path.write_text(caddyfile_of(deploy(stack)), encoding="utf-8")
    check([caddy, "validate", "--config", str(path), "--adapter", "caddyfile"], cwd=tmp_path)


def test_caddy_rejects_a_broken_caddyfile(tmp_path):
    """The validator test above can fail: a Caddyfile with an unknown directive does not validate."""
    caddy = require_tool("caddy")
    path = tmp_path / "Caddyfile"
    path.write_text("example.com {\n\treverse_proxi backend:8000\n}\n", encoding="utf-8")
    result = subprocess.run([caddy, "validate", "--config", str(path), "--adapter", "caddyfile"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode != 0


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_cloud_init_schema_accepts_the_user_data(deploy, stack, tmp_path):
    tool = require_tool("cloud-init")
    user_data = deploy(stack).get("aws:ec2/instance:Instance", "host-instance").values["userData"]
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data, encoding="utf-8")
    result = check([tool, "schema", "--config-file", str(path)])
    assert "Valid cloud-config" in result.stdout + result.stderr


def test_cloud_init_schema_rejects_a_wrong_key(tmp_path):
    tool = require_tool("cloud-init")
    path = tmp_path / "user-data.yaml"
    path.write_text("#cloud-config\nwrite_files:\n  - path: 3\n    permissions: true\n", encoding="utf-8")
    result = subprocess.run([tool, "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


@pytest.mark.parametrize("gpu", [False, True])
def test_shellcheck_passes_every_script_in_the_user_data(tmp_path, gpu):
    shellcheck = require_tool("shellcheck")
    setup = cloud_init.HostSetup(data_volume_id="vol-0123456789abcdef0", gpu=gpu, ecr_registry="1.dkr.ecr.x.amazonaws.com")
    document = yaml.safe_load(cloud_init.render(setup).removeprefix("#cloud-config\n"))
    scripts = {f["path"]: f["content"] for f in document["write_files"] if f["content"].startswith("#!")}
    assert set(scripts) == set(cloud_init.shell_scripts(setup))
    for path, content in scripts.items():
        file = tmp_path / Path(path).name
        file.write_text(content, encoding="utf-8")
        check([shellcheck, "--severity=style", str(file)])


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_readiness_gate_command_passes_shellcheck(deploy, stack, tmp_path):
    shellcheck = require_tool("shellcheck")
    gate = deploy(stack).get("command:remote:Command", "host-ready").values["create"]
    file = tmp_path / "ready.sh"
    file.write_text("#!/bin/bash\n" + gate + "\n", encoding="utf-8")
    check([shellcheck, "--severity=style", str(file)])
