"""The ECS stacks the tests run under mocks, shared by every test of the ECS backend.

Collabry (seed 002, with the seed's replica and resource numbers), the CHM server (seed 000) and the
on-prem RAG system (seed 003) with its GPU service on the cluster's EC2 capacity, each as prod and
staging. `ecs_run(stack)` runs each once per session (xdist worker), so every test file asks the
same run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from offline.mockrun import REPO, Run
from tests.support.stacks import SharedRuns, stack_config

EXAMPLES = REPO / "examples"
COLLABRY, CHM, RAG_GPU = "collabry-ecs/Pulumi.prod.yaml", "chm-ecs/Pulumi.prod.yaml", "on-prem-rag/Pulumi.prod.yaml"
SECRETS = {
    COLLABRY: {"berth:collabryMongodbUri": "mongodb+srv://collabry:atlas-pw-for-tests@cluster0.example.mongodb.net/c",
               "berth:collabryJwtSecret": "collabry-jwt-secret-for-tests",
               "berth:collabryOpenaiApiKey": "sk-collabry-openai-for-tests"},
    CHM: {"berth:chatbotOpenaiApiKey": "sk-chatbot-openai-for-tests"},
    RAG_GPU: {"berth:ragChromaToken": "ChromaTokenForTests0123"},
}
# The RAG system's single-host stack moved to ECS: Ollama on the GPU capacity, the rest on Fargate.
OVERLAYS = {RAG_GPU: {"berth:host": {"kind": "ecs", "gpuInstanceType": "g4dn.xlarge"},
                      "berth:dns": {"zoneName": "example.com"}}}
ECS_STACKS = (COLLABRY, CHM, RAG_GPU)
SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

def ecs_config(example: str, environment: str = "prod", plain=None):
    extra = {**OVERLAYS.get(example, {}), "berth:environment": environment, **(plain or {})}
    return stack_config("prod", stack_file=EXAMPLES / example, secrets=SECRETS[example], plain=extra)


def stack_name(example: str, environment: str = "prod") -> str:
    return f"{Path(example).parent.name}-ecs-{environment}".replace("-ecs-ecs-", "-ecs-")


def ecs_run(example: str, runs: SharedRuns, environment: str = "prod") -> Run:
    """The example on ECS under mocks, run once per session (tests/support/stacks.py)."""
    run = runs.get(stack_name(example, environment), ecs_config(example, environment))
    assert run.of_type(SERVICE), "the ECS program registered no ECS service"
    return run


def containers(run: Run, service: str) -> dict[str, dict]:
    """The container definitions of the task definition named `<app>-<service>`."""
    task = run.get(TASK, service)
    return {c["name"]: c for c in json.loads(task.values["containerDefinitions"])}


def mock_id(prefix: str, name: str) -> str:
    """The id the mocks give a security group, EFS file system or access point (offline/mockrun.py)."""
    return f"{prefix}-" + hashlib.sha256(name.encode()).hexdigest()[:17]


def group_id(run: Run, name: str) -> str:
    return mock_id("sg", name)
