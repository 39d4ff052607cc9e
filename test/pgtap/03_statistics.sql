-- pgTAP: statistical properties of Thompson sampling (issue 3, section 4).
--
--   * on Bernoulli rates 0.02 / 0.03 / 0.05 (online) Thompson sampling picks
--     the best arm in more than 80% of the last 5,000 of 20,000 rounds;
--   * propensities sum to 1 over the arms (checked at 20 states along the
--     way; tolerance 1e-9, the integration is normalised) and the logged one
--     is bandit_policy_prob of the state it was drawn from (exactly);
--   * with the state held fixed (batch experiment, no refresh) the observed
--     selection frequencies agree with the propensities: chi-square goodness
--     of fit, rejected only above the critical value at p = 0.001;
--   * folding the reward log with beta_posterior_agg gives exactly the online
--     posterior (0/1 rewards: sums of integers, no rounding); for a gaussian
--     experiment normal_posterior_agg agrees with the online
--     normal_posterior to 1e-9 relative in every parameter.
-- Seeds: bandit.seed for the policy's draws, setseed() for simulated rewards.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(20);

SET LOCAL bandit.seed = 20260;
SELECT setseed(0.3);

CREATE FUNCTION pg_temp.field(p text, key text) RETURNS float8 LANGUAGE sql IMMUTABLE AS
$$ SELECT substring(p FROM '[(, ]' || key || '=([^,)]+)')::float8 $$;

CREATE FUNCTION pg_temp.eid(exp text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM bandit.experiment WHERE name = exp $$;

-- a standard normal draw from setseed()'s generator (Box-Muller)
CREATE FUNCTION pg_temp.normal() RETURNS float8 LANGUAGE sql VOLATILE AS
$$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;

-- rounds of select + reward; arm i's reward: Bernoulli(levels[i]) or, when
-- gaussian, levels[i] + N(0, 1).  Every `every` rounds the state before the
-- select is checked: sum of bandit_policy_prob over the arms, and the
-- selected arm's bandit_policy_prob against the propensity it is logged with.
CREATE TEMP TABLE rounds (exp text, i int, arm text, propensity float8);
CREATE TEMP TABLE state_checks (exp text, i int, prob_sum float8, prob_selected float8, logged float8);
CREATE FUNCTION pg_temp.run(exp text, n int, levels float8[], gaussian boolean, every int)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d record;
    aid int;
    eid bigint := pg_temp.eid(exp);
    names text[];
    probs float8[];
BEGIN
    SELECT array_agg(name ORDER BY arm_id) INTO names FROM bandit.arm WHERE experiment_id = eid;
    FOR i IN 1 .. n LOOP
        IF i % every = 0 THEN
            SELECT array_agg(bandit_policy_prob(exp, a) ORDER BY o) INTO probs
              FROM unnest(names) WITH ORDINALITY AS t(a, o);
        END IF;
        SELECT * INTO d FROM bandit_select(exp);
        aid := array_position(names, d.arm);
        IF i % every = 0 THEN
            INSERT INTO state_checks
                 SELECT exp, i, (SELECT sum(x) FROM unnest(probs) x), probs[aid], d.propensity;
        END IF;
        INSERT INTO rounds VALUES (exp, i, d.arm, d.propensity);
        PERFORM bandit_reward(d.decision_id,
                              CASE WHEN gaussian THEN levels[aid] + pg_temp.normal()
                                   ELSE (random() < levels[aid])::int END);
    END LOOP;
END $$;

-- --------------------------------------------------------------------------
-- Thompson sampling finds the best of 0.02 / 0.03 / 0.05
-- --------------------------------------------------------------------------

SELECT bandit_create('ts_rates', ARRAY['r02', 'r03', 'r05']) IS NOT NULL AS created \gset
SELECT pg_temp.run('ts_rates', 20000, ARRAY[0.02, 0.03, 0.05], false, 1000) IS NULL AS ran \gset

SELECT cmp_ok((SELECT avg((arm = 'r05')::int)::float8 FROM rounds WHERE exp = 'ts_rates' AND i > 15000),
              '>', 0.8::float8,
              'Thompson sampling picks the 0.05 arm in more than 80% of the last 5,000 of 20,000 rounds');
SELECT ok(count(*) = 20 AND max(abs(prob_sum - 1)) <= 1e-9,
          format('propensities sum to 1 over the arms at %s states along the run (max error %s)',
                 count(*), max(abs(prob_sum - 1))))
  FROM state_checks WHERE exp = 'ts_rates';
SELECT ok(bool_and(prob_selected = logged),
          'the logged propensity is exactly bandit_policy_prob of the state it was drawn from')
  FROM state_checks WHERE exp = 'ts_rates';
SELECT ok(bool_and(propensity > 0 AND propensity <= 1) AND count(*) = 20000,
          'all 20,000 logged propensities are in (0, 1]')
  FROM rounds WHERE exp = 'ts_rates';

-- the aggregate over the reward log is the online posterior (as bandit_select
-- reads it: arm rows plus reward slots), exactly; and after a refresh has
-- moved the slots into the arm rows, the stored posterior is the same
SELECT results_eq(
    $$SELECT a.name, p.beta::text FROM bandit.arm a JOIN bandit.arm_posteriors('ts_rates') p USING (arm_id)
       WHERE a.experiment_id = pg_temp.eid('ts_rates') ORDER BY a.arm_id$$,
    $$SELECT a.name, (SELECT beta_posterior_agg(r.reward) FROM bandit.reward r
                       WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id)::text
        FROM bandit.arm a WHERE a.experiment_id = pg_temp.eid('ts_rates') ORDER BY a.arm_id$$,
    'beta_posterior_agg over the reward log = the online beta_posterior of every arm (exact)');
SELECT is((SELECT sum(pg_temp.field(beta::text, 'n'))::bigint FROM bandit.arm_posteriors('ts_rates')),
          20000::bigint, 'the online posteriors count all 20,000 rewards');
SELECT is(bandit_refresh('ts_rates'), 0::bigint, 'refresh of an online experiment folds no pending reward');
SELECT results_eq(
    $$SELECT a.name, a.beta::text FROM bandit.arm a WHERE a.experiment_id = pg_temp.eid('ts_rates') ORDER BY a.arm_id$$,
    $$SELECT a.name, (SELECT beta_posterior_agg(r.reward) FROM bandit.reward r
                       WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id)::text
        FROM bandit.arm a WHERE a.experiment_id = pg_temp.eid('ts_rates') ORDER BY a.arm_id$$,
    'after refresh the stored arm rows = beta_posterior_agg over the reward log (exact)');
SELECT is((SELECT count(*) FROM bandit.reward_slot WHERE experiment_id = pg_temp.eid('ts_rates')), 0::bigint,
          'after refresh no reward slot of the experiment is left');

-- --------------------------------------------------------------------------
-- selection frequencies in a fixed state match the propensities
-- --------------------------------------------------------------------------

-- chi-square goodness of fit of N draws against the propensities;
-- checks that every expected count is at least 5 (else the statistic is NULL)
CREATE FUNCTION pg_temp.chi_square(exp text, since bigint) RETURNS float8 LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT a.arm_id, bandit_policy_prob(exp, a.name) AS p
               FROM bandit.arm a WHERE a.experiment_id = pg_temp.eid(exp)),
       c AS (SELECT d.arm_id, count(*) AS n FROM bandit.decision d
              WHERE d.experiment_id = pg_temp.eid(exp) AND d.id > since GROUP BY d.arm_id),
       t AS (SELECT sum(n) AS total FROM c)
  SELECT CASE WHEN bool_and(t.total * p.p >= 5)
              THEN sum((coalesce(c.n, 0) - t.total * p.p) ^ 2 / (t.total * p.p)) END
    FROM p LEFT JOIN c USING (arm_id), t
$$;

-- five arms, state built by 200 rewarded rounds, then 20,000 selections
SELECT bandit_create('ts_fixed', ARRAY['a', 'b', 'c', 'd', 'e'], 'thompson', '{"update": "batch"}') IS NOT NULL AS created \gset
SELECT pg_temp.run('ts_fixed', 200, ARRAY[0.15, 0.16, 0.17, 0.18, 0.20], false, 100000) IS NULL AS ran \gset
SELECT bandit_refresh('ts_fixed') AS folded \gset
SELECT coalesce(max(id), 0) AS fixed_since FROM bandit.decision \gset
SELECT count(*) AS fixed_n FROM (SELECT (bandit_select('ts_fixed')).arm FROM generate_series(1, 20000)) s \gset

SELECT results_eq(
    format($$SELECT count(*), count(DISTINCT state_version), bool_and(d.propensity = bandit_policy_prob('ts_fixed', a.name))
               FROM bandit.decision d JOIN bandit.arm a USING (experiment_id, arm_id)
              WHERE d.experiment_id = pg_temp.eid('ts_fixed') AND d.id > %s$$, :fixed_since),
    $$VALUES (20000::bigint, 1::bigint, true)$$,
    'fixed state: 20,000 decisions, one state version, each logged with its arm''s bandit_policy_prob');
SELECT ok((SELECT min(bandit_policy_prob('ts_fixed', n)) > 0.01 AND max(bandit_policy_prob('ts_fixed', n)) < 0.9
             FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) n),
          'fixed state: the propensities are far from degenerate (every arm above 0.01, none above 0.9)');
-- 4 degrees of freedom: critical value at p = 0.001 is 18.467
SELECT cmp_ok(pg_temp.chi_square('ts_fixed', :fixed_since), '<', 18.467::float8,
              'fixed state, 5 arms: selection frequencies fit the propensities (chi-square, p = 0.001)');

-- gaussian Thompson, three arms, 10,000 selections
SELECT bandit_create('ts_fixed_g', ARRAY['a', 'b', 'c'], 'thompson', '{"update": "batch", "reward_type": "gaussian"}') IS NOT NULL AS created \gset
SELECT pg_temp.run('ts_fixed_g', 60, ARRAY[0.0, 0.3, 0.5], true, 100000) IS NULL AS ran \gset
SELECT bandit_refresh('ts_fixed_g') AS folded \gset
SELECT coalesce(max(id), 0) AS fixed_g_since FROM bandit.decision \gset
SELECT count(*) AS fixed_g_n FROM (SELECT (bandit_select('ts_fixed_g')).arm FROM generate_series(1, 10000)) s \gset
SELECT ok((SELECT min(bandit_policy_prob('ts_fixed_g', n)) > 0.02 AND max(bandit_policy_prob('ts_fixed_g', n)) < 0.9
             FROM unnest(ARRAY['a', 'b', 'c']) n),
          'fixed gaussian state: the propensities are far from degenerate');
-- 2 degrees of freedom: critical value at p = 0.001 is 13.816
SELECT cmp_ok(pg_temp.chi_square('ts_fixed_g', :fixed_g_since), '<', 13.816::float8,
              'fixed gaussian state, 3 arms: selection frequencies fit the propensities (chi-square, p = 0.001)');

-- --------------------------------------------------------------------------
-- gaussian: normal_posterior_agg over the log = the online posterior
-- --------------------------------------------------------------------------

SELECT bandit_create('ts_gauss', ARRAY['a', 'b', 'c'], 'thompson', '{"reward_type": "gaussian"}') IS NOT NULL AS created \gset
SELECT pg_temp.run('ts_gauss', 2000, ARRAY[10.0, 10.5, 11.0], true, 100) IS NULL AS ran \gset

SELECT ok(count(*) = 20 AND max(abs(prob_sum - 1)) <= 1e-9 AND bool_and(prob_selected = logged),
          'gaussian: propensities sum to 1 at 20 states, the logged one is bandit_policy_prob')
  FROM state_checks WHERE exp = 'ts_gauss';

CREATE TEMP TABLE gauss_cmp AS
  SELECT a.name, p.normal::text AS online,
         (SELECT normal_posterior_agg(r.reward) FROM bandit.reward r
           WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id)::text AS folded
    FROM bandit.arm a JOIN bandit.arm_posteriors('ts_gauss') p USING (arm_id)
   WHERE a.experiment_id = pg_temp.eid('ts_gauss');
SELECT ok(count(*) = 3 AND bool_and(pg_temp.field(online, 'n') = pg_temp.field(folded, 'n')
                                    AND pg_temp.field(online, 'n') > 0),
          'gaussian: the aggregate counts the same rewards as the online posterior, per arm')
  FROM gauss_cmp;
SELECT ok(bool_and(abs(pg_temp.field(online, f) - pg_temp.field(folded, f)) <= 1e-9 * abs(pg_temp.field(folded, f))),
          format('gaussian: normal_posterior_agg over the log = online posterior, %s to 1e-9 relative', f))
  FROM gauss_cmp, unnest(ARRAY['mean', 'kappa', 'alpha', 'beta']) f
 GROUP BY f ORDER BY array_position(ARRAY['mean', 'kappa', 'alpha', 'beta'], f);

SELECT * FROM finish();
ROLLBACK;
