"""Naming the config secrets berth reads, and finding secrets passed on a command line.

Whether a value is secret is berth's one rule (rules/credentials.py): a credential's name, a key's
shape, a URL with a password, or a value built from a variable whose name is a credential's. Secret
values are never written anywhere; berth reads them from `pulumi config set --secret`.
"""

from __future__ import annotations

import re

from rules.credentials import KEY_SHAPES, URL_WITH_PASSWORD


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
        if URL_WITH_PASSWORD.match(word) or KEY_SHAPES.search(word):
            return "a URL or key with a password in it"
    return None
