#!/usr/bin/env bash
# Runs the whole test suite: SQLite always, PostgreSQL on a throwaway local server.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/start-postgres.sh ]; then
  eval "$(scripts/start-postgres.sh)"
  trap 'scripts/start-postgres.sh stop >/dev/null 2>&1 || true' EXIT
fi
.venv/bin/pytest "$@"
