"""What the seeds' apps need from berth to work as the seeds describe (issue 13), under mocks.

Build-time public env reaching `next build`, shared volumes, per-service dev mounts, the GPU host,
instance types read from AWS. Each bad-input case runs the real program and checks that it stops
before any resource exists, naming the config path. What happens at run time is in
tests/engine/test_seed_needs.py.
"""

from __future__ import annotations

import pytest

from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from offline.mockrun import REPO
from tests.support.app_files import load_app, load_with_app, with_changes
from tests.support.stacks import stack_config


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
COLLABRY_SECRETS = {"berth:collabryMongodbUri": "mongodb+srv://u:p@cluster0.example.mongodb.net/collabry",
                    "berth:collabryJwtSecret": "jwt-for-tests", "berth:collabryOpenaiApiKey": "sk-for-tests"}


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
        for dockerfile in ("Dockerfile",):
            (tmp_path / context / dockerfile).touch()
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
