-- pgTAP: contextual bandits (issue 4): linucb and lints experiments.
--
--   * the API contract: creation and its parameters, contexts checked at
--     select / policy_prob (wrong length, NaN, NULL elements, 2-D, missing)
--     with their SQLSTATEs and nothing logged; online and batch updates;
--     arms added later; bandit_arm_stats;
--   * 1,000,000 online rank-1 updates (linear_posterior_update, the function
--     an online reward applies) agree with one batch fit of the same rows
--     (linear_posterior_agg): A and b to 1e-8 relative element by element,
--     theta to 1e-8 relative;
--   * learning is in 05_contextual_learning.sql.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(53);

SET LOCAL bandit.seed = 4242;
SELECT setseed(0.17);

CREATE FUNCTION pg_temp.eid(exp text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM bandit.experiment WHERE name = exp $$;
CREATE FUNCTION pg_temp.decisions() RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT count(*) FROM bandit.decision $$;

-- ---------------------------------------------------------------------------
-- Creation and parameters
-- ---------------------------------------------------------------------------
SELECT lives_ok($$ SELECT bandit_create('ucb', ARRAY['a', 'b', 'c'], 'linucb', '{"context_dim": 3}') $$,
                'linucb experiment with context_dim 3');
SELECT is((SELECT params FROM bandit.experiment WHERE name = 'ucb'),
          '{"reward_type": "bernoulli", "update": "online", "context_dim": 3, "lambda": 1, "alpha": 1, "epsilon": 0}'::jsonb,
          'linucb params are stored with their defaults');
SELECT lives_ok($$ SELECT bandit_create('ts', ARRAY['a', 'b'], 'lints',
                                         '{"context_dim": 2, "v": 0.5, "lambda": 2, "update": "batch", "reward_type": "gaussian"}') $$,
                'lints experiment, batch, gaussian rewards');
SELECT is((SELECT params FROM bandit.experiment WHERE name = 'ts'),
          '{"reward_type": "gaussian", "update": "batch", "context_dim": 2, "lambda": 2, "v": 0.5}'::jsonb,
          'lints params are stored with their defaults');
SELECT is((SELECT count(*) FROM bandit.arm
            WHERE experiment_id = pg_temp.eid('ucb') AND linear::text = linear_posterior(3)::text
              AND beta IS NULL AND normal IS NULL), 3::bigint,
          'every arm starts at the prior lambda*I, b = 0');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{}') $$, '22023', NULL,
                 'context_dim is required');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{"context_dim": 0}') $$, '22023', NULL,
                 'context_dim 0 is refused');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'lints', '{"context_dim": 1001}') $$, '22023', NULL,
                 'context_dim above 1000 is refused');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{"context_dim": 2.5}') $$, '22023', NULL,
                 'context_dim must be an integer');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{"context_dim": 2, "lambda": 0}') $$, '22023', NULL,
                 'lambda 0 is refused (A must stay positive definite)');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{"context_dim": 2, "epsilon": 1.5}') $$, '22023', NULL,
                 'epsilon outside [0, 1] is refused');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{"context_dim": 2, "alpha": -1}') $$, '22023', NULL,
                 'negative alpha is refused');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'lints', '{"context_dim": 2, "alpha": 1}') $$, '22023', NULL,
                 'alpha is a linucb parameter, not a lints one');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{"context_dim": 2, "prior_alpha": 1}') $$, '22023', NULL,
                 'Beta priors do not apply to contextual policies');
SELECT is((SELECT count(*) FROM bandit.experiment WHERE name = 'x'), 0::bigint,
          'no refused experiment was created');

-- ---------------------------------------------------------------------------
-- Contexts at select and policy_prob
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE before AS SELECT pg_temp.decisions() AS n;
SELECT throws_ok($$ SELECT * FROM bandit_select('ucb') $$, '22004', NULL,
                 'a contextual select without context is refused');
SELECT throws_ok($$ SELECT * FROM bandit_select('ucb', ARRAY[1, 2]::float8[]) $$, '2202E', NULL,
                 'a context of the wrong length is refused');
SELECT throws_ok($$ SELECT * FROM bandit_select('ucb', ARRAY[1, 'NaN', 2]::float8[]) $$, '22023', NULL,
                 'a NaN feature is refused');
SELECT throws_ok($$ SELECT * FROM bandit_select('ucb', ARRAY[1, 'Infinity', 2]::float8[]) $$, '22023', NULL,
                 'an infinite feature is refused');
SELECT throws_ok($$ SELECT * FROM bandit_select('ucb', ARRAY[1, NULL, 2]::float8[]) $$, '22004', NULL,
                 'a NULL feature is refused');
SELECT throws_ok($$ SELECT * FROM bandit_select('ucb', ARRAY[[1, 2, 3], [4, 5, 6]]::float8[]) $$, '2202E', NULL,
                 'a two-dimensional context is refused');
SELECT throws_ok($$ SELECT bandit_policy_prob('ucb', 'a') $$, '22004', NULL,
                 'bandit_policy_prob of a contextual experiment needs the context');
SELECT throws_ok($$ SELECT bandit_policy_prob('ucb', 'a', ARRAY[1]::float8[]) $$, '2202E', NULL,
                 'bandit_policy_prob checks the context length');
SELECT is(pg_temp.decisions(), (SELECT n FROM before), 'no refused select logged a decision');

SELECT is((SELECT propensity FROM bandit_select('ucb', ARRAY[1, 0, 0]::float8[])), 1::float8 / 3,
          'fresh LinUCB arms tie: the propensity is split evenly');
SELECT is((SELECT sum(bandit_policy_prob('ucb', a, ARRAY[0.3, -1, 2]::float8[]))
             FROM unnest(ARRAY['a', 'b', 'c']) a), 1::float8,
          'LinUCB probabilities sum to 1');
SELECT is((SELECT context FROM bandit.decision ORDER BY id DESC LIMIT 1), ARRAY[1, 0, 0]::float8[],
          'the context is logged with the decision');

-- online: a reward updates the arm's A and b at once
SELECT bandit_reward(d.decision_id, 1)
  FROM bandit_select('ucb', ARRAY[0.5, 1, 2]::float8[]) d;
SELECT is((SELECT count(*) FROM bandit.arm
            WHERE experiment_id = pg_temp.eid('ucb') AND linear::text <> linear_posterior(3)::text),
          1::bigint, 'an online reward changes exactly one arm');
SELECT is((SELECT linear::text FROM bandit.arm a JOIN bandit.decision d
             ON d.experiment_id = a.experiment_id AND d.arm_id = a.arm_id
            WHERE d.id = (SELECT max(id) FROM bandit.decision)),
          linear_posterior_update(linear_posterior(3), ARRAY[0.5, 1, 2], 1)::text,
          'the online update is linear_posterior_update of the logged context');
SELECT throws_ok($$ SELECT bandit_reward(max(id), 2) FROM bandit.decision $$, '22003', NULL,
                 'a bernoulli contextual experiment checks rewards are in [0, 1]');

-- batch: pending until refresh, then folded
SELECT bandit_reward(d.decision_id, 3.5)
  FROM bandit_select('ts', ARRAY[1, -1]::float8[]) d;
SELECT bandit_reward(d.decision_id, -0.5)
  FROM bandit_select('ts', ARRAY[2, 0.5]::float8[]) d;
SELECT is((SELECT count(*) FROM bandit.arm WHERE experiment_id = pg_temp.eid('ts')
             AND linear::text = linear_posterior(2, 2)::text), 2::bigint,
          'batch rewards wait for bandit_refresh');
SELECT is(bandit_refresh('ts'), 2::bigint, 'bandit_refresh folds the two pending rewards');
SELECT is((SELECT count(*) FROM bandit.arm WHERE experiment_id = pg_temp.eid('ts')
              AND linear::text <> linear_posterior(2, 2)::text),
          (SELECT count(DISTINCT arm_id) FROM bandit.decision WHERE experiment_id = pg_temp.eid('ts')),
          'after refresh exactly the rewarded arms have moved');
SELECT is((SELECT count(*) FROM bandit.pending_reward WHERE experiment_id = pg_temp.eid('ts')), 0::bigint,
          'after refresh nothing is pending');
SELECT is((SELECT string_agg(a.linear::text, ';' ORDER BY a.arm_id) FROM bandit.arm a
            WHERE a.experiment_id = pg_temp.eid('ts')),
          (SELECT string_agg(coalesce(f.p, linear_posterior(2, 2))::text, ';' ORDER BY a.arm_id)
             FROM bandit.arm a LEFT JOIN (
                  SELECT d.arm_id, linear_posterior_agg(d.context, r.reward, 2) AS p
                    FROM bandit.decision d JOIN bandit.reward r ON r.decision_id = d.id
                   WHERE d.experiment_id = pg_temp.eid('ts') GROUP BY d.arm_id) f ON f.arm_id = a.arm_id
            WHERE a.experiment_id = pg_temp.eid('ts')),
          'the refreshed posteriors equal linear_posterior_agg over the log');

SELECT lives_ok($$ SELECT bandit_add_arm('ts', 'c') $$, 'an arm can be added to a contextual experiment');
SELECT is((SELECT linear::text FROM bandit.arm WHERE experiment_id = pg_temp.eid('ts') AND name = 'c'),
          linear_posterior(2, 2)::text, 'the new arm starts at the prior');
SELECT is((SELECT round(sum(bandit_policy_prob('ts', a, ARRAY[0.2, 0.7]::float8[]))::numeric, 9)
             FROM unnest(ARRAY['a', 'b', 'c']) a), 1.000000000,
          'LinTS probabilities sum to 1');
SELECT bandit_set_arm_enabled('ts', 'c', false);
SELECT is(bandit_policy_prob('ts', 'c', ARRAY[0.2, 0.7]::float8[]), 0::float8, 'a disabled arm has probability 0');

SELECT is((SELECT array_agg(pulls ORDER BY arm) FROM bandit_arm_stats('ts')), ARRAY[
             (SELECT count(*) FROM bandit.decision d JOIN bandit.arm a USING (experiment_id, arm_id)
               WHERE d.experiment_id = pg_temp.eid('ts') AND a.name = 'a'),
             (SELECT count(*) FROM bandit.decision d JOIN bandit.arm a USING (experiment_id, arm_id)
               WHERE d.experiment_id = pg_temp.eid('ts') AND a.name = 'b'), 0::bigint],
          'bandit_arm_stats counts pulls of a contextual experiment');
SELECT is((SELECT sum(reward_sum) FROM bandit_arm_stats('ts')), 3::float8,
          'bandit_arm_stats sums its rewards');
SELECT is((SELECT count(*) FROM bandit_arm_stats('ts') WHERE ci_low IS NULL AND ci_high IS NULL),
          3::bigint, 'the interval columns are NULL for contextual arms (they depend on the context)');
SELECT is((SELECT array_agg(prob_best IS NULL ORDER BY arm) FROM bandit_arm_stats('ts')), ARRAY[true, true, false],
          'prob_best is NULL for enabled contextual arms (it depends on the context), 0 for disabled ones');

-- ---------------------------------------------------------------------------
-- A reward that would make an arm singular is refused, online and in batch
-- ---------------------------------------------------------------------------
SELECT bandit_create('huge', ARRAY['a', 'b'], 'linucb', '{"context_dim": 2, "reward_type": "gaussian"}');
SELECT bandit_create('huge_batch', ARRAY['a', 'b'], 'linucb',
                     '{"context_dim": 2, "reward_type": "gaussian", "update": "batch"}');
CREATE TEMP TABLE huge_decisions AS
SELECT 'huge' AS exp, decision_id FROM bandit_select('huge', ARRAY[1e9, 1e9]::float8[])
UNION ALL SELECT 'huge_batch', decision_id FROM bandit_select('huge_batch', ARRAY[1e9, 1e9]::float8[]);
SELECT throws_ok($$ SELECT bandit_reward(decision_id, 1) FROM huge_decisions WHERE exp = 'huge' $$, '22000', NULL,
                 'an online reward that would make the arm singular is refused');
SELECT is((SELECT count(*) FROM bandit.arm WHERE experiment_id = pg_temp.eid('huge')
             AND linear::text = linear_posterior(2)::text), 2::bigint,
          'and changes no posterior');
SELECT bandit_reward(decision_id, 1) FROM huge_decisions WHERE exp = 'huge_batch';
SELECT throws_ok($$ SELECT bandit_refresh('huge_batch') $$, '22000', NULL,
                 'a refresh that would make an arm singular is refused');
SELECT is((SELECT count(*) FROM bandit.pending_reward WHERE experiment_id = pg_temp.eid('huge_batch')), 1::bigint,
          'and leaves the reward pending');
SELECT bandit_reward(d.decision_id, 1) FROM bandit_select('ts', ARRAY[0.5, 0.5]) d;
SELECT is(bandit_refresh(), 1::bigint,
          'a refresh of every experiment warns about the one it cannot fold and folds the others');
SELECT is((SELECT count(*) FROM bandit.pending_reward), 1::bigint, 'only the unfoldable reward stays pending');
SELECT throws_ok($$ SELECT * FROM bandit_select('ts', ARRAY[1.7e308, 1.7e308]) $$, '22003', NULL,
                 'a context whose score overflows is refused (LinTS)');
-- an arm posterior of the wrong dimension written by hand is caught, never read out of bounds
UPDATE bandit.arm SET linear = linear_posterior(3) WHERE experiment_id = pg_temp.eid('huge_batch') AND name = 'a';
SELECT throws_ok($$ SELECT bandit_refresh('huge_batch') $$, 'XX001', NULL,
                 'a hand-written posterior of the wrong dimension is reported as inconsistent tables');

-- ---------------------------------------------------------------------------
-- 1,000,000 online updates against one batch fit
-- ---------------------------------------------------------------------------
CREATE AGGREGATE pg_temp.online_fit(float8[], float8) (
    SFUNC = linear_posterior_update, STYPE = linear_posterior, INITCOND = '(dim=8, n=0, lambda=1, A={{1,0,0,0,0,0,0,0},{0,1,0,0,0,0,0,0},{0,0,1,0,0,0,0,0},{0,0,0,1,0,0,0,0},{0,0,0,0,1,0,0,0},{0,0,0,0,0,1,0,0},{0,0,0,0,0,0,1,0},{0,0,0,0,0,0,0,1}}, b={0,0,0,0,0,0,0,0})');
CREATE TEMP TABLE million AS
SELECT i, ARRAY[1, random(), random(), random(), 2 * random() - 1, random(), random() - 0.5, random()]::float8[] AS x,
       random() AS r
  FROM generate_series(1, 1000000) i;
CREATE TEMP TABLE fits AS
SELECT pg_temp.online_fit(x, r ORDER BY i) AS online, linear_posterior_agg(x, r) AS batch FROM million;
-- every number of A and b, in order, from the text form
CREATE FUNCTION pg_temp.numbers(p linear_posterior) RETURNS float8[] LANGUAGE sql IMMUTABLE AS
$$ SELECT string_to_array(regexp_replace(substring(p::text FROM 'A=(.*)\)$'), '[^0-9eE.+,-]', '', 'g'), ',')::float8[] $$;
SELECT cmp_ok((SELECT max(abs(o - b) / abs(b))
                 FROM fits, unnest(pg_temp.numbers(online), pg_temp.numbers(batch)) t(o, b)),
              '<', 1e-8::float8,
              'after 1,000,000 online updates A and b agree with the batch fit to 1e-8 relative');
SELECT cmp_ok((SELECT max(abs(o - b) / abs(b))
                 FROM fits, unnest(linear_posterior_theta(online), linear_posterior_theta(batch)) t(o, b)),
              '<', 1e-8::float8,
              'after 1,000,000 online updates theta agrees with the batch fit to 1e-8 relative');

SELECT * FROM finish();
ROLLBACK;
