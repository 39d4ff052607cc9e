#!/usr/bin/env bash
# bench/ope.sh: the off-policy estimator aggregates over a large log, in one run.
#   1. ope_ips(r, pt, p0) and ope_snips(r, pt, p0) beside the plain SQL
#      expression sum(r*pt/p0)/count(*), max_parallel_workers_per_gather = 0
#      (target: each within 1.25x of the plain expression's time);
#   2. the same with 2 parallel workers beside 0 (target: at least 1.6x
#      faster; the plan is forced with parallel_setup_cost = parallel_tuple_cost
#      = 0, and EXPLAIN ANALYZE confirms, outside the timing, that 2 workers
#      launched); ope_dr for information;
#   3. end to end from a psycopg2 client: SELECT ope_ips(...), ope_snips(...)
#      (one scan, both ope_estimate rows) beside fetching the same columns with
#      a binary COPY parsed by NumPy and computing the same IPS and SNIPS
#      outputs (estimate, standard error, ESS, largest weight) in NumPy
#      (target: the aggregates at least 10x faster).
#   Where the time goes, for information (0 workers): the count(*) scan, a
#   trivial built-in C aggregate (sum), two reference C aggregates with
#   ope_ips's signature built from bench/ope_floor.c (the least such an
#   aggregate does per row, and a leaner IPS), the plain SQL mean with a
#   standard deviation (avg + stddev_samp), and the server's side of the
#   binary COPY (to /dev/null).
#
# The log table (ROWS rows: reward 0/1 with about 5% ones, target_prob,
# logging_prob in (0, 1], q_logged, v_target; bench/ope_setup.sql) is created
# once, frozen and analysed, and kept in the database DB; later runs reuse it
# while its comment matches ROWS and the setup file.  The extension itself is
# dropped and created again in DB on every run (the log does not depend on it).
#
# Timing: each SQL case is one statement in a psql session with \timing on and
# its one-row result sent to /dev/null (\o), so what is timed is the query's
# execution (parse, plan and the one-row transfer are well under a
# millisecond); the end-to-end cases are timed by the psycopg2 client
# (time.perf_counter around execute + fetch + parsing the result).  Every
# figure is the median of RUNS runs; every ratio is the median of the per-run
# ratios, the two sides measured one right after the other (the machine's
# throughput drifts between runs).  Checks run outside the timing (the
# aggregates' results against NumPy to 1e-10 relative and against the plain
# SQL, at 0 and 2 workers; the workers launched; the library unchanged during
# the run); the script exits 1 if one fails.  A missed target is reported,
# not an error.  As a superuser, each psql case also records its backend's
# CPU time: at 0 workers, wall / CPU well above 1 means other processes of
# this machine took the backend's CPU, and the CPU-time ratios leave that out
# (a virtual CPU slowed from outside the VM shows in both).  Writes
# bench/results/ope-latest.md.
#
#   bash bench/ope.sh                              # about 3 minutes here (the first run also fills the log, 10 s)
#   RUNS=3 ROWS=1000000 bash bench/ope.sh          # quick
# Environment: ROWS (10000000), RUNS (7), DB (bandit_bench_ope), REBUILD (1:
# refill the log even if it matches), FLOOR (0: skip the reference C
# aggregates, which need gcc and the server headers), SKIP_BUILD (1: do not
# build and install the extension first), QUIET_BUSY (0.15), QUIET_WAIT (40),
# QUIET_BUDGET (180): before each half of a run, wait up to QUIET_WAIT seconds
# (QUIET_BUDGET in all) for the machine's non-idle CPU share to fall to
# QUIET_BUSY (QUIET_WAIT=0: do not wait).  Needs /usr/bin/python3 with NumPy
# and psycopg2 (Debian's python3-numpy, python3-psycopg2).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ensure_packages
src_sum=$(cd "$BANDIT_ROOT" && cat src/*.c src/*.h sql/bandit--*.sql Makefile | sha1sum | cut -c1-12)
head_rev=$(git -C "$BANDIT_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(git -C "$BANDIT_ROOT" status --porcelain -- src sql Makefile 2>/dev/null | wc -l)
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building and installing bandit"
  (cd "$BANDIT_ROOT" && flock /tmp/bandit-build.lock make -s PG_CONFIG="$PG_CONFIG" install >/dev/null)
fi
start_cluster
cd "$BANDIT_ROOT"
# Others may rebuild and reinstall while this runs, and every new session
# loads the installed library: its checksum now and at the end.
EXT_SO=$($PG_CONFIG --pkglibdir)/bandit.so
so_md5() { md5sum "$EXT_SO" | cut -c1-12; }
so_at_start=$(so_md5)

ROWS=${ROWS:-10000000}
RUNS=${RUNS:-7}
DB=${DB:-bandit_bench_ope}
REBUILD=${REBUILD:-0}
FLOOR=${FLOOR:-1}
PY=/usr/bin/python3
HELPER=bench/ope_numpy.py
OUT=bench/results; mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bandit-bench-ope.XXXXXX)
chmod 755 "$WORK"            # the server (user postgres) loads ope_floor.so from here
trap '[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"' EXIT
LINES=$WORK/lines
: > "$LINES"
started=$(date +%s)
load_before=$(cut -d" " -f1-3 /proc/loadavg)
info() { local key=$1; shift; echo "info $key $*" >> "$LINES"; }
check() { echo "check $1 $2 $([ "$3" = 1 ] && echo ok || echo FAIL)" >> "$LINES"; }

# --- the database, the extension and the log -------------------------------
if [ "$(psql_db -d postgres -tA -c "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
  psql_db -d postgres -c "CREATE DATABASE $DB"
fi
psql_db -d $DB -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS bench_floor CASCADE" \
  -c "DROP EXTENSION IF EXISTS bandit CASCADE" -c "CREATE EXTENSION bandit"
marker="bench/ope_setup.sql $(sha1sum bench/ope_setup.sql | cut -c1-12), rows=$ROWS"
current=$(psql_db -d $DB -tA -c "SELECT coalesce(obj_description(to_regclass('log'), 'pg_class'), '')")
if [ "$REBUILD" = 1 ] || [ "$current" != "$marker" ]; then
  log "filling the log: $ROWS rows in $DB (once; later runs reuse it)"
  t0=$(date +%s)
  psql_db -d $DB -v rows="$ROWS" -v marker="$marker" -f bench/ope_setup.sql >/dev/null
  info setup "log filled, frozen and analysed in $(( $(date +%s) - t0 ))s by this run"
else
  log "reusing the log in $DB ($marker)"
  info setup "log reused from an earlier run (comment: $marker)"
fi
info table "$(psql_db -d $DB -tA -c "SELECT format('%s rows, %s heap (%s pages), reward mean %s, weight pt/p0 mean %s, max %s, logging_prob %s..%s',
    count(*), pg_size_pretty(pg_relation_size('log')), pg_relation_size('log') / current_setting('block_size')::int,
    round(avg(r)::numeric, 4), round(avg(pt / p0)::numeric, 4), round(max(pt / p0)::numeric, 2),
    round(min(p0)::numeric, 3), round(max(p0)::numeric, 3)) FROM log")"

info table_in_shared_buffers "$(psql_db -d $DB -tA -c "SELECT CASE WHEN pg_relation_size('log') > 0.25 * setting::bigint * 8192
    THEN 'no' ELSE 'yes' END FROM pg_settings WHERE name = 'shared_buffers'")"

# --- the reference C aggregates (bench/ope_floor.c) --------------------------
if [ "$FLOOR" = 1 ]; then
  if gcc -O2 -fPIC -shared -Wall -Wmissing-prototypes -fno-strict-aliasing -fwrapv \
       -fexcess-precision=standard -I"$($PG_CONFIG --includedir-server)" \
       -o "$WORK/ope_floor.so" bench/ope_floor.c; then
    chmod 755 "$WORK/ope_floor.so"
    psql_db -d $DB >/dev/null <<SQL
CREATE SCHEMA bench_floor;
CREATE FUNCTION bench_floor.ips_floor_trans(internal, float8, float8, float8) RETURNS internal
    AS '$WORK/ope_floor.so' LANGUAGE C IMMUTABLE;
CREATE FUNCTION bench_floor.ips_floor_final(internal) RETURNS float8
    AS '$WORK/ope_floor.so' LANGUAGE C IMMUTABLE;
CREATE AGGREGATE bench_floor.ips_floor(float8, float8, float8) (
    SFUNC = bench_floor.ips_floor_trans, STYPE = internal, FINALFUNC = bench_floor.ips_floor_final);
CREATE FUNCTION bench_floor.ips_lean_trans(internal, float8, float8, float8) RETURNS internal
    AS '$WORK/ope_floor.so' LANGUAGE C IMMUTABLE;
CREATE FUNCTION bench_floor.ips_lean_final(internal) RETURNS float8[]
    AS '$WORK/ope_floor.so' LANGUAGE C IMMUTABLE;
CREATE AGGREGATE bench_floor.ips_lean(float8, float8, float8) (
    SFUNC = bench_floor.ips_lean_trans, STYPE = internal, FINALFUNC = bench_floor.ips_lean_final);
SQL
  else
    log "could not build bench/ope_floor.c: the reference aggregates are skipped"
    FLOOR=0
  fi
fi
superuser=$(psql_db -d $DB -tA -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")

# --- checks, outside the timing ----------------------------------------------
log "checks (outside the timing)"
$PY $HELPER check --db $DB --rows "$ROWS" --floor "$FLOOR" >> "$LINES"

# --- the timed runs -----------------------------------------------------------
# Other sessions share this 2-core machine, and one busy process halves what
# the parallel cases can get.  Before each half of a run the script waits
# (at most QUIET_WAIT seconds, QUIET_BUDGET in all) until the machine's
# non-idle CPU over one second is at most QUIET_BUSY, and records what it saw.
QUIET_BUSY=${QUIET_BUSY:-0.15}
QUIET_WAIT=${QUIET_WAIT:-40}
QUIET_BUDGET=${QUIET_BUDGET:-180}
quiet_spent=0
busy_fraction() {   # non-idle share of all CPUs over one second (/proc/stat; steal counts as busy)
  local a b
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = 0
    for (i = 2; i <= 9; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6]); printf "%.3f", (t > 0 ? (t - idle) / t : 0) }'
}
wait_quiet() {  # label
  local busy waited=0
  while :; do
    busy=$(busy_fraction); waited=$((waited + 1))
    awk -v b="$busy" -v m="$QUIET_BUSY" 'BEGIN { exit !(b <= m) }' && break
    if [ $waited -ge "$QUIET_WAIT" ] || [ $((quiet_spent + waited)) -ge "$QUIET_BUDGET" ]; then
      log "machine still busy ($busy of its CPUs) after ${waited}s: measuring anyway"; break
    fi
    sleep 2; waited=$((waited + 2))
  done
  quiet_spent=$((quiet_spent + waited))
  echo "sample busy_before_$1 $busy" >> "$LINES"
  echo "sample quiet_wait_$1 $waited" >> "$LINES"
}

# One psql session per run; each case is "\echo case <name>", then its
# statement, whose "Time: ... ms" line follows.  As a superuser the session
# also reads its backend's CPU time (utime + stime, /proc/self/stat, in clock
# ticks) around each statement: at 0 workers, wall time well above the
# backend's CPU time means the backend waited for a CPU (another process ran).
SESSION_SETTINGS="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;"
CLK_TCK=$(getconf CLK_TCK)
q_plain="SELECT sum(r * pt / p0) / count(*) FROM log"
q_ips="SELECT ope_ips(r, pt, p0) FROM log"
q_snips="SELECT ope_snips(r, pt, p0) FROM log"
q_dr="SELECT ope_dr(r, pt, p0, q_logged, v_target) FROM log"
run_script() {
  local f=$WORK/run.sql
  {
    echo "$SESSION_SETTINGS"
    if [ "$superuser" = t ]; then
      echo "CREATE FUNCTION pg_temp.backend_cpu() RETURNS float8 LANGUAGE sql AS
              \$\$ SELECT (split_part(s, ' ', 12)::float8 + split_part(s, ' ', 13)::float8) / $CLK_TCK
                   FROM regexp_replace(pg_read_file('/proc/self/stat'), '^.*\) ', '') s \$\$;"
    fi
    echo '\o /dev/null'
    echo '\timing on'
    tcase() {
      echo "SET max_parallel_workers_per_gather = $2;"
      [ "$superuser" = t ] && echo 'SELECT pg_temp.backend_cpu() AS cpu0 \gset'
      echo "\\echo case $1"
      echo "$3;"
      if [ "$superuser" = t ]; then
        echo 'SELECT pg_temp.backend_cpu() - :cpu0 AS cpu \gset'
        echo "\\echo cpu $1 :cpu"
      fi
    }
    # each speed-up pair back to back; each aggregate right after (or two
    # statements after) the plain expression it is compared with
    tcase plain_2w 2 "$q_plain"
    tcase plain_0w 0 "$q_plain"
    tcase ips_0w 0 "$q_ips"
    tcase ips_2w 2 "$q_ips"
    tcase snips_2w 2 "$q_snips"
    tcase snips_0w 0 "$q_snips"
    tcase dr_0w 0 "$q_dr"
    tcase dr_2w 2 "$q_dr"
    # where the time goes, 0 workers
    tcase count_0w 0 "SELECT count(*) FROM log"
    tcase sum_r_0w 0 "SELECT sum(r) FROM log"
    tcase sum3_0w 0 "SELECT sum(r) + sum(pt) + sum(p0) FROM log"
    tcase avg_stddev_0w 0 "SELECT avg(r * pt / p0), stddev_samp(r * pt / p0) FROM log"
    if [ "$FLOOR" = 1 ]; then
      tcase ips_floor_0w 0 "SELECT bench_floor.ips_floor(r, pt, p0) FROM log"
      tcase ips_lean_0w 0 "SELECT bench_floor.ips_lean(r, pt, p0) FROM log"
    fi
    tcase ips_again_0w 0 "$q_ips"
    echo 'SET jit = off;'
    tcase plain_nojit_0w 0 "$q_plain"
    tcase ips_nojit_0w 0 "$q_ips"
    echo 'RESET jit;'
    if [ "$superuser" = t ]; then
      tcase copy_devnull_0w 0 "COPY (SELECT r, pt, p0 FROM log) TO '/dev/null' WITH (FORMAT binary)"
    fi
    tcase count_2w 2 "SELECT count(*) FROM log"
    # two workers scan and the leader only gathers: two processes on the two cores
    echo 'SET parallel_leader_participation = off;'
    tcase ips_2w_noleader 2 "$q_ips"
    tcase snips_2w_noleader 2 "$q_snips"
    tcase plain_2w_noleader 2 "$q_plain"
    tcase count_2w_noleader 2 "SELECT count(*) FROM log"
    echo 'RESET parallel_leader_participation;'
  } > "$f"
  psql_db -d $DB -f "$f" | awk '
    /^case / { name = $2; next }
    /^Time: / && name != "" { printf "sample %s %.6f\n", name, $2 / 1000; name = ""; next }
    /^cpu / { printf "sample cpu_%s %s\n", $2, $3 }'
}

log "$RUNS runs over $ROWS rows"
for run in $(seq 1 "$RUNS"); do
  log "run $run/$RUNS"
  wait_quiet sql
  run_script > "$WORK/run.txt"
  cat "$WORK/run.txt" >> "$LINES"
  if [ "$(grep -c '^sample [a-z0-9_]*w ' "$WORK/run.txt")" -lt 16 ]; then
    log "a timed statement failed:"; cat "$WORK/run.txt" >&2; exit 1
  fi
  # per-run ratios: wall time, and (0 workers) backend CPU time
  awk '{ t[$2] = $3 } END {
         pairs = "ips_0w:plain_0w snips_0w:plain_0w dr_0w:plain_0w ips_again_0w:plain_0w ips_floor_0w:plain_0w ips_lean_0w:plain_0w avg_stddev_0w:plain_0w ips_nojit_0w:plain_nojit_0w ips_0w:ips_floor_0w ips_again_0w:ips_lean_0w"
         n = split(pairs, p, " ")
         for (i = 1; i <= n; i++) { split(p[i], ab, ":")
           if ((ab[1] in t) && (ab[2] in t))
             printf "sample ratio_%s_%s %.4f\n", ab[1], ab[2], t[ab[1]] / t[ab[2]]
           if ((("cpu_" ab[1]) in t) && (("cpu_" ab[2]) in t) && t["cpu_" ab[1]] > 0 && t["cpu_" ab[2]] > 0)
             printf "sample cpuratio_%s_%s %.4f\n", ab[1], ab[2], t["cpu_" ab[1]] / t["cpu_" ab[2]] }
         split("plain ips snips dr count", c, " ")
         for (i = 1; i <= 5; i++) if ((c[i] "_0w" in t) && (c[i] "_2w" in t))
           printf "sample speedup_%s %.4f\n", c[i], t[c[i] "_0w"] / t[c[i] "_2w"]
         for (i = 1; i <= 5; i++) if ((c[i] "_0w" in t) && (c[i] "_2w_noleader" in t))
           printf "sample speedup_%s_noleader %.4f\n", c[i], t[c[i] "_0w"] / t[c[i] "_2w_noleader"]
         for (k in t) if (k ~ /_0w$/ && k !~ /^cpu_/ && (("cpu_" k) in t) && t["cpu_" k] > 0)
           printf "sample wallcpu_%s %.4f\n", k, t[k] / t["cpu_" k] }' "$WORK/run.txt" >> "$LINES"
  wait_quiet e2e
  $PY $HELPER e2e --db $DB --rows "$ROWS" >> "$LINES"
done

# --- what the figures were measured on ------------------------------------------
so_at_end=$(so_md5)
check extension_library_unchanged_during_run "$so_at_start$([ "$so_at_start" = "$so_at_end" ] || echo "->$so_at_end")" \
  "$([ "$so_at_start" = "$so_at_end" ] && echo 1 || echo 0)"
info build "git HEAD $head_rev ($dirty uncommitted changes under src/, sql/, Makefile); before the build src/, sql/ and Makefile hashed to sha1 $src_sum$( [ "${SKIP_BUILD:-0}" = 1 ] && echo ' (not rebuilt: SKIP_BUILD=1)'); installed bandit.so md5 $so_at_start"
info date "$(date -u +%Y-%m-%dT%H:%MZ)"
info machine "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem/ {print $2}') GiB; load average $load_before at the start, $(cut -d" " -f1-3 /proc/loadavg) at the end (other sessions share the machine)"
info software "PostgreSQL $($PG_CONFIG --version | awk '{print $2}'), $($PY -c 'import sys, numpy, psycopg2; print("Python %d.%d.%d, NumPy %s, psycopg2 %s" % (sys.version_info[:3] + (numpy.__version__, psycopg2.__version__.split()[0])))')"
info settings "$(psql_db -d $DB -tA -c "SELECT string_agg(name || ' = ' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings
  WHERE name IN ('shared_buffers', 'work_mem', 'jit', 'jit_above_cost', 'jit_optimize_above_cost', 'jit_inline_above_cost',
                 'max_worker_processes', 'max_parallel_workers', 'parallel_leader_participation', 'fsync')") (server); per session: ${SESSION_SETTINGS//;/,}"
info runs "$RUNS"
info rows "$ROWS"
info floor "$FLOOR"
info duration "$(( $(date +%s) - started ))s, of which ${quiet_spent}s sampling or waiting for a quiet machine"
info quiet "before each half of a run the script waited until the machine's non-idle CPU over 1 s was at most $QUIET_BUSY (at most ${QUIET_WAIT}s per wait, ${QUIET_BUDGET}s in all)"
log "finished in $(( $(date +%s) - started ))s"

$PY $HELPER report --lines "$LINES" --output "$OUT/ope-latest.md"
