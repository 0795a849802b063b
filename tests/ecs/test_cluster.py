"""The cluster's GPU capacity, as a GPU service needs it on its first deploy (seed 003's Ollama on ECS)."""

from __future__ import annotations

import yaml

from offline.mockrun import REPO
from tests.support.ecs import RAG_GPU, SERVICE, containers, ecs_config
from tests.support.policy import policy_violations
from tests.support.stacks import run_stack

COMMAND = "command:local:Command"


def test_a_gpu_service_is_created_after_its_capacity_provider_is_attached_to_the_cluster(ecs):
    """CreateService with a capacity provider the cluster does not list yet is refused."""
    run = ecs(RAG_GPU)
    attachment = run.get("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders", "cluster-capacity")
    assert attachment.urn in run.get(SERVICE, "rag-ollama").dependencies
    provider = run.get("aws:ecs/capacityProvider:CapacityProvider", "cluster-gpu")
    assert provider.state["name"] in attachment.values["capacityProviders"]


def test_gpu_instances_boot_the_amazon_linux_2023_ecs_gpu_ami(ecs):
    asked = [args["name"] for token, args in ecs(RAG_GPU).calls if token == "aws:ssm/getParameter:getParameter"]
    assert asked == ["/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"]


def test_a_gpu_services_after_deploy_hook_runs_on_the_gpu_capacity(tmp_path, ecs):
    """Its task definition is EC2-only: `--launch-type FARGATE` would be refused."""
    apps = tmp_path / "berth" / "apps"
    apps.mkdir(parents=True)
    for source in (REPO / "apps").iterdir():
        (apps / source.name).write_bytes(source.read_bytes())
    rag = yaml.safe_load((apps / "rag.yaml").read_text())
    rag["services"]["ollama"]["afterDeploy"] = [{"command": ["ollama", "pull", "llama3.2:3b"]}]
    (apps / "rag.yaml").write_text(yaml.safe_dump(rag, sort_keys=False))
    run = run_stack(tmp_path, "on-prem-rag-ecs-prod", ecs_config(RAG_GPU))
    script = run.get(COMMAND, "rag-ollama-after-deploy-1").values["create"]
    provider = run.get("aws:ecs/capacityProvider:CapacityProvider", "cluster-gpu").state["name"]
    assert f"--capacity-provider-strategy capacityProvider={provider},weight=1" in script
    assert "--launch-type" not in script
    assert containers(run, "rag-ollama")["ollama"]["resourceRequirements"] == [{"type": "GPU", "value": "1"}]


def test_the_gpu_variant_passes_the_policy_pack(ecs):
    """chm-ecs and collabry-ecs are judged with every example (tests/test_policy_pack.py); this is the third."""
    assert policy_violations(ecs(RAG_GPU)) == []


def test_the_gpu_instances_carry_the_stacks_tags_from_their_auto_scaling_group(ecs):
    """The group takes tags as a list of blocks, not the tag map the other resources take; the stack's are
    propagated at launch, so each GPU instance says which stack and environment it belongs to, and ECS's
    own `AmazonECSManaged` tag stays."""
    group = ecs(RAG_GPU).get("aws:autoscaling/group:Group", "cluster-gpu")
    blocks = {block["key"]: block for block in group.values["tags"]}
    assert blocks["berth:stack"] == {"key": "berth:stack", "value": "on-prem-rag-ecs-prod", "propagateAtLaunch": True}
    assert blocks["berth:environment"]["value"] == "prod" and blocks["berth:environment"]["propagateAtLaunch"]
    assert blocks["AmazonECSManaged"]["propagateAtLaunch"]
