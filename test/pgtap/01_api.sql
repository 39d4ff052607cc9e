-- pgTAP: behaviour and contract of the SQL API (issue 3, sections 2 and 3).
--
-- Everything runs in one transaction that is rolled back at the end.
-- Randomness: bandit.seed fixes the policies' draws, setseed() the simulated
-- rewards, and the experiment id sequence is pinned (the unit hash includes
-- the experiment id), so every run makes the same decisions.
-- Exact policies are compared to 1e-12; Thompson numbers, which come from
-- numerical integration, to 1e-9 (sums) or 1e-6 (closed forms).
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(112);

SET LOCAL bandit.seed = 4242;
SELECT setseed(0.25);
SELECT setval('bandit.experiment_id_seq', 910000, false) AS pinned_id \gset

-- --------------------------------------------------------------------------
-- Helpers
-- --------------------------------------------------------------------------

-- a field of a posterior's text form, e.g. field('(alpha=2, beta=1, n=1)', 'alpha') = 2
CREATE FUNCTION pg_temp.field(p text, key text) RETURNS float8
    LANGUAGE sql IMMUTABLE AS
$$ SELECT substring(p FROM '[(, ]' || key || '=([^,)]+)')::float8 $$;

-- an arm as bandit_select sees it (online rewards may still be in reward slots)
CREATE FUNCTION pg_temp.arm_posterior(exp text, arm text)
    RETURNS TABLE (beta beta_posterior, normal normal_posterior) LANGUAGE sql STABLE AS
$$ SELECT p.beta, p.normal FROM bandit.arm_posteriors(exp) p
     JOIN bandit.arm a ON a.arm_id = p.arm_id
     JOIN bandit.experiment e ON e.id = a.experiment_id AND e.name = exp
    WHERE a.name = arm $$;
CREATE FUNCTION pg_temp.eid(exp text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM bandit.experiment WHERE name = exp $$;

CREATE FUNCTION pg_temp.arm_names(exp text) RETURNS SETOF text LANGUAGE sql STABLE AS
$$ SELECT name FROM bandit.arm WHERE experiment_id = pg_temp.eid(exp) ORDER BY arm_id $$;

-- pi(arm) for every arm of an experiment
CREATE FUNCTION pg_temp.probs(exp text) RETURNS TABLE (arm text, p float8) LANGUAGE sql STABLE AS
$$ SELECT a, public.bandit_policy_prob(exp, a) FROM pg_temp.arm_names(exp) a $$;

-- every decision the tests make, with the reward they gave (NULL: none)
CREATE TEMP TABLE plays (exp text, decision_id bigint, arm text, propensity float8, reward float8);

-- rounds of select + reward; reward of arm i: Bernoulli(levels[i]), or
-- levels[i] + uniform noise in [-1, 1) when gaussian
CREATE FUNCTION pg_temp.play(exp text, rounds int, levels float8[], gaussian boolean DEFAULT false)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d record;
    aid int;
    r float8;
BEGIN
    FOR i IN 1 .. rounds LOOP
        SELECT * INTO d FROM bandit_select(exp);
        SELECT arm_id INTO aid FROM bandit.arm WHERE experiment_id = pg_temp.eid(exp) AND name = d.arm;
        r := CASE WHEN gaussian THEN levels[aid] + 2 * (random() - 0.5)
                  ELSE (random() < levels[aid])::int END;
        PERFORM bandit_reward(d.decision_id, r);
        INSERT INTO plays VALUES (exp, d.decision_id, d.arm, d.propensity, r);
    END LOOP;
END $$;

-- select until the wanted arm comes up, reward it (unless reward is NULL);
-- the other decisions stay without reward.  Returns the decision id.
CREATE FUNCTION pg_temp.pull(exp text, want text, reward float8) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    FOR i IN 1 .. 10000 LOOP
        SELECT * INTO d FROM bandit_select(exp);
        IF d.arm = want THEN
            IF reward IS NOT NULL THEN
                PERFORM bandit_reward(d.decision_id, reward);
            END IF;
            INSERT INTO plays VALUES (exp, d.decision_id, d.arm, d.propensity, reward);
            RETURN d.decision_id;
        END IF;
        INSERT INTO plays VALUES (exp, d.decision_id, d.arm, d.propensity, NULL);
    END LOOP;
    RAISE EXCEPTION 'arm % of % was never selected', want, exp;
END $$;

-- --------------------------------------------------------------------------
-- bandit_create
-- --------------------------------------------------------------------------

SELECT bandit_create('api_t', ARRAY['a', 'b', 'c']) AS t_id \gset

SELECT is((SELECT id FROM bandit.experiment WHERE name = 'api_t'), :t_id::bigint,
          'bandit_create returns the id of the new experiment');
SELECT is((SELECT policy FROM bandit.experiment WHERE id = :t_id), 'thompson',
          'the default policy is thompson');
SELECT ok((SELECT params ?& ARRAY['reward_type', 'update', 'prior_alpha', 'prior_beta']
                  AND params ->> 'reward_type' = 'bernoulli' AND params ->> 'update' = 'online'
             FROM bandit.experiment WHERE id = :t_id),
          'params are stored normalised: reward_type bernoulli, update online and the prior filled in');
SELECT results_eq(
    $$SELECT name, arm_id, enabled FROM bandit.arm WHERE experiment_id = pg_temp.eid('api_t') ORDER BY arm_id$$,
    $$VALUES ('a'::text, 1, true), ('b', 2, true), ('c', 3, true)$$,
    'arms are created enabled, numbered in the order given');
SELECT ok((SELECT bool_and(a.normal IS NULL
                  AND pg_temp.field(a.beta::text, 'alpha') = (e.params ->> 'prior_alpha')::float8
                  AND pg_temp.field(a.beta::text, 'beta') = (e.params ->> 'prior_beta')::float8
                  AND pg_temp.field(a.beta::text, 'n') = 0)
             FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id WHERE e.id = :t_id),
          'every arm starts at the stored prior (beta_posterior, n = 0)');
SELECT is((SELECT a.beta::text FROM bandit.arm a WHERE a.experiment_id = :t_id AND a.arm_id = 1),
          (SELECT beta_posterior_agg(x)::text FROM (SELECT 1.0::float8 WHERE false) t(x)),
          'the default Beta prior is the one beta_posterior_agg starts from');

SELECT bandit_create('api_eps', ARRAY['x', 'y'], 'epsilon_greedy',
                     '{"epsilon": 0.25, "update": "batch", "prior_alpha": 2}') AS eps_id \gset
SELECT ok((SELECT params @> '{"epsilon": 0.25, "update": "batch", "prior_alpha": 2, "reward_type": "bernoulli"}'
                  AND params ?& ARRAY['decay', 'prior_beta']
             FROM bandit.experiment WHERE id = :eps_id),
          'given params are kept, the missing ones (decay, prior_beta, reward_type) filled in');
SELECT is((SELECT array_agg(pg_temp.field(beta::text, 'alpha') ORDER BY arm_id) FROM bandit.arm WHERE experiment_id = :eps_id),
          ARRAY[2, 2]::float8[], 'a given prior_alpha is the arms'' prior');

SELECT bandit_create('api_g', ARRAY['p', 'q'], 'thompson', '{"reward_type": "gaussian", "prior_mean": 5}') AS g_id \gset
SELECT ok((SELECT params @> '{"reward_type": "gaussian", "prior_mean": 5}'
                  AND params ?& ARRAY['prior_kappa', 'prior_alpha', 'prior_beta', 'update']
             FROM bandit.experiment WHERE id = :g_id),
          'gaussian params: prior_mean kept, prior_kappa / prior_alpha / prior_beta filled in');
SELECT ok((SELECT bool_and(a.beta IS NULL AND posterior_mean(a.normal) = 5
                  AND pg_temp.field(a.normal::text, 'kappa') = (e.params ->> 'prior_kappa')::float8
                  AND pg_temp.field(a.normal::text, 'alpha') = (e.params ->> 'prior_alpha')::float8
                  AND pg_temp.field(a.normal::text, 'beta') = (e.params ->> 'prior_beta')::float8)
             FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id WHERE e.id = :g_id),
          'gaussian arms hold a normal_posterior at the stored prior');
SELECT bandit_create('api_sm0', ARRAY['a'], 'softmax') AS sm0_id, bandit_create('api_x0', ARRAY['a'], 'exp3') AS x0_id \gset
SELECT ok((SELECT params ? 'temperature' FROM bandit.experiment WHERE id = :sm0_id)
          AND (SELECT params ? 'gamma' FROM bandit.experiment WHERE id = :x0_id),
          'softmax stores its temperature, exp3 its gamma, when not given');

-- --------------------------------------------------------------------------
-- bandit_select and the decision log
-- --------------------------------------------------------------------------

SELECT is((SELECT count(*) FROM bandit_select('api_t')), 1::bigint, 'bandit_select returns exactly one row');

SELECT decision_id AS d1, arm AS arm1, propensity AS prop1
  FROM bandit_select('api_t', ARRAY[1.5, -2]::float8[], 'unit-1') \gset

SELECT ok(:'arm1' IN (SELECT name FROM bandit.arm WHERE experiment_id = :t_id AND enabled),
          'the selected arm is an enabled arm of the experiment');
SELECT ok(:prop1::float8 > 0 AND :prop1::float8 <= 1, 'the propensity is in (0, 1]');
SELECT results_eq(
    format($$SELECT d.experiment_id, a.name, d.propensity, d.context, d.unit, d.decided_at = now()
               FROM bandit.decision d JOIN bandit.arm a USING (experiment_id, arm_id) WHERE d.id = %s$$, :d1),
    format($$VALUES (%s::bigint, %L::text, %s::float8, ARRAY[1.5, -2]::float8[], 'unit-1'::text, true)$$,
           :t_id, :'arm1', :prop1),
    'the decision is logged with experiment, arm, propensity, context, unit and time');
SELECT is(bandit_policy_prob('api_t', :'arm1'), :prop1::float8,
          'bandit_policy_prob gives exactly the logged propensity in the same state');
SELECT is((SELECT count(DISTINCT state_version) FROM bandit.decision WHERE experiment_id = :t_id), 1::bigint,
          'decisions made without a state change log the same state version');

-- --------------------------------------------------------------------------
-- propensities of every policy sum to 1 (after some traffic)
-- --------------------------------------------------------------------------

SELECT bandit_create('sum_thompson', ARRAY['a', 'b', 'c']) IS NOT NULL AS ok1,
       bandit_create('sum_gauss', ARRAY['a', 'b', 'c'], 'thompson', '{"reward_type": "gaussian"}') IS NOT NULL AS ok2,
       bandit_create('sum_ucb1', ARRAY['a', 'b', 'c'], 'ucb1') IS NOT NULL AS ok3,
       bandit_create('sum_eps', ARRAY['a', 'b', 'c'], 'epsilon_greedy', '{"epsilon": 0.3, "decay": 0.1}') IS NOT NULL AS ok4,
       bandit_create('sum_softmax', ARRAY['a', 'b', 'c'], 'softmax', '{"temperature": 0.2}') IS NOT NULL AS ok5,
       bandit_create('sum_exp3', ARRAY['a', 'b', 'c'], 'exp3', '{"gamma": 0.2}') IS NOT NULL AS ok6,
       bandit_create('sum_uniform', ARRAY['a', 'b', 'c'], 'uniform') IS NOT NULL AS ok7 \gset
SELECT bool_and(pg_temp.play(name, 40, ARRAY[0.2, 0.5, 0.8], name = 'sum_gauss') IS NULL) AS played
  FROM bandit.experiment WHERE name LIKE 'sum\_%' \gset

-- tolerance: 1e-12 for the exact policies, 1e-9 for Thompson (integration)
SELECT ok(abs(s.total - 1) <= CASE WHEN e.policy = 'thompson' THEN 1e-9 ELSE 1e-12 END,
          format('propensities of %s sum to 1 (off by %s)', e.name, abs(s.total - 1)))
  FROM bandit.experiment e,
       LATERAL (SELECT sum(p) AS total FROM pg_temp.probs(e.name)) s
 WHERE e.name LIKE 'sum\_%' ORDER BY e.name;

-- every logged propensity during that traffic was the policy_prob of its state
SELECT ok(bool_and(d.propensity > 0 AND d.propensity <= 1), 'every logged propensity is in (0, 1]')
  FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id WHERE e.name LIKE 'sum\_%';

-- --------------------------------------------------------------------------
-- a disabled arm gets probability 0 and is never selected
-- --------------------------------------------------------------------------

-- ucb1 and exp3 need their own check: an untried arm would win under ucb1,
-- and exp3's uniform mixing gives every enabled arm gamma/K
SELECT bandit_create('dis_ucb1', ARRAY['a', 'b', 'c'], 'ucb1') IS NOT NULL AS ok8 \gset
SELECT bool_and(bandit_set_arm_enabled(e.name, 'b', false) IS NULL) AS disabled
  FROM bandit.experiment e WHERE e.name LIKE 'sum\_%' OR e.name = 'dis_ucb1' \gset

SELECT ok(s.pb = 0 AND abs(s.rest - 1) <= CASE WHEN e.policy = 'thompson' THEN 1e-9 ELSE 1e-12 END,
          format('%s: the disabled arm has probability 0, the others sum to 1', e.name))
  FROM bandit.experiment e,
       LATERAL (SELECT sum(p) FILTER (WHERE arm = 'b') AS pb, sum(p) FILTER (WHERE arm <> 'b') AS rest
                  FROM pg_temp.probs(e.name)) s
 WHERE e.name LIKE 'sum\_%' OR e.name = 'dis_ucb1' ORDER BY e.name;

SELECT is(count(*) FILTER (WHERE s.arm = 'b'), 0::bigint,
          'no policy selects the disabled arm in 100 selections each')
  FROM bandit.experiment e,
       LATERAL (SELECT (bandit_select(e.name)).arm FROM generate_series(1, 100)) s
 WHERE e.name LIKE 'sum\_%' OR e.name = 'dis_ucb1';

-- exp3 state: gamma / K with K the enabled arms
SELECT ok(abs(bandit_policy_prob('sum_uniform', 'a') - 1.0 / 2) <= 1e-12,
          'uniform with one of three arms disabled: 1/2 each');
SELECT bandit_set_arm_enabled('sum_uniform', 'b', true) IS NULL AS enabled_again \gset
SELECT ok(abs(bandit_policy_prob('sum_uniform', 'b') - 1.0 / 3) <= 1e-12,
          're-enabled arm is back in the uniform split (1/3)');

-- --------------------------------------------------------------------------
-- bandit_add_arm: the new arm starts at the prior
-- --------------------------------------------------------------------------

SELECT bandit_create('add_beta', ARRAY['a', 'b'], 'epsilon_greedy',
                     '{"prior_alpha": 2, "prior_beta": 3}') AS add_id \gset
SELECT pg_temp.play('add_beta', 20, ARRAY[0.3, 0.7]) IS NULL AS played \gset
SELECT bandit_add_arm('add_beta', 'new') IS NULL AS added \gset
SELECT results_eq(
    $$SELECT arm_id, enabled, pg_temp.field(beta::text, 'alpha'), pg_temp.field(beta::text, 'beta'),
             pg_temp.field(beta::text, 'n')
        FROM bandit.arm WHERE experiment_id = pg_temp.eid('add_beta') AND name = 'new'$$,
    $$VALUES (3, true, 2::float8, 3::float8, 0::float8)$$,
    'added arm: next arm id, enabled, posterior = the experiment''s prior Beta(2, 3)');
SELECT ok(bandit_policy_prob('add_beta', 'new') > 0, 'the added arm takes part in the policy');

SELECT bandit_add_arm('api_g', 'r') IS NULL AS added \gset
SELECT is((SELECT normal::text FROM bandit.arm WHERE experiment_id = :g_id AND name = 'r'),
          (SELECT normal::text FROM bandit.arm WHERE experiment_id = :g_id AND name = 'p'),
          'added gaussian arm: the normal_posterior prior (an untouched arm has it)');

SELECT bandit_add_arm('sum_uniform', 'd') IS NULL AS added \gset
SELECT ok((SELECT bool_and(abs(p - 1.0 / 4) <= 1e-12) FROM pg_temp.probs('sum_uniform')),
          'uniform with an added fourth arm: 1/4 each');

-- --------------------------------------------------------------------------
-- the same unit gets the same arm while the state is unchanged
-- --------------------------------------------------------------------------

SELECT bandit_create('unit_u', ARRAY['a', 'b', 'c', 'd'], 'uniform') AS unit_id \gset
-- (an SRF in the target list runs once per row)
SELECT is((SELECT count(DISTINCT a) FROM (SELECT (bandit_select('unit_u', NULL, 'user-42')).arm
                                            FROM generate_series(1, 20)) s(a)),
          1::bigint, 'one unit, 20 selections, one state: always the same arm');
SELECT cmp_ok((SELECT count(DISTINCT a) FROM (SELECT (bandit_select('unit_u', NULL, 'user-' || g)).arm
                                                FROM generate_series(1, 40) g) s(a)),
              '>', 1::bigint, 'different units get different arms');
CREATE TEMP TABLE first_pass AS
  SELECT g, (bandit_select('unit_u', NULL, 'user-' || g)).arm FROM generate_series(100, 140) g;
SELECT results_eq(
    $$SELECT (bandit_select('unit_u', NULL, 'user-' || g)).arm FROM generate_series(100, 140) g$$,
    $$SELECT arm FROM first_pass ORDER BY g$$,
    'a second pass over 41 units gives each the arm it got the first time');
-- enabling an arm that is already enabled changes nothing, so units keep their arms
SELECT bandit_set_arm_enabled('unit_u', 'a', true) IS NULL AS noop \gset
SELECT results_eq(
    $$SELECT (bandit_select('unit_u', NULL, 'user-' || g)).arm FROM generate_series(100, 140) g$$,
    $$SELECT arm FROM first_pass ORDER BY g$$,
    'after a no-op bandit_set_arm_enabled the units still get the same arms');

-- distribution over units: a batch experiment held in a non-uniform state
SELECT bandit_create('unit_eps', ARRAY['a', 'b', 'c'], 'epsilon_greedy',
                     '{"epsilon": 0.6, "update": "batch"}') IS NOT NULL AS ok9 \gset
SELECT pg_temp.pull('unit_eps', 'c', 1) IS NOT NULL AS pulled \gset
SELECT bandit_refresh('unit_eps') AS folded \gset
-- 4,000 units; chi-square with 2 degrees of freedom against the propensities:
-- critical value at p = 0.001 is 13.816
CREATE TEMP TABLE unit_counts AS
  SELECT a AS arm, count(*) AS n
    FROM (SELECT (bandit_select('unit_eps', NULL, 'member-' || g)).arm FROM generate_series(1, 4000) g) s(a)
   GROUP BY a;
SELECT cmp_ok((SELECT sum((coalesce(c.n, 0) - 4000 * p.p) ^ 2 / (4000 * p.p))
                 FROM pg_temp.probs('unit_eps') p LEFT JOIN unit_counts c USING (arm)),
              '<', 13.816::float8,
              'arm frequencies over 4000 units match the propensities (chi-square, p = 0.001)');
-- the state is not uniform, so that check has teeth: c is greedy, 1 - 0.6 + 0.6/3
SELECT ok(abs(bandit_policy_prob('unit_eps', 'c') - (1 - 0.6 + 0.6 / 3)) <= 1e-12,
          'the unit distribution check ran on a non-uniform state');

-- --------------------------------------------------------------------------
-- online reward: the next select sees it; batch: only after refresh
-- --------------------------------------------------------------------------

-- epsilon-greedy with epsilon 0.2 on two arms: tie = 1/2 each; a unique
-- greedy arm gets 1 - eps + eps/2 = 0.9, the other eps/2 = 0.1
SELECT bandit_create('on_eps', ARRAY['x', 'y'], 'epsilon_greedy', '{"epsilon": 0.2}') IS NOT NULL AS ok10 \gset
SELECT ok(abs(bandit_policy_prob('on_eps', 'x') - 0.5) <= 1e-12, 'online: before any reward the arms tie (1/2)');
SELECT pg_temp.pull('on_eps', 'y', NULL) AS dy \gset
SELECT bandit_reward(:dy, 1) IS NULL AS rewarded \gset
SELECT ok(abs(bandit_policy_prob('on_eps', 'y') - (1 - 0.2 + 0.2 / 2)) <= 1e-12,
          'online: right after the reward the rewarded arm is greedy (1 - eps + eps/K)');
SELECT decision_id AS dnext, propensity AS pnext, arm AS anext FROM bandit_select('on_eps') \gset
SELECT ok(abs(:pnext - CASE :'anext' WHEN 'y' THEN 0.9 ELSE 0.1 END) <= 1e-12,
          'online: the next bandit_select logs the propensity of the new state');
SELECT cmp_ok((SELECT state_version FROM bandit.decision WHERE id = :dnext), '>',
              (SELECT state_version FROM bandit.decision WHERE id = :dy),
              'online: the next decision is made from a newer state version');
SELECT is((SELECT beta::text FROM pg_temp.arm_posterior('on_eps', 'y')),
          (SELECT posterior_update(format('(alpha=%s, beta=%s, n=0)', params ->> 'prior_alpha',
                                          params ->> 'prior_beta')::beta_posterior, 1)::text
             FROM bandit.experiment WHERE name = 'on_eps'),
          'online: the posterior of the rewarded arm is the prior updated with the reward');
SELECT is((SELECT beta::text FROM bandit.arm WHERE experiment_id = pg_temp.eid('on_eps') AND name = 'y'),
          (SELECT format('(alpha=%s, beta=%s, n=0)', params ->> 'prior_alpha', params ->> 'prior_beta')
             FROM bandit.experiment WHERE name = 'on_eps'),
          'online: the reward is in a reward slot; the arm row still holds the prior');

-- same transaction semantics as any write: a rolled back reward is gone
SAVEPOINT before_x;
SELECT pg_temp.pull('on_eps', 'x', 1) IS NOT NULL AS pulled \gset
SELECT ok(abs(bandit_policy_prob('on_eps', 'x') - 0.5) <= 1e-12, 'online: a reward on the other arm ties them again');
ROLLBACK TO SAVEPOINT before_x;
SELECT ok(abs(bandit_policy_prob('on_eps', 'y') - 0.9) <= 1e-12,
          'online: after ROLLBACK TO SAVEPOINT the reward is gone from the state (no stale cache)');

-- batch
SELECT bandit_create('b_eps', ARRAY['x', 'y'], 'epsilon_greedy', '{"epsilon": 0.2, "update": "batch"}') AS b_id \gset
SELECT pg_temp.pull('b_eps', 'y', 1) AS by1 \gset
SELECT ok(abs(bandit_policy_prob('b_eps', 'y') - 0.5) <= 1e-12, 'batch: a reward does not move the policy before refresh');
SELECT results_eq(
    format($$SELECT (SELECT count(*) FROM bandit.reward WHERE decision_id = %1$s),
                    (SELECT count(*) FROM bandit.pending_reward WHERE decision_id = %1$s),
                    (SELECT pg_temp.field(beta::text, 'n') FROM bandit.arm WHERE experiment_id = %2$s AND name = 'y')$$,
           :by1, :b_id),
    $$VALUES (1::bigint, 1::bigint, 0::float8)$$,
    'batch: the reward is logged and pending, the posterior untouched');
SELECT is(bandit_refresh('b_eps'), 1::bigint, 'batch: bandit_refresh folds the one pending reward');
SELECT ok(abs(bandit_policy_prob('b_eps', 'y') - 0.9) <= 1e-12, 'batch: after refresh the policy sees the reward');
SELECT is(bandit_refresh('b_eps'), 0::bigint, 'batch: a second refresh folds nothing');

-- bandit_refresh(NULL) folds every experiment
SELECT bandit_create('b_all1', ARRAY['x', 'y'], 'thompson', '{"update": "batch"}') IS NOT NULL AS ok11,
       bandit_create('b_all2', ARRAY['x', 'y'], 'uniform', '{"update": "batch", "reward_type": "gaussian"}') IS NOT NULL AS ok12 \gset
SELECT pg_temp.pull('b_all1', 'x', 1) + pg_temp.pull('b_all1', 'y', 0) + pg_temp.pull('b_eps', 'x', 1)
       + pg_temp.pull('b_all2', 'x', 3.5) + pg_temp.pull('b_all2', 'y', -1) + pg_temp.pull('b_all2', 'y', 2) IS NOT NULL AS pulled \gset
SELECT count(*) AS pending_before FROM bandit.pending_reward \gset
SELECT cmp_ok(:pending_before::bigint, '>=', 6::bigint, 'six rewards in three experiments are pending');
SELECT is(bandit_refresh(NULL), :pending_before::bigint, 'bandit_refresh(NULL) folds the pending rewards of every experiment');
SELECT is((SELECT count(*) FROM bandit.pending_reward), 0::bigint, 'nothing is left pending');
SELECT results_eq(
    $$SELECT e.name, a.name, coalesce(pg_temp.field(a.beta::text, 'n'), pg_temp.field(a.normal::text, 'n'))
        FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
       WHERE e.name IN ('b_all1', 'b_all2', 'b_eps') ORDER BY 1, 2$$,
    $$SELECT e.name, a.name, count(p.reward)::float8
        FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
        LEFT JOIN plays p ON p.exp = e.name AND p.arm = a.name
       WHERE e.name IN ('b_all1', 'b_all2', 'b_eps') GROUP BY 1, 2 ORDER BY 1, 2$$,
    'after the refresh each arm''s posterior counts exactly its rewards');
SELECT ok(abs(posterior_mean(a.normal)
              - ((e.params ->> 'prior_kappa')::float8 * (e.params ->> 'prior_mean')::float8 + (-1 + 2))
                / ((e.params ->> 'prior_kappa')::float8 + 2)) <= 1e-12,
          'batch gaussian: folded posterior mean = (kappa0 mu0 + sum r) / (kappa0 + n)')
  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id WHERE e.name = 'b_all2' AND a.name = 'y';
SELECT is(bandit_refresh(), 0::bigint, 'bandit_refresh() with nothing pending folds 0');

-- --------------------------------------------------------------------------
-- bandit_arm_stats
-- --------------------------------------------------------------------------

SELECT bandit_create('st_t', ARRAY['a', 'b', 'c']) AS st_id \gset
SELECT pg_temp.play('st_t', 150, ARRAY[0.1, 0.3, 0.5]) IS NULL AS played \gset
-- some decisions without a reward
SELECT pg_temp.pull('st_t', 'a', NULL) + pg_temp.pull('st_t', 'b', NULL) IS NOT NULL AS pulled \gset

SELECT results_eq(
    $$SELECT arm, enabled, pulls, rewarded, reward_sum, mean FROM bandit_arm_stats('st_t') ORDER BY arm$$,
    $$SELECT arm, true, count(*), count(reward), coalesce(sum(reward), 0), sum(reward) / nullif(count(reward), 0)
        FROM plays WHERE exp = 'st_t' GROUP BY arm ORDER BY arm$$,
    'arm_stats: pulls, rewarded, reward_sum and mean agree with the decisions and rewards made');
SELECT ok(bool_and(s.ci_low < posterior_mean(a.beta) AND posterior_mean(a.beta) < s.ci_high
                   AND s.ci_low > 0 AND s.ci_high < 1),
          'arm_stats: 0 < ci_low < posterior mean < ci_high < 1')
  FROM bandit_arm_stats('st_t') s, pg_temp.arm_posterior('st_t', s.arm) a;
SELECT ok(abs(sum(prob_best) - 1) <= 1e-9 AND bool_and(prob_best BETWEEN 0 AND 1),
          'arm_stats: prob_best in [0, 1], summing to 1')
  FROM bandit_arm_stats('st_t');
SELECT ok(bool_and(abs(s.prob_best - bandit_policy_prob('st_t', s.arm)) <= 1e-9),
          'arm_stats: prob_best of a thompson experiment is its policy probability')
  FROM bandit_arm_stats('st_t') s;
SELECT bandit_set_arm_enabled('st_t', 'c', false) IS NULL AS disabled \gset
SELECT ok(sum(prob_best) FILTER (WHERE arm = 'c') = 0 AND abs(sum(prob_best) - 1) <= 1e-9
          AND bool_and(NOT enabled) FILTER (WHERE arm = 'c'),
          'arm_stats: a disabled arm is shown disabled with prob_best 0, the rest sum to 1')
  FROM bandit_arm_stats('st_t');

-- closed forms: Beta(a, 1) has quantile q^(1/a), Beta(1, b) has 1 - (1-q)^(1/b);
-- for X ~ Beta(3, 1), Y ~ Beta(1, 3): P(Y > X) = 3! 3! / 6! = 1/20.
SELECT bandit_create('st_ci', ARRAY['hi', 'lo'], 'uniform') IS NOT NULL AS ok13 \gset
SELECT pg_temp.pull('st_ci', 'hi', 1) + pg_temp.pull('st_ci', 'hi', 1)
       + pg_temp.pull('st_ci', 'lo', 0) + pg_temp.pull('st_ci', 'lo', 0) IS NOT NULL AS pulled \gset
SELECT ok(abs(ci_low - 0.025 ^ (1.0 / 3)) <= 1e-10 AND abs(ci_high - 0.975 ^ (1.0 / 3)) <= 1e-10,
          'arm_stats: 95% interval of Beta(3, 1) is [0.025^(1/3), 0.975^(1/3)] (1e-10)')
  FROM bandit_arm_stats('st_ci') WHERE arm = 'hi';
SELECT ok(abs(ci_low - (1 - 0.975 ^ (1.0 / 3))) <= 1e-10 AND abs(ci_high - (1 - 0.025 ^ (1.0 / 3))) <= 1e-10,
          'arm_stats: 95% interval of Beta(1, 3) is [1 - 0.975^(1/3), 1 - 0.025^(1/3)] (1e-10)')
  FROM bandit_arm_stats('st_ci') WHERE arm = 'lo';
SELECT ok(abs(prob_best - 1.0 / 20) <= 1e-6,
          'arm_stats: prob_best of Beta(1, 3) against Beta(3, 1) is 1/20 (1e-6)')
  FROM bandit_arm_stats('st_ci') WHERE arm = 'lo';

-- gaussian stats
SELECT bandit_create('st_g', ARRAY['a', 'b'], 'thompson', '{"reward_type": "gaussian"}') AS stg_id \gset
SELECT pg_temp.play('st_g', 60, ARRAY[1.0, 2.0], true) IS NULL AS played \gset
SELECT lives_ok($$SELECT * FROM bandit_arm_stats('st_g')$$, 'bandit_arm_stats works for a gaussian experiment');
-- (copied into a table, so that an error here fails the tests below instead of aborting the file)
CREATE TEMP TABLE st_g_stats AS SELECT * FROM bandit_arm_stats('st_t') WHERE false;
DO $$ BEGIN
    INSERT INTO st_g_stats SELECT * FROM bandit_arm_stats('st_g');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'bandit_arm_stats(''st_g'') failed: %', SQLERRM;
END $$;
-- (sums in another order: mean to 1e-12 relative)
SELECT ok(count(*) = 2 AND bool_and(s.rewarded = p.n AND abs(s.mean - p.m) <= 1e-12 * abs(p.m)),
          'gaussian arm_stats: rewarded and mean agree with the rewards made')
  FROM st_g_stats s
  JOIN (SELECT arm, count(reward) AS n, avg(reward) AS m FROM plays WHERE exp = 'st_g' GROUP BY arm) p USING (arm);
SELECT ok(bool_and(s.ci_low < posterior_mean(a.normal) AND posterior_mean(a.normal) < s.ci_high)
          AND abs(sum(s.prob_best) - 1) <= 1e-9,
          'gaussian arm_stats: ci_low < posterior mean < ci_high, prob_best sums to 1')
  FROM st_g_stats s, pg_temp.arm_posterior('st_g', s.arm) a;

-- --------------------------------------------------------------------------
-- bandit_drop removes everything of the experiment, nothing else
-- --------------------------------------------------------------------------

SELECT bandit_create('drop_me', ARRAY['a', 'b'], 'uniform', '{"update": "batch"}') AS drop_id \gset
SELECT pg_temp.pull('drop_me', 'a', 1) + pg_temp.pull('drop_me', 'b', 0) IS NOT NULL AS pulled \gset
SELECT bandit_refresh('drop_me') AS folded \gset
SELECT pg_temp.pull('drop_me', 'a', 0) IS NOT NULL AS pulled_pending \gset
CREATE TEMP TABLE others_before AS
  SELECT (SELECT count(*) FROM bandit.experiment WHERE id <> :drop_id) AS e,
         (SELECT count(*) FROM bandit.arm WHERE experiment_id <> :drop_id) AS a,
         (SELECT count(*) FROM bandit.decision WHERE experiment_id <> :drop_id) AS d,
         (SELECT count(*) FROM bandit.reward WHERE experiment_id <> :drop_id) AS r;
SELECT results_eq(
    format($$SELECT (SELECT count(*) FROM bandit.arm WHERE experiment_id = %1$s) > 0,
                    (SELECT count(*) FROM bandit.decision WHERE experiment_id = %1$s) > 0,
                    (SELECT count(*) FROM bandit.reward WHERE experiment_id = %1$s) > 0,
                    (SELECT count(*) FROM bandit.pending_reward WHERE experiment_id = %1$s) > 0$$, :drop_id),
    $$VALUES (true, true, true, true)$$,
    'before the drop the experiment has arms, decisions, rewards and a pending reward');
SELECT lives_ok($$SELECT bandit_drop('drop_me')$$, 'bandit_drop succeeds');
SELECT results_eq(
    format($$SELECT (SELECT count(*) FROM bandit.experiment WHERE id = %1$s),
                    (SELECT count(*) FROM bandit.arm WHERE experiment_id = %1$s),
                    (SELECT count(*) FROM bandit.decision WHERE experiment_id = %1$s),
                    (SELECT count(*) FROM bandit.reward WHERE experiment_id = %1$s),
                    (SELECT count(*) FROM bandit.pending_reward WHERE experiment_id = %1$s)$$, :drop_id),
    $$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
    'after the drop: no experiment, arm, decision, reward or pending reward row is left');
SELECT results_eq(
    format($$SELECT (SELECT count(*) FROM bandit.experiment WHERE id <> %1$s),
                    (SELECT count(*) FROM bandit.arm WHERE experiment_id <> %1$s),
                    (SELECT count(*) FROM bandit.decision WHERE experiment_id <> %1$s),
                    (SELECT count(*) FROM bandit.reward WHERE experiment_id <> %1$s)$$, :drop_id),
    $$SELECT e, a, d, r FROM others_before$$,
    'the other experiments are untouched by the drop');
SELECT throws_ok($$SELECT * FROM bandit_select('drop_me')$$, '42704', NULL,
                 'a dropped experiment no longer exists for bandit_select');

-- --------------------------------------------------------------------------
-- errors: one of each class, with its SQLSTATE (the full catalogue is sql/errors.sql)
-- --------------------------------------------------------------------------

SELECT pg_temp.pull('on_eps', 'x', 0) AS rewarded_once \gset
SELECT decision_id AS open_decision FROM bandit_select('on_eps') \gset
SELECT md5(string_agg(a::text, '|' ORDER BY arm_id)) AS on_eps_arms FROM bandit.arm a WHERE experiment_id = pg_temp.eid('on_eps') \gset

SELECT throws_ok($$SELECT * FROM bandit_select('no_such_experiment')$$, '42704', NULL, 'unknown experiment: 42704');
SELECT throws_ok($$SELECT bandit_policy_prob('api_t', 'no_such_arm')$$, '42704', NULL, 'unknown arm: 42704');
SELECT throws_ok($$SELECT bandit_reward(-17, 1)$$, '42704', NULL, 'unknown decision: 42704');
SELECT throws_ok($$SELECT bandit_create('api_t', ARRAY['a'])$$, '42710', NULL, 'duplicate experiment name: 42710');
SELECT throws_ok($$SELECT bandit_create('dup', ARRAY['a', 'b', 'a'])$$, '42710', NULL, 'duplicate arm in the list: 42710');
SELECT throws_ok($$SELECT bandit_add_arm('api_t', 'b')$$, '42710', NULL, 'bandit_add_arm of an existing arm: 42710');
SELECT throws_ok($$SELECT bandit_create('e1', ARRAY[]::text[])$$, '22023', NULL, 'empty arm list: 22023');
SELECT throws_ok($$SELECT bandit_create('e2', NULL)$$, '22004', NULL, 'NULL arm list: 22004');
SELECT throws_ok($$SELECT bandit_create('e3', ARRAY['a'], 'greedy')$$, '22023', NULL, 'unknown policy: 22023');
SELECT throws_ok($$SELECT bandit_create('e4', ARRAY['a'], 'softmax', '{"temprature": 1}')$$, '22023', NULL,
                 'unknown parameter (a typo is not ignored): 22023');
SELECT throws_ok($$SELECT bandit_create('e5', ARRAY['a'], 'epsilon_greedy', '{"epsilon": -0.1}')$$, '22023', NULL,
                 'negative parameter: 22023');
SELECT throws_ok($$SELECT bandit_create('e6', ARRAY['a'], 'thompson', '{"prior_beta": "NaN"}')$$, '22023', NULL,
                 'NaN parameter: 22023');
SELECT throws_ok(format('SELECT bandit_reward(%s, %L)', :open_decision, 'NaN'), '22023', NULL, 'NaN reward: 22023');
SELECT throws_ok(format('SELECT bandit_reward(%s, %L)', :open_decision, 'Infinity'), '22023', NULL, 'infinite reward: 22023');
SELECT throws_ok(format('SELECT bandit_reward(%s, 1.5)', :open_decision), '22003', NULL,
                 'bernoulli reward outside [0, 1]: 22003');
SELECT throws_ok(format('SELECT bandit_reward(%s, 1)', :rewarded_once), '23505', NULL,
                 'a second reward for one decision: 23505');
SELECT throws_ok(format('SELECT bandit_reward(%s, NULL)', :open_decision), '22004', NULL, 'NULL reward: 22004');
SELECT throws_ok($$SELECT * FROM bandit_select(NULL)$$, '22004', NULL, 'NULL experiment: 22004');
SELECT throws_ok($$SELECT * FROM bandit_select('api_t', ARRAY[[1, 2], [3, 4]]::float8[])$$, '2202E', NULL,
                 'two-dimensional context: 2202E');
SELECT throws_ok($$SELECT bandit_set_arm_enabled('on_eps', 'x', false), bandit_set_arm_enabled('on_eps', 'y', false)$$,
                 '55000', NULL, 'disabling the last enabled arm: 55000');
SELECT throws_ok($$SELECT '(alpha=1, beta=1'::beta_posterior$$, '22P02', NULL, 'malformed beta_posterior text: 22P02');
SELECT results_eq(
    format($$SELECT (SELECT reward FROM bandit.reward WHERE decision_id = %s),
                    (SELECT count(*) FROM bandit.reward WHERE decision_id = %s),
                    (SELECT md5(string_agg(a::text, '|' ORDER BY arm_id)) FROM bandit.arm a
                      WHERE experiment_id = pg_temp.eid('on_eps'))$$, :rewarded_once, :open_decision),
    format($$VALUES (0::float8, 0::bigint, %L::text)$$, :'on_eps_arms'),
    'the failed rewards and the failed disable changed nothing');

-- --------------------------------------------------------------------------
-- the caller's search_path changes nothing
-- --------------------------------------------------------------------------

SELECT bandit_policy_prob('on_eps', 'y') AS on_eps_y \gset

CREATE SCHEMA evil;
-- look-alike tables, with an experiment only they know
CREATE TABLE evil.experiment (LIKE bandit.experiment);
CREATE TABLE evil.arm (LIKE bandit.arm);
INSERT INTO evil.experiment SELECT -1, 'only_evil', 'uniform', '{"reward_type": "bernoulli", "update": "online", "prior_alpha": 1, "prior_beta": 1}', 0, now();
INSERT INTO evil.arm VALUES (-1, 1, 'a', true, 0, '(alpha=1, beta=1, n=0)', NULL, 0);
INSERT INTO evil.experiment SELECT id, name, 'uniform', params, version + 100, created_at FROM bandit.experiment WHERE name = 'on_eps';
CREATE TEMP TABLE experiment (LIKE bandit.experiment);
INSERT INTO pg_temp.experiment SELECT -2, 'only_temp', 'uniform', '{"reward_type": "bernoulli", "update": "online", "prior_alpha": 1, "prior_beta": 1}', 0, now();
-- look-alike functions with the extension's signatures
CREATE FUNCTION evil.posterior_update(p beta_posterior, reward float8) RETURNS beta_posterior
    LANGUAGE sql AS $$ SELECT '(alpha=1000, beta=1, n=0)'::public.beta_posterior $$;
CREATE FUNCTION evil.posterior_interval(p beta_posterior, level float8) RETURNS float8[]
    LANGUAGE sql AS $$ SELECT ARRAY[-5, 5]::float8[] $$;
CREATE FUNCTION evil.posterior_prob_best(p beta_posterior[]) RETURNS float8[]
    LANGUAGE sql AS $$ SELECT array_fill(7::float8, ARRAY[cardinality(p)]) $$;
SET LOCAL search_path = evil, public;

SELECT throws_ok($$SELECT * FROM bandit_select('only_evil')$$, '42704', NULL,
                 'search_path: a look-alike experiment table earlier in the path is not read');
SELECT throws_ok($$SELECT * FROM bandit_select('only_temp')$$, '42704', NULL,
                 'search_path: a temporary look-alike table is not read');
SELECT is(bandit_policy_prob('on_eps', 'y'), :on_eps_y::float8,
          'search_path: the same policy probability as before');
SELECT decision_id AS evil_d, arm AS evil_arm FROM bandit_select('st_t') \gset
SELECT beta::text AS evil_before FROM pg_temp.arm_posterior('st_t', :'evil_arm') \gset
SELECT bandit_reward(:evil_d, 1) IS NULL AS rewarded \gset
SELECT is((SELECT beta::text FROM pg_temp.arm_posterior('st_t', :'evil_arm')),
          public.posterior_update(:'evil_before'::public.beta_posterior, 1)::text,
          'search_path: bandit_reward updates with the extension''s posterior_update');
-- reference figures with the normal path, then the same call with the look-alikes first
SET LOCAL search_path = "$user", public;
CREATE TEMP TABLE stats_ref AS SELECT * FROM bandit_arm_stats('st_t');
SET LOCAL search_path = evil, public;
SELECT results_eq(
    $$SELECT * FROM bandit_arm_stats('st_t')$$,
    $$SELECT * FROM stats_ref$$,
    'search_path: bandit_arm_stats is unchanged by look-alike posterior_interval / posterior_prob_best');
-- only the look-alike schema on the path (pgTAP itself needs public, so the
-- calls run first and the checks after RESET)
SET LOCAL search_path = evil;
SELECT public.bandit_create('evil_path', ARRAY['a', 'b'], 'thompson', '{"update": "batch"}') AS evil_path_id \gset
SELECT public.bandit_reward((SELECT decision_id FROM public.bandit_select('evil_path')), 1) IS NULL AS evil_rewarded \gset
SELECT public.bandit_refresh('evil_path') AS evil_folded \gset
SELECT sum(public.posterior_mean(beta)) AS evil_mean_sum FROM bandit.arm WHERE experiment_id = :evil_path_id \gset
RESET search_path;
SELECT is(:evil_folded::bigint, 1::bigint,
          'search_path without the extension schema: create, select, reward and refresh work');
SELECT is(:evil_mean_sum::float8, posterior_mean('(alpha=2, beta=1, n=1)'::beta_posterior) + 0.5,
          'search_path without the extension schema: the folded posteriors are right');

-- --------------------------------------------------------------------------
-- pg_dump keeps the extension's tables: pg_extension_config_dump
-- --------------------------------------------------------------------------

SELECT set_eq(
    $$SELECT c::regclass::text FROM pg_extension x, unnest(x.extconfig) c WHERE x.extname = 'bandit'$$,
    ARRAY['bandit.experiment', 'bandit.arm', 'bandit.decision', 'bandit.reward', 'bandit.pending_reward',
          'bandit.reward_slot', 'bandit.event', 'bandit.experiment_id_seq', 'bandit.decision_id_seq',
          'bandit.event_id_seq'],
    'extconfig lists the seven tables and the three sequences');
SELECT ok((SELECT bool_and(c = '') FROM pg_extension x, unnest(x.extcondition) c WHERE x.extname = 'bandit'),
          'every table is dumped whole (empty filter condition)');

SELECT * FROM finish();
ROLLBACK;
