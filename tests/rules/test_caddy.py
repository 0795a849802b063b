"""What the proxy reads literally, and the ACME contact it and its CA accept: the rule, then the pinned
Caddy's own verdict on what the rule lets through."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, strategies as st

from rules import caddy
from tests.support.validators import caddy as run_caddy

# Values an app writes into a header, which Caddy would otherwise read as syntax or a placeholder.
EXPANDABLE = ["{file./etc/shadow}", "{env.PATH}", "{system.hostname}", "{http.request.header.Cookie}", "{path}",
              "{header.Cookie}", "{re.a.b}", "{{}}", "}{", "a\"b", "'self' \"x\" # not a comment", "{", "}",
              "{env.PATH", "env.PATH}", "<<EOF", "`x`", "a  b"]


@pytest.mark.parametrize("value, problem", [
    ("{$CADDYFILE:x}", "has '{$'"), ("{$HOME}", "has '{$'"), ("a\\{b}", "has a backslash"), ("a\\", "has a backslash"),
    ("a\nb", "line break"), ("a\tb", "line break"), ("caf\u00e9", "printable ASCII"), ("a\x00", "printable ASCII"),
])
def test_what_cannot_be_written_literally_is_refused(value, problem):
    assert problem in caddy.literal_problem(value)
    with pytest.raises(ValueError, match=r"cannot|has"):
        caddy.quoted(value)


@pytest.mark.parametrize("value", EXPANDABLE)
def test_braces_and_quotes_are_escaped_inside_one_quoted_token(value):
    assert caddy.literal_problem(value) is None
    token = caddy.quoted(value)
    assert token.startswith('"') and token.endswith('"')
    assert token[1:-1].replace('\\"', "").count('"') == 0
    assert all(token[i - 1] == "\\" for i, c in enumerate(token) if c in "{}")


def test_caddy_reads_each_quoted_value_as_one_token_with_only_the_placeholder_escapes_left(tmp_path):
    """`caddy adapt` (the pinned Caddy's lexer and parser): each value is one header value, carrying the
    backslashes the run-time replacer drops before braces, nothing else changed (served: tests/hostile)."""
    lines = "\n".join(f"\t\tX-Probe-{i} {caddy.quoted(v)}" for i, v in enumerate(EXPANDABLE))
    text = f"{{\n\tadmin off\n}}\n:8080 {{\n\theader {{\n{lines}\n\t}}\n\trespond ok\n}}\n"
    route = json.loads(run_caddy("adapt", text, tmp_path).stdout)["apps"]["http"]["servers"]["srv0"]["routes"][0]
    set_headers = next(h["response"]["set"] for h in route["handle"] if h["handler"] == "headers")
    assert {k: v[0] for k, v in set_headers.items()} == {
        f"X-Probe-{i}": v.replace("{", "\\{").replace("}", "\\}") for i, v in enumerate(EXPANDABLE)}


@given(st.text(st.sampled_from(" ~{}$\\\"\n\tx\u00e9")))
def test_the_schemas_pattern_and_the_rules_explanation_agree(value):
    """Editors check the pattern; berth explains with the function: one rule, said twice the same way."""
    assert (caddy.HEADER_VALUE.fullmatch(value) is None) == (caddy.header_value_problem(value) is not None)
    assert (caddy.LITERAL.fullmatch(value) is None) == (caddy.literal_problem(value) is not None)


@pytest.mark.parametrize("value", ["a{b", "/x y", 'a"b', "#x", "", "a\nb"])
def test_a_bare_word_with_syntax_in_it_stops_the_rendering(value):
    with pytest.raises(ValueError):
        caddy.word(value)


# --- the ACME contact ---------------------------------------------------------------------------------

ACCEPTED_EMAILS = ["ops@chmedia.com", "OPS@ChMedia.COM", "first.last+tls@mail.chmedia.co.uk", "o'neil@example.ie",
                   "a!#$%&*+/=?^_`|~-@x.io"]


@pytest.mark.parametrize("value", ["a{b}@chmedia.com", "a{env.HOME}@chmedia.com", "ops@localhost", "ops@chmedia",
                                   "ops@127.0.0.1", "ops@[127.0.0.1]", "a@b@chmedia.com", '"a b"@chmedia.com',
                                   "Ops <ops@chmedia.com>", "ops@-chmedia.com", "ops@chmedia.com.", ".ops@chmedia.com",
                                   "o..ps@chmedia.com", "ops@chmedia.123", "x" * 65 + "@chmedia.com",
                                   "ops@" + "a." * 127 + "com", "ops@chmédia.com", "ops@chmedia.com\n"])
def test_a_contact_the_proxy_or_its_ca_refuses_is_refused(value):
    assert caddy.acme_email_problem(value).startswith("is not an address the certificate authority accepts")
    assert not re.fullmatch(caddy.ACME_EMAIL.pattern, value), "the schema's pattern says the same"


@pytest.mark.parametrize("value", ACCEPTED_EMAILS)
def test_an_ordinary_contact_is_accepted(value):
    assert caddy.acme_email_problem(value) is None


def test_the_pinned_caddy_starts_with_every_accepted_contact(tmp_path):
    """`caddy validate` provisions the ACME issuer, which expands the contact and refuses it on an unknown
    placeholder; the control shows this Caddy does refuse one."""
    def validates(email: str) -> bool:
        text = f"{{\n\tadmin off\n\temail {caddy.quoted(email)}\n}}\nshop.chmedia.com {{\n\trespond ok\n}}\n"
        return run_caddy("validate", text, tmp_path, expect_ok=False).returncode == 0

    assert not validates("a{nope}@chmedia.com"), "the control: Caddy refuses a contact with an unknown placeholder"
    assert [e for e in ACCEPTED_EMAILS if not validates(e)] == []
