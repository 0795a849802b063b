"""The health gate: the host command every deploy waits on after it creates a container.

Why a command of its own and not the provider's `wait`: terraform-provider-docker (v4.5.0,
resource_docker_container_funcs.go) sets a container's ID before it waits for health, so a container
that never became healthy is kept by Pulumi with an initialization error; the next `pulumi up` (and
`--refresh` clears the error anyway) only runs Update, which never waits again, and reports success
with the unhealthy container. A command that fails keeps nothing in state (pulumi-command 1.2.1), so
the next `up` runs it again, and again, until the container is healthy. It runs whenever the container
is new (its id is the trigger), fails as soon as Docker calls the container unhealthy after a check
that failed while the gate waited, or it keeps restarting, and then says why: the container's state and
its last health check outputs. On a retry the container is still unhealthy from the last run: Docker
keeps that verdict until its next check (moby daemon/health.go, handleProbeResult: each failed check
adds to `FailingStreak`, a passing one resets it and sets healthy), so the gate waits for that check
rather than failing on the old verdict; a service fixed meanwhile then passes.

The gate does not wait for Docker's scheduled probe: Docker runs a container's first check one
`interval` after it starts (moby daemon/health.go, monitor: the ticker fires after `probeInterval`;
`start_interval` needs Docker 25 and API 1.44, which the engines berth deploys to do not all have), and
every level of a stack's dependency chain would wait that long again. The gate runs the service's own
health check itself with `docker exec` (as Docker does: the container's user, environment and working
directory) twice a second, and the container is healthy for the deploy once a check passes, as Docker
calls it healthy after one passing check (handleProbeResult). Docker's own verdict follows at its next
probe; a verdict of unhealthy, or a crash loop, still fails the gate at once.

A stateless service's gate then retires what Pulumi would otherwise delete only at the end of the whole
deployment: the container this one replaced (create-first) and those of replicas the program no longer
declares. Two versions answer the service's alias only while the new one starts, never for the rest of
the `up` or after a failed one. Another replica's containers are left to its own gate. Pulumi's later
delete of a retired container finds it gone, which the provider ignores ("No such container").
"""

from __future__ import annotations

import shlex

RESTARTS_BEFORE_GIVING_UP = 3  # a crash loop: Docker restarts it before the health check can call it unhealthy
PROBE_TIMEOUT_S = 10  # the gate's own run of the service's check (the host's `timeout`)
STATE = ("{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}} {{.State.Health.FailingStreak}}"
         "{{else}}none 0{{end}} {{.RestartCount}}")
WHY = ("{{if .State.Error}}error: {{.State.Error}}{{println}}{{end}}"
       "{{if .State.OOMKilled}}killed: out of memory{{println}}{{end}}"
       "{{if .State.Health}}{{range .State.Health.Log}}health check exit {{.ExitCode}}: {{.Output}}{{println}}{{end}}{{end}}")


def gate_script(container_id: str, name: str, *, timeout_s: int, probe: list[str],
                retire: tuple[str, str, int] | None = None, siblings: tuple[str, ...] = ()) -> str:
    """Wait until container `container_id` (resource `name`) passes its health check (`probe`, the
    healthcheck's test without "CMD"), or fail saying why.

    `retire`: (service label, the label's value, stop grace in seconds) of a stateless service: once it is
    healthy, its other containers are stopped and removed, except those of `siblings` (its other
    replicas' resource names: their containers are `<sibling>-<7 characters>`)."""
    lines = [
        "set -u",
        f"id={shlex.quote(container_id)}",
        *(_retire(retire, name, siblings) if retire is not None else []),
        f"first=$(docker inspect --format {shlex.quote(STATE)} \"$id\") || exit 1",
        "set -- $first; streak=$3 first=$4",
        f"deadline=$(( $(date +%s) + {int(timeout_s)} ))",
        "while :; do",
        f"  now=$(docker inspect --format {shlex.quote(STATE)} \"$id\") || exit 1",
        "  set -- $now",
        '  [ "$1 $2" = "running healthy" ] && break',
        '  earlier=no  # unhealthy, but no check failed since the gate began: the last run\'s verdict',
        '  [ "$1 $2" = "running unhealthy" ] && [ "$3" -le "$streak" ] && earlier=yes',
        f'  if {{ [ "$2" != starting ] && [ "$earlier" = no ]; }} || [ $(( $4 - first )) -ge {RESTARTS_BEFORE_GIVING_UP} ] || '
        '[ "$(date +%s)" -ge "$deadline" ]; then',
        f"    echo \"{name} did not become healthy: $1, health $2, restarted $(( $4 - first )) times while the "
        "deploy waited\" >&2",
        f"    docker inspect --format {shlex.quote(WHY)} \"$id\" | tail -n 20 >&2",
        f'    echo "(its log: docker logs {name}; container $id)" >&2',
        "    exit 1",
        "  fi",
        f'  [ "$1" = running ] && timeout {PROBE_TIMEOUT_S} docker exec "$id" {shlex.join(probe)} >/dev/null 2>&1 && break',
        "  sleep 0.5",
        "done",
        *(["retire"] if retire is not None else []),
        f'echo "{name} is healthy"',
    ]
    return "\n".join(lines) + "\n"


def _retire(retire: tuple[str, str, int], name: str, siblings: tuple[str, ...]) -> list[str]:
    label, value, grace_s = retire
    others = "|".join(f"{s}-???????" for s in siblings)
    return [
        "retire() {",
        f"  for old in $(docker ps -aq --no-trunc --filter {shlex.quote(f'label={label}={value}')}); do",
        '    case "$old" in "$id"*) continue ;; esac',
        "    old_name=$(docker inspect --format '{{.Name}}' \"$old\") || continue",
        "    old_name=${old_name#/}",
        *([f'    case "$old_name" in {others}) continue ;; esac'] if others else []),
        f'    docker stop --time {int(grace_s)} "$old" >/dev/null 2>&1 || true',
        '    docker rm --force "$old" >/dev/null 2>&1 || true',
        f'    echo "retired $old_name, which {name} replaces"',
        "  done",
        "}",
    ]
