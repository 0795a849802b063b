"""Which images the importer recognises: the shared services it replaces, proxies, internal servers.

Whether a reference is pinned is berth's one rule (rules/images.py), the same one prod's config applies.
"""

from __future__ import annotations

from rules.images import repository

POSTGRES_IMAGES = ("postgres", "bitnami/postgresql", "postgis/postgis", "pgvector/pgvector", "timescale/timescaledb")
REDIS_IMAGES = ("redis", "bitnami/redis", "valkey/valkey", "redis/redis-stack-server")
PROXY_IMAGES = ("nginx", "caddy", "traefik", "haproxy", "httpd", "nginxinc/nginx-unprivileged", "jwilder/nginx-proxy")
# Data and model servers that are never reachable from outside in berth (their Compose ports were
# published for convenience): they stay inside the app, with no route.
INTERNAL_IMAGES = ("qdrant/qdrant", "chromadb/chroma", "ollama/ollama", "mongo", "mysql", "mariadb", "memcached",
                   "elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch", "opensearchproject/opensearch",
                   "clickhouse/clickhouse-server", "rabbitmq", "minio/minio", "bitnami/kafka", "confluentinc/cp-kafka",
                   "getsentry/snuba", "mailhog/mailhog", "axllent/mailpit")


def is_one_of(ref: str, names: tuple[str, ...]) -> bool:
    return repository(ref) in names
