"""Each stand-in keeps its official image's runtime contract (docs/standins.md), proven by running it.

What berth's fixes depend on is asserted here on the stand-ins alone: the privilege drop happens only
for the server command, a fresh volume takes the image's ownership, a Next.js-style server is deaf
on 127.0.0.1 with Docker's default HOSTNAME, a healthcheck tool the official image lacks is absent.
"""

from __future__ import annotations

import re
import time

import pytest
import yaml

from tests.support.pins import pinned_images, series
from tests.support.stacks import REPO
from tests.support.standins import POSTGRES_MAJORS, RECIPES, StandIns, recipe_for
from tests.support.container_exec import output_of

# every public image berth pins, by the stand-in that runs it
PINNED = {recipe_for(ref).name: ref for ref in pinned_images()}
ABSENT = {  # tools the official image does not have
    "postgres-17": ["curl", "python3", "python", "node", "redis-cli", "perl", "setpriv"],
    "postgres-15": ["curl", "python3", "python", "node", "redis-cli", "perl", "setpriv"],
    "redis": ["curl", "python3", "bash", "pg_isready", "node", "perl", "setpriv"],
    "caddy": ["curl", "python3", "bash", "node", "perl"],
    "chroma": ["wget", "node"],
    "qdrant": ["curl", "wget", "python3", "python", "node"],
    "ollama": ["curl", "wget", "python3", "python", "node"],
}
PRESENT = {
    "postgres-17": ["sh", "bash", "wget", "pg_isready", "psql", "gosu"],
    "postgres-15": ["sh", "bash", "wget", "pg_isready", "psql", "gosu"],
    "redis": ["sh", "wget", "redis-cli", "redis-server", "gosu"],
    "caddy": ["sh", "wget", "caddy", "printf"],
    "chroma": ["bash", "python", "curl", "uvicorn", "chroma"],
    "qdrant": ["bash"],
    "ollama": ["bash", "ollama"],
}


def run(engine, image, command=None, *, wait=True, **kwargs):
    """Run a container to completion (or start it detached with wait=False)."""
    container = engine.client.containers.run(image, command, detach=True, **kwargs)
    if not wait:
        return container
    status = container.wait(timeout=120)
    logs = container.logs().decode(errors="replace")
    container.remove(force=True)
    return status["StatusCode"], logs


def wait_for(check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_every_pinned_image_has_a_stand_in_and_postgres_one_per_major():
    assert set(PINNED) == {name for name, recipe in RECIPES.items() if recipe.stands_for}
    assert recipe_for("docker.io/library/postgres:15.14-alpine@sha256:0123").name == "postgres-15"
    with pytest.raises(KeyError, match="release line"):
        recipe_for("postgres:16.10-alpine")


VERSION_COMMAND = {  # what prints the version the server runs
    "postgres-17": "postgres --version", "postgres-15": "postgres --version", "redis": "redis-server --version",
    "caddy": "caddy version", "chroma": "python -c 'from importlib.metadata import version; print(version(\"chromadb\"))'",
}


@pytest.mark.parametrize("name", sorted(VERSION_COMMAND))
def test_a_stand_in_runs_the_release_it_says(engine, standins, name):
    """The release line each stand-in claims (its recipe's `runs`, docs/standins.md), from the server itself."""
    recipe = RECIPES[name]
    code, out = run(engine, standins.image_for(PINNED[name]), ["-c", VERSION_COMMAND[name]], entrypoint="sh",
                    cap_add=["NET_BIND_SERVICE"])
    found = re.search(r"(\d+\.\d+(?:\.\d+)?)", out)
    assert code == 0 and found, out
    assert series(recipe.stands_for, found[1]) == series(recipe.stands_for, recipe.runs), out
    if recipe.runs.count(".") == 2:
        assert found[1] == recipe.runs, out


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_stand_in_has_the_tools_its_official_image_has_and_no_others(engine, standins, name):
    image = standins.image_for(PINNED[name])
    script = "; ".join(f'command -v {t} >/dev/null && echo "have {t}" || echo "lack {t}"'
                       for t in PRESENT[name] + ABSENT[name])
    shell = "bash" if name in ("qdrant", "ollama", "chroma") else "sh"
    code, out = run(engine, image, ["-c", script], entrypoint=shell)
    assert code == 0, out
    assert {f"have {t}" for t in PRESENT[name]} <= set(out.split("\n")), out
    assert {f"lack {t}" for t in ABSENT[name]} <= set(out.split("\n")), out


@pytest.mark.parametrize("major", POSTGRES_MAJORS)
def test_postgres_initialises_from_its_env_and_drops_to_postgres_only_for_the_server(engine, standins, major):
    image = standins.postgres(major)
    container = run(engine, image, wait=False, environment={"POSTGRES_PASSWORD": "pw-one"}, stop_signal="SIGINT",
                    cap_drop=["ALL"], cap_add=["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"])
    try:
        assert wait_for(lambda: container.exec_run(["pg_isready", "-h", "127.0.0.1", "-U", "postgres"]).exit_code == 0)
        # Other hosts need the password (scram-sha-256); the socket and loopback are trusted, as initdb
        # leaves them in the official image. The container's own network address is "another host".
        address = "$(awk 'END {print $1}' /etc/hosts)"

        def login(password, host):
            return output_of(container, ["sh", "-c", f'PGPASSWORD={password} psql -h {host} -U postgres -tAc "select current_user"'])

        code, out = login("pw-one", address)
        assert (code, out.strip()) == (0, "postgres"), out
        code, out = login("wrong", address)
        assert code != 0 and "password authentication failed" in out, out
        code, out = login("wrong", "127.0.0.1")
        assert (code, out.strip()) == (0, "postgres"), out
        _, status = output_of(container, ["sh", "-c", "grep ^Uid /proc/1/status; stat -c '%u %a' $PGDATA"])
        assert "\t70\t" in status and "70 700" in status  # the server runs as postgres (70), PGDATA is its, 0700
        container.stop(timeout=60)  # SIGINT, the official STOPSIGNAL (set on the container: import cannot)
        assert "database system is shut down" in container.logs().decode()
        assert container.wait(timeout=10)["StatusCode"] == 0
    finally:
        container.remove(force=True)
    code, out = run(engine, image, ["sh", "-c", "id -u"])
    assert (code, out.strip()) == (0, "0")  # another command runs as given, as root
    code, out = run(engine, image)
    assert code == 1 and "superuser password is not specified" in out


def test_redis_drops_privileges_only_for_redis_server(engine, standins):
    image = standins.image_for(PINNED["redis"])
    caps = dict(cap_drop=["ALL"], cap_add=["CHOWN", "SETGID", "SETUID"])
    # As the official image: `redis-server` as root is handed /data and run as redis.
    container = run(engine, image, ["redis-server", "--appendonly", "yes"], wait=False, **caps)
    try:
        assert wait_for(lambda: output_of(container, ["redis-cli", "ping"])[1].strip() == "PONG")
        _, status = output_of(container, ["sh", "-c", "grep ^Uid /proc/1/status; ls -ln /data"])
        assert "\t999\t" in status and "appendonlydir" in status
    finally:
        container.remove(force=True)
    # `sh -c "exec redis-server ..."` as root skips the drop: without DAC_OVERRIDE it cannot write /data.
    code, out = run(engine, image, ["sh", "-c", "exec redis-server --appendonly yes"], **caps)
    assert code != 0 and "Permission denied" in out


def test_caddy_runs_only_with_net_bind_service_like_the_official_binary(engine, standins):
    """The official /usr/bin/caddy carries `cap_net_bind_service=+ep`: with that capability dropped the
    kernel refuses to run it at all; with it added back (berth's proxy) it runs, even without new privileges."""
    image = standins.image_for(PINNED["caddy"])
    hardened = dict(cap_drop=["ALL"], security_opt=["no-new-privileges"])
    code, out = run(engine, image, ["sh", "-c", "caddy version"], **hardened)
    assert code != 0 and "not permitted" in out, out
    code, out = run(engine, image, ["sh", "-c", "caddy version"], cap_add=["NET_BIND_SERVICE"], **hardened)
    assert code == 0 and out.lstrip("v").startswith("2."), out


def test_a_fresh_volume_takes_the_image_directorys_owner(engine, standins):
    volume = engine.client.volumes.create("berth-standin-redis-data")
    try:
        code, out = run(engine, standins.image_for(PINNED["redis"]), ["stat", "-c", "%u:%g", "/data"],
                        entrypoint="", volumes={volume.name: {"bind": "/data", "mode": "rw"}})
        assert (code, out.strip()) == (0, "999:1000")
    finally:
        volume.remove(force=True)


def test_a_non_root_service_cannot_write_a_fresh_volume_at_a_path_its_image_lacks(engine, standins):
    image = standins.app_image("nonroot-service")
    volume = engine.client.volumes.create("berth-standin-nonroot-data")
    try:
        code, out = run(engine, image, ["-c", "id -u; touch /app/data/x"], entrypoint="sh",
                        volumes={volume.name: {"bind": "/app/data", "mode": "rw"}})
        assert code != 0 and "1000" in out.splitlines() and "Permission denied" in out, out
    finally:
        volume.remove(force=True)


def test_the_node_frontend_binds_like_nextjs_standalone(engine, standins):
    image = standins.app_image("node-frontend")
    probe = ["node", "-e", "fetch('http://127.0.0.1:3000/').then(r => process.exit(r.ok ? 0 : 1)).catch(() => process.exit(1))"]
    deaf = run(engine, image, wait=False)  # HOSTNAME is Docker's: the container id
    heard = run(engine, image, wait=False, environment={"HOSTNAME": "0.0.0.0"})
    try:
        assert wait_for(lambda: heard.exec_run(probe).exit_code == 0)
        assert "listening on" in deaf.logs().decode()
        assert deaf.exec_run(probe).exit_code != 0
    finally:
        deaf.remove(force=True)
        heard.remove(force=True)


COLLECTIONS = "http://127.0.0.1:8000/api/v2/tenants/default_tenant/databases/default_database/collections"


def test_chroma_answers_berths_probe_keeps_its_token_and_persists_in_its_volume(engine, standins):
    """The real Chroma 0.6.3, run as apps/rag.yaml runs it (read-only root, token auth, data on a volume),
    then again on that volume with the image's own arguments (one string naming ${CHROMA_*}, with a log
    config relative to /chroma, which writes chroma.log there: so on a writable root)."""
    vectordb = yaml.safe_load((REPO / "apps/rag.yaml").read_text())["services"]["vectordb"]
    image = standins.image_for(vectordb["image"])
    environment = {**vectordb["env"], "CHROMA_SERVER_AUTHN_CREDENTIALS": "t0ken"}
    volume = engine.client.volumes.create("berth-standin-chroma-data")
    data = {volume.name: {"bind": "/chroma/chroma", "mode": "rw"}}
    token = ["-H", "Authorization: Bearer t0ken"]

    def curl(container, *args):
        return output_of(container, ["curl", "-s", "-w", " %{http_code}", *args])[1]

    heartbeat = ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v2/heartbeat')"]
    chroma = run(engine, image, vectordb["command"], wait=False, read_only=True, tmpfs={"/tmp": ""},
                 environment=environment, volumes=data)
    try:
        assert wait_for(lambda: chroma.exec_run(heartbeat).exit_code == 0), chroma.logs().decode()
        assert curl(chroma, COLLECTIONS).endswith((" 401", " 403"))
        created = curl(chroma, *token, "-H", "Content-Type: application/json", "-d", '{"name": "kept"}', COLLECTIONS)
        assert created.endswith(" 200"), created
    finally:
        chroma.remove(force=True)
    chroma = run(engine, image, wait=False, environment=environment, volumes=data)
    try:
        assert wait_for(lambda: chroma.exec_run(heartbeat).exit_code == 0), chroma.logs().decode()
        assert "with args: --workers 1 --host 0.0.0.0 --port 8000 --proxy-headers --log-config" in chroma.logs().decode()
        listed = curl(chroma, *token, COLLECTIONS)
        assert '"kept"' in listed, listed
        assert "chroma.sqlite3" in output_of(chroma, ["ls", "/chroma/chroma"])[1]
    finally:
        chroma.remove(force=True)
        volume.remove(force=True)


def test_vector_store_and_model_stand_ins_answer_what_berth_probes(engine, standins):
    qdrant = run(engine, standins.image_for(PINNED["qdrant"]), wait=False, read_only=True, tmpfs={"/tmp": ""},
                 environment={"QDRANT_INIT_FILE_PATH": "/tmp/.qdrant-initialized"})
    ollama = run(engine, standins.image_for(PINNED["ollama"]), wait=False)
    try:
        ready = ["bash", "-c", 'exec 3<>/dev/tcp/127.0.0.1/6333 && printf "GET /readyz HTTP/1.0\\r\\n\\r\\n" >&3 '
                 '&& read -r status <&3 && [[ $status == *" 200 "* ]]']
        assert wait_for(lambda: qdrant.exec_run(ready).exit_code == 0)
        assert wait_for(lambda: ollama.exec_run(["ollama", "list"]).exit_code == 0)
    finally:
        for container in (qdrant, ollama):
            container.remove(force=True)
    # Qdrant writes its marker beside its binary unless told otherwise: that fails on a read-only root.
    code, _ = run(engine, standins.image_for(PINNED["qdrant"]), read_only=True)
    assert code != 0


def test_benchmark_every_stand_in_ready(benchmark, engine):
    """Seconds until every stand-in is on the engine: on a warm cache (the usual run) each is found by
    its recipe hash. A cold build logs each image's time (`-o log_cli=true --log-cli-level=INFO`)."""
    images = benchmark.pedantic(lambda: StandIns(engine).ensure_all(), rounds=1, iterations=1)
    assert set(images) == set(RECIPES)
    assert {engine.client.images.get(image).id for image in images.values()} == set(images.values())
