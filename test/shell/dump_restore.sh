#!/usr/bin/env bash
# pg_dump / pg_restore round trip of a populated database: every experiment,
# arm, posterior, decision and reward survives (pg_extension_config_dump),
# and bandit_select continues from the same state (contextual experiments
# included: linear_posterior values and their cached factors).  Prints TAP.
# Needs PGHOST/PGPORT/PGUSER of a server where bandit is installed.
set -euo pipefail
SRC=bandit_dump_src
DST=bandit_dump_dst
DUMP=$(mktemp)
q() { psql -X -v ON_ERROR_STOP=1 -qtA "$@"; }
n=0; failed=0
check() {  # description, command...
  local desc=$1; shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; failed=$((failed + 1)); fi
}
echo "1..9"

q -d postgres -c "DROP DATABASE IF EXISTS $SRC" -c "DROP DATABASE IF EXISTS $DST" -c "CREATE DATABASE $SRC" >/dev/null
q -d $SRC >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION bandit;
SET bandit.seed = 11;
SELECT bandit_create('dump_ts', ARRAY['a', 'b', 'c']);
SELECT bandit_create('dump_batch', ARRAY['x', 'y'], 'epsilon_greedy', '{"update": "batch", "epsilon": 0.3}');
SELECT bandit_create('dump_gauss', ARRAY['p', 'q'], 'thompson', '{"reward_type": "gaussian", "prior_mean": 5}');
SELECT bandit_create('dump_exp3', ARRAY['e1', 'e2', 'e3'], 'exp3', '{"gamma": 0.2}');
SELECT bandit_create('dump_ucb', ARRAY['u1', 'u2'], 'ucb1');
SELECT bandit_create('dump_linucb', ARRAY['l1', 'l2', 'l3'], 'linucb', '{"context_dim": 2, "epsilon": 0.1}');
SELECT bandit_create('dump_lints', ARRAY['t1', 't2'], 'lints',
                     '{"context_dim": 2, "update": "batch", "reward_type": "gaussian", "v": 0.3}');
DO $$
DECLARE d record; e text;
BEGIN
  FOR i IN 1..300 LOOP
    FOREACH e IN ARRAY ARRAY['dump_ts', 'dump_batch', 'dump_exp3', 'dump_ucb'] LOOP
      SELECT * INTO d FROM bandit_select(e, ARRAY[i, i * 0.5]::float8[], 'unit' || (i % 17));
      IF i % 5 <> 0 THEN PERFORM bandit_reward(d.decision_id, (random() < 0.3)::int); END IF;
    END LOOP;
    SELECT * INTO d FROM bandit_select('dump_gauss');
    PERFORM bandit_reward(d.decision_id, 5 + random());
    SELECT * INTO d FROM bandit_select('dump_linucb', ARRAY[1, random()]);
    PERFORM bandit_reward(d.decision_id, (random() < 0.4)::int);
    SELECT * INTO d FROM bandit_select('dump_lints', ARRAY[random(), 1], 'unit' || (i % 7));
    PERFORM bandit_reward(d.decision_id, random() * 3);
    IF i % 100 = 0 THEN PERFORM bandit_refresh('dump_lints'); END IF;
  END LOOP;
END $$;
SELECT bandit_refresh('dump_batch');
-- leave some rewards pending
DO $$
DECLARE d record;
BEGIN
  FOR i IN 1..20 LOOP
    SELECT * INTO d FROM bandit_select('dump_batch');
    PERFORM bandit_reward(d.decision_id, 1);
    SELECT * INTO d FROM bandit_select('dump_lints', ARRAY[0.5, 1]);
    PERFORM bandit_reward(d.decision_id, 2);
  END LOOP;
END $$;
SELECT bandit_set_arm_enabled('dump_ts', 'c', false);
-- 0.4.0: a paused experiment, a guardrail, sticky units, a late reward,
-- posteriors that forget (state_time), online rewards still in reward
-- slots (dump_ts is online and was never refreshed), events
SELECT bandit_create('dump_ops', ARRAY['o1', 'o2', 'o3'], 'thompson',
                     '{"sticky": true, "reward_window": "1 hour", "min_propensity": 0.05, "explore_share": 0.8}');
SELECT bandit_set_guardrail('dump_ops', 0.01, 1000);
SELECT bandit_create('dump_hl', ARRAY['h1', 'h2'], 'ucb1', '{"update": "batch", "half_life": "2 hours"}');
DO $$
DECLARE d record;
BEGIN
  FOR i IN 1..60 LOOP
    SELECT * INTO d FROM bandit_select('dump_ops', NULL, 'u' || (i % 9));
    IF i % 3 = 0 THEN PERFORM bandit_reward(d.decision_id, 1); END IF;
    SELECT * INTO d FROM bandit_select('dump_hl');
    PERFORM bandit_reward(d.decision_id, (i % 4 = 0)::int);
  END LOOP;
END $$;
UPDATE bandit.decision SET decided_at = decided_at - interval '2 hours'
 WHERE id = (SELECT max(d.id) FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id
              WHERE e.name = 'dump_ops' AND NOT EXISTS (SELECT 1 FROM bandit.reward r WHERE r.decision_id = d.id));
SELECT bandit_reward((SELECT max(d.id) FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id
                       WHERE e.name = 'dump_ops' AND d.decided_at < now() - interval '1 hour'), 1);
SELECT bandit_refresh('dump_hl');
SELECT bandit_pause('dump_gauss', 'q');
SQL

snapshot() {  # every extension table, in a stable order, as text
  q -d "$1" -c "
    SELECT 'experiment', e::text FROM bandit.experiment e UNION ALL
    SELECT 'arm', a::text FROM bandit.arm a UNION ALL
    SELECT 'decision', d::text FROM bandit.decision d UNION ALL
    SELECT 'reward', r::text FROM bandit.reward r UNION ALL
    SELECT 'pending', p::text FROM bandit.pending_reward p UNION ALL
    SELECT 'slot', s::text FROM bandit.reward_slot s UNION ALL
    SELECT 'event', v::text FROM bandit.event v UNION ALL
    SELECT 'sequence', last_value::text FROM bandit.decision_id_seq UNION ALL
    SELECT 'sequence', last_value::text FROM bandit.event_id_seq UNION ALL
    SELECT 'sequence', last_value::text FROM bandit.experiment_id_seq
    ORDER BY 1, 2"
}
probs() {  # contextual experiments at a fixed context
  q -d "$1" -c "SELECT e.name, a.name,
                       bandit_policy_prob(e.name, a.name,
                                          CASE WHEN e.policy IN ('linucb', 'lints')
                                               THEN array_fill(0.7::float8, ARRAY[(e.params ->> 'context_dim')::int]) END)
                  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id ORDER BY 1, 2"
}

pg_dump -Fc -d $SRC -f "$DUMP"
q -d postgres -c "CREATE DATABASE $DST" >/dev/null
pg_restore -d $DST "$DUMP" 2>&1 | grep -v '^$' || true

rows=$(q -d $SRC -c "SELECT count(*) FROM bandit.decision")
check "the source holds a populated log ($rows decisions)" test "$rows" -gt 1000
check "every table and type value is identical after restore" diff <(snapshot $SRC) <(snapshot $DST)
check "every policy probability is identical after restore" diff <(probs $SRC) <(probs $DST)
check "units get the same arms after restore" diff \
  <(q -d $SRC -c "SELECT arm FROM bandit_select('dump_ts', NULL, 'unit-x') UNION ALL SELECT arm FROM bandit_select('dump_gauss', NULL, 'unit-y')
                  UNION ALL SELECT arm || propensity FROM bandit_select('dump_lints', ARRAY[0.2, 1], 'unit-z')") \
  <(q -d $DST -c "SELECT arm FROM bandit_select('dump_ts', NULL, 'unit-x') UNION ALL SELECT arm FROM bandit_select('dump_gauss', NULL, 'unit-y')
                  UNION ALL SELECT arm || propensity FROM bandit_select('dump_lints', ARRAY[0.2, 1], 'unit-z')")
check "0.4.0 state survives: reward slots, a late reward, a pause, sticky units, events" test \
  "$(q -d $DST -c "SELECT (SELECT count(*) > 0 FROM bandit.reward_slot)
                       AND (SELECT count(*) = 1 FROM bandit.reward WHERE late)
                       AND (SELECT arm = 'q' AND propensity = 1 FROM bandit_select('dump_gauss'))
                       AND (SELECT count(*) >= 5 FROM bandit.event)
                       AND (SELECT state_time IS NOT NULL FROM bandit.experiment WHERE name = 'dump_hl')")" = t
check "a sticky unit keeps its arm after restore" diff \
  <(q -d $SRC -c "SELECT arm, propensity FROM bandit_select('dump_ops', NULL, 'u4')") \
  <(q -d $DST -c "SELECT arm, propensity FROM bandit_select('dump_ops', NULL, 'u4')")
check "new decisions continue the sequence" test \
  "$(q -d $DST -c "SELECT decision_id FROM bandit_select('dump_ucb')")" -gt "$rows"
check "pending rewards fold after restore" test \
  "$(q -d $DST -c "SELECT bandit_refresh('dump_batch')")" -eq 20
check "pending contextual rewards fold after restore to the same posteriors as in the source" diff \
  <(q -d $SRC -c "SELECT bandit_refresh('dump_lints')" -c "SELECT name, linear FROM bandit.arm WHERE linear IS NOT NULL ORDER BY 1") \
  <(q -d $DST -c "SELECT bandit_refresh('dump_lints')" -c "SELECT name, linear FROM bandit.arm WHERE linear IS NOT NULL ORDER BY 1")

q -d postgres -c "DROP DATABASE $SRC" -c "DROP DATABASE $DST" >/dev/null
rm -f "$DUMP"
exit $((failed > 0))
