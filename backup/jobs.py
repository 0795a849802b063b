"""Back up one app, or restore it from a chosen backup, all or nothing.

Backup: with the containers that mount the app's volumes stopped (its Redis store's too), dump its
database and pack each volume, start them again, upload every part, then the manifest. A run that
dies halfway leaves no manifest, so no restore ever picks it.

Restore, in an order where every step that can fail comes before anything is changed:
1. fetch the manifest and every part, check sizes and SHA-256, check the parts are exactly what the
   app holds today, read every archive to its end;
2. while the app still runs: restore the database into a new one beside it, unpack each volume
   beside its live directory;
3. stop the app, swap each staged copy in by renames (undone if one fails), start the app in its
   start order; the replaced data is deleted once the app is back (or kept with keep_previous).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, UTC
from pathlib import Path

from backup import archive
from backup.manifest import NAME, POSTGRES_PART, BackupError, Manifest, Part, volume_part
from backup.postgres import Database
from backup.runtime import Runtime
from backup.stores import Store

STAGED, PREVIOUS = ".berth-restore", ".berth-previous"
LEDGER = "stopped-containers.json"  # what a run stopped, until it has started it again
Metrics = Callable[[str, Manifest], None]  # told of each app's backup once it is complete


def log(message: str) -> None:
    print(f"berth-backup: {message}", flush=True)


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def app_spec(plan: dict, app: str) -> dict:
    if app not in plan["apps"]:
        raise BackupError(f"{app!r} has no data to back up in stack {plan['stack']} "
                          f"(apps with data: {', '.join(sorted(plan['apps'])) or 'none'})")
    return plan["apps"][app]


def _stopped_for_volumes(spec: dict) -> list[str]:
    """The services mounting a backed-up volume, in the app's start order."""
    mounting = {s for services in spec["volumes"].values() for s in services}
    return [s for s in spec["services"] if s in mounting]


@contextmanager
def services_stopped(runtime: Runtime, services: list[str], work_dir: Path) -> Iterator[None]:
    """Stop the running containers of `services` and start them again, whatever happens in between.

    They are written down before they stop: if the run itself dies (power loss, a kill), `recover`
    starts them (on the next run, and at boot), since a container `docker stop` stopped stays stopped.
    """
    containers, ledger = runtime.running(services), work_dir / LEDGER
    if not containers:
        yield
        return
    ledger.write_text(json.dumps(containers), encoding="utf-8")
    clock = time.monotonic()
    runtime.stop(containers)
    try:
        yield
    finally:
        runtime.start(containers)
        ledger.unlink()
        log(f"{', '.join(services)} stopped for {round(time.monotonic() - clock, 1)} s")


def recover(runtime: Runtime, work_dir: Path) -> None:
    """Start what an interrupted run left stopped (see `services_stopped`)."""
    ledger = work_dir / LEDGER
    if ledger.exists():
        containers = json.loads(ledger.read_text(encoding="utf-8"))
        log(f"an earlier run was interrupted with {', '.join(containers)} stopped; starting them")
        runtime.start(containers)
        ledger.unlink()


def backup_app(plan: dict, app: str, runtime: Runtime, store: Store, work_dir: Path,
               metrics: Metrics | None = None) -> Manifest:
    spec = app_spec(plan, app)
    started, clock = datetime.now(UTC), time.monotonic()
    backup_id = started.strftime("%Y%m%dT%H%M%SZ")
    manifest = Manifest(plan["stack"], app, backup_id, started.isoformat(timespec="seconds"))
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=f"backup-{app}-") as tmp:
        files = Path(tmp)
        database = Database(runtime, spec["postgres"]["container"], spec["postgres"]["database"]) \
            if spec["postgres"] else None
        with services_stopped(runtime, _stopped_for_volumes(spec), work_dir):
            if database:
                database.dump(files / POSTGRES_PART)
            for volume in spec["volumes"]:
                archive.pack(runtime.volume_dir(volume), files / volume_part(volume))
                manifest.parts[volume_part(volume)] = Part.of(files / volume_part(volume), f"volume {volume}")
        if database:  # read back once the app runs again
            database.verify(files / POSTGRES_PART)
            dumped = Part.of(files / POSTGRES_PART, f"postgres database {database.name}")
            manifest.parts = {POSTGRES_PART: dumped, **manifest.parts}  # the database first, as it was taken
        for name, part in manifest.parts.items():
            store.put(f"{app}/{backup_id}/{name}", files / name)
            log(f"{app} {backup_id}: wrote {name} ({part.what}, {size_text(part.bytes)}, sha256 {part.sha256[:12]})")
        manifest.seconds = round(time.monotonic() - clock, 1)
        (files / NAME).write_text(manifest.to_json(), encoding="utf-8")
        store.put(f"{app}/{backup_id}/{NAME}", files / NAME)
    total = sum(p.bytes for p in manifest.parts.values())
    log(f"{app} {backup_id}: backed up to {store}{'' if str(store).endswith('/') else '/'}{app}/{backup_id}/ "
        f"({len(manifest.parts)} parts, {size_text(total)}) in {manifest.seconds} s")
    if metrics:
        metrics(app, manifest)
    return manifest


# --- restore ----------------------------------------------------------------------------------------

def fetch(store: Store, app: str, backup_id: str | None, spec: dict, files: Path) -> Manifest:
    """The chosen backup's manifest and parts, each checked; raises before anything is changed."""
    complete = store.backups(app)
    if backup_id is None:
        if not complete:
            raise BackupError(f"there is no complete backup of {app} in {store}; nothing was changed")
        backup_id = complete[-1]
    present = store.parts(app, backup_id)
    if NAME not in present or not store.get(f"{app}/{backup_id}/{NAME}", files / NAME):
        recent = ", ".join(complete[-5:]) or "none"
        raise BackupError(f"{app}/{backup_id} is not a complete backup in {store} (no manifest); "
                          f"the latest complete ones: {recent}. Nothing was changed")
    manifest = Manifest.from_json((files / NAME).read_text(encoding="utf-8"), f"{app}/{backup_id}/{NAME}")
    manifest.id = backup_id  # named as the user chose it (a copy made with `aws s3 sync` keeps its path)
    if manifest.app != app:
        raise BackupError(f"{app}/{backup_id} holds a backup of {manifest.app!r}; nothing was changed")
    wanted = ({POSTGRES_PART} if spec["postgres"] else set()) | {volume_part(v) for v in spec["volumes"]}
    if set(manifest.parts) != wanted:
        raise BackupError(f"{app}/{backup_id} holds {', '.join(sorted(manifest.parts)) or 'nothing'}, but {app} now "
                          f"keeps {', '.join(sorted(wanted))}; restore a backup taken since its data last changed "
                          "shape. Nothing was changed")
    for name in sorted(wanted):
        if name not in present or not store.get(f"{app}/{backup_id}/{name}", files / name):
            raise BackupError(f"backup {app}/{backup_id} is missing {name}; choose another backup. Nothing was changed")
        manifest.check(name, files / name)
    return manifest


class VolumeSwap:
    """A volume's directory and the staged copy beside it (same filesystem, so the swap is two renames)."""

    def __init__(self, live: Path):
        self.live, self.staged, self.previous = live, live.with_name(live.name + STAGED), live.with_name(live.name + PREVIOUS)

    def check_no_leftover(self) -> None:
        if self.previous.exists():
            raise BackupError(f"{self.previous} is left from an interrupted restore; check it, then remove it "
                              f"(or move it back to {self.live}) before restoring again. Nothing was changed")

    def stage(self, part: Path) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)
        archive.unpack(part, self.staged)

    def swap(self) -> None:
        self.live.rename(self.previous)
        self.staged.rename(self.live)

    def undo(self) -> None:
        if self.previous.exists():
            if self.live.exists():
                self.live.rename(self.staged)
            self.previous.rename(self.live)

    def clean(self) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)


def swap_all(items: list) -> None:
    """Swap every staged copy in; if one fails, put back those already swapped, newest first, and the one
    that failed half-way (each undo looks at what is there: its replaced copy, if the swap got that far)."""
    started = []
    try:
        for item in items:
            started.append(item)
            item.swap()
    except Exception:
        for item in reversed(started):
            item.undo()
        raise


def previous_text(database: Database | None, volumes: list[VolumeSwap]) -> str:
    return ", ".join(([f"database {database.previous}"] if database else []) + [str(v.previous) for v in volumes])


def restore_app(plan: dict, app: str, runtime: Runtime, store: Store, work_dir: Path, backup_id: str | None = None,
                keep_previous: bool = False) -> Manifest:
    """Fetch and verify a backup, stage it beside the live data and swap it in with the app's services
    stopped; the replaced data is dropped unless `keep_previous`."""
    spec = app_spec(plan, app)
    clock = time.monotonic()
    database = Database(runtime, spec["postgres"]["container"], spec["postgres"]["database"]) if spec["postgres"] else None
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=f"restore-{app}-") as tmp:
        files = Path(tmp)
        manifest = fetch(store, app, backup_id, spec, files)
        volumes = [VolumeSwap(runtime.volume_dir(v)) for v in spec["volumes"]]
        label = f"backup {app}/{manifest.id}"
        toc = _verified(files, label, spec, database, volumes)
        log(f"{app}: {label} ({manifest.started_at}) verified; staging it beside the live data")
        try:
            if database:
                database.stage(files / POSTGRES_PART, toc)
            for volume, swap in zip(spec["volumes"], volumes, strict=True):
                swap.stage(files / volume_part(volume))
            _swap_in(runtime, app, label, spec, work_dir, database, volumes)
        finally:
            if database:
                database.drop(database.staged)  # IF EXISTS: a swapped-in copy has the live name by now
            for swap in volumes:
                swap.clean()
    if not keep_previous:
        if database:
            database.drop(database.previous)
        for swap in volumes:
            shutil.rmtree(swap.previous)
    kept = f"; the replaced data is kept ({previous_text(database, volumes)})" if keep_previous else ""
    log(f"{app}: restored {label} ({', '.join(sorted(manifest.parts))}) in {round(time.monotonic() - clock, 1)} s{kept}")
    return manifest


def _verified(files: Path, label: str, spec: dict, database: Database | None, volumes: list[VolumeSwap]) -> str:
    """Every part of the fetched backup read whole, and nothing left by an earlier restore; the dump's
    table of contents (empty without a database)."""
    toc = database.contents(files / POSTGRES_PART, f"{label}: {POSTGRES_PART}") if database else ""
    for volume in spec["volumes"]:
        archive.verify(files / volume_part(volume), f"{label}: {volume_part(volume)}")
    for check in ([database] if database else []) + volumes:
        check.check_no_leftover()
    return toc


def _swap_in(runtime: Runtime, app: str, label: str, spec: dict, work_dir: Path, database: Database | None,
             volumes: list[VolumeSwap]) -> None:
    """The staged data swapped for the live data while the app's services are stopped."""
    swapped = False
    try:
        with services_stopped(runtime, spec["services"], work_dir):
            swap_all(([database] if database else []) + volumes)
            swapped = True
    except BackupError as err:
        if swapped:  # the data is in place, but the app did not come back: keep what it replaced
            raise BackupError(f"{app}'s data was restored from {label}, but {err}. The replaced data is kept "
                              f"({previous_text(database, volumes)}); remove it once the app is well") from err
        raise


def cloudwatch_metrics(plan: dict) -> Metrics | None:
    """After a successful backup: a datapoint the stack's alarm waits for, and its size and duration."""
    if not plan.get("metrics"):
        return None
    import boto3

    client = boto3.client("cloudwatch", region_name=plan["store"].get("s3", {}).get("region"))

    def put(app: str, manifest: Manifest) -> None:
        dimensions = [{"Name": "Stack", "Value": plan["stack"]}, {"Name": "App", "Value": app}]
        client.put_metric_data(Namespace=plan["metrics"]["namespace"], MetricData=[
            {"MetricName": plan["metrics"]["metric"], "Dimensions": dimensions, "Value": 1, "Unit": "Count"},
            {"MetricName": "BackupSeconds", "Dimensions": dimensions, "Value": manifest.seconds, "Unit": "Seconds"},
            {"MetricName": "BackupBytes", "Dimensions": dimensions,
             "Value": sum(p.bytes for p in manifest.parts.values()), "Unit": "Bytes"},
        ])
    return put


def list_backups(store: Store, app: str) -> list[str]:
    return store.backups(app)


def read_plan(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"berth-backup: no plan at {path}; `pulumi up` writes it (dev: {path.name} under the data dir)",
              file=sys.stderr)
        raise SystemExit(2) from None
