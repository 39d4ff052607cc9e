#!/usr/bin/env bash
# test/soak/soak.sh: the concurrency soak at full length.
#
# Runs test/soak/soak.py (the workload and checks that scripts/test.sh runs
# for 5 s as test/python/soak_short.py) against the throwaway cluster of
# scripts/lib.sh: 8 client processes select and reward for SOAK_SECONDS on
# seven online and batch experiments while another session runs
# bandit_refresh() every second; then every decision and reward the clients
# saw committed is in the log exactly once, nothing rolled back is, there was
# no deadlock and no unexpected error, and after a final bandit_refresh()
# every arm's posterior equals the aggregate of its reward log.  Prints TAP,
# the throughput figures as comments, and a last line
# "soak: N passed, N failed; T s"; exits 1 on any failure.
#
#   bash test/soak/soak.sh                           # 8 clients, 60 s
#   SOAK_SECONDS=600 SOAK_CLIENTS=16 bash test/soak/soak.sh
#   SKIP_BUILD=1 bash test/soak/soak.sh              # do not build and install, only start the cluster
#
# Environment: SOAK_SECONDS (60), SOAK_CLIENTS (8), SOAK_DB (bandit_soak,
# created and dropped), SOAK_SEED (from the clock, printed),
# SOAK_REFRESH_INTERVAL (1.0), SOAK_REWARD_ORDER (sorted | random), SOAK_KEEP
# (0; 1 keeps the database), SKIP_BUILD (0), and the libpq variables with
# BANDIT_OWN_SERVER=1 for a server of your own (as scripts/test.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ensure_packages
  build_and_install
fi
start_cluster
cd "$BANDIT_ROOT"

TAPFILE=$(mktemp /tmp/bandit-soak.XXXXXX.tap)
log "soak: ${SOAK_CLIENTS:-8} clients for ${SOAK_SECONDS:-60} s, TAP in $TAPFILE"
start=$(date +%s)
rc=0
/usr/bin/python3 test/soak/soak.py | tee "$TAPFILE" || rc=$?
p=$(grep -cE '^ok [0-9]+' "$TAPFILE" || true)
f=$(grep -cE '^not ok [0-9]+' "$TAPFILE" || true)
grep -q '^1\.\.' "$TAPFILE" || { f=$((f + 1)); rc=1; }
echo "soak: $p passed, $f failed; $(( $(date +%s) - start )) s"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
