"""What the seeds' apps need from berth to work as the seeds describe, under mocks.

Build-time public env reaching `next build`, shared volumes, per-service dev mounts, the GPU host,
instance types read from AWS. Each bad-input case runs the real program and checks that it stops
before any resource exists, naming the config path. What happens at run time is in
tests/engine/test_seed_needs.py.
"""

from __future__ import annotations

import pytest
import yaml

from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from offline.mockrun import REPO
from tests.support.app_files import load_app, load_with_app, with_changes
from tests.support.engine_stacks import example_secrets
from tests.support.stacks import stack_config
from tests.support.validators import cloud_init_schema, shellcheck


def images(run) -> dict:
    return {r.name: r.values for r in run.of_type("docker:index/image:Image")}


def overlay(stack: str, app: str, service: str, **changes) -> dict:
    """`berth:apps` of a stack file with one service's overlay changed (an `image` replaces its `build`)."""
    apps = stack_config(stack).object("berth:apps")
    services = apps[app].setdefault("services", {})
    base = {k: v for k, v in services.get(service, {}).items() if not ("image" in changes and k == "build")}
    services[service] = {**base, **changes}
    return {"berth:apps": apps}


# --- build-time public env ----------------------------------------------------------------------------

def test_every_stack_builds_its_frontends_with_its_own_address(deploy):
    for stack, url in (("dev", "http://chatbot.localhost:8080"), ("staging", "https://chatbot.staging.chmedia.com"),
                       ("prod", "https://chatbot.chmedia.com")):
        assert images(deploy(stack))["chatbot-frontend"]["build"]["args"] == {"NEXT_PUBLIC_API_URL": f"{url}/api"}


def test_a_stack_adds_build_args_beside_the_apps_own(deploy):
    run = deploy("dev", plain=overlay("dev", "chatbot", "frontend", build={
        "context": "../chm-chatbot/chm-chatbot-frontend", "args": {"NEXT_PUBLIC_SENTRY_ENV": "dev-${hostname}"}}))
    assert images(run)["chatbot-frontend"]["build"]["args"] == {
        "NEXT_PUBLIC_API_URL": "http://chatbot.localhost:8080/api", "NEXT_PUBLIC_SENTRY_ENV": "dev-chatbot.localhost"}


def test_no_container_is_given_public_build_time_env_at_run_time(deploy):
    for stack in ("dev", "staging", "prod"):
        for name, container in deploy(stack).containers().items():
            envs = container.values.get("envs") or []
            assert not any(e.startswith("NEXT_PUBLIC_") for e in envs if isinstance(e, str)), name


def test_next_public_env_set_at_run_time_is_refused_with_the_fix(config_problems):
    problems = config_problems("dev", plain=overlay("dev", "mediahub", "frontend",
                                                   env={"NEXT_PUBLIC_API_URL": "http://localhost:8000"}))
    assert problems == [
        "berth:apps.mediahub.services.frontend.env: NEXT_PUBLIC_API_URL is compiled into the browser code by "
        "`next build`; set at run time it changes nothing the browser sees: move it to `build.args` (the "
        "Dockerfile needs `ARG NEXT_PUBLIC_API_URL` before `next build`)"]


def test_next_public_env_on_a_pulled_image_says_it_belongs_to_that_images_build(config_problems):
    problems = config_problems("dev", plain=overlay("dev", "mediahub", "frontend", image="chm/mediahub-web:1.4.2",
                                                   env={"NEXT_PUBLIC_API_URL": "http://localhost:8000"}))
    assert problems == [
        "berth:apps.mediahub.services.frontend.env: NEXT_PUBLIC_API_URL is compiled into the browser code by "
        "`next build`; set at run time it changes nothing the browser sees: give it to the build that makes the image"]


def test_an_unknown_placeholder_in_a_build_arg_is_refused(config_problems):
    problems = config_problems("dev", plain=overlay("dev", "chatbot", "frontend", build={
        "context": "../chm-chatbot/chm-chatbot-frontend", "args": {"NEXT_PUBLIC_API_URL": "${domain}/api"}}))
    assert problems == ["berth:apps.chatbot.services.frontend.build.args: NEXT_PUBLIC_API_URL: ${domain} is not a "
                        "placeholder berth fills in; use ${url} or ${hostname}"]


# --- a volume several replicas share -------------------------------------------------------------------

EXAMPLES = REPO / "examples"
# The examples' secrets are the test values the engine tier gives them: test_engine_apply reads the same runs.
COLLABRY_SECRETS = example_secrets("collabry/Pulumi.prod.yaml")


def collabry(deploy, **kwargs):
    return deploy("prod", stack_file=EXAMPLES / "collabry" / "Pulumi.prod.yaml", secrets=COLLABRY_SECRETS, **kwargs)


def test_collabry_backend_replicas_all_mount_the_seeds_uploads_volume(deploy):
    run = collabry(deploy)
    backends = {n: c for n, c in run.containers().items() if n.startswith("collabry-backend-")}
    assert len(backends) == 3
    for container in backends.values():
        mounts = {v["containerPath"]: v.get("volumeName") for v in container.values["volumes"]}
        assert mounts["/app/uploads"] == "collabry_uploads"
        assert not container.delete_before_replace  # stateless otherwise: a new replica is healthy first
    volume = run.get("docker:index/volume:Volume", "collabry-uploads")
    assert volume.values["name"] == "collabry_uploads" and volume.protect and volume.retain_on_delete


def test_a_volume_two_services_mount_must_be_shared_by_both_on_purpose(tmp_path):
    app = with_changes(api={"volumes": {"uploads": "/data/uploads"}}, web={"sharedVolumes": {"uploads": "/uploads"}})
    assert load_with_app(tmp_path, app) == [
        "apps/shop.yaml: services 'api', 'web' all mount volume 'uploads', which 'api' keeps to itself "
        "(`volumes`); list it under `sharedVolumes` in each if they may write it at the same time, or give each its own"]


def test_a_volume_is_either_shared_or_kept(tmp_path):
    app = with_changes(api={"volumes": {"uploads": "/a"}, "sharedVolumes": {"uploads": "/b"}})
    assert load_with_app(tmp_path, app) == [
        "apps/shop.yaml: services.api: volume 'uploads' is under both `volumes` and `sharedVolumes`; keep it under one"]


def test_replicas_may_share_a_volume_only_when_the_app_says_so(tmp_path):
    assert load_with_app(tmp_path, with_changes(api={"replicas": 2, "volumes": {"uploads": "/a"}})) == [
        "apps/shop.yaml: services.api: replicas must be 1 because it has data volumes; two copies would corrupt or "
        "duplicate work"]
    shared = with_changes(api={"replicas": 2, "sharedVolumes": {"uploads": "/a"}},
                          web={"sharedVolumes": {"uploads": "/srv/uploads"}})
    assert not load_app(tmp_path / "shared", shared).apps["shop"].services["api"].stateful


# --- dev source mounts ---------------------------------------------------------------------------------

RAG_DEV = EXAMPLES / "on-prem-rag" / "Pulumi.dev.yaml"


def bind_mounts(run, container: str) -> dict[str, dict]:
    return {v["containerPath"]: v for v in run.containers()[container].values["volumes"] if v.get("hostPath")}


def test_each_service_mounts_its_own_checkout_under_a_shared_key(deploy):
    """Both services name their source mount `code`; each gets the directory its own overlay names."""
    run = deploy("dev", stack_file=RAG_DEV)
    api, frontend = bind_mounts(run, "rag-api")["/app"], bind_mounts(run, "rag-frontend")["/app"]
    assert api["hostPath"] == run.get("docker:index/image:Image", "rag-api").values["build"]["context"]
    assert frontend["hostPath"] == run.get("docker:index/image:Image", "rag-frontend").values["build"]["context"]
    assert frontend["hostPath"].endswith("/rag-system/frontend") and api["hostPath"].endswith("/rag-system")
    assert api["readOnly"] and frontend["readOnly"]
    volumes = {v["containerPath"]: v.get("volumeName") for v in run.containers()["rag-api"].values["volumes"]}
    assert volumes["/app/data/documents"] == "rag_documents" and volumes["/app/logs"] == "rag_logs"


def fresh_checkout_problems(tmp_path, config) -> list[str]:
    """Load a stack whose build contexts exist as fresh, empty checkouts (no data/ or logs/ in them)."""
    project = tmp_path / "berth"
    project.mkdir()
    (project / "apps").symlink_to(REPO / "apps", target_is_directory=True)
    for context in ("rag-system", "rag-system/frontend"):
        (tmp_path / context).mkdir(parents=True, exist_ok=True)
        (tmp_path / context / "Dockerfile").touch()
    with pytest.raises(ConfigError) as caught:
        load(RawConfig.from_values(config.values, config.secret_keys), "dev", project)
    return [str(p) for p in caught.value.problems]


def test_a_volume_inside_a_read_only_checkout_needs_its_mount_point_there(tmp_path):
    config = stack_config("dev", stack_file=RAG_DEV)
    assert fresh_checkout_problems(tmp_path, config) == [
        "berth:apps.rag.services.api.hostDirs.code: /app/data/documents is mounted inside this read-only mount of "
        "../rag-system, which has no directory data/documents for it; Docker cannot create one in a read-only "
        "mount, so the container would not start. Create it (it stays empty; the mount covers it): "
        "mkdir -p ../rag-system/data/documents",
        "berth:apps.rag.services.api.hostDirs.code: /app/logs is mounted inside this read-only mount of "
        "../rag-system, which has no directory logs for it; Docker cannot create one in a read-only mount, so "
        "the container would not start. Create it (it stays empty; the mount covers it): mkdir -p ../rag-system/logs"]
    (tmp_path / "rag-system" / "data" / "documents").mkdir(parents=True)
    (tmp_path / "rag-system" / "logs").mkdir()
    load(RawConfig.from_values(config.values, config.secret_keys), "dev", tmp_path / "berth")  # now it loads


def test_a_read_only_host_dir_on_the_host_takes_no_mount_inside_it(config_problems):
    reports = "/home/ubuntu/chm_report_automation"
    problems = config_problems("prod", plain=overlay("prod", "mediahub", "backend", hostDirs={
        "reports": {"target": reports, "readOnly": True}, "output": {"target": f"{reports}/output"}}))
    assert problems == [
        f"berth:apps.mediahub.services.backend.hostDirs.reports: {reports}/output is mounted inside this read-only "
        f"mount of {reports}, whose directory on the host berth cannot look into; Docker cannot create the mount "
        f"point output there. Mount it outside {reports}, or drop readOnly"]


# --- any EC2 instance type, described by AWS --------------------------------------------------------------

RAG_PROD = EXAMPLES / "on-prem-rag" / "Pulumi.prod.yaml"
RAG_SECRETS = example_secrets("on-prem-rag/Pulumi.prod.yaml")


def with_type(stack: str, instance_type: str, stack_file=None) -> dict:
    host = stack_config(stack, stack_file=stack_file).object("berth:host")
    return {"berth:host": {**host, "instanceType": instance_type}}


def asked(run, token: str) -> list[dict]:
    return [args for tok, args in run.calls if tok == token]


def ami_filters(run) -> dict[str, list[str]]:
    (call,) = asked(run, "aws:ec2/getAmi:getAmi")
    return {"owners": call["owners"], **{f["name"]: f["values"] for f in call["filters"]}}


@pytest.mark.parametrize("instance_type", ["m7i.xlarge", "c7i.xlarge", "t3.xlarge"])
def test_any_type_aws_offers_is_used_as_aws_describes_it(deploy, instance_type):
    run = deploy("staging", plain=with_type("staging", instance_type))
    assert asked(run, "aws:ec2/getInstanceType:getInstanceType") == [{"instanceType": instance_type}]
    assert run.get("aws:ec2/instance:Instance", "host-instance").values["instanceType"] == instance_type


def test_a_type_too_small_for_the_containers_is_refused_by_its_real_memory(config_problems):
    # t4g.medium: 4 GiB according to AWS, 3 GiB after the OS's share; the CHM stack's limits need more
    problems = config_problems("staging", plain=with_type("staging", "t4g.medium"))
    assert problems == ["berth:host.instanceType: the containers' memory limits add up to 5632 MiB but t4g.medium "
                        "leaves 3072 MiB for containers; choose a larger instance type or lower memoryMb"]


def test_an_arm_host_gets_arm_images_an_arm_ami_and_arm_packages(deploy):
    run = deploy("staging", plain=with_type("staging", "t4g.xlarge"))
    assert ami_filters(run)["architecture"] == ["arm64"]
    assert ami_filters(run)["name"] == ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*"]
    assert "deb [arch=arm64 signed-by=$KEY_FILE] https://download.docker.com" in \
        run.get("aws:ec2/instance:Instance", "host-instance").values["userData"]
    assert {i["build"]["platform"] for i in images(run).values()} == {"linux/arm64"}
    assert {r.values["platform"] for r in run.of_type("docker:index/remoteImage:RemoteImage")} == {"linux/arm64"}


def test_an_image_built_for_the_other_architecture_is_refused(config_problems):
    plain = {**with_type("staging", "t4g.xlarge"), **overlay("staging", "chatbot", "backend", build={
        "context": "../chm-chatbot", "platform": "linux/amd64"})}
    assert config_problems("staging", plain=plain) == [
        "berth:apps.chatbot.services.backend.build.platform: linux/amd64 images do not run on t4g.xlarge, which is "
        "arm64 (linux/arm64); build for linux/arm64, or leave platform unset to build for the host"]


def test_a_type_berths_hosts_cannot_run_is_refused(config_problems):
    assert config_problems("staging", plain=with_type("staging", "mac2.metal")) == [
        "berth:host.instanceType: mac2.metal runs arm64_mac; berth's hosts run Ubuntu on x86_64 or arm64; choose one "
        "`aws ec2 describe-instance-types` lists"]


# --- the GPU host -----------------------------------------------------------------------------------------

def rag(deploy, instance_type: str = "g4dn.xlarge"):
    return deploy("prod", stack_file=RAG_PROD, secrets=RAG_SECRETS,
                  plain=with_type("prod", instance_type, RAG_PROD) if instance_type != "g4dn.xlarge" else None)


@pytest.mark.parametrize(("instance_type", "arch", "name"), [
    ("g4dn.xlarge", "x86_64", "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *"),
    ("g6.xlarge", "x86_64", "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *"),
    ("g5g.4xlarge", "arm64", "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *"),
])
def test_a_gpu_host_boots_an_ami_whose_driver_fits_its_kernel(deploy, instance_type, arch, name):
    filters = ami_filters(rag(deploy, instance_type))
    assert (filters["owners"], filters["name"], filters["architecture"]) == (["amazon"], [name], [arch])


def test_a_gpu_host_never_upgrades_its_kernel_past_the_driver(deploy, tmp_path):
    user_data = rag(deploy).get("aws:ec2/instance:Instance", "host-instance").values["userData"]
    document = yaml.safe_load(user_data.removeprefix("#cloud-config\n"))
    (hold,) = document["bootcmd"]  # before the first boot's package upgrade, and on every boot
    assert "apt-mark hold" in hold and "'linux-image-*'" in hold and document["package_upgrade"] is True
    assert "ubuntu-drivers" not in user_data  # no driver built for a kernel that is not running
    assert "apt" not in document  # the AMI's own Docker and NVIDIA repositories, no second entry
    cloud_init_schema(user_data, tmp_path)


def test_a_gpu_hosts_readiness_gate_asks_the_driver_and_docker_for_the_gpu(deploy, tmp_path):
    gate = rag(deploy).get("command:remote:Command", "host-ready").values["create"]
    assert "nvidia-smi -L" in gate and "'{{json .Runtimes}}' | grep -q '\"nvidia\"'" in gate
    shellcheck(gate, tmp_path)
    plain_gate = deploy("prod").get("command:remote:Command", "host-ready").values["create"]
    assert "nvidia" not in plain_gate
