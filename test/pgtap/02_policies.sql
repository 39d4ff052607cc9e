-- pgTAP: exact propensities of the non-Thompson policies (issue 3, section 2:
-- "exact for epsilon-greedy, UCB1, softmax, EXP3 and uniform").
--
-- Each experiment is driven through many states by select + reward.  Before
-- every select the probability of every arm is recomputed here, in SQL, from
-- the experiment's params and the reward log (bandit.reward joined with the
-- propensities in bandit.decision, pending batch rewards left out), with the
-- formulas written out independently of the C code:
--   uniform         1/K                                  (K = enabled arms)
--   epsilon_greedy  eps_t/K + (1 - eps_t)/T on the T arms tied for the
--                   highest posterior mean, eps_t = eps / (1 + decay * N)
--                   (N = rewards folded into the experiment)
--   ucb1            untried arms (no reward yet) first, split evenly; then the
--                   argmax of mean_i + sqrt(2 ln N / n_i), ties split evenly
--   softmax         exp(m_i / T) / sum_j exp(m_j / T), m = posterior mean
--   exp3            (1 - g) w_i / sum_j w_j + g / K, w_i = exp(g S_i / K),
--                   S_i = sum of reward / propensity over the arm's rewards
-- Posterior means from the log: bernoulli (a0 + sum r) / (a0 + b0 + n),
-- gaussian (kappa0 mu0 + sum r) / (kappa0 + n).
-- Tolerance: 1e-12 absolute on every probability (both sides are a few
-- floating-point operations on the same data).
-- Seeds: bandit.seed for the policies' draws, setseed() for the rewards.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(36);

SET LOCAL bandit.seed = 7;
SELECT setseed(0.5);

-- --------------------------------------------------------------------------
-- The independent computation
-- --------------------------------------------------------------------------

-- per arm, from the logs: folded rewards n, their sum s, and sum r / p
CREATE FUNCTION pg_temp.log_stats(exp text)
    RETURNS TABLE (arm_id int, name text, enabled boolean, n bigint, s float8, ipw float8)
    LANGUAGE sql STABLE AS $$
  SELECT a.arm_id, a.name, a.enabled, count(f.reward), coalesce(sum(f.reward), 0),
         coalesce(sum(f.reward / f.propensity), 0)
    FROM bandit.experiment e
    JOIN bandit.arm a ON a.experiment_id = e.id
    LEFT JOIN (SELECT r.experiment_id, r.arm_id, r.reward, d.propensity
                 FROM bandit.reward r JOIN bandit.decision d ON d.id = r.decision_id
                WHERE NOT EXISTS (SELECT 1 FROM bandit.pending_reward p WHERE p.decision_id = r.decision_id)) f
           ON f.experiment_id = e.id AND f.arm_id = a.arm_id
   WHERE e.name = exp
   GROUP BY a.arm_id, a.name, a.enabled
$$;

CREATE FUNCTION pg_temp.expected(exp text) RETURNS TABLE (arm_id int, arm text, p float8)
    LANGUAGE sql STABLE AS $$
  WITH cfg AS (
    SELECT e.policy, e.params ->> 'reward_type' = 'gaussian' AS gaussian,
           (e.params ->> 'prior_alpha')::float8 AS a0, (e.params ->> 'prior_beta')::float8 AS b0,
           (e.params ->> 'prior_mean')::float8 AS mu0, (e.params ->> 'prior_kappa')::float8 AS kappa0,
           (e.params ->> 'epsilon')::float8 AS eps, (e.params ->> 'decay')::float8 AS decay,
           (e.params ->> 'temperature')::float8 AS temperature, (e.params ->> 'gamma')::float8 AS g
      FROM bandit.experiment e WHERE e.name = exp
  ), st AS (
    SELECT l.*,
           CASE WHEN c.gaussian THEN (c.kappa0 * c.mu0 + l.s) / (c.kappa0 + l.n)
                ELSE (c.a0 + l.s) / (c.a0 + c.b0 + l.n) END AS m,
           l.s / nullif(l.n, 0) AS emp_mean
      FROM pg_temp.log_stats(exp) l, cfg c
  ), k AS (
    SELECT count(*) FILTER (WHERE enabled)::float8 AS k,
           sum(n)::float8 AS n_all,
           sum(n) FILTER (WHERE enabled)::float8 AS n_enabled,
           count(*) FILTER (WHERE enabled AND n = 0) AS untried,
           max(m) FILTER (WHERE enabled) AS best_m
      FROM st
  ), scored AS (
    SELECT st.*,
           CASE WHEN st.n > 0 THEN st.emp_mean + sqrt(2 * ln(k.n_enabled) / st.n) END AS ucb,
           exp(st.m / c.temperature) AS boltzmann,
           exp(c.g * st.ipw / k.k) AS w
      FROM st, k, cfg c
  ), tot AS (
    SELECT count(*) FILTER (WHERE s.enabled AND s.m = k.best_m) AS greedy_ties,
           max(s.ucb) FILTER (WHERE s.enabled) AS best_ucb,
           sum(s.boltzmann) FILTER (WHERE s.enabled) AS z_softmax,
           sum(s.w) FILTER (WHERE s.enabled) AS z_exp3
      FROM scored s, k
  )
  SELECT s.arm_id, s.name,
         CASE WHEN NOT s.enabled THEN 0::float8
              WHEN c.policy = 'uniform' THEN 1 / k.k
              WHEN c.policy = 'epsilon_greedy' THEN
                   (c.eps / (1 + c.decay * k.n_all)) / k.k
                   + CASE WHEN s.m = k.best_m THEN (1 - c.eps / (1 + c.decay * k.n_all)) / t.greedy_ties ELSE 0 END
              WHEN c.policy = 'ucb1' AND k.untried > 0 THEN
                   CASE WHEN s.n = 0 THEN 1::float8 / k.untried ELSE 0 END
              WHEN c.policy = 'ucb1' THEN
                   CASE WHEN s.ucb = t.best_ucb
                        THEN 1 / (SELECT count(*)::float8 FROM scored x WHERE x.enabled AND x.ucb = t.best_ucb)
                        ELSE 0 END
              WHEN c.policy = 'softmax' THEN s.boltzmann / t.z_softmax
              WHEN c.policy = 'exp3' THEN (1 - c.g) * s.w / t.z_exp3 + c.g / k.k
         END
    FROM scored s, k, tot t, cfg c
   ORDER BY s.arm_id
$$;

-- one row per state visited (steps numbered across walks of one experiment): the largest |bandit_policy_prob - formula| over
-- the arms, |logged propensity - formula| of the arm selected, the formula's vector
CREATE TEMP TABLE checks (exp text, step int, state_err float8, logged_err float8, probs float8[]);

-- rounds of: check the state, select, reward.  Reward of arm i:
--   bernoulli  Bernoulli(levels[i]);   fraction  levels[i] * U(0,1);
--   gaussian   levels[i] + U(-1,1);    zero      always 0
-- refresh_every > 0 calls bandit_refresh every that many rounds (batch).
CREATE FUNCTION pg_temp.walk(exp text, rounds int, levels float8[], kind text DEFAULT 'bernoulli',
                             refresh_every int DEFAULT 0)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d record;
    err float8;
    vec float8[];
    p_selected float8;
    aid int;
    r float8;
    base int;
BEGIN
    SELECT coalesce(max(c.step), 0) INTO base FROM checks c WHERE c.exp = walk.exp;
    FOR i IN 1 .. rounds LOOP
        SELECT max(abs(bandit_policy_prob(exp, x.arm) - x.p)), array_agg(x.p ORDER BY x.arm_id)
          INTO err, vec FROM pg_temp.expected(exp) x;
        SELECT * INTO d FROM bandit_select(exp);
        SELECT x.p, x.arm_id INTO p_selected, aid FROM pg_temp.expected(exp) x WHERE x.arm = d.arm;
        INSERT INTO checks VALUES (exp, base + i, err, abs(d.propensity - p_selected), vec);
        r := CASE kind WHEN 'gaussian' THEN levels[aid] + 2 * (random() - 0.5)
                       WHEN 'fraction' THEN levels[aid] * random()
                       WHEN 'zero' THEN 0
                       ELSE (random() < levels[aid])::int END;
        PERFORM bandit_reward(d.decision_id, r);
        IF refresh_every > 0 AND i % refresh_every = 0 THEN
            PERFORM bandit_refresh(exp);
        END IF;
    END LOOP;
END $$;

-- the two assertions made for every walk
CREATE FUNCTION pg_temp.assert_walk(exp text, what text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT ok(count(*) > 0 AND max(state_err) <= 1e-12,
            format('%s: bandit_policy_prob = formula for every arm in %s states (max error %s)',
                   what, count(*), max(state_err)))
    FROM checks WHERE exp = $1
  UNION ALL
  SELECT ok(count(*) > 0 AND max(logged_err) <= 1e-12,
            format('%s: every logged propensity = formula (max error %s)', what, max(logged_err)))
    FROM checks WHERE exp = $1
$$;

-- --------------------------------------------------------------------------
-- uniform
-- --------------------------------------------------------------------------

SELECT bandit_create('pol_uniform', ARRAY['a', 'b', 'c', 'd'], 'uniform') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_uniform', 30, ARRAY[0.1, 0.2, 0.3, 0.4]) IS NULL AS walked \gset
SELECT bandit_set_arm_enabled('pol_uniform', 'c', false) IS NULL AS disabled \gset
SELECT pg_temp.walk('pol_uniform', 30, ARRAY[0.1, 0.2, 0.3, 0.4]) IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_uniform', 'uniform (4 arms, then one disabled)');
SELECT ok(bool_or(probs = ARRAY[0.25, 0.25, 0.25, 0.25]::float8[]) AND bool_or(probs[3] = 0),
          'uniform: the walk saw 1/4 each and a disabled arm at 0')
  FROM checks WHERE exp = 'pol_uniform';

-- --------------------------------------------------------------------------
-- epsilon-greedy
-- --------------------------------------------------------------------------

SELECT bandit_create('pol_eps', ARRAY['a', 'b', 'c'], 'epsilon_greedy', '{"epsilon": 0.2}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_eps', 150, ARRAY[0.2, 0.5, 0.8]) IS NULL AS walked \gset
SELECT bandit_set_arm_enabled('pol_eps', 'c', false) IS NULL AS disabled \gset
SELECT pg_temp.walk('pol_eps', 40, ARRAY[0.2, 0.5, 0.8]) IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_eps', 'epsilon_greedy eps=0.2 (3 arms, then one disabled)');
-- the walk must have met both a tie (no single greedy arm) and a single greedy arm
SELECT ok(bool_or(abs(mx - (1 - 0.2 + 0.2 / 3)) <= 1e-12) AND bool_or(mx < 1 - 0.2 + 0.2 / 3 - 1e-9),
          'epsilon_greedy: the walk met single-greedy and tied states')
  FROM (SELECT (SELECT max(x) FROM unnest(probs) x) AS mx FROM checks WHERE exp = 'pol_eps') s;

SELECT bandit_create('pol_eps_decay', ARRAY['a', 'b', 'c'], 'epsilon_greedy',
                     '{"epsilon": 0.5, "decay": 0.05, "prior_alpha": 2, "prior_beta": 3}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_eps_decay', 100, ARRAY[0.3, 0.4, 0.6]) IS NULL AS walked \gset
SELECT bandit_set_arm_enabled('pol_eps_decay', 'a', false) IS NULL AS disabled \gset
SELECT pg_temp.walk('pol_eps_decay', 30, ARRAY[0.3, 0.4, 0.6]) IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_eps_decay', 'epsilon_greedy eps=0.5 decay=0.05, prior Beta(2,3)');
-- decay really acts: after 100+ rewards the smallest probability of an enabled
-- arm is far below the undecayed eps/K
SELECT ok((SELECT min(x) FROM unnest(probs) x WHERE x > 0) < 0.5 / 3 / 2,
          'epsilon_greedy with decay: exploration shrank with the observations')
  FROM checks WHERE exp = 'pol_eps_decay' AND step = 130;

SELECT bandit_create('pol_eps_gauss', ARRAY['a', 'b', 'c'], 'epsilon_greedy',
                     '{"epsilon": 0.3, "decay": 0.01, "reward_type": "gaussian", "prior_mean": 1, "prior_kappa": 2}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_eps_gauss', 80, ARRAY[0.5, 1.5, 1.0], 'gaussian') IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_eps_gauss', 'epsilon_greedy gaussian, prior mean 1 kappa 2');

-- batch: the state moves only at each refresh
SELECT bandit_create('pol_eps_batch', ARRAY['a', 'b', 'c'], 'epsilon_greedy',
                     '{"epsilon": 0.25, "update": "batch"}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_eps_batch', 60, ARRAY[0.7, 0.2, 0.4], 'bernoulli', 10) IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_eps_batch', 'epsilon_greedy batch, refresh every 10 rewards');
SELECT ok(count(DISTINCT probs) > 1 AND count(DISTINCT probs) <= 7,
          'epsilon_greedy batch: the probability vector changed only at refreshes')
  FROM checks WHERE exp = 'pol_eps_batch';

-- --------------------------------------------------------------------------
-- UCB1
-- --------------------------------------------------------------------------

-- all rewards 0: untried arms first (1/4, 1/3, 1/2, 1), then every arm tied
SELECT bandit_create('pol_ucb_zero', ARRAY['a', 'b', 'c', 'd'], 'ucb1') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_ucb_zero', 12, ARRAY[0, 0, 0, 0], 'zero') IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_ucb_zero', 'ucb1, rewards all 0');
SELECT results_eq(
    $$SELECT step, (SELECT max(x) FROM unnest(probs) x) FROM checks WHERE exp = 'pol_ucb_zero' AND step <= 5 ORDER BY step$$,
    $$VALUES (1, 1 / 4::float8), (2, 1 / 3::float8), (3, 1 / 2::float8), (4, 1::float8), (5, 1 / 4::float8)$$,
    'ucb1: untried arms first, split evenly; then all four tied at n = 1');

SELECT bandit_create('pol_ucb', ARRAY['a', 'b', 'c'], 'ucb1') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_ucb', 200, ARRAY[0.3, 0.5, 0.6]) IS NULL AS walked \gset
SELECT bandit_add_arm('pol_ucb', 'd') IS NULL AS added \gset
SELECT pg_temp.walk('pol_ucb', 20, ARRAY[0.3, 0.5, 0.6, 0.9]) IS NULL AS walked \gset
SELECT bandit_set_arm_enabled('pol_ucb', 'c', false) IS NULL AS disabled \gset
SELECT pg_temp.walk('pol_ucb', 30, ARRAY[0.3, 0.5, 0.6, 0.9]) IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_ucb', 'ucb1 bernoulli (3 arms, an added arm, a disabled arm)');
SELECT ok(count(*) FILTER (WHERE 1 = ANY (probs)) > 100 AND count(*) FILTER (WHERE 1 <> ALL (probs)) > 0,
          'ucb1: the walk met states with one argmax and states with untried arms or ties')
  FROM checks WHERE exp = 'pol_ucb';
SELECT ok(probs[4] = 1, 'ucb1: an added (untried) arm is played first')
  FROM checks WHERE exp = 'pol_ucb' AND step = 201;

SELECT bandit_create('pol_ucb_gauss', ARRAY['a', 'b', 'c'], 'ucb1', '{"reward_type": "gaussian", "prior_mean": 3}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_ucb_gauss', 100, ARRAY[1.0, 1.3, 0.8], 'gaussian') IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_ucb_gauss', 'ucb1 gaussian (empirical means, prior removed)');

-- --------------------------------------------------------------------------
-- softmax
-- --------------------------------------------------------------------------

SELECT bandit_create('pol_softmax', ARRAY['a', 'b', 'c'], 'softmax', '{"temperature": 0.1}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_softmax', 150, ARRAY[0.2, 0.5, 0.6]) IS NULL AS walked \gset
SELECT bandit_set_arm_enabled('pol_softmax', 'b', false) IS NULL AS disabled \gset
SELECT pg_temp.walk('pol_softmax', 20, ARRAY[0.2, 0.5, 0.6]) IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_softmax', 'softmax T=0.1 (3 arms, then one disabled)');

SELECT bandit_create('pol_softmax_prior', ARRAY['a', 'b'], 'softmax',
                     '{"temperature": 0.05, "prior_alpha": 0.5, "prior_beta": 4}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_softmax_prior', 60, ARRAY[0.3, 0.35], 'fraction') IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_softmax_prior', 'softmax T=0.05, prior Beta(0.5,4), fractional rewards');

SELECT bandit_create('pol_softmax_gauss', ARRAY['a', 'b', 'c'], 'softmax',
                     '{"temperature": 0.5, "reward_type": "gaussian"}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_softmax_gauss', 80, ARRAY[2.0, 3.0, 2.5], 'gaussian') IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_softmax_gauss', 'softmax gaussian T=0.5');

-- --------------------------------------------------------------------------
-- EXP3
-- --------------------------------------------------------------------------

SELECT bandit_create('pol_exp3', ARRAY['a', 'b', 'c'], 'exp3', '{"gamma": 0.3}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_exp3', 200, ARRAY[0.4, 0.9, 0.6], 'fraction') IS NULL AS walked \gset
SELECT bandit_set_arm_enabled('pol_exp3', 'a', false) IS NULL AS disabled \gset
SELECT pg_temp.walk('pol_exp3', 30, ARRAY[0.4, 0.9, 0.6], 'fraction') IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_exp3', 'exp3 gamma=0.3, fractional rewards (then one arm disabled)');
SELECT ok(max(x) > 0.6, 'exp3: the weights moved well away from uniform during the walk')
  FROM checks, unnest(probs) x WHERE exp = 'pol_exp3';

SELECT bandit_create('pol_exp3_batch', ARRAY['a', 'b', 'c', 'd'], 'exp3', '{"gamma": 0.15, "update": "batch"}') IS NOT NULL AS created \gset
SELECT pg_temp.walk('pol_exp3_batch', 120, ARRAY[0.2, 0.4, 0.6, 0.8], 'bernoulli', 15) IS NULL AS walked \gset
SELECT * FROM pg_temp.assert_walk('pol_exp3_batch', 'exp3 batch, refresh every 15 rewards');

-- --------------------------------------------------------------------------
-- a hand-built state, checked against numbers worked out by hand
-- --------------------------------------------------------------------------

-- epsilon_greedy eps=0.3 decay=0.5, arms x, y, z; rewards: x 1, y 1, y 0
-- => means (2/3, 2/4, 1/2) with Beta(1,1); N = 3, eps_t = 0.3 / 2.5 = 0.12
-- => x: 0.12/3 + 0.88 = 0.92, y and z: 0.04
SELECT bandit_create('hand_eps', ARRAY['x', 'y', 'z'], 'epsilon_greedy', '{"epsilon": 0.3, "decay": 0.5, "update": "batch"}') IS NOT NULL AS created \gset
CREATE FUNCTION pg_temp.pull(exp text, want text, reward float8) RETURNS void LANGUAGE plpgsql AS $$
DECLARE d record;
BEGIN
    LOOP
        SELECT * INTO d FROM bandit_select(exp);
        EXIT WHEN d.arm = want;
    END LOOP;
    PERFORM bandit_reward(d.decision_id, reward);
END $$;
SELECT pg_temp.pull('hand_eps', 'x', 1), pg_temp.pull('hand_eps', 'y', 1), pg_temp.pull('hand_eps', 'y', 0) \gset
SELECT bandit_refresh('hand_eps') AS folded \gset
SELECT results_eq(
    $$SELECT arm, round(bandit_policy_prob('hand_eps', arm)::numeric, 12) FROM unnest(ARRAY['x', 'y', 'z']) arm$$,
    $$VALUES ('x', 0.920000000000), ('y', 0.040000000000), ('z', 0.040000000000)$$,
    'epsilon_greedy by hand: eps_t = 0.3 / (1 + 0.5 * 3), greedy x gets 0.92');

-- exp3 gamma=0.5 on two arms, one reward 1 on a made at propensity 1/2:
-- S_a = 2, w_a = exp(0.5 * 2 / 2) = e^0.5, w_b = 1
-- => p_a = 0.5 e^0.5 / (e^0.5 + 1) + 0.25
SELECT bandit_create('hand_exp3', ARRAY['a', 'b'], 'exp3', '{"gamma": 0.5}') IS NOT NULL AS created \gset
SELECT pg_temp.pull('hand_exp3', 'a', 1) \gset
SELECT ok(abs(bandit_policy_prob('hand_exp3', 'a') - (0.5 * exp(0.5) / (exp(0.5) + 1) + 0.25)) <= 1e-12,
          'exp3 by hand: 0.5 e^0.5 / (e^0.5 + 1) + 0.25');

SELECT * FROM finish();
ROLLBACK;
