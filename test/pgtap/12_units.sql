-- pgTAP: units and delayed rewards (issue 7, section 3): sticky units,
-- reward_window (late rewards are logged, never folded), bandit_reward_unit.
--
-- Everything runs in one transaction that is rolled back at the end;
-- decided_at is moved back by hand to make decisions old (test data).
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(28);

SET LOCAL bandit.seed = 99;

CREATE FUNCTION pg_temp.eid(exp text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM bandit.experiment WHERE name = exp $$;
-- the arm's posterior n as bandit_select sees it
CREATE FUNCTION pg_temp.n(exp text, arm text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT substring(coalesce(p.beta::text, p.normal::text) FROM 'n=([0-9]+)')::bigint
     FROM bandit.arm_posteriors(exp) p JOIN bandit.arm a USING (arm_id)
    WHERE a.experiment_id = pg_temp.eid(exp) AND a.name = arm $$;

-- --------------------------------------------------------------------------
-- Sticky units
-- --------------------------------------------------------------------------

SELECT bandit_create('sticky', ARRAY['a', 'b', 'c'], 'thompson', '{"sticky": true}') IS NOT NULL AS created \gset
SELECT arm AS u1_arm, propensity AS u1_p FROM bandit_select('sticky', NULL, 'u1') \gset
-- move the weights a lot: successes for every other arm, failures for the unit's
SELECT set_config('my.u1_arm', :'u1_arm', true) IS NOT NULL AS set \gset
DO $$
DECLARE
    d record;
BEGIN
    FOR i IN 1 .. 2000 LOOP
        SELECT * INTO d FROM bandit_select('sticky');
        PERFORM bandit_reward(d.decision_id, CASE WHEN d.arm = current_setting('my.u1_arm') THEN 0 ELSE 1 END);
    END LOOP;
END $$;
SELECT ok(bandit_policy_prob('sticky', :'u1_arm') < 0.01,
          'sticky: the weights moved away from the unit''s first arm');
CREATE TEMP TABLE repeats AS
SELECT s.* FROM generate_series(1, 20) g, LATERAL bandit_select(CASE WHEN g > 0 THEN 'sticky' END, NULL, 'u1') s;
SELECT ok(bool_and(arm = :'u1_arm' AND propensity = :u1_p) AND count(*) = 20,
          'sticky: the unit keeps its first arm, each repeat logged with the first propensity')
  FROM repeats;
SELECT is((SELECT count(*) FROM bandit.decision d JOIN repeats r ON r.decision_id = d.id WHERE d.kind = 'repeat'),
          20::bigint, 'sticky: the repeats are logged with kind repeat');
SELECT is((SELECT kind FROM bandit.decision WHERE experiment_id = pg_temp.eid('sticky') AND unit = 'u1' ORDER BY id LIMIT 1),
          'policy', 'sticky: the first decision is a policy draw');
SELECT count(s.arm) AS new_units FROM generate_series(1, 40) g,
       LATERAL bandit_select('sticky', NULL, 'new-' || g) s \gset
SELECT ok(:new_units = 40 AND (SELECT bool_and(kind = 'policy') AND count(*) = 40 FROM bandit.decision
                                WHERE experiment_id = pg_temp.eid('sticky') AND unit LIKE 'new-%'),
          'sticky: new units are drawn from the policy as it is now');
-- the unit's arm disabled: drawn again, and the new arm sticks
SELECT bandit_set_arm_enabled('sticky', :'u1_arm', false) IS NULL AS disabled \gset
SELECT arm AS u1_new, propensity AS u1_new_p FROM bandit_select('sticky', NULL, 'u1') \gset
SELECT ok(:'u1_new' <> :'u1_arm' AND (SELECT kind FROM bandit.decision WHERE experiment_id = pg_temp.eid('sticky')
                                       AND unit = 'u1' ORDER BY id DESC LIMIT 1) = 'policy',
          'sticky: a unit whose arm was disabled is drawn again');
SELECT ok((SELECT bool_and(s.arm = :'u1_new' AND s.propensity = :u1_new_p)
             FROM generate_series(1, 5) g, LATERAL bandit_select(CASE WHEN g > 0 THEN 'sticky' END, NULL, 'u1') s),
          'sticky: and keeps the new arm');
-- paused: the default arm, not the unit's; after resume the unit's arm again
SELECT bandit_set_arm_enabled('sticky', :'u1_arm', true) IS NULL AS enabled \gset
SELECT bandit_pause('sticky', :'u1_arm') IS NULL AS paused \gset
SELECT decision_id AS pd, arm = :'u1_arm' AND propensity = 1 AS pd_ok FROM bandit_select('sticky', NULL, 'u1') \gset
SELECT ok(:'pd_ok'::boolean AND (SELECT kind FROM bandit.decision WHERE id = :pd) = 'paused',
          'sticky, paused: the unit gets the default arm, logged as paused');
SELECT bandit_resume('sticky') IS NULL AS resumed \gset
SELECT is((SELECT arm FROM bandit_select('sticky', NULL, 'u1')), :'u1_new',
          'sticky, resumed: the unit has its arm again');
-- without a unit, sticky changes nothing
SELECT decision_id AS nd, arm AS nd_arm, propensity AS nd_p FROM bandit_select('sticky') \gset
SELECT ok(:nd_p = bandit_policy_prob('sticky', :'nd_arm') AND (SELECT kind FROM bandit.decision WHERE id = :nd) = 'policy',
          'sticky: a decision without a unit is a policy draw');
-- off-policy evaluation leaves repeats out
SELECT bandit_reward(decision_id, 1) FROM repeats LIMIT 5;
SELECT is((SELECT n FROM bandit_evaluate('sticky', 'uniform') WHERE estimator = 'ips'),
          (SELECT count(*) FROM bandit.decision d JOIN bandit.reward r ON r.decision_id = d.id
            WHERE d.experiment_id = pg_temp.eid('sticky') AND d.kind <> 'repeat'),
          'bandit_evaluate leaves out the repeats');
SELECT throws_ok($$SELECT bandit_create('bad_sticky', ARRAY['a'], 'thompson', '{"sticky": "yes"}')$$,
                 '22023', NULL, 'sticky must be a boolean: 22023');

-- --------------------------------------------------------------------------
-- reward_window: late rewards are logged as late and never folded
-- --------------------------------------------------------------------------

SELECT bandit_create('win', ARRAY['a', 'b'], 'uniform', '{"reward_window": "1 hour"}') IS NOT NULL AS created \gset
SELECT bandit_create('win_batch', ARRAY['a', 'b'], 'uniform',
                     '{"reward_window": "1 hour", "update": "batch"}') IS NOT NULL AS created \gset
SELECT decision_id AS w_old, arm AS w_old_arm FROM bandit_select('win') \gset
SELECT decision_id AS w_new, arm AS w_new_arm FROM bandit_select('win') \gset
SELECT decision_id AS wb_old FROM bandit_select('win_batch') \gset
UPDATE bandit.decision SET decided_at = now() - interval '61 minutes' WHERE id IN (:w_old, :wb_old);
SELECT pg_temp.n('win', 'a') + pg_temp.n('win', 'b') AS n_before \gset
SELECT bandit_reward(:w_old, 1) IS NULL AS rewarded \gset
SELECT ok((SELECT late FROM bandit.reward WHERE decision_id = :w_old),
          'reward_window: a reward 61 minutes after a 1 hour window is logged as late');
SELECT is(pg_temp.n('win', 'a') + pg_temp.n('win', 'b'), :n_before::bigint,
          'reward_window: the late reward is not folded');
SELECT bandit_reward(:w_new, 1) IS NULL AS rewarded \gset
SELECT ok(NOT (SELECT late FROM bandit.reward WHERE decision_id = :w_new)
          AND pg_temp.n('win', 'a') + pg_temp.n('win', 'b') = :n_before + 1,
          'reward_window: a reward inside the window is folded');
SELECT is((SELECT sum(late) FROM bandit_arm_stats('win')), 1::numeric,
          'reward_window: bandit_arm_stats counts the late reward apart');
SELECT is((SELECT sum(rewarded) FROM bandit_arm_stats('win')), 1::numeric,
          'reward_window: and not among the rewarded');
SELECT bandit_reward(:wb_old, 1) IS NULL AS rewarded \gset
SELECT ok((SELECT late FROM bandit.reward WHERE decision_id = :wb_old)
          AND NOT EXISTS (SELECT 1 FROM bandit.pending_reward WHERE decision_id = :wb_old),
          'reward_window, batch: a late reward is not queued');
SELECT is(bandit_refresh('win_batch'), 0::bigint, 'reward_window, batch: the refresh folds nothing of it');
SELECT throws_ok($$SELECT bandit_reward($$ || :w_old || $$, 0)$$, '23505', NULL,
                 'a late reward still takes the decision''s one reward');
SELECT throws_ok($$SELECT bandit_create('bad_win', ARRAY['a'], 'thompson', '{"reward_window": "0 seconds"}')$$,
                 '22023', NULL, 'reward_window must be positive: 22023');
SELECT throws_ok($$SELECT bandit_create('bad_win', ARRAY['a'], 'thompson', '{"reward_window": "soon"}')$$,
                 '22007', NULL, 'reward_window must be an interval: 22007');

-- --------------------------------------------------------------------------
-- bandit_reward_unit: the unit's latest unrewarded decision inside the window
-- --------------------------------------------------------------------------

SELECT bandit_create('conv', ARRAY['a', 'b'], 'uniform', '{"reward_window": "1 day"}') IS NOT NULL AS created \gset
SELECT decision_id AS c1 FROM bandit_select('conv', NULL, 'alice') \gset
SELECT decision_id AS c2 FROM bandit_select('conv', NULL, 'alice') \gset
SELECT decision_id AS c3 FROM bandit_select('conv', NULL, 'bob') \gset
UPDATE bandit.decision SET decided_at = now() - interval '2 days' WHERE id = :c3;
SELECT is(bandit_reward_unit('conv', 'alice', 1), :c2::bigint,
          'bandit_reward_unit credits the unit''s latest decision');
SELECT is(bandit_reward_unit('conv', 'alice', 0), :c1::bigint,
          'then the latest one still without a reward');
SELECT is(bandit_reward_unit('conv', 'alice', 1), NULL::bigint,
          'NULL when every decision of the unit has its reward (nothing recorded)');
SELECT is(bandit_reward_unit('conv', 'bob', 1), NULL::bigint,
          'NULL when the unit''s decisions are outside the window');
SELECT is((SELECT count(*) FROM bandit.reward WHERE experiment_id = pg_temp.eid('conv')), 2::bigint,
          'exactly the two credited decisions have rewards');
SELECT throws_ok($$SELECT bandit_reward_unit('conv', NULL, 1)$$, '22004', NULL, 'a NULL unit: 22004');

SELECT * FROM finish();
ROLLBACK;
