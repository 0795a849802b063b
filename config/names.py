"""Names berth gives things on the Docker host, in one place so components and renderers agree."""

from __future__ import annotations


def app_network(app: str) -> str:
    return f"berth-{app}"


def edge_network(app: str) -> str:
    """The network an app shares with the proxy: only its routed services join it."""
    return f"berth-{app}-edge"


def edge_alias(app: str, service: str, replica: int | None = None) -> str:
    """How the proxy finds a service: app-qualified, because the proxy sits on every app's edge network."""
    return f"{app}-{service}" + (f"-{replica}" if replica is not None else "")


def replica_numbers(replicas: int) -> list[int | None]:
    """One container is just `<app>-<service>`; several are `-1`, `-2`, ..."""
    return [None] if replicas == 1 else list(range(1, replicas + 1))


def volume(app: str, name: str) -> str:
    """Docker volume name: `chatbot_chroma`, as in the seed's migration plan."""
    return f"{app}_{name}".replace("-", "_")


def site_volume(app: str, service: str) -> str:
    return volume(app, f"{service}_site")


def site_root(app: str, service: str) -> str:
    """Where the proxy finds a static service's files."""
    return f"/srv/sites/{app}-{service}"


def redis(app: str) -> str:
    """An app's own Redis: its container (found as `redis` on the app's data network)."""
    return f"{app}-redis"


def redis_volume(app: str) -> str:
    """Where a Redis in `store` mode keeps its append-only file."""
    return volume(app, "redis")
