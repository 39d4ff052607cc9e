#!/usr/bin/env bash
# bench/run.sh: every bandit benchmark case beside its baseline, in one run.
# Each figure is the median of RUNS runs (default 5); the ratio is the
# median of per-run bandit / baseline ratios (higher is better).
#   bash bench/run.sh            # uses the throwaway cluster (scripts/lib.sh)
#   RUNS=3 SECONDS_PER_RUN=5 bash bench/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup_all
cd "$BANDIT_ROOT"
RUNS=${RUNS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
LOOP_CALLS=${LOOP_CALLS:-100000}
CLIENTS=${CLIENTS:-4}
DB=bandit_bench
PGBENCH=$PG_BIN/pgbench
OUT=bench/results; mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bandit-bench.XXXXXX)

psql_db -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql_db -d $DB -c "CREATE EXTENSION bandit" >/dev/null
psql_db -d $DB -f bench/setup.sql >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

reset_logs() {
  psql_db -d $DB -c "TRUNCATE bench_decision; UPDATE bench_arm SET pulls = 0;
    DELETE FROM bandit.decision d USING bandit.experiment e
     WHERE e.id = d.experiment_id AND e.name LIKE 'bench_%' AND d.id NOT IN (SELECT decision_id FROM bandit.reward);" >/dev/null
  psql_db -d $DB -c "VACUUM bench_decision, bandit.decision" >/dev/null
}

# pgbench tps for a script file (one transaction per script run)
tps() {
  local script=$1
  "$PGBENCH" -n -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -f "$script" $DB 2>&1 \
    | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# calls per second of a server-side loop in one transaction
loop_rate() {
  local body=$1
  psql_db -d $DB -tA -c "DO \$\$ DECLARE t0 timestamptz; v bigint; BEGIN
      t0 := clock_timestamp();
      FOR i IN 1..$LOOP_CALLS LOOP $body END LOOP;
      RAISE NOTICE 'rate=%', round($LOOP_CALLS / extract(epoch FROM clock_timestamp() - t0));
    END \$\$;" 2>&1 | sed -n 's/.*rate=\([0-9]*\).*/\1/p'
}

cat > "$WORK/baseline_insert.sql" <<'SQL'
\set arm random(1, 5)
INSERT INTO bench_decision (experiment_id, arm_id, propensity, state_version) VALUES (1, :arm, 0.2, 1) RETURNING id;
SQL
cat > "$WORK/baseline_insert_update.sql" <<'SQL'
\set arm random(1, 5)
INSERT INTO bench_decision (experiment_id, arm_id, propensity, state_version) VALUES (1, :arm, 0.2, 1) RETURNING id \gset
UPDATE bench_arm SET pulls = pulls + 1 WHERE experiment_id = 1 AND arm_id = :arm;
SQL
for e in t5_online t20_online t5_batch t20_batch; do
  printf "SELECT * FROM bandit_select('bench_%s');\n" "$e" > "$WORK/select_$e.sql"
done
cat > "$WORK/select_reward.sql" <<'SQL'
SELECT decision_id FROM bandit_select('bench_t5_online') \gset
SELECT bandit_reward(:decision_id, (random() < 0.05)::int);
SQL

# Each case is measured right after its own baseline, and the ratio is taken
# per pair: the machine's throughput drifts from run to run (other tenants,
# CPU frequency), and a paired ratio cancels most of that drift.
declare -A case_samples base_samples ratio_samples
measure() {  # kind (tps|loop), arg
  reset_logs
  if [ "$1" = tps ]; then tps "$2"; else loop_rate "$2"; fi
}
run_pair() {  # name, kind, case arg, baseline arg
  local b c
  b=$(measure "$2" "$4"); c=$(measure "$2" "$3")
  base_samples[$1]+="$b "; case_samples[$1]+="$c "
  ratio_samples[$1]+="$(awk -v c="$c" -v b="$b" 'BEGIN { printf "%.4f", c / b }') "
}

BASE_LOOP="INSERT INTO bench_decision (experiment_id, arm_id, propensity, state_version) VALUES (1, 1 + i % 5, 0.2, 1) RETURNING id INTO v;"
log "benchmark: $RUNS runs, pgbench ${SECONDS_PER_RUN}s x $CLIENTS clients, loops of $LOOP_CALLS calls"
for r in $(seq 1 "$RUNS"); do
  log "run $r/$RUNS"
  for e in t5_online t20_online t5_batch t20_batch; do
    run_pair "pgb_$e" tps "$WORK/select_$e.sql" "$WORK/baseline_insert.sql"
    run_pair "loop_$e" loop "PERFORM * FROM bandit_select('bench_$e');" "$BASE_LOOP"
  done
  run_pair pgb_select_reward tps "$WORK/select_reward.sql" "$WORK/baseline_insert_update.sql"
done

med() { echo "$1" | tr ' ' '\n' | grep -v '^$' | median; }
report() {  # label, case, target
  printf '| %-46s | %9.0f | %9.0f | %5.2f | %-6s |\n' "$1" \
    "$(med "${case_samples[$2]}")" "$(med "${base_samples[$2]}")" "$(med "${ratio_samples[$2]}")" "$3"
}
{
  echo "bandit benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem/ {print $2}') GiB, PostgreSQL $($PG_CONFIG --version | awk '{print $2}')"
  echo "medians of $RUNS runs; ratio = median of per-run bandit/baseline ratios (each case right after its baseline)"
  echo "pgbench: $CLIENTS clients, ${SECONDS_PER_RUN}s, one call per transaction (tps); loop: $LOOP_CALLS calls in one transaction (calls/s)"
  echo
  echo '| case                                           |    bandit |  baseline | ratio | target |'
  echo '|------------------------------------------------|-----------|-----------|-------|--------|'
  for e in t5_online t20_online t5_batch t20_batch; do
    report "select, thompson $e, pgbench (tps)" "pgb_$e" ">= 0.8"
  done
  for e in t5_online t20_online t5_batch t20_batch; do
    report "select, thompson $e, loop (calls/s)" "loop_$e" ">= 0.5"
  done
  report "select + reward, t5_online, pgbench (tps)" pgb_select_reward "-"
  echo
  echo "raw samples (bandit / baseline / ratio):"
  for k in $(printf '%s\n' "${!case_samples[@]}" | sort); do
    echo "  $k: ${case_samples[$k]}/ ${base_samples[$k]}/ ${ratio_samples[$k]}"
  done
} | tee "$OUT/latest.md"
rm -rf "$WORK"
