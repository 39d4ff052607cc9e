-- pgTAP: off-policy evaluation (issue 5).
--
--   * the estimator aggregates: every bad input with its SQLSTATE, NULL
--     rows skipped, zero rows (NULL estimate, n = 0), the parallel plan;
--   * the bandit_log view: one row per decision with its reward;
--   * bandit_evaluate on a uniform-random log: the uniform candidate's IPS
--     is the log's mean reward; a frozen epsilon-greedy candidate's IPS and
--     DM equal independent SQL computations of the candidate's
--     probabilities (from the log's per-arm posterior means) and of the
--     cross-fitted model (5 folds by position in the log: no row's reward
--     predicts that row) to 1e-12;
--   * bandit_replay: reproducible under bandit.seed, about a third of the
--     events matched with three arms, the uniform candidate's estimate is the
--     mean reward of the matched events; a log that is not uniform is
--     refused.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(46);

SET LOCAL bandit.seed = 99;
SELECT setseed(0.25);

-- ---------------------------------------------------------------------------
-- Aggregates: errors, NULLs, zero rows, parallel plan
-- ---------------------------------------------------------------------------
SELECT throws_ok($$ SELECT ope_ips(1, 0.5, 0) $$, '22003', NULL, 'logging_prob 0 is refused');
SELECT throws_ok($$ SELECT ope_ips(1, 0.5, 1.5) $$, '22003', NULL, 'logging_prob above 1 is refused');
SELECT throws_ok($$ SELECT ope_snips(1, 0.5, 'NaN') $$, '22003', NULL, 'a NaN logging_prob is refused');
SELECT throws_ok($$ SELECT ope_dr(1, -0.1, 0.5, 0, 0) $$, '22003', NULL, 'target_prob below 0 is refused');
SELECT throws_ok($$ SELECT ope_ips(1, 1.01, 0.5) $$, '22003', NULL, 'target_prob above 1 is refused');
SELECT throws_ok($$ SELECT ope_ips('Infinity', 0.5, 0.5) $$, '22023', NULL, 'an infinite reward is refused');
SELECT throws_ok($$ SELECT ope_dr(1, 0.5, 0.5, 'NaN', 0) $$, '22023', NULL, 'a NaN q_logged is refused');
SELECT throws_ok($$ SELECT ope_dm('-Infinity') $$, '22023', NULL, 'an infinite v_target is refused');
SELECT throws_ok($$ SELECT ope_clipped_ips(1, 0.5, 0.5, 0) $$, '22023', NULL, 'cap 0 is refused');
SELECT throws_ok($$ SELECT ope_switch_dr(1, 0.5, 0.5, 0, 0, -1) $$, '22023', NULL, 'a negative tau is refused');
SELECT throws_ok($$ SELECT ope_clipped_ips(1, 0.5, 0.5, NULL) $$, '22004', NULL, 'a NULL cap is refused');
SELECT throws_ok($$ SELECT ope_ips(r, 1, p) FROM (VALUES (1.0::float8, 0.5::float8), (1, 1e-200)) v(r, p) $$, '22003', NULL,
                 'a weight whose square overflows is refused (serial and parallel alike)');
SELECT throws_ok($$ SELECT ope_snips(1e200, 1, 0.5) $$, '22003', NULL, 'a weighted reward whose square overflows is refused');
SELECT throws_ok($$ SELECT ope_clipped_ips(1, 0.5, 0.5, c) FROM (VALUES (1.0::float8), (2.0)) v(c) $$, '22023', NULL,
                 'a cap that changes between rows is refused');
SELECT is((SELECT row(e.*)::text FROM (SELECT (ope_ips(r, 0.5, 0.5)).* FROM (SELECT 1.0::float8 WHERE false) t(r)) e),
          '(,,,,0,0,)', 'zero rows: NULL estimate, n = 0');
SELECT is((SELECT (ope_ips(r, pt, p0)).n
             FROM (VALUES (1.0::float8, 0.5::float8, 0.5::float8), (NULL, 0.5, 0.5), (1, NULL, 0.5), (0, 0.5, 0.25)) v(r, pt, p0)),
          2::bigint, 'rows with a NULL argument are skipped');
SELECT is((SELECT (ope_snips(r, 0, 0.5)).estimate FROM (VALUES (1.0::float8), (0)) v(r)), NULL::float8,
          'SNIPS is undefined (NULL) when the target policy gives every logged action probability 0');

-- a plain table (rolled back at the end): parallel workers cannot scan temp tables
CREATE TABLE ope_simulated AS
SELECT (random() < 0.2)::int::float8 AS r, 0.1 + 0.8 * random() AS pt, 0.2 + 0.8 * random() AS p0,
       0.2 AS q, 0.25 AS v
  FROM generate_series(1, 50000);
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        result := result || line || E'\n';
    END LOOP;
    RETURN result;
END $$;
SELECT ok(pg_temp.plan_of('SELECT ope_sndr(r, pt, p0, q, v) FROM ope_simulated') LIKE '%Partial Aggregate%',
          'the estimators run as partial aggregates in parallel');
CREATE TEMP TABLE parallel_result AS SELECT (ope_sndr(r, pt, p0, q, v)).* FROM ope_simulated;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT is((SELECT abs(p.estimate - s.estimate) <= 1e-12 * abs(s.estimate) AND abs(p.stderr - s.stderr) <= 1e-10 * s.stderr
             FROM parallel_result p, (SELECT (ope_sndr(r, pt, p0, q, v)).* FROM ope_simulated) s),
          true, 'parallel and serial plans agree (estimate 1e-12, stderr 1e-10)');
RESET max_parallel_workers_per_gather;

-- ---------------------------------------------------------------------------
-- The Poisson bootstrap
-- ---------------------------------------------------------------------------
SET LOCAL bandit.seed = 17;
CREATE TEMP TABLE boot1 AS SELECT (ope_bootstrap('snips', 400, r, pt, p0 ORDER BY pt, p0, r)).* FROM ope_simulated;
SET LOCAL bandit.seed = 17;
SELECT is((SELECT row(b.*)::text FROM (SELECT (ope_bootstrap('snips', 400, r, pt, p0 ORDER BY pt, p0, r)).* FROM ope_simulated) b),
          (SELECT row(b.*)::text FROM boot1 b), 'ope_bootstrap is reproducible under bandit.seed (rows in a fixed order)');
SELECT is((SELECT b.estimate = s.estimate AND b.n = s.n AND b.ess = s.ess
             FROM boot1 b, (SELECT (ope_snips(r, pt, p0)).* FROM ope_simulated) s),
          true, 'the bootstrap reports the full-data estimate, n and ess');
-- with 400 replicates the bootstrap sd has a relative error of about 1/sqrt(800) = 3.5%
SELECT cmp_ok((SELECT abs(b.stderr / s.stderr - 1) FROM boot1 b,
                      (SELECT (ope_snips(r, pt, p0)).* FROM ope_simulated) s),
              '<', 0.15::float8, 'the bootstrap standard error agrees with the delta method within 15%');
SELECT ok((SELECT ci_low < estimate AND estimate < ci_high FROM boot1), 'the percentile interval contains the estimate');
SELECT throws_ok($$ SELECT ope_bootstrap('naive', 100, 1, 0.5, 0.5) $$, '22023', NULL, 'an unknown estimator is refused');
SELECT throws_ok($$ SELECT ope_bootstrap('ips', 5, 1, 0.5, 0.5) $$, '22023', NULL, 'too few replicates are refused');
SELECT throws_ok($$ SELECT ope_bootstrap('dr', 100, 1, 0.5, 0.5) $$, '22023', NULL,
                 'a model-based estimator needs q_logged and v_target');
SELECT throws_ok($$ SELECT ope_bootstrap('ips', b, 1, 0.5, 0.5) FROM (VALUES (100), (200)) v(b) $$, '22023', NULL,
                 'replicates that change between rows are refused');
SELECT is((SELECT (ope_bootstrap('ips', 100, 1, 0.5, 0.5)).stderr), NULL::float8,
          'one row has no bootstrap standard error');

-- ---------------------------------------------------------------------------
-- A uniform-random log of three arms
-- ---------------------------------------------------------------------------
SELECT bandit_create('ope_uniform', ARRAY['a', 'b', 'c'], 'uniform');
DO $$
DECLARE d record;
BEGIN
    FOR i IN 1..3000 LOOP
        SELECT * INTO d FROM bandit_select('ope_uniform');
        -- every tenth decision stays unrewarded
        IF i % 10 <> 0 THEN
            PERFORM bandit_reward(d.decision_id,
                (random() < CASE d.arm WHEN 'a' THEN 0.1 WHEN 'b' THEN 0.2 ELSE 0.4 END)::int);
        END IF;
    END LOOP;
END $$;

SELECT is((SELECT count(*) FROM bandit_log WHERE experiment = 'ope_uniform'), 3000::bigint,
          'bandit_log has every decision');
SELECT is((SELECT count(*) FROM bandit_log WHERE experiment = 'ope_uniform' AND reward IS NULL), 300::bigint,
          'unrewarded decisions show a NULL reward');
SELECT is((SELECT count(*) FROM bandit_log l JOIN bandit.decision d ON d.id = l.decision_id
            WHERE l.experiment = 'ope_uniform' AND l.propensity = d.propensity AND l.context IS NOT DISTINCT FROM d.context),
          3000::bigint, 'bandit_log carries the logged propensities and contexts');

SELECT is((SELECT abs(estimate - (SELECT avg(reward) FROM bandit_log WHERE experiment = 'ope_uniform')) < 1e-12
             FROM bandit_evaluate('ope_uniform', 'uniform') WHERE estimator = 'ips'),
          true, 'IPS of the uniform candidate on a uniform log is the mean reward');
SELECT is((SELECT n FROM bandit_evaluate('ope_uniform', 'uniform') WHERE estimator = 'dr'), 2700::bigint,
          'only rewarded decisions are evaluated');

-- the frozen epsilon-greedy candidate, computed independently: posterior
-- means with the Beta(1, 1) prior over the whole log, the best arm gets
-- 0.9 + 0.1/3, the others 0.1/3
CREATE TEMP TABLE frozen_pi AS
WITH means AS (
    SELECT arm, (1 + sum(reward)) / (2 + count(*)) AS m
      FROM bandit_log WHERE experiment = 'ope_uniform' AND reward IS NOT NULL GROUP BY arm
)
SELECT arm, CASE WHEN m = (SELECT max(m) FROM means) THEN 0.9 + 0.1 / 3 ELSE 0.1 / 3 END AS pi FROM means;
SELECT is((SELECT abs(e.estimate - (SELECT (ope_ips(l.reward, f.pi, l.propensity)).estimate
                                      FROM bandit_log l JOIN frozen_pi f USING (arm)
                                     WHERE l.experiment = 'ope_uniform' AND l.reward IS NOT NULL)) < 1e-12
             FROM bandit_evaluate('ope_uniform', 'epsilon_greedy', '{"epsilon": 0.1, "training": "frozen"}') e
            WHERE e.estimator = 'ips'),
          true, 'a frozen candidate''s IPS equals ope_ips with its probabilities computed in SQL');

-- the cross-fitted model: arm a's mean (Beta(1, 1) prior) over the other
-- folds (5 folds by position in the decision-ordered log)
CREATE TEMP TABLE crossfit AS
WITH rows AS (
    SELECT decision_id, arm, reward, propensity,
           (row_number() OVER (ORDER BY decided_at, decision_id) - 1) % 5 AS fold
      FROM bandit_log WHERE experiment = 'ope_uniform' AND reward IS NOT NULL
), model AS (
    SELECT f.fold, a.arm, (1 + coalesce(sum(r.reward), 0)) / (2 + count(r.reward)) AS q
      FROM generate_series(0, 4) f(fold) CROSS JOIN (SELECT DISTINCT arm FROM rows) a
      LEFT JOIN rows r ON r.arm = a.arm AND r.fold <> f.fold
     GROUP BY f.fold, a.arm
)
SELECT r.decision_id, r.reward, r.propensity, p.pi AS pt,
       (SELECT m.q FROM model m WHERE m.fold = r.fold AND m.arm = r.arm) AS q_logged,
       (SELECT sum(fp.pi * m.q) FROM model m JOIN frozen_pi fp USING (arm) WHERE m.fold = r.fold) AS v_target
  FROM rows r JOIN frozen_pi p USING (arm);
SELECT is((SELECT abs(e.estimate - (SELECT (ope_dm(v_target)).estimate FROM crossfit)) < 1e-12
             FROM bandit_evaluate('ope_uniform', 'epsilon_greedy', '{"epsilon": 0.1, "training": "frozen"}') e
            WHERE e.estimator = 'dm'),
          true, 'DM uses the cross-fitted model: no row''s reward predicts that row');
SELECT is((SELECT abs(e.estimate - (SELECT (ope_dr(reward, pt, propensity, q_logged, v_target)).estimate FROM crossfit)) < 1e-12
             FROM bandit_evaluate('ope_uniform', 'epsilon_greedy', '{"epsilon": 0.1, "training": "frozen"}') e
            WHERE e.estimator = 'dr'),
          true, 'DR combines the candidate''s probabilities with the cross-fitted model');
SELECT is((SELECT array_agg(estimator ORDER BY estimator COLLATE "C") FROM bandit_evaluate('ope_uniform', 'thompson')),
          ARRAY['dm', 'dr', 'ips', 'sndr', 'snips'], 'bandit_evaluate reports IPS, SNIPS, DM, DR and SNDR');

SELECT throws_ok($$ SELECT * FROM bandit_evaluate('ope_uniform', 'nonsense') $$, '22023', NULL,
                 'an unknown candidate policy is refused');
SELECT throws_ok($$ SELECT * FROM bandit_evaluate('ope_uniform', 'thompson', '{"training": "weekly"}') $$, '22023', NULL,
                 'an unknown training mode is refused');
SELECT throws_ok($$ SELECT * FROM bandit_evaluate('ope_uniform', 'linucb', '{"context_dim": 2}') $$, '22004', NULL,
                 'a contextual candidate needs logged contexts');
SELECT throws_ok($$ SELECT * FROM bandit_evaluate(NULL, 'thompson') $$, '22004', NULL,
                 'a NULL experiment is refused');
SELECT bandit_create('ope_gauss', ARRAY['a', 'b'], 'uniform', '{"reward_type": "gaussian"}');
SELECT bandit_reward(d.decision_id, 3.5) FROM bandit_select('ope_gauss') d;
SELECT throws_ok($$ SELECT * FROM bandit_evaluate('ope_gauss', 'thompson', '{"reward_type": "bernoulli"}') $$, '22003', NULL,
                 'a bernoulli candidate refuses a log with rewards outside [0, 1]');

-- replay
SET LOCAL bandit.seed = 5;
CREATE TEMP TABLE replay1 AS SELECT * FROM bandit_replay('ope_uniform', 'uniform');
SET LOCAL bandit.seed = 5;
SELECT is((SELECT row(r.*)::text FROM bandit_replay('ope_uniform', 'uniform') r), (SELECT row(r.*)::text FROM replay1 r),
          'bandit_replay is reproducible under bandit.seed');
SELECT cmp_ok((SELECT abs(matched / 2700.0 - 1 / 3.0) FROM replay1), '<', 0.05::numeric,
              'about a third of the events match a uniform candidate over three arms');

SELECT throws_ok($$ SELECT * FROM bandit_replay('ope_uniform', 'uniform', '{"training": "frozen"}') $$, '22023', NULL,
                 'bandit_replay refuses the training and folds parameters, which it cannot honour');
SELECT bandit_create('ope_greedy', ARRAY['a', 'b'], 'epsilon_greedy');
SELECT bandit_reward(d.decision_id, 1) FROM bandit_select('ope_greedy') d;
SELECT bandit_reward(d.decision_id, 0) FROM bandit_select('ope_greedy') d;
SELECT throws_ok($$ SELECT * FROM bandit_replay('ope_greedy', 'uniform') $$, '55000', NULL,
                 'bandit_replay refuses a log that is not uniform-random');

SELECT * FROM finish();
ROLLBACK;
