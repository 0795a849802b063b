"""Image references: Docker's grammar, and berth's one answer to "is this pinned?", given alike by the
prod config check and the Compose importer."""

from __future__ import annotations

import pytest
import yaml

from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from importer import images as importer_images
from rules import images
from tests.support.compose_import import run_import
from tests.support.stacks import REPO, mocked_instance_type, stack_config

# (reference, pinned): every kind of tag berth meets, both ways
PINNING = [
    ("redis:7-alpine", False), ("redis:7.4", False), ("postgres:15", False), ("qdrant/qdrant:latest", False),
    ("nginx", False), ("node:20.11-alpine", False), ("python:3.12-slim", False),
    ("postgres:17.6-alpine", True), ("postgres:15.14", True), ("redis:7.4.5-alpine", True),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/berth/prod/postgres:17.6-alpine", True),
    ("qdrant/qdrant:v1.15.5", True), ("chromadb/chroma:0.6.3", True), ("caddy:2.10.2-alpine", True),
    ("ghcr.io/x/y@sha256:" + "a" * 64, True), ("registry:5000/team/app:3f9c2a1", True),
    ("minio/minio:RELEASE.2024-10-02T17-50-41Z", True), ("example/app:2024-05-01", True),
]


@pytest.mark.parametrize("ref,pinned", PINNING)
def test_only_a_digest_or_a_tag_naming_one_release_is_pinned(ref, pinned):
    assert images.is_pinned(ref) is pinned


def _prod_config_refuses(project, ref: str) -> bool:
    """Whether prod's config check refuses `ref` as the proxy's image (the sandbox's other problems ignored)."""
    config = stack_config("prod", plain={"berth:proxy": {"acmeEmail": "ops@chmedia.com", "image": ref}})
    try:
        load(RawConfig.from_values(config.values, config.secret_keys), "prod", project,
             instance_types=mocked_instance_type)
    except ConfigError as error:
        return any(p.where == "berth:proxy.image" for p in error.problems)
    return False


def test_prod_config_and_the_importer_agree_on_what_is_pinned(tmp_path):
    """The importer copies every image (dev runs a moving tag) and leaves a TODO for an unpinned one; prod's
    config refuses the unpinned. (Postgres, Redis and proxy images become berth's own services on import, so
    only others count.)"""
    judged = [(ref, pinned) for ref, pinned in PINNING
              if not (importer_images.is_postgres(ref) or importer_images.is_redis(ref)
                      or importer_images.is_one_of(ref, importer_images.PROXY_IMAGES))]
    services = {f"s{i}": {"image": ref} for i, (ref, _) in enumerate(judged)}
    (tmp_path / "src").mkdir()
    compose = tmp_path / "src" / "docker-compose.yml"
    compose.write_text(yaml.safe_dump({"services": services}), encoding="utf-8")
    imported = run_import(tmp_path, compose, "--app", "pins")
    written = {svc.get("image") for app in imported.apps.values() for svc in app.get("services", {}).values()}
    for ref, pinned in judged:
        marked = any(f"'{ref}' is not pinned" in todo for todo in imported.todos)
        refused = _prod_config_refuses(REPO, ref)
        assert (ref in written, marked, refused) == (True, not pinned, not pinned), ref


@pytest.mark.parametrize("ref", ["redis:7.4.5", "ghcr.io/org/app:1.2.3", "localhost:5000/a/b-c__d.e:x",
                                 "a@sha256:" + "0" * 64, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/prod/x:5be2a1f"])
def test_docker_accepts_these_references(ref):
    assert images.reference_problem(ref) is None


@pytest.mark.parametrize("ref", ["redis:7.4.5 --privileged", "Redis:7", "redis:", ":7", "a//b:1", "a:-1",
                                 "a@sha256:short", "a/" + "b" * 260 + ":1", "redis:7;rm -rf /",
                                 "redis:7\u00e9", "redis:\u0661"])
def test_docker_refuses_these_references(ref):
    assert images.reference_problem(ref) is not None


@pytest.mark.parametrize("tag,ok", [("5be2a1f", True), ("1.4.2", True), ("v1_x-Y.z", True), ("-x", False),
                                    (".x", False), ("a b", False), ("a/b", False), ("x" * 129, False),
                                    ("v\u00e9", False), ("\u0661", False), ("1.0\n", False)])
def test_a_version_must_be_a_docker_tag(tag, ok):
    assert (images.tag_problem(tag) is None) is ok
