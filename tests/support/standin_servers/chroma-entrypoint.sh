#!/bin/bash
# Stand-in for chroma-core/chroma's docker_entrypoint.sh: the container's arguments are uvicorn's
# (`--workers 1 --host 0.0.0.0 --port 8000 ...`) unless they start with `uvicorn`; the stand-in server
# takes the port from them and persists under /chroma/chroma (IS_PERSISTENT).
export IS_PERSISTENT=1
export STANDIN_DATA_DIR="${PERSIST_DIRECTORY:-/chroma/chroma}"
exec /opt/standin/bin/python3 /opt/standin/server.py "$@"
