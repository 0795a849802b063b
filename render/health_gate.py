"""The health gate: the host command every deploy waits on after it creates a container.

Why a command of its own and not the provider's `wait`: terraform-provider-docker (v4.5.0,
resource_docker_container_funcs.go) sets a container's ID before it waits for health, so a container
that never became healthy is kept by Pulumi with an initialization error; the next `pulumi up` (and
`--refresh` clears the error anyway) only runs Update, which never waits again, and reports success
with the unhealthy container. A command that fails keeps nothing in state (pulumi-command 1.2.1), so
the next `up` runs it again, and again, until the container is healthy. It runs whenever the container
is new (its id is the trigger), fails as soon as Docker calls the container unhealthy or it keeps
restarting, and then says why: the container's state and its last health check outputs.

Once the container is healthy, a stateless service's gate retires what Pulumi would otherwise delete
only at the end of the whole deployment: the container this one replaced (create-first) and those of
replicas the program no longer declares. Two versions then answer the service's alias only from the new
container's start until it is healthy, never for the rest of the `up` or after a failed one. Another
replica's containers are left to its own gate. Pulumi's later delete of a retired container finds it
gone, which the provider ignores ("No such container").
"""

from __future__ import annotations

import shlex

RESTARTS_BEFORE_GIVING_UP = 3  # a crash loop: Docker restarts it before the health check can call it unhealthy
STATE = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}"
WHY = ("{{if .State.Error}}error: {{.State.Error}}{{println}}{{end}}"
       "{{if .State.OOMKilled}}killed: out of memory{{println}}{{end}}"
       "{{if .State.Health}}{{range .State.Health.Log}}health check exit {{.ExitCode}}: {{.Output}}{{println}}{{end}}{{end}}")


def gate_script(container_id: str, name: str, *, timeout_s: int, retire: tuple[str, str, int] | None = None,
                siblings: tuple[str, ...] = ()) -> str:
    """Wait until container `container_id` (resource `name`) is healthy, or fail saying why.

    `retire`: (service label, the label's value, stop grace in seconds) of a stateless service: once
    healthy, its other containers are stopped and removed, except those of `siblings` (its other
    replicas' resource names: their containers are `<sibling>-<7 characters>`)."""
    lines = [
        "set -u",
        f"id={shlex.quote(container_id)}",
        "first=$(docker inspect --format '{{.RestartCount}}' \"$id\") || exit 1",
        f"deadline=$(( $(date +%s) + {int(timeout_s)} ))",
        "while :; do",
        f"  now=$(docker inspect --format {shlex.quote(STATE)} \"$id\") || exit 1",
        "  set -- $now",
        '  [ "$1 $2" = "running healthy" ] && break',
        f'  if [ "$2" != starting ] || [ $(( $3 - first )) -ge {RESTARTS_BEFORE_GIVING_UP} ] || '
        '[ "$(date +%s)" -ge "$deadline" ]; then',
        f"    echo \"{name} did not become healthy: $1, health $2, restarted $(( $3 - first )) times while the "
        "deploy waited\" >&2",
        f"    docker inspect --format {shlex.quote(WHY)} \"$id\" | tail -n 20 >&2",
        f'    echo "(its log: docker logs {name}; container $id)" >&2',
        "    exit 1",
        "  fi",
        "  sleep 1",
        "done",
        f'echo "{name} is healthy"',
    ]
    if retire is not None:
        lines += _retire(retire, name, siblings)
    return "\n".join(lines) + "\n"


def _retire(retire: tuple[str, str, int], name: str, siblings: tuple[str, ...]) -> list[str]:
    label, value, grace_s = retire
    others = "|".join(f"{s}-???????" for s in siblings)
    return [
        f"for old in $(docker ps -aq --no-trunc --filter {shlex.quote(f'label={label}={value}')}); do",
        '  case "$old" in "$id"*) continue ;; esac',
        "  old_name=$(docker inspect --format '{{.Name}}' \"$old\") || continue",
        "  old_name=${old_name#/}",
        *([f'  case "$old_name" in {others}) continue ;; esac'] if others else []),
        f'  docker stop --time {int(grace_s)} "$old" >/dev/null 2>&1 || true',
        '  docker rm --force "$old" >/dev/null 2>&1 || true',
        f'  echo "retired $old_name, which {name} replaces"',
        "done",
    ]
