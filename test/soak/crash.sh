#!/usr/bin/env bash
# test/soak/crash.sh: crash recovery under load, several kills.
#
# Runs test/soak/crash.py (which scripts/test.sh runs with one kill as
# test/python/crash_short.py): a throwaway cluster of its own under
# /var/tmp/bandit-crash.XXXXXX (socket only, port CRASH_PORT, fsync and
# synchronous_commit on; the shared cluster of scripts/lib.sh is not used
# or touched), the workload of test/soak/soak.py, and CRASH_KILLS times:
# freeze and SIGKILL the postmaster and every child, restart (crash recovery
# must run), check that every commit the clients saw survived, nothing
# uncommitted is half there, and the posteriors equal the folded log.
# Prints TAP and a last line "crash: N passed, N failed; T s"; exits 1 on
# any failure.  Must run as root (the server runs as the postgres OS user).
#
#   bash test/soak/crash.sh                          # 5 kills, ~10 s of load before each
#   CRASH_KILLS=20 CRASH_SECONDS=5 bash test/soak/crash.sh
#   SKIP_BUILD=1 bash test/soak/crash.sh             # do not build and install
#
# Environment: CRASH_KILLS (5), CRASH_SECONDS (10), CRASH_CLIENTS (8),
# CRASH_REFRESH_INTERVAL (0.25), CRASH_SEED (from the clock, printed),
# CRASH_PORT (5497), CRASH_DIR (default a new /var/tmp/bandit-crash.XXXXXX),
# CRASH_KEEP (0; 1 leaves the cluster and its log), SKIP_BUILD (0).
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ensure_packages
  build_and_install
fi
cd "$BANDIT_ROOT"

TAPFILE=$(mktemp /tmp/bandit-crash.XXXXXX.tap)
log "crash: ${CRASH_KILLS:-5} kills, TAP in $TAPFILE"
start=$(date +%s)
rc=0
/usr/bin/python3 test/soak/crash.py | tee "$TAPFILE" || rc=$?
p=$(grep -cE '^ok [0-9]+' "$TAPFILE" || true)
f=$(grep -cE '^not ok [0-9]+' "$TAPFILE" || true)
grep -q '^1\.\.' "$TAPFILE" || { f=$((f + 1)); rc=1; }
echo "crash: $p passed, $f failed; $(( $(date +%s) - start )) s"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
