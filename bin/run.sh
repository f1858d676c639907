#!/bin/sh
# Serve the transactional key-value store alone, at the root, on localhost:4000
# (GET /<key>, POST /set, DELETE /set, POST /commit). Data is kept between runs
# in $FILESTORAGED_DATA_DIR, else ~/.local/share/filestoraged/kv (never in the
# checkout).
here=$(cd "$(dirname "$0")/.." && pwd)
data="${FILESTORAGED_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/filestoraged/kv}"
mkdir -p "$data"
exec "$here/bin/filestoraged" --kv-at-root --host 127.0.0.1 --port 4000 --data-dir "$data" "$@"
