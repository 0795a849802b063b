"""The EC2 host's policy suite: one test per rule, its source in the docstring.

Each test checks the rule on the real staging and prod programs (run under mocks), then shows the
same check catching a deliberately broken variant, so no rule's test can pass while the rule is
broken. Rules enforced by config validation are shown with the config that breaks them.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from config.app import App
from config.checks import check_host_type
from config.errors import Problems
from config.stack import StackSettings
from tests.support.policy import policy_violations
from tests.support.stacks import mocked_instance_type, stack_config
from tests.support.validators import shellcheck
from offline.mockrun import Run

EC2 = ["staging", "prod"]
CONTAINER = "docker:index/container:Container"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
WORLD = {"0.0.0.0/0", "::/0"}
# The only capabilities berth grants, and to whom (all others are dropped): see components/*.py.
ALLOWED_CAPS = {
    "shared-postgres": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
    "proxy": {"NET_BIND_SERVICE"},
}


@pytest.fixture
def ec2_runs(deploy) -> dict[str, Run]:
    return {stack: deploy(stack) for stack in EC2}


def broken(run: Run, type_: str, name: str, **changes) -> Run:
    """A copy of `run` in which one resource's inputs (or options) are changed to break a rule."""
    clone = copy.deepcopy(run)
    resource = clone.get(type_, name)
    for key, value in changes.items():
        if key in ("protect", "retain_on_delete", "delete_before_replace", "ignore_changes"):
            setattr(resource, key, value)
        else:
            resource.inputs[key] = value
    return clone


def assert_rule(policy: str, runs: dict[str, Run], name: str, type_: str = CONTAINER, **breaking) -> None:
    """The policy pack's rule holds on every run, and catches `name` broken by `breaking`."""
    for run in runs.values():
        assert [v for v in policy_violations(run) if v.startswith(f"{policy}: ")] == []
    found = policy_violations(broken(runs["prod"], type_, name, **breaking))
    assert [v for v in found if v.startswith(f"{policy}: {name}: ")], found


def instance(run: Run) -> dict:
    return run.get("aws:ec2/instance:Instance", "host-instance").values


def user_data(run: Run) -> dict:
    return yaml.safe_load(instance(run)["userData"].removeprefix("#cloud-config\n"))


def written_file(run: Run, path: str) -> str:
    return next(f["content"] for f in user_data(run)["write_files"] if f["path"] == path)


# --- network ------------------------------------------------------------------------------------

def world_open_ports(run: Run) -> set[tuple[int, str]]:
    return {(r.values["fromPort"], r.values.get("cidrIpv4") or r.values.get("cidrIpv6"))
            for r in run.of_type(INGRESS) if (r.values.get("cidrIpv4") or r.values.get("cidrIpv6")) in WORLD}


def test_only_web_ports_are_open_to_the_world(ec2_runs):
    """checkov CKV_AWS_277 (no ingress from 0.0.0.0/0 to all ports), CKV_AWS_24 (no SSH from the world):
    the security group opens exactly 80 and 443 to the world, over IPv4 and IPv6."""
    expected = {(80, "0.0.0.0/0"), (80, "::/0"), (443, "0.0.0.0/0"), (443, "::/0")}
    for run in ec2_runs.values():
        assert world_open_ports(run) == expected
    assert_rule("host-only-web-open-to-world", ec2_runs, "host-in-ssh-office", INGRESS, cidrIpv4="0.0.0.0/0")


def ssh_sources(run: Run) -> set[str]:
    return {r.values.get("cidrIpv4") or r.values.get("cidrIpv6") for r in run.of_type(INGRESS) if r.values["fromPort"] == 22}


def test_ssh_is_open_only_to_the_named_admin_networks(ec2_runs):
    """checkov CKV_AWS_24: SSH reaches the host only from the stack's `adminCidrs`, one keyed rule each."""
    for stack, run in ec2_runs.items():
        admins = {str(c) for c in stack_config(stack).object("berth:host")["adminCidrs"].values()}
        assert ssh_sources(run) == admins
        assert {r.name for r in run.of_type(INGRESS) if r.values["fromPort"] == 22} == {"host-in-ssh-office"}


def test_prod_refuses_ssh_from_the_world(config_problems):
    """checkov CKV_AWS_24, shown broken: prod with SSH open to 0.0.0.0/0 is a config error, nothing deployed."""
    host = {**stack_config("prod").object("berth:host"), "adminCidrs": {"everyone": "0.0.0.0/0"}}
    problems = config_problems("prod", plain={"berth:host": host})
    assert problems and problems[0].startswith("berth:host.adminCidrs.everyone: 0.0.0.0/0 open SSH to the whole internet")


def test_staging_opens_ssh_to_exactly_the_networks_it_names(deploy):
    """A throwaway stack names its admins' networks as prod does (no wider: tests/hostile), and gets exactly those."""
    host = {**stack_config("staging").object("berth:host"), "adminCidrs": {"ci": "198.51.100.0/24"}}
    assert ssh_sources(deploy("staging", plain={"berth:host": host})) == {"198.51.100.0/24"}


def test_every_security_group_rule_is_described(ec2_runs):
    """checkov CKV_AWS_23: every security group and rule carries a description saying why it exists."""
    rule_types = (INGRESS, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "aws:ec2/securityGroup:SecurityGroup")

    def undescribed(run):
        return [r.name for t in rule_types for r in run.of_type(t) if not r.values.get("description")]

    for run in ec2_runs.values():
        assert undescribed(run) == []
    assert undescribed(broken(ec2_runs["prod"], INGRESS, "host-in-https-ipv4", description="")) == ["host-in-https-ipv4"]


def test_ssm_session_manager_is_available_instead_of_ssh(ec2_runs):
    """AWS Well-Architected SEC06-BP03 (reduce interactive access): the instance role carries the SSM core
    policy, so admins can `aws ssm start-session` without any open port."""
    for run in ec2_runs.values():
        attached = {r.values["policyArn"] for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                    if r.name == "host-ssm"}
        assert attached == {"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}
        profile = run.get("aws:iam/instanceProfile:InstanceProfile", "host-profile")
        assert instance(run)["iamInstanceProfile"] == profile.state["name"]
        assert run.outputs["ssmCommand"] == "aws ssm start-session --target i-0123456789abcdef0"


# --- instance -----------------------------------------------------------------------------------

def test_ami_is_ubuntu_lts_from_canonical(ec2_runs):
    """AWS Well-Architected SEC06-BP02 (provision compute from hardened images): the AMI is looked up by
    Canonical's owner id and the Ubuntu LTS name, never a hard-coded id from an unknown publisher."""
    for run in ec2_runs.values():
        lookups = [args for tok, args in run.calls if tok == "aws:ec2/getAmi:getAmi"]
        assert lookups and all(a["owners"] == ["099720109477"] for a in lookups)
        names = [f["values"] for a in lookups for f in a["filters"] if f["name"] == "name"]
        assert names == [["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]]


def imds(run: Run) -> dict:
    return instance(run)["metadataOptions"]


def test_imdsv2_is_required_and_containers_cannot_reach_it(ec2_runs):
    """checkov CKV_AWS_79 (IMDSv1 disabled) and CKV_AWS_341 (hop limit 1): tokens are required and the
    response hop limit of 1 keeps instance credentials out of reach of containers (one hop further)."""
    for run in ec2_runs.values():
        assert imds(run)["httpTokens"] == "required" and imds(run)["httpPutResponseHopLimit"] == 1
    assert_rule("host-imdsv2-encrypted-root", ec2_runs, "host-instance", "aws:ec2/instance:Instance",
                metadataOptions={"httpTokens": "optional", "httpPutResponseHopLimit": 2})


def test_root_disk_is_encrypted_gp3(ec2_runs):
    """checkov CKV_AWS_8: the instance's root block device is encrypted (gp3)."""
    for run in ec2_runs.values():
        root = instance(run)["rootBlockDevice"]
        assert root["encrypted"] is True and root["volumeType"] == "gp3"


def test_detailed_monitoring_and_ebs_optimization(ec2_runs):
    """checkov CKV_AWS_126 (detailed monitoring) and CKV_AWS_135 (EBS optimized)."""
    for run in ec2_runs.values():
        assert instance(run)["monitoring"] is True and instance(run)["ebsOptimized"] is True


def role_statements(run: Run) -> list[dict]:
    policy = run.get("aws:iam/rolePolicy:RolePolicy", "host-pull").values["policy"]
    return json.loads(policy)["Statement"]


def test_instance_role_grants_only_what_the_host_needs(ec2_runs):
    """checkov CKV_AWS_355/CKV_AWS_290 (no wildcard resources for restrictable actions): the role may get
    an ECR login token (not restrictable by resource) and pull only this stack's repositories."""
    for stack, run in ec2_runs.items():
        statements = {s["Sid"]: s for s in role_statements(run)}
        assert statements["EcrLogin"]["Action"] == "ecr:GetAuthorizationToken"
        pull = statements["PullThisStacksImages"]
        assert pull["Resource"] == f"arn:aws:ecr:us-east-1:123456789012:repository/berth/{stack}/*"
        assert all("*" not in a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
        attached = {r.values["policyArn"] for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                    if r.values["role"] == run.get("aws:iam/role:Role", "host-role").state["name"]}
        assert attached == {"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}


def test_prod_host_is_never_replaced_or_terminated_by_accident(ec2_runs):
    """AWS Well-Architected REL08 (controlled change): prod has termination protection and ignores AMI and
    user-data drift, so a newer Ubuntu image never silently replaces the host; staging follows its inputs."""
    prod = ec2_runs["prod"].get("aws:ec2/instance:Instance", "host-instance")
    assert prod.values["disableApiTermination"] is True
    assert set(prod.ignore_changes) == {"ami", "userData", "keyName"}
    staging = ec2_runs["staging"].get("aws:ec2/instance:Instance", "host-instance")
    assert staging.values["disableApiTermination"] is False and staging.ignore_changes == []
    assert staging.values["userDataReplaceOnChange"] is True


def test_prod_address_is_a_stable_elastic_ip(ec2_runs):
    """AWS Well-Architected REL02 (plan network topology): prod's public address is an Elastic IP, kept
    through instance replacement, and the docker provider and outputs use it."""
    prod = ec2_runs["prod"]
    eip = prod.get("aws:ec2/eip:Eip", "host-eip")
    assert eip.protect and eip.retain_on_delete
    assert prod.get("aws:ec2/eipAssociation:EipAssociation", "host-eip-association").values["instanceId"] == "i-0123456789abcdef0"
    assert prod.outputs["hostPublicIp"] == "198.51.100.20"
    assert ec2_runs["staging"].of_type("aws:ec2/eip:Eip") == []


def test_prod_recovers_automatically_from_host_failure(ec2_runs):
    """AWS Well-Architected REL11-BP03 (automate healing): simplified auto-recovery is on, and a CloudWatch
    alarm on the system status check triggers the EC2 recover action."""
    prod = ec2_runs["prod"]
    assert instance(prod)["maintenanceOptions"] == {"autoRecovery": "default"}
    alarm = prod.get("aws:cloudwatch/metricAlarm:MetricAlarm", "host-recover").values
    assert alarm["metricName"] == "StatusCheckFailed_System"
    assert alarm["alarmActions"] == ["arn:aws:automate:us-east-1:ec2:recover"]


# --- data outlives compute -------------------------------------------------------------------------

def test_docker_data_root_lives_on_its_own_encrypted_ebs_volume(ec2_runs):
    """checkov CKV_AWS_3 (EBS encrypted) and AWS Well-Architected REL09: Docker's data root, and with it
    every Docker volume, is on a separate encrypted gp3 volume, attached delete-first on replacement."""
    for run in ec2_runs.values():
        volume = run.get("aws:ebs/volume:Volume", "host-data").values
        assert volume["encrypted"] is True and volume["type"] == "gp3"
        attachment = run.get("aws:ec2/volumeAttachment:VolumeAttachment", "host-data-attachment")
        assert attachment.values["volumeId"] == "vol-0123456789abcdef0" and attachment.delete_before_replace
        assert json.loads(written_file(run, "/etc/docker/daemon.json"))["data-root"] == "/srv/berth/docker"


def test_data_volume_is_mounted_by_id_formatted_only_when_empty_and_on_every_boot(ec2_runs):
    """AWS Well-Architected REL09: the mount script finds the volume by its EBS id, never reformats a
    volume that holds a filesystem, records it in fstab, and Docker waits for the mount on every boot."""
    for run in ec2_runs.values():
        script = written_file(run, "/usr/local/sbin/berth-mount-data")
        assert 'device="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"' in script
        assert 'if ! blkid "$device"' in script and script.index("if ! blkid") < script.index("mkfs.ext4")
        assert "/etc/fstab" in script and "nofail" in script
        assert written_file(run, "/etc/systemd/system/docker.service.d/berth-data.conf") == "[Unit]\nRequiresMountsFor=/srv/berth\n"
        assert user_data(run)["runcmd"][:2] == ["set -e", ["/usr/local/sbin/berth-mount-data"]]


def test_prod_keeps_every_piece_of_data_on_delete(ec2_runs):
    """AWS Well-Architected REL09 (back up and protect data): in prod the EBS data volume and every Docker
    volume are protected and retained on delete, so no `pulumi destroy` or replacement loses them."""
    def data(run):
        return [run.get("aws:ebs/volume:Volume", "host-data"), *run.of_type("docker:index/volume:Volume")]

    def unkept(run):
        return [r.name for r in data(run) if not (r.protect and r.retain_on_delete)]

    prod = ec2_runs["prod"]
    assert {r.name for r in data(prod)} == {
        "host-data", "shared-postgres", "mediahub-redis", "proxy-data", "proxy-config",
        "chatbot-chroma", "chatbot-pdfs", "chatbot-transcripts",
    }
    assert unkept(prod) == []
    broken_run = broken(prod, "docker:index/volume:Volume", "chatbot-chroma", protect=False, retain_on_delete=False)
    assert unkept(broken_run) == ["chatbot-chroma"]


def test_prod_snapshots_the_data_volume_daily(ec2_runs):
    """AWS Well-Architected REL09-BP03 (back up automatically): a Data Lifecycle Manager policy snapshots
    the data volume every 24 h and keeps `snapshotRetentionDays` of them."""
    prod = ec2_runs["prod"]
    policy = prod.get("aws:dlm/lifecyclePolicy:LifecyclePolicy", "host-snapshots").values
    details = policy["policyDetails"]
    volume_tags = prod.get("aws:ebs/volume:Volume", "host-data").values["tags"]
    assert details["targetTags"] == {"berth:snapshots": "prod"} and volume_tags["berth:snapshots"] == "prod"
    schedule = details["schedules"][0]
    assert schedule["createRule"]["interval"] == 24 and schedule["retainRule"]["count"] == 14
    assert policy["state"] == "ENABLED"


def test_staging_leaves_nothing_behind_on_destroy(ec2_runs):
    """Staging is throwaway: no resource is protected or retained, and its image repositories are
    force-deleted with their images, so `pulumi destroy` removes everything."""
    staging = ec2_runs["staging"]
    assert [r.name for r in staging.resources if r.survives_destroy] == []
    assert all(r.values["forceDelete"] for r in staging.of_type("aws:ecr/repository:Repository"))
    kept = broken(staging, "aws:ebs/volume:Volume", "host-data", retain_on_delete=True)
    assert [r.name for r in kept.resources if r.survives_destroy] == ["host-data"]


# --- cloud-init and readiness ------------------------------------------------------------------------

def test_docker_daemon_is_configured_hardened(ec2_runs):
    """CIS Docker Benchmark v1.2.0 2.1 (icc off on the default bridge), 2.12 (log rotation), 2.13 (live
    restore), 2.14 (userland proxy off), 2.18 (no new privileges)."""
    for run in ec2_runs.values():
        daemon = json.loads(written_file(run, "/etc/docker/daemon.json"))
        assert daemon["icc"] is False and daemon["live-restore"] is True and daemon["userland-proxy"] is False
        assert daemon["no-new-privileges"] is True
        assert daemon["log-driver"] == "json-file" and daemon["log-opts"] == {"max-size": "10m", "max-file": "5"}


def test_sshd_takes_keys_only_and_never_root(ec2_runs):
    """CIS Ubuntu Linux 24.04 Benchmark 5.1.x (PermitRootLogin no, PasswordAuthentication no,
    KbdInteractiveAuthentication no): the user data says it in a drop-in sshd reads first, whatever
    the image's own defaults (the host tier proves sshd then refuses a password and root)."""
    for run in ec2_runs.values():
        settings = written_file(run, "/etc/ssh/sshd_config.d/10-berth.conf")
        assert {line for line in settings.splitlines() if not line.startswith("#")} == {
            "PermitRootLogin no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "AuthenticationMethods publickey"}


def test_a_failing_setup_step_fails_cloud_init(ec2_runs):
    """cloud-init runs `runcmd` as one sh script and goes on after a failing line: without `set -e` a
    failed mount or Docker install still ends in "status: done" (the host tier saw it)."""
    for run in ec2_runs.values():
        assert user_data(run)["runcmd"][0] == "set -e"


def test_automatic_networks_never_take_a_fixed_subnet(ec2_runs):
    """Docker gives networks without a subnet the next free 172.x /16; on a busy engine that could be an app's
    fixed subnet (on-prem RAG's 172.20.0.0/16) before its network exists. The daemon's default pools are a
    range no app may fix its subnet in, and one disjoint from the default VPC (172.31.0.0/16)."""
    from ipaddress import IPv4Network
    from config.app import DOCKER_DEFAULT_BRIDGE, AppNetwork
    for run in ec2_runs.values():
        pools = json.loads(written_file(run, "/etc/docker/daemon.json"))["default-address-pools"]
        assert pools == [{"base": "10.200.0.0/16", "size": 24}]
        base = IPv4Network(pools[0]["base"])
        assert not base.overlaps(IPv4Network("172.16.0.0/12")) and not base.overlaps(DOCKER_DEFAULT_BRIDGE)
    with pytest.raises(ValueError, match="overlaps the pool berth hosts give networks without a fixed subnet"):
        AppNetwork(subnet="10.200.8.0/24")


def test_user_data_carries_no_secret(deploy):
    """checkov CKV_AWS_46 (no secrets in EC2 user data): with every app secret set, none of them (nor any
    generated credential) reaches the instance's user data."""
    run = deploy("prod")
    secrets = {r.state["result"] for r in run.of_type("random:index/randomPassword:RandomPassword")}
    secrets.add("sk-prod-test-openai-key")
    text = instance(run)["userData"]
    assert [s for s in secrets if s in text] == []
    assert not run.get("aws:ec2/instance:Instance", "host-instance").is_secret("userData")


def test_docker_provider_waits_for_a_readiness_gate_not_a_sleep(ec2_runs):
    """AWS Well-Architected REL08 (deploy with checks): the Docker provider depends on a remote command that
    waits for cloud-init to finish and for Docker to answer from the data volume, dialing SSH with retries."""
    for run in ec2_runs.values():
        gate = run.get("command:remote:Command", "host-ready")
        assert "cloud-init status --wait" in gate.values["create"]
        assert "DockerRootDir" in gate.values["create"] and "/srv/berth/docker" in gate.values["create"]
        # the gate's session may predate the user's docker group: membership is checked in /etc/group
        assert "getent group docker | grep -qw ubuntu" in gate.values["create"]
        assert "sleep" not in gate.values["create"]
        assert gate.values["connection"]["dialErrorLimit"] > 10
        assert gate.urn in run.get("pulumi:providers:docker", "host-docker").dependencies


# --- containers -------------------------------------------------------------------------------------

def containers(run: Run) -> dict[str, dict]:
    return {name: c.values for name, c in run.containers().items()}


def test_no_container_is_privileged_or_shares_host_namespaces(ec2_runs):
    """CIS Docker Benchmark v1.2.0 5.4 (no privileged containers), 5.9/5.15/5.16 (no host network, PID
    or IPC namespace): the pack's `container-unprivileged`."""
    assert_rule("container-unprivileged", ec2_runs, "chatbot-backend", privileged=True)
    assert_rule("container-unprivileged", ec2_runs, "chatbot-backend", pidMode="host")


def test_no_container_mounts_the_docker_socket_or_host_system_dirs(ec2_runs):
    """CIS Docker Benchmark v1.2.0 5.31 (no Docker socket) and 5.5 (no sensitive host directories): the
    pack's `container-no-host-system-mounts`; the only host paths mounted are berth's own host dirs."""
    for run in ec2_runs.values():
        mounts = [v["hostPath"] for c in containers(run).values() for v in c.get("volumes", []) if v.get("hostPath")]
        assert all(path.startswith("/srv/berth/host-dirs/") for path in mounts)
    assert_rule("container-no-host-system-mounts", ec2_runs, "proxy",
                volumes=[{"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"}])


def test_capabilities_are_dropped_to_what_each_image_needs(ec2_runs):
    """CIS Docker Benchmark v1.2.0 5.3: every container drops ALL capabilities; only Postgres and Redis
    (their entrypoints chown data dirs, then drop to their own user) and Caddy (binds 80/443) add any."""
    def excess(run):
        out = {}
        for name, c in containers(run).items():
            caps = c["capabilities"]
            added = set(caps.get("adds") or [])
            if caps.get("drops") != ["ALL"] or not added <= ALLOWED_CAPS.get(name, set()):
                out[name] = added
        return out

    for run in ec2_runs.values():
        assert excess(run) == {}
    assert "mediahub-backend" in excess(broken(ec2_runs["prod"], CONTAINER, "mediahub-backend",
                                               capabilities={"drops": ["ALL"], "adds": ["NET_ADMIN"]}))


def test_containers_cannot_gain_new_privileges(ec2_runs):
    """CIS Docker Benchmark v1.2.0 5.25: `no-new-privileges` on every container (and in daemon.json)."""
    assert_rule("container-no-new-privileges", ec2_runs, "shared-postgres", securityOpts=[])


def test_root_filesystems_are_read_only_with_tmpfs_for_writable_paths(ec2_runs):
    """CIS Docker Benchmark v1.2.0 5.12: read-only root filesystems; each writable path is a size-capped
    tmpfs (e.g. /var/run/postgresql, Next.js's .next/cache) or a named volume."""
    for run in ec2_runs.values():
        for name, c in containers(run).items():
            assert c["readOnly"] is True, name
            assert all("size=" in opts and "noexec" in opts for opts in (c.get("tmpfs") or {}).values()), name
        assert "/var/run/postgresql" in containers(run)["shared-postgres"]["tmpfs"]


def test_every_container_is_limited_checked_restarted_and_rotates_logs(ec2_runs):
    """CIS Docker Benchmark v1.2.0 5.10 (memory limited), 5.26 (health checked at runtime), and a restart
    policy (`unless-stopped`, not 5.14's on-failure:5: a crash-looping container keeps trying, and the
    deploy already waited for it to be healthy, through its health gate); log options set per container so
    daemon defaults never show as drift (kreuzwerker/terraform-provider-docker#473)."""
    for run in ec2_runs.values():
        gates = {tuple(r.values["triggers"]) for r in run.of_type("command:remote:Command") if r.name.endswith("-healthy")}
        for name, c in containers(run).items():
            assert c["memory"] > 0 and c["restart"] == "unless-stopped", name
            assert c["healthcheck"]["tests"] and (f"{name}-id",) in gates, name
            assert c["logDriver"] == "json-file" and c["logOpts"] == {"max-size": "10m", "max-file": "5"}, name


def test_only_the_proxy_publishes_ports(ec2_runs):
    """The security group is the firewall only if nothing else publishes: Docker-published ports bypass host
    firewalls (CIS Docker Benchmark v1.2.0 5.13). Only the proxy publishes, and only 80/443."""
    for run in ec2_runs.values():
        assert sorted(p["external"] for p in containers(run)["proxy"]["ports"]) == [80, 443]
    assert_rule("container-only-proxy-publishes", ec2_runs, "shared-postgres",
                ports=[{"internal": 5432, "external": 5432}])


def test_stateful_containers_are_replaced_delete_first_stateless_create_first(ec2_runs):
    """A container holding a data volume (or a fixed port, or a singleton job) must never run twice, so it is
    replaced delete-first under a fixed name; stateless ones are auto-named and found by network alias,
    so their replacement is healthy before the old one goes (the provider's default, pulumi-docker#1356)."""
    for run in ec2_runs.values():
        for name, c in run.containers().items():
            stateful = (bool(c.values.get("volumes")) and any(v.get("volumeName") for v in c.values["volumes"])) \
                or bool(c.values.get("ports"))
            assert c.delete_before_replace == stateful, name
            assert (c.values.get("name") == name) == stateful, name
            if not stateful:
                assert all(n["aliases"] for n in c.values["networksAdvanced"]), name


def test_containers_must_fit_the_instance(config_problems):
    """AWS Well-Architected REL01 (know your limits): the containers' memory limits plus 1 GiB for the OS must
    fit the instance type's memory (as AWS describes the type), or the config is refused."""
    host = {**stack_config("prod").object("berth:host"), "instanceType": "t3.small"}
    problems = config_problems("prod", plain={"berth:host": host})
    assert problems == ["berth:host.instanceType: the containers' memory limits add up to 5632 MiB but t3.small "
                        "leaves 1024 MiB for containers; choose a larger instance type or lower memoryMb"]


# --- reaching the host through SSM instead of SSH ------------------------------------------------------

@pytest.fixture
def ssm_run(deploy) -> Run:
    host = {**stack_config("prod").object("berth:host"), "access": "ssm", "adminCidrs": {}}
    return deploy("prod", plain={"berth:host": host})


def test_ssm_access_opens_no_inbound_port_but_the_web(ssm_run):
    """checkov CKV_AWS_24 taken further: with `access: ssm` the security group has no SSH rule at all;
    pulumi (and a CI runner with changing addresses) reaches Docker through Session Manager."""
    assert ssh_sources(ssm_run) == set()
    assert {p for p, _ in world_open_ports(ssm_run)} == {80, 443}


def test_ssm_access_tunnels_the_docker_provider_and_host_commands(ssm_run):
    """The Docker provider and every host command use SSH whose transport is `aws ssm start-session`."""
    provider = ssm_run.get("pulumi:providers:docker", "host-docker").values
    assert provider["host"] == "ssh://ubuntu@i-0123456789abcdef0"
    proxy = next(o for o in json.loads(provider["sshOpts"]) if o.startswith("ProxyCommand="))
    assert proxy == ("ProxyCommand=aws ssm start-session --target %h --document-name AWS-StartSSHSession "
                     "--parameters portNumber=%p --region us-east-1")
    pull = ssm_run.get("command:local:Command", "chatbot-backend-pull").values["create"]
    assert pull.startswith("ssh -o 'ProxyCommand=aws ssm start-session") and "docker pull --quiet" in pull
    assert ssm_run.of_type("command:remote:Command") == []


def test_ssm_readiness_gate_polls_a_bounded_number_of_times(ssm_run, tmp_path):
    """The SSM agent registers a minute or two after boot: the gate retries the tunnel a bounded number of
    times, then runs the same readiness check as over SSH (and the script passes shellcheck)."""
    gate = ssm_run.get("command:local:Command", "host-ready").values["create"]
    assert "for attempt in $(seq 1 60)" in gate and "cloud-init status --wait" in gate
    shellcheck(gate, tmp_path)


def test_direct_ssh_needs_an_admin_network(config_problems):
    """Without an admin network and without SSM nothing could reach the host: refused, with both ways out."""
    host = {**stack_config("staging").object("berth:host"), "adminCidrs": {}}
    problems = config_problems("staging", plain={"berth:host": host})
    assert problems == ["berth:host.adminCidrs: with `access: ssh` pulumi reaches the host on port 22, which opens only "
                        "to these networks; name the network you deploy from, or set `access: ssm` to deploy through "
                        "SSM Session Manager"]


def test_the_ssh_user_must_be_a_user_name(config_problems):
    """It is used in shell lines on the host (the readiness gate), so it is refused unless it is a plain name."""
    host = {**stack_config("staging").object("berth:host"), "sshUser": "ubuntu; rm -rf /"}
    assert config_problems("staging", plain={"berth:host": host}) == [
        "berth:host.sshUser: 'ubuntu; rm -rf /' is not a Linux user name such as ubuntu"]


def test_ec2_hosts_need_the_deploy_keys_public_half(config_problems):
    host = {k: v for k, v in stack_config("staging").object("berth:host").items() if k != "sshPublicKey"}
    problems = config_problems("staging", plain={"berth:host": host})
    assert problems == ["berth:host.sshPublicKey: the Docker provider logs in over SSH (directly or through SSM); "
                        "give the deploy key's public half"]


def test_the_data_volume_can_be_restored_from_a_snapshot(deploy, config_problems):
    """AWS Well-Architected REL09-BP04 (test recovery): `dataVolumeSnapshotId` creates the data volume from a
    snapshot (docs/host.md walks the restore); anything but a snapshot id is refused."""
    host = {**stack_config("prod").object("berth:host"), "dataVolumeSnapshotId": "snap-0123456789abcdef0"}
    volume = deploy("prod", plain={"berth:host": host}).get("aws:ebs/volume:Volume", "host-data")
    assert volume.values["snapshotId"] == "snap-0123456789abcdef0" and volume.protect
    problems = config_problems("prod", plain={"berth:host": {**host, "dataVolumeSnapshotId": "vol-0123456789abcdef0"}})
    assert problems == ["berth:host.dataVolumeSnapshotId: 'vol-0123456789abcdef0' is not an EBS snapshot id such as "
                        "snap-0123456789abcdef0"]


def test_each_apps_own_redis_counts_against_the_instances_memory():
    """One Redis per app that uses it: two such apps need two Redis containers' memory."""
    def app(name: str, redis: dict) -> App:
        return App.model_validate({"name": name, "hostname": name, "redis": redis, "services": {"api": {
            "image": "a:1", "port": 80, "healthcheck": {"path": "/"}, "memoryMb": 100, "uses": {"redis": "REDIS_URL"}}}})

    settings = StackSettings.model_validate({
        "environment": "prod", "host": {"kind": "ec2", "instanceType": "t3.small"}, "apps": {"a": {}, "b": {}},
        "proxy": {"memoryMb": 128}, "shared": {"redis": {"memoryMb": 600}}})
    problems = Problems()
    check_host_type(settings, {"a": app("a", {"mode": "cache"}), "b": app("b", {"mode": "store", "memoryMb": 900})},
                    mocked_instance_type("t3.small"), problems)
    assert [p.message for p in problems.items] == [
        "the containers' memory limits add up to 1828 MiB but t3.small leaves "
        "1024 MiB for containers; choose a larger instance type or lower memoryMb"]
