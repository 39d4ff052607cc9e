-- pgTAP: running experiments safely (issue 7, section 1): exploration
-- limits (explore_share, min_propensity), pause / resume, guardrails, and
-- the events log.
--
-- Everything runs in one transaction that is rolled back at the end.
-- Exact policies are compared to 1e-12, Thompson (numerical integration)
-- and LinTS to 1e-9.  Guardrail bounds are checked against closed forms
-- written here: for Beta(1, b) the one-sided upper bound at level c is
-- 1 - (1 - c)^(1/b).
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(48);

SET LOCAL bandit.seed = 7177;
SELECT setseed(0.5);

CREATE FUNCTION pg_temp.eid(exp text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM bandit.experiment WHERE name = exp $$;

-- select until the wanted arm comes up and reward it; other decisions stay unrewarded
CREATE FUNCTION pg_temp.pull(exp text, want text, reward float8) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    FOR i IN 1 .. 100000 LOOP
        SELECT * INTO d FROM bandit_select(exp);
        IF d.arm = want THEN
            PERFORM bandit_reward(d.decision_id, reward);
            RETURN d.decision_id;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'arm % never came up', want;
END $$;

-- rounds of select + reward, Bernoulli(levels[arm_id])
CREATE FUNCTION pg_temp.play(exp text, rounds int, levels float8[]) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    d record;
    aid int;
BEGIN
    FOR i IN 1 .. rounds LOOP
        SELECT * INTO d FROM bandit_select(exp);
        SELECT arm_id INTO aid FROM bandit.arm WHERE experiment_id = pg_temp.eid(exp) AND name = d.arm;
        PERFORM bandit_reward(d.decision_id, (random() < levels[aid])::int);
    END LOOP;
END $$;

-- posterior mean of each arm as bandit_select sees it
CREATE FUNCTION pg_temp.means(exp text) RETURNS TABLE (arm text, enabled boolean, mean float8)
    LANGUAGE sql STABLE AS
$$ SELECT a.name, a.enabled, coalesce(posterior_mean(p.beta), posterior_mean(p.normal))
     FROM bandit.arm a JOIN bandit.arm_posteriors(exp) p USING (arm_id)
    WHERE a.experiment_id = pg_temp.eid(exp) $$;

-- --------------------------------------------------------------------------
-- Exploration limits: the mixed policy's probabilities
-- p = m + (1 - K m) (s p_policy + (1 - s) g), m = min(min_propensity, 1/K),
-- g the greedy vector (best posterior mean, ties split).  p_policy comes from
-- a twin experiment without limits that got the same rewards.
-- --------------------------------------------------------------------------

CREATE TEMP TABLE twins (policy text, params jsonb);
INSERT INTO twins VALUES
    ('thompson', '{}'), ('ucb1', '{}'), ('epsilon_greedy', '{"epsilon": 0.2}'),
    ('softmax', '{"temperature": 0.2}'), ('exp3', '{"gamma": 0.3}'), ('uniform', '{}');

DO $$
DECLARE
    t record;
    d record;
    r float8;
BEGIN
    FOR t IN SELECT * FROM twins LOOP
        PERFORM bandit_create('lim_' || t.policy, ARRAY['a', 'b', 'c', 'd'], t.policy,
                              t.params || '{"update": "batch", "explore_share": 0.3, "min_propensity": 0.05}');
        PERFORM bandit_create('base_' || t.policy, ARRAY['a', 'b', 'c', 'd'], t.policy,
                              t.params || '{"update": "batch"}');
        -- the same 200 rewards into both (arm chosen by the limited policy)
        FOR i IN 1 .. 200 LOOP
            SELECT * INTO d FROM bandit_select('lim_' || t.policy);
            r := (random() < CASE d.arm WHEN 'a' THEN 0.2 WHEN 'b' THEN 0.4 WHEN 'c' THEN 0.5 ELSE 0.1 END)::int;
            PERFORM bandit_reward(d.decision_id, r);
        END LOOP;
        -- copy the limited experiment's folded posteriors into the twin
        PERFORM bandit_refresh('lim_' || t.policy);
        UPDATE bandit.arm b SET beta = l.beta, ipw_sum = l.ipw_sum, version = b.version + 1
          FROM bandit.arm l
         WHERE l.experiment_id = pg_temp.eid('lim_' || t.policy)
           AND b.experiment_id = pg_temp.eid('base_' || t.policy) AND b.arm_id = l.arm_id;
    END LOOP;
END $$;

CREATE TEMP TABLE mixed AS
WITH g AS (
    SELECT t.policy, m.arm, m.mean,
           (m.mean = max(m.mean) OVER (PARTITION BY t.policy))::int::float8 AS top
      FROM twins t, pg_temp.means('lim_' || t.policy) m
), gv AS (
    SELECT policy, arm, top / sum(top) OVER (PARTITION BY policy) AS greedy FROM g
)
SELECT gv.policy, gv.arm,
       bandit_policy_prob('lim_' || gv.policy, gv.arm) AS got,
       0.05 + (1 - 4 * 0.05) * (0.3 * bandit_policy_prob('base_' || gv.policy, gv.arm) + 0.7 * gv.greedy) AS want
  FROM gv;

SELECT ok(count(*) = 4 AND max(abs(got - want)) <= 1e-9 AND abs(sum(got) - 1) <= 1e-9,
          format('limits, %s: bandit_policy_prob = m + (1 - K m)(s p + (1 - s) g), summing to 1', policy))
  FROM mixed GROUP BY policy ORDER BY policy;
SELECT ok(min(got) >= 0.05 - 1e-12, 'limits: every arm of every policy has at least min_propensity')
  FROM mixed;

-- the logged propensity is bandit_policy_prob of the state it was drawn in
SELECT bandit_create('lim_fixed', ARRAY['a', 'b', 'c'], 'thompson',
                     '{"update": "batch", "explore_share": 0.4, "min_propensity": 0.1}') IS NOT NULL AS created \gset
SELECT pg_temp.play('lim_fixed', 300, ARRAY[0.3, 0.5, 0.6]) IS NULL AS played \gset
SELECT bandit_refresh('lim_fixed') > 0 AS refreshed \gset
CREATE TEMP TABLE fixed_draws AS
SELECT s.arm, s.propensity FROM generate_series(1, 20000) g,
       LATERAL bandit_select(CASE WHEN g > 0 THEN 'lim_fixed' END) s;  -- (g: one call per row)
SELECT ok(bool_and(abs(f.propensity - bandit_policy_prob('lim_fixed', f.arm)) <= 1e-15),
          'limits: 20,000 logged propensities equal bandit_policy_prob')
  FROM (SELECT DISTINCT arm, propensity FROM fixed_draws) f;
-- chi-square of the selection frequencies against the mixed probabilities
-- (2 degrees of freedom; 13.8 is the 0.999 quantile)
SELECT cmp_ok((SELECT sum((c.n - 20000 * p.p)^2 / (20000 * p.p))
                 FROM (SELECT arm, count(*) AS n FROM fixed_draws GROUP BY arm) c
                 JOIN (SELECT a AS arm, bandit_policy_prob('lim_fixed', a) AS p
                         FROM unnest(ARRAY['a', 'b', 'c']) a) p USING (arm)),
              '<', 13.8::float8,
              'limits: selection frequencies fit the mixed probabilities (chi-square, p = 0.001)');

-- contextual: LinUCB and LinTS with limits against their twins at one context
SELECT bandit_create('lim_linucb', ARRAY['a', 'b', 'c'], 'linucb',
                     '{"context_dim": 2, "update": "batch", "explore_share": 0.5, "min_propensity": 0.1}') IS NOT NULL AS c1 \gset
SELECT bandit_create('base_linucb', ARRAY['a', 'b', 'c'], 'linucb',
                     '{"context_dim": 2, "update": "batch"}') IS NOT NULL AS c2 \gset
SELECT bandit_create('lim_lints', ARRAY['a', 'b', 'c'], 'lints',
                     '{"context_dim": 2, "update": "batch", "explore_share": 0.5, "min_propensity": 0.1}') IS NOT NULL AS c3 \gset
SELECT bandit_create('base_lints', ARRAY['a', 'b', 'c'], 'lints',
                     '{"context_dim": 2, "update": "batch"}') IS NOT NULL AS c4 \gset
DO $$
DECLARE
    d record;
    e text;
BEGIN
    FOREACH e IN ARRAY ARRAY['linucb', 'lints'] LOOP
        FOR i IN 1 .. 150 LOOP
            SELECT * INTO d FROM bandit_select('lim_' || e, ARRAY[random(), random()]);
            PERFORM bandit_reward(d.decision_id, CASE d.arm WHEN 'b' THEN 1 ELSE random() END);
        END LOOP;
        PERFORM bandit_refresh('lim_' || e);
        UPDATE bandit.arm b SET linear = l.linear, version = b.version + 1
          FROM bandit.arm l
         WHERE l.experiment_id = pg_temp.eid('lim_' || e)
           AND b.experiment_id = pg_temp.eid('base_' || e) AND b.arm_id = l.arm_id;
    END LOOP;
END $$;
CREATE TEMP TABLE ctx_mixed AS
WITH x AS (SELECT ARRAY[0.3, 0.8]::float8[] AS x), scores AS (
    SELECT e, a.name AS arm, linear_posterior_predict(a.linear, x.x) AS mu
      FROM unnest(ARRAY['linucb', 'lints']) e, x, bandit.arm a
     WHERE a.experiment_id = pg_temp.eid('lim_' || e)
), g AS (
    SELECT e, arm, (mu = max(mu) OVER (PARTITION BY e))::int::float8 AS top FROM scores
)
SELECT g.e, g.arm,
       bandit_policy_prob('lim_' || g.e, g.arm, x.x) AS got,
       0.1 + (1 - 3 * 0.1) * (0.5 * bandit_policy_prob('base_' || g.e, g.arm, x.x)
                              + 0.5 * g.top / sum(g.top) OVER (PARTITION BY g.e)) AS want
  FROM g, (SELECT ARRAY[0.3, 0.8]::float8[] AS x) x;
SELECT ok(count(*) = 3 AND max(abs(got - want)) <= 1e-9 AND abs(sum(got) - 1) <= 1e-9,
          format('limits, %s at a context: the mixed probabilities, summing to 1', e))
  FROM ctx_mixed GROUP BY e ORDER BY e;
-- LinTS with limits is sampled as a mixture: logged propensities are the formula
SELECT ok(bool_and(abs(s.propensity - bandit_policy_prob('lim_lints', s.arm, ARRAY[0.3, 0.8])) <= 1e-9),
          'limits, lints: 500 logged propensities equal bandit_policy_prob at their context')
  FROM generate_series(1, 500) g, LATERAL bandit_select(CASE WHEN g > 0 THEN 'lim_lints' END, ARRAY[0.3, 0.8]) s;

SELECT throws_ok($$SELECT bandit_create('bad_lim', ARRAY['a'], 'thompson', '{"min_propensity": 1}')$$,
                 '22023', NULL, 'min_propensity 1: 22023');
SELECT throws_ok($$SELECT bandit_create('bad_lim', ARRAY['a'], 'thompson', '{"explore_share": 1.5}')$$,
                 '22023', NULL, 'explore_share above 1: 22023');
SELECT throws_ok($$SELECT bandit_create('bad_lim', ARRAY['a'], 'thompson', '{"min_propensity": -0.1}')$$,
                 '22023', NULL, 'negative min_propensity: 22023');
-- a floor above 1/K is met as well as it can be: uniform
SELECT bandit_create('lim_cap', ARRAY['a', 'b', 'c'], 'ucb1', '{"min_propensity": 0.5}') IS NOT NULL AS capped \gset
SELECT ok(bool_and(abs(bandit_policy_prob('lim_cap', a) - 1.0 / 3) <= 1e-15),
          'min_propensity above 1/K gives every enabled arm 1/K')
  FROM unnest(ARRAY['a', 'b', 'c']) a;

-- --------------------------------------------------------------------------
-- Pause and resume
-- --------------------------------------------------------------------------

SELECT bandit_create('pz', ARRAY['a', 'b', 'c'], 'thompson') IS NOT NULL AS created \gset
SELECT lives_ok($$SELECT bandit_pause('pz', 'b')$$, 'bandit_pause');
CREATE TEMP TABLE paused_draws AS
SELECT s.* FROM generate_series(1, 200) g, LATERAL bandit_select(CASE WHEN g > 0 THEN 'pz' END) s;
SELECT ok(bool_and(arm = 'b' AND propensity = 1) AND count(*) = 200,
          'paused: every decision is the default arm with propensity 1')
  FROM paused_draws;
SELECT is((SELECT count(*) FROM bandit.decision WHERE experiment_id = pg_temp.eid('pz') AND kind = 'paused'),
          200::bigint, 'paused: the decisions are logged with kind paused');
SELECT ok(bandit_policy_prob('pz', 'b') = 1 AND bandit_policy_prob('pz', 'a') = 0,
          'paused: bandit_policy_prob is 1 for the default arm, 0 for the others');
SELECT ok((SELECT bool_and(d.arm = 'b') FROM generate_series(1, 20) g,
                  LATERAL bandit_select('pz', NULL, 'unit-' || g) d),
          'paused: units get the default arm too (nothing explores)');
SELECT lives_ok($$SELECT bandit_reward((SELECT decision_id FROM paused_draws LIMIT 1), 1)$$,
                'paused: decisions take rewards');
SELECT throws_ok($$SELECT bandit_set_arm_enabled('pz', 'b', false)$$, '55000', NULL,
                 'paused: the default arm cannot be disabled');
SELECT throws_ok($$SELECT bandit_pause('pz', 'nope')$$, '42704', NULL, 'pause on an unknown arm: 42704');
SELECT bandit_set_arm_enabled('pz', 'c', false) IS NULL AS disabled \gset
SELECT throws_ok($$SELECT bandit_pause('pz', 'c')$$, '55000', NULL, 'pause on a disabled arm: 55000');
SELECT lives_ok($$SELECT bandit_resume('pz')$$, 'bandit_resume');
SELECT ok(abs(bandit_policy_prob('pz', 'a') + bandit_policy_prob('pz', 'b') - 1) <= 1e-9
          AND bandit_policy_prob('pz', 'a') > 0.01,
          'resumed: the policy decides again');
SELECT throws_ok($$SELECT bandit_resume('pz')$$, '55000', NULL, 'resume when not paused: 55000');
SELECT throws_ok($$SELECT bandit_pause(NULL, 'a')$$, '22004', NULL, 'pause with a NULL experiment: 22004');

-- --------------------------------------------------------------------------
-- Guardrails: trips exactly when the closed-form bound falls below
-- min_reward with at least min_pulls rewards, in the rewarding transaction
-- --------------------------------------------------------------------------

-- Beta(1, 1 + n) after n zero rewards: upper 95% bound 1 - 0.05^(1/(1+n));
-- below 0.3 from n = 8 (0.2831), not at n = 7 (0.3123)
SELECT ok(1 - 0.05 ^ (1.0 / 8) > 0.3 AND 1 - 0.05 ^ (1.0 / 9) < 0.3,
          'guardrail data: the bound crosses 0.3 between 7 and 8 failures');
SELECT bandit_create('gr', ARRAY['a', 'b', 'c'], 'uniform') IS NOT NULL AS created \gset
SELECT lives_ok($$SELECT bandit_set_guardrail('gr', 0.3, 5)$$, 'bandit_set_guardrail');
SELECT is((SELECT params -> 'guardrail' FROM bandit.experiment WHERE name = 'gr'),
          '{"min_pulls": 5, "min_reward": 0.3, "confidence": 0.95}'::jsonb,
          'the guardrail is stored in the params');
SELECT count(pg_temp.pull('gr', 'a', 0)) AS pulls FROM generate_series(1, 7) \gset
SELECT ok((SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr') AND name = 'a'),
          'guardrail: after 7 failures (bound 0.312) the arm is still enabled');
SAVEPOINT eighth;
SELECT pg_temp.pull('gr', 'a', 0) IS NOT NULL AS pulled \gset
SELECT ok(NOT (SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr') AND name = 'a'),
          'guardrail: the 8th failure (bound 0.283) disables the arm');
SELECT is((SELECT count(*) FROM bandit_events('gr') WHERE what = 'guardrail tripped' AND arm = 'a'),
          1::bigint, 'guardrail: the trip is in the events, with the arm');
SELECT is(bandit_policy_prob('gr', 'a'), 0::float8, 'guardrail: the disabled arm is no longer selected');
ROLLBACK TO SAVEPOINT eighth;
SELECT ok((SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr') AND name = 'a'),
          'guardrail: rolling back the rewarding transaction undoes the trip (same transaction)');

-- min_pulls holds the trip back: 20 pulls needed, 10 failures are not enough
SELECT bandit_create('gr_pulls', ARRAY['a', 'b'], 'uniform') IS NOT NULL AS created \gset
SELECT bandit_set_guardrail('gr_pulls', 0.3, 20) IS NULL AS set \gset
SELECT count(pg_temp.pull('gr_pulls', 'a', 0)) AS pulls FROM generate_series(1, 19) \gset
SELECT ok((SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr_pulls') AND name = 'a'),
          'guardrail: 19 failures, below min_pulls 20: still enabled');
SELECT pg_temp.pull('gr_pulls', 'a', 0) IS NOT NULL AS pulled \gset
SELECT ok(NOT (SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr_pulls') AND name = 'a'),
          'guardrail: the 20th failure trips it');

-- never the last enabled arm
SELECT count(pg_temp.pull('gr_pulls', 'b', 0)) AS pulls FROM generate_series(1, 25) \gset
SELECT ok((SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr_pulls') AND name = 'b'),
          'guardrail: the last enabled arm is never disabled');

-- batch: the trip happens at the refresh that folds the rewards
SELECT bandit_create('gr_batch', ARRAY['a', 'b'], 'uniform', '{"update": "batch"}') IS NOT NULL AS created \gset
SELECT bandit_set_guardrail('gr_batch', 0.3, 5) IS NULL AS set \gset
SELECT count(pg_temp.pull('gr_batch', 'a', 0)) AS pulls FROM generate_series(1, 10) \gset
SELECT ok((SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr_batch') AND name = 'a'),
          'guardrail, batch: pending rewards do not trip it');
SELECT bandit_refresh('gr_batch') = 10 AS refreshed \gset
SELECT ok(NOT (SELECT enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('gr_batch') AND name = 'a'),
          'guardrail, batch: the refresh that folds them trips it');

SELECT throws_ok($$SELECT bandit_set_guardrail('gr', 0.3, 0)$$, '22023', NULL, 'guardrail min_pulls 0: 22023');
SELECT throws_ok($$SELECT bandit_set_guardrail('gr', 0.3, 5, 1)$$, '22023', NULL, 'guardrail confidence 1: 22023');
SELECT throws_ok($$SELECT bandit_set_guardrail('lim_linucb', 0.3, 5)$$, '0A000', NULL,
                 'guardrail on a contextual experiment: 0A000');

-- --------------------------------------------------------------------------
-- Events: every change, with who and why
-- --------------------------------------------------------------------------

SELECT bandit_create('ev', ARRAY['a', 'b'], 'thompson') IS NOT NULL AS created \gset
SELECT bandit_add_arm('ev', 'c') IS NULL AS added \gset
SELECT bandit_set_arm_enabled('ev', 'a', false) IS NULL AS disabled \gset
SELECT bandit_set_arm_enabled('ev', 'a', false) IS NULL AS again \gset
SELECT bandit_set_arm_enabled('ev', 'a', true) IS NULL AS enabled \gset
SELECT bandit_pause('ev', 'b') IS NULL AS paused \gset
SELECT bandit_resume('ev') IS NULL AS resumed \gset
SELECT bandit_set_guardrail('ev', 0.01, 100) IS NULL AS guarded \gset
SELECT bandit_drop('ev') IS NULL AS dropped \gset
SELECT is(array_agg(what || coalesce('/' || arm, '') ORDER BY ordinality),
          ARRAY['created', 'arm added/c', 'arm disabled/a', 'arm enabled/a', 'paused/b', 'resumed',
                'guardrail set', 'dropped'],
          'events: every change in order (a no-op change records nothing), kept after the drop')
  FROM bandit_events('ev') WITH ORDINALITY;
SELECT ok(bool_and(who = session_user AND why IS NOT NULL AND at IS NOT NULL),
          'events: who is the session user; every event says why')
  FROM bandit_events('ev');
SELECT throws_ok($$SELECT * FROM bandit_events('never_was')$$, '42704', NULL, 'events of an unknown experiment: 42704');

SELECT * FROM finish();
ROLLBACK;
