#!/usr/bin/env bash
# test/soak/fuzz_types.sh: the type I/O fuzzer at soak scale.
#
# Runs test/python/fuzz_types.py (the same harness that scripts/test.sh runs
# with 10,000 inputs per function and a fixed seed) with FUZZ_N inputs for
# each of the six functions beta_posterior_in, beta_posterior_recv,
# normal_posterior_in, normal_posterior_recv, linear_posterior_in and
# linear_posterior_recv: random, valid and mutated-valid inputs, text through
# a PL/pgSQL loop of casts, binary through COPY (FORMAT binary).  Passes when
# there is no crash, no XX000, every rejection has a documented SQLSTATE
# (22P02 / 22023 for text, 22P03 / 22023 for binary) and message, and every
# accepted value round trips exactly.  Prints TAP (17 checks) and, at the
# end, "soak: N passed, N failed" and the time; exits 1 on any failure.
#
#   bash test/soak/fuzz_types.sh                              # 1,000,000 per function
#   FUZZ_N=100000 bash test/soak/fuzz_types.sh                # quicker
#   FUZZ_SEED=1718000000 bash test/soak/fuzz_types.sh         # replay a run
#   FUZZ_TYPES=linear_posterior bash test/soak/fuzz_types.sh  # one type
#
# Environment: FUZZ_N (1000000), FUZZ_SEED (a fresh one from the clock,
# printed; the same seed and N give the same inputs), FUZZ_TYPES (all three),
# FUZZ_DB (bandit_soak_fuzz, created and dropped), FUZZ_FAILURE_LOG (where
# failing inputs are written in full, one JSON object per line; default a
# new file under /tmp, removed when empty), SKIP_BUILD (0; 1: do not build
# and install, only start or reuse the cluster), and the libpq variables with
# BANDIT_OWN_SERVER=1 for a server of your own (as scripts/test.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ensure_packages
  build_and_install
fi
start_cluster
cd "$BANDIT_ROOT"

export FUZZ_N=${FUZZ_N:-1000000}
export FUZZ_SEED=${FUZZ_SEED:-$(date +%s)}
export FUZZ_DB=${FUZZ_DB:-bandit_soak_fuzz}
export FUZZ_PROGRESS=1
export FUZZ_FAILURE_LOG=${FUZZ_FAILURE_LOG:-$(mktemp /tmp/bandit-fuzz-failures.XXXXXX.jsonl)}
: > "$FUZZ_FAILURE_LOG"
TAPFILE=$(mktemp /tmp/bandit-fuzz-soak.XXXXXX.tap)

log "fuzzing the type I/O functions: $FUZZ_N inputs each, seed $FUZZ_SEED, TAP in $TAPFILE"
start=$(date +%s)
rc=0
/usr/bin/python3 test/python/fuzz_types.py | tee "$TAPFILE" || rc=$?
elapsed=$(( $(date +%s) - start ))

p=$(grep -cE '^ok [0-9]+' "$TAPFILE" || true)
f=$(grep -cE '^not ok [0-9]+' "$TAPFILE" || true)
grep -q '^1\.\.' "$TAPFILE" || { f=$((f + 1)); rc=1; }
if [ -s "$FUZZ_FAILURE_LOG" ]; then
  log "failing inputs, in full: $FUZZ_FAILURE_LOG ($(wc -l < "$FUZZ_FAILURE_LOG") lines)"
else
  rm -f "$FUZZ_FAILURE_LOG"
fi
echo "soak: $p passed, $f failed; $FUZZ_N inputs per function, seed $FUZZ_SEED, ${elapsed} s"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
