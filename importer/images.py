"""Which images the importer recognises: Postgres and Redis under their many names (berth's shared
Postgres and the app's own Redis replace them), the proxies berth's proxy replaces, and data servers
that stay inside the app.

Whether a reference is pinned is berth's one rule (rules/images.py), the same one prod's config applies.
"""

from __future__ import annotations

import re

from rules.images import repository

# Postgres images berth's shared Postgres stands in for: a database and role of the app's own, the
# image's extensions listed in `database.extensions` (and its image in berth:shared.postgres.image).
POSTGRES_IMAGES = ("postgres", "bitnami/postgresql", "postgis/postgis", "pgvector/pgvector", "timescale/timescaledb",
                   "timescale/timescaledb-ha", "tensorchord/pgvecto-rs", "ghcr.io/immich-app/postgres",
                   "ankane/pgvector", "zulip/zulip-postgresql", "kartoza/postgis", "citusdata/citus",
                   "paradedb/paradedb", "ghcr.io/baosystems/postgis")
# Postgres the app needs more of than a database and a role: its own roles, schemas and superuser-only
# set-up at first start (Supabase's). It stays a service of the app, its settings untouched.
OWN_POSTGRES_IMAGES = ("supabase/postgres",)
# Redis and what speaks its protocol: the app's own Redis (berth:shared.redis.image) stands in.
REDIS_IMAGES = ("redis", "bitnami/redis", "valkey/valkey", "bitnami/valkey", "redis/redis-stack",
                "redis/redis-stack-server", "redislabs/redismod", "eqalpha/keydb", "ghcr.io/dragonflydb/dragonfly",
                "docker.dragonflydb.io/dragonflydb/dragonfly")
# Redis with modules (search, JSON, time series) that berth's default Redis image lacks.
REDIS_MODULE_IMAGES = ("redis/redis-stack", "redis/redis-stack-server", "redislabs/redismod")
PROXY_IMAGES = ("nginx", "caddy", "traefik", "haproxy", "httpd", "nginxinc/nginx-unprivileged", "jwilder/nginx-proxy",
                "nginxproxy/nginx-proxy", "lucaslorentz/caddy-docker-proxy")
# Companions of a replaced proxy that obtain its certificates: berth's proxy obtains its own.
CERTIFICATE_IMAGES = ("nginxproxy/acme-companion", "jrcs/letsencrypt-nginx-proxy-companion", "certbot/certbot")
# Data and model servers that are never reachable from outside in berth (their Compose ports were
# published for convenience): they stay inside the app, with no route.
INTERNAL_IMAGES = ("qdrant/qdrant", "chromadb/chroma", "ollama/ollama", "mongo", "mongodb/mongodb-community-server",
                   "mysql", "mariadb", "memcached", "elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch",
                   "opensearchproject/opensearch", "clickhouse/clickhouse-server", "rabbitmq", "minio/minio",
                   "bitnami/kafka", "confluentinc/cp-kafka", "getsentry/snuba", "mailhog/mailhog", "axllent/mailpit",
                   "getmeili/meilisearch", "apache/tika", "gotenberg/gotenberg", "mcr.microsoft.com/mssql/server",
                   "mcr.microsoft.com/azure-sql-edge", "zookeeper", "confluentinc/cp-zookeeper", "nats",
                   "cgr.dev/chainguard/minio", "typesense/typesense", "greenmail/standalone",
                   "docker.redpanda.com/redpandadata/redpanda", "redpandadata/redpanda",
                   "docker.redpanda.com/vectorized/redpanda")


def is_one_of(ref: str, names: tuple[str, ...]) -> bool:
    return repository(ref) in names


def _last(ref: str) -> str:
    return repository(ref).rsplit("/", 1)[-1]


def is_postgres(ref: str) -> bool:
    """Postgres berth's shared Postgres replaces: a known image, or one whose name says it is Postgres
    (`<vendor>/postgres`, `zulip-postgresql`), but not one the app keeps (`supabase/postgres`)."""
    if not ref or is_one_of(ref, OWN_POSTGRES_IMAGES):
        return False
    return is_one_of(ref, POSTGRES_IMAGES) or re.fullmatch(r"(.+-)?postgres(ql)?", _last(ref)) is not None


def is_redis(ref: str) -> bool:
    """Redis or an image that speaks its protocol under another name (Valkey, KeyDB, Dragonfly, Redis Stack)."""
    if not ref:
        return False
    return is_one_of(ref, REDIS_IMAGES) or re.fullmatch(r"(.+-)?(redis|valkey|keydb)", _last(ref)) is not None
