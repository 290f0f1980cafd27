#!/bin/sh
# The main job of `make run`: the capture server on embedded defaults
# (SQLite store and uploaded data under ./data, in-process workers, the
# fetched models in ./models), bound to 127.0.0.1. Ctrl-C or SIGTERM stops
# it gracefully. KINEMA_PORT and KINEMA_DATA override the port and folder.
set -eu
cd "$(dirname "$0")/.."
bin=${KINEMA:-build/kinema}
port=${KINEMA_PORT:-8000}
data=${KINEMA_DATA:-data}
echo "kinema serve on http://127.0.0.1:$port (data in $data/, models in models/); Ctrl-C stops it"
echo "try: curl -s http://127.0.0.1:$port/health"
exec "$bin" serve --host 127.0.0.1 --port "$port" --data "$data" --models models
