#!/usr/bin/env bash
# Stand-in for qdrant/qdrant's entrypoint.sh: serves HTTP on 6333 (/readyz, /healthz), storage under
# /qdrant/storage; it writes the "initialized" marker where QDRANT_INIT_FILE_PATH says (by default
# beside its binary, which fails on a read-only root as Qdrant does).
set -e
marker="${QDRANT_INIT_FILE_PATH:-/qdrant/.qdrant-initialized}"
touch "$marker"
export STANDIN_PORT=6333 STANDIN_DATA_DIR=/qdrant/storage
exec /opt/standin/bin/python3 /opt/standin/server.py
