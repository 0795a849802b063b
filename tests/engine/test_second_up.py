"""The second `pulumi up`, on a real engine: every change reaches the running containers, a retry never
accepts an unhealthy service, exactly one version serves after a successful up, a refreshed preview of an
unchanged stack shows nothing, and destroy leaves what it should.

The CHM server's staging file as a PR stack (`pr-21`) is applied once and changed in batches, each by a
second `up` of the program run again over the state the last one left (tests/support/apply.py applies
it as Pulumi and the pinned provider do): the preview's step is checked, the change applied, and the
running containers inspected. Then failures and retries, the two-version window, and a destroy that
leaves nothing. A prod example shows what prod keeps surviving a destroy and adopted by the next up.
Run alone: `scripts/test -m engine tests/engine/test_second_up.py`.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
import yaml

from config.errors import ConfigError
from rules.postgres import database_name
from offline.mockrun import reveal
from tests.support.alias_watch import AliasWatch, two_answered
from tests.support.apply import ApplyFailed
from tests.support.docker_inputs import CONTAINER, NETWORK, VOLUME
from tests.support.engine_stacks import CHANGED_STACKS, EngineStack
from tests.support.readiness import chain, gate_as_ready, physical_limit, seconds_to_ready
from tests.support.service_images import HOOK_FAILS, HOOK_LOG
from tests.support.stacks import stack_config
from tests.support.container_exec import output_of

pytestmark = pytest.mark.engine

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def pr(on_engine) -> EngineStack:
    return on_engine("chm-pr")


# --- changing the stack ------------------------------------------------------------------------------

def edit_app(stack: EngineStack, app: str, change) -> None:
    """Change the app file the stack's program reads (`change(app_dict)`)."""
    path = stack.program_dir / "berth" / "apps" / f"{app}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def service(data: dict, name: str) -> dict:
    return data["services"][name]


class Overlays:
    """The stack file's `berth:apps` and shared settings as this module has changed them so far."""

    def __init__(self, stack: EngineStack):
        stack_name, stack_file = CHANGED_STACKS[stack.name]
        config = stack_config(stack_name, stack_file=stack_file)
        self.apps, self.shared = config.object("berth:apps"), config.object("berth:shared")

    def of(self, app: str, svc: str) -> dict:
        """The stack file's overlay of one service (created empty)."""
        return self.apps[app]["services"].setdefault(svc, {})

    def plain(self) -> dict:
        return {"berth:apps": self.apps, "berth:shared": self.shared}


@pytest.fixture(scope="module")
def overlays(pr) -> Overlays:
    return Overlays(pr)


def preview_and_up(stack: EngineStack, overlays: Overlays) -> dict[str, str]:
    """Run the program again, preview (refreshed) and apply it; the step of each changed container
    (what the preview said, and the up did)."""
    run = stack.rerun(overlays.plain())
    previewed = stack.applied.preview(run, refresh=True)
    applied = stack.applied.up(run)
    changed = {n for n, d in applied.items() if d.kind != "same" and n not in stack.applied.not_run}
    assert {n: previewed[n].kind for n in changed} == {n: applied[n].kind for n in changed}, \
        {n: (previewed[n].text(), applied[n].text()) for n in changed}
    return {n: applied[n].text() for n in changed if n in stack.applied.containers}


def inspect(stack: EngineStack, name: str) -> dict:
    return stack.client.api.inspect_container(stack.applied.containers[name])


def env(stack: EngineStack, name: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in inspect(stack, name)["Config"]["Env"] or [])


def answer(stack: EngineStack, app: str, path: str, timeout_s: float = 30):
    """The response through the proxy, once it answers 200 (a replaced proxy loads its certificates from
    its volume just after it starts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = stack.through.request(stack.url(stack.deployment.apps[app], path))
            if response.status == 200 or time.monotonic() > deadline:
                return response
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def assert_refreshed_preview_is_unchanged(stack: EngineStack) -> None:
    assert stack.refreshed_preview_changes() == {}


RESOLVE = ("import json, socket, sys\n"
           "print(json.dumps({a: sorted({i[4][0] for i in socket.getaddrinfo(a, 80, socket.AF_INET)}) "
           "for a in sys.argv[1:]}))")


def assert_one_version_per_service(stack: EngineStack) -> None:
    """Exactly the containers the state holds carry each service's label, and each alias on each network
    resolves to exactly their addresses there: no old version left answering."""
    expected: dict[str, dict[str, set[str]]] = {}  # network -> alias -> addresses
    for name in stack.app_containers():
        app, svc = stack.service_of(name)
        running = {c.id for c in stack.client.containers.list(all=True, filters={"label": f"berth.service={app}/{svc}"})}
        assert running == {stack.applied.containers[n] for n in stack.containers_of(app, svc)}, f"{app}/{svc}"
        networks = inspect(stack, name)["NetworkSettings"]["Networks"]
        for joined in reveal(stack.applied.run.get(CONTAINER, name).inputs).get("networksAdvanced") or []:
            for alias in joined.get("aliases") or []:
                expected.setdefault(joined["name"], {}).setdefault(alias, set()).add(networks[joined["name"]]["IPAddress"])
    for network, aliases in expected.items():
        out = stack.client.containers.run(stack.python_image, ["python3", "-c", RESOLVE, *aliases], entrypoint=[],
                                          network=network, user="0:0", remove=True)
        assert {a: set(ips) for a, ips in json.loads(out).items()} == aliases, network


# --- every setting that reaches a container ------------------------------------------------------------

class TestEveryChangeReachesTheContainer:
    """In order: each batch is one `up` over what the last left."""

    def test_memory_raised_4x_is_updated_in_place_without_a_restart(self, pr, overlays):
        before = {n: inspect(pr, n) for n in ("shared-postgres", "chatbot-frontend")}
        overlays.shared["postgres"] = {**(overlays.shared.get("postgres") or {}), "memoryMb": 4096}
        overlays.of("chatbot", "frontend")["memoryMb"] = 2048
        assert preview_and_up(pr, overlays) == {"shared-postgres": "update (memory, memorySwap)",
                                                "chatbot-frontend": "update (memory, memorySwap)"}
        for name, memory in (("shared-postgres", 4096), ("chatbot-frontend", 2048)):
            now = inspect(pr, name)
            assert now["Id"] == before[name]["Id"] and now["State"]["StartedAt"] == before[name]["State"]["StartedAt"]
            assert (now["HostConfig"]["Memory"], now["HostConfig"]["MemorySwap"]) == (memory * MIB, memory * MIB)
        assert_refreshed_preview_is_unchanged(pr)

    def test_image_env_secrets_command_user_cpus_healthcheck_tmpfs_volumes_capabilities_hooks(self, pr, overlays):
        image_before = inspect(pr, "chatbot-backend")["Image"]
        overlays.of("chatbot", "backend")["version"] = "7a11c0d"  # a new image
        overlays.of("mediahub", "backend")["cpus"] = 1.5

        def chatbot(app):  # the new version brings a hook (the engine tier's stand-in image has it from then on)
            service(app, "backend")["secretEnv"]["EXTRA_API_KEY"] = "chatbotExtraApiKey"
            service(app, "backend")["afterDeploy"] = [{"command": ["warm-cache", "--all"]}]

        def mediahub(app):
            backend, frontend = service(app, "backend"), service(app, "frontend")
            backend["env"]["FEATURE_FLAG"] = "on"
            backend["command"] = ["uvicorn", "app.main:app", "--workers", "2"]
            backend["tmpfs"] = ["/tmp", "/var/cache/app"]
            backend["capAdd"] = ["CHOWN"]
            backend["volumes"] = {"uploads": "/data/uploads"}
            backend["healthcheck"] = {**backend["healthcheck"], "retries": 4, "startPeriodS": 90}
            frontend["user"] = "1000:1000"

        edit_app(pr, "chatbot", chatbot)
        edit_app(pr, "mediahub", mediahub)
        steps = preview_and_up(pr, overlays)
        for name in ("chatbot-backend", "mediahub-backend", "mediahub-frontend"):
            assert steps[name].startswith("replace"), steps
        assert inspect(pr, "chatbot-backend")["Image"] != image_before and "EXTRA_API_KEY" in env(pr, "chatbot-backend")
        backend = inspect(pr, "mediahub-backend")
        assert env(pr, "mediahub-backend")["FEATURE_FLAG"] == "on"
        assert backend["Config"]["Cmd"] == ["uvicorn", "app.main:app", "--workers", "2"]
        assert set(backend["HostConfig"]["Tmpfs"]) == {"/tmp", "/var/cache/app"}
        assert backend["HostConfig"]["CapAdd"] == ["CHOWN"] and backend["HostConfig"]["NanoCpus"] == 1_500_000_000
        assert "/data/uploads" in {m["Destination"] for m in backend["Mounts"]}
        assert backend["Config"]["Healthcheck"]["Retries"] == 4 and backend["Config"]["Healthcheck"]["StartPeriod"] == 90e9
        assert inspect(pr, "mediahub-frontend")["Config"]["User"] == "1000:1000"
        code, log = output_of(pr.applied.container("chatbot-backend"), ["cat", HOOK_LOG])
        assert (code, log.split()) == (0, ["warm-cache", "--all"])
        assert_one_version_per_service(pr)
        assert_refreshed_preview_is_unchanged(pr)

    def test_routes_replicas_and_networks(self, pr, overlays):
        overlays.of("chatbot", "frontend").update(replicas=2, memoryMb=1024)  # two fit where one of 2048 did
        edit_app(pr, "mediahub", lambda app: app["routes"].update({"/status/": {"service": "backend", "stripPrefix": True}}))
        edit_app(pr, "chatbot", lambda app: app.update(network={"subnet": "10.210.250.0/24"}))
        steps = preview_and_up(pr, overlays)
        assert steps["proxy"].startswith("replace") and steps["chatbot-backend"].startswith("replace"), steps
        assert steps["chatbot-frontend-1"] == steps["chatbot-frontend-2"] == "create", steps  # new replicas
        reached = answer(pr, "mediahub", "/status/probe").json()
        assert (reached["service"], reached["path"]) == ("mediahub/backend", "/probe")
        assert pr.containers_of("chatbot", "frontend") == ["chatbot-frontend-1", "chatbot-frontend-2"]
        for name in ("chatbot-backend", "chatbot-frontend-1"):
            address = inspect(pr, name)["NetworkSettings"]["Networks"]["berth-chatbot"]["IPAddress"]
            assert address.startswith("10.210.250."), name
        assert answer(pr, "chatbot", "/").status == 200
        assert_one_version_per_service(pr)
        assert_refreshed_preview_is_unchanged(pr)

    def test_a_command_or_env_left_out_reaches_the_container_too(self, pr, overlays):
        """The provider keeps a `command` the program stops giving (Optional+Computed); the replacement
        trigger replaces the container. A removed env var is a changed env set (ForceNew)."""
        def mediahub(app):
            del service(app, "backend")["command"]
            del service(app, "backend")["env"]["FEATURE_FLAG"]

        edit_app(pr, "mediahub", mediahub)
        assert preview_and_up(pr, overlays)["mediahub-backend"].startswith("replace")
        backend = inspect(pr, "mediahub-backend")
        image_cmd = pr.client.api.inspect_image(backend["Image"])["Config"]["Cmd"]
        assert backend["Config"]["Cmd"] == image_cmd and "FEATURE_FLAG" not in env(pr, "mediahub-backend")
        assert_refreshed_preview_is_unchanged(pr)


    def test_a_writable_root_is_refused_before_anything_is_applied(self, pr, overlays):
        edit_app(pr, "chatbot", lambda app: service(app, "frontend").update(readOnly=False))
        try:
            with pytest.raises(ConfigError) as refused:
                pr.rerun(overlays.plain())
            assert "apps/chatbot.yaml: services.frontend.readOnly: a writable root file system is refused" in \
                str(refused.value) and "leave readOnly out" in str(refused.value)
        finally:
            edit_app(pr, "chatbot", lambda app: service(app, "frontend").pop("readOnly"))
        assert inspect(pr, "chatbot-frontend-1")["HostConfig"]["ReadonlyRootfs"] is True

    def test_uses_host_dirs_shared_volumes_health_paths_headers_and_redis_memory(self, pr, overlays):
        """The rest of what reaches a container, in one `up`: a database and its URL (`database`, `uses`),
        a host dir, a shared volume, the healthcheck's path and timings, response headers (the proxy's),
        fewer replicas, and an app's Redis raised 4x."""
        def chatbot(app):
            app["database"] = {}
            service(app, "backend")["uses"] = {"postgres": "DATABASE_URL"}
            app["headers"] = {**app.get("headers", {}), "frameOptions": "SAMEORIGIN"}

        def mediahub(app):
            backend, frontend = service(app, "backend"), service(app, "frontend")
            backend["healthcheck"] = {"path": "/health", "probe": "python", "intervalS": 2, "timeoutS": 3}
            backend["hostDirs"]["exports"] = {"target": "/exports", "readOnly": True}
            frontend["sharedVolumes"] = {"assets": "/srv/assets"}
            app["redis"] = {**app["redis"], "memoryMb": 1024}

        overlays.of("chatbot", "frontend")["replicas"] = 1
        edit_app(pr, "chatbot", chatbot)
        edit_app(pr, "mediahub", mediahub)
        steps = preview_and_up(pr, overlays)
        for name in ("chatbot-backend", "chatbot-frontend", "mediahub-backend", "mediahub-frontend", "proxy"):
            assert steps[name].startswith(("replace", "create")), steps
        assert env(pr, "chatbot-backend")["DATABASE_URL"].startswith("postgresql://")
        check = inspect(pr, "mediahub-backend")["Config"]["Healthcheck"]
        assert "http://127.0.0.1:8000/health" in check["Test"] and (check["Interval"], check["Timeout"]) == (2e9, 3e9)
        mounts = {m["Destination"]: m for m in inspect(pr, "mediahub-backend")["Mounts"]}
        assert mounts["/exports"]["RW"] is False
        assert "/srv/assets" in {m["Destination"] for m in inspect(pr, "mediahub-frontend")["Mounts"]}
        assert inspect(pr, "mediahub-redis")["HostConfig"]["Memory"] == 1024 * MIB
        assert answer(pr, "chatbot", "/").headers["x-frame-options"] == "SAMEORIGIN"
        assert_one_version_per_service(pr)
        assert_refreshed_preview_is_unchanged(pr)

    def test_singleton_volume_owner_redis_mode_body_limit_and_extensions(self, pr, overlays):
        """A service that becomes a singleton (replaced delete-first from then on), a volume owner, an
        app's Redis from store to cache, a body limit (the proxy's) and a database extension."""
        def chatbot(app):
            service(app, "frontend")["singleton"] = True

        def mediahub(app):
            service(app, "backend")["volumeOwner"] = "1000:1000"
            app["redis"] = {**app["redis"], "mode": "cache"}
            app["maxBodyMb"] = 1
            app["database"] = {**(app.get("database") or {}), "extensions": ["pg_trgm"]}

        edit_app(pr, "chatbot", chatbot)
        edit_app(pr, "mediahub", mediahub)
        steps = preview_and_up(pr, overlays)
        assert steps["chatbot-frontend"].startswith("replace (delete-first"), steps
        for name in ("mediahub-redis", "proxy"):  # the owner is a command of its own: the backend stays
            assert steps[name].startswith("replace"), steps
        code, owner = output_of(pr.applied.container("mediahub-backend"), ["stat", "-c", "%u:%g", "/data/uploads"])
        assert (code, owner.strip()) == (0, "1000:1000")
        assert "allkeys-lru" in " ".join(inspect(pr, "mediahub-redis")["Config"]["Cmd"] or [])
        big = pr.through.request(pr.url(pr.deployment.apps["mediahub"], "/api/upload"), "POST", b"x" * (2 * MIB))
        assert big.status == 413
        code, out = output_of(
            pr.applied.container("shared-postgres"), ["psql", "-U", "postgres", "-d", database_name("mediahub"), "-tAc", "select extname from pg_extension"])
        assert code == 0 and "pg_trgm" in out.split()
        assert_one_version_per_service(pr)
        assert_refreshed_preview_is_unchanged(pr)

# --- the two-version window ----------------------------------------------------------------------------------

def test_benchmark_a_one_service_change(pr, overlays, benchmark, capsys):
    """A new version of one stateless service (the mediahub frontend, checked every 15 s as its app file
    says, not every second as the tier's copies are): seconds from `up` to the new version answering its
    alias, to it answering alone, and the window in which two versions answered it. The gate runs the
    check itself twice a second, so the window does not wait for Docker's first probe, 15 s after start.
    Beside them, the change's chain of dependent steps and its physical limit: the same chain with the
    gate lasting only as long as a fresh copy of the new container takes to pass its check
    (tests/support/readiness.py). Printed, not asserted: a timed assertion fails on a busy machine."""
    overlays.of("mediahub", "frontend")["version"] = "b3nch42"
    edit_app(pr, "mediahub", lambda app: service(app, "frontend")["healthcheck"].update(intervalS=15))
    run = pr.rerun(overlays.plain())
    old = pr.applied.containers["mediahub-frontend"]
    watch = AliasWatch(pr.client, "berth-mediahub", "frontend", 3000, pr.python_image)
    started = time.time()
    try:
        benchmark.pedantic(lambda: pr.applied.up(run), rounds=1, iterations=1)
        finished = time.time()
    finally:
        samples = watch.stop()
    new = pr.applied.containers["mediahub-frontend"]
    new_ip = inspect(pr, "mediahub-frontend")["NetworkSettings"]["Networks"]["berth-mediahub"]["IPAddress"]
    serving = next(s.at for s in samples if new_ip in s.answered) - started
    alone = next(s.at for s in samples if s.answered == [new_ip]) - started
    window = two_answered(samples)
    changed, path = pr.applied.critical_path()
    limit, limit_path = physical_limit(pr.applied, ready := {"mediahub-frontend": seconds_to_ready(pr.client, new)})
    benchmark.extra_info.update(new_version_serving_s=round(serving, 2), new_version_alone_s=round(alone, 2),
                                two_versions_s=round(window, 2), up_s=round(finished - started, 2),
                                critical_path_s=round(changed, 2), physical_limit_s=round(limit, 2))
    with capsys.disabled():  # in the tier's report, beside each stack's first deploy
        print(f"\none-service change: the new version answered {serving:.1f}s after up began, alone from "
              f"{alone:.1f}s; two versions answered for {window:.2f}s; up took {finished - started:.1f}s\n"
              f"  critical path {changed:.1f}s, physical limit {limit:.1f}s ({changed / limit:.1f}x): {chain(path)}\n"
              f"  the limit's: {chain(limit_path, gate_as_ready(ready))}")
    assert "mediahub-frontend-healthy" in {step.name for step in path}, "the change's chain is its new version's"
    assert new != old and samples[-1].answered == [new_ip]
    assert window < 5  # well before Docker's first probe (15 s): the gate's own check retired the old one


def test_the_up_moves_on_when_the_service_passes_its_own_check_not_at_dockers_first_probe(pr, overlays):
    """A new version whose app file asks Docker to probe it once an hour deploys at once and serves: the
    gate ran the check itself. Docker has not probed it yet."""
    overlays.of("mediahub", "frontend")["version"] = "h0urly1"
    edit_app(pr, "mediahub", lambda app: service(app, "frontend")["healthcheck"].update(intervalS=3600))
    pr.applied.up(pr.rerun(overlays.plain()))
    frontend = inspect(pr, "mediahub-frontend")
    assert frontend["Config"]["Healthcheck"]["Interval"] == 3600e9
    assert frontend["State"]["Running"] and frontend["State"]["Health"]["Status"] == "starting"
    assert answer(pr, "mediahub", "/").status == 200
    assert_one_version_per_service(pr)


# --- failures and retries ------------------------------------------------------------------------------------

class TestRetries:
    def test_a_retry_after_a_failed_health_gate_fails_again_until_the_service_is_healthy(self, pr, overlays):
        old = pr.applied.containers["mediahub-frontend"]
        edit_app(pr, "mediahub", lambda app: service(app, "frontend").update(
            healthcheck={"command": ["sh", "-c", "test -e /tmp/ready"], "intervalS": 1, "retries": 2, "startPeriodS": 0}))
        run = pr.rerun(overlays.plain())
        for _ in range(2):  # the first up, then a retry of the same program
            with pytest.raises(ApplyFailed) as failed:
                pr.applied.up(run)
            assert "mediahub-frontend did not become healthy: running, health unhealthy" in str(failed.value)
            assert "health check exit 1" in str(failed.value)
        new = pr.applied.containers["mediahub-frontend"]
        assert new != old and {pr.client.containers.get(c).status for c in (old, new)} == {"running"}
        assert answer(pr, "mediahub", "/").status == 200  # the old one serves
        pr.client.containers.get(new).exec_run(["sh", "-c", ": > /tmp/ready"], user="0:0")  # what it waited for
        pr.applied.up(run)
        assert pr.applied.containers["mediahub-frontend"] == new
        assert_one_version_per_service(pr)  # the old one is gone: the up converged
        assert_refreshed_preview_is_unchanged(pr)

    def test_a_retry_after_a_failed_after_deploy_hook_runs_it_again_until_it_succeeds(self, pr, overlays):
        """A migration that fails until what it needs is there (the stand-in hook fails while a marker is on
        the service's volume): every retry runs it again, and the first after the marker is gone succeeds."""
        backend = pr.applied.container("mediahub-backend")
        owner = output_of(backend, ["stat", "-c", "%u:%g", "/data/uploads"])[1].strip()  # (no DAC_OVERRIDE)
        marked = backend.exec_run(["sh", "-c", f": > /data/uploads/{HOOK_FAILS}"], user=owner)
        assert marked.exit_code == 0, marked.output
        edit_app(pr, "mediahub", lambda app: service(app, "backend").update(afterDeploy=[{"command": ["migrate"]}]))
        overlays.of("mediahub", "backend")["version"] = "m1gr8t3"  # the version that brings the migration
        run = pr.rerun(overlays.plain())
        for _ in range(2):  # the up that adds the hook, then a retry of the same program
            with pytest.raises(ApplyFailed, match="stand-in migrate : failed"):
                pr.applied.up(run)
        assert pr.applied.container("mediahub-backend").exec_run(["rm", f"/data/uploads/{HOOK_FAILS}"], user=owner).exit_code == 0
        pr.applied.up(run)
        assert [r.exit_code for r in pr.applied.command_runs("mediahub-backend-after-deploy-1")] == [3, 3, 0]
        assert_refreshed_preview_is_unchanged(pr)


# --- destroy ------------------------------------------------------------------------------------------------

def test_destroying_a_pr_stack_leaves_nothing_berth_made(pr, on_engine):
    made: dict[str, set[str]] = {}
    for e in [*pr.applied.state.values(), *pr.applied.pending]:
        made.setdefault(e.type, set()).add(e.id)
    try:
        assert pr.applied.pulumi_destroy() == []
        assert not pr.applied.state and not pr.applied.pending
        containers = {c.id for c in pr.client.containers.list(all=True)}
        networks = {n.id for n in pr.client.networks.list()}
        volumes = {v.name for v in pr.client.volumes.list()}
        assert not made.get(CONTAINER, set()) & containers
        assert not made.get(NETWORK, set()) & networks and not made.get(VOLUME, set()) & volumes
        assert not [c for c in pr.client.containers.list(all=True) if "berth.service" in (c.labels or {})]
    finally:
        on_engine.discard()


def kept_by_destroy(applied) -> set[str]:
    """What `pulumi destroy` leaves in state: the protected resources and what they depend on."""
    kept = {e.urn for e in applied.state.values() if e.protect}
    while True:
        more = kept | ({d for e in applied.state.values() if e.urn in kept for d in e.dependencies} & applied.state.keys())
        if more == kept:
            return kept
        kept = more


def test_prods_kept_data_survives_destroy_and_the_next_up_adopts_it(on_engine):
    """`pulumi destroy` refuses prod's protected volumes (and leaves what they need); the next `up`
    finds them in state as they are. After `pulumi state unprotect`, a destroy deletes everything but the
    retained volumes, which leave state and stay on the engine: the next `up` adopts them by name."""
    stack = on_engine("customer-support")
    backend = stack.containers_of("customer-support", "backend")[0]
    token = secrets.token_hex(8)
    stack.standin_data(backend, token)
    protected = {e.urn: e for e in stack.applied.state.values() if e.protect}
    volumes = {e.id for e in protected.values() if e.type == VOLUME}
    assert volumes
    kept = kept_by_destroy(stack.applied)
    try:
        errors = stack.applied.pulumi_destroy()
        assert sorted(errors) == sorted(f"unable to delete resource {u}: it is protected; remove `protect` or run "
                                        "`pulumi state unprotect` first" for u in protected)
        assert set(stack.applied.state) == kept and not stack.applied.containers
        stack.applied.up(stack.applied.run)
        assert {u: stack.applied.steps[u].decision.kind for u in kept} == dict.fromkeys(kept, "same")  # as they are
        assert stack.standin_data(stack.containers_of("customer-support", "backend")[0]) == token

        for urn in protected:  # `pulumi state unprotect`, then a destroy: retained, off the state
            stack.applied.state[urn].protect = False
        assert stack.applied.pulumi_destroy() == [] and not stack.applied.state
        assert volumes <= {v.name for v in stack.client.volumes.list()}
        stack.applied.up(stack.applied.run)
        assert {stack.applied.steps[u].decision.kind for u in protected} == {"create"}  # Docker hands it back by name
        assert stack.standin_data(stack.containers_of("customer-support", "backend")[0]) == token
        assert_refreshed_preview_is_unchanged(stack)
    finally:
        on_engine.discard()
