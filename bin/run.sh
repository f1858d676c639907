#!/bin/sh
# Serve the transactional key-value store alone, at the root, on localhost:4000
# (GET /<key>, POST /set, DELETE /set, POST /commit). Data is kept between runs
# in ./kv-data (or $FILESTORAGED_DATA_DIR).
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/bin/filestoraged" --kv-at-root --host 127.0.0.1 --port 4000 \
    --data-dir "${FILESTORAGED_DATA_DIR:-$here/kv-data}" "$@"
