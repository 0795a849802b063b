"""Which images the importer recognises: Postgres and Redis under their many names (berth's shared
Postgres and the app's own Redis replace them), the proxies berth's proxy replaces, and data servers
that stay inside the app.

Whether a reference is pinned is berth's one rule (rules/images.py), the same one prod's config applies.
"""

from __future__ import annotations

import re

from rules.images import repository

# Postgres images berth's shared Postgres stands in for (a database and role of the app's own); so does
# any image whose name says it is Postgres and is not below.
POSTGRES_IMAGES = ("postgres", "bitnami/postgresql")
# Postgres built for what berth's shared Postgres does not give an app: an extension outside the trusted
# ones berth creates (rules/postgres.py EXTENSIONS, docs/trust.md), or its own roles and set-up. The app
# keeps it as a service of its own, its settings untouched.
OWN_POSTGRES = {"supabase/postgres": "its own roles, schemas and superuser-only set-up",
                "postgis/postgis": "the postgis extension", "kartoza/postgis": "the postgis extension",
                "ghcr.io/baosystems/postgis": "the postgis extension", "pgvector/pgvector": "the vector extension",
                "ankane/pgvector": "the vector extension", "timescale/timescaledb": "the timescaledb extension",
                "timescale/timescaledb-ha": "the timescaledb extension",
                "tensorchord/pgvecto-rs": "the vectors extension",
                "ghcr.io/immich-app/postgres": "the vchord and vectors extensions",
                "zulip/zulip-postgresql": "the text-search dictionaries Zulip's search uses",
                "citusdata/citus": "the citus extension", "paradedb/paradedb": "the pg_search extension"}
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
    (`<vendor>/postgres`), but not one the app keeps (`own_postgres`)."""
    if not ref or own_postgres(ref):
        return False
    return is_one_of(ref, POSTGRES_IMAGES) or re.fullmatch(r"(.+-)?postgres(ql)?", _last(ref)) is not None


def own_postgres(ref: str) -> str | None:
    """What a Postgres image brings that berth's shared Postgres cannot give an app, when it does."""
    return OWN_POSTGRES.get(repository(ref)) if ref else None


def is_redis(ref: str) -> bool:
    """Redis or an image that speaks its protocol under another name (Valkey, KeyDB, Dragonfly, Redis Stack)."""
    if not ref:
        return False
    return is_one_of(ref, REDIS_IMAGES) or re.fullmatch(r"(.+-)?(redis|valkey|keydb)", _last(ref)) is not None
