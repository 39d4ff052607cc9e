#!/usr/bin/env bash
# Walk the whole upgrade chain: install the oldest available version, ALTER
# EXTENSION bandit UPDATE to the default one, and compare every object of
# the extension (definitions and privileges) with a fresh install of the
# default version; a log written
# in the oldest version survives every step unchanged.  Prints TAP.
set -euo pipefail
q() { psql -X -v ON_ERROR_STOP=1 -qtA "$@"; }
n=0; failed=0
check() {
  local desc=$1; shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; failed=$((failed + 1)); fi
}
objects() {  # the extension's objects and their definitions
  q -d "$1" -c "
    SELECT pg_describe_object(classid, objid, 0) FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bandit')
    UNION ALL
    SELECT p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid))
      FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
     WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bandit') AND p.prokind = 'f'
    UNION ALL
    SELECT c.relname || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
      FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE ns.nspname = 'bandit'
    UNION ALL
    SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
     WHERE connamespace = 'bandit'::regnamespace
    UNION ALL  -- privileges: functions, relations, the schema
    SELECT 'acl ' || p.oid::regprocedure::text || ' ' || coalesce(p.proacl::text, 'default')
      FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
     WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bandit') AND d.deptype = 'e'
    UNION ALL
    SELECT 'acl ' || c.oid::regclass::text || ' ' || coalesce(c.relacl::text, 'default')
      FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
     WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bandit') AND d.deptype = 'e'
    UNION ALL
    SELECT 'acl schema bandit ' || coalesce(nspacl::text, 'default') FROM pg_namespace WHERE nspname = 'bandit'
    ORDER BY 1"
}

default=$(q -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'bandit'")
versions=$(q -d postgres -c "SELECT version FROM pg_available_extension_versions WHERE name = 'bandit'
                             ORDER BY string_to_array(version, '.')::int[]")
oldest=$(echo "$versions" | head -1)
echo "1..$((8 + $(echo "$versions" | wc -l)))"

q -d postgres -c "DROP DATABASE IF EXISTS bandit_upgrade_fresh" -c "DROP DATABASE IF EXISTS bandit_upgrade_walk" \
  -c "CREATE DATABASE bandit_upgrade_fresh" -c "CREATE DATABASE bandit_upgrade_walk" >/dev/null
q -d bandit_upgrade_fresh -c "CREATE EXTENSION bandit" >/dev/null
q -d bandit_upgrade_walk -c "CREATE EXTENSION bandit VERSION '$oldest'" >/dev/null
# a populated log in the oldest version, written with the current library
# (installing a new package must not break databases not yet updated)
populate() { q -d bandit_upgrade_walk >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT bandit_create('old_ts', ARRAY['a', 'b']);
SELECT bandit_create('old_batch', ARRAY['x', 'y'], 'ucb1', '{"update": "batch"}');
DO $$
DECLARE d record;
BEGIN
  FOR i IN 1..50 LOOP
    SELECT * INTO d FROM bandit_select('old_ts');
    PERFORM bandit_reward(d.decision_id, i % 2);
    SELECT * INTO d FROM bandit_select('old_batch');
    PERFORM bandit_reward(d.decision_id, 1);
  END LOOP;
END $$;
SQL
}
check "a database at $oldest works with the current library before it is updated" populate
too_early=$(q -d bandit_upgrade_walk -c "SELECT bandit_create('ctx', ARRAY['a'], 'linucb', '{\"context_dim\": 2}')" 2>&1 || true)
check "before its update it refuses a contextual experiment with a hint to update" \
  grep -q "ALTER EXTENSION bandit UPDATE" <<<"$too_early"
# the columns of 0.1.0 (later versions add columns with defaults:
# experiment.paused_arm, decision.kind, reward.late, arm.linear)
log_snapshot() {
  q -d bandit_upgrade_walk -c "
    SELECT 'experiment', (e.id, e.name, e.policy, e.params, e.version, e.created_at)::text
      FROM bandit.experiment e UNION ALL
    SELECT 'arm', (a.experiment_id, a.arm_id, a.name, a.enabled, a.version, a.beta, a.normal, a.ipw_sum)::text
      FROM bandit.arm a UNION ALL
    SELECT 'decision', (d.id, d.experiment_id, d.arm_id, d.propensity, d.context, d.unit, d.state_version,
                        d.decided_at)::text FROM bandit.decision d UNION ALL
    SELECT 'reward', (r.decision_id, r.experiment_id, r.arm_id, r.reward, r.rewarded_at)::text
      FROM bandit.reward r UNION ALL
    SELECT 'pending', p::text FROM bandit.pending_reward p
    ORDER BY 1, 2"
}
before=$(log_snapshot)
for v in $versions; do
  check "update path reaches $v from $oldest" \
    q -d bandit_upgrade_walk -c "ALTER EXTENSION bandit UPDATE TO '$v'"
done
check "the walked extension is at the default version $default" \
  test "$(q -d bandit_upgrade_walk -c "SELECT extversion FROM pg_extension WHERE extname = 'bandit'")" = "$default"
check "the walked extension has exactly the objects of a fresh install" \
  diff <(objects bandit_upgrade_fresh) <(objects bandit_upgrade_walk)
check "every experiment, arm, decision and reward logged before the updates is unchanged" \
  diff <(echo "$before") <(log_snapshot)
check "the columns added by the updates hold their defaults for old rows (policy decisions, rewards not late, not paused)" \
  test "$(q -d bandit_upgrade_walk -c "SELECT (SELECT count(*) FROM bandit.decision WHERE kind <> 'policy')
                                          + (SELECT count(*) FROM bandit.reward WHERE late)
                                          + (SELECT count(*) FROM bandit.experiment WHERE paused_arm IS NOT NULL)
                                          + (SELECT count(*) FROM bandit.reward_slot)")" = 0
check "after the updates the pending rewards of an old experiment fold" \
  test "$(q -d bandit_upgrade_walk -c "SELECT bandit_refresh('old_batch')")" = 50
check "after the updates old experiments select, and new features work" \
  q -o /dev/null -d bandit_upgrade_walk -c "SELECT * FROM bandit_select('old_ts')" \
    -c "SELECT bandit_create('new_ctx', ARRAY['p', 'q'], 'linucb', '{\"context_dim\": 2}')" \
    -c "SELECT bandit_reward(decision_id, 1) FROM bandit_select('new_ctx', ARRAY[1, 0.5])"
q -d postgres -c "DROP DATABASE bandit_upgrade_fresh" -c "DROP DATABASE bandit_upgrade_walk" >/dev/null
exit $((failed > 0))
