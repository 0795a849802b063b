"""Shell that runs a one-off ECS task and fails unless its container exits 0.

Post-deploy hooks (migrations) and database provisioning run this way on ECS: a task of the service's
new task definition, in the app's private subnets and security groups. `aws ecs run-task` only starts
a task, so the script waits for it to stop and reads the container's exit code: a failed migration
fails the deploy, as `docker exec` does on one host. Runs where `pulumi up` runs (the AWS CLI).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class OneOffTask:
    cluster: str
    task_definition: str
    container: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    command: tuple[str, ...] | None = None  # None: the image's own command
    capacity_provider: str | None = None  # EC2 (GPU) capacity instead of Fargate


def run_task_script(task: OneOffTask) -> str:
    network = json.dumps({"awsvpcConfiguration": {"subnets": list(task.subnets),
                                                  "securityGroups": list(task.security_groups),
                                                  "assignPublicIp": "DISABLED"}}, separators=(",", ":"))
    placement = (f"--capacity-provider-strategy capacityProvider={shlex.quote(task.capacity_provider)},weight=1"
                 if task.capacity_provider else "--launch-type FARGATE")
    overrides = ""
    if task.command is not None:
        overrides = " --overrides " + shlex.quote(json.dumps(
            {"containerOverrides": [{"name": task.container, "command": list(task.command)}]}, separators=(",", ":")))
    cluster = shlex.quote(task.cluster)
    query = shlex.quote(f"tasks[0].containers[?name=='{task.container}'].exitCode | [0]")
    return "\n".join([
        "set -euo pipefail",
        f"task=$(aws ecs run-task --cluster {cluster} --task-definition {shlex.quote(task.task_definition)} "
        f"{placement} --network-configuration {shlex.quote(network)}{overrides} "
        "--started-by berth --query 'tasks[0].taskArn' --output text)",
        'if [ -z "$task" ] || [ "$task" = None ]; then echo "berth: the task did not start" >&2; exit 1; fi',
        'echo "berth: waiting for $task"',
        f'aws ecs wait tasks-stopped --cluster {cluster} --tasks "$task"',
        f'code=$(aws ecs describe-tasks --cluster {cluster} --tasks "$task" --query {query} --output text)',
        'if [ "$code" != 0 ]; then',
        f'  echo {shlex.quote(f"berth: {task.container} exited with")} "$code;" '
        "\"its output is in the app's CloudWatch log group\" >&2",
        "  exit 1",
        "fi",
        "",
    ])
