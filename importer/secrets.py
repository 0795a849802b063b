"""Secrets: the config keys berth reads them from, and keeping every secret value of the project out of
what the import writes or prints.

Whether a value is secret is berth's one rule (rules/credentials.py): a credential's name, a key's
shape, a URL with a password, or a value built from a variable whose name is a credential's. The
project's secret values are gathered once (its services' environment and the variables Compose
interpolated it with); a command or healthcheck holding one is not copied, and every text the import
writes or prints is checked for them last, so none reaches a file or the terminal even by a path no
rule foresaw.
"""

from __future__ import annotations

import json
import re

from importer.compose import ComposeProject
from rules.credentials import KEY_SHAPES, URL_WITH_PASSWORD, credential_in_value, is_credential_name, looks_secret

SHORTEST = 4  # a shorter value is matched only as a whole command word: it could be any word of a sentence
REDACTED = "<secret>"


def config_key(app: str, env: str) -> str:
    """The stack config key of a secret: `customer-support` + `OPENAI_API_KEY` -> customerSupportOpenaiApiKey."""
    words = re.split(r"[-_]+", app) + re.split(r"_+", env)
    words = [w.lower() for w in words if w]
    key = words[0] + "".join(w.capitalize() for w in words[1:])
    key = re.sub(r"[^A-Za-z0-9]", "", key)
    return key if key[:1].isalpha() else "s" + key


def _parts(value: str) -> set[str]:
    """The value, and the passwords and query credentials inside it (a URL's)."""
    found = {value}
    found |= set(re.findall(r"://[^/@\s:]*:([^/@\s]+)@", value))
    found |= set(re.findall(r"[?&](?:p|pass|password|passwd|pwd|secret|token|api_?key|access_token|auth)=([^&\s]+)",
                            value, re.IGNORECASE))
    return found


def project_secrets(project: ComposeProject) -> frozenset[str]:
    """Every secret value the project holds (its services' environment, and the variables its files use),
    but values it also uses as plain names (a user called `postgres` whose password is `postgres`: the word
    stays readable, the password is never written as one)."""
    secret, plain = set(), set(project.services)
    used = set(CREDENTIAL_VARIABLE.findall(json.dumps(project.raw_services)))
    for name, value in ((n, v) for n, v in project.variables.items() if n in used):
        if is_credential_name(name) or credential_in_value(value):
            secret |= _parts(value)
        else:
            plain.add(value)
    for svc_name, svc in project.services.items():
        plain.add(str(svc.get("image") or "").rsplit("/", 1)[-1].split(":")[0])
        written = project.raw_environment.get(svc_name, {})
        for key, value in (svc.get("environment") or {}).items():
            value = "" if value is None else str(value)
            if looks_secret(key, value, written.get(key)):
                secret |= _parts(value)
            else:
                plain.add(value)
    return frozenset(v for v in secret - plain if len(v) >= SHORTEST and not v.startswith("$"))


def contains(text: str, values: frozenset[str]) -> str | None:
    """The first secret value in `text` (as a whole word when it is short), or None."""
    for value in values:
        pattern = re.escape(value) if len(value) >= 8 else rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])"
        if re.search(pattern, text):
            return value
    return None


def redact(text: str, values: frozenset[str]) -> str:
    """`text` with every secret value in it replaced: the last guard before anything is written or printed.
    A value that is a plain word (`secret`, `changeme`) stays: the notes use such words themselves, and
    the rules above keep the value out of every setting and command already."""
    for value in sorted(values, key=len, reverse=True):
        if re.fullmatch(r"[A-Za-z]{1,12}", value):
            continue
        pattern = re.escape(value) if len(value) >= 8 else rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])"
        text = re.sub(pattern, REDACTED, text)
    return text


SECRET_FLAG = re.compile(r"^--?(password|passwd|pass|requirepass|token|secret|api-?key|auth)(=.+)?$", re.IGNORECASE)
REDIS_CLI_PASSWORD = "-a"  # redis-cli -a <password>
CREDENTIAL_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def secret_in_command(words: list[str], values: frozenset[str] = frozenset(), written: list[str] | None = None
                      ) -> str | None:
    """How a command passes a secret, if it does: a secret flag with a value (`--password x`, `-a x`), a URL
    or key with a credential, one of the project's secret values, or (`written`: the command before Compose
    interpolated it) a `${VAR}` of a credential's name. `$$VAR` (read from the container's environment when it
    runs) is no secret: it names one."""
    redis_cli = any(w.rsplit("/", 1)[-1] == "redis-cli" for w in " ".join(words).split())
    for i, word in enumerate(words):
        flag = SECRET_FLAG.match(word) or (redis_cli and word == REDIS_CLI_PASSWORD)
        if flag and ("=" in word or (i + 1 < len(words) and not words[i + 1].startswith(("$", "-")))):
            return word.split("=", 1)[0]
        if URL_WITH_PASSWORD.search(word) or KEY_SHAPES.search(word):
            return "a URL or key with a password in it"
    found = contains(" ".join(words), values)
    if found:
        return "a secret value of the project"
    for word in written or []:
        for variable in CREDENTIAL_VARIABLE.findall(re.sub(r"\$\$", "", str(word))):
            if is_credential_name(variable):
                return f"${{{variable}}}"
    return None


def shown_source(written: str | None) -> str:
    """A value as written, reduced to the variables it is built from (`${SECRET_KEY:-<default>}` -> `${SECRET_KEY}`):
    a default or a literal part can be the secret itself."""
    names = dict.fromkeys(CREDENTIAL_VARIABLE.findall(written or ""))
    return ", ".join(f"${{{n}}}" for n in names)
