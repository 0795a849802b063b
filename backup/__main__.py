"""Command line of the backup tool (see backup/__init__.py); one run at a time per machine, and each
run first starts whatever an interrupted one left stopped."""

from __future__ import annotations

import argparse
import fcntl
import sys
from pathlib import Path

from backup import jobs
from backup.manifest import BackupError
from backup.runtime import DockerRuntime, Runtime
from backup.stores import Store, store_from

DEFAULT_PLAN = Path("/etc/berth/backup-plan.json")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="berth-backup", description="Back up and restore berth apps' data.")
    parser.add_argument("--plan", type=Path, default=DEFAULT_PLAN, help="the plan berth wrote on deploy")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("backup", help="back up apps now")
    run.add_argument("apps", nargs="*")
    run.add_argument("--all", action="store_true", help="every app with data (what the timer runs)")
    restore = commands.add_parser("restore", help="restore an app from a backup (default: its latest)")
    restore.add_argument("app")
    restore.add_argument("--from", dest="backup_id", help="backup id, e.g. 20261122T033000Z (see `list`)")
    restore.add_argument("--keep-previous", action="store_true", help="keep the replaced data beside the restored")
    listing = commands.add_parser("list", help="complete backups of an app, oldest first")
    listing.add_argument("app")
    commands.add_parser("recover", help="start containers an interrupted run left stopped (run at boot)")
    args = parser.parse_args(argv)
    if args.command == "backup" and not (args.apps or args.all):
        parser.error("name the apps to back up, or --all")
    return args


def fail(message: str) -> int:
    print(f"berth-backup: {message}", file=sys.stderr)
    return 1


def backup(plan: dict, apps: list[str], runtime: Runtime, store: Store, work_dir: Path) -> int:
    failed = []
    for app in apps:  # one app's failure never keeps the others from being backed up
        try:
            jobs.backup_app(plan, app, runtime, store, work_dir, jobs.cloudwatch_metrics(plan))
        except Exception as err:  # noqa: BLE001 - reported with its kind; the next app still runs
            fail(f"backup of {app} failed: {err if isinstance(err, BackupError) else f'{type(err).__name__}: {err}'}")
            failed.append(app)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    plan = jobs.read_plan(args.plan)
    work_dir = Path(plan.get("workDir") or args.plan.parent)
    work_dir.mkdir(parents=True, exist_ok=True)
    store, runtime = store_from(plan), DockerRuntime()
    with (work_dir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return fail("another backup or restore is running on this machine; try again when it ends")
        try:
            jobs.recover(runtime, work_dir)
        except BackupError as err:
            return fail(str(err))
        if args.command == "recover":
            return 0
        if args.command == "list":
            print("\n".join(jobs.list_backups(store, args.app)) or f"no complete backup of {args.app} in {store}")
            return 0
        if args.command == "restore":
            try:
                jobs.restore_app(plan, args.app, runtime, store, work_dir, args.backup_id, args.keep_previous)
            except (BackupError, OSError) as err:
                return fail(f"restore of {args.app} failed: {err}")
            return 0
        return backup(plan, sorted(plan["apps"]) if args.all else args.apps, runtime, store, work_dir)


if __name__ == "__main__":
    sys.exit(main())
