#!/usr/bin/env bash
# `make run`: a demo deployment (one residential property, two gates) and the HTTP API in the
# foreground on 127.0.0.1:8000. The first run initialises ./trustface-demo and keeps its admin API
# key in trustface-demo/admin-api-key (mode 0600) so later runs can show it; later runs reuse the
# folder as it is. Start over with `rm -rf trustface-demo`.
#   TRUSTFACE_DEMO_DIR  the folder (default ./trustface-demo)
#   PORT                the port (default 8000); the service listens on 127.0.0.1 only
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${TRUSTFACE_DEMO_DIR:-trustface-demo}"
HOST=127.0.0.1
PORT="${PORT:-8000}"
KEY_FILE="$DIR/admin-api-key"
TF=.venv/bin/trustface

if [ -f "$DIR/trustface.key" ]; then
  echo "== reusing the demo deployment in $DIR (start over: rm -rf $DIR)"
  # a folder made by an earlier version: bring its schema to this version's (the server refuses an old one)
  "$TF" db upgrade --dir "$DIR"
else
  echo "== a fresh demo deployment in $DIR"
  "$TF" init --dir "$DIR" --demo --admin-key-file "$KEY_FILE" --json > "$DIR.init.json"
  TENANT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenant_id"])' "$DIR.init.json")
  rm -f "$DIR.init.json"
  # a console account for the property manager, with a fresh random password kept beside the key
  ( umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(12))' > "$DIR/console-password" )
  "$TF" user add --dir "$DIR" --tenant "$TENANT" --role admin --email manager@demo.example \
        --password-stdin < "$DIR/console-password" >/dev/null
fi

echo
echo "== trustface API:  http://$HOST:$PORT/docs"
if [ -f "$KEY_FILE" ]; then
  echo "   admin API key:  $(cat "$KEY_FILE")   (Authorization: Bearer <key>; kept in $KEY_FILE, mode 0600)"
else
  echo "   admin API key:  not stored in $DIR (it was shown once by \`trustface init\`)"
fi
if [ -f "$DIR/console-password" ]; then
  echo "== console:        http://$HOST:$PORT/console  (manager@demo.example / $(cat "$DIR/console-password"))"
fi
echo "   stop with Ctrl+C"
echo
exec "$TF" serve --dir "$DIR" --host "$HOST" --port "$PORT"
