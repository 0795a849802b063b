"""A service's `tmpfs` paths on ECS: task scratch volumes any user of the image may write.

On one host `tmpfs` paths are tmpfs mounts, which Docker creates with mode 1777 (writable by every
user, like /tmp). On ECS berth keeps them as task volumes without a host path (the task's ephemeral
storage, AWS, Amazon ECS Developer Guide, "Fargate task ephemeral storage"), which every platform
version runs. Such a volume starts as a directory owned by root with mode 0755, so an image that runs
as its own user (Next.js's `USER nextjs`) could not write /tmp or /app/.next/cache. A first container
of the task, which must exit 0 before the service's starts, gives each volume mode 1777: it runs as
root, the directories' owner, so it needs no capability at all.

Not `linuxParameters.tmpfs`: botocore's ECS model (1.44.8) no longer notes it as unsupported on
Fargate, but AWS's Developer Guide still does ("Amazon ECS task definition differences for the Fargate
launch type": "The devices, sharedMemorySize, and tmpfs parameters are not supported"); a refused
RegisterTaskDefinition would stop the first deploy, and the scratch volume works on both.
"""

from __future__ import annotations

import shlex
from typing import Any

import pulumi_aws as aws

from config.app import Service

OPENER = "berth-scratch"  # the container that opens the scratch volumes; no service is named with this prefix


def volume_name(index: int) -> str:
    return f"scratch-{index}"


def volumes(svc: Service) -> list[aws.ecs.TaskDefinitionVolumeArgsDict]:
    return [{"name": volume_name(i)} for i in range(len(svc.tmpfs))]


def mount_points(svc: Service) -> list[dict[str, Any]]:
    return [{"sourceVolume": volume_name(i), "containerPath": path, "readOnly": False}
            for i, path in enumerate(svc.tmpfs)]


def opener(svc: Service, image: str, log_configuration: dict[str, Any]) -> dict[str, Any]:
    """The container that makes the service's scratch volumes writable for every user, then exits."""
    paths = [f"/scratch/{i}" for i in range(len(svc.tmpfs))]
    return {
        "name": OPENER, "image": image, "essential": False, "user": "0",
        "command": ["sh", "-c", "chmod 1777 " + " ".join(shlex.quote(p) for p in paths)],
        "readonlyRootFilesystem": True, "privileged": False,
        "linuxParameters": {"capabilities": {"drop": ["ALL"], "add": []}},
        "mountPoints": [{"sourceVolume": volume_name(i), "containerPath": p, "readOnly": False}
                        for i, p in enumerate(paths)],
        "logConfiguration": log_configuration,
    }


def wait_for_opener(svc: Service) -> list[dict[str, str]]:
    """The service's container starts once the scratch volumes are open (none: nothing to wait for)."""
    return [{"containerName": OPENER, "condition": "SUCCESS"}] if svc.tmpfs else []
