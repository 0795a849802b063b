"""Which services of an app call which others: the app's call graph.

A service calls another when it says so (`dependsOn`) or when its environment names the other's
alias (`http://ai-engine:8000`, `ai-engine:8000`): the same aliases the app's network resolves on
one host. Only servers with a port can be called. On ECS this graph orders the first deploy (a
caller starts after what it calls, so it can resolve it) and sizes each hop's timeouts.
"""

from __future__ import annotations

import re
from graphlib import TopologicalSorter

from config.app import App


def _names_alias(value: str, name: str, port: int) -> bool:
    """`value` reaches `name` by its alias: `name:port`, or a URL whose host is `name`."""
    alias = re.escape(name)
    return bool(re.search(rf"(?<![\w.-]){alias}:{port}(?!\d)", value)
                or re.search(rf"//(?:[^/@\s]*@)?{alias}(?![\w.-])", value))


def callees(app: App) -> dict[str, set[str]]:
    """service -> the services of the app it calls.

    `dependsOn` first (the app refuses circles there). An alias in the env adds a call unless it would
    close a circle: a name in a variable may say something else (Ollama's `OLLAMA_ORIGINS:
    http://api:8000` names the caller it admits). Two services naming each other and neither
    depending on the other say nothing about who calls whom: neither is taken.
    """
    servers = {n: s.port for n, s in app.services.items() if s.kind == "server" and s.port}
    graph = {name: {d for d in svc.depends_on if d in servers} for name, svc in app.services.items()}
    named = {(name, other) for name, svc in app.services.items() for other, port in servers.items()
             if other != name and any(_names_alias(v, other, port) for v in svc.env.values())}
    for name, other in sorted(named):
        if (other, name) not in named and not _reaches(graph, other, name):
            graph[name].add(other)
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def call_order(app: App) -> list[str]:
    """Every service after the ones it calls."""
    return list(TopologicalSorter(callees(app)).static_order())
