#!/usr/bin/env bash
# bench/hot_arm.sh: online rewards on one hot experiment from many sessions.
#
# CLIENTS (8) pgbench sessions each run "bandit_select + bandit_reward" as
# one transaction on one 5-arm Thompson experiment, in three setups measured
# in the same run, each RUNS (5) times for SECONDS_PER_RUN (10) seconds:
#   batch    update = batch: the reward is queued (the baseline: no shared row
#            is written by a reward)
#   online   update = online, 0.4.0: the reward goes to the session's reward
#            slot row (bandit.reward_slot)
#   rowlock  update = online in a database whose extension is still at 0.3.0:
#            the reward updates the arm row, held until commit (what 0.4.0
#            replaced; the same library serves both)
# Reported: median tps of each and the median of the per-run ratios
# online / batch (target >= 0.7) and rowlock / batch.
#   bash bench/hot_arm.sh
#   RUNS=3 SECONDS_PER_RUN=5 CLIENTS=8 bash bench/hot_arm.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup_all
cd "$BANDIT_ROOT"
RUNS=${RUNS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CLIENTS=${CLIENTS:-8}
PGBENCH=$PG_BIN/pgbench
OUT=bench/results; mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bandit-bench-hot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

for db in bandit_bench_hot bandit_bench_hot_03; do
  psql_db -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
done
psql_db -d bandit_bench_hot -c "CREATE EXTENSION bandit" \
  -c "SELECT bandit_create('hot_batch', ARRAY['a','b','c','d','e'], 'thompson', '{\"update\": \"batch\"}')" \
  -c "SELECT bandit_create('hot_online', ARRAY['a','b','c','d','e'], 'thompson', '{\"update\": \"online\"}')" >/dev/null
psql_db -d bandit_bench_hot_03 -c "CREATE EXTENSION bandit VERSION '0.3.0'" \
  -c "SELECT bandit_create('hot_online', ARRAY['a','b','c','d','e'], 'thompson', '{\"update\": \"online\"}')" >/dev/null

for e in batch online; do
  cat > "$WORK/$e.sql" <<SQL
SELECT decision_id FROM bandit_select('hot_$e') \gset
SELECT bandit_reward(:decision_id, (random() < 0.1)::int);
SQL
done

tps() {  # database, script
  "$PGBENCH" -n -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -f "$2" "$1" 2>&1 \
    | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
# between runs: fold and forget the previous run's rewards so every run starts alike
reset() {
  psql_db -d bandit_bench_hot -c "SELECT bandit_refresh()" \
    -c "TRUNCATE bandit.decision, bandit.reward, bandit.pending_reward, bandit.reward_slot" \
    -c "VACUUM bandit.arm, bandit.experiment" >/dev/null
  psql_db -d bandit_bench_hot_03 -c "TRUNCATE bandit.decision, bandit.reward, bandit.pending_reward" \
    -c "VACUUM bandit.arm, bandit.experiment" >/dev/null
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
batch=() online=() rowlock=() r_online=() r_rowlock=()
log "hot arm: $RUNS runs x 3 setups, $CLIENTS clients, ${SECONDS_PER_RUN}s each"
for r in $(seq 1 "$RUNS"); do
  reset; b=$(tps bandit_bench_hot "$WORK/batch.sql")
  reset; o=$(tps bandit_bench_hot "$WORK/online.sql")
  reset; l=$(tps bandit_bench_hot_03 "$WORK/online.sql")
  log "run $r: batch $b, online $o, rowlock $l tps"
  batch+=("$b"); online+=("$o"); rowlock+=("$l")
  r_online+=("$(awk -v a="$o" -v b="$b" 'BEGIN { printf "%.4f", a / b }')")
  r_rowlock+=("$(awk -v a="$l" -v b="$b" 'BEGIN { printf "%.4f", a / b }')")
done
med() { printf '%s\n' "$@" | median; }
{
  echo "hot arm benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, PostgreSQL $($PG_CONFIG --version | awk '{print $2}')"
  echo "$CLIENTS pgbench clients, select + reward per transaction on one 5-arm thompson experiment, ${SECONDS_PER_RUN}s x $RUNS runs; medians; ratio = median of per-run ratios to batch"
  echo
  echo '| setup                                   |    tps | ratio to batch | target |'
  echo '|-----------------------------------------|--------|----------------|--------|'
  printf '| %-39s | %6.0f | %14s | %-6s |\n' "batch (rewards queued)" "$(med "${batch[@]}")" "1" "-"
  printf '| %-39s | %6.0f | %14.2f | %-6s |\n' "online, reward slots (0.4.0)" "$(med "${online[@]}")" "$(med "${r_online[@]}")" ">= 0.7"
  printf '| %-39s | %6.0f | %14.2f | %-6s |\n' "online, arm row lock (0.3.0 schema)" "$(med "${rowlock[@]}")" "$(med "${r_rowlock[@]}")" "-"
  echo
  echo "raw tps: batch ${batch[*]}; online ${online[*]}; rowlock ${rowlock[*]}"
} | tee "$OUT/hot_arm.md"
