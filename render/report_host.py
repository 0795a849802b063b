"""How the reporter (operate/reporter.py) gets onto the EC2 host: files, a systemd service and a timer.

cloud-init writes them on the first boot (`cloud_config()`, merged into the user data by
render/cloud_init.py), so a new host reports from its first minute, before any deploy; every deploy
writes the same files again when they changed (`install_script()`, run as root like the backup tool's
install), because prod ignores user-data changes and would otherwise keep its first reporter forever.

Why a timer and a script of berth's own, not an agent: Ubuntu's archive has no CloudWatch agent or
log shipper (the CloudWatch agent is a separate download), and Docker's awslogs driver would tie every
container's start to CloudWatch and replace every container to switch drivers; a minute's delay is
fine for logs kept off the host. The reporter reads Docker's own json-file logs, so `docker logs`
keeps working. Nothing here is secret: the stack's name, region and paths.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

from config import conventions
from render.backup_host import write_file

TOOL = "/usr/local/lib/berth/berth_report.py"
CONFIG = "/etc/berth/report.json"
UNIT = "berth-report"
SOURCE = Path(__file__).resolve().parents[1] / "operate" / "reporter.py"
PACKAGES = ["python3-boto3"]


def config(stack: str, region: str | None, data_root: str) -> dict:
    return {"stack": stack, "region": region, "dataRoot": data_root,
            "logGroupPrefix": conventions.log_group(stack, ""),
            "backupLedger": f"{data_root}/backup-work/stopped-containers.json"}


def service_unit(data_root: str) -> str:
    return f"""[Unit]
Description=berth: report this host's health and ship its containers' logs to CloudWatch (docs/operate.md)
After=docker.service
RequiresMountsFor={data_root}

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {TOOL}
Nice=10
TimeoutStartSec=50
"""


def timer_unit() -> str:
    return """[Unit]
Description=berth: report every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=5s

[Install]
WantedBy=timers.target
"""


def files(stack: str, region: str | None, data_root: str) -> dict[str, tuple[str, str]]:
    """path -> (content, mode) of everything the reporter needs on the host."""
    return {
        TOOL: (SOURCE.read_text(encoding="utf-8"), "0644"),
        CONFIG: (json.dumps(config(stack, region, data_root), indent=2, sort_keys=True) + "\n", "0644"),
        f"/etc/systemd/system/{UNIT}.service": (service_unit(data_root), "0644"),
        f"/etc/systemd/system/{UNIT}.timer": (timer_unit(), "0644"),
    }


def cloud_config(stack: str, region: str | None, data_root: str) -> dict:
    """The user data's part: the files (the tool gzip-compressed: user data is capped at 16 KB), and
    the timer enabled once Docker is up (runcmd runs in order)."""
    write = []
    for path, (content, mode) in files(stack, region, data_root).items():
        entry = {"path": path, "permissions": mode}
        if path == TOOL:
            entry.update(encoding="gz+b64", content=base64.b64encode(gzip.compress(content.encode(), mtime=0)).decode())
        else:
            entry["content"] = content
        write.append(entry)
    return {"packages": PACKAGES, "write_files": write,
            "runcmd": [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", f"{UNIT}.timer"]]}


def install_script(stack: str, region: str | None, data_root: str) -> str:
    """The same files, written by a deploy (root, `sudo bash -s`), and the timer enabled."""
    return (
        "#!/bin/bash\n"
        "# Install berth's reporter and its timer (run as root by `pulumi up`; cloud-init did the same at boot).\n"
        "set -euo pipefail\n"
        "if ! python3 -c 'import boto3' 2>/dev/null; then\n"
        f"  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {' '.join(PACKAGES)}\n"
        "fi\n"
        f"install -d -m 0755 {Path(TOOL).parent} {Path(CONFIG).parent}\n"
        + "".join(write_file(path, content, mode) for path, (content, mode) in files(stack, region, data_root).items())
        + "systemctl daemon-reload\n"
        f"systemctl enable --now {UNIT}.timer\n"
    )
