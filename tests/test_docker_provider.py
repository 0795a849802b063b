"""The provider's rules berth writes containers by (config/docker_provider.py), checked without an engine.

The first two tests guard the pin: the rules were read for pulumi-docker 5.2.0, and they fail when
requirements.txt or the installed SDK move until the rules are read again in the new version's source.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version

import pulumi_docker
import pytest

from config import docker_provider as provider
from tests.support.stacks import REPO


def test_the_rules_were_read_for_the_pinned_pulumi_docker():
    pin = re.search(r"^pulumi-docker==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pin and pin.group(1) == provider.PULUMI_DOCKER == version("pulumi-docker"), (
        "pulumi-docker moved: read its bundled terraform-provider-docker's resource_docker_container*.go again "
        "and update config/docker_provider.py (and PULUMI_DOCKER)")


def test_every_input_of_the_sdks_container_has_a_rule():
    source = inspect.getsource(pulumi_docker.container.ContainerArgs)
    names = {wire or python for wire, python in re.findall(r'@pulumi.getter(?:\(name="(\w+)"\))?\n    def (\w+)\(self\)',
                                                              source)}
    assert names == provider.SDK_INPUTS
    classified = provider.FORCE_NEW | provider.UPDATE_APPLIES | provider.UPDATE_IGNORES | provider.LIFECYCLE
    assert classified | provider.UNREAD == provider.SDK_INPUTS


# --- values written as Read formats them ----------------------------------------------------------------

@pytest.mark.parametrize("seconds,text", [(0, "0s"), (5, "5s"), (59, "59s"), (60, "1m0s"), (90, "1m30s"),
                                          (3600, "1h0m0s"), (3661, "1h1m1s"), (0.5, "500ms"), (1.5, "1.5s")])
def test_durations_are_written_as_go_prints_them(seconds, text):
    assert provider.go_duration(seconds) == text


@pytest.mark.parametrize("nano,text", [(10**9, "1.0"), (2 * 10**9, "2.0"), (5 * 10**8, "0.5"), (25 * 10**7, "0.25"),
                                       (10**10, "10."), (5 * 10**7, "0.1"), (105 * 10**7, "1.05"), (10**7, "0.0")])
def test_cpus_read_back_as_nano_int64_to_decimal_string_writes_them(nano, text):
    assert provider.nano_cpus_text(nano) == text


def test_cpus_are_written_as_read_returns_them_or_refused():
    assert [provider.cpus_as_read(c) for c in (0.25, 0.5, 1, 2.0, 10)] == ["0.25", "0.5", "1.0", "2.0", "10."]
    for cpus, use in ((0.05, "0.1"), (10.05, "10.1"), (0.01, "0.1")):
        with pytest.raises(ValueError, match=f"use {use}"):
            provider.cpus_as_read(cpus)


def test_parse_cpus_is_docker_clis():
    assert provider.parse_cpus("1.5") == 1_500_000_000 and provider.parse_cpus("10.") == 10**10
    with pytest.raises(ValueError, match="too precise"):
        provider.parse_cpus("0.0000000001")


# --- the diff ------------------------------------------------------------------------------------------

STATE = {"image": "sha256:a", "memory": 512, "memorySwap": 1024, "restart": "unless-stopped",
         "command": ["serve"], "user": "app", "envs": ["A=1", "B=2"],
         "capabilities": {"adds": ["CHOWN"], "drops": ["ALL"]},
         "healthcheck": {"tests": ["CMD", "true"], "interval": "15s", "timeout": "5s", "startPeriod": "1m0s",
                         "startInterval": "0s", "retries": 5}}


def test_an_unchanged_program_changes_nothing_whatever_the_order_of_sets():
    config = {**STATE, "envs": ["B=2", "A=1"], "capabilities": {"drops": ["ALL"], "adds": ["CHOWN"]},
              "healthcheck": {k: v for k, v in STATE["healthcheck"].items() if k != "startInterval"}}
    assert provider.changed_inputs(STATE, config) == set()


def test_memory_swap_the_program_never_set_shows_as_a_change_on_every_run():
    config = {k: v for k, v in STATE.items() if k != "memorySwap"}
    assert provider.changed_inputs(STATE, config) == {"memorySwap"}


def test_a_duration_written_otherwise_than_read_shows_as_a_change():
    config = {**STATE, "healthcheck": {**STATE["healthcheck"], "startPeriod": "60s"}}
    assert provider.changed_inputs(STATE, config) == {"healthcheck"}


def test_removing_a_computed_input_keeps_the_old_value_and_changes_nothing():
    config = {k: v for k, v in STATE.items() if k not in ("command", "envs", "user")}
    assert provider.changed_inputs(STATE, config) == set()


@pytest.mark.parametrize("change,step", [
    ({"image": "sha256:b"}, "replace"), ({"command": ["other"]}, "replace"), ({"cpus": "1.0"}, "replace"),
    ({"memory": 2048, "memorySwap": 2048}, "update"), ({"restart": "always"}, "update"),
    ({"healthcheck": {**STATE["healthcheck"], "retries": 3}}, "update"), ({"tmpfs": {"/tmp": "rw"}}, "update"),
    ({"waitTimeout": 120}, "update"), ({}, "same")])
def test_the_step_is_replace_for_force_new_inputs_and_update_for_the_rest(change, step):
    assert provider.step_of(provider.changed_inputs(STATE, {**STATE, **change}), []) == step


def test_replace_on_changes_makes_an_ignored_update_a_replacement():
    changed = provider.changed_inputs(STATE, {**STATE, "healthcheck": {**STATE["healthcheck"], "retries": 3}})
    assert provider.step_of(changed, ["healthcheck"]) == "replace"
    assert provider.step_of(changed, ["*"]) == "replace"
    assert provider.step_of(changed, ["tmpfs"]) == "update"


# --- Read -------------------------------------------------------------------------------------------------

INSPECT = {
    "Name": "/chatbot-backend-1a2b3c4", "Image": "sha256:abc", "Platform": "linux",
    "State": {"Running": True},
    "Config": {"Image": "sha256:abc", "Hostname": "1a2b3c4d", "Domainname": "", "Cmd": ["serve"], "Entrypoint": None,
               "User": "", "WorkingDir": "/app", "Tty": False, "OpenStdin": False, "StopSignal": None, "StopTimeout": 30,
               "Healthcheck": {"Test": ["CMD", "true"], "Interval": 15 * 10**9, "Timeout": 5 * 10**9,
                               "StartPeriod": 60 * 10**9, "Retries": 5}},
    "HostConfig": {"AutoRemove": False, "ReadonlyRootfs": True, "RestartPolicy": {"Name": "unless-stopped",
                   "MaximumRetryCount": 0}, "Init": True, "Tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"},
                   "Memory": 512 * 2**20, "MemorySwap": 1024 * 2**20, "NanoCpus": 10**10, "CapAdd": None,
                   "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges:true"], "ShmSize": 64 * 2**20,
                   "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}}, "NetworkMode": "bridge",
                   "PortBindings": {}, "ExtraHosts": None},
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "443/tcp": None}},
}


def test_read_stores_what_docker_reports_in_the_providers_formats():
    read = provider.read_back(INSPECT, {"image": "sha256:abc", "logOpts": {"max-size": "10m"},
                                        "ports": [{"internal": 80}]})
    assert read["memory"] == 512 and read["memorySwap"] == 1024  # MiB; swap as Docker set it (2x at create)
    assert read["cpus"] == "10." and read["healthcheck"]["startPeriod"] == "1m0s"
    assert read["capabilities"] == {"adds": None, "drops": ["ALL"]} and read["init"] is True
    assert read["ports"] == [{"internal": 80, "external": 8080, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert read["logOpts"] == {"max-size": "10m"} and read["name"] == "chatbot-backend-1a2b3c4"
    assert "envs" not in read and "labels" not in read  # never read: state keeps the program's
    assert provider.read_back(INSPECT, {})["image"] == "sha256:abc"


def test_a_stopped_container_reads_as_must_run_false():
    stopped = {**INSPECT, "State": {"Running": False}}
    assert provider.read_back(stopped, {})["mustRun"] is False
