#!/usr/bin/env bash
# Every test: unit (math vs SciPy), pg_regress, isolation, pgTAP (behaviour
# and statistics), dump/restore and upgrade chain, Python checks against SciPy.  Installs what is missing, builds, installs, starts (or
# reuses) the throwaway cluster.  The last line is "N passed, N failed".
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
cd "$BANDIT_ROOT"

passed=0
failed=0
failures=()
LOGDIR=$(mktemp -d /tmp/bandit-test.XXXXXX)

# count TAP lines ("ok" / "not ok"); assertions planned (1..N) but never
# reported, because a script died half way, count as failed
count_tap() {
  local file=$1 label=$2 p f planned
  p=$(grep -cE '^ *ok [0-9]+' "$file" || true)
  f=$(grep -cE '^ *not ok [0-9]+' "$file" || true)
  planned=$(sed -n 's/^ *1\.\.\([0-9][0-9]*\).*/\1/p' "$file" | awk '{s += $1} END {print s + 0}')
  if [ "$planned" -gt $((p + f)) ]; then
    failures+=("$label: $((planned - p - f)) planned tests never ran")
    f=$((planned - p))
  fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -gt 0 ] && failures+=("$label: $(grep -E '^ *not ok [0-9]+' "$file" | head -5 | tr '\n' ';')")
  log "$label: $p passed, $f failed"
}

# 1. numerical unit tests (C math against SciPy), TAP
log "unit tests: distributions and Thompson propensities against SciPy"
if bash test/unit/run.sh > "$LOGDIR/unit.tap" 2>&1; then :; fi
count_tap "$LOGDIR/unit.tap" unit
grep -q '^1\.\.' "$LOGDIR/unit.tap" || { failed=$((failed + 1)); failures+=("unit: no TAP plan (see $LOGDIR/unit.tap)"); }

# 2. pg_regress and isolation (make installcheck)
log "pg_regress and isolation tests (make installcheck)"
make -s installcheck PG_CONFIG="$PG_CONFIG" > "$LOGDIR/installcheck.out" 2>&1 || true
p=$(grep -cE '^(test| |ok)? *[a-z_0-9]+ +\.\.\. ok|^ok [0-9]+ ' "$LOGDIR/installcheck.out" || true)
f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$LOGDIR/installcheck.out" || true)
passed=$((passed + p)); failed=$((failed + f))
log "installcheck: $p passed, $f failed"
if [ "$f" -gt 0 ] || [ "$p" -eq 0 ]; then
  [ "$p" -eq 0 ] && failed=$((failed + 1))
  failures+=("installcheck: see regression.diffs / output_iso/regression.diffs")
  cat "$LOGDIR/installcheck.out" >&2
  for d in regression.diffs output_iso/regression.diffs; do [ -f "$d" ] && head -100 "$d" >&2; done
fi

# 3. pgTAP: behaviour and statistical tests, one fresh database
log "pgTAP tests (pg_prove)"
psql_db -d postgres -c "DROP DATABASE IF EXISTS bandit_tap" -c "CREATE DATABASE bandit_tap" >/dev/null
psql_db -d bandit_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION bandit" >/dev/null
pg_prove --verbose --ext .sql -d bandit_tap -r test/pgtap > "$LOGDIR/pgtap.tap" 2>&1 || true
count_tap "$LOGDIR/pgtap.tap" pgtap
grep -qE '^Result: PASS' "$LOGDIR/pgtap.tap" || {
  if ! grep -qE '^ *not ok' "$LOGDIR/pgtap.tap"; then failed=$((failed + 1)); fi
  failures+=("pgtap: pg_prove did not pass (see $LOGDIR/pgtap.tap)")
  grep -vE '^ *ok [0-9]+' "$LOGDIR/pgtap.tap" | tail -40 >&2
}

# 4. shell checks: pg_dump/pg_restore round trip, the upgrade chain (TAP)
for t in test/shell/*.sh; do
  name=$(basename "$t" .sh)
  log "shell check $name"
  PGOPTIONS='-c client_min_messages=warning' bash "$t" > "$LOGDIR/$name.tap" 2>&1 || true
  count_tap "$LOGDIR/$name.tap" "$name"
  grep -q '^1\.\.' "$LOGDIR/$name.tap" || { failed=$((failed + 1)); failures+=("$name: no TAP plan"); tail -20 "$LOGDIR/$name.tap" >&2; }
done

# 5. Python checks against NumPy/SciPy through the server (TAP)
if ls test/python/*.py >/dev/null 2>&1; then
  for t in test/python/*.py; do
    name=$(basename "$t" .py)
    log "python check $name"
    /usr/bin/python3 "$t" > "$LOGDIR/$name.tap" 2>&1 || true
    count_tap "$LOGDIR/$name.tap" "$name"
    grep -q '^1\.\.' "$LOGDIR/$name.tap" || { failed=$((failed + 1)); failures+=("$name: no TAP plan"); tail -20 "$LOGDIR/$name.tap" >&2; }
  done
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "Failures:"; printf '  %s\n' "${failures[@]}"
  echo "Logs: $LOGDIR"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
