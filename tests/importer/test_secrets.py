"""Secrets (importer/secrets.py, importer/environment.py): no secret value of the project reaches a file
the import writes or the terminal: not from a healthcheck or command line, not under a name that does not
look secret, not as the default of a `${VAR:-default}` the summary shows."""

from __future__ import annotations

import pytest

from importer import compose, secrets
from tests.support.compose_import import FIXTURES, import_fixture, run_import

VALUES = ("default-secret-key-value-123", "redis-auth-value-456", "dbpass-value-789", "query-password-value",
          "api-token-value-abc", "mysql-root-value-def")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_value_is_written_or_printed(tmp_path, stack):
    result = import_fixture(tmp_path, "secrets-in-use", "--stack", stack)
    for value in VALUES:
        assert value not in result.everything, value
    web = result.apps["notes"]["services"]["web"]
    assert set(web["secretEnv"]) == {"SECRET_KEY", "REDIS_AUTH", "PAPERLESS_DBPASS", "NC_DB"}
    assert web["env"] == {"SITE_NAME": "Notes"}


def test_checks_that_pass_a_secret_are_not_copied(tmp_path):
    result = import_fixture(tmp_path, "secrets-in-use")
    services = result.apps["notes"]["services"]
    assert services["web"]["healthcheck"] == {"path": "/", "probe": "curl"}  # a guess, not the Bearer check
    assert "mysqladmin" not in str(services["search"]["healthcheck"])
    refused = [t for t in result.todos if "the Compose check passes a secret on its command line" in t]
    assert [t.split(":")[0] for t in refused] == ["apps/notes.yaml services.search.healthcheck",
                                                  "apps/notes.yaml services.web.healthcheck"]


def test_the_summary_names_where_a_secret_is_without_its_default(tmp_path):
    result = import_fixture(tmp_path, "secrets-in-use")
    line = next(s for s in result.stdout.splitlines() if "--secret notesSecretKey" in s)
    assert line.endswith("# SECRET_KEY of web; today in ${SECRET_KEY} in docker-compose.yml")


def test_every_secret_value_of_the_project_is_known_and_plain_words_stay_readable():
    project = compose.load(FIXTURES / "secrets-in-use" / "docker-compose.yml")
    found = secrets.project_secrets(project)
    assert set(VALUES) <= found
    assert "Notes" not in found and "notes" not in found
    assert secrets.redact("key default-secret-key-value-123 and secret", found) == "key <secret> and secret"


@pytest.mark.parametrize("command,secret", [
    (["worker", "--password", "hunter2"], True), (["worker", "--token=abc"], True),
    (["redis-cli", "-a", "pw123456", "ping"], True), (["sh", "-c", "redis-cli -a $REDIS_PASSWORD ping"], False),
    (["ls", "-a", "/data"], False), (["connect", "postgres://u:pw@db/x"], True), (["echo", "fine"], False)])
def test_a_secret_on_a_command_line_is_told(command, secret):
    assert bool(secrets.secret_in_command(command)) is secret


def test_a_command_built_from_a_credential_variable_is_told_before_interpolation():
    assert secrets.secret_in_command(["check", "-pvalue"], written=["check", "-p${DB_PASSWORD}"]) == "${DB_PASSWORD}"
    assert secrets.secret_in_command(["check", "x"], written=["check", "${DB_PASSWORD}"]) == "${DB_PASSWORD}"
    assert secrets.secret_in_command(["check", "$HOME"], written=["check", "$$DB_PASSWORD"]) is None


def test_config_keys_are_camel_case_per_app():
    assert secrets.config_key("customer-support", "OPENAI_API_KEY") == "customerSupportOpenaiApiKey"


def test_secrets_on_a_command_line_are_not_copied(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  worker:\n"
        "    image: example/worker:1.0.0\n"
        "    command: [worker, --password, hunter2-plaintext]\n"
        "    healthcheck: {test: [CMD, check, --token=tok-plaintext]}\n"
        "    environment: {SMTP_PASS: mail-plaintext, MAIL_HOST: smtp.example.com}\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "jobs")
    for value in ("hunter2-plaintext", "tok-plaintext", "mail-plaintext"):
        assert value not in result.everything
    worker = result.apps["jobs"]["services"]["worker"]
    assert "command" not in worker and "check" not in str(worker["healthcheck"])
    assert worker["secretEnv"] == {"SMTP_PASS": "jobsSmtpPass"} and worker["env"] == {"MAIL_HOST": "smtp.example.com"}
    assert "its command passes a secret (--password)" in result.stdout
