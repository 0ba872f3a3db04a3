#!/usr/bin/env bash
# Stop the throwaway test PostgreSQL server started by scripts/start-postgres.sh and delete its data.
exec "$(dirname "$0")/start-postgres.sh" stop
