"""Telling credentials from plain values: by an environment variable's name, a value's shape, or a
URL that carries a password.

One rule for every layer: config refuses credentials in prod's plain `env` and build args, the importer
keeps them out of the app files it writes, and the policy pack refuses them in an ECS task's plain
environment.
"""

from __future__ import annotations

import re

# Names that say "this is a credential", anywhere in the name (AWS_SECRET_ACCESS_KEY, DB_PASSWD, ...)
CREDENTIAL_NAME = re.compile(r"(PASSW(OR)?D|PASSPHRASE|(^|_)PASS(_|$)|(?<!BY)PASS$|(^|_)PWD$|(^|_)PW$|SECRET|TOKEN|"
                             r"API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|_KEY(_V?\d+)?$|^KEY$|SALT|_DSN$|^DSN$|"
                             r"WEBHOOK_URL|COOKIE|(^|_)AUTH$)",
                             re.IGNORECASE)
# ... unless the name says it holds something about a credential, not the credential itself.
ABOUT_A_CREDENTIAL = re.compile(r"(_FILE|_PATH|_ENABLED|_PROVIDER|_EXPIRY|_EXPIRE\w*|_TTL|_LENGTH|_ALGORITHM|_HEADER|"
                                r"_NAME|_ID|_USER(NAME)?)$", re.IGNORECASE)
# Values shaped like well-known keys, whatever they are called.
KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|sk_live_[0-9A-Za-z]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|"
                        r"AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|"
                        r"-----BEGIN [A-Z ]*PRIVATE KEY-----)")
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
# A URL carrying a credential in its query (`?password=x`, `?token=x`; NocoDB's `pg://db?u=app&p=x`).
QUERY_CREDENTIAL = re.compile(r"[a-z][a-z0-9+.-]*://\S*[?&](password|passwd|pass|pwd|secret|token|api_?key|"
                              r"access_token|auth)=[^&\s]+|[a-z][a-z0-9+.-]*://\S*[?&]u=[^&\s]*&p=[^&\s]+",
                              re.IGNORECASE)
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


# The shell's working directories, whose names end like a password's (`DB_PWD`).
SHELL_VARIABLES = frozenset({"PWD", "OLDPWD"})


def is_credential_name(name: str) -> bool:
    """The name of a variable that holds a credential (`OPENAI_API_KEY`, not `OPENAI_API_KEY_FILE`)."""
    return bool(CREDENTIAL_NAME.search(name)) and not ABOUT_A_CREDENTIAL.search(name) and \
        name.upper() not in SHELL_VARIABLES


def credential_in_value(value: str) -> str | None:
    """What in `value` is a credential (a key's shape, a URL's password), or None."""
    if KEY_SHAPES.search(value):
        return "a value shaped like an API or private key"
    if URL_WITH_PASSWORD.search(value):
        return "a URL with a password in it"
    if QUERY_CREDENTIAL.search(value):
        return "a URL with a credential in its query"
    return None


def looks_secret(name: str, value: str, written: str | None = None) -> bool:
    """A non-empty value of a credential's name, a credential-shaped value, or one built from a variable
    whose name is a credential's (`written` is the value before interpolation, where known)."""
    if is_credential_name(name) and value != "":
        return True
    if credential_in_value(value):
        return True
    return any(is_credential_name(var) for var in VARIABLE.findall(written or ""))


# berth's own placeholders (config/app.py): this stack's address of the app, which is no secret.
PLACEHOLDER = re.compile(r"\$\{(?:url|hostname)\}")
OWN_ADDRESS = re.compile(r"\$\{(?:url|hostname)\}(?:[:/][A-Za-z0-9._~/%:-]*)?")  # the address, a port or path


def plain_credential(name: str, written: str) -> bool:
    """Whether a plain value as written in an app or stack file (berth's placeholders unexpanded) is a
    credential: by its name (unless it is just the app's own address and a path), or by its shape
    once the placeholders stand for an address (`postgres://app:pw@${hostname}/db`)."""
    value = PLACEHOLDER.sub("placeholder.invalid", written)
    if OWN_ADDRESS.fullmatch(written):
        return credential_in_value(value) is not None
    return looks_secret(name, value, written)
