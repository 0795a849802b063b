"""Every stack berth deploys, applied on a real Docker engine: what users see through the
proxy, who can reach what, and what survives a change.

Each stack (dev, the CHM server; every example whose host is not ECS, of the EC2 ones their Docker part)
is run under mocks and applied with the stand-in images (tests/support/engine_stacks.py), one at a time.
`TestEveryStack` checks each as deployed; `TestChangingChm` and `TestHooks` change a stack the way
operators and deploys do. Run alone: `scripts/test -m engine tests/engine/test_stacks.py -k chm-dev`.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from config.app import App
from offline.mockrun import StackConfig, reveal
from config.conventions import POSTGRES_PORT, REDIS_PORT
from tests.engine.operating import OperatingChm
from tests.support.apply import NO_GPU
from tests.support.engine_stacks import ENGINE_STACKS, EXAMPLES, EngineStack
from tests.support.readiness import chain, gate_as_ready, physical_limit, seconds_to_ready, wait_docker_calls_healthy
from tests.support.service_images import HOOK_LOG, SITE_MARKER
from tests.support.stacks import REPO
from tests.support.stack_probes import addresses, in_network_of, reachable
from tests.support.container_exec import output_of

pytestmark = pytest.mark.engine

# test_seed_needs leaves collabry up; tests that change a stack run after the rest of its tests
ORDER = ["collabry", "on-prem-rag-dev", "customer-support", "on-prem-rag", "youtube-talker", "chm-dev"]
assert sorted(ORDER) == sorted(ENGINE_STACKS)
PROBE = "berth-probe"


@pytest.fixture(scope="module", params=ORDER)
def stack_name(request) -> str:
    """Module-scoped, so pytest runs every test of one stack before the next stack is deployed."""
    return request.param


@pytest.fixture
def stack(stack_name, on_engine) -> EngineStack:
    return on_engine(stack_name)


# --- reading a stack ---------------------------------------------------------------------------------------------

def state(stack: EngineStack, name: str) -> dict:
    return stack.client.api.inspect_container(stack.applied.containers[name])["State"]


def wait_healthy(stack: EngineStack, names: list[str], timeout_s: float = 180) -> None:
    """Wait until each container runs and, where it has a healthcheck, Docker calls it healthy."""
    wait_docker_calls_healthy(stack.client, {n: stack.applied.containers[n] for n in names}, timeout_s)


def running_app_containers(stack: EngineStack) -> list[str]:
    return [n for n in stack.app_containers() if n not in stack.applied.not_run]


def env_of(stack: EngineStack, name: str) -> dict[str, str]:
    env = stack.client.api.inspect_container(stack.applied.containers[name])["Config"]["Env"] or []
    return dict(item.split("=", 1) for item in env)


def url_env(stack: EngineStack, app: App, shared: str) -> tuple[str, str]:
    """(container, URL) of the first of the app's services given a `shared` URL, as it was given it."""
    for name in running_app_containers(stack):
        app_name, svc = stack.service_of(name)
        if app_name == app.name and shared in app.services[svc].uses:
            return name, env_of(stack, name)[app.services[svc].uses[shared].env]
    raise AssertionError(f"no running service of {app.name} uses {shared}")


def probe_path(prefix: str, rest: str = PROBE) -> str:
    return prefix + rest if prefix.endswith("/") else prefix


def expected_path(prefix: str, path: str, strip: bool) -> str:
    if not strip:
        return path
    return "/" + path[len(prefix):].lstrip("/")


def psql(stack: EngineStack, from_container: str, url: str, sql: str) -> tuple[int, str]:
    """psql (the Postgres stand-in's) from inside `from_container`'s network, as that service connects."""
    image = stack.pinned_image("shared-postgres")
    return in_network_of(stack.client, stack.applied.containers[from_container], image,
                         ["psql", url, "-v", "ON_ERROR_STOP=1", "-tAc", sql], entrypoint=[])


def redis_cli(stack: EngineStack, from_container: str, redis_container: str, url: str, *command: str) -> tuple[int, str]:
    image = stack.pinned_image(redis_container)
    return in_network_of(stack.client, stack.applied.containers[from_container], image,
                         ["redis-cli", "-u", url, "--no-auth-warning", *command], entrypoint=[])


def with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    credentials, host = rest.split("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}:{password}@{host}"


def plain_postgres(url: str) -> str:
    """A service's Postgres URL as psql takes it (`postgresql+asyncpg://` is SQLAlchemy's)."""
    return "postgresql://" + url.split("://", 1)[1]


# --- each stack as deployed --------------------------------------------------------------------------------------

class TestEveryStack:
    def test_every_container_the_program_declares_runs(self, stack):
        """Each passed its health gate (Docker's own verdict is checked last, after its next probe)."""
        assert not [name for name in stack.applied.containers if not state(stack, name)["Running"]]
        # every container the program declares is on the engine, but GPU ones where there is no GPU
        declared = {r.name for r in stack.applied.run.of_type("docker:index/container:Container")}
        missing = declared - set(stack.applied.containers)
        assert {name: stack.applied.not_run.get(name) for name in missing} == {name: NO_GPU for name in missing}

    def test_gpu_services_run_where_there_is_a_gpu(self, stack):
        gpu = [r.name for r in stack.applied.run.of_type("docker:index/container:Container")
               if reveal(r.inputs).get("gpus") == "all"]
        if not gpu:
            return  # nothing asks for a GPU in this stack
        if not stack.applied.gpu:
            assert set(gpu) <= set(stack.applied.not_run)
            pytest.skip(f"{', '.join(gpu)}: {NO_GPU} (they run on a host with an NVIDIA GPU)")
        for name in gpu:
            assert state(stack, name)["Running"]

    def test_only_the_proxy_publishes_ports(self, stack):
        published = {}
        for name, cid in stack.applied.containers.items():
            bindings = stack.client.api.inspect_container(cid)["HostConfig"]["PortBindings"] or {}
            if bindings:
                published[name] = {port: [(b["HostIp"], b["HostPort"]) for b in binds] for port, binds in bindings.items()}
        assert set(published) == {"proxy"}
        if stack.deployment.environment == "dev":  # dev's proxy answers this machine only
            assert {ip for binds in published["proxy"].values() for ip, _ in binds} == {"127.0.0.1"}
        else:
            assert set(published["proxy"]) == {"80/tcp", "443/tcp"}

    def test_every_route_reaches_its_service(self, stack):
        for app in stack.deployment.apps.values():
            for prefix, route in app.routes.items():
                svc = app.services[route.service]
                if svc.gpu and not stack.applied.gpu:
                    continue  # not run here: test_gpu_services_run_where_there_is_a_gpu says so
                if svc.kind == "static":
                    page = stack.through.request(stack.url(app, prefix))
                    assert page.status == 200 and f"{SITE_MARKER} {app.name}/{route.service}" in page.body.decode()
                    asset = stack.through.request(stack.url(app, probe_path(prefix, "assets/app.js")))
                    assert asset.status == 200 and app.name in asset.body.decode()
                    missing = stack.through.request(stack.url(app, probe_path(prefix, "no/such/page")))
                    if route.spa:  # the app's router decides: the index answers
                        assert missing.status == 200 and SITE_MARKER in missing.body.decode()
                    else:
                        assert missing.status == 404
                    continue
                path = probe_path(prefix)
                response = stack.through.request(stack.url(app, path + "?q=1"))
                assert response.status == 200, f"{app.name} {path}: {response.status} {response.body[:200]!r}"
                seen = response.json()
                assert seen["service"] == f"{app.name}/{route.service}", f"{path} reached {seen['service']}"
                assert seen["path"] == expected_path(prefix, path, route.strip_prefix)
                assert seen["query"] == "q=1"

    def test_websocket_routes_upgrade(self, stack):
        routes = [(app, prefix) for app in stack.deployment.apps.values()
                  for prefix, route in app.routes.items() if route.websocket]
        for app, prefix in routes:
            message = f"hello {secrets.token_hex(4)}"
            assert stack.through.websocket_echo(stack.url(app, probe_path(prefix)), message) == message

    def test_stream_routes_deliver_each_event_as_it_is_sent(self, stack):
        routes = [(app, prefix) for app in stack.deployment.apps.values()
                  for prefix, route in app.routes.items() if route.stream]
        for app, prefix in routes:
            events = stack.through.event_stream(stack.url(app, probe_path(prefix, "__standin/sse")))
            assert len(events) == 3, events
            # sent 0.5 s apart: a buffering proxy would hand all three over at the end
            assert events[-1][0] - events[0][0] > 0.8, events

    def test_a_service_without_a_database_reaches_none(self, stack):
        data = [n for n in stack.applied.containers if n == "shared-postgres" or n.endswith("-redis")]
        targets = ["postgres:5432", "redis:6379"] + [
            f"{ip}:{POSTGRES_PORT if n == 'shared-postgres' else REDIS_PORT}"
            for n in data for ip in addresses(stack.client, stack.applied.containers[n])]
        probed = [n for n in running_app_containers(stack) if not stack.uses_database(n)]
        with ThreadPoolExecutor(8) as pool:  # each waits out its unreachable targets' timeouts
            found = dict(zip(probed, pool.map(
                lambda n: reachable(stack.client, stack.applied.containers[n], targets, stack.python_image), probed),
                              strict=True))
        assert found == {name: set() for name in probed}

    def test_a_service_reaches_only_its_own_apps_databases(self, stack):
        """Each app's Redis is on that app's data network only; the shared Postgres is on every data
        network, but no app service reaches another app's Redis by address."""
        def others_reached(name: str) -> set[str]:
            app, _ = stack.service_of(name)
            others = [n for n in stack.applied.containers if n.endswith("-redis") and n != f"{app}-redis"]
            targets = [f"{ip}:{REDIS_PORT}" for n in others for ip in addresses(stack.client, stack.applied.containers[n])]
            return reachable(stack.client, stack.applied.containers[name], targets, stack.python_image) if targets else set()

        probed = running_app_containers(stack)
        with ThreadPoolExecutor(8) as pool:
            found = dict(zip(probed, pool.map(others_reached, probed), strict=True))
        assert found == {name: set() for name in probed}

    def test_each_apps_postgres_credentials_are_its_own_role_and_nothing_more(self, stack):
        """Its own role, neither superuser nor allowed new databases, and no way in without its password.
        (No stack here has two Postgres apps; test_fixes shows one app's credentials opening none of
        another's databases.)"""
        for app in (a for a in stack.deployment.apps.values() if a.uses_shared("postgres")):
            container, url = url_env(stack, app, "postgres")
            url = plain_postgres(url)
            code, out = psql(stack, container, url, "SELECT current_user, current_database(), rolsuper, rolcreatedb "
                                                    "FROM pg_roles WHERE rolname = current_user")
            role = url.rsplit("/", 1)[1]
            assert (code, out.strip()) == (0, f"{role}|{role}|f|f"), out
            assert psql(stack, container, with_password(url, "wrong" + secrets.token_hex(8)), "SELECT 1")[0] != 0

    def test_each_apps_redis_credentials_work_and_nothing_else_does(self, stack):
        for app in stack.deployment.apps.values():
            if not app.uses_shared("redis"):
                continue
            container, url = url_env(stack, app, "redis")
            redis = f"{app.name}-redis"
            key = f"berth-probe-{secrets.token_hex(4)}"
            assert redis_cli(stack, container, redis, url, "SET", key, "1") == (0, "OK\n")
            assert redis_cli(stack, container, redis, url, "DEL", key) == (0, "1\n")
            assert "WRONGPASS" in redis_cli(stack, container, redis, with_password(url, "wrong" + key), "PING")[1]
            _, out = redis_cli(stack, container, redis, "redis://redis:6379/0", "GET", key)  # no user at all
            assert "NOAUTH" in out, out
            for admin in (["CONFIG", "SET", "appendonly", "no"], ["ACL", "LIST"], ["SHUTDOWN"]):
                _, out = redis_cli(stack, container, redis, url, *admin)  # its own data, not the server's settings
                assert "NOPERM" in out, (admin, out)

    def test_a_refreshed_preview_shows_no_changes(self, stack):
        """`pulumi preview --refresh` of the stack as deployed: the provider's Read stores what berth wrote
        (durations as Go prints them, cpus as it formats them, memory swap set), so nothing would change."""
        assert stack.refreshed_preview_changes() == {}

    def test_benchmark_deploy_time_and_critical_path(self, stack, benchmark, capsys):
        """Seconds from the first create to the last container healthy, the chain of dependent steps that
        bounds it, and beside them the physical limit: the longest chain with each container healthy the
        moment its own process is ready (tests/support/readiness.py). Printed in the tier's report
        (`scripts/test -m engine -k benchmark`)."""
        applied = stack.applied
        total, path = benchmark.pedantic(lambda: applied.critical_path(), rounds=1, iterations=1)
        ready = {name: seconds_to_ready(stack.client, cid) for name, cid in applied.containers.items()}
        limit, limit_path = physical_limit(applied, ready)
        benchmark.extra_info.update(stack=stack.name, seconds_to_healthy=round(applied.seconds_to_healthy, 1),
                                    physical_limit=round(limit, 1),
                                    critical_path=chain(path))
        with capsys.disabled():
            print(f"\n{stack.name}: {applied.seconds_to_healthy:.1f}s to healthy, physical limit {limit:.1f}s "
                  f"({applied.seconds_to_healthy / limit:.1f}x)\n  critical path {total:.1f}s: {chain(path)}"
                  f"\n  the limit's: {chain(limit_path, gate_as_ready(ready))}")
        assert path and total <= applied.seconds_to_healthy + 1 and limit > 0

    def test_docker_calls_every_container_healthy_by_its_next_probe(self, stack):
        """The gates passed on each container's own check; Docker's verdict agrees at its next scheduled
        probe (one `interval` after the start: 15 s for the shared services)."""
        wait_docker_calls_healthy(stack.client, dict(stack.applied.containers), timeout_s=60)


# --- changing a stack ----------------------------------------------------------------------------------------------

def reach(stack: EngineStack, app: str, path: str = "/") -> int:
    try:
        return stack.through.request(stack.url(stack.deployment.apps[app], path), timeout=10).status
    except OSError:
        return 0


def mediahub_sql(stack: EngineStack, sql: str) -> str:
    """SQL in mediahub's database as mediahub's backend connects to it; its output."""
    container, url = url_env(stack, stack.deployment.apps["mediahub"], "postgres")
    code, out = psql(stack, container, url, sql)
    assert code == 0, out
    return out.strip()


def mediahub_redis(stack: EngineStack, *command: str) -> str:
    """A command to mediahub's Redis (a store) as mediahub's backend connects to it; its answer."""
    container, url = url_env(stack, stack.deployment.apps["mediahub"], "redis")
    code, out = redis_cli(stack, container, "mediahub-redis", url, *command)
    assert code == 0, out
    return out.strip()


@pytest.mark.parametrize("stack_name", ["chm-dev"], indirect=True)
class TestOperatingChm(OperatingChm):
    """scripts/status and scripts/logs on the CHM server as deployed (tests/engine/operating.py); each
    test leaves it as it was, for TestChangingChm."""


@pytest.mark.parametrize("stack_name", ["chm-dev"], indirect=True)
class TestChangingChm:
    """The CHM server (dev) changed as operators and deploys change it. In order: each leaves the stack
    serving for the next; the last stops it."""

    def test_a_container_killed_from_outside_comes_back(self, stack):
        (backend,) = stack.containers_of("chatbot", "backend")
        before = stack.client.api.inspect_container(stack.applied.containers[backend])
        os.kill(before["State"]["Pid"], signal.SIGKILL)  # a crash or the OOM killer, not `docker stop`
        deadline = time.monotonic() + 30
        while stack.client.api.inspect_container(stack.applied.containers[backend])["RestartCount"] == before["RestartCount"]:
            assert time.monotonic() < deadline, "the killed container was not restarted"
            time.sleep(0.5)
        wait_healthy(stack, [backend])
        assert reach(stack, "chatbot", "/api/" + PROBE) == 200

    def test_replacing_a_stateless_service_loses_no_request(self, stack):
        (frontend,) = stack.containers_of("chatbot", "frontend")
        old = stack.applied.containers[frontend]
        statuses, done = [], threading.Event()

        def keep_asking():
            while not done.is_set():
                statuses.append(reach(stack, "chatbot", "/"))
                time.sleep(0.05)

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            stack.applied.replace(frontend)  # create-first: the new one healthy before the old goes
            time.sleep(2)
        finally:
            done.set()
            asker.join()
        assert stack.applied.containers[frontend] != old
        assert len(statuses) > 20 and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}

    def test_data_survives_replacing_its_container(self, stack):
        token = secrets.token_hex(8)
        mediahub_sql(stack, f"CREATE TABLE kept_{token} (v text); INSERT INTO kept_{token} VALUES ('{token}')")
        mediahub_redis(stack, "SET", "kept", token)
        (backend,) = stack.containers_of("chatbot", "backend")
        stack.standin_data(backend, token)

        stack.applied.replace("shared-postgres", "mediahub-redis", backend)  # one `up --replace` of the three
        wait_healthy(stack, list(stack.applied.containers))

        assert mediahub_sql(stack, f"SELECT v FROM kept_{token}") == token
        assert mediahub_redis(stack, "GET", "kept") == token
        assert stack.standin_data(backend) == token

    def test_one_app_down_leaves_the_others_serving(self, stack):
        mediahub = [n for n in stack.app_containers() if stack.service_of(n)[0] == "mediahub"]
        for name in mediahub:
            stack.applied.container(name).stop(timeout=10)
        try:
            assert reach(stack, "mediahub", "/") >= 500  # the proxy answers for the app that is down
            assert reach(stack, "chatbot", "/") == 200
            assert reach(stack, "chatbot", "/api/" + PROBE) == 200
        finally:
            for name in mediahub:
                stack.applied.container(name).start()
        wait_healthy(stack, mediahub)
        assert reach(stack, "mediahub", "/") == 200

    def test_data_survives_restarting_the_engine(self, stack):
        token = secrets.token_hex(8)
        mediahub_sql(stack, f"CREATE TABLE boot_{token} (v text); INSERT INTO boot_{token} VALUES ('{token}')")
        (backend,) = stack.containers_of("chatbot", "backend")
        stack.standin_data(backend, token)

        stack.applied.restart_engine()  # a host reboot: every container comes back by its restart policy
        wait_healthy(stack, list(stack.applied.containers))

        assert mediahub_sql(stack, f"SELECT v FROM boot_{token}") == token
        assert stack.standin_data(backend) == token
        assert reach(stack, "chatbot", "/") == 200 and reach(stack, "mediahub", "/api/" + PROBE) == 200

    def test_a_backup_brings_back_each_apps_data_as_it_was(self, stack, engine):
        """scripts/backup and scripts/restore on the deployed stack: mediahub's database and
        Redis store and chatbot's volumes are backed up, changed, and restored to what was backed up,
        with the apps serving again afterwards."""
        plan = stack.program_dir / "berth" / ".berth-data" / "backup-plan.json"  # written by the deploy
        env = {**engine.env, "BERTH_BACKUP_PLAN": str(plan)}
        (backend,) = stack.containers_of("chatbot", "backend")
        before = secrets.token_hex(8)
        mediahub_sql(stack, f"CREATE TABLE saved (v text); INSERT INTO saved VALUES ('{before}')")
        mediahub_redis(stack, "SET", "saved", before)
        stack.standin_data(backend, before)

        def run(*argv: str) -> str:
            done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
            return done.stdout

        run("scripts/backup", "mediahub", "chatbot")
        after = secrets.token_hex(8)
        mediahub_sql(stack, f"UPDATE saved SET v = '{after}'; CREATE TABLE later (v text)")
        mediahub_redis(stack, "SET", "saved", after)
        stack.standin_data(backend, after)

        for app in ("mediahub", "chatbot"):
            (backup_id,) = run("scripts/restore", app, "--list").split()
            run("scripts/restore", app, "--from", backup_id)
        wait_healthy(stack, list(stack.applied.containers))

        assert mediahub_sql(stack, "SELECT v FROM saved") == before
        assert mediahub_sql(stack, "SELECT to_regclass('later') IS NULL") == "t"  # made after the backup: gone
        assert mediahub_redis(stack, "GET", "saved") == before
        assert stack.standin_data(backend) == before
        assert reach(stack, "mediahub", "/api/" + PROBE) == 200 and reach(stack, "chatbot", "/") == 200

    def test_docker_stop_ends_postgres_and_redis_cleanly(self, stack, on_engine):
        try:
            for name, last_words in (("shared-postgres", "database system is shut down"),
                                     ("mediahub-redis", "ready to exit")):
                container = stack.applied.container(name)
                container.stop()  # the container's own stop signal and timeout
                container.reload()
                assert container.attrs["State"]["ExitCode"] == 0, container.logs(tail=20).decode()
                assert last_words in container.logs(tail=20).decode()
        finally:
            on_engine.discard()  # stopped on purpose: the next test deploys afresh


@pytest.mark.parametrize("stack_name", ["youtube-talker"], indirect=True)
class TestHooks:
    """youtube-talker's `alembic upgrade head` after each new backend image, and only then."""

    def hook_runs(self, stack: EngineStack) -> list[str]:
        (backend,) = stack.containers_of("youtube-talker", "backend")
        code, out = output_of(stack.applied.container(backend), ["cat", HOOK_LOG])
        return out.splitlines() if code == 0 else []

    def test_after_deploy_hooks_run_again_exactly_when_the_image_changes(self, stack, on_engine):
        try:
            assert self.hook_runs(stack) == ["alembic upgrade head"]
            apps = StackConfig.from_file(EXAMPLES / ENGINE_STACKS["youtube-talker"][1]).object("berth:apps")
            backend = apps["youtube-talker"]["services"]["backend"]
            # a new env value: the container is replaced, the image is not: no migration
            backend["env"] = {"LOG_LEVEL": "debug"}
            changed = stack.applied.update(stack.rerun({"berth:apps": apps}))
            assert any("backend" in c for c in changed) and not any("after-deploy" in c for c in changed), changed
            wait_healthy(stack, list(stack.applied.containers))
            assert self.hook_runs(stack) == []  # a new container: its /tmp log starts empty, no hook ran in it
            # a new version: a new image, a new container, and the migration runs in it
            backend["version"] = "9e1d2c3"
            changed = stack.applied.update(stack.rerun({"berth:apps": apps}))
            assert any("after-deploy" in c for c in changed), changed
            assert self.hook_runs(stack) == ["alembic upgrade head"]
        finally:
            on_engine.discard()  # changed on purpose: the next test deploys afresh
