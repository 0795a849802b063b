"""Images: where each comes from, what containers run, and how a version change and a rollback behave.

Every test runs the real program under mocks (`BerthMocks(existing_image_tags=...)` plays the ECR
repositories that already exist), except the host's pull-and-prune script, which runs under `sh`
against a stand-in `docker` that behaves like the real one where it matters (it refuses to remove
an image a container uses), and is checked by shellcheck.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.single_host.images import is_private_ecr, pull_script
from tests.support.stacks import run_stack, stack_config
from tests.support.validators import shellcheck
from offline.mockrun import BerthMocks, Resource, Run, is_secret_value, reveal

# One xdist worker runs this module, so its mixed-sources run is made once (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("test_images")

IMAGE = "docker:index/image:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
PROVIDER = "pulumi:providers:docker"
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
BUILT = ["mediahub-backend", "mediahub-frontend", "chatbot-backend", "chatbot-frontend"]
DIGEST_OLD = "sha256:" + "a" * 64
DIGEST_NEW = "sha256:" + "b" * 64


def pull_of(run: Run, name: str) -> Resource:
    """The host command that pulls `name`'s image (remote over SSH, or local through SSM / on dev)."""
    found = [r for r in run.resources if r.name == f"{name}-pull" and r.type.startswith("command:")]
    assert len(found) == 1, f"{name}: expected one pull command, found {[r.type for r in found]}"
    return found[0]


def with_service(stack: str, app: str, svc: str, **changes) -> dict:
    """`berth:apps` of a stack file with one service's overlay replaced by `changes`."""
    apps = stack_config(stack).object("berth:apps")
    apps[app]["services"][svc] = changes
    return {"berth:apps": apps}


def with_version(stack: str, app: str, svc: str, version: str) -> dict:
    apps = stack_config(stack).object("berth:apps")
    apps[app]["services"][svc]["version"] = version
    return {"berth:apps": apps}


def changed(before: Run, after: Run) -> set[str]:
    """Resources added, removed, or with different inputs between two runs, as `<Kind> <name>`."""
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    urns = (new.keys() ^ old.keys()) | {u for u in new.keys() & old.keys() if new[u].inputs != old[u].inputs}
    return {f"{r.type.rsplit(':', 1)[-1]} {r.name}" for r in (new.get(u) or old[u] for u in urns)}


def run_in(project: Path, stack: str, plain=None, mocks=None) -> Run:
    return run_stack(project, stack, stack_config(stack, plain=plain), mocks)


def project_of(run: Run) -> Path:
    """Where `run` ran: a run compared with it runs there too, as successive `pulumi up`s of one checkout do
    (a build's inputs, and so its made-up digest, name the checkout's path)."""
    assert run.project is not None
    return Path(run.project).parent


@pytest.fixture(scope="module")
def release(shared_runs) -> Run:
    """prod as its stack file says, on a first deploy: no repository exists, every service is built (the
    session's shared run of prod: read here, and the runs after it run in its project)."""
    return shared_runs.get("prod", stack_config("prod"))


@pytest.fixture(scope="module")
def project(release) -> Path:
    return project_of(release)


PUBLIC_DIGEST_REF = "ghcr.io/chmedia/chatbot-web@sha256:" + "c" * 64
ECR_API = f"{REGISTRY}/berth/prod/mediahub-api@{DIGEST_OLD}"
ECR_DB = f"{REGISTRY}/berth/prod/postgres:17.6-alpine"


@pytest.fixture(scope="module")
def mixed(project) -> Run:
    """prod with every image source at once and non-default ECR settings."""
    apps = stack_config("prod").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["build"].update(
        target="runtime", args={"PIP_INDEX_URL": "https://pypi.org/simple"})
    apps["chatbot"]["services"]["frontend"] = {"image": PUBLIC_DIGEST_REF}
    apps["mediahub"]["services"]["backend"] = {"image": ECR_API}
    shared = stack_config("prod").object("berth:shared")
    return run_in(project, "prod", plain={
        "berth:apps": apps, "berth:ecr": {"keepImages": 7, "keepOnHost": 4},
        "berth:shared": {**shared, "postgres": {**shared["postgres"], "image": ECR_DB}}})


BUILDS_DONE = {f"Image {n}" for n in BUILT} | {"docker builder"}  # what leaves once every version is pushed


def pushed(stack: str, run: Run) -> dict[str, dict[str, str]]:
    """What the ECR repositories hold after `run` pushed its builds: repository -> {version: digest}."""
    apps = stack_config(stack).object("berth:apps")
    out = {}
    for name in BUILT:
        app, svc = name.split("-")
        digest = run.get(IMAGE, name).state["repoDigest"].split("@", 1)[1]
        out[f"berth/{stack}/{name}"] = {apps[app]["services"][svc]["version"]: digest}
    return out


# --- pinned references -----------------------------------------------------------------------------

def test_public_pinned_refs_are_pulled_by_the_provider_and_kept_on_the_host(release):
    postgres = release.get(REMOTE_IMAGE, "shared-postgres")
    assert postgres.values["name"] == "postgres:17.6-alpine"
    assert postgres.values["keepLocally"] is True, "a replaced image must stay on the host for rollback"
    assert postgres.values["platform"] == "linux/amd64"
    assert postgres.provider.startswith(release.get(PROVIDER, "host-docker").urn)
    assert release.containers()["shared-postgres"].values["image"] == postgres.state["imageId"]


def test_a_digest_reference_is_pinned_enough_for_prod(mixed):
    assert mixed.get(REMOTE_IMAGE, "chatbot-frontend").values["name"] == PUBLIC_DIGEST_REF
    assert mixed.containers()["chatbot-frontend"].values["image"] == mixed.get(REMOTE_IMAGE, "chatbot-frontend").state["imageId"]
    assert "chatbot-frontend" not in {r.name for r in mixed.of_type(IMAGE)}


def test_only_prod_insists_on_pinned_references(deploy):
    run = deploy("staging", plain=with_service("staging", "chatbot", "backend", image="example/api:latest"))
    assert run.get(REMOTE_IMAGE, "chatbot-backend").values["name"] == "example/api:latest"


@pytest.mark.parametrize("ref, private", [
    (f"{REGISTRY}/berth/prod/api:1.0", True),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/api@sha256:" + "d" * 64, True),
    ("public.ecr.aws/docker/library/redis:7.4.5", False),
    ("postgres:17.6-alpine", False),
    ("registry.example.com:5000/api:1.0", False),
])
def test_private_ecr_references_are_recognised(ref, private):
    assert is_private_ecr(ref) is private


def assert_pulled_by_the_host(run: Run, pulls: dict[str, str]) -> None:
    assert {r.values["name"] for r in run.of_type(REMOTE_IMAGE)}.isdisjoint(pulls.values())
    for name, ref in pulls.items():
        pull = pull_of(run, name)
        assert f"docker pull --quiet {ref}" in pull.values["create"]
        assert run.containers()[name].values["image"] == pull.state["stdout"].strip()
        assert run.containers()[name].values["image"].startswith("sha256:")
        assert name not in {r.name for r in run.of_type(REPOSITORY)}
    for provider in run.of_type(PROVIDER):
        assert "registryAuth" not in provider.values, f"{provider.name} holds registry credentials"


def test_a_private_ecr_reference_is_pulled_by_the_host_not_the_provider(mixed):
    """The provider could pull it only with a registry password in its config (plain in state); the
    host pulls it with its instance role through the credential helper."""
    assert_pulled_by_the_host(mixed, {"mediahub-backend": ECR_API, "shared-postgres": ECR_DB})


def test_on_dev_a_private_ecr_reference_is_pulled_with_your_own_login(deploy):
    run = deploy("dev", plain=with_service("dev", "mediahub", "backend", image=ECR_API))
    assert pull_of(run, "mediahub-backend").type == "command:local:Command"
    assert_pulled_by_the_host(run, {"mediahub-backend": ECR_API})


# --- builds on staging and prod ------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_built_service_has_an_immutable_scanned_repository(deploy, stack):
    run = deploy(stack)
    repos = {r.name: r for r in run.of_type(REPOSITORY)}
    assert set(repos) == set(BUILT)
    for name, repo in repos.items():
        assert repo.values["name"] == f"berth/{stack}/{name}"
        assert repo.values["imageTagMutability"] == "IMMUTABLE"
        assert repo.values["imageScanningConfiguration"] == {"scanOnPush": True}
        # prod keeps its images through a destroy; staging's destroy removes the repository with them
        assert (repo.protect, repo.retain_on_delete, repo.values["forceDelete"]) == (
            (True, True, False) if stack == "prod" else (False, False, True))


def test_the_lifecycle_policy_keeps_the_configured_number_of_images(mixed):
    policies = mixed.of_type(LIFECYCLE)
    assert {p.values["repository"] for p in policies} == {r.state["name"] for r in mixed.of_type(REPOSITORY)}
    for policy in policies:
        [rule] = json.loads(policy.values["policy"])["rules"]
        assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 7}
        assert rule["action"] == {"type": "expire"}


def test_images_are_built_where_pulumi_runs_and_tagged_with_the_version(mixed):
    built = mixed.get(IMAGE, "chatbot-backend")
    builder = mixed.get(PROVIDER, "builder")
    assert built.provider.startswith(builder.urn)
    assert "host" not in builder.values, "the builder is the local engine, never the small EC2 host"
    assert built.values["imageName"] == f"{REGISTRY}/berth/prod/chatbot-backend:5be2a1f"
    build = built.values["build"]
    assert build["platform"] == "linux/amd64" and build["target"] == "runtime"
    assert build["args"] == {"PIP_INDEX_URL": "https://pypi.org/simple"}
    assert build["context"].endswith("/chm-chatbot") and build["dockerfile"].endswith("/chm-chatbot/Dockerfile.backend")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_pushes_use_a_short_lived_token_held_as_a_secret_by_the_image_only(deploy, stack):
    run = deploy(stack)
    for name in BUILT:
        registry = run.get(IMAGE, name).inputs["registry"]
        assert reveal(registry)["password"] == "ecr-token-for-tests"
        assert is_secret_value(registry) or is_secret_value(registry["password"])
    for provider in run.of_type(PROVIDER):
        assert "ecr-token-for-tests" not in json.dumps(provider.values)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_containers_run_the_image_id_the_host_pulled_for_the_pushed_digest(deploy, stack):
    """The provider reads a container's image back as the image id; a name or repository digest there
    would replace the container on every run (pulumi/pulumi-docker#1431)."""
    run = deploy(stack)
    for name in BUILT:
        digest_ref = run.get(IMAGE, name).state["repoDigest"]
        pull = pull_of(run, name)
        assert f"docker pull --quiet {digest_ref}" in pull.values["create"]
        image = run.containers()[name].values["image"]
        assert image == pull.state["stdout"].strip() and image.startswith("sha256:")
        assert pull.urn in run.containers()[name].dependencies, "the container is created after the pull"


# --- a version already in ECR: the run after a release, and rollbacks -------------------------------------

def test_the_first_deploy_lists_repositories_and_never_looks_into_missing_ones(release):
    tokens = [token for token, _ in release.calls]
    assert tokens.count("aws:ecr/getRepositories:getRepositories") == 1
    assert "aws:ecr/getImages:getImages" not in tokens
    assert {r.name for r in release.of_type(IMAGE)} == set(BUILT)


def test_a_version_not_in_its_repository_yet_is_built_and_pushed(deploy):
    run = deploy("prod", mocks=BerthMocks(existing_image_tags={"berth/prod/chatbot-backend": ["4a0c9e1"]}))
    assert ("aws:ecr/getImages:getImages", {"repositoryName": "berth/prod/chatbot-backend"}) in [
        (t, {k: v for k, v in a.items() if v is not None}) for t, a in run.calls]
    assert run.get(IMAGE, "chatbot-backend").values["imageName"].endswith(":5be2a1f")
    assert any("chatbot/backend: version 5be2a1f is not in ECR yet" in line for line in run.logs)


def test_the_run_after_a_release_rebuilds_nothing_and_changes_no_container(project, release):
    """Once pushed, a version is found in ECR: no build is declared and every container, pull and
    other resource stays exactly as the release left it (only the finished builds leave the program)."""
    after = run_in(project, "prod", mocks=BerthMocks(existing_image_tags=pushed("prod", release)))
    assert after.of_type(IMAGE) == []
    assert changed(release, after) == BUILDS_DONE


def test_rolling_back_to_a_pushed_version_pulls_it_without_a_build(project, release):
    existing = {**pushed("prod", release), "berth/prod/chatbot-backend": {"4a0c9e1": DIGEST_OLD, "5be2a1f": DIGEST_NEW}}
    rollback = run_in(project, "prod", plain=with_version("prod", "chatbot", "backend", "4a0c9e1"),
                      mocks=BerthMocks(existing_image_tags=existing))
    assert rollback.of_type(IMAGE) == [], "a version in ECR is never rebuilt (its tag is immutable)"
    pull = pull_of(rollback, "chatbot-backend")
    assert f"docker pull --quiet {REGISTRY}/berth/prod/chatbot-backend@{DIGEST_OLD}" in pull.values["create"]
    assert rollback.containers()["chatbot-backend"].values["image"] == pull.state["stdout"].strip()
    # only that service's pull and container differ from the release (the finished builds aside)
    assert changed(release, rollback) - BUILDS_DONE == {"Command chatbot-backend-pull", "Container chatbot-backend"}


# --- a version change touches only that service ----------------------------------------------------------

def test_a_new_version_replaces_only_that_services_image_pull_and_container(project, release):
    after = run_in(project, "prod", plain=with_version("prod", "chatbot", "backend", "7f3e2d1"))
    assert changed(release, after) == {"Image chatbot-backend", "Command chatbot-backend-pull",
                                       "Container chatbot-backend"}
    assert after.containers()["chatbot-backend"].values["image"] != release.containers()["chatbot-backend"].values["image"]


def test_a_dev_rebuild_of_one_service_changes_only_its_container(deploy):
    before = deploy("dev")
    build = {**stack_config("dev").object("berth:apps")["chatbot"]["services"]["backend"]["build"],
             "args": {"FEATURE_FLAGS": "new-retriever"}}
    after = run_in(project_of(before), "dev", plain=with_service("dev", "chatbot", "backend", build=build))
    assert changed(before, after) == {"Image chatbot-backend", "Container chatbot-backend"}


def test_dev_builds_on_the_local_engine_and_never_asks_aws(deploy):
    run = deploy("dev")
    for name in BUILT:
        built = run.get(IMAGE, name)
        assert built.values["skipPush"] is True and built.provider.startswith(run.get(PROVIDER, "host-docker").urn)
        assert run.containers()[name].values["image"] == built.state["repoDigest"]
    assert [t for t, _ in run.calls if t.startswith("aws:ecr/")] == []


# --- previous images stay on the host ------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_nothing_berth_declares_removes_an_image_from_the_host_by_force(deploy, stack):
    run = deploy(stack)
    assert all(r.values["keepLocally"] is True for r in run.of_type(REMOTE_IMAGE))
    commands = [r for r in run.resources if r.type.startswith("command:")]
    for pull in (r for r in commands if r.name.endswith("-pull")):
        assert "delete" not in pull.values and "update" not in pull.values, f"{pull.name} would act on removal"
    for command in commands:
        text = " ".join(str(command.values.get(k, "")) for k in ("create", "update", "delete"))
        for forced in ("rmi -f", "image rm -f", "image rm --force", "image prune -a", "system prune"):
            assert forced not in text, f"{command.name} runs `{forced}`"


def test_built_images_are_pruned_per_repository_past_keep_on_host(mixed):
    for name in ("chatbot-backend", "mediahub-frontend"):
        repo = mixed.get(REPOSITORY, name).state["repositoryUrl"]
        digest_ref = mixed.get(IMAGE, name).state["repoDigest"]
        assert pull_of(mixed, name).values["create"] == pull_script(digest_ref, repo, keep=4)


# --- the host's pull script, run against a stand-in docker ---------------------------------------------

FAKE_DOCKER = r'''#!/usr/bin/env python3
"""A stand-in for the docker CLI: images in a JSON file; refuses to remove an image a container uses."""
import json, os, sys
path = os.environ["FAKE_DOCKER_STATE"]
state = json.load(open(path))
args = sys.argv[1:]
state["calls"].append(args)
def save():
    json.dump(state, open(path, "w"))
if args[:2] == ["pull", "--quiet"]:
    ref = args[2]
    if ref not in state["refs"]:
        state["refs"][ref] = state["pullable"][ref]
        state["images"].insert(0, {"id": state["refs"][ref], "repo": ref.split("@")[0]})
    print(ref)
elif args[:2] == ["image", "inspect"]:
    print(state["refs"][args[-1]])
elif args[:2] == ["image", "ls"]:
    for image in state["images"]:  # newest first, as the daemon sorts them; one line per reference
        if image["repo"] == args[-1]:
            print(image["id"])
elif args[:2] == ["image", "rm"]:
    failed = False
    for image_id in args[2:]:
        if image_id.startswith("-"):
            sys.exit("forced removal requested: " + image_id)
        if image_id in state["in_use"]:
            print(f"conflict: unable to delete {image_id}: image is being used by a container", file=sys.stderr)
            failed = True
            continue
        state["images"] = [i for i in state["images"] if i["id"] != image_id]
    save()
    sys.exit(1 if failed else 0)
else:
    sys.exit(f"unexpected docker call: {args}")
save()
'''
REPO = f"{REGISTRY}/berth/prod/chatbot-backend"


def run_pull(tmp_path: Path, script: str, images: list[str], in_use: set[str], pullable: dict[str, str]):
    """Run `script` under sh with the stand-in docker; returns (stdout, image ids left, docker calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER.replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1), encoding="utf-8")
    fake.chmod(0o755)
    state_file = tmp_path / "docker.json"
    refs = {f"{REPO}@{i.replace('id-', 'sha256:d-')}": i for i in images}
    state_file.write_text(json.dumps({
        "images": [{"id": i, "repo": REPO} for i in images], "in_use": sorted(in_use),
        "refs": refs, "pullable": pullable, "calls": []}), encoding="utf-8")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DOCKER_STATE": str(state_file)}
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    final = json.loads(state_file.read_text(encoding="utf-8"))
    return result.stdout, [i["id"] for i in final["images"]], final["calls"]


def test_a_new_image_is_pulled_and_the_oldest_beyond_keep_on_host_are_removed(tmp_path):
    new_ref = f"{REPO}@sha256:d-new"
    stdout, left, calls = run_pull(
        tmp_path, pull_script(new_ref, REPO, keep=3),
        images=["id-5", "id-4", "id-4", "id-3", "id-2", "id-1"],  # newest first; id-4 under two digests
        in_use={"id-5"}, pullable={new_ref: "id-new"})
    assert stdout == "id-new\n", "the script prints the pulled image's id and nothing else"
    assert left == ["id-new", "id-5", "id-4", "id-4"], "the new image and the two newest others stay"
    assert all("-f" not in c and "--force" not in c for c in calls)


def test_rolling_back_keeps_the_old_image_it_runs_even_when_it_is_the_oldest(tmp_path):
    old_ref = f"{REPO}@sha256:d-1"
    stdout, left, _ = run_pull(tmp_path, pull_script(old_ref, REPO, keep=2),
                               images=["id-4", "id-3", "id-2", "id-1"], in_use={"id-4"}, pullable={})
    assert stdout == "id-1\n"
    assert left == ["id-4", "id-1"], "the image rolled back to is never pruned, nor one a container uses"


def test_an_image_a_container_still_uses_is_never_removed(tmp_path):
    new_ref = f"{REPO}@sha256:d-new"
    stdout, left, _ = run_pull(tmp_path, pull_script(new_ref, REPO, keep=1),
                               images=["id-3", "id-2", "id-1"], in_use={"id-3", "id-1"}, pullable={new_ref: "id-new"})
    assert stdout == "id-new\n", "a refused removal does not fail the deploy"
    assert left == ["id-new", "id-3", "id-1"]


def test_a_failed_pull_fails_the_command(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\necho 'denied: not authorized' >&2\nexit 1\n", encoding="utf-8")
    (bin_dir / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["sh", "-c", pull_script(f"{REPO}@sha256:d-new", REPO, keep=3)],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode != 0 and result.stdout == ""


@pytest.mark.parametrize("prune", [None, REPO])
def test_shellcheck_passes_the_pull_script(tmp_path, prune):
    shellcheck(pull_script(f"{REPO}@sha256:{'e' * 64}", prune, keep=3), tmp_path, shell="sh")
