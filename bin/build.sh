#!/bin/sh
# Prepare filestoraged to run from this checkout: check the Python version and
# byte-compile the package. Nothing to install: the daemon needs only the
# standard library (pymemcache only for the memcached backend).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
python3 -c 'import sys; assert sys.version_info >= (3, 9), "filestoraged needs Python 3.9 or newer"'
python3 -m compileall -q "$here/filestoraged"
echo "filestoraged is ready: bin/run.sh serves the key-value store on http://localhost:4000"
