"""An app's values reach the proxy's Caddyfile as text, never as Caddy syntax or placeholders.

Caddy 2.10.2 expands `{file.…}`, `{env.…}` and request placeholders in header values: rendered verbatim,
one app's Content-Security-Policy served every app's TLS key to anyone. Each case below is served by
the pinned Caddy from the file berth renders, beside a control (the value as berth used to render it)
that shows this Caddy would have expanded it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from config.app import Headers
from render import caddyfile
from render.caddyfile import ProxyPlan, Rule, Site
from tests.support.app_files import MINIMAL, load_app, one_problem
from tests.support.caddy_server import Caddy, free_port

SECRET = "-----BEGIN PRIVATE KEY----- the proxy's own"


def hostile_policy(secret_file: Path) -> str:
    return (f"default-src 'self'; report-uri /r?key={{file.{secret_file}}}&path={{env.PATH}}&host={{system.hostname}}"
            "&cookie={http.request.header.Cookie}{header.Cookie}{path}")


def static_sites(plan: ProxyPlan, root: Path) -> ProxyPlan:
    """The plan's sites and headers, each serving a local directory (no upstream needed to see headers)."""
    rule = Rule("/", max_body_mb=1, static_root=str(root))
    return dataclasses.replace(plan, sites=tuple(dataclasses.replace(s, rules=(rule,)) for s in plan.sites))


@contextlib.contextmanager
def serving(text: str, workdir: Path):
    workdir.mkdir(parents=True, exist_ok=True)
    proxy = Caddy(text, workdir, free_port())
    try:
        yield proxy
    finally:
        proxy.stop()


def served_policy(proxy: Caddy, host: str) -> str:
    status, headers, _ = proxy.get(host, "/index.html", headers={"Cookie": "session=victim"})
    assert status == 200
    return headers["content-security-policy"]


@pytest.mark.servers
def test_a_header_from_an_app_file_is_served_as_written_never_expanded(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<p>shop</p>")
    secret = tmp_path / "tls.key"
    secret.write_text(SECRET)
    policy = hostile_policy(secret)
    deployment = load_app(tmp_path / "project", {**MINIMAL, "headers": {"contentSecurityPolicy": policy}})
    verbatim = (f'{{\n\tadmin off\n}}\n:80 {{\n\trespond /health "healthy" 200\n}}\nhttp://shop.localhost {{\n'
                f'\theader Content-Security-Policy "{policy}"\n\troot * {tmp_path / "site"}\n\tfile_server\n}}\n')
    with serving(verbatim, tmp_path / "control") as proxy:
        control = served_policy(proxy, "shop.localhost")
    assert SECRET in control and "/usr/bin:/bin" in control and "session=victim" in control, (
        f"the control: this Caddy expands placeholders in a verbatim header value ({control!r})")
    text = caddyfile.render(static_sites(caddyfile.plan(deployment), tmp_path / "site"))
    with serving(text, tmp_path / "rendered") as proxy:
        assert served_policy(proxy, "shop.localhost") == policy


@pytest.mark.parametrize("policy, problem", [
    ("default-src {$CADDYFILE:none}", "has '{$', which the proxy replaces with one of its environment variables"),
    ("default-src \\{file./etc/shadow}", "has a backslash"),
    ("default-src 'self'\nreport-uri /r", "has a line break"),
])
def test_a_header_value_that_cannot_be_literal_is_refused_with_its_path(tmp_path, policy, problem):
    assert one_problem(tmp_path, {**MINIMAL, "headers": {"contentSecurityPolicy": policy}}).startswith(
        f"apps/shop.yaml: headers.contentSecurityPolicy: {policy!r} {problem}")


PIECES = st.sampled_from(["{", "}", "{file./etc/hostname}", "{env.PATH}", "{$", "\\", '"', "'", "#", "`", "<<EOF", " ",
                          "{path}", "{http.request.uri}", ";", "$", "{system.wd}"])
VALUES = st.lists(PIECES | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=6),
                  min_size=1, max_size=6).map("".join)


@pytest.mark.servers
@settings(max_examples=20, deadline=None, database=None)
@given(values=st.lists(VALUES, min_size=20, max_size=20, unique=True))
def test_every_header_value_the_config_accepts_is_served_literally(tmp_path_factory, values):
    """The model's rule and the renderer's escaping agree with the pinned Caddy: what `Headers` accepts
    comes back byte for byte (one proxy serves each batch, a site per value)."""
    accepted = []
    for value in values:
        try:
            accepted.append(Headers.model_validate({"contentSecurityPolicy": value}))
        except ValueError:
            continue
    workdir = tmp_path_factory.mktemp("literal")
    (workdir / "site").mkdir()
    (workdir / "site" / "index.html").write_text("x")
    sites = tuple(Site(f"s{i}.localhost", (), caddyfile.Headers(content_security_policy=h.content_security_policy))
                  for i, h in enumerate(accepted))
    with serving(caddyfile.render(static_sites(ProxyPlan(sites=sites, tls=False), workdir / "site")), workdir) as proxy:
        served = [served_policy(proxy, f"s{i}.localhost") for i in range(len(accepted))]
    assert served == [h.content_security_policy for h in accepted]
