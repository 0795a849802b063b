"""A host directory reaches only what is the app's own, judged after resolving `..` and links.

On EC2 an app's host dirs are directories of its own on the data volume (`/srv/berth/host-dirs/<app>/<name>`):
never the backup tool's work directory (every app's dump during a backup), the host-dirs root, another
app's directory, or a climb out of its own. In dev a host dir is part of one of the app's own checkouts
(its services' build contexts), never `/`, the Docker socket's `/run`, or another app's checkout; and a
build context never holds the project itself (its Pulumi state and passphrase).
"""

from __future__ import annotations

import pytest

from tests.support.stacks import stack_config

OWN = "/srv/berth/host-dirs/chatbot"


def with_host_dir(stack: str, source: str, app: str = "chatbot", service: str = "backend") -> dict:
    apps = stack_config(stack).object("berth:apps")
    apps[app]["services"].setdefault(service, {})["hostDirs"] = {"x": {"source": source, "target": "/x"}}
    return {"berth:apps": apps}


@pytest.mark.parametrize("source", ["/srv/berth/backup-work", "/srv/berth/host-dirs", "/srv/berth/host-dirs/mediahub",
                                    "/srv/berth/host-dirs/mediahub/reports", f"{OWN}/../mediahub/reports", OWN,
                                    f"{OWN}/a/b", "/srv/berth/host-dirs/chatbot-x/a", f"{OWN}/.", "/srv/berthx/a"])
def test_on_ec2_a_host_dir_is_one_of_the_apps_own(config_problems, source):
    problems = config_problems("staging", plain=with_host_dir("staging", source))
    assert len(problems) == 1 and problems[0].startswith("berth:apps.chatbot.services.backend.hostDirs.x.source: ")
    assert f"is not a directory of the app's own: on this host an app mounts only {OWN}/<name>" in problems[0]


def test_on_ec2_the_apps_own_directory_is_mounted(deploy):
    run = deploy("staging", plain=with_host_dir("staging", f"{OWN}/reports"))
    mounts = [v["hostPath"] for c in run.containers().values() for v in c.values.get("volumes") or [] if "hostPath" in v]
    assert f"{OWN}/reports" in mounts


def test_in_dev_a_climb_out_of_the_checkouts_is_refused(config_problems):
    problems = config_problems("dev", plain=with_host_dir("dev", "../" * 40))
    assert len(problems) == 1 and problems[0].startswith(
        "berth:apps.chatbot.services.backend.hostDirs.x.source: " + "../" * 39 + ".. is /, which is not inside one "
        "of the app's own checkouts")


def test_in_dev_a_link_in_a_checkout_is_judged_where_it_leads(config_problems, tmp_path):
    (tmp_path / "chm-chatbot").mkdir()
    (tmp_path / "chm-chatbot" / "sock").symlink_to("/run")
    problems = config_problems("dev", plain=with_host_dir("dev", "../chm-chatbot/sock"))
    assert problems == ["berth:apps.chatbot.services.backend.hostDirs.x.source: ../chm-chatbot/sock is /run, which "
                        f"is not inside one of the app's own checkouts ({tmp_path}/chm-chatbot, "
                        f"{tmp_path}/chm-chatbot/chm-chatbot-frontend); in dev a host directory mounts part of the "
                        "app's source for live reload, nothing else"]


def test_in_dev_another_apps_checkout_is_refused(config_problems):
    problems = config_problems("dev", plain=with_host_dir("dev", "../chm-mediahub/backend"))
    assert len(problems) == 1 and "which is not inside one of the app's own checkouts" in problems[0]


def test_in_dev_part_of_the_apps_own_checkout_is_mounted(deploy):
    run = deploy("dev", plain=with_host_dir("dev", "../chm-chatbot"))
    mounts = [v["hostPath"] for c in run.containers().values() for v in c.values.get("volumes") or [] if "hostPath" in v]
    assert any(m.endswith("/chm-chatbot") for m in mounts)


@pytest.mark.parametrize("context, held", [("..", "this project (its Pulumi state and passphrase)"),
                                           (".", "this project (its Pulumi state and passphrase)"),
                                           ("/", "the machine's own system files"),
                                           ("/etc", "the machine's own system files")])
def test_a_build_context_never_holds_the_project_or_the_system(config_problems, context, held):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["build"]["context"] = context
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert [p for p in problems if ".build.context:" in p and held in p], problems
