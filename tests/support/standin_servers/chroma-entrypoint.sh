#!/bin/bash
# What chroma-core/chroma's bin/docker_entrypoint.sh (tag 0.6.3) does, for the Chroma stand-in, which runs
# Chroma 0.6.3 itself: persistence on (IS_PERSISTENT=1), CHROMA_SERVER_NOFILE defaulting to 65536; the
# arguments are one string that is expanded once more (the image's CMD names ${CHROMA_*} variables);
# when they start with `uvicorn` they are the whole command, else they are uvicorn's for chromadb.app:app.
set -e
export IS_PERSISTENT=1
export CHROMA_SERVER_NOFILE="${CHROMA_SERVER_NOFILE:-65536}"
args="$*"
expanded=$(eval echo "$args")
if [[ $args =~ ^uvicorn ]]; then
    echo "Starting server with args: $expanded"
    # shellcheck disable=SC2086 # word splitting of the expanded arguments is the official behaviour
    exec $expanded
fi
echo "Starting 'uvicorn chromadb.app:app' with args: $expanded"
# shellcheck disable=SC2086
exec uvicorn chromadb.app:app $expanded
