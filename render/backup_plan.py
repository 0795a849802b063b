"""What each app's backup holds, and the plan the host's backup tool (backup/) follows.

Pure functions: `stack_backups` reads the validated Deployment into what the host's Backups component is
given (`StackBackups`), and `host_plan` renders it. The plan names only things on the host (containers by
their `berth.service` label, Docker volumes, databases) and where backups go: no secret, so it is
written to the host as a plain file and shown in the offline plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import conventions
from config.app import App
from config.deployment import Deployment
from config.conventions import service_label
from config.stack import BackupSettings
from render import datastores

METRIC_NAMESPACE = "berth/backups"
SUCCEEDED_METRIC = "BackupSucceeded"  # 1 per app per successful run; the alarm fires on its absence
LOCAL_PLAN = "backup-plan.json"  # dev: in the host's data dir, where scripts/backup finds it


def app_plan(app: App) -> dict:
    """One app's part of the plan: its containers in start order (its own Redis first), its database,
    its volumes and the containers that mount them (stopped while a volume is copied or restored).

    A Redis `store` is backed up as its volume, copied while it is stopped: the append-only file of a
    stopped Redis is complete. A `cache` holds nothing worth keeping.
    """
    services = [service_label(app.name, s) for s in app.start_order if app.services[s].kind == "server"]
    volumes = {conventions.volume(app.name, vol): [service_label(app.name, s) for s in mounted]
               for vol, mounted in sorted(app.backed_up_volumes().items())}
    redis, redis_store = service_label(app.name, "redis"), None
    if app.uses_shared("redis"):
        services.insert(0, redis)
    if app.uses_shared("redis") and app.redis is not None and app.redis.mode == "store":
        redis_store = conventions.redis_volume(app.name)
        volumes[redis_store] = [redis]
    return {
        "services": services,
        "external": sorted(app.external),  # not berth's to back up: shown so no one assumes it is
        "redisStore": redis_store,
        "postgres": ({"container": conventions.SHARED_POSTGRES, "database": datastores.db_name(app.name)}
                     if app.uses_shared("postgres") else None),
        "volumes": volumes,
    }


def has_data(plan: dict) -> bool:
    """Something berth keeps for the app: a database, a Redis store, a volume."""
    return bool(plan["postgres"] or plan["volumes"])


def apps_plan(deployment: Deployment) -> dict[str, dict]:
    """The apps that hold data, each with its part of the plan (an app without data has no backup)."""
    plans = {name: app_plan(app) for name, app in sorted(deployment.apps.items())}
    return {name: plan for name, plan in plans.items() if has_data(plan)}


def contents(plan: dict) -> list[str]:
    """What an app's backup holds, as a reviewer reads it in the plan."""
    what = []
    if plan["postgres"]:
        what.append(f"postgres database {plan['postgres']['database']} (pg_dump -Fc)")
    for volume, mounted in plan["volumes"].items():
        stopped = ", ".join(s.split("/", 1)[1] for s in mounted)
        if volume == plan["redisStore"]:
            what.append(f"redis store {volume} (its append-only file, copied while redis is stopped)")
            continue
        what.append(f"volume {volume} (copied while {stopped} {'is' if len(mounted) == 1 else 'are'} stopped)")
    what += [f"not {name} (external: its provider keeps its backups)" for name in plan["external"]]
    return what


@dataclass(frozen=True)
class StackBackups:
    """A stack's backups as its Deployment decides them: all the host's Backups component reads
    (components/single_host/backups.py). It backs up every app that holds data, so it has each one's part."""

    stack: str
    settings: BackupSettings  # berth:backups
    data_root: str  # the tool works under it; dev's plan is written there
    local_dir: str  # dev: where backups go, resolved against the project
    schedule: str  # as the plan shows it (schedule_text)
    apps: dict[str, dict]  # every app that holds data, with its part of the plan (apps_plan)


def stack_backups(deployment: Deployment) -> StackBackups:
    """The stack's backups, on its own host (an ECS stack has none: AWS Backup and RDS keep its data)."""
    settings = deployment.settings.backups
    return StackBackups(stack=deployment.stack, settings=settings, data_root=deployment.data_root,
                        local_dir=str((deployment.project_dir / settings.local_dir).resolve()),
                        schedule=schedule_text(deployment), apps=apps_plan(deployment))


def host_plan(backups: StackBackups, store: dict, metrics: bool) -> dict:
    """The file the backup tool reads: where backups go, where it works, and every app's part."""
    return {
        "berthBackupPlan": 1,
        "stack": backups.stack,
        "store": store,
        "workDir": f"{backups.data_root}/backup-work",
        "metrics": {"namespace": METRIC_NAMESPACE, "metric": SUCCEEDED_METRIC} if metrics else None,
        "apps": backups.apps,
    }


def schedule_text(deployment: Deployment) -> str:
    settings = deployment.settings.backups
    if not deployment.on_ec2:
        return "on demand (scripts/backup <app>)"
    every = "daily" if settings.every_hours == 24 else f"every {settings.every_hours} h"
    return f"{every} from {settings.at} UTC (systemd OnCalendar={settings.on_calendar})"
