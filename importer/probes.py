"""What berth knows of well-known images without asking a registry: the port each listens on and a
healthcheck that works in it (the image's own HEALTHCHECK where it has one; else a probe with a tool
the image ships). Each entry names where the fact comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

from importer.images import OWN_POSTGRES
from rules.images import repository


# Ports that carry no HTTP (mail, DNS, databases, brokers, VPNs, game servers, log shippers): never a
# route, never an HTTP healthcheck. berth's proxy carries HTTP and HTTPS only.
NON_HTTP_PORTS = {21, 22, 23, 25, 53, 110, 143, 389, 465, 514, 587, 636, 993, 995, 1433, 1812, 1813, 1883, 2181,
                  3306, 3478, 4369, 5044, 5222, 5269, 5349, 5432, 5672, 6379, 8883, 9092, 11211, 19132, 25565,
                  25575, 27017, 51820}


@dataclass(frozen=True)
class Probe:
    port: int | None = None
    check: dict | None = None  # a berth healthcheck: {path, probe} or {command}
    source: str = ""  # where the port and the check come from
    env: dict[str, str] | None = None  # settings the check needs (a health endpoint the image leaves off)


def _tcp(port: int, path: str) -> list[str]:
    """An HTTP GET with bash's /dev/tcp, for images with bash but neither curl nor wget."""
    return ["bash", "-c", f'exec 3<>/dev/tcp/127.0.0.1/{port} && printf "GET {path} HTTP/1.0\\r\\n\\r\\n" >&3 '
                          '&& read -r status <&3 && [[ $status == *" 200 "* ]]']


MARIADB = Probe(3306, {"command": ["sh", "-c", "healthcheck.sh --connect --innodb_initialized 2>/dev/null || "
                                               "mariadb-admin ping -h 127.0.0.1 --silent 2>/dev/null || "
                                               "mysqladmin ping -h 127.0.0.1 --silent"]},
                "MariaDB's image ships healthcheck.sh (mariadb.com docs, 'Using Healthcheck.sh'; its healthcheck user "
                "since 2023-06-27); data older than that, or an older image: mariadb-admin/mysqladmin ping, which "
                "exits 0 whenever the server answers")
MYSQL = Probe(3306, {"command": ["mysqladmin", "ping", "-h", "127.0.0.1", "--silent"]},
              "MySQL manual, mysqladmin: ping exits 0 when the server runs, even if it refuses the login")
MONGO = Probe(27017, {"command": ["sh", "-c", "mongosh --quiet --eval 'db.adminCommand(\"ping\").ok' || "
                                              "mongo --quiet --eval 'db.adminCommand(\"ping\").ok'"]},
              "the mongo shell of its image: mongosh since MongoDB 6.0, mongo before")
N8N = Probe(5678, {"path": "/healthz", "probe": "node"}, "n8n's /healthz (n8n docs, monitoring); node runs n8n")
AUTHENTIK = Probe(9000, {"command": ["ak", "healthcheck"], "startPeriodS": 60},
                  "the HEALTHCHECK of authentik's image (its Dockerfile: CMD [\"ak\", \"healthcheck\"])")
CALCOM = Probe(3000, {"path": "/", "probe": "wget"}, "calcom/docker's Dockerfile HEALTHCHECK (wget :3000)")
ZULIP = Probe(80, {"path": "/health", "probe": "curl", "startPeriodS": 300},
              "docker-zulip's Dockerfile HEALTHCHECK (curl http://localhost/health)")
LANGFUSE = Probe(3000, {"path": "/api/public/health", "probe": "wget"},
                 "Langfuse's /api/public/health; its image is Alpine (busybox wget)")
LANGFUSE_WORKER = Probe(3030, {"path": "/api/health", "probe": "wget"},
                        "Langfuse's worker: /api/health on 3030 (worker/Dockerfile, src/env.ts)")

PROBES: dict[str, Probe] = {
    "qdrant/qdrant": Probe(6333, {"command": _tcp(6333, "/readyz")},
                           "qdrant/qdrant's image has no curl (qdrant docs, Monitoring: /readyz); apps/*.yaml use it"),
    "chromadb/chroma": Probe(8000, {"path": "/api/v2/heartbeat", "probe": "python"}, "Chroma's API; apps/rag.yaml"),
    "ollama/ollama": Probe(11434, {"command": ["ollama", "list"]}, "the ollama CLI in its image; apps/rag.yaml"),
    "mariadb": MARIADB, "mysql": MYSQL, "mongo": MONGO, "mongodb/mongodb-community-server": MONGO,
    "rabbitmq": Probe(5672, {"command": ["rabbitmq-diagnostics", "-q", "ping"]},
                      "RabbitMQ docs, Monitoring: health checks (rabbitmq-diagnostics ping)"),
    "getmeili/meilisearch": Probe(7700, {"path": "/health", "probe": "curl"},
                                  "Meilisearch's GET /health; its Dockerfile installs curl"),
    "ghcr.io/immich-app/immich-server": Probe(2283, {"command": ["immich-healthcheck"]},
                                              "the HEALTHCHECK of Immich's server image (server/Dockerfile)"),
    "ghcr.io/immich-app/immich-machine-learning": Probe(
        3003, {"path": "/ping", "probe": "python"}, "Immich's ML server answers GET /ping (machine-learning/"
                                                    "immich_ml/main.py) on 3003 (IMMICH_MACHINE_LEARNING_URL)"),
    "ghcr.io/goauthentik/server": AUTHENTIK, "goauthentik/server": AUTHENTIK,
    "n8nio/n8n": N8N, "docker.n8n.io/n8nio/n8n": N8N,
    "n8nio/runners": Probe(5680, {"path": "/healthz", "probe": "node"},
                           "n8n task runners: the launcher's /healthz on 5680 (N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT)"),
    # the HEALTHCHECK (or health endpoint and tool) of each project's own Dockerfile, read at the commit its
    # docs/import.md corpus row names
    "ghcr.io/paperless-ngx/paperless-ngx": Probe(8000, {"path": "/", "probe": "curl"},
                                                 "paperless-ngx's Dockerfile HEALTHCHECK (curl localhost:8000)"),
    "louislam/uptime-kuma": Probe(3001, {"command": ["extra/healthcheck"], "startPeriodS": 180},
                                  "Uptime Kuma's docker/dockerfile HEALTHCHECK (extra/healthcheck)"),
    "ghcr.io/linkwarden/linkwarden": Probe(3000, {"path": "/", "probe": "curl"},
                                           "Linkwarden's Dockerfile HEALTHCHECK (curl 127.0.0.1:3000/)"),
    "ghcr.io/karakeep-app/karakeep": Probe(3000, {"path": "/api/health", "probe": "wget"},
                                           "Karakeep's docker/Dockerfile HEALTHCHECK (wget /api/health)"),
    "quay.io/hedgedoc/hedgedoc": Probe(3000, {"command": ["node", "healthcheck.mjs"]},
                                       "HedgeDoc's container Dockerfile HEALTHCHECK (node healthcheck.mjs)"),
    "calcom/cal.com": CALCOM, "calcom.docker.scarf.sh/calcom/cal.com": CALCOM,
    "ghcr.io/zulip/zulip-server": ZULIP, "zulip/docker-zulip": ZULIP,
    "outlinewiki/outline": Probe(3000, {"path": "/_health", "probe": "wget"},
                                 "Outline's Dockerfile HEALTHCHECK (wget localhost:3000/_health)"),
    "sissbruecker/linkding": Probe(9090, {"path": "/health", "probe": "curl"},
                                   "linkding's docker/default.Dockerfile HEALTHCHECK (curl :9090/health)"),
    "docmost/docmost": Probe(3000, {"path": "/api/health", "probe": "curl"},
                             "Docmost's /api/health (apps/server); its Dockerfile installs curl"),
    "listmonk/listmonk": Probe(9000, {"path": "/health", "probe": "wget"},
                               "listmonk's GET /health (cmd/handlers.go); its image is Alpine (busybox wget)"),
    "langfuse/langfuse": LANGFUSE, "docker.langfuse.com/langfuse/langfuse": LANGFUSE,
    "langfuse/langfuse-worker": LANGFUSE_WORKER, "docker.langfuse.com/langfuse/langfuse-worker": LANGFUSE_WORKER,
    "elasticsearch": Probe(9200, None, "Elasticsearch's HTTP port"),
    "clickhouse/clickhouse-server": Probe(8123, None, "ClickHouse's HTTP port"),
    "memcached": Probe(11211, None, "memcached's default port"),
    "minio/minio": Probe(9000, None, "MinIO's S3 port"),
    "nats": Probe(4222, None, "NATS's client port (its image has no shell: no check berth can run in it)"),
}
# A Postgres the app keeps as its own service (importer/images.py OWN_POSTGRES): pg_isready ships with
# every Postgres image (PostgreSQL docs, pg_isready), as its user the image's POSTGRES_USER.
POSTGRES = Probe(5432, {"command": ["sh", "-c", 'pg_isready -h 127.0.0.1 -U "${POSTGRES_USER:-postgres}"'],
                        "startPeriodS": 30}, "pg_isready, which every Postgres image ships")
PROBES.update({name: POSTGRES for name in OWN_POSTGRES})

# Checks that depend on what the service runs: an n8n worker answers /healthz only when told to.
COMMAND_PROBES: dict[tuple[str, str], Probe] = {
    ("n8n", "worker"): Probe(5678, {"path": "/healthz", "probe": "node"},
                             "n8n docs, queue mode: a worker serves /healthz when QUEUE_HEALTH_CHECK_ACTIVE is true",
                             {"QUEUE_HEALTH_CHECK_ACTIVE": "true"}),
}
# Images with no shell: no command berth could guess runs in them.
NO_SHELL = ("nats", "postgrest/postgrest", "gcr.io/distroless/static")


def known(ref: str, command: list[str] | None = None) -> Probe | None:
    if not ref:
        return None
    repo = repository(ref)
    words = set(command or [])
    for (name, word), probe in COMMAND_PROBES.items():
        if repo.rsplit("/", 1)[-1] == name and word in words:
            return probe
    return PROBES.get(repo)
