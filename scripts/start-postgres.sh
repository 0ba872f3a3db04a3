#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL server for the test suite.
#
#   eval "$(scripts/start-postgres.sh)"     # start; prints: export TRUSTFACE_TEST_PG=...
#   scripts/start-postgres.sh stop          # stop it and delete its data
#
# Idempotent. Meant for a fresh Debian 12 machine (CI) run as root, where it installs Debian's
# `postgresql` package if the server binaries are missing; also works as the postgres user or any
# user who owns PGDATA. The cluster uses trust auth and listens on 127.0.0.1 only; nothing in it
# survives `stop`. Environment: PGPORT (default 5433), PGDATA (default /tmp/trustface-pg/data).
set -euo pipefail

PORT="${PGPORT:-5433}"
BASE="${TRUSTFACE_PG_BASE:-/tmp/trustface-pg}"
DATA="${PGDATA:-$BASE/data}"
LOG="$BASE/server.log"

find_bindir() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "start-postgres: PostgreSQL server binaries not found and not root; apt-get install postgresql" >&2
    exit 1
  fi
  echo "start-postgres: installing postgresql (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BINDIR="$(find_bindir)"
fi

# Run server commands as `postgres` when we are root (initdb refuses to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else
    "$@"
  fi
}

if [ "${1:-start}" = "stop" ]; then
  if [ -f "$DATA/PG_VERSION" ]; then
    as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
  fi
  rm -rf "$BASE"
  echo "start-postgres: stopped and removed $BASE" >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir "$BASE" --shell /bin/sh postgres
fi

mkdir -p "$BASE"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$BASE"; fi

if [ ! -f "$DATA/PG_VERSION" ]; then
  as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2 \
    || as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
fi

if as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  echo "start-postgres: already running on 127.0.0.1:$PORT" >&2
else
  # throwaway test server: no fsync, sockets in $BASE, TCP on loopback only
  as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$BASE -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
    start >&2
fi

echo "export TRUSTFACE_TEST_PG=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
