"""What the proxy reads literally: values written into the Caddyfile, and the contact its CA accepts.

Caddy 2.10.2 substitutes placeholders in three passes (caddyserver/caddy v2.10.2):

- `{$NAME}` and `{$NAME:default}` anywhere in the file's raw bytes, before it is split into tokens
  (caddyconfig/caddyfile/parse.go, `replaceEnvVars`). Nothing escapes it, so `{$` is refused.
- shorthands such as `{path}` or `{header.Cookie}` in every token (caddyconfig/httpcaddyfile/shorthands.go).
- at run time, `{env.NAME}`, `{file.PATH}` (any file the proxy can read: every site's TLS key),
  `{system.*}` and the request's placeholders in header values and most directive arguments
  (replacer.go: globalDefaultReplacementProvider, fileReplacementProvider; headers.go `ApplyTo` calls
  `ReplaceKnown`). The replacer leaves a brace preceded by a backslash alone and drops the backslash
  (replacer.go `replace`, "check for escaped braces").

Inside a double-quoted token the lexer keeps every backslash except one before `"` (caddyfile/lexer.go
`next`). So a value is literal as a quoted token with `"`, `{` and `}` preceded by a backslash, as long
as it has no `{$` and no backslash of its own (`\\{` has no spelling that survives both passes). Values
are printable ASCII on one line: a header value cannot carry a line break, and nothing berth writes needs more.
"""

from __future__ import annotations

import re

# The rules as patterns (also the JSON Schema's, so editors check as you type): printable ASCII but the
# backslash, never `{$`. A header value also has no space at either end: HTTP drops them (RFC 9110, 5.5).
LITERAL = re.compile(r"(?!.*\{\$)[ -\[\]-~]*")
HEADER_VALUE = re.compile(r"(?! )(?!.* $)(?!.*\{\$)[ -\[\]-~]+")
# Bare words the renderer writes unquoted (host names, paths, upstreams): no brace, quote, space or `#`.
WORD = re.compile(r"[A-Za-z0-9._~/:*@-]+")


def literal_problem(value: str) -> str | None:
    """Why `value` cannot be written into the Caddyfile as a literal, or None."""
    if not re.fullmatch(r"[ -~]*", value):
        return "has a line break, tab or a character outside printable ASCII; write it on one line in ASCII"
    if "\\" in value:
        return "has a backslash, which the proxy's config cannot carry literally; remove it"
    if "{$" in value:
        return ("has '{$', which the proxy replaces with one of its environment variables before reading "
                "anything else; remove it")
    return None


def header_value_problem(value: str) -> str | None:
    """Why the proxy could not send `value` as a response header exactly as written, or None."""
    if not value:
        return "is empty; leave the header unset instead"
    if value != value.strip(" "):
        return "starts or ends with a space, which HTTP drops; remove it"
    return literal_problem(value)


def quoted(value: str) -> str:
    """`value` as one quoted Caddyfile token Caddy never expands (see the module docstring)."""
    problem = literal_problem(value)
    if problem:
        raise ValueError(f"{value!r} {problem}")
    return '"' + re.sub(r'(["{}])', r"\\\1", value) + '"'


def word(value: str) -> str:
    """`value` written bare: only when it has nothing Caddy reads as syntax or a placeholder."""
    if not WORD.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain word the proxy's config can carry unquoted")
    return value


# --- the ACME contact ---------------------------------------------------------------------------------

# RFC 5322 dot-atom text, without the braces Caddy reads as a placeholder: Caddy expands the contact with
# `ReplaceOrErr` and refuses to start on one it does not know (modules/caddytls/acmeissuer.go, Provision).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`|~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Let's Encrypt's rule for the `mailto:` contact (letsencrypt/boulder policy/pa.go `ValidEmail`): one
# address that net/mail parses, whose domain is a DNS name of two labels or more (at most 253
# characters) ending in a TLD, not an IP address. A local part has at most 64 characters (RFC 5321).
ACME_EMAIL = re.compile(rf"(?=[^@]{{1,64}}@)(?=.*@.{{1,253}}$){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+"
                        r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


def acme_email_problem(value: str) -> str | None:
    """Why the proxy or its certificate authority would refuse `value` as the ACME contact, or None."""
    if ACME_EMAIL.fullmatch(value):
        return None
    return ("is not an address the certificate authority accepts: name@domain, a domain of two or more labels "
            "(letters, digits, '-'), no spaces, quotes, braces or display name (e.g. ops@chmedia.com)")
