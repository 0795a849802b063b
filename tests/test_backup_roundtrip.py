"""The backup tool for real: back up an app's Postgres database, Redis store and volume to an S3 API,
change everything, restore, and get back exactly what was backed up; a corrupted or missing backup
fails before anything is changed.

Real Postgres and Redis (Debian's binaries, local processes on unix sockets), a real S3 and CloudWatch
API on loopback (moto's server), the database provisioned by berth's own SQL. The tool's only stand-in
is its Runtime: local processes and directories instead of containers and Docker volumes
(tests/support/local_data.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zlib

import boto3
import pytest

from backup import jobs
from backup.manifest import NAME, POSTGRES_PART, BackupError, volume_part
from backup.postgres import Database
from backup.stores import DirStore, S3Store
from render import datastores
from tests.support.local_data import LocalPostgres, LocalRedis, LocalRuntime, LocalService
from tests.support.moto_server import MotoServer

# One xdist worker runs this module, so its app (Postgres, Redis, S3 on loopback) and first backup are made once (tests/conftest.py).
pytestmark = [pytest.mark.servers, pytest.mark.xdist_group("test_backup_roundtrip")]

BUCKET, PREFIX = "berth-test-backups", "test/"
PLAN = {
    "berthBackupPlan": 1, "stack": "test",
    "store": {"s3": {"bucket": BUCKET, "prefix": PREFIX, "region": "us-east-1"}},
    "metrics": {"namespace": "berth/backups", "metric": "BackupSucceeded"},
    "apps": {"shop": {
        "services": ["shop/redis", "shop/worker"],
        "postgres": {"container": "shared-postgres", "database": "shop"},
        "redisStore": "shop_redis",
        "volumes": {"shop_redis": ["shop/redis"], "shop_uploads": ["shop/worker"]},
    }},
}
ROWS = "SELECT count(*) || ':' || md5(string_agg(id || name || uid::text, ',' ORDER BY id)) FROM items"


@pytest.fixture(scope="module")
def s3():
    server = MotoServer()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing")
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield client
    server.stop()
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, s3):
    """The app `shop` running: its database provisioned by berth's SQL, its Redis store, a worker on a volume."""
    root = tmp_path_factory.mktemp("host")
    postgres = LocalPostgres()
    runtime = LocalRuntime(postgres, root / "volumes")
    try:
        postgres.start()
        provision = datastores.provision_sql(datastores.AppDatabase("shop", "unused-here", ("uuid-ossp",)))
        (root / "provision.sql").write_text(provision, encoding="utf-8")
        postgres.psql(f"\\i {root / 'provision.sql'}")
        for volume in PLAN["apps"]["shop"]["volumes"]:
            runtime.volume_dir(volume).mkdir(parents=True)
        redis = LocalRedis(runtime.volume_dir("shop_redis"), root / "redis.sock")
        worker = LocalService(lambda: ["sleep", "3600"])
        runtime.services = {"shop/redis": redis, "shop/worker": worker}
        redis.start()
        worker.start()
        yield runtime
    finally:
        for service in runtime.services.values():
            service.stop()
        postgres.stop()


def write_state(runtime: LocalRuntime, version: str) -> None:
    pg, redis = runtime.postgres, runtime.services["shop/redis"]
    if version == "a":
        # uuid-ossp is berth's (in berth_extensions); citext the app's own, in a schema of its own
        pg.psql("CREATE SCHEMA mine; CREATE EXTENSION citext SCHEMA mine;"
                "CREATE TABLE items (id serial PRIMARY KEY, name mine.citext NOT NULL, uid uuid DEFAULT uuid_generate_v4());"
                "COMMENT ON TABLE items IS 'what the shop sells';"
                "INSERT INTO items (name) SELECT 'item ' || i FROM generate_series(1, 500) AS i;", user="shop", db="shop")
        redis.pipe([f'SET cart:{i} "items {i}"' for i in range(200)])
        redis.cli("HSET", "session:1", "user", "ada", "cart", "cart:7")
        uploads = runtime.volume_dir("shop_uploads")
        (uploads / "invoices").mkdir()
        (uploads / "invoices" / "1.pdf").write_bytes(os.urandom(200_000))
        (uploads / "logo.png").write_bytes(os.urandom(5_000))
        (uploads / "logo.png").chmod(0o640)
        os.chown(uploads / "logo.png", 1000, 1000)
        (uploads / "latest").symlink_to("invoices/1.pdf")
    else:  # everything changes: rows, a table, keys, files
        pg.psql("DELETE FROM items WHERE id % 3 = 0; INSERT INTO items (name) VALUES ('new'); "
                "CREATE TABLE IF NOT EXISTS junk (x int);", user="shop", db="shop")
        redis.cli("DEL", "cart:1", "cart:2")
        redis.cli("SET", "cart:new", "x")
        uploads = runtime.volume_dir("shop_uploads")
        (uploads / "invoices" / "1.pdf").write_bytes(b"overwritten")
        (uploads / "stray.txt").write_text("new file")


def state(runtime: LocalRuntime) -> dict:
    """Everything a user would check: rows and their checksum, tables and owners, keys and values, files."""
    pg, redis = runtime.postgres, runtime.services["shop/redis"]
    keys = sorted(redis.cli("--scan").split())
    files = {}
    uploads = runtime.volume_dir("shop_uploads")
    for path in sorted(uploads.rglob("*")):
        info = path.lstat()
        content = os.readlink(path) if path.is_symlink() else (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir")
        files[str(path.relative_to(uploads))] = (content, stat.filemode(info.st_mode), info.st_uid, info.st_gid)
    return {
        "rows": pg.psql(ROWS, db="shop"),
        "tables": pg.psql("SELECT string_agg(tablename || ' ' || tableowner, ',' ORDER BY tablename) "
                          "FROM pg_tables WHERE schemaname = 'public'", db="shop"),
        "comment": pg.psql("SELECT obj_description('items'::regclass)", db="shop"),
        "extensions": pg.psql("SELECT string_agg(extname || ' in ' || n.nspname || ' of ' || nspowner::regrole, ',' "
                              "ORDER BY extname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace", db="shop"),
        "access": pg.psql("SELECT datdba::regrole || ' ' || has_database_privilege('shop', 'shop', 'CONNECT, CREATE') "
                          "FROM pg_database WHERE datname = 'shop'"),
        "keys": keys,
        "values": redis.cli("DEBUG", "DIGEST"),  # a checksum of every key and value
        "files": files,
    }


def tool_store() -> S3Store:
    return S3Store(BUCKET, PREFIX, "us-east-1")


def good_backup() -> str:
    """The first test's backup (the damage tests add copies dated 2099)."""
    return [b for b in tool_store().backups("shop") if not b.startswith("2099")][-1]


@pytest.fixture(scope="module")
def backed_up(shop, s3, tmp_path_factory):
    """The shop's first state, and its backup (which every later test restores or damages a copy of):
    a fixture, so a test that needs it has it whichever worker runs it."""
    write_state(shop, "a")
    before = state(shop)
    shop.events.clear()
    manifest = jobs.backup_app(PLAN, "shop", shop, tool_store(), tmp_path_factory.mktemp("first-backup"),
                               jobs.cloudwatch_metrics(PLAN))
    return before, manifest, list(shop.events), state(shop)


def test_a_backup_restores_exactly_what_was_backed_up(shop, s3, tmp_path, backed_up):
    before, manifest, events, after = backed_up
    assert after == before  # a backup changes nothing
    assert before["rows"].startswith("500:") and len(before["keys"]) == 201 and "logo.png" in before["files"]
    assert set(manifest.parts) == {POSTGRES_PART, volume_part("shop_redis"), volume_part("shop_uploads")}
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}shop/{manifest.id}/")["Contents"]}
    assert keys == {f"{PREFIX}shop/{manifest.id}/{p}" for p in [*manifest.parts, NAME]}
    # the volumes were copied with their services stopped, which then came back in start order
    assert events == ["stop shop/worker", "stop shop/redis", "start shop/redis", "start shop/worker"]
    metrics = boto3.client("cloudwatch", region_name="us-east-1").list_metrics(Namespace="berth/backups")["Metrics"]
    assert {"MetricName": "BackupSucceeded", "Namespace": "berth/backups",
            "Dimensions": [{"Name": "Stack", "Value": "test"}, {"Name": "App", "Value": "shop"}]} in metrics

    write_state(shop, "b")
    changed = state(shop)
    assert changed["rows"] != before["rows"] and changed["keys"] != before["keys"] and changed["files"] != before["files"]

    shop.events.clear()
    jobs.restore_app(PLAN, "shop", shop, tool_store(), tmp_path)  # the latest complete backup
    assert state(shop) == before
    assert before["tables"] == "items shop" and before["comment"] == "what the shop sells"
    # each extension back in its schema (berth's owned by the superuser, the app's own by the app), the
    # database the superuser's and open to the app again
    assert before["extensions"] == ("citext in mine of shop,plpgsql in pg_catalog of postgres,"
                                    "uuid-ossp in berth_extensions of postgres")
    assert before["access"] == "postgres true"
    assert shop.events == ["stop shop/worker", "stop shop/redis", "start shop/redis", "start shop/worker"]
    leftovers = [p.name for p in shop.volumes_root.glob("*/*") if p.name != "_data"]
    assert leftovers == [] and shop.postgres.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop__%'") == "0"


def copy_backup(s3, source_id: str, target_id: str) -> None:
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}shop/{source_id}/")["Contents"]:
        s3.copy_object(Bucket=BUCKET, Key=obj["Key"].replace(source_id, target_id),
                       CopySource={"Bucket": BUCKET, "Key": obj["Key"]})


def flip_a_byte(s3, key: str) -> None:
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))


@pytest.mark.parametrize("damage, message", [
    ("corrupt the dump", "postgres.dump is corrupted"),
    ("corrupt a volume", "volume-shop_uploads.tar.gz is corrupted"),
    ("lose a volume", "is missing volume-shop_uploads.tar.gz"),
    ("lose the manifest", "is not a complete backup"),
    ("garbage with a matching checksum", "postgres.dump is not a readable pg_dump archive"),
])
def test_a_damaged_backup_fails_loudly_and_changes_nothing(shop, s3, tmp_path, damage, message, backed_up):
    bad = f"20990101T{zlib.crc32(damage.encode()) % 240000:06d}Z"
    copy_backup(s3, good_backup(), bad)
    key = f"{PREFIX}shop/{bad}/"
    if damage == "corrupt the dump":
        flip_a_byte(s3, key + POSTGRES_PART)
    elif damage == "corrupt a volume":
        flip_a_byte(s3, key + volume_part("shop_uploads"))
    elif damage == "lose a volume":
        s3.delete_object(Bucket=BUCKET, Key=key + volume_part("shop_uploads"))
    elif damage == "lose the manifest":
        s3.delete_object(Bucket=BUCKET, Key=key + NAME)
    else:  # a part that is not what it claims, with a manifest that agrees: the format check catches it
        import json
        garbage = b"PGDMP" + os.urandom(4000)
        s3.put_object(Bucket=BUCKET, Key=key + POSTGRES_PART, Body=garbage)
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key + NAME)["Body"].read())
        manifest["parts"][POSTGRES_PART].update(bytes=len(garbage), sha256=hashlib.sha256(garbage).hexdigest())
        s3.put_object(Bucket=BUCKET, Key=key + NAME, Body=json.dumps(manifest).encode())
    write_state(shop, "b")  # live data differs from every backup
    before = state(shop)
    shop.events.clear()
    with pytest.raises(BackupError, match=message):
        jobs.restore_app(PLAN, "shop", shop, tool_store(), tmp_path, backup_id=bad)
    assert shop.events == []  # nothing was even stopped
    assert state(shop) == before
    assert shop.postgres.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop__%'") == "0"
    assert [p.name for p in shop.volumes_root.glob("*/*") if p.name != "_data"] == []


def test_restoring_an_app_with_no_backup_says_so(shop, tmp_path, backed_up):
    plan = {**PLAN, "apps": {**PLAN["apps"], "other": {**PLAN["apps"]["shop"]}}}
    with pytest.raises(BackupError, match="there is no complete backup of other"):
        jobs.restore_app(plan, "other", shop, tool_store(), tmp_path)
    with pytest.raises(BackupError, match="'nope' has no data to back up in stack test"):
        jobs.restore_app(PLAN, "nope", shop, tool_store(), tmp_path)


def test_dev_keeps_its_backups_in_a_directory(shop, tmp_path, backed_up):
    """dev's store: the same backup and restore with a local directory instead of the bucket."""
    store = DirStore(str(tmp_path / "store"))
    plan = {**PLAN, "store": {"dir": str(tmp_path / "store")}, "metrics": None}
    write_state(shop, "b")
    before = state(shop)
    manifest = jobs.backup_app(plan, "shop", shop, store, tmp_path)
    written = sorted(p.name for p in (tmp_path / "store" / "shop" / manifest.id).iterdir())
    assert written == sorted([*manifest.parts, NAME]) and store.backups("shop") == [manifest.id]

    shop.postgres.psql("DROP TABLE items", user="shop", db="shop")  # lose everything
    shop.services["shop/redis"].cli("FLUSHALL")
    for path in shop.volume_dir("shop_uploads").iterdir():
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    jobs.restore_app(plan, "shop", shop, store, tmp_path, backup_id=manifest.id)
    assert state(shop) == before


def test_a_failed_backup_starts_what_it_stopped_and_writes_no_manifest(shop, tmp_path, backed_up):
    plan = {**PLAN, "apps": {"shop": {**PLAN["apps"]["shop"], "volumes": {"shop_gone": ["shop/worker"]}}}}
    before = tool_store().backups("shop")
    shop.events.clear()
    with pytest.raises(FileNotFoundError):
        jobs.backup_app(plan, "shop", shop, tool_store(), tmp_path)
    assert shop.events == ["stop shop/worker", "start shop/worker"] and shop.services["shop/worker"].running
    assert tool_store().backups("shop") == before and not (tmp_path / jobs.LEDGER).exists()


def test_containers_an_interrupted_run_left_stopped_are_started_again(shop, tmp_path, backed_up):
    """A run killed between stop and start (power loss) left its ledger: the next run, or boot, starts them."""
    worker = shop.services["shop/worker"]
    (tmp_path / jobs.LEDGER).write_text('["shop/worker"]')
    worker.stop()
    starts = worker.starts
    jobs.recover(shop, tmp_path)
    assert worker.running and worker.starts == starts + 1 and not (tmp_path / jobs.LEDGER).exists()
    jobs.recover(shop, tmp_path)  # nothing left to do
    assert worker.starts == starts + 1


def test_a_swap_that_fails_midway_is_undone(shop, tmp_path, monkeypatch, backed_up):
    """The database and the first volume are already swapped when the last volume's rename fails (a fault
    injected into that one rename): both go back, the app starts on its own data, nothing is left over."""
    write_state(shop, "b")
    before = state(shop)
    real_swap = jobs.VolumeSwap.swap

    def swap(self):
        if self.live.parent.name == "shop_uploads":
            raise OSError("injected: rename failed")
        real_swap(self)

    monkeypatch.setattr(jobs.VolumeSwap, "swap", swap)
    shop.events.clear()
    with pytest.raises(OSError, match="injected"):
        jobs.restore_app(PLAN, "shop", shop, tool_store(), tmp_path, backup_id=good_backup())
    assert shop.events == ["stop shop/worker", "stop shop/redis", "start shop/redis", "start shop/worker"]
    assert state(shop) == before
    assert shop.postgres.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop__%'") == "0"
    assert [p.name for p in shop.volumes_root.glob("*/*") if p.name != "_data"] == []


def test_a_database_swap_that_fails_half_way_is_undone(shop, tmp_path, monkeypatch, backed_up):
    """The live database is already `shop__previous` when renaming the staged copy to `shop` fails (a fault
    injected into that one statement): the undo puts the live database back under its name, and the app
    starts on its own data."""
    write_state(shop, "b")
    before = state(shop)
    real_rename = Database._rename  # noqa: SLF001 - the fault goes into that one statement

    def rename(self, old, new, also_present=None):
        if old == self.staged and new == self.name:
            return "SELECT injected_rename_failure();"
        return real_rename(self, old, new, also_present)

    monkeypatch.setattr(Database, "_rename", rename)
    shop.events.clear()
    with pytest.raises(BackupError, match="injected_rename_failure"):
        jobs.restore_app(PLAN, "shop", shop, tool_store(), tmp_path, backup_id=good_backup())
    monkeypatch.undo()
    assert shop.events[-1] == "start shop/worker"
    assert state(shop) == before
    assert shop.postgres.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop__%'") == "0"


def lose_output(program: str, shop, monkeypatch, keep: float = 0.0) -> None:
    """Docker losing an exec's output (moby/moby#27289): `program` exits 0 and all but the first `keep` of
    what it printed is gone."""
    real_run_in = type(shop).run_in

    def run_in(self, container, argv, *, stdin=None, stdout=None):
        if argv[0] != program:
            return real_run_in(self, container, argv, stdin=stdin, stdout=stdout)
        printed = real_run_in(self, container, argv, stdin=stdin, stdout=stdout)
        if stdout is not None:
            stdout.truncate(int(stdout.tell() * keep))
        return printed[:int(len(printed) * keep)]

    monkeypatch.setattr(type(shop), "run_in", run_in)


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_a_dump_that_came_back_empty_or_cut_short_is_no_backup(shop, tmp_path, monkeypatch, backed_up, keep):
    before = tool_store().backups("shop")
    lose_output("pg_dump", shop, monkeypatch, keep)
    shop.events.clear()
    with pytest.raises(BackupError, match=r"the dump of database shop just taken is not a whole pg_dump archive "
                                          r".*; nothing was stored; run the backup again"):
        jobs.backup_app(PLAN, "shop", shop, tool_store(), tmp_path)
    assert shop.events[-1] == "start shop/worker" and shop.services["shop/worker"].running
    assert tool_store().backups("shop") == before


def test_a_listing_that_came_back_empty_restores_nothing(shop, tmp_path, monkeypatch, backed_up):
    """An empty table of contents would restore an empty database over the app's: refused, nothing stopped."""
    write_state(shop, "b")
    before = state(shop)
    lose_output("pg_restore", shop, monkeypatch)
    shop.events.clear()
    with pytest.raises(BackupError, match=r"pg_restore --list of .*postgres\.dump printed no table of contents "
                                          r"\(its output was lost, not the backup\); run the restore again"):
        jobs.restore_app(PLAN, "shop", shop, tool_store(), tmp_path, backup_id=good_backup())
    assert shop.events == [] and state(shop) == before


def test_a_lost_answer_to_whether_a_database_exists_is_no_answer(shop, tmp_path, monkeypatch, backed_up):
    """A leftover `shop__previous` from an interrupted restore, and psql's answers lost on their way back:
    the restore stops before anything is stopped, instead of reading the lost "1" as "no leftover"."""
    write_state(shop, "b")
    before = state(shop)
    shop.postgres.psql("CREATE DATABASE shop__previous")
    try:
        lose_output("psql", shop, monkeypatch)
        shop.events.clear()
        with pytest.raises(BackupError, match=r"psql's answer to whether database shop__previous exists was lost "
                                              r"on its way here \(it read ''\); run the restore again"):
            jobs.restore_app(PLAN, "shop", shop, tool_store(), tmp_path, backup_id=good_backup())
        assert shop.events == []
        monkeypatch.undo()
        assert state(shop) == before
    finally:
        shop.postgres.psql("DROP DATABASE IF EXISTS shop__previous")
