#!/usr/bin/env bash
# The demo: install what is missing, build, install, start (or reuse) a
# throwaway cluster, CREATE EXTENSION bandit, and run 20,000 rounds of
# simulated Bernoulli traffic through bandit_select / bandit_reward.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
DB=${BANDIT_DEMO_DB:-bandit_demo}
psql_db -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql_db -d postgres -c "CREATE DATABASE $DB"
psql_db -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS bandit"
psql_db -d "$DB" -c "ALTER EXTENSION bandit UPDATE" 2>/dev/null || true
log "running the demo (20,000 rounds)"
psql -X -v ON_ERROR_STOP=1 -d "$DB" -f "$BANDIT_ROOT/scripts/demo.sql"
