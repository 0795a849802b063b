"""`tmpfs` paths on ECS: scratch volumes the service's own user can write, as tmpfs is on one host."""

from __future__ import annotations

import pytest

from components.ecs.scratch import OPENER
from tests.support.ecs import CHM, COLLABRY, ECS_STACKS, TASK, containers


def test_a_non_root_nextjs_image_can_write_its_tmp_and_its_cache(ecs):
    """Next.js images run as `nextjs`: /tmp and /app/.next/cache must be open to it before it starts."""
    task = containers(ecs(COLLABRY), "collabry-frontend")
    frontend, opener = task["frontend"], task[OPENER]
    volumes = {m["containerPath"]: m["sourceVolume"] for m in frontend["mountPoints"]}
    opened = {m["sourceVolume"]: m["containerPath"] for m in opener["mountPoints"]}
    assert set(opened) == {volumes["/tmp"], volumes["/app/.next/cache"]}
    assert opener["command"] == ["sh", "-c", "chmod 1777 " + " ".join(sorted(opened.values()))]
    assert frontend["dependsOn"] == [{"containerName": OPENER, "condition": "SUCCESS"}]
    assert opener["essential"] is False and frontend["essential"] is True


@pytest.mark.parametrize("example", ECS_STACKS)
def test_the_opener_runs_as_root_with_no_capability_on_a_read_only_root(ecs, example):
    """Root owns the fresh volumes, and an owner may chmod without any capability."""
    run = ecs(example)
    openers = [c for t in run.of_type(TASK) for c in containers(run, t.name).values() if c["name"] == OPENER]
    assert openers
    for opener in openers:
        assert opener["user"] == "0" and opener["readonlyRootFilesystem"] is True
        assert opener["linuxParameters"]["capabilities"] == {"drop": ["ALL"], "add": []}


def test_a_service_without_tmpfs_has_no_opener(ecs):
    """chatbot's frontend has tmpfs; mediahub's edge proxy has none."""
    run = ecs(CHM)
    assert OPENER in containers(run, "chatbot-frontend")
    edge = containers(run, "mediahub-edge")
    assert OPENER not in edge and not edge["edge"]["dependsOn"]
    assert containers(run, "chatbot-frontend")[OPENER]["image"] == edge["edge"]["image"]  # the pinned proxy image
