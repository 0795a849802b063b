"""Every generated artifact, checked by the program that will consume it.

The artifacts come from real program runs (the Caddyfile uploaded into the proxy, the instance's
user data), not from hand-built fixtures. In CI each validator must be installed: these never skip there.
Each validator also gets one input it must reject, so a test here cannot pass with a validator that
accepts everything.
"""

from __future__ import annotations

import pytest
import yaml

from render import cloud_init
from tests.support.stacks import REPO
from tests.support.validators import caddy, caddyfile_of, cloud_init_schema, shellcheck

STACKS = ["dev", "staging", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_caddy_accepts_the_rendered_caddyfile(deploy, stack, tmp_path):
    caddy("validate", caddyfile_of(deploy(stack)), tmp_path)


def test_caddy_rejects_a_broken_caddyfile(tmp_path):
    result = caddy("validate", "example.com {\n\treverse_proxi backend:8000\n}\n", tmp_path, expect_ok=False)
    assert result.returncode != 0


# Caddyfiles whose verdict differs between Debian 12's Caddy 2.6.2 and the 2.10.2 berth pins (caddy v2.10.2,
# caddyconfig/httpcaddyfile/builtins.go and options.go), so these pass only with the pinned Caddy.
ONLY_NEWER_CADDY = {
    "named route and invoke (2.7)": "&(health) {\n\trespond ok\n}\n:80 {\n\tinvoke health\n}\n",
    "handle_errors by status (2.8)": ":80 {\n\trespond ok\n\thandle_errors 404 {\n\t\trespond gone\n\t}\n}\n",
    "log_skip (2.8)": ":80 {\n\tlog_skip /health\n\trespond ok\n}\n",
}
ONLY_OLDER_CADDY = {  # the text, and what the pinned Caddy says about it
    "on_demand_tls interval (gone in 2.8)": ("{\n\ton_demand_tls {\n\t\task http://127.0.0.1:9/ok\n\t\tinterval 2m\n\t}\n}\n"
                                             ":80 {\n\trespond ok\n}\n", "'interval' option is no longer supported"),
    "zerossl issuer without an API key (2.10)": ("example.com {\n\ttls {\n\t\tissuer zerossl\n\t}\n\trespond ok\n}\n",
                                                 "wrong argument count or unexpected line ending after 'zerossl'"),
}


@pytest.mark.parametrize("text", ONLY_NEWER_CADDY.values(), ids=ONLY_NEWER_CADDY)
def test_caddy_accepts_what_only_the_pinned_release_understands(text, tmp_path):
    caddy("validate", text, tmp_path)


@pytest.mark.parametrize(("text", "error"), ONLY_OLDER_CADDY.values(), ids=ONLY_OLDER_CADDY)
def test_caddy_rejects_what_only_debians_older_release_accepted(text, error, tmp_path):
    result = caddy("validate", text, tmp_path, expect_ok=False)
    assert result.returncode != 0 and error in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_cloud_init_schema_accepts_the_user_data(deploy, stack, tmp_path):
    cloud_init_schema(deploy(stack).get("aws:ec2/instance:Instance", "host-instance").values["userData"], tmp_path)


def test_cloud_init_schema_rejects_a_wrong_key(tmp_path):
    result = cloud_init_schema("#cloud-config\nwrite_files:\n  - path: 3\n    permissions: true\n", tmp_path,
                               expect_ok=False)
    assert result.returncode != 0


@pytest.mark.parametrize("gpu", [False, True])
def test_shellcheck_passes_every_script_in_the_user_data(tmp_path, gpu):
    setup = cloud_init.HostSetup(data_volume_id="vol-0123456789abcdef0", gpu=gpu, ecr_registry="1.dkr.ecr.x.amazonaws.com")
    document = yaml.safe_load(cloud_init.render(setup).removeprefix("#cloud-config\n"))
    scripts = {f["path"]: f["content"] for f in document["write_files"] if f["content"].startswith("#!")}
    scripts.update({"bootcmd": "#!/bin/sh\n" + "\n".join(document["bootcmd"]) + "\n"} if "bootcmd" in document else {})
    assert scripts == cloud_init.shell_scripts(setup)
    for content in scripts.values():
        shellcheck(content, tmp_path)


def test_shellcheck_rejects_a_broken_script(tmp_path):
    with pytest.raises(AssertionError):
        shellcheck("rm -rf $dir/*\n", tmp_path)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_readiness_gate_command_passes_shellcheck(deploy, stack, tmp_path):
    shellcheck(deploy(stack).get("command:remote:Command", "host-ready").values["create"], tmp_path)


SHELL_SCRIPTS = sorted(str(p.relative_to(REPO)) for p in [*(REPO / "scripts").iterdir(), *(REPO / "scripts/lib").iterdir(),
                                                          REPO / ".ci/run"] if p.is_file())


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_every_script_a_user_or_ci_runs_passes_shellcheck(script):
    shellcheck(REPO / script)
