"""The order an app's routes are tried in, on one host (Caddy's `handle` blocks) and on ECS (the load
balancer's listener-rule priorities) alike: the most specific path prefix first, `/` last, so a longer
prefix is never shadowed by a shorter one that also matches."""

from __future__ import annotations


def route_precedence(path: str) -> tuple[bool, int, str]:
    """Sort key of a route's path prefix: `/` after every other, longer prefixes before shorter ones."""
    return path == "/", -len(path.rstrip("/")), path
