-- pgTAP: a changing world (issue 7, section 2): half_life (discounted
-- Thompson sampling / discounted UCB) and window (sliding-window UCB and
-- Thompson), recomputed at each bandit_refresh.
--
--   * the posteriors equal a direct computation over the reward log, written
--     here: weight 2^(-(now - rewarded_at) / half_life), or the last N /
--     the last interval's rewards; to 1e-12 relative;
--   * the propensities are the policy's exact ones for those posteriors;
--   * a drifting simulation (the best arm changes at round 10,000 of 20,000)
--     has less than half the regret with half_life or window than without.
--
-- The exact checks run in one transaction (now() does not move), rolled
-- back: rewarded_at and experiment.state_time are moved back by hand to
-- stand for time passing.  The drift simulation commits every block of
-- 100 rounds, as an application's refreshes would (a procedure with COMMIT;
-- inside one transaction each refresh would lengthen row version chains
-- that nobody can prune yet), and drops its experiments at the end.
\set ON_ERROR_STOP 1
SELECT plan(16);
SET bandit.seed = 2024;
SELECT setseed(0.125);
BEGIN;

CREATE FUNCTION pg_temp.eid(exp text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM bandit.experiment WHERE name = exp $$;
CREATE FUNCTION pg_temp.field(p text, key text) RETURNS float8 LANGUAGE sql IMMUTABLE AS
$$ SELECT substring(p FROM '[(, ]' || key || '=([^,)]+)')::float8 $$;
CREATE FUNCTION pg_temp.rel(a float8, b float8) RETURNS float8 LANGUAGE sql IMMUTABLE AS
$$ SELECT abs(a - b) / greatest(abs(b), 1e-300) $$;

-- n rounds of select + reward r = f(arm, i) on an experiment
CREATE FUNCTION pg_temp.feed(exp text, n int, gaussian boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    FOR i IN 1 .. n LOOP
        SELECT * INTO d FROM bandit_select(exp);
        PERFORM bandit_reward(d.decision_id,
                              CASE WHEN gaussian THEN 3 * random() + CASE d.arm WHEN 'a' THEN 1 ELSE 0 END
                                   ELSE (random() < CASE d.arm WHEN 'a' THEN 0.7 ELSE 0.4 END)::int END);
    END LOOP;
END $$;

-- ages spread over the last 10 hours (test data)
CREATE FUNCTION pg_temp.spread(exp text) RETURNS void LANGUAGE sql AS $$
    UPDATE bandit.reward SET rewarded_at = now() - (decision_id % 600) * interval '1 minute'
     WHERE experiment_id = pg_temp.eid(exp)
$$;

-- direct Beta posterior from the log: prior 1, 1 plus weighted rewards
CREATE FUNCTION pg_temp.direct_beta(exp text, half_life_s float8)
    RETURNS TABLE (arm_id int, alpha float8, beta float8) LANGUAGE sql STABLE AS $$
    SELECT a.arm_id,
           1 + coalesce(sum(r.reward * 2 ^ (-extract(epoch FROM now() - r.rewarded_at) / half_life_s)), 0),
           1 + coalesce(sum((1 - r.reward) * 2 ^ (-extract(epoch FROM now() - r.rewarded_at) / half_life_s)), 0)
      FROM bandit.arm a LEFT JOIN bandit.reward r ON r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id
     WHERE a.experiment_id = pg_temp.eid(exp) GROUP BY a.arm_id
$$;

-- --------------------------------------------------------------------------
-- half_life, Bernoulli: equal to the direct sum over the log
-- --------------------------------------------------------------------------
SELECT bandit_create('hl', ARRAY['a', 'b', 'c'], 'thompson', '{"update": "batch", "half_life": "2 hours"}') IS NOT NULL AS c \gset
SELECT pg_temp.feed('hl', 400, false) IS NULL AS fed \gset
SELECT pg_temp.spread('hl') IS NULL AS spread \gset
SELECT is(bandit_refresh('hl'), 400::bigint, 'half_life: the refresh folds the 400 pending rewards');
SELECT ok(max(greatest(pg_temp.rel(pg_temp.field(a.beta::text, 'alpha'), d.alpha),
                       pg_temp.rel(pg_temp.field(a.beta::text, 'beta'), d.beta))) <= 1e-12,
          'half_life: alpha and beta = 1 + sum of 2^(-age/h) r and (1 - r) over the log (1e-12)')
  FROM bandit.arm a JOIN pg_temp.direct_beta('hl', 7200) d USING (arm_id) WHERE a.experiment_id = pg_temp.eid('hl');

-- 90 minutes pass (the log and the state's time move back), 200 more rewards, refresh:
-- the stored evidence decays by 2^(-1.5/2) and the new rewards come in at weight 1
UPDATE bandit.reward SET rewarded_at = rewarded_at - interval '90 minutes' WHERE experiment_id = pg_temp.eid('hl');
UPDATE bandit.experiment SET state_time = state_time - interval '90 minutes' WHERE name = 'hl';
SELECT pg_temp.feed('hl', 200, false) IS NULL AS fed \gset
SELECT is(bandit_refresh('hl'), 200::bigint, 'half_life: a second refresh folds the 200 new ones');
SELECT ok(max(greatest(pg_temp.rel(pg_temp.field(a.beta::text, 'alpha'), d.alpha),
                       pg_temp.rel(pg_temp.field(a.beta::text, 'beta'), d.beta))) <= 1e-12,
          'half_life: after time passed, still the direct sum over the whole log (decayed evidence + new rewards)')
  FROM bandit.arm a JOIN pg_temp.direct_beta('hl', 7200) d USING (arm_id) WHERE a.experiment_id = pg_temp.eid('hl');
SELECT ok(bool_and(pg_temp.field(a.beta::text, 'n')::bigint = c.n),
          'half_life: n counts every folded reward')
  FROM bandit.arm a JOIN (SELECT arm_id, count(*) AS n FROM bandit.reward WHERE experiment_id = pg_temp.eid('hl')
                          GROUP BY arm_id) c USING (arm_id)
 WHERE a.experiment_id = pg_temp.eid('hl');
-- exact propensities: Thompson of these posteriors
SELECT ok(max(abs(bandit_policy_prob('hl', a.name) - pb.p)) <= 1e-9,
          'half_life: bandit_policy_prob is Thompson''s probability for the decayed posteriors')
  FROM bandit.arm a
  JOIN (SELECT ordinality::int AS arm_id, p
          FROM unnest(posterior_prob_best((SELECT array_agg(beta ORDER BY arm_id) FROM bandit.arm
                                            WHERE experiment_id = pg_temp.eid('hl')))) WITH ORDINALITY AS t(p, ordinality)) pb
    USING (arm_id)
 WHERE a.experiment_id = pg_temp.eid('hl');
SELECT ok(bool_and(abs(s.propensity - bandit_policy_prob('hl', s.arm)) <= 1e-15),
          'half_life: 200 logged propensities are bandit_policy_prob')
  FROM generate_series(1, 200) g, LATERAL bandit_select(CASE WHEN g > 0 THEN 'hl' END) s;

-- --------------------------------------------------------------------------
-- half_life, Gaussian: the weighted Normal-Inverse-Gamma update
-- --------------------------------------------------------------------------
SELECT bandit_create('hlg', ARRAY['a', 'b'], 'thompson',
                     '{"update": "batch", "half_life": "3 hours", "reward_type": "gaussian"}') IS NOT NULL AS c \gset
SELECT pg_temp.feed('hlg', 300, true) IS NULL AS fed \gset
SELECT pg_temp.spread('hlg') IS NULL AS spread \gset
SELECT bandit_refresh('hlg') = 300 AS refreshed \gset
-- W = sum w, m = sum w x / W, S = sum w (x - m)^2; prior (0, 0.01, 1, 1):
-- kappa = 0.01 + W, mean = W m / kappa, alpha = 1 + W/2, beta = 1 + S/2 + 0.01 W m^2 / (2 kappa)
WITH w AS (
    SELECT r.arm_id, r.reward AS x, 2 ^ (-extract(epoch FROM now() - r.rewarded_at) / 10800) AS w
      FROM bandit.reward r WHERE r.experiment_id = pg_temp.eid('hlg')
), s AS (
    SELECT arm_id, sum(w) AS bigw, sum(w * x) / sum(w) AS m FROM w GROUP BY arm_id
), d AS (
    SELECT s.arm_id, 0.01 + s.bigw AS kappa, s.bigw * s.m / (0.01 + s.bigw) AS mean, 1 + s.bigw / 2 AS alpha,
           1 + sum(w.w * (w.x - s.m) ^ 2) / 2 + 0.01 * s.bigw * s.m ^ 2 / (2 * (0.01 + s.bigw)) AS beta
      FROM s JOIN w USING (arm_id) GROUP BY s.arm_id, s.bigw, s.m
)
SELECT ok(count(*) = 2 AND max(greatest(pg_temp.rel(pg_temp.field(a.normal::text, 'kappa'), d.kappa),
                                        pg_temp.rel(pg_temp.field(a.normal::text, 'mean'), d.mean),
                                        pg_temp.rel(pg_temp.field(a.normal::text, 'alpha'), d.alpha),
                                        pg_temp.rel(pg_temp.field(a.normal::text, 'beta'), d.beta))) <= 1e-11,
          'half_life, gaussian: kappa, mean, alpha, beta = the weighted update over the log (1e-11)')
  FROM bandit.arm a JOIN d USING (arm_id) WHERE a.experiment_id = pg_temp.eid('hlg');

-- --------------------------------------------------------------------------
-- window: the last N rewards, or the last interval's
-- --------------------------------------------------------------------------
SELECT bandit_create('wn', ARRAY['a', 'b', 'c'], 'ucb1', '{"update": "batch", "window": 50}') IS NOT NULL AS c \gset
SELECT pg_temp.feed('wn', 300, false) IS NULL AS fed \gset
SELECT pg_temp.spread('wn') IS NULL AS spread \gset
SELECT bandit_refresh('wn') = 300 AS refreshed \gset
CREATE TEMP TABLE wn_last AS
SELECT arm_id, reward FROM bandit.reward WHERE experiment_id = pg_temp.eid('wn')
 ORDER BY rewarded_at DESC, decision_id DESC LIMIT 50;
SELECT is(array_agg(a.beta::text ORDER BY a.arm_id),
          array_agg(format('(alpha=%s, beta=%s, n=%s)', 1 + coalesce(l.s, 0), 1 + coalesce(l.f, 0), coalesce(l.n, 0))
                    ORDER BY a.arm_id),
          'window 50: each posterior is the prior plus its rewards among the 50 latest (exact)')
  FROM bandit.arm a
  LEFT JOIN (SELECT arm_id, sum(reward) AS s, sum(1 - reward) AS f, count(*) AS n FROM wn_last GROUP BY arm_id) l
    USING (arm_id)
 WHERE a.experiment_id = pg_temp.eid('wn');
-- sliding-window UCB: argmax of mean + sqrt(2 ln N / n) over the window's counts
SELECT is((SELECT array_agg(a.name ORDER BY a.arm_id) FILTER (WHERE bandit_policy_prob('wn', a.name) > 0)
             FROM bandit.arm a WHERE a.experiment_id = pg_temp.eid('wn')),
          (SELECT array_agg(name ORDER BY arm_id) FROM (
               SELECT a.arm_id, a.name,
                      l.s / l.n + sqrt(2 * ln(50) / l.n) AS score,
                      max(l.s / l.n + sqrt(2 * ln(50) / l.n)) OVER () AS best
                 FROM bandit.arm a
                 JOIN (SELECT arm_id, sum(reward) AS s, count(*)::float8 AS n FROM wn_last GROUP BY arm_id) l USING (arm_id)
                WHERE a.experiment_id = pg_temp.eid('wn')) x WHERE score = best),
          'window, ucb1: the policy plays the argmax of the window''s UCB scores');

SELECT bandit_create('ws', ARRAY['a', 'b'], 'thompson', '{"update": "batch", "window": "4 hours"}') IS NOT NULL AS c \gset
SELECT pg_temp.feed('ws', 300, false) IS NULL AS fed \gset
SELECT pg_temp.spread('ws') IS NULL AS spread \gset
SELECT bandit_refresh('ws') = 300 AS refreshed \gset
SELECT is(array_agg(a.beta::text ORDER BY a.arm_id),
          array_agg(format('(alpha=%s, beta=%s, n=%s)', 1 + coalesce(l.s, 0), 1 + coalesce(l.f, 0), coalesce(l.n, 0))
                    ORDER BY a.arm_id),
          'window 4 hours: each posterior is the prior plus its rewards of the last 4 hours (exact)')
  FROM bandit.arm a
  LEFT JOIN (SELECT arm_id, sum(reward) AS s, sum(1 - reward) AS f, count(*) AS n FROM bandit.reward
              WHERE experiment_id = pg_temp.eid('ws') AND rewarded_at > now() - interval '4 hours' GROUP BY arm_id) l
    USING (arm_id)
 WHERE a.experiment_id = pg_temp.eid('ws');

SELECT throws_ok($$SELECT bandit_create('bad', ARRAY['a'], 'thompson', '{"half_life": "1 hour"}')$$, '22023', NULL,
                 'half_life needs batch mode: 22023');
SELECT throws_ok($$SELECT bandit_create('bad', ARRAY['a'], 'thompson', '{"update": "batch", "window": 0}')$$, '22023', NULL,
                 'window 0: 22023');
SELECT throws_ok($$SELECT bandit_create('bad', ARRAY['a'], 'thompson', '{"update": "batch", "window": 5, "half_life": "1 day"}')$$,
                 '22023', NULL, 'half_life with window: 22023');

ROLLBACK;

-- --------------------------------------------------------------------------
-- A drifting world: arm a is best (0.6) for 10,000 rounds, then arm c
-- (0.6) while a falls to 0.3; b stays at 0.45.  Batch Thompson sampling,
-- refresh every 100 rounds; one simulated minute per 100 rounds (the
-- state's time moves back a minute before each refresh).  Regret is the
-- expected one: best mean - chosen arm's mean, summed over the rounds.
-- --------------------------------------------------------------------------
CREATE TEMP TABLE drift_regret (exp text, regret float8);
CREATE PROCEDURE pg_temp.drift(exp text) LANGUAGE plpgsql AS $$
DECLARE
    d record;
    m float8;
    regret float8 := 0;
BEGIN
    FOR i IN 1 .. 20000 LOOP
        SELECT * INTO d FROM bandit_select(exp);
        m := CASE WHEN i <= 10000 THEN CASE d.arm WHEN 'a' THEN 0.6 WHEN 'b' THEN 0.45 ELSE 0.3 END
                  ELSE CASE d.arm WHEN 'a' THEN 0.3 WHEN 'b' THEN 0.45 ELSE 0.6 END END;
        regret := regret + 0.6 - m;
        PERFORM bandit_reward(d.decision_id, (random() < m)::int);
        IF i % 100 = 0 THEN
            UPDATE bandit.experiment SET state_time = state_time - interval '1 minute' WHERE name = exp;
            PERFORM bandit_refresh(exp);
            COMMIT;
        END IF;
    END LOOP;
    INSERT INTO drift_regret VALUES (exp, regret);
END $$;
SELECT bandit_create('drift_plain', ARRAY['a', 'b', 'c'], 'thompson', '{"update": "batch"}') IS NOT NULL AS c1,
       bandit_create('drift_hl', ARRAY['a', 'b', 'c'], 'thompson', '{"update": "batch", "half_life": "5 minutes"}') IS NOT NULL AS c2,
       bandit_create('drift_win', ARRAY['a', 'b', 'c'], 'thompson', '{"update": "batch", "window": 1000}') IS NOT NULL AS c3 \gset
CALL pg_temp.drift('drift_plain');
CALL pg_temp.drift('drift_hl');
CALL pg_temp.drift('drift_win');
SELECT (SELECT regret FROM drift_regret WHERE exp = 'drift_plain') AS regret_plain,
       (SELECT regret FROM drift_regret WHERE exp = 'drift_hl') AS regret_hl,
       (SELECT regret FROM drift_regret WHERE exp = 'drift_win') AS regret_win \gset
\echo drift regret: plain :regret_plain, half_life :regret_hl, window :regret_win
SELECT cmp_ok(:regret_hl::float8, '<', 0.5 * :regret_plain::float8,
              format('drift: regret with half_life 5 min (%s) is below half of plain Thompson''s (%s)',
                     round(:regret_hl::numeric), round(:regret_plain::numeric)));
SELECT cmp_ok(:regret_win::float8, '<', 0.5 * :regret_plain::float8,
              format('drift: regret with window 1000 (%s) is below half of plain Thompson''s (%s)',
                     round(:regret_win::numeric), round(:regret_plain::numeric)));

SELECT * FROM finish();
SELECT bandit_drop(e) FROM unnest(ARRAY['drift_plain', 'drift_hl', 'drift_win']) e;
