"""Which image references berth accepts as they are, and what the shared services replace.

berth deploys what a reviewer saw: a digest, or a tag naming one release (`1.15.5`, `v2.1.4`, a git
SHA). `latest`, no tag, and tags that move with every release (`7-alpine`, `15`, `alpine`) are refused.
"""

from __future__ import annotations

import re

POSTGRES_IMAGES = ("postgres", "bitnami/postgresql", "postgis/postgis", "pgvector/pgvector", "timescale/timescaledb")
REDIS_IMAGES = ("redis", "bitnami/redis", "valkey/valkey", "redis/redis-stack-server")
PROXY_IMAGES = ("nginx", "caddy", "traefik", "haproxy", "httpd", "nginxinc/nginx-unprivileged", "jwilder/nginx-proxy")
# Data and model servers that are never reachable from outside in berth (their Compose ports were
# published for convenience): they stay inside the app, with no route.
INTERNAL_IMAGES = ("qdrant/qdrant", "chromadb/chroma", "ollama/ollama", "mongo", "mysql", "mariadb", "memcached",
                   "elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch", "opensearchproject/opensearch",
                   "clickhouse/clickhouse-server", "rabbitmq", "minio/minio", "bitnami/kafka", "confluentinc/cp-kafka",
                   "getsentry/snuba", "mailhog/mailhog", "axllent/mailpit")


def repository(ref: str) -> str:
    """`docker.io/library/redis:7-alpine` -> `redis`; `ghcr.io/x/y:1@sha256:..` -> `ghcr.io/x/y`."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"):
        name = name.removeprefix(prefix)
    return name


def tag(ref: str) -> str | None:
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def is_pinned(ref: str) -> bool:
    """A digest, or a tag naming one release: three version numbers, a date or a commit SHA."""
    if "@sha256:" in ref:
        return True
    value = tag(ref)
    if not value or value == "latest":
        return False
    return bool(re.match(r"v?\d+\.\d+\.\d+", value) or re.fullmatch(r"[0-9a-f]{7,40}", value)
                or re.match(r"\d{4}[.-]\d{2}[.-]\d{2}", value) or re.match(r"RELEASE\.\d{4}-", value))


def pin_fix(ref: str) -> str:
    """What to do about an unpinned reference."""
    repo = repository(ref)
    shown = tag(ref) or "no tag (latest)"
    return (f"{ref!r} is not pinned ({shown} moves with every release), so berth did not copy it. Pin the "
            f"release you run today: `docker image inspect --format '{{{{index .RepoDigests 0}}}}' {ref}` on the "
            f"host prints {repo}@sha256:..., or pick its exact version tag (e.g. {repo}:1.2.3) from the image's "
            f"release notes, and set `image:` here")


def is_one_of(ref: str, names: tuple[str, ...]) -> bool:
    return repository(ref) in names
