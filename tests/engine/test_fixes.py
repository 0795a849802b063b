"""What a real Docker engine showed berth getting wrong, each proven fixed on the engine.

Two small apps of our own, run through the real program under mocks and applied to the engine
(tests/support/apply.py) with stand-in images (tests/support/standins.py):

- `alpha`: an API whose image runs as uid 1000 and never created its volume's mount point, its database with init
  SQL whose last statement has no `;`, and a Redis `store`;
- `web`: a Next.js-like frontend (binds `$HOSTNAME`) behind the proxy, its database, a Redis `cache`.

Each test fails without its fix: the proxy could not be created (uploads on a read-only root), Redis
ran as root and could not write /data, one ACL user could read another app's keys, a full cache
refused writes, tini could not stop Postgres (crash recovery on every start), the frontend never
became healthy, the API could not write its volume, and one app's bad init SQL kept every later app
from being provisioned.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from offline import mockrun
from offline.mockrun import reveal
from tests.support.apply import (
    Applied,
    ApplyFailed,
    apply,
    deployment_of,
    engine_has_gpu,
)
from tests.support.service_images import ServiceImages
from tests.support.readiness import wait_docker_calls_healthy
from tests.support.stack_probes import in_network_of
from tests.support.container_exec import output_of

pytestmark = pytest.mark.engine

ALPHA = """
name: alpha
hostname: alpha
database: {initSql: alpha-init.sql}
redis: {mode: store}
services:
  api:
    build: {context: ../src/alpha}
    port: 8000
    volumeOwner: "1000:1000"     # the image runs as 1000 and never creates /var/lib/alpha (seeds 001, 003)
    healthcheck: {path: /, probe: wget, intervalS: 1, startPeriodS: 1}
    uses: {postgres: DATABASE_URL, redis: REDIS_URL}
    volumes: {files: /var/lib/alpha}
    tmpfs: [/tmp]
"""
# The last statement has no `;`: it must still end before provisioning goes on.
ALPHA_INIT = "CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text)"

WEB = """
name: web
hostname: web
database: {}
redis: {mode: cache, memoryMb: 64}
services:
  frontend:
    build: {context: ../src/web}
    port: 3000
    healthcheck: {path: /, probe: node, intervalS: 1, startPeriodS: 1}
    uses: {postgres: DATABASE_URL, redis: REDIS_URL}
    tmpfs: [/tmp]
routes:
  /: {service: frontend}
"""

BROKEN = """
name: broken
hostname: broken
database: {initSql: broken-init.sql}
services:
  api:
    build: {context: ../src/broken}
    port: 8000
    healthcheck: {path: /, probe: wget, intervalS: 1, startPeriodS: 1}
    uses: {postgres: DATABASE_URL}
"""
# Init SQL that tries to climb back to the superuser: it ran as the superuser once (`SET ROLE … RESET ROLE`).
BROKEN_INIT = "RESET ROLE;\nCREATE ROLE intruder SUPERUSER LOGIN PASSWORD 'x';\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project_run(root: Path, apps: dict[str, str], files: dict[str, str], port: int) -> mockrun.Run:
    """The real program under mocks for a dev stack of `apps` (name -> app file), in the listed order."""
    project = root / "berth"
    (project / "apps").mkdir(parents=True)
    for name, text in {**{f"{a}.yaml": t for a, t in apps.items()}, **files}.items():
        (project / "apps" / name).write_text(text, encoding="utf-8")
    overlay = {}
    for app in apps:
        (root / "src" / app).mkdir(parents=True)
        (root / "src" / app / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    config = mockrun.StackConfig({
        "berth:environment": "dev",
        "berth:host": json.dumps({"kind": "local"}),
        "berth:proxy": json.dumps({"httpPort": port}),
        "berth:shared": json.dumps({"postgres": {}, "redis": {}}),
        "berth:apps": json.dumps({app: overlay for app in apps}),
    }, frozenset())
    return mockrun.run("dev", config, root_directory=project)


def env_of(run: mockrun.Run, container: str) -> dict[str, str]:
    return dict(e.split("=", 1) for e in reveal(run.containers()[container].inputs)["envs"])


def sh(container, script: str, user: str | None = None) -> tuple[int, str]:
    return output_of(container, ["sh", "-c", script], user=user or "")


def redis_cli(applied: Applied, redis: str, app: str, *args: str) -> tuple[int, str]:
    """redis-cli in `redis`'s container, as `app`'s ACL user with `app`'s password."""
    password = env_of(applied.run, f"{app}-redis")["REDIS_PASSWORD"]
    quoted = " ".join(f"'{a}'" for a in args)
    return sh(applied.container(redis), f"redis-cli --no-auth-warning --user {app} --pass {password} {quoted}")


def psql(applied: Applied, database: str, sql: str) -> str:
    code, out = output_of(applied.container("shared-postgres"), ["psql", "-U", "postgres", "-d", database, "-tA", "-c", sql])
    assert code == 0, out
    return out.strip()


# --- 6. one app's bad init SQL (first: it applies, and removes, a stack of its own) ---------------------

def test_one_apps_bad_init_sql_leaves_the_other_apps_provisioned(engine, standins, tmp_path):
    """`broken` comes first; its SQL (RESET ROLE, then make a superuser) fails, as the app's own role, and
    changes nothing; `alpha` (after it) still gets its role, database and table."""
    run = project_run(tmp_path, {"broken": BROKEN, "alpha": ALPHA},
                      {"broken-init.sql": BROKEN_INIT, "alpha-init.sql": ALPHA_INIT}, free_port())
    client = docker.DockerClient(base_url=engine.url, timeout=300)
    applied = Applied(run, engine, client, ServiceImages(client, standins, deployment_of(run)),
                      gpu=engine_has_gpu(client))
    try:
        with pytest.raises(ApplyFailed, match="broken-postgres-init") as failed:
            applied.apply_all()
        # refused as the app's role (Postgres 15's words; 16 and later say "permission denied to create role")
        assert re.search(r"must be superuser to create superusers|permission denied to create role", str(failed.value))
        # Both provisioning runs start once Postgres is healthy; a failure lets what runs finish.
        assert applied.command_runs("alpha-postgres-provision") and applied.command_runs("alpha-postgres-init")
        assert psql(applied, "alpha", "SELECT tableowner FROM pg_tables WHERE tablename = 'notes'") == "alpha"
        assert psql(applied, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'intruder'") == "0"
    finally:
        applied.destroy()


@pytest.fixture(scope="module")
def stack(engine, standins, tmp_path_factory):
    run = project_run(tmp_path_factory.mktemp("fixes"), {"alpha": ALPHA, "web": WEB},
                      {"alpha-init.sql": ALPHA_INIT}, free_port())
    applied = apply(run, engine, standins)
    yield applied
    applied.destroy()


# --- 1. the proxy -----------------------------------------------------------------------------------

def test_the_proxy_runs_on_a_read_only_root_and_serves_the_app(stack):
    proxy = stack.container("proxy")
    assert proxy.attrs["HostConfig"]["ReadonlyRootfs"] is True
    port = int(reveal(stack.run.containers()["proxy"].inputs)["ports"][0]["external"])
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "web.localhost"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


# --- 2. Redis -------------------------------------------------------------------------------------

def test_a_redis_store_runs_as_redis_and_writes_its_append_only_file(stack):
    wait_docker_calls_healthy(stack.client, {"alpha-redis": stack.containers["alpha-redis"]}, timeout_s=60)
    redis = stack.container("alpha-redis")
    assert redis_cli(stack, "alpha-redis", "alpha", "SET", "kept", "yes") == (0, "OK\n")
    code, out = sh(redis, "id -u redis && stat -c %u /data/appendonlydir && grep -c kept /data/appendonlydir/*.incr.aof"
                          " && grep '^Uid:' /proc/1/status")
    redis_uid, aof_owner, kept, _, server_uid, *_ = out.split()
    assert code == 0 and int(kept) >= 1, out  # (a SET asked again after a lost answer is written twice)
    assert redis_uid == aof_owner == server_uid != "0", f"the server and its AOF must be redis's, not root's: {out}"


def test_one_app_cannot_read_another_apps_keys(stack):
    assert redis_cli(stack, "alpha-redis", "alpha", "SET", "secret-of-alpha", "42") == (0, "OK\n")
    assert redis_cli(stack, "web-redis", "web", "GET", "secret-of-alpha") == (0, "\n")
    _, out = redis_cli(stack, "web-redis", "alpha", "GET", "secret-of-alpha")
    assert "WRONGPASS" in out or "NOAUTH" in out, out


def test_one_apps_database_credentials_open_no_other_apps_database(stack):
    """Both apps' services reach the one shared Postgres; each app's credentials open its own database
    and, with CONNECT revoked from PUBLIC, not the other app's (psql from inside each app's network)."""
    postgres_image = stack.client.api.inspect_container(stack.containers["shared-postgres"])["Image"]
    urls = {"alpha": ("alpha-api", env_of(stack.run, "alpha-api")["DATABASE_URL"]),
            "web": ("web-frontend", env_of(stack.run, "web-frontend")["DATABASE_URL"])}

    def connect(container: str, url: str) -> tuple[int, str]:
        return in_network_of(stack.client, stack.containers[container], postgres_image,
                             ["psql", url, "-tAc", "SELECT current_database()"], entrypoint=[])

    for app, other in (("alpha", "web"), ("web", "alpha")):
        container, url = urls[app]
        assert connect(container, url) == (0, f"{app}\n")
        code, out = connect(container, url.rsplit("/", 1)[0] + f"/{other}")
        assert code != 0 and f'permission denied for database "{other}"' in out, out


def test_a_full_cache_evicts_instead_of_refusing_writes(stack):
    """64 MB, maxmemory 51 MB: 8000 values of 10 kB are 80 MB, and every write is accepted."""
    password = env_of(stack.run, "web-redis")["REDIS_PASSWORD"]
    cli = f"redis-cli --no-auth-warning --user web --pass {password}"
    script = ("V=$(head -c 10000 /dev/zero | tr '\\0' x); i=0; "
              f'while [ $i -lt 8000 ]; do echo "SET key$i $V"; i=$((i+1)); done | {cli} | grep -vc "^OK$"; '
              f"{cli} INFO stats | grep '^evicted_keys:'")
    _, out = sh(stack.container("web-redis"), script)
    fails, evicted = out.split()  # replies other than OK (an OOM error each, were it to refuse), evictions
    assert fails == "0", out
    assert int(evicted.split(":")[1]) > 0, out


def test_redis_stops_cleanly(stack):
    redis = stack.container("web-redis")
    stack.client.api.stop(redis.id)  # the container's own StopTimeout and StopSignal
    logs = stack.client.api.logs(redis.id).decode(errors="replace")
    assert "ready to exit, bye bye" in logs, logs[-2000:]
    assert stack.client.api.inspect_container(redis.id)["State"]["ExitCode"] == 0
    stack.client.api.start(redis.id)


# --- 3. Postgres stops cleanly ----------------------------------------------------------------------

def test_docker_stop_shuts_postgres_down_cleanly_and_it_starts_without_recovery(stack):
    postgres = stack.container("shared-postgres")
    api = stack.client.api
    api.stop(postgres.id)  # the container's own StopTimeout and StopSignal
    stopped = time.time()
    logs = api.logs(postgres.id).decode(errors="replace")
    assert "database system is shut down" in logs, logs[-2000:]
    assert api.inspect_container(postgres.id)["State"]["ExitCode"] == 0
    api.start(postgres.id)
    deadline = time.time() + 60
    while "database system is ready to accept connections" not in \
            api.logs(postgres.id, since=int(stopped)).decode(errors="replace"):
        assert time.time() < deadline, "postgres did not come back"
        time.sleep(1)
    after = api.logs(postgres.id, since=int(stopped)).decode(errors="replace")
    assert "not properly shut down" not in after and "automatic recovery" not in after, after


# --- 4. a Next.js-like frontend ---------------------------------------------------------------------

def test_a_frontend_that_binds_hostname_passes_its_healthcheck(stack):
    wait_docker_calls_healthy(stack.client, {"web-frontend": stack.containers["web-frontend"]}, timeout_s=60)


# --- 5. a non-root service writes its fresh volume --------------------------------------------------

def test_a_service_running_as_a_user_writes_its_fresh_volume(stack):
    api = stack.container("alpha-api")
    code, out = sh(api, "id -u && echo written > /var/lib/alpha/probe && cat /var/lib/alpha/probe")
    assert code == 0 and out.split() == ["1000", "written"], out


# --- 6. init SQL without a last `;` ----------------------------------------------------------------

def test_init_sql_without_a_last_semicolon_is_run_as_the_apps_role(stack):
    assert psql(stack, "alpha", "SELECT tableowner FROM pg_tables WHERE tablename = 'notes'") == "alpha"
