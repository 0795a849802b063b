"""berth's backup tool: back up one app's data to the stack's store, and restore it, all or nothing.

It runs where the data is: on the EC2 host (a systemd timer, or `scripts/backup` over SSH) and, for
dev, on this machine. It needs only Python's standard library, the Docker CLI and, for S3, boto3
(Ubuntu's python3-boto3), so the host installs nothing else. What to back up comes from a plan file
berth writes on every deploy (render/backup_plan.py): containers, databases and volumes by name.

    python3 -m backup [--plan FILE] backup APP... | --all
    python3 -m backup [--plan FILE] restore APP [--from BACKUP_ID]
    python3 -m backup [--plan FILE] list APP
    python3 -m backup [--plan FILE] recover
"""
