"""Telling secret environment values from plain ones, and naming the config secrets berth reads.

A value is treated as secret when its name says so (PASSWORD, SECRET, TOKEN, API_KEY, ...), when it
is a URL carrying a password, when it has a well-known key shape, or when it was built from a
variable whose name says so (`postgresql://u:${POSTGRES_PASSWORD}@db/x`). Secret values are never
written anywhere; berth reads them from `pulumi config set --secret`.
"""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"(PASSW(OR)?D|PASSPHRASE|(^|_)PASS(_|$)|(^|_)PWD$|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|"
                         r"_KEY$|^KEY$|SALT|_DSN$|^DSN$|WEBHOOK_URL|COOKIE)", re.IGNORECASE)
NOT_SECRET_NAME = re.compile(r"(_FILE|_PATH|_ENABLED|_PROVIDER|_EXPIRY|_EXPIRE\w*|_TTL|_LENGTH|_ALGORITHM|_HEADER|"
                             r"_NAME|_ID|_USER(NAME)?)$", re.IGNORECASE)
KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|ghp_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|xox[abp]-[A-Za-z0-9-]{10,}|"
                        r"-----BEGIN [A-Z ]*PRIVATE KEY-----)")
URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET_NAME.search(name)


def looks_secret(name: str, value: str, written: str | None = None) -> bool:
    """`written` is the value before interpolation, when Compose could show it."""
    if secret_name(name) and value != "":
        return True
    if URL_PASSWORD.match(value) or KEY_SHAPES.search(value):
        return True
    return any(secret_name(var) for var in VARIABLE.findall(written or ""))


def config_key(app: str, env: str) -> str:
    """The stack config key of a secret: `customer-support` + `OPENAI_API_KEY` -> customerSupportOpenaiApiKey."""
    words = re.split(r"[-_]+", app) + re.split(r"_+", env)
    words = [w.lower() for w in words if w]
    key = words[0] + "".join(w.capitalize() for w in words[1:])
    key = re.sub(r"[^A-Za-z0-9]", "", key)
    return key if key[:1].isalpha() else "s" + key


SECRET_FLAG = re.compile(r"^--?(password|passwd|pass|requirepass|token|secret|api-?key|auth)(=.+)?$", re.IGNORECASE)


def secret_in_command(words: list[str]) -> str | None:
    """How a command passes a secret (`--password x`, `--token=x`, a URL with a password), if it does."""
    for i, word in enumerate(words):
        if SECRET_FLAG.match(word) and ("=" in word or i + 1 < len(words)):
            return word.split("=", 1)[0]
        if URL_PASSWORD.match(word) or KEY_SHAPES.search(word):
            return "a URL or key with a password in it"
    return None
