"""Bad input stops the program before any resource exists, with every problem named by its path.

Each case runs the real program with one stack file changed; `config_problems` also checks that the
run registered nothing and that the message carries no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.load import load
from config.raw_config import RawConfig
from tests.support.app_files import MINIMAL, load_with_app, with_changes
from tests.support.stacks import stack_config


def ec2_host(stack: str, **changes) -> dict:
    return {**stack_config(stack).object("berth:host"), **changes}


def test_unknown_environment(config_problems):
    problems = config_problems("dev", plain={"berth:environment": "qa"})
    assert problems == ["berth:environment: Input should be 'dev', 'staging' or 'prod'"]


def test_misspelled_top_level_setting(config_problems):
    problems = config_problems("dev", plain={"berth:domian": "example.com"})
    assert len(problems) == 1 and problems[0].startswith("berth:domian: is neither a berth setting nor a secret")


def test_prod_refuses_ssh_from_the_whole_internet(config_problems):
    host = ec2_host("prod", adminCidrs={"office": "203.0.113.10/32", "anywhere": "0.0.0.0/0"})
    problems = config_problems("prod", plain={"berth:host": host})
    assert problems == ["berth:host.adminCidrs.anywhere: 203.0.113.10/32, 0.0.0.0/0 open SSH to the whole internet; prod "
                        "allows SSH only from named admin networks (at most a /16 in all), or none: use SSM Session Manager"]


def test_unknown_instance_type(config_problems):
    problems = config_problems("staging", plain={"berth:host": ec2_host("staging", instanceType="t3.banana")})
    assert problems == ["berth:host.instanceType: 't3.banana' is not an EC2 instance type in this region (aws:region); "
                        "choose one `aws ec2 describe-instance-types` lists"]


def test_misspelled_host_setting_is_reported_at_its_own_path(config_problems):
    problems = config_problems("staging", plain={"berth:host": ec2_host("staging", dataVolumeGB=30)})
    assert problems == ["berth:host.dataVolumeGB: is not a setting berth knows; remove it or check its spelling"]


def test_prod_must_run_on_ec2_or_ecs(config_problems):
    problems = config_problems("prod", plain={"berth:host": {"kind": "local"}})
    assert "berth:host.kind: prod runs on an EC2 host (`kind: ec2`) or an ECS cluster (`kind: ecs`) berth creates" in problems


def test_prod_refuses_unpinned_images(config_problems):
    problems = config_problems("prod", plain={"berth:proxy": {"acmeEmail": "ops@chmedia.com", "image": "caddy:latest"},
                                              "berth:shared": {"postgres": {"image": "postgres:17"}, "redis": {}}})
    assert [p.split(". Pin")[0] for p in problems] == [
        "berth:proxy.image: 'caddy:latest' is not pinned (latest moves with every release); prod deploys only pinned images",
        "berth:shared.postgres.image: 'postgres:17' is not pinned (17 moves with every release); prod deploys only "
        "pinned images",
    ]
    assert "postgres@sha256:..., or pick its exact version tag (e.g. postgres:1.2.3)" in problems[1]


def test_missing_build_context_says_which_path_and_how_to_set_it(config_problems):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["build"]["context"] = "../no-such-checkout"
    problems = config_problems("dev", plain={"berth:apps": apps}, leave_missing=("../no-such-checkout",))
    assert len(problems) == 1
    where, message = problems[0].split(": ", 1)
    assert where == "berth:apps.chatbot.services.backend.build.context"
    assert message.startswith("directory ../no-such-checkout does not exist (looked for /")
    assert "pulumi config set --path 'berth:apps.chatbot.services.backend.build.context' <dir>" in message


def test_prod_refuses_to_deploy_with_a_secret_missing(config_problems):
    problems = config_problems("prod", stack_file=Path("Pulumi.prod.yaml").resolve())
    assert problems == ["berth:chatbotOpenaiApiKey: is not set and prod never makes up secrets; set it: "
                        "pulumi config set --secret chatbotOpenaiApiKey <value>"]


def test_a_secret_in_plain_text_is_refused(config_problems):
    problems = config_problems("staging", plain={"berth:chatbotOpenaiApiKey": "sk-pasted-in-plain-text"})
    assert problems == ["berth:chatbotOpenaiApiKey: is stored in plain text; set it with: "
                        "pulumi config set --secret chatbotOpenaiApiKey <value>"]
    assert not any("sk-pasted" in p for p in problems)


def test_unknown_app(config_problems):
    apps = {**stack_config("dev").object("berth:apps"), "shop": {}}
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert len(problems) == 1 and problems[0].startswith("berth:apps.shop: there is no app definition apps/shop.yaml")


def test_overlay_for_a_service_the_app_does_not_have(config_problems):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["services"]["worker"] = {"memoryMb": 256}
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert problems == ["berth:apps.chatbot.services.worker: app 'chatbot' has no service 'worker'; it has backend, frontend"]


def test_misspelled_overlay_field(config_problems):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["memoryMB"] = 4096
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert problems == ["berth:apps.chatbot.services.backend.memoryMB: is not a setting berth knows; remove it or check its spelling"]


def test_containers_that_do_not_fit_the_instance(config_problems):
    problems = config_problems("staging", plain={"berth:host": ec2_host("staging", instanceType="t3.medium")})
    assert problems == ["berth:host.instanceType: the containers' memory limits add up to 5632 MiB but t3.medium leaves "
                        "3072 MiB for containers; choose a larger instance type or lower memoryMb"]


def chatbot_backend(stack: str, **settings) -> dict:
    """Plain config overrides giving `stack`'s chatbot backend `settings`."""
    apps = stack_config(stack).object("berth:apps")
    apps["chatbot"]["services"]["backend"].update(settings)
    return {"berth:apps": apps}


def test_a_deploy_of_one_service_must_fit_beside_the_old_containers(config_problems):
    """A stateless service's new containers start beside its old ones (create-first); its gate retires the
    old ones once the new ones are healthy, so one service's overlap must fit. staging: 5632 MiB of limits,
    t3.large leaves 7168; raising the chatbot backend to 3072 MiB leaves room for no 1024 MiB frontend."""
    problems = config_problems("staging", plain=chatbot_backend("staging", memoryMb=3072))
    assert problems == ["berth:host.instanceType: a deploy that changes mediahub.backend starts its new containers "
                        "(1024 MiB) beside the old ones: the memory limits then add up to 7680 MiB but t3.large leaves "
                        "7168 MiB for containers; choose a larger instance type or lower memoryMb"]


def test_cpus_the_provider_reads_back_otherwise_are_refused(config_problems):
    problems = config_problems("dev", plain=chatbot_backend("dev", cpus=0.05))
    assert len(problems) == 1 and problems[0].startswith("berth:apps.chatbot.services.backend.cpus: ")
    assert "reads 0.05 CPUs back as 0.1, so every refreshed deploy would replace the container; use 0.1" in problems[0]


def test_more_cpus_than_the_host_has_are_refused(config_problems):
    problems = config_problems("staging", plain=chatbot_backend("staging", cpus=4))
    assert problems == ["berth:apps.chatbot.services.backend.cpus: 4.0 CPUs, but t3.large has 2; Docker refuses to "
                        "create the container. Set at most 2, or choose a larger instance type"]


def test_app_using_postgres_needs_the_shared_postgres(config_problems):
    problems = config_problems("dev", plain={"berth:shared": {"redis": {}}})
    assert problems == ["berth:shared.postgres: app 'mediahub' uses postgres; add `postgres: {}` under berth:shared"]


def test_two_apps_cannot_share_a_host_name(config_problems):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["hostname"] = "mediahub"
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert problems == ["berth:apps.chatbot.hostname: mediahub.localhost is already the host name of app 'mediahub'; "
                        "give each app its own"]


def test_a_service_with_data_volumes_cannot_be_replicated(config_problems):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["replicas"] = 2
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert problems == ["berth:apps.chatbot.services.backend: replicas must be 1 because it has data volumes; "
                        "two copies would corrupt or duplicate work"]


def test_built_images_need_a_version_outside_dev(config_problems):
    apps = stack_config("staging").object("berth:apps")
    del apps["mediahub"]["services"]["frontend"]["version"]
    problems = config_problems("staging", plain={"berth:apps": apps})
    assert len(problems) == 1 and problems[0].startswith("berth:apps.mediahub.services.frontend.version: is required")


def test_a_private_key_is_not_a_public_key(config_problems):
    host = ec2_host("staging", sshPublicKey="-----BEGIN OPENSSH PRIVATE KEY-----")
    problems = config_problems("staging", plain={"berth:host": host})
    assert problems == ["berth:host.sshPublicKey: give an OpenSSH public key line (`ssh-ed25519 AAAA... you@host`), "
                        "never a private key"]


def test_every_problem_is_reported_at_once(config_problems):
    problems = config_problems("prod", plain={
        "berth:host": ec2_host("prod", instanceType="t3.medium", adminCidrs={"all": "::/0"}),
        "berth:proxy": {"image": "caddy:latest"},
    })
    assert [p.split(":")[0] + ":" + p.split(":")[1] for p in problems] == [
        "berth:proxy.acmeEmail", "berth:host.adminCidrs.all", "berth:proxy.image", "berth:host.instanceType",
    ]


# --- app definitions (apps/*.yaml) ------------------------------------------------------------------

def test_minimal_app_is_valid(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "shop.yaml").write_text(json.dumps(MINIMAL), encoding="utf-8")
    deployment = load(RawConfig({"environment": "dev", "host": {"kind": "local"}, "apps": {"shop": {}}}), "dev", tmp_path)
    assert set(deployment.apps["shop"].services) == {"api", "web"}


def test_route_to_a_missing_service(tmp_path):
    app = {**MINIMAL, "routes": {"/": {"service": "frontend"}}}
    assert load_with_app(tmp_path, app) == [
        "apps/shop.yaml: route '/' goes to service 'frontend', which this app does not define"]


def test_a_path_claimed_twice(tmp_path):
    app = {**MINIMAL, "routes": {"/api": {"service": "api"}, "/api/": {"service": "api"}, "/": {"service": "web"}}}
    assert load_with_app(tmp_path, app) == [
        "apps/shop.yaml: routes: routes '/api' and '/api/' claim the same path; keep one"]


def test_a_duplicate_key_in_yaml_is_an_error_not_an_overwrite(tmp_path):
    text = "name: shop\nhostname: shop\nservices: {}\nroutes:\n  /: {service: web}\n  /: {service: api}\n"
    problems = load_with_app(tmp_path, text)
    assert problems == ["apps/shop.yaml: line 6: '/' appears twice; keep one"]


def test_a_server_without_a_healthcheck(tmp_path):
    app = json.loads(json.dumps(MINIMAL))
    del app["services"]["api"]["healthcheck"]
    assert load_with_app(tmp_path, app) == [
        "apps/shop.yaml: services.api: a server needs a `healthcheck` so deploys wait for it to be ready, not a sleep"]


def test_dependency_cycle(tmp_path):
    app = with_changes(api={"dependsOn": ["web"]}, web={"dependsOn": ["api"]})
    problems = load_with_app(tmp_path, app)
    assert len(problems) == 1 and "depend on each other in a circle" in problems[0]


def test_unknown_env_placeholder(tmp_path):
    problems = load_with_app(tmp_path, with_changes(web={"env": {"API": "${domain}/api"}}))
    assert problems == ["apps/shop.yaml: services.web.env: API: ${domain} is not a placeholder berth fills in; "
                        "use ${url} or ${hostname}"]


def test_using_something_neither_shared_nor_external(tmp_path):
    problems = load_with_app(tmp_path, with_changes(api={"uses": {"mongodb": "MONGODB_URI"}}))
    assert problems == ["apps/shop.yaml: service 'api' uses 'mongodb': name a shared service "
                        "(postgres, redis) or add it under `external:`"]


@pytest.mark.parametrize("spelling", ["SYS_ADMIN", "CAP_SYS_ADMIN", "cap_sys_admin", " sys_admin"])
def test_granting_sys_admin_is_refused_however_it_is_spelled(tmp_path, spelling):
    problems = load_with_app(tmp_path, with_changes(api={"capAdd": [spelling]}))
    assert problems == [f"apps/shop.yaml: services.api.capAdd[0]: {spelling!r} lets a container reach past its own "
                        "walls (as good as privileged); berth never grants it. Run the work that needs it outside the "
                        "app, or drop it"]


def test_prod_refuses_an_unpinned_image_set_in_a_stack_overlay(config_problems):
    apps = stack_config("prod").object("berth:apps")
    apps["chatbot"]["services"]["backend"] = {"image": "example/chatbot-api"}
    apps["chatbot"]["services"]["frontend"] = {"image": "registry.example.com:5000/chatbot-web:latest"}
    apps["mediahub"]["services"]["backend"] = {"image": "registry.example.com:5000/mediahub-api"}
    problems = config_problems("prod", plain={"berth:apps": apps})
    unpinned = "moves with every release); prod deploys only pinned images"
    assert {p.split(". Pin")[0] for p in problems} == {
        f"berth:apps.chatbot.services.backend.image: 'example/chatbot-api' is not pinned (no tag (latest) {unpinned}",
        f"berth:apps.chatbot.services.frontend.image: 'registry.example.com:5000/chatbot-web:latest' is not pinned "
        f"(latest {unpinned}",
        f"berth:apps.mediahub.services.backend.image: 'registry.example.com:5000/mediahub-api' is not pinned "
        f"(no tag (latest) {unpinned}",
    }


def test_the_host_keeps_at_least_the_image_it_runs(config_problems):
    problems = config_problems("prod", plain={"berth:ecr": {"keepOnHost": 0}})
    assert problems == ["berth:ecr.keepOnHost: Input should be greater than 0"]


def test_using_redis_means_saying_what_for(tmp_path):
    problems = load_with_app(tmp_path, with_changes(api={"uses": {"redis": "REDIS_URL"}}))
    assert problems == ["apps/shop.yaml: service 'api' uses redis: say what the app keeps there, `redis: {mode: cache}` "
                        "(full memory evicts old keys, nothing kept on disk) or `redis: {mode: store}` "
                        "(never evicts, kept on a volume)"]


def test_a_redis_mode_is_cache_or_store(tmp_path):
    app = {**with_changes(api={"uses": {"redis": "REDIS_URL"}}), "redis": {"mode": "queue"}}
    problems = load_with_app(tmp_path, app)
    assert len(problems) == 1 and problems[0].startswith("apps/shop.yaml: redis.mode: ") and "'cache'" in problems[0]


def test_the_apps_own_redis_claims_its_names(tmp_path):
    app = {**with_changes(api={"uses": {"redis": "REDIS_URL"}, "volumes": {"redis": "/data"}}), "redis": {"mode": "store"}}
    app["services"]["redis"] = {"image": "redis:7", "port": 6379, "healthcheck": {"command": ["true"]}}
    assert load_with_app(tmp_path, app) == [
        "apps/shop.yaml: service 'api' shares its name 'redis' with something it uses; rename one; "
        "a volume named 'redis' would clash with the app's own Redis's data; rename the volume"]


def test_a_volume_owner_is_numeric(tmp_path):
    problems = load_with_app(tmp_path, with_changes(api={"volumes": {"data": "/data"}, "volumeOwner": "app"}))
    assert problems == ["apps/shop.yaml: services.api.volumeOwner: 'app' is not a numeric owner: uid or uid:gid, "
                        "e.g. 1000:1000"]


def test_services_sharing_a_volume_agree_on_its_owner(tmp_path):
    app = with_changes(api={"sharedVolumes": {"data": "/data"}, "volumeOwner": "1000"},
                       web={"sharedVolumes": {"data": "/srv"}, "user": "2000:2000"})
    assert load_with_app(tmp_path, app) == [
        "apps/shop.yaml: services mounting volume 'data' want different owners; give them one `volumeOwner`"]
