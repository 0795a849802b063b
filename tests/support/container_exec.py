"""A command in a running container, with everything it printed.

Docker can hand back an exec's exit code without its output (moby/moby#27289; docker/docker-py#2042, still
open; seen here as a Redis `SET` answering exit 0 and nothing, and as psql answering an empty line). So the
command runs under the container's `sh`, its stderr joined to its stdout (one stream, so one order), and
`sh` prints a mark once the command has exited: an answer without the mark lost output, and the command
runs again (every caller's command is a read or a write that may be repeated). A caller that reads only
the exit code needs none of this: `exec_run` is enough.
"""

from __future__ import annotations

from collections.abc import Sequence

from docker.models.containers import Container

MARK = "<berth: the command has exited>"
ATTEMPTS = 3
# $0 is the mark; the command and its arguments are the positional parameters, never parsed again.
WITH_MARK = 'status=0; "$@" 2>&1 || status=$?; printf "%s" "$0"; exit "$status"'
NO_SHELL = (126, 127)  # Docker's exit code when it cannot run `sh` itself


def output_of(container: Container, argv: Sequence[str], *, user: str = "") -> tuple[int, str]:
    """(exit code, stdout and stderr in the order written) of `argv` in `container`."""
    for _ in range(ATTEMPTS):
        code, raw = container.exec_run(["sh", "-c", WITH_MARK, MARK, *argv], user=user)
        out = raw.decode(errors="replace")
        if out.endswith(MARK):
            return code, out[: -len(MARK)]
        if code in NO_SHELL and "exec" in out:  # an image without sh: Docker's own error, as exec_run gives it
            return code, out
    raise AssertionError(f"`{' '.join(argv)}` in {container.name}: Docker returned none of its output "
                         f"{ATTEMPTS} times (moby/moby#27289)")
