-- pgTAP: contextual bandits learn (issue 4).
--
-- A synthetic linear problem: five arms with fixed true coefficients,
-- contexts x = (1, z1..z4) with z ~ N(0, 1), and arm k's reward
-- x . theta_k + N(0, 0.5^2).  Which arm is best depends on x, so a policy
-- that ignores the context has linear regret.  Over the same 20,000
-- contexts and noise draws:
--   * LinUCB (alpha 1) and LinTS (v 0.5) have cumulative regret below 2% of
--     uniform's (uniform's is its expected regret, computed exactly) and
--     below 2% of non-contextual Thompson sampling's (which can at best
--     learn the best single arm).  Measured with these seeds: 0.24% (LinUCB)
--     and 0.36% (LinTS) of uniform, so the bound leaves a factor of five;
--   * the logged propensity is bandit_policy_prob at the same context in
--     the same state (exactly), checked every 500 rounds.
-- Every round commits, as an application's would (a procedure with COMMIT):
-- within one transaction, each online update would lengthen the arm row's
-- chain of versions that no one can prune yet.
-- Seeds: bandit.seed for the policies' draws, setseed() for the simulation.
\set ON_ERROR_STOP 1
SELECT plan(7);

SET bandit.seed = 4242;
SELECT setseed(0.17);

CREATE TEMP TABLE truth (k int, theta float8[]);
INSERT INTO truth VALUES
    (1, ARRAY[0.2,  0.8,  0.0, -0.3,  0.1]),
    (2, ARRAY[0.1, -0.6,  0.5,  0.2,  0.0]),
    (3, ARRAY[0.0,  0.1, -0.7,  0.4,  0.3]),
    (4, ARRAY[0.3,  0.0,  0.2, -0.5, -0.4]),
    (5, ARRAY[0.25, -0.2, -0.1, 0.0,  0.6]);
CREATE TEMP TABLE contexts AS
SELECT i, ARRAY[1, z1, z2, z3, z4]::float8[] AS x, noise
  FROM (SELECT i, sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1,
                  sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z2,
                  sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z3,
                  sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z4,
                  0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS noise
          FROM generate_series(1, 20000) i) s;
-- true mean reward of every arm at every context, and the best one
CREATE TEMP TABLE means AS
SELECT c.i, t.k, (SELECT sum(u * v) FROM unnest(c.x, t.theta) AS p(u, v)) AS mean
  FROM contexts c CROSS JOIN truth t;
CREATE INDEX ON means (i, k);
CREATE TEMP TABLE best AS SELECT i, max(mean) AS best, avg(mean) AS uniform_mean FROM means GROUP BY i;
CREATE INDEX ON best (i);
ANALYZE contexts, means, best;

CREATE TEMP TABLE regret (exp text, regret float8);
CREATE TEMP TABLE prop_checks (exp text, i int, logged float8, policy float8);
CREATE PROCEDURE pg_temp.run(exp text, contextual boolean) LANGUAGE plpgsql AS $$
DECLARE
    c record;
    d record;
    m float8;
    total float8 := 0;
BEGIN
    FOR c IN SELECT * FROM contexts ORDER BY i LOOP
        SELECT * INTO d FROM bandit_select(exp, CASE WHEN contextual THEN c.x END);
        IF contextual AND c.i % 500 = 0 THEN
            INSERT INTO prop_checks VALUES (exp, c.i, d.propensity, bandit_policy_prob(exp, d.arm, c.x));
        END IF;
        SELECT mean INTO m FROM means WHERE i = c.i AND k = substr(d.arm, 4)::int;
        PERFORM bandit_reward(d.decision_id, m + c.noise);
        total := total + (SELECT best FROM best WHERE i = c.i) - m;
        COMMIT;
    END LOOP;
    INSERT INTO regret VALUES (exp, total);
END
$$;

SELECT bandit_create('learn_linucb', ARRAY['arm1', 'arm2', 'arm3', 'arm4', 'arm5'], 'linucb',
                     '{"context_dim": 5, "reward_type": "gaussian", "alpha": 1}');
SELECT bandit_create('learn_lints', ARRAY['arm1', 'arm2', 'arm3', 'arm4', 'arm5'], 'lints',
                     '{"context_dim": 5, "reward_type": "gaussian", "v": 0.5}');
SELECT bandit_create('learn_thompson', ARRAY['arm1', 'arm2', 'arm3', 'arm4', 'arm5'], 'thompson',
                     '{"reward_type": "gaussian"}');
CALL pg_temp.run('learn_linucb', true);
CALL pg_temp.run('learn_lints', true);
CALL pg_temp.run('learn_thompson', false);
INSERT INTO regret SELECT 'uniform', sum(best - uniform_mean) FROM best;

CREATE TEMP VIEW r AS
SELECT max(regret) FILTER (WHERE exp = 'learn_linucb') AS linucb,
       max(regret) FILTER (WHERE exp = 'learn_lints') AS lints,
       max(regret) FILTER (WHERE exp = 'learn_thompson') AS thompson,
       max(regret) FILTER (WHERE exp = 'uniform') AS uniform
  FROM regret;
SELECT diag(format('cumulative regret over 20,000 rounds: linucb %s, lints %s, thompson without context %s, uniform (expected) %s',
                   round(linucb::numeric, 1), round(lints::numeric, 1), round(thompson::numeric, 1),
                   round(uniform::numeric, 1)))
  FROM r;
SELECT cmp_ok((SELECT linucb / uniform FROM r), '<', 0.02::float8,
              'LinUCB regret is below 2% of uniform''s');
SELECT cmp_ok((SELECT lints / uniform FROM r), '<', 0.02::float8,
              'LinTS regret is below 2% of uniform''s');
SELECT cmp_ok((SELECT linucb / thompson FROM r), '<', 0.02::float8,
              'LinUCB regret is below 2% of non-contextual Thompson sampling''s');
SELECT cmp_ok((SELECT lints / thompson FROM r), '<', 0.02::float8,
              'LinTS regret is below 2% of non-contextual Thompson sampling''s');
SELECT cmp_ok((SELECT thompson / uniform FROM r), '<', 1::float8,
              'sanity: non-contextual Thompson sampling beats uniform on this problem');
SELECT is((SELECT count(*) FROM prop_checks WHERE logged = policy), (SELECT count(*) FROM prop_checks),
          'the logged propensity is bandit_policy_prob at the same context and state');
SELECT is((SELECT count(*) FROM prop_checks), 80::bigint, 'propensities were checked 80 times');

SELECT * FROM finish();
SELECT bandit_drop(e) FROM unnest(ARRAY['learn_linucb', 'learn_lints', 'learn_thompson']) e;
