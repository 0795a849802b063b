"""The prod stack deployed onto its booted host the way `pulumi up` deploys it, rebooted, backed up.

The Docker provider's resources are applied over `ssh://` (the `ssh` binary and `docker system
dial-stdio` on the host, as the provider dials it), and the stack's host commands run on the host
over SSH as pulumi-command runs them, exactly as registered: the readiness gate, the Postgres
provisioning, each service's health wait, the reporter's and the backup tool's installs. The one thing that stands in: the host's `docker pull` of its
ECR images is the stand-in image, loaded into the host's engine (no registry is reachable here).
In order: deployed and serving, the backup timer installed; rebooted with everything back; backed up
by the timer's own service to S3 (moto on loopback) and restored.
"""

from __future__ import annotations

import json
import os
import secrets
import time

import boto3
import pytest

from offline.mockrun import PULLED, reveal
from render import backup_host
from tests.engine.test_stacks import (
    PROBE,
    mediahub_redis,
    mediahub_sql,
    probe_path,
    reach,
    wait_healthy,
)
from tests.support.docker_inputs import REMOTE_COMMAND
from tests.support.host_tier import HostDeployment, deploy
from tests.support.vm import GATEWAY

# Under TCG the deploy takes far longer than CI's budget (the stand-in images' import into the VM's
# engine, above all): it runs when asked (docs/testing.md, "Deploying onto the host").
DEPLOY = "BERTH_HOST_TIER_DEPLOY"
pytestmark = pytest.mark.skipif(os.environ.get(DEPLOY) != "1",
                                reason=f"the deploy onto the booted host runs with {DEPLOY}=1 (docs/testing.md)")


@pytest.fixture(scope="session")
def deployed(host, host_stack, host_dir) -> HostDeployment:
    """The stack applied to the host over SSH (tests/support/host_tier.py)."""
    with deploy(host, host_stack, host_dir) as stack:
        yield stack


def test_the_stack_deploys_over_ssh_with_the_stacks_own_host_commands(deployed, host, host_stack):
    """Every container healthy on the host's engine; every remote command the stack registers ran on the
    host as registered, exactly once and successfully (the gate, the provisioning, each health wait, the
    reporter's and the backup tool's installs), but the ECR pulls (the stand-in images are there)."""
    stack = deployed.stack
    assert stack.applied.not_run == {}
    wait_healthy(stack, list(stack.applied.containers), timeout_s=30)
    ran = {c.name: c for c in stack.applied.commands}
    assert len(ran) == len(stack.applied.commands)
    remote = {r.name: reveal(r.inputs)["create"] for r in host_stack.run.of_type(REMOTE_COMMAND)}
    assert set(ran) == {name for name, script in remote.items() if not PULLED.search(script)}
    assert {"host-ready", "mediahub-postgres-provision", "backups-install"} <= set(ran)
    assert all(c.exit_code == 0 and c.script == remote[name] for name, c in ran.items())
    assert ran["host-ready"].script == host_stack.readiness_check
    assert ran["host-ready"].stdout.strip() == stack.client.version()["Version"]
    assert host.ssh.root("docker ps -q | wc -l").strip() == str(len(stack.applied.containers))


def test_routes_answer_through_the_proxy_on_the_hosts_ports(deployed):
    """Each app's routes answer by host name over HTTPS through the proxy the host publishes (its ports
    forwarded to loopback here), and only the proxy publishes; the userland proxy stays off."""
    stack = deployed.stack
    for app in stack.deployment.apps.values():
        for prefix, route in app.routes.items():
            path = probe_path(prefix)
            response = stack.through.request(stack.url(app, path), timeout=30)
            assert response.status == 200, f"{app.name} {path}: {response.status} {response.body[:200]!r}"
            assert response.json()["service"] == f"{app.name}/{route.service}"
    published = {name for name, cid in stack.applied.containers.items()
                 if stack.client.api.inspect_container(cid)["HostConfig"]["PortBindings"]}
    assert published == {"proxy"}
    assert deployed.host.ssh.run("pgrep -c docker-proxy", check=False).stdout.strip() == "0"


def test_the_backup_timer_is_installed_loaded_and_verified(deployed):
    """The deploy installed the backup tool's units: the timer enabled and waiting, the recover service
    enabled for the next boot, and `systemd-analyze verify` clean for all three."""
    ssh = deployed.host.ssh
    unit = backup_host.UNIT
    assert ssh.run(f"systemctl is-enabled {unit}.timer {unit}-recover.service").stdout.split() == ["enabled", "enabled"]
    assert ssh.run(f"systemctl is-active {unit}.timer").stdout.strip() == "active"
    assert ssh.run(f"systemctl show {unit}.timer -p NextElapseUSecRealtime --value").stdout.strip()
    verify = ssh.root(f"cd /etc/systemd/system && systemd-analyze verify {unit}.service {unit}.timer "
                      f"{unit}-recover.service 2>&1; echo exit=$?")
    assert verify.strip() == "exit=0", verify


@pytest.fixture(scope="session")
def rebooted(deployed) -> dict[str, str]:
    """Data written in every store, then the host rebooted: what was written, by where."""
    stack = deployed.stack
    token = secrets.token_hex(8)
    mediahub_sql(stack, f"CREATE TABLE boot_{token} (v text); INSERT INTO boot_{token} VALUES ('{token}')")
    mediahub_redis(stack, "SET", "boot", token)
    (backend,) = stack.containers_of("chatbot", "backend")
    stack.standin_data(backend, token)
    stack.applied.restart_engine()  # the host reboots: EngineStack's engine is the VM
    stack.client.close()  # its pooled ssh connections died with the host; later calls dial again
    return {"token": token, "backend": backend}


def test_after_a_reboot_the_volume_is_mounted_before_docker_and_everything_is_back(deployed, rebooted):
    """The mount comes up from fstab before docker.service starts; every container is healthy again by its
    restart policy, the data written before the reboot is there, and the routes answer."""
    stack, ssh, token = deployed.stack, deployed.host.ssh, rebooted["token"]

    def monotonic(unit: str, what: str) -> int:
        return int(ssh.run(f"systemctl show {unit} -p {what} --value").stdout.strip())

    mounted = monotonic("srv-berth.mount", "ActiveEnterTimestampMonotonic")
    assert 0 < mounted < monotonic("docker.service", "ExecMainStartTimestampMonotonic")
    wait_healthy(stack, list(stack.applied.containers), timeout_s=600)
    assert mediahub_sql(stack, f"SELECT v FROM boot_{token}") == token
    assert mediahub_redis(stack, "GET", "boot") == token
    assert stack.standin_data(rebooted["backend"]) == token
    assert reach(stack, "chatbot", "/") == 200 and reach(stack, "mediahub", "/api/" + PROBE) == 200


@pytest.fixture(scope="session")
def s3(deployed, aws_api):
    """The stack's bucket in the AWS API stand-in the host's backup service is pointed at (moto on
    loopback; tests/support/host_tier.py `vendor_data`): the tool, its plan, units and schedule are the
    deploy's."""
    plan = json.loads(deployed.host.ssh.run("cat /etc/berth/backup-plan.json").stdout)
    store = plan["store"]["s3"]
    client = boto3.client("s3", region_name=store["region"], endpoint_url=f"http://127.0.0.1:{aws_api}",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=store["bucket"])
    environment = {"AWS_ENDPOINT_URL": f"http://{GATEWAY}:{aws_api}", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing"}
    return {"client": client, "bucket": store["bucket"], "prefix": store["prefix"], "env": environment}


def test_the_timers_backup_runs_on_the_host_and_a_restore_brings_the_data_back(deployed, rebooted, s3):
    """The timer's own service backs up every app to S3; after the data changes, the host's tool restores
    each app to what was backed up (a table made later is gone) and the apps serve again."""
    stack, ssh = deployed.stack, deployed.host.ssh
    (backend,) = stack.containers_of("chatbot", "backend")
    before = secrets.token_hex(8)
    mediahub_sql(stack, f"CREATE TABLE saved (v text); INSERT INTO saved VALUES ('{before}')")
    mediahub_redis(stack, "SET", "saved", before)
    stack.standin_data(backend, before)

    started = time.monotonic()
    ssh.root(f"systemctl start {backup_host.UNIT}.service", timeout=900)  # oneshot: returns when it has run
    assert ssh.run(f"systemctl show {backup_host.UNIT}.service -p Result --value").stdout.strip() == "success"
    seconds = time.monotonic() - started
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=s3["bucket"], Prefix=s3["prefix"]).get("Contents", [])]
    for app in ("mediahub", "chatbot"):
        assert any(k.startswith(f"{s3['prefix']}{app}/") and k.endswith("/manifest.json") for k in keys), keys

    after = secrets.token_hex(8)
    mediahub_sql(stack, f"UPDATE saved SET v = '{after}'; CREATE TABLE later (v text)")
    mediahub_redis(stack, "SET", "saved", after)
    stack.standin_data(backend, after)
    env = " ".join(f"{k}={v}" for k, v in s3["env"].items())
    for app in ("mediahub", "chatbot"):
        ssh.root(f"env {env} {backup_host.COMMAND} restore {app}", timeout=900)
    wait_healthy(stack, list(stack.applied.containers), timeout_s=300)

    assert mediahub_sql(stack, "SELECT v FROM saved") == before
    assert mediahub_sql(stack, "SELECT to_regclass('later') IS NULL") == "t"
    assert mediahub_redis(stack, "GET", "saved") == before
    assert stack.standin_data(backend) == before
    assert reach(stack, "mediahub", "/api/" + PROBE) == 200 and reach(stack, "chatbot", "/") == 200
    print(f"backup of every app by the timer's service: {seconds:.0f} s")
