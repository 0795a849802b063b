"""How `pulumi up` reaches the EC2 host: SSH straight to it, or SSH carried by SSM Session Manager.

Both give the Docker provider an `ssh://` address with its options and run host commands (the
readiness gate, image pulls, provisioning, hooks).

- `ssh`: port 22 is open to the named admin networks; the machine running `pulumi up` must be in one.
  Commands use pulumi-command's remote.Command, whose SSH dial retries ride out the boot.
- `ssm`: no inbound port at all. SSH runs through `aws ssm start-session` (ProxyCommand), so a CI
  runner with changing addresses can deploy prod using only its AWS role. Needs the AWS CLI and the
  Session Manager plugin where `pulumi up` runs; commands are the local `ssh` with that ProxyCommand.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import pulumi
import pulumi_command as command
from pulumi_command import local, remote  # for annotations: in a class body, `command` is the method below

COMMON_SSH_OPTS = ["-o", "StrictHostKeyChecking=accept-new", "-o", "ServerAliveInterval=30"]
SSM_ATTEMPTS = 60  # the SSM agent registers a minute or two after boot
SSM_RETRY_SECONDS = 5


class DirectSsh:
    def __init__(self, user: str, address: pulumi.Input[str]):
        self.docker_host = pulumi.Output.concat("ssh://", user, "@", address)
        self.ssh_opts = COMMON_SSH_OPTS
        self._connection = command.remote.ConnectionArgsDict(host=address, user=user, dial_error_limit=40,
                                                             per_dial_timeout=15)

    def command(self, name: str, create: pulumi.Input[str], *, triggers: Sequence[pulumi.Input[str]] = (),
                stdin: pulumi.Input[str] | None = None, opts: pulumi.ResourceOptions) -> remote.Command:
        return command.remote.Command(name, connection=self._connection, create=create, stdin=stdin,
                                      triggers=list(triggers), logging=command.remote.Logging.STDERR, opts=opts)

    def gate(self, name: str, readiness: str, *, triggers: Sequence[pulumi.Input[str]],
             opts: pulumi.ResourceOptions) -> remote.Command:
        return self.command(name, readiness, triggers=triggers, opts=opts)


class SsmTunnel:
    def __init__(self, user: str, instance_id: pulumi.Input[str], region: pulumi.Input[str]):
        self._user, self._target = user, instance_id
        proxy = pulumi.Output.concat(
            "ProxyCommand=aws ssm start-session --target %h --document-name AWS-StartSSHSession "
            "--parameters portNumber=%p --region ", region)
        self.docker_host = pulumi.Output.concat("ssh://", user, "@", instance_id)
        self.ssh_opts = pulumi.Output.all(proxy).apply(lambda p: ["-o", p[0], *COMMON_SSH_OPTS])

    def _ssh(self, remote_command: pulumi.Input[str]) -> pulumi.Output[str]:
        """The local shell line that runs `remote_command` on the host through the tunnel."""
        return pulumi.Output.all(self.ssh_opts, self._target, remote_command).apply(
            lambda a: "ssh " + " ".join(shlex.quote(o) for o in a[0]) + f" {self._user}@{a[1]} " + shlex.quote(a[2]))

    def command(self, name: str, create: pulumi.Input[str], *, triggers: Sequence[pulumi.Input[str]] = (),
                stdin: pulumi.Input[str] | None = None, opts: pulumi.ResourceOptions) -> local.Command:
        return command.local.Command(name, create=self._ssh(create), stdin=stdin, triggers=list(triggers),
                                     logging=command.local.Logging.STDERR, opts=opts)

    def gate(self, name: str, readiness: str, *, triggers: Sequence[pulumi.Input[str]],
             opts: pulumi.ResourceOptions) -> local.Command:
        """Poll until the tunnel answers (bounded), then run the same readiness check as over SSH."""
        reach = self._ssh("true").apply(lambda probe: (
            f"for attempt in $(seq 1 {SSM_ATTEMPTS}); do {probe} && break; "
            f'[ "$attempt" -eq {SSM_ATTEMPTS} ] && {{ echo "host not reachable over SSM" >&2; exit 1; }}; '
            f"sleep {SSM_RETRY_SECONDS}; done"))
        create = pulumi.Output.all(reach, self._ssh(readiness)).apply(lambda a: f"{a[0]}; {a[1]}")
        return command.local.Command(name, create=create, triggers=list(triggers),
                                     logging=command.local.Logging.STDERR, opts=opts)
