"""Exposure and credentials: SSH opens only to admins' networks on every EC2 stack, however the internet is
split up; prod keeps credentials out of plain env and build args, whatever they are called or however
they are written; on ECS an app's execution role pulls only its own images.
"""

from __future__ import annotations

import copy
import fnmatch
import json

import pytest

from tests.support.app_files import repo_app, run_with_app_files
from tests.support.policy import policy_violations
from tests.support.stacks import REPO, stack_config


def ec2_host(stack: str, **changes) -> dict:
    return {"berth:host": {**stack_config(stack).object("berth:host"), **changes}}


@pytest.mark.parametrize("stack", ["staging", "prod"])
@pytest.mark.parametrize("cidrs, reach", [
    ({"a": "0.0.0.0/1", "b": "128.0.0.0/1"}, "the whole internet"),
    ({"a": "2000::/3"}, f"{2 ** 125} IPv6 addresses"),
    ({"a": "0.0.0.0/2", "b": "64.0.0.0/2", "c": "128.0.0.0/2", "d": "192.0.0.0/2"}, "the whole internet"),
    ({"a": "10.0.0.0/9", "b": "10.128.0.0/9"}, "16777216 IPv4 addresses"),
])
def test_every_ec2_stack_judges_the_address_space_ssh_admits(config_problems, stack, cidrs, reach):
    problems = config_problems(stack, plain=ec2_host(stack, adminCidrs=cidrs))
    assert len(problems) == 1 and f"open SSH to {reach}; {stack} allows SSH only from named admin networks" in problems[0]


def test_a_pr_stack_copied_from_staging_is_judged_as_staging(config_problems):
    problems = config_problems("staging", stack_name="pr-42", plain=ec2_host("staging", adminCidrs={
        "a": "0.0.0.0/1", "b": "128.0.0.0/1"}))
    assert len(problems) == 1 and "open SSH to the whole internet; staging allows" in problems[0]


def test_the_pack_refuses_any_one_ssh_rule_wider_than_an_admin_network(deploy):
    run = copy.deepcopy(deploy("staging"))
    rule = next(r for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                if r.values.get("fromPort") == 22)
    rule.inputs["cidrIpv4"] = "0.0.0.0/1"
    assert policy_violations(run) == [f"host-ssh-only-from-admin-networks: {rule.name}: opens SSH to 0.0.0.0/1, more "
                                      "than admins' networks need (at most a /16 or a /48)"]


@pytest.mark.parametrize("field, key, value", [
    ("env", "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("env", "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    ("env", "ANALYTICS", "postgres://reader:hunter2@${hostname}/stats"),
    ("env", "DB_PASSWORD", "${hostname}-hunter2"),
    ("env", "UPSTREAM", "https://user:pw@api.example.net/v1"),
    ("build.args", "NPM_TOKEN", "npm_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("build.args", "SENTRY_DSN", "https://key@o1.ingest.sentry.io/2"),
    ("build.args", "NEXT_PUBLIC_API", "https://u:p@${hostname}/api"),
])
def test_prod_refuses_a_credential_in_plain_env_or_build_args(config_problems, field, key, value):
    apps = stack_config("prod").object("berth:apps")
    backend = apps["chatbot"]["services"]["backend"]
    if field == "env":
        backend["env"] = {key: value}
    else:
        backend["build"] = {**backend["build"], "args": {key: value}}
    problems = config_problems("prod", plain={"berth:apps": apps})
    kept = "plain env is stored unmarked in state" if field == "env" else "a build argument stays in the image's history"
    assert len(problems) == 1 and problems[0].startswith(
        f"berth:apps.chatbot.services.backend.{field}.{key}: looks like a credential, and {kept}")


@pytest.mark.parametrize("key, value", [("TOKEN_URL", "${url}/oauth/token"), ("AUTH_HOST", "${hostname}"),
                                        ("PUBLIC_URL", "${url}")])
def test_the_apps_own_address_is_no_credential(deploy, key, value):
    apps = stack_config("prod").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["env"] = {key: value}
    assert deploy("prod", plain={"berth:apps": apps}).resources


def test_on_ecs_an_app_pulls_only_its_own_images_not_those_of_an_app_named_like_it(tmp_path):
    chat, chat_bot = repo_app("chatbot"), repo_app("chatbot")
    chat.update(name="chat", hostname="chat")
    chat_bot.update(name="chat-bot", hostname="chat-bot")
    for service in chat_bot["services"].values():  # its own key: no two apps name one secret
        service["secretEnv"] = {k: "chatBotOpenaiApiKey" for k in service.get("secretEnv", {})}
    config = stack_config("prod", stack_file=REPO / "examples/chm-ecs/Pulumi.prod.yaml",
                          secrets={"berth:chatbotOpenaiApiKey": "sk-test", "berth:chatBotOpenaiApiKey": "sk-test"})
    overlay = config.object("berth:apps")["chatbot"]
    config = config.with_values(plain={"berth:apps": {"chat": overlay, "chat-bot": overlay}})
    run = run_with_app_files(tmp_path, "chm-ecs", config, {"chat": chat, "chat-bot": chat_bot})
    repositories = {app: [r.values["name"] for r in run.of_type("aws:ecr/repository:Repository")
                          if r.name.startswith(f"{app}-") and r.name.removeprefix(f"{app}-") in chat["services"]]
                    for app in ("chat", "chat-bot")}
    policy = json.loads(run.get("aws:iam/rolePolicy:RolePolicy", "chat-execution").values["policy"])
    pulls = next(s for s in policy["Statement"] if s["Sid"] == "OwnImages")["Resource"]
    arn = "arn:aws:ecr:us-east-1:123456789012:repository/"
    assert sorted(p.removeprefix(arn) for p in pulls) == sorted(repositories["chat"])
    assert not [r for r in repositories["chat-bot"] for p in pulls if fnmatch.fnmatchcase(arn + r, p)]


def test_an_app_never_names_another_apps_secret(tmp_path):
    """app files are untrusted: one naming chatbot's key would be given chatbot's credential."""
    from tests.support.app_files import problems_of

    def app(name: str, key: str) -> dict:
        return {"name": name, "hostname": name, "services": {"web": {
            "image": "example/x:1.0.0", "port": 80, "healthcheck": {"path": "/"}, "secretEnv": {"API_KEY": key}}}}

    assert problems_of(tmp_path, {"chatbot": app("chatbot", "chatbotOpenaiApiKey"),
                                  "mediahub": app("mediahub", "chatbotOpenaiApiKey")}) == [
        "apps/mediahub.yaml: secretEnv: secret 'chatbotOpenaiApiKey' is already app 'chatbot''s (its app file names it); "
        "each app names its own secrets: set one for 'mediahub' under another key"]
