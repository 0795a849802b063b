"""Which apps one Compose file holds. A berth app is one site (one host name) and what serves it.

A file is split when its nginx config serves several sites (one app per `server` block, with the
services its locations reach and what those depend on), or when its services fall into name groups
(`chatbot-frontend`, `chatbot-backend`, `mediahub-...`). Otherwise it is one app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from importer import nginx
from importer.errors import ImportFailed


@dataclass
class AppGroup:
    name: str
    services: dict[str, str]  # Compose service -> its name in the app (the app's prefix dropped)
    server: nginx.Server | None = None
    why: str = ""
    hostname: str | None = None  # a full host name the Compose setup served it at, when known


NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")


def app_name(text: str) -> str:
    """A berth name from anything: lowercase, '-' for other characters, starting with a letter."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "app-" + name
    return name[:31].rstrip("-")


def _dependencies(services: dict[str, dict], start: set[str], members: set[str]) -> set[str]:
    """`start` and every member service they depend on, or that depends on them (a worker of the API)."""
    found, changed = set(start), True
    while changed:
        changed = False
        for name in members - found:
            deps = set(services[name].get("depends_on") or {})
            needed_by = any(name in (services[f].get("depends_on") or {}) for f in found)
            if needed_by or deps & found:
                found.add(name)
                changed = True
    return found


def _short(service: str, app: str) -> str:
    for sep in ("-", "_"):
        if service.startswith(app + sep) and len(service) > len(app) + 1:
            return app_name(service[len(app) + 1:])
    return app_name(service)


def _label(names: list[str]) -> tuple[str | None, str | None]:
    """(app name, full host name) from a server_name such as mediahub.chmedia.com."""
    real = [n for n in names if not n.startswith(("*", "~")) and not PLACEHOLDER.search(n)]
    for name in real:
        if "." in name:
            return app_name(name.split(".")[0]), name
    return (app_name(real[0]), None) if real else (None, None)


PLACEHOLDER = re.compile(r"yourdomain|example\.|domain\.tld|mydomain")


def group(services: dict[str, dict], members: tuple[str, ...], servers: list[nginx.Server], default_name: str,
          wanted: str | None, database_name: str | None = None) -> list[AppGroup]:
    """The apps in the file. One app is named `wanted`, else after its database (which then keeps its
    name), else after the site nginx served, else `default_name` (the Compose project's)."""
    member_set = set(members)
    groups: list[AppGroup] = []
    routed_servers = [s for s in servers if {loc.service for loc in s.locations} & member_set]
    if len(routed_servers) > 1:
        taken: set[str] = set()
        for server in routed_servers:
            name, host = _label(server.names)
            reached = {loc.service for loc in server.locations if loc.service is not None} & member_set
            mine = _dependencies(services, reached, member_set) - taken
            taken |= mine
            name = name or app_name(sorted(mine)[0].split("-")[0])
            groups.append(AppGroup(name, {s: _short(s, name) for s in sorted(mine)}, server,
                                   f"nginx serves {', '.join(server.names) or 'a site'} from these services", host))
        rest = member_set - taken
        if rest:
            groups[0].services.update({s: _short(s, groups[0].name) for s in sorted(rest)})
    else:
        prefixes: dict[str, list[str]] = {}
        for name in members:
            prefixes.setdefault(re.split(r"[-_]", name, maxsplit=1)[0], []).append(name)
        if len(prefixes) > 1 and all(len(v) > 1 for v in prefixes.values()):
            for prefix, names in prefixes.items():
                groups.append(AppGroup(app_name(prefix), {s: _short(s, prefix) for s in sorted(names)}, None,
                                       f"the services named {prefix}-*"))
        else:
            routed = routed_servers[0] if routed_servers else None
            name, host = _label(routed.names) if routed else (None, None)
            groups.append(AppGroup(wanted or database_name or name or default_name, {s: app_name(s) for s in members}, routed,
                                   "the whole Compose file", host))
            return groups
    if wanted:
        chosen = [g for g in groups if g.name == wanted]
        if not chosen:
            raise ImportFailed(f"--app {wanted}: the Compose file holds the apps {', '.join(g.name for g in groups)}; "
                               "name one of them to import only it, or leave --app out to import all")
        return chosen
    return groups
