"""Credentials are told by a variable's name, a value's shape, a URL's password or the variable a value
was built from; the same rule judges prod's config, the importer and the policy pack."""

from __future__ import annotations

import pytest

from rules import credentials


@pytest.mark.parametrize("name,value,written,secret", [
    ("OPENAI_API_KEY", "x", None, True), ("JWT_SECRET", "x", None, True), ("AWS_SECRET_ACCESS_KEY", "x", None, True),
    ("DB_PASSWD", "x", None, True), ("REDIS_AUTH", "x", None, True), ("LOG_LEVEL", "info", None, False),
    ("DATABASE_URL", "postgresql://u:pw@db/x", None, True), ("MY_URL", "https://api.example.com", None, False),
    ("UPSTREAM", "https://user:hunter2@example.com/x", None, True), ("ANY", "sk-" + "a" * 24, None, True),
    ("SENTRY_URL", "http://x", "http://${SENTRY_TOKEN}@x", True), ("SECRET_KEY_FILE", "/run/secrets/k", None, False),
    ("TOKEN_TTL", "3600", None, False), ("EMPTY_PASSWORD", "", None, False),
    # names real Compose files use: paperless's DBPASS, LDAP's BIND_PW, Appwrite's versioned keys
    ("PAPERLESS_DBPASS", "x", None, True), ("LDAP_BIND_PW", "x", None, True), ("_APP_OPENSSL_KEY_V1", "x", None, True),
    ("CACHE_BYPASS", "1", None, False), ("KEYBOARD_LAYOUT", "us", None, False), ("PWD", "/srv/app", None, False),
    # a credential in a URL's query: NocoDB's NC_DB, a token parameter
    ("NC_DB", "pg://root_db:5432?u=postgres&p=hunter2&d=root_db", None, True),
    ("CALLBACK", "https://hooks.example.com/x?token=abc123", None, True),
    ("SEARCH_URL", "https://example.com/search?page=2&q=pass", None, False)])
def test_secret_values_are_told_by_name_shape_url_and_origin(name, value, written, secret):
    assert credentials.looks_secret(name, value, written) is secret


def test_a_value_says_which_kind_of_credential_it_carries():
    assert credentials.credential_in_value("AKIA" + "A" * 16) == "a value shaped like an API or private key"
    assert credentials.credential_in_value("redis://app:pw@redis:6379/0") == "a URL with a password in it"
    assert credentials.credential_in_value("https://example.com/?q=a@b") is None
    assert credentials.credential_in_value("pg://db:5432?u=app&p=pw&d=x") == "a URL with a credential in its query"
