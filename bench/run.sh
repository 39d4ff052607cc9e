#!/usr/bin/env bash
# bench/run.sh: every bandit benchmark case beside its baseline, in one run.
# Each figure is the median of RUNS runs (default 5); the ratio is
# bandit / baseline (higher is better for throughput).
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

declare -A samples
run_case() {  # name, kind (tps|loop), arg
  local name=$1 kind=$2 arg=$3 v
  reset_logs
  if [ "$kind" = tps ]; then v=$(tps "$arg"); else v=$(loop_rate "$arg"); fi
  samples[$name]+="$v "
}

log "benchmark: $RUNS runs, pgbench ${SECONDS_PER_RUN}s x $CLIENTS clients, loops of $LOOP_CALLS calls"
for r in $(seq 1 "$RUNS"); do
  log "run $r/$RUNS"
  run_case pgb_baseline tps "$WORK/baseline_insert.sql"
  for e in t5_online t20_online t5_batch t20_batch; do
    run_case "pgb_$e" tps "$WORK/select_$e.sql"
  done
  run_case loop_baseline loop "INSERT INTO bench_decision (experiment_id, arm_id, propensity, state_version) VALUES (1, 1 + i % 5, 0.2, 1) RETURNING id INTO v;"
  for e in t5_online t20_online t5_batch t20_batch; do
    run_case "loop_$e" loop "PERFORM * FROM bandit_select('bench_$e');"
  done
  run_case pgb_ir_baseline tps "$WORK/baseline_insert_update.sql"
  run_case pgb_select_reward tps "$WORK/select_reward.sql"
done

med() { echo "${samples[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }
report() {  # label, case, baseline, target
  local b c ratio
  c=$(med "$2"); b=$(med "$3")
  ratio=$(awk -v c="$c" -v b="$b" 'BEGIN { printf "%.2f", c / b }')
  printf '| %-44s | %12s | %12s | %6s | %-7s |\n' "$1" "$c" "$b" "$ratio" "$4"
}
{
  echo "bandit benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m), PostgreSQL $($PG_CONFIG --version | awk '{print $2}')"
  echo "medians of $RUNS runs; pgbench: $CLIENTS clients, ${SECONDS_PER_RUN}s, one call per transaction (tps); loops: $LOOP_CALLS calls in one transaction (calls/s)"
  echo
  echo '| case                                         |       bandit |     baseline |  ratio | target  |'
  echo '|----------------------------------------------|--------------|--------------|--------|---------|'
  for e in t5_online t20_online t5_batch t20_batch; do
    report "bandit_select thompson $e, pgbench (tps)" "pgb_$e" pgb_baseline ">= 0.8"
  done
  for e in t5_online t20_online t5_batch t20_batch; do
    report "bandit_select thompson $e, loop (calls/s)" "loop_$e" loop_baseline ">= 0.5"
  done
  report "select + reward (online, 5 arms), pgbench" pgb_select_reward pgb_ir_baseline "-"
  echo
  echo "raw samples:"
  for k in "${!samples[@]}"; do echo "  $k: ${samples[$k]}"; done | sort
} | tee "$OUT/latest.md"
rm -rf "$WORK"
