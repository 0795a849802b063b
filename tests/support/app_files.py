"""A one-app project for tests of app-file validation: a minimal valid app, changed one way per test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from config.deployment import Deployment
from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from offline import mockrun
from tests.support.stacks import mocked_instance_type

MINIMAL = {
    "name": "shop", "hostname": "shop",
    "services": {
        "api": {"image": "example/api:1.0", "port": 8000, "healthcheck": {"path": "/health"}},
        "web": {"image": "example/web:1.0", "port": 3000, "healthcheck": {"path": "/"}},
    },
    "routes": {"/api/": {"service": "api", "stripPrefix": True}, "/": {"service": "web"}},
}


def load_app(tmp_path: Path, app: dict | str) -> Deployment:
    """A dev stack of the one app `shop` (given as a dict or as the file's text), loaded and checked."""
    (tmp_path / "apps").mkdir(parents=True, exist_ok=True)
    text = app if isinstance(app, str) else json.dumps(app)
    (tmp_path / "apps" / "shop.yaml").write_text(text, encoding="utf-8")
    return load(RawConfig({"environment": "dev", "host": {"kind": "local"}, "apps": {"shop": {}}}), "dev", tmp_path)


# Where each kind of host puts a test stack of app files: settings beside `environment`, `host` and `apps`.
HOSTS = {
    "dev": {"environment": "dev", "host": {"kind": "local"}, "shared": {"postgres": {}, "redis": {}}},
    "ec2": {"environment": "staging", "domain": "example.net", "host": {
        "kind": "ec2", "instanceType": "t3.2xlarge", "sshPublicKey": "ssh-ed25519 AAAAC3Nza test",
        "adminCidrs": {"office": "203.0.113.10/32"}}, "proxy": {"acmeEmail": "ops@example.net"},
        "shared": {"postgres": {}, "redis": {}}},
    "ecs": {"environment": "staging", "domain": "example.net", "host": {"kind": "ecs"},
            "dns": {"zoneName": "example.net"}, "shared": {"postgres": {}, "redis": {}}},
}


def load_apps(tmp_path: Path, apps: dict[str, dict], host: str = "dev") -> Deployment:
    """A stack of `apps` (name -> app file data) on one kind of host (`HOSTS`), loaded and checked."""
    (tmp_path / "apps").mkdir(parents=True, exist_ok=True)
    for name, app in apps.items():
        (tmp_path / "apps" / f"{name}.yaml").write_text(json.dumps(app), encoding="utf-8")
    settings = {**HOSTS[host], "apps": {name: {} for name in apps}}
    return load(RawConfig(settings), "test", tmp_path, instance_types=mocked_instance_type)


def problems_of(tmp_path: Path, apps: dict[str, dict], host: str = "dev") -> list[str]:
    """The problems loading a stack of `apps` reports (it must report some)."""
    with pytest.raises(ConfigError) as caught:
        load_apps(tmp_path, apps, host)
    return [str(p) for p in caught.value.problems]


def load_with_app(tmp_path: Path, app: dict | str) -> list[str]:
    """The problems loading the app reports (it must report some)."""
    with pytest.raises(ConfigError) as caught:
        load_app(tmp_path, app)
    return [str(p) for p in caught.value.problems]


def one_problem(tmp_path: Path, app: dict | str) -> str:
    """The one problem loading the app reports (it must report exactly one)."""
    problems = load_with_app(tmp_path, app)
    assert len(problems) == 1, problems
    return problems[0]


def with_changes(**services) -> dict:
    app = json.loads(json.dumps(MINIMAL))
    for name, changes in services.items():
        app["services"][name].update(changes)
    return app


def repo_app(name: str) -> dict:
    """The repository's apps/<name>.yaml as data, to change one way in a test."""
    return yaml.safe_load((mockrun.REPO / "apps" / f"{name}.yaml").read_text(encoding="utf-8"))


def run_with_app_files(tmp: Path, stack: str, config: mockrun.StackConfig, files: dict[str, dict]) -> mockrun.Run:
    """Run a stack's program with the repository's app files, `files` (name -> data) written over them."""
    project = tmp / "berth"
    shutil.copytree(mockrun.REPO / "apps", project / "apps")
    for name, data in files.items():
        (project / "apps" / f"{name}.yaml").write_text(json.dumps(data), encoding="utf-8")
    mockrun.sandbox_project(tmp, config)
    return mockrun.run(stack, config, root_directory=project)
