#!/usr/bin/env bash
# bench/contextual.sh: the contextual bandits beside their baselines, in one run.
#   1. bandit_select on a trained experiment (K arms, context dimension D),
#      policies linucb and lints, in a server-side loop of N calls, each
#      decision logged; baseline: the same loop doing a bare INSERT of the
#      same decision row (with its float8[D] context).
#   2. The same LinUCB arithmetic in NumPy on the same posteriors and the
#      same contexts, one context at a time (and vectorised over arms).
#   3. linear_posterior_agg over ROWS rows (0 and 2 parallel workers) beside
#      psycopg2 + NumPy end to end, and NumPy on data already in memory.
# Each figure is the median of RUNS runs; each ratio is the median of the
# per-run ratios, the two sides measured one right after the other (the
# machine's throughput drifts between runs).  Correctness is checked outside
# the timing (same arms as NumPy, LinTS propensities against a quadrature,
# the aggregate's sums against NumPy's to 1e-9); the script exits 1 if a
# check fails.  Writes bench/results/contextual-latest.md.
#
#   bash bench/contextual.sh                      # about 2 minutes here
#   RUNS=3 N=5000 ROWS=100000 TRAIN_PER_ARM=500 bash bench/contextual.sh   # quick
# Environment: RUNS (5), N (20000 calls per loop), K (20), D (32),
# TRAIN_PER_ARM (2000 training rounds per arm), REFRESH_EVERY (a quarter of
# the training rounds), ROWS (1000000), LINTS_CHECK (500 propensities checked),
# FETCH_ALTERNATIVES (1: also time text COPY and a server-side cursor once),
# LONG_DOUBLE (1: also check the sums against an 80-bit long double reference),
# SKIP_BUILD (0), DB (bandit_bench_ctx).  Needs /usr/bin/python3 with NumPy,
# SciPy and psycopg2 (Debian's python3-numpy, python3-scipy, python3-psycopg2).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ensure_packages
src_sum=$(cd "$BANDIT_ROOT" && cat src/*.c src/*.h sql/bandit--*.sql Makefile | sha1sum | cut -c1-12)
head_rev=$(git -C "$BANDIT_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building and installing bandit"
  (cd "$BANDIT_ROOT" && flock /tmp/bandit-build.lock make -s PG_CONFIG="$PG_CONFIG" install >/dev/null)
fi
start_cluster
cd "$BANDIT_ROOT"
# What is measured: others may rebuild and reinstall while this runs, and
# every new session loads the installed library, so its checksum is taken
# now and compared at the end.
EXT_SO=$($PG_CONFIG --pkglibdir)/bandit.so
so_md5() { md5sum "$EXT_SO" | cut -c1-12; }
so_at_start=$(so_md5)

RUNS=${RUNS:-5}
N=${N:-20000}
K=${K:-20}
D=${D:-32}
TRAIN_PER_ARM=${TRAIN_PER_ARM:-2000}
TRAIN_ROUNDS=$((K * TRAIN_PER_ARM))
REFRESH_EVERY=${REFRESH_EVERY:-$(( TRAIN_ROUNDS / 4 > 0 ? TRAIN_ROUNDS / 4 : 1 ))}
ROWS=${ROWS:-1000000}
LINTS_CHECK=${LINTS_CHECK:-500}
FETCH_ALTERNATIVES=${FETCH_ALTERNATIVES:-1}
LONG_DOUBLE=${LONG_DOUBLE:-1}
DB=${DB:-bandit_bench_ctx}
PY=/usr/bin/python3
HELPER=bench/contextual_numpy.py
OUT=bench/results; mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bandit-bench-ctx.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
LINES=$WORK/lines
: > "$LINES"
started=$(date +%s)
load_before=$(cut -d" " -f1-3 /proc/loadavg)

sample() { echo "sample $1 $2" >> "$LINES"; }
info() { local key=$1; shift; echo "info $key $*" >> "$LINES"; }
ratio() { awk -v c="$1" -v b="$2" 'BEGIN { printf "%.4f", c / b }'; }

# The context generator, as one SQL expression: intercept, binary features
# for the first half, roughly normal ones (sd 0.5) for the second.
ctx="ARRAY[1::float8"
for j in $(seq 2 "$D"); do
  if [ "$j" -le $((D / 2)) ]; then ctx+=", (random() < 0.3)::int::float8"
  else ctx+=", random() + random() + random() - 1.5"; fi
done
ctx+="]"

log "database $DB: $K arms, d = $D, training $TRAIN_ROUNDS rounds (refresh every $REFRESH_EVERY), $N contexts, $ROWS aggregate rows"
psql_db -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_db -d $DB -c "CREATE EXTENSION bandit" >/dev/null
t0=$(date +%s)
psql_db -d $DB -v k="$K" -v d="$D" -v train_rounds="$TRAIN_ROUNDS" -v refresh_every="$REFRESH_EVERY" \
  -v n_eval="$N" -v rows="$ROWS" -v ctx="$ctx" -f bench/contextual_setup.sql >/dev/null
log "setup and training took $(( $(date +%s) - t0 ))s"

reset_logs() {
  psql_db -d $DB -c "SET client_min_messages = warning" -c "TRUNCATE bandit.decision, bench_ctx_decision CASCADE"
  psql_db -d $DB -c "VACUUM ANALYZE bandit.decision, bench_ctx_decision"
}

# calls per second of a server-side loop over the first N contexts, in one transaction
loop_rate() {
  local body=$1 output rate
  output=$(psql_db -d $DB -tA -c "DO \$\$ DECLARE t0 timestamptz; r record; v bigint; p float8; n int := 0; BEGIN
      t0 := clock_timestamp();
      FOR r IN SELECT i, x FROM bench_ctx_eval WHERE i <= $N ORDER BY i LOOP
        $body
        n := n + 1;
      END LOOP;
      RAISE NOTICE 'rate=%', round(n / extract(epoch FROM clock_timestamp() - t0));
    END \$\$;" 2>&1) || true
  rate=$(echo "$output" | sed -n 's/.*rate=\([0-9]*\).*/\1/p')
  if [ -z "$rate" ]; then log "loop failed: $output"; exit 1; fi
  echo "$rate"
}

BASE_INSERT="INSERT INTO bench_ctx_decision (experiment_id, arm_id, propensity, context, unit, state_version)
               VALUES (1, 1 + r.i % $K, 1, r.x, NULL, 1) RETURNING id INTO v;"

for run in $(seq 1 "$RUNS"); do
  log "run $run/$RUNS: bandit_select loops and NumPy LinUCB"
  for policy in linucb lints; do
    reset_logs
    b=$(loop_rate "$BASE_INSERT")
    c=$(loop_rate "PERFORM * FROM bandit_select('bench_ctx_$policy', r.x);")
    sample "base_$policy" "$b"; sample "sel_$policy" "$c"; sample "ratio_${policy}_base" "$(ratio "$c" "$b")"
    # the policy's arithmetic alone: one arm's probability at x, no draw, no log
    sample "prob_$policy" "$(loop_rate "p := bandit_policy_prob('bench_ctx_$policy', 'arm1', r.x);")"
    if [ "$policy" = linucb ]; then
      # right after the loop, while its decisions are in the log
      $PY $HELPER select --db $DB --experiment bench_ctx_linucb --n "$N" --bandit-rate "$c" >> "$LINES"
    elif [ "$run" = 1 ]; then
      $PY $HELPER lints-check --db $DB --experiment bench_ctx_lints --sample "$LINTS_CHECK" >> "$LINES"
    fi
  done
  sample loop_only "$(loop_rate "v := r.i;")"
done
reset_logs

log "linear_posterior_agg over $ROWS rows, $RUNS runs"
$PY $HELPER agg --db $DB --rows "$ROWS" --d "$D" --runs "$RUNS" \
  --fetch-alternatives "$FETCH_ALTERNATIVES" --long-double "$LONG_DOUBLE" >> "$LINES"

# what the figures were measured on
so_at_end=$(so_md5)
if [ "$so_at_start" = "$so_at_end" ]; then
  echo "check extension_library_unchanged_during_run $so_at_start ok" >> "$LINES"
else
  echo "check extension_library_unchanged_during_run $so_at_start->$so_at_end FAIL" >> "$LINES"
fi
info build "git HEAD $head_rev; before the build src/, sql/ and Makefile hashed to sha1 $src_sum$( [ "${SKIP_BUILD:-0}" = 1 ] && echo ' (not rebuilt: SKIP_BUILD=1)'); installed bandit.so md5 $so_at_start"
blas_of() { ldd "$1" | awk '/lib(blas|openblas|blis|mkl)/ {print $1}' | head -1; }
np_so=$($PY -c 'import numpy.core._multiarray_umath as m; print(m.__file__)')
blas_file=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
info date "$(date -u +%Y-%m-%dT%H:%MZ)"
info machine "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem/ {print $2}') GiB, load average at the start $load_before"
info blas "the extension links $(blas_of "$EXT_SO") and NumPy links $(blas_of "$np_so") (ldd); libblas.so.3 -> ${blas_file:-?}, from package $(dpkg -S "$blas_file" 2>/dev/null | cut -d: -f1 | head -1) (update-alternatives libblas.so.3-x86_64-linux-gnu: $(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | sed -n 's/^Value: //p'))"
info software "PostgreSQL $($PG_CONFIG --version | awk '{print $2}'), $($PY -c 'import sys, numpy, scipy, psycopg2; print("Python %d.%d.%d, NumPy %s, SciPy %s, psycopg2 %s" % (sys.version_info[:3] + (numpy.__version__, scipy.__version__, psycopg2.__version__.split()[0])))')"
info sizes "K = $K arms, d = $D, N = $N bandit_select calls per loop, $ROWS aggregate rows, $TRAIN_ROUNDS training rounds"
info state "$(psql_db -d $DB -tA -c "SELECT format('arms trained by %s LinTS rounds with Bernoulli rewards (batch refresh every %s rounds), posteriors copied to both experiments: n per arm min %s, median %s, max %s; lambda 1, alpha 1 (linucb), v 1 (lints)',
    $TRAIN_ROUNDS, $REFRESH_EVERY, min(n), percentile_disc(0.5) WITHIN GROUP (ORDER BY n), max(n))
  FROM (SELECT substring(a.linear::text from 'n=([0-9]+)')::bigint AS n FROM bandit.arm a
          JOIN bandit.experiment e ON e.id = a.experiment_id WHERE e.name = 'bench_ctx_linucb') s")"
info runs "$RUNS"
info k "$K"
info d "$D"
info rows "$ROWS"
log "finished in $(( $(date +%s) - started ))s"

$PY $HELPER report --lines "$LINES" --output "$OUT/contextual-latest.md"
