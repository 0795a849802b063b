"""How the backup tool gets onto the EC2 host: one script, run as root by every `pulumi up`.

It writes the tool (backup/, copied from this repository), the plan, a `berth-backup` command and a
systemd service and timer, then enables the timer. Why a systemd timer: the tool must stop and start
containers and read volume directories as root, which a scheduled container could only do with the
Docker socket (berth never mounts it); a timer catches up a run missed while the host was down
(`Persistent=true`) and its runs land in the journal (`journalctl -u berth-backup`).

Why the deploy installs it and not cloud-init: prod ignores user-data changes (the host is never
silently replaced), so a new app or schedule would never reach it; staging would be replaced on
every app change; and user data is capped at 16 KB. The script carries no secret.
"""

from __future__ import annotations

import json
from pathlib import Path

TOOL_DIR = "/usr/local/lib/berth-backup"
COMMAND = "/usr/local/sbin/berth-backup"
UNIT = "berth-backup"
PACKAGE = Path(__file__).resolve().parents[1] / "backup"
END = "BERTH_FILE_END"


def tool_files() -> dict[str, str]:
    """The tool's modules by their path on the host."""
    return {f"{TOOL_DIR}/backup/{p.name}": p.read_text(encoding="utf-8") for p in sorted(PACKAGE.glob("*.py"))}


def command_script() -> str:
    return f"""#!/bin/sh
# berth's backup tool (docs/backups.md): berth-backup backup APP | restore APP [--from ID] | list APP
exec env PYTHONPATH={TOOL_DIR} python3 -m backup "$@"
"""


def service_unit(data_root: str) -> str:
    return f"""[Unit]
Description=berth: back up every app's data (docs/backups.md)
Requires=docker.service
After=docker.service
RequiresMountsFor={data_root}

[Service]
Type=oneshot
ExecStart={COMMAND} backup --all
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
"""


def recover_unit() -> str:
    """At boot: a container a backup stopped stays stopped after a power loss; start it again."""
    return f"""[Unit]
Description=berth: start containers an interrupted backup or restore left stopped
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart={COMMAND} recover

[Install]
WantedBy=multi-user.target
"""


def timer_unit(on_calendar: str) -> str:
    return f"""[Unit]
Description=berth: scheduled backups of every app

[Timer]
OnCalendar={on_calendar}
Persistent=true

[Install]
WantedBy=timers.target
"""


def write_file(path: str, content: str, mode: str) -> str:
    """Shell that writes `content` to `path` with `mode` (a quoted heredoc: nothing in it is expanded)."""
    if f"\n{END}\n" in f"\n{content}":
        raise ValueError(f"{path} contains the line {END}")
    return f"cat > {path} <<'{END}'\n{content.rstrip(chr(10))}\n{END}\nchmod {mode} {path}\n"


def install_script(plan: dict, on_calendar: str, data_root: str) -> str:
    """The root script the deploy runs on the host (stdin of `sudo bash -s`)."""
    files = [
        *[write_file(path, text, "0644") for path, text in tool_files().items()],
        write_file(COMMAND, command_script(), "0755"),
        write_file("/etc/berth/backup-plan.json", json.dumps(plan, indent=2, sort_keys=True) + "\n", "0644"),
        write_file(f"/etc/systemd/system/{UNIT}.service", service_unit(data_root), "0644"),
        write_file(f"/etc/systemd/system/{UNIT}.timer", timer_unit(on_calendar), "0644"),
        write_file(f"/etc/systemd/system/{UNIT}-recover.service", recover_unit(), "0644"),
    ]
    return (
        "#!/bin/bash\n"
        "# Install berth's backup tool, its plan and its timer (run as root by `pulumi up`).\n"
        "set -euo pipefail\n"
        "if ! python3 -c 'import boto3' 2>/dev/null; then\n"
        "  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-boto3\n"
        "fi\n"
        f"rm -rf {TOOL_DIR}\n"
        f"install -d -m 0755 {TOOL_DIR}/backup /etc/berth\n"
        f"install -d -m 0700 {plan['workDir']}\n"
        + "".join(files)
        + f"{COMMAND} --help >/dev/null\n"
        "systemctl daemon-reload\n"
        f"systemctl enable --now {UNIT}.timer\n"
        f"systemctl enable {UNIT}-recover.service\n"
        f"systemctl list-timers {UNIT}.timer --no-pager\n"
    )
