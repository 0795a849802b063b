"""The four systems beyond the CHM server (seeds 001-004), each deployed from its example stack file.

Every example under examples/ runs through the real program under mocks; the tests assert what each
seed asks for (which containers, limits, secrets, networks, routes) and check the generated Caddyfile
and user data with their real consumers. Routes are asserted on Caddy's own reading of the
Caddyfile (`caddy adapt`), not on its text.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from offline.mockrun import REPO, Run, plain_strings
from tests.support.stacks import SharedRuns, run_stack, stack_config
from tests.support.validators import caddy, caddyfile_of, cloud_init_schema, shellcheck

EXAMPLES = REPO / "examples"
SUPPORT, COLLABRY = "customer-support/Pulumi.prod.yaml", "collabry/Pulumi.prod.yaml"
RAG, RAG_DEV, TALKER = "on-prem-rag/Pulumi.prod.yaml", "on-prem-rag/Pulumi.dev.yaml", "youtube-talker/Pulumi.prod.yaml"
SECRETS = {
    SUPPORT: {"berth:supportSecretKey": "support-secret-key-for-tests",
              "berth:supportOpenaiApiKey": "sk-support-openai-for-tests"},
    COLLABRY: {"berth:collabryMongodbUri": "mongodb+srv://collabry:atlas-pw-for-tests@cluster0.example.mongodb.net/collabry",
               "berth:collabryJwtSecret": "collabry-jwt-secret-for-tests",
               "berth:collabryOpenaiApiKey": "sk-collabry-openai-for-tests"},
    RAG: {"berth:ragChromaToken": "ChromaTokenForTests0123"},
    RAG_DEV: {},
    TALKER: {"berth:youtubeTalkerOpenrouterApiKey": "sk-or-talker-for-tests",
             "berth:youtubeTalkerSupadataApiKey": "supadata-talker-for-tests"},
}
EC2_EXAMPLES = [SUPPORT, COLLABRY, RAG, TALKER]


def env_stack(example: str) -> str:
    """`on-prem-rag/Pulumi.dev.yaml` -> `dev`: the environment the example is written for."""
    return Path(example).name.split(".")[1]


def example_config(example: str, plain=None):
    return stack_config(env_stack(example), stack_file=EXAMPLES / example, secrets=SECRETS[example], plain=plain)


def system_run(example: str, runs: SharedRuns) -> Run:
    """The example's run, once per session (tests/support/stacks.py); other files share it."""
    return runs.get(f"{Path(example).parent.name}-{env_stack(example)}", example_config(example))


@pytest.fixture(scope="module")
def system(shared_runs):
    return lambda example: system_run(example, shared_runs)


# --- reading a run -----------------------------------------------------------------------------------

def env_of(run: Run, container: str) -> dict[str, str]:
    return dict(e.split("=", 1) for e in run.containers()[container].values.get("envs", []))


def networks_of(run: Run, container: str) -> dict[str, list[str]]:
    return {n["name"]: n.get("aliases", []) for n in run.containers()[container].values["networksAdvanced"]}


def mounts_of(run: Run, container: str) -> dict[str, dict]:
    return {v["containerPath"]: v for v in run.containers()[container].values.get("volumes", [])}


def app_containers(run: Run, app: str) -> dict:
    return {name: c for name, c in run.containers().items() if name.startswith(f"{app}-")}


def provisioning_sql(run: Run, app: str) -> str:
    """The psql script that provisions one app's role and database."""
    return next(r for r in run.resources if r.name == f"{app}-postgres-provision").values["stdin"]


def pulled(run: Run, name: str) -> str:
    """The reference a pinned image is pulled as."""
    return run.get("docker:index/remoteImage:RemoteImage", name).values["name"]


# --- Caddy's own reading of the Caddyfile ----------------------------------------------------------

def adapted(run: Run, tmp_path: Path) -> dict:
    return json.loads(caddy("adapt", caddyfile_of(run), tmp_path).stdout)


def _path_matches(patterns: list[str], path: str) -> bool:
    return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in patterns)


def _matches(route: dict, host: str, path: str) -> bool:
    sets = route.get("match") or [{}]
    return any(("host" not in m or host in m["host"]) and ("path" not in m or _path_matches(m["path"], path))
               for m in sets)


def _walk(routes: list[dict], host: str, path: str):
    """(route, handler) for each handler a request passes, as Caddy routes it: first match per group,
    subroutes followed. Matchers other than host and path (e.g. try_files) are taken as matching."""
    groups = set()
    for route in routes:
        if route.get("group") in groups or not _matches(route, host, path):
            continue
        if route.get("group"):
            groups.add(route["group"])
        for handler in route.get("handle", []):
            if handler["handler"] == "subroute":
                yield from _walk(handler["routes"], host, path)
            else:
                yield route, handler
        if route.get("terminal"):
            break


def _site(config: dict, host: str) -> list[dict]:
    servers = config["apps"]["http"]["servers"].values()
    site = [r for s in servers for r in s["routes"] if any(host in m.get("host", []) for m in r.get("match", []))]
    assert site, f"no site for {host} in the Caddyfile"
    return site


def handlers_for(config: dict, host: str, path: str) -> list[dict]:
    return [handler for _, handler in _walk(_site(config, host), host, path)]


def try_files_for(config: dict, host: str, path: str) -> list[list[str]]:
    """The try_files lists a request for a path passes: a static site's fallbacks."""
    return [m["file"]["try_files"] for route, _ in _walk(_site(config, host), host, path)
            for m in route.get("match", []) if "file" in m]


def proxy_handler(config: dict, host: str, path: str) -> dict:
    found = [h for h in handlers_for(config, host, path) if h["handler"] == "reverse_proxy"]
    assert len(found) == 1, f"{host}{path} reaches {len(found)} reverse proxies"
    return found[0]


def dials(handler: dict) -> set[str]:
    return {u["dial"] for u in handler["upstreams"]}


def response_headers(config: dict, host: str, path: str) -> dict[str, list[str]]:
    headers = {}
    for h in handlers_for(config, host, path):
        if h["handler"] == "headers":
            headers.update(h.get("response", {}).get("set", {}))
    return headers


SECONDS = 1_000_000_000  # Caddy's JSON durations are nanoseconds


# --- every example --------------------------------------------------------------------------------

ALL = [SUPPORT, COLLABRY, RAG, RAG_DEV, TALKER]
ECS_EXAMPLES = ["collabry-ecs/Pulumi.prod.yaml", "chm-ecs/Pulumi.prod.yaml"]  # tests/test_ecs.py


@pytest.mark.parametrize("example", ALL)
def test_only_the_proxy_publishes_ports(system, example):
    published = {n for n, c in system(example).containers().items() if c.values.get("ports")}
    assert published == {"proxy"}


@pytest.mark.parametrize("example", ALL)
def test_caddy_accepts_the_rendered_caddyfile(system, example, tmp_path):
    caddy("validate", caddyfile_of(system(example)), tmp_path)


def all_handlers(routes: list[dict]):
    for route in routes:
        for handler in route.get("handle", []):
            yield handler
            yield from all_handlers(handler.get("routes", []))


@pytest.mark.parametrize("example", ALL)
def test_every_upstream_is_told_the_clients_address(system, example, tmp_path):
    """nginx's `proxy_set_header X-Real-IP $remote_addr` (seeds 000, 001, 003), on every route of every app."""
    config = adapted(system(example), tmp_path)
    proxies = [h for s in config["apps"]["http"]["servers"].values() for h in all_handlers(s["routes"])
               if h["handler"] == "reverse_proxy"]
    assert proxies
    for handler in proxies:
        assert handler["headers"]["request"]["set"]["X-Real-Ip"] == ["{http.request.remote.host}"]


IMMUTABLE = ["public, max-age=31536000, immutable"]


def test_talker_frames_nowhere_and_keeps_astros_hashed_files(system, tmp_path):
    config = adapted(system(TALKER), tmp_path)
    assert response_headers(config, "youtubetalker.com", "/")["X-Frame-Options"] == ["DENY"]  # seed 004
    assert response_headers(config, "youtubetalker.com", "/_astro/index.4f2a.js")["Cache-Control"] == IMMUTABLE
    assert "Cache-Control" not in response_headers(config, "youtubetalker.com", "/index.html")


def test_support_keeps_its_hashed_static_files_a_year_and_revalidates_the_rest(system, tmp_path):
    config = adapted(system(SUPPORT), tmp_path)
    assert response_headers(config, "support.example.com", "/static/js/main.8e3c1a.js")["Cache-Control"] == IMMUTABLE
    for path in ("/", "/index.html", "/manifest.json"):
        assert "Cache-Control" not in response_headers(config, "support.example.com", path)


@pytest.mark.parametrize("example", EC2_EXAMPLES)
def test_cloud_init_schema_accepts_the_user_data(system, example, tmp_path):
    cloud_init_schema(system(example).get("aws:ec2/instance:Instance", "host-instance").values["userData"], tmp_path)


@pytest.mark.parametrize("example", ALL)
def test_no_secret_appears_in_plain_inputs_outputs_or_logs(system, example):
    run = system(example)
    secrets = set(SECRETS[example].values()) | {
        r.state["result"] for r in run.of_type("random:index/randomPassword:RandomPassword")}
    clear = [s for r in run.resources for s in plain_strings(r.inputs)]
    clear += [s for k, v in run.outputs.items() if k not in run.secret_outputs for s in plain_strings(v)]
    clear += run.logs
    assert [(s, text) for s in secrets for text in clear if s in text] == []


@pytest.mark.parametrize("example", EC2_EXAMPLES)
def test_prod_examples_say_how_to_set_every_secret_prod_asks_for(config_problems, example):
    """Prod stops on a missing secret; each example's header has the command for every one it stops on."""
    problems = config_problems("prod", stack_file=EXAMPLES / example)
    missing = {p.split(":")[1] for p in problems if "prod never makes up secrets" in p}
    assert missing and len(missing) == len(problems)
    header = (EXAMPLES / example).read_text(encoding="utf-8").split("\nconfig:")[0]
    commands = [line for line in header.splitlines() if "pulumi config set --secret" in line]
    assert {name for name in missing if not any(name in line for line in commands)} == set()


# --- customer support (seed 001) -------------------------------------------------------------------

def test_support_runs_the_backend_the_shared_postgres_17_and_its_own_redis_7(system):
    run = system(SUPPORT)
    assert set(app_containers(run, "customer-support")) == {"customer-support-backend", "customer-support-redis"}
    assert pulled(run, "shared-postgres").startswith("postgres:17.")
    assert pulled(run, "customer-support-redis").startswith("redis:7.")


def test_support_database_has_its_app_role_and_uuid_ossp(system):
    sql = provisioning_sql(system(SUPPORT), "customer-support")
    assert """SELECT 'CREATE ROLE "customer_support"'""" in sql and """SELECT 'CREATE DATABASE "customer_support"'""" in sql
    assert ('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA "berth_extensions";'
            in sql.split('\\connect "customer_support"')[1])


def test_support_backend_gets_its_connections_and_secrets_as_secrets(system):
    run = system(SUPPORT)
    assert run.containers()["customer-support-backend"].is_secret("envs")
    env = env_of(run, "customer-support-backend")
    assert env["DATABASE_URL"].startswith("postgresql://customer_support:")
    assert env["DATABASE_URL"].endswith("@postgres:5432/customer_support")
    assert env["REDIS_URL"].startswith("redis://customer_support:") and env["REDIS_URL"].endswith("@redis:6379/0")
    assert env["SECRET_KEY"] == SECRETS[SUPPORT]["berth:supportSecretKey"]
    assert env["OPENAI_API_KEY"] == SECRETS[SUPPORT]["berth:supportOpenaiApiKey"]
    assert env["CORS_ORIGINS"] == "https://support.example.com"


def test_support_chroma_and_logs_live_on_volumes_prod_keeps(system):
    run = system(SUPPORT)
    mounts = mounts_of(run, "customer-support-backend")
    assert {p: m["volumeName"] for p, m in mounts.items()} == {
        "/app/data": "customer_support_chroma", "/app/logs": "customer_support_logs"}
    for name in ("customer-support-chroma", "customer-support-logs"):
        assert run.get("docker:index/volume:Volume", name).survives_destroy


def test_support_websockets_api_and_spa_routes(system, tmp_path):
    config = adapted(system(SUPPORT), tmp_path)
    host = "support.example.com"
    ws = proxy_handler(config, host, "/ws/chat")
    assert dials(ws) == {"customer-support-backend:8000"}
    assert ws["transport"]["read_timeout"] == 86400 * SECONDS
    api = proxy_handler(config, host, "/api/sessions")
    assert api["transport"]["read_timeout"] == 60 * SECONDS
    assert not any(h["handler"] == "rewrite" for h in handlers_for(config, host, "/api/sessions")), \
        "the seed's proxy_pass keeps the /api prefix"
    page = handlers_for(config, host, "/tickets/42")
    assert any(h["handler"] == "file_server" for h in page)
    assert [t[-1] for t in try_files_for(config, host, "/tickets/42")] == ["/index.html"]
    assert any(h.get("root") == "/srv/sites/customer-support-frontend" for h in page if h["handler"] == "vars")


def test_support_security_headers_and_gzip(system, tmp_path):
    config = adapted(system(SUPPORT), tmp_path)
    headers = response_headers(config, "support.example.com", "/")
    assert headers["X-Frame-Options"] == ["SAMEORIGIN"] and headers["X-Content-Type-Options"] == ["nosniff"]
    assert headers["Strict-Transport-Security"][0].startswith("max-age=")
    encoders = [h for h in handlers_for(config, "support.example.com", "/api/x") if h["handler"] == "encode"]
    assert encoders and "gzip" in encoders[0]["encodings"]


def test_support_frontend_is_built_from_the_seeds_frontend_stage(system):
    run = system(SUPPORT)
    image = next(r for r in run.of_type("docker:index/image:Image") if "customer-support-frontend" in r.values["imageName"])
    assert image.values["build"]["target"] == "frontend-builder"
    assert "customer-support-frontend" not in run.containers()


# --- Collabry (seed 002) -----------------------------------------------------------------------------

def test_collabry_limits_and_replicas_follow_the_seeds_table(system):
    run = system(COLLABRY)
    expected = {"frontend": (2, 1024, "0.5"), "backend": (3, 512, "0.5"), "ai-engine": (1, 4096, "2.0"),
                "worker": (1, 256, "0.25")}
    containers = app_containers(run, "collabry")
    for service, (replicas, memory, cpus) in expected.items():
        mine = [c for n, c in containers.items() if n == f"collabry-{service}" or (n.startswith(f"collabry-{service}-")
                and n.removeprefix(f"collabry-{service}-").isdigit())]
        assert len(mine) == replicas, service
        assert {(c.values["memory"], c.values["cpus"]) for c in mine} == {(memory, cpus)}, service


def test_collabry_worker_is_one_container_replaced_delete_first(system):
    run = system(COLLABRY)
    workers = [n for n in run.containers() if n.startswith("collabry-worker")]
    assert workers == ["collabry-worker"]
    worker = run.containers()["collabry-worker"]
    assert worker.delete_before_replace and worker.values["name"] == "collabry-worker"


def test_collabry_reaches_mongodb_atlas_by_a_secret_uri_and_runs_no_mongodb(system):
    run = system(COLLABRY)
    uri = SECRETS[COLLABRY]["berth:collabryMongodbUri"]
    for name in ("collabry-backend-1", "collabry-backend-2", "collabry-backend-3", "collabry-worker"):
        assert run.containers()[name].is_secret("envs")
        assert env_of(run, name)["MONGODB_URI"] == uri
    images = [r.values["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")]
    assert not any("mongo" in n for n in list(run.containers()) + images)
    assert "shared-postgres" not in run.containers()


def test_collabry_redis_for_rate_limits_is_its_own_acl_user(system):
    env = env_of(system(COLLABRY), "collabry-backend-1")
    assert env["REDIS_URL"].startswith("redis://collabry:") and env["REDIS_URL"].endswith("@redis:6379/0")


def test_collabry_ai_engine_keeps_its_faiss_index_and_is_not_routed(system):
    run = system(COLLABRY)
    assert mounts_of(run, "collabry-ai-engine")["/app/faiss_index"]["volumeName"] == "collabry_faiss"
    assert set(networks_of(run, "collabry-ai-engine")) == {"berth-collabry"}


def test_collabry_ai_streaming_is_unbuffered_with_long_reads(system, tmp_path):
    stream = proxy_handler(adapted(system(COLLABRY), tmp_path), "collabry.example.com", "/api/ai/chat")
    assert stream["flush_interval"] == -1
    assert stream["transport"]["read_timeout"] == 180 * SECONDS
    assert dials(stream) == {f"collabry-backend-{n}:5000" for n in (1, 2, 3)}


def test_collabry_socket_io_is_sticky_across_backends(system, tmp_path):
    config = adapted(system(COLLABRY), tmp_path)
    socket = proxy_handler(config, "collabry.example.com", "/socket.io/")
    assert socket["load_balancing"]["selection_policy"]["policy"] == "ip_hash"
    assert dials(socket) == {f"collabry-backend-{n}:5000" for n in (1, 2, 3)}
    api = proxy_handler(config, "collabry.example.com", "/api/workspaces")
    assert api["transport"]["read_timeout"] == 60 * SECONDS


# --- on-prem RAG (seed 003) ------------------------------------------------------------------------

def test_rag_ollama_gets_the_gpu_and_keeps_its_models(system):
    run = system(RAG)
    ollama = run.containers()["rag-ollama"]
    assert ollama.values["gpus"] == "all"
    assert mounts_of(run, "rag-ollama")["/root/.ollama"]["volumeName"] == "rag_models"
    assert run.get("docker:index/volume:Volume", "rag-models").survives_destroy
    assert [n for n, c in run.containers().items() if c.values.get("gpus")] == ["rag-ollama"]


def test_rag_runs_on_a_gpu_instance_whose_user_data_hands_the_gpu_to_docker(system):
    instance = system(RAG).get("aws:ec2/instance:Instance", "host-instance").values
    assert instance["instanceType"] == "g4dn.xlarge"
    assert "nvidia-smi -L" in instance["userData"]
    assert "nvidia-ctk runtime configure --runtime=docker" in instance["userData"]


def test_rag_chroma_token_is_a_secret_on_both_sides(system):
    run = system(RAG)
    token = SECRETS[RAG]["berth:ragChromaToken"]
    assert run.containers()["rag-vectordb"].is_secret("envs") and run.containers()["rag-api"].is_secret("envs")
    server, client = env_of(run, "rag-vectordb"), env_of(run, "rag-api")
    assert server["CHROMA_SERVER_AUTHN_CREDENTIALS"] == token == client["CHROMA_CLIENT_AUTH_CREDENTIALS"]
    assert server["CHROMA_SERVER_AUTHN_PROVIDER"].endswith("TokenAuthenticationServerProvider")
    assert pulled(run, "rag-vectordb") == "chromadb/chroma:0.6.3"


def test_rag_network_has_the_seeds_fixed_subnet(system):
    network = system(RAG).get("docker:index/network:Network", "rag").values
    assert network["name"] == "berth-rag"
    assert network["ipamConfigs"] == [{"subnet": "172.20.0.0/16"}]


def test_rag_services_reach_each_other_by_the_seeds_names(system):
    run = system(RAG)
    env = env_of(run, "rag-api")
    assert env["VECTORDB_URL"] == "http://vectordb:8000" and env["OLLAMA_URL"] == "http://ollama:11434"
    assert networks_of(run, "rag-vectordb") == {"berth-rag": ["vectordb"]}
    assert networks_of(run, "rag-ollama") == {"berth-rag": ["ollama"]}
    assert env["POSTGRES_URL"].endswith("@postgres:5432/rag") and env["REDIS_URL"].endswith("@redis:6379/0")


def test_rag_init_sql_runs_as_the_app_role_on_postgres_15(system):
    run = system(RAG)
    assert pulled(run, "shared-postgres").startswith("postgres:15.")
    init = next(r for r in run.resources if r.name == "rag-postgres-init")
    assert init.is_secret("stdin") and "-e PGUSER=rag -e PGDATABASE=rag" in init.values["create"]
    rag_init = (REPO / "apps" / "rag-init.sql").read_text(encoding="utf-8")
    assert init.values["stdin"].split("\n", 1)[1].endswith(f"\n{rag_init}")  # after the password line
    assert rag_init not in provisioning_sql(run, "rag")


def test_rag_streamlit_and_api_routes(system, tmp_path):
    config = adapted(system(RAG), tmp_path)
    assert dials(proxy_handler(config, "rag.example.com", "/")) == {"rag-frontend:8501"}
    api = handlers_for(config, "rag.example.com", "/api/query")
    assert {"handler": "rewrite", "strip_path_prefix": "/api"} in api
    assert dials(proxy_handler(config, "rag.example.com", "/api/query")) == {"rag-api:8000"}


def test_rag_dev_applies_the_seeds_development_overrides(system):
    run = system(RAG_DEV)
    api = run.containers()["rag-api"].values
    assert api["command"][-1] == "--reload" and api["command"][0] == "uvicorn"
    env = env_of(run, "rag-api")
    assert (env["ENVIRONMENT"], env["LOG_LEVEL"], env["RELOAD"]) == ("development", "debug", "true")
    image = run.get("docker:index/image:Image", "rag-api").values
    assert image["build"]["target"] == "builder"
    source = Path(image["build"]["context"])
    assert mounts_of(run, "rag-api")["/app"] == {"hostPath": str(source), "containerPath": "/app", "readOnly": True}
    assert run.containers()["rag-frontend"].values["command"][:3] == ["streamlit", "run", "app.py"]
    assert run.containers()["proxy"].values["ports"] == [{"internal": 80, "external": 8080, "ip": "127.0.0.1"}]


def test_a_stack_can_run_the_gpu_service_on_the_cpu(tmp_path):
    apps = yaml.safe_load((EXAMPLES / RAG_DEV).read_text(encoding="utf-8"))["config"]["berth:apps"]
    apps["rag"]["services"]["ollama"] = {"gpu": False}
    run = run_stack(tmp_path, "rag-dev", example_config(RAG_DEV, plain={"berth:apps": apps}))
    assert run.containers()["rag-ollama"].values.get("gpus") is None


# --- YoutubeTalker (seed 004) ------------------------------------------------------------------------

def test_talker_backend_is_reachable_only_through_the_proxy(system):
    run = system(TALKER)
    backend = run.containers()["youtube-talker-backend"]
    assert not backend.values.get("ports")
    assert networks_of(run, "youtube-talker-backend") == {
        "berth-youtube-talker": ["backend"],
        "berth-youtube-talker-edge": ["youtube-talker-backend"],
        "berth-youtube-talker-data": ["backend"],
    }
    assert networks_of(run, "youtube-talker-qdrant") == {"berth-youtube-talker": ["qdrant"]}


def test_talker_static_frontend_is_served_by_the_proxy(system, tmp_path):
    run = system(TALKER)
    assert "youtube-talker-frontend" not in run.containers()
    config = adapted(run, tmp_path)
    page = handlers_for(config, "youtubetalker.com", "/videos/abc")
    root = next(h["root"] for h in page if h["handler"] == "vars" and "root" in h)
    assert any(h["handler"] == "file_server" for h in page)
    assert [t[-1] for t in try_files_for(config, "youtubetalker.com", "/videos/abc")] == ["/index.html"]
    served = mounts_of(run, "proxy")[root]
    assert served["readOnly"] is True
    image = next(r for r in run.of_type("docker:index/image:Image") if "youtube-talker-frontend" in r.values["imageName"])
    assert image.values["build"]["args"] == {"PUBLIC_API_URL": "https://youtubetalker.com"}
    # One host command copies the image's /site into the volume the proxy serves, and runs again
    # exactly when that image changes.
    publish = [r for r in run.resources if r.type.startswith("command:") and served["volumeName"] in r.values["create"]]
    assert len(publish) == 1 and "/site/." in publish[0].values["create"]
    [ref] = publish[0].values["triggers"]
    assert f"{served['volumeName']}:/out {ref} " in publish[0].values["create"]


def test_talker_runs_alembic_after_each_new_backend_image(system):
    run = system(TALKER)
    backend = run.containers()["youtube-talker-backend"]
    hooks = [r for r in run.resources if r.type.startswith("command:") and "alembic upgrade head" in r.values["create"]]
    assert len(hooks) == 1
    hook = hooks[0]
    assert hook.values["triggers"] == [backend.values["image"]]
    assert run.get(hook.type, "youtube-talker-backend-healthy").urn in hook.dependencies  # after it is healthy


def test_talker_backend_uses_asyncpg_on_its_postgres_15_database(system):
    run = system(TALKER)
    assert pulled(run, "shared-postgres").startswith("postgres:15.")
    env = env_of(run, "youtube-talker-backend")
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://youtube_talker:")
    assert env["DATABASE_URL"].endswith("@postgres:5432/youtube_talker")
    assert env["QDRANT_URL"] == "http://qdrant:6333"
    assert env["OPENROUTER_API_KEY"] == SECRETS[TALKER]["berth:youtubeTalkerOpenrouterApiKey"]


def test_talker_qdrant_health_asks_its_readiness_endpoint_on_6333(system):
    run = system(TALKER)
    qdrant = run.containers()["youtube-talker-qdrant"].values
    probe = qdrant["healthcheck"]["tests"]
    assert probe[:2] == ["CMD", "bash"] and "/dev/tcp/127.0.0.1/6333" in probe[-1] and "GET /readyz" in probe[-1]
    assert pulled(run, "youtube-talker-qdrant").startswith("qdrant/qdrant:v1.")
    assert mounts_of(run, "youtube-talker-qdrant")["/qdrant/storage"]["volumeName"] == "youtube_talker_storage"


def version_of(ref: str) -> tuple[int, ...]:
    return tuple(int(n) for n in ref.rsplit(":", 1)[1].lstrip("v").split("-")[0].split("."))


def test_vector_stores_are_no_older_than_what_the_seeds_ran(system):
    """Qdrant's storage cannot go back a version: seed 004's `latest` on 2025-10-17 was v1.15.5.
    Seed 003's Chroma auth provider is Chroma 0.4's; 0.6 is the newest line with auth of its own."""
    assert version_of(pulled(system(TALKER), "youtube-talker-qdrant")) >= (1, 15, 5)
    assert version_of(pulled(system(RAG), "rag-vectordb")) >= (0, 6, 3)


def test_qdrant_probe_is_valid_bash(tmp_path):
    app = yaml.safe_load((REPO / "apps" / "youtube-talker.yaml").read_text(encoding="utf-8"))
    command = app["services"]["qdrant"]["healthcheck"]["command"]
    assert command[:2] == ["bash", "-c"]
    shellcheck(command[2], tmp_path)


# --- bad input these systems can hit -------------------------------------------------------------

def test_gpu_service_on_an_instance_without_a_gpu(config_problems):
    host = {**example_config(RAG).object("berth:host"), "instanceType": "t3.2xlarge"}
    problems = config_problems("prod", stack_file=EXAMPLES / RAG, secrets=SECRETS[RAG], plain={"berth:host": host})
    assert problems == ["berth:host.instanceType: t3.2xlarge has no GPU but rag.ollama needs one; choose a type "
                        "with an NVIDIA GPU (g4dn, g5, g6, ...), or set the service's `gpu: false` to run it on the CPU"]


def with_host_dir(example: str, service: str, host_dir: dict) -> dict:
    apps = example_config(example).object("berth:apps")
    apps["rag"]["services"].setdefault(service, {})["hostDirs"] = {"code": host_dir}
    return {"berth:apps": apps}


def test_a_source_checkout_cannot_be_mounted_on_ec2(config_problems):
    plain = with_host_dir(RAG, "api", {"source": "../rag-system", "target": "/app"})
    problems = config_problems("prod", stack_file=EXAMPLES / RAG, secrets=SECRETS[RAG], plain=plain)
    assert problems == ["berth:apps.rag.services.api.hostDirs.code.source: ../rag-system is a directory on the machine "
                        "running pulumi; only dev mounts a local checkout. Build the code into the image, or leave "
                        "source unset for a directory of the app's own under /srv/berth/"]


def test_an_ec2_host_dir_must_live_on_the_data_volume(config_problems):
    plain = with_host_dir(RAG, "api", {"source": "/home/ubuntu/rag-docs", "target": "/app/docs"})
    problems = config_problems("prod", stack_file=EXAMPLES / RAG, secrets=SECRETS[RAG], plain=plain)
    assert problems == ["berth:apps.rag.services.api.hostDirs.code.source: /home/ubuntu/rag-docs is not a directory "
                        "of the app's own: on this host an app mounts only /srv/berth/host-dirs/rag/<name> (on the data "
                        "volume, which outlives the instance); leave source unset for /srv/berth/host-dirs/rag/<this "
                        "host dir's key>"]


def test_a_dev_source_mount_must_exist(config_problems):
    plain = with_host_dir(RAG_DEV, "api", {"source": "../no-such-checkout", "target": "/app"})
    problems = config_problems("dev", stack_file=EXAMPLES / RAG_DEV, plain=plain)
    assert len(problems) == 1
    where, message = problems[0].split(": ", 1)
    assert where == "berth:apps.rag.services.api.hostDirs.code.source"
    assert message.startswith("directory ../no-such-checkout does not exist (looked for /")
    assert "pulumi config set --path 'berth:apps.rag.services.api.hostDirs.code.source' <dir>" in message


def test_a_host_dir_source_must_be_a_path(config_problems):
    plain = with_host_dir(RAG_DEV, "api", {"source": "rag-system", "target": "/app"})
    problems = config_problems("dev", stack_file=EXAMPLES / RAG_DEV, plain=plain)
    assert len(problems) == 1 and problems[0].startswith("berth:apps.rag.services.api.hostDirs.code.source: ")


def own_apps(tmp_path: Path, rag_subnet: str | None = None, extra: dict | None = None) -> None:
    """A project whose apps/ is a copy of the real one, changed for one test (config_problems runs in it)."""
    apps = tmp_path / "berth" / "apps"
    shutil.copytree(REPO / "apps", apps)
    if rag_subnet is not None:
        rag = yaml.safe_load((apps / "rag.yaml").read_text(encoding="utf-8"))
        rag["network"]["subnet"] = rag_subnet
        (apps / "rag.yaml").write_text(yaml.safe_dump(rag), encoding="utf-8")
    for name, app in (extra or {}).items():
        (apps / f"{name}.yaml").write_text(yaml.safe_dump(app), encoding="utf-8")


@pytest.mark.parametrize("subnet, message", [
    ("100.64.0.0/16", "100.64.0.0/16 is not a private network; use one inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16"),
    ("10.9.0.0/29", "10.9.0.0/29 leaves too few addresses for the app's containers; use /28 or larger"),
    ("172.17.128.0/20", "172.17.128.0/20 overlaps Docker's default bridge (172.17.0.0/16); choose another range"),
    ("172.20.0.1/16", "is not an IPv4 network in CIDR notation with its host bits zero"),
])
def test_an_app_subnet_must_be_a_usable_private_range(config_problems, tmp_path, subnet, message):
    own_apps(tmp_path, rag_subnet=subnet)
    problems = config_problems("dev", stack_file=EXAMPLES / RAG_DEV)
    assert len(problems) == 1 and problems[0].startswith("apps/rag.yaml: network.subnet: ")
    assert problems[0].removeprefix("apps/rag.yaml: network.subnet: ").startswith(message)


def test_two_apps_in_one_stack_cannot_share_a_subnet(config_problems, tmp_path):
    lab = {"name": "lab", "hostname": "lab", "network": {"subnet": "172.20.128.0/17"},
           "services": {"web": {"image": "nginx:1.27-alpine", "port": 80, "healthcheck": {"path": "/", "probe": "wget"}}},
           "routes": {"/": {"service": "web"}}}
    own_apps(tmp_path, extra={"lab": lab})
    apps = {**example_config(RAG_DEV).object("berth:apps"), "lab": {}}
    problems = config_problems("dev", stack_file=EXAMPLES / RAG_DEV, plain={"berth:apps": apps})
    assert problems == ["apps/lab.yaml: network.subnet: 172.20.128.0/17 overlaps 172.20.0.0/16, the subnet of app "
                        "'rag' in this stack; give each app its own range"]


def test_an_app_subnet_on_ec2_cannot_overlap_the_hosts_vpc(config_problems, tmp_path):
    own_apps(tmp_path, rag_subnet="172.31.0.0/16")
    problems = config_problems("prod", stack_file=EXAMPLES / RAG, secrets=SECRETS[RAG])
    assert problems == ["apps/rag.yaml: network.subnet: 172.31.0.0/16 overlaps the host's VPC 172.31.0.0/16; the host "
                        "could no longer reach its DNS resolver. Choose another range"]


def test_the_examples_are_real_stack_files():
    """Each example is a Pulumi stack config (a `config:` map of namespaced keys) for berth."""
    for path in EXAMPLES.glob("*/Pulumi.*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(data) == {"config"}, path
        assert all(":" in key for key in data["config"]), path
        assert data["config"]["berth:environment"] == env_stack(str(path.relative_to(EXAMPLES)))
    assert sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.glob("*/Pulumi.*.yaml")) == sorted(ALL + ECS_EXAMPLES)


def test_caddy_adapt_helper_can_fail(tmp_path):
    """The route reader above finds nothing for a host the Caddyfile does not serve."""
    config = json.loads(caddy("adapt", "a.example.com {\n\trespond 200\n}\n", tmp_path).stdout)
    with pytest.raises(AssertionError):
        handlers_for(config, "b.example.com", "/")


# --- volumes of services that run as a user ---------------------------------------------------------

@pytest.mark.parametrize("example, app, service, volumes", [
    (SUPPORT, "customer-support", "backend", {"chroma": "/app/data", "logs": "/app/logs"}),
    (RAG, "rag", "api", {"documents": "/app/data/documents", "logs": "/app/logs"}),
])
def test_a_service_running_as_a_user_owns_its_fresh_volumes_before_it_starts(system, example, app, service, volumes):
    run = system(example)
    container = run.containers()[f"{app}-{service}"]
    for volume, path in volumes.items():
        owner = next(r for r in run.resources if r.name == f"{app}-{volume}-owner")
        create = owner.values["create"]
        assert create.startswith("docker run --rm --network none --user 0:0 --read-only --cap-drop ALL --cap-add CHOWN "
                                 "--security-opt no-new-privileges --entrypoint chown ")
        assert f"-v {app.replace('-', '_')}_{volume}:{path} " in create and create.endswith(f" 1000:1000 {path}")
        assert run.get("docker:index/volume:Volume", f"{app}-{volume}").urn in owner.dependencies
        assert owner.urn in container.dependencies


def test_a_service_running_as_root_gets_no_owner_step(system):
    run = system(RAG)
    assert not any(r.name.startswith(("rag-models-owner", "rag-vector_data-owner")) for r in run.resources)
