-- pgTAP: the catalogue of bad inputs (issue 6, section 3).
--
-- Against a populated database (online and batch, bernoulli, gaussian and
-- contextual experiments, pending rewards), every bad input named in the
-- issues is tried, each in its own subtransaction as an application's
-- failed statement would be.  Each must fail with its documented SQLSTATE
-- (never XX000), and afterwards every extension table has the same rows
-- (an md5 over all of them), every policy probability is the same (so no
-- backend cache was left stale by an error), and the API keeps working.
-- (Sequences are outside the check: PostgreSQL never rolls them back.)
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(7);

SET LOCAL bandit.seed = 31;
SELECT bandit_create('bad_ts', ARRAY['a', 'b', 'c']);
SELECT bandit_create('bad_batch', ARRAY['a', 'b'], 'epsilon_greedy', '{"update": "batch"}');
SELECT bandit_create('bad_gauss', ARRAY['a', 'b'], 'ucb1', '{"reward_type": "gaussian"}');
SELECT bandit_create('bad_ctx', ARRAY['a', 'b'], 'linucb', '{"context_dim": 2, "epsilon": 0.1}');
SELECT bandit_create('bad_lints', ARRAY['a', 'b'], 'lints', '{"context_dim": 2, "update": "batch"}');
DO $$
DECLARE d record;
BEGIN
    FOR i IN 1..60 LOOP
        SELECT * INTO d FROM bandit_select('bad_ts');
        PERFORM bandit_reward(d.decision_id, i % 2);
        SELECT * INTO d FROM bandit_select('bad_batch');
        PERFORM bandit_reward(d.decision_id, (i % 3 = 0)::int);
        SELECT * INTO d FROM bandit_select('bad_gauss');
        PERFORM bandit_reward(d.decision_id, i * 0.1);
        SELECT * INTO d FROM bandit_select('bad_ctx', ARRAY[1, i / 60.0]);
        PERFORM bandit_reward(d.decision_id, (i % 4 = 0)::int);
        SELECT * INTO d FROM bandit_select('bad_lints', ARRAY[i / 60.0, 1]);
        PERFORM bandit_reward(d.decision_id, (i % 5 = 0)::int);
        IF i = 30 THEN
            PERFORM bandit_refresh('bad_batch');
        END IF;
    END LOOP;
END $$;
-- a decision left unrewarded, and one already rewarded
CREATE TEMP TABLE ids AS
SELECT (SELECT decision_id FROM bandit_select('bad_ts')) AS fresh,
       (SELECT max(decision_id) FROM bandit.reward) AS rewarded,
       (SELECT decision_id FROM bandit_select('bad_ctx', ARRAY[1, 1])) AS ctx_fresh,
       (SELECT decision_id FROM bandit_select('bad_gauss')) AS gauss_fresh;

-- every table of schema bandit, whichever the version has: row count and
-- the md5 of its rows in a fixed order
CREATE FUNCTION pg_temp.checksum() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t regclass;
    part text;
    acc text := '';
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
              WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r' ORDER BY c.relname LOOP
        EXECUTE format('SELECT %L || count(*) || md5(coalesce(string_agg(x::text, E''\n'' ORDER BY x::text), '''')) FROM %s x',
                       t::text, t) INTO part;
        acc := acc || part || E'\n';
    END LOOP;
    RETURN md5(acc);
END
$$;
CREATE FUNCTION pg_temp.probabilities() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(e.name || '/' || a.name || '=' ||
                      bandit_policy_prob(e.name, a.name,
                                         CASE WHEN e.policy IN ('linucb', 'lints') THEN ARRAY[0.3, 0.7]::float8[] END)::text,
                      ' ' ORDER BY e.name, a.name)
      FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
$$;
CREATE TEMP TABLE before AS SELECT pg_temp.checksum() AS sum, pg_temp.probabilities() AS probs,
                                   (SELECT count(*) FROM bandit.decision) AS decisions;

CREATE TEMP TABLE bad (n serial, query text, expected text, got text);
INSERT INTO bad (query, expected) VALUES
    -- bandit_create
    ($$ SELECT bandit_create(NULL, ARRAY['a']) $$, '22004'),
    ($$ SELECT bandit_create('', ARRAY['a']) $$, '22023'),
    ($$ SELECT bandit_create('x', NULL) $$, '22004'),
    ($$ SELECT bandit_create('x', ARRAY[]::text[]) $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a', NULL]) $$, '22004'),
    ($$ SELECT bandit_create('x', ARRAY['a', 'a']) $$, '42710'),
    ($$ SELECT bandit_create('x', ARRAY[['a'], ['b']]) $$, '2202E'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'greedy') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '[]') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '{"prior_alpah": 2}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '{"prior_alpha": -1}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'epsilon_greedy', '{"epsilon": 2}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'exp3', '{"reward_type": "gaussian"}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'linucb', '{"context_dim": 1001}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'lints', '{"context_dim": 2, "lambda": 0}') $$, '22023'),
    ($$ SELECT bandit_create('bad_ts', ARRAY['a']) $$, '42710'),
    -- bandit_select
    ($$ SELECT * FROM bandit_select(NULL) $$, '22004'),
    ($$ SELECT * FROM bandit_select('nope') $$, '42704'),
    ($$ SELECT * FROM bandit_select('bad_ts', ARRAY[1, 'NaN']::float8[]) $$, '22023'),
    ($$ SELECT * FROM bandit_select('bad_ctx') $$, '22004'),
    ($$ SELECT * FROM bandit_select('bad_ctx', ARRAY[1, 2, 3]::float8[]) $$, '2202E'),
    ($$ SELECT * FROM bandit_select('bad_ctx', ARRAY[1, 'Infinity']::float8[]) $$, '22023'),
    ($$ SELECT * FROM bandit_select('bad_ctx', ARRAY[1, NULL]::float8[]) $$, '22004'),
    ($$ SELECT * FROM bandit_select('bad_ctx', ARRAY[[1, 2]]::float8[]) $$, '2202E'),
    ($$ SELECT * FROM bandit_select('bad_lints', ARRAY[1.7e308, 1.7e308]::float8[]) $$, '22003'),
    -- bandit_reward
    ($$ SELECT bandit_reward(NULL, 1) $$, '22004'),
    ($$ SELECT bandit_reward(fresh, NULL) FROM ids $$, '22004'),
    ($$ SELECT bandit_reward(-1, 1) $$, '42704'),
    ($$ SELECT bandit_reward(fresh, 'NaN') FROM ids $$, '22023'),
    ($$ SELECT bandit_reward(fresh, 'Infinity') FROM ids $$, '22023'),
    ($$ SELECT bandit_reward(fresh, 2) FROM ids $$, '22003'),
    ($$ SELECT bandit_reward(fresh, -0.5) FROM ids $$, '22003'),
    ($$ SELECT bandit_reward(rewarded, 1) FROM ids $$, '23505'),
    -- a gaussian reward whose square would overflow the arm's sums
    ($$ SELECT bandit_reward(gauss_fresh, 1e200) FROM ids $$, '22003'),
    ($$ SELECT bandit_reward(gauss_fresh, -1e101) FROM ids $$, '22003'),
    -- params added in 0.4.0
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '{"update": "batch", "window": "10000 years"}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '{"reward_window": "2000 years"}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '{"guardrail": {"min_reward": 0.1, "min_pulls": -1e30, "confidence": 0.9}}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '{"min_propensity": 1}') $$, '22023'),
    ($$ SELECT bandit_create('x', ARRAY['a'], 'thompson', '{"half_life": "1 day"}') $$, '22023'),
    ($$ SELECT bandit_pause('bad_ts', 'nope') $$, '42704'),
    ($$ SELECT bandit_resume('bad_ts') $$, '55000'),
    ($$ SELECT bandit_set_guardrail('bad_ctx', 0.1, 10) $$, '0A000'),
    ($$ SELECT bandit_reward_unit('bad_ts', NULL, 1) $$, '22004'),
    ($$ SELECT normal_posterior_agg(x) OVER (ORDER BY i ROWS 1 PRECEDING)
         FROM (VALUES (1, 0::float8), (2, 2e154), (3, 1)) v(i, x) $$, '22003'),
    ($$ SELECT bandit_reward(d.decision_id, 1) FROM bandit_select('bad_ctx', ARRAY[1e9, 1e9]) d $$, '22000'),
    -- the rest of the API
    ($$ SELECT bandit_refresh('nope') $$, '42704'),
    ($$ SELECT bandit_policy_prob('bad_ts', 'z') $$, '42704'),
    ($$ SELECT bandit_policy_prob('bad_ctx', 'a') $$, '22004'),
    ($$ SELECT bandit_policy_prob(NULL, 'a') $$, '22004'),
    ($$ SELECT bandit_add_arm('bad_ts', 'a') $$, '42710'),
    ($$ SELECT bandit_add_arm('bad_ts', '') $$, '22023'),
    ($$ SELECT bandit_add_arm('nope', 'z') $$, '42704'),
    ($$ SELECT bandit_set_arm_enabled('bad_ts', 'z', false) $$, '42704'),
    ($$ SELECT bandit_set_arm_enabled('bad_ts', 'a', NULL) $$, '22004'),
    ($$ SELECT bandit_drop('nope') $$, '42704'),
    ($$ SELECT bandit_prune('bad_batch', now() + interval '1 day') $$, '55000'),
    ($$ SELECT * FROM bandit_arm_stats('nope') $$, '42704'),
    ($$ SELECT * FROM bandit_evaluate('bad_ts', 'greedy') $$, '22023'),
    ($$ SELECT * FROM bandit_evaluate('bad_ts', 'thompson', '{"folds": 1}') $$, '22023'),
    ($$ SELECT * FROM bandit_replay('bad_ts', 'uniform') $$, '55000'),
    -- types and their functions
    ($$ SELECT '(alpha=-1, beta=1, n=0)'::beta_posterior $$, '22023'),
    ($$ SELECT '(alpha=1, beta=1)'::beta_posterior $$, '22P02'),
    ($$ SELECT '(mean=0, kappa=0, alpha=1, beta=1, n=0)'::normal_posterior $$, '22023'),
    ($$ SELECT '(dim=2, n=0, lambda=1, A={{1,2},{3,1}}, b={0,0})'::linear_posterior $$, '22023'),
    ($$ SELECT '(dim=1001, n=0, lambda=1, A={}, b={})'::linear_posterior $$, '22023'),
    ($$ SELECT posterior_update('(alpha=1, beta=1, n=0)'::beta_posterior, 1.5) $$, '22003'),
    ($$ SELECT posterior_interval('(alpha=1, beta=1, n=0)'::beta_posterior, 1) $$, '22023'),
    ($$ SELECT linear_posterior_theta(linear_posterior(2, 0)) $$, '22000'),
    ($$ SELECT linear_posterior_predict(linear_posterior(2), ARRAY[1]) $$, '2202E'),
    -- aggregates
    ($$ SELECT beta_posterior_agg(r) FROM (VALUES (0.5::float8), (2)) v(r) $$, '22003'),
    ($$ SELECT normal_posterior_agg('NaN') $$, '22023'),
    ($$ SELECT linear_posterior_agg(x, 1) FROM (VALUES (ARRAY[1, 2]::float8[]), (ARRAY[1])) v(x) $$, '2202E'),
    ($$ SELECT ope_ips(1, 0.5, 0) $$, '22003'),
    ($$ SELECT ope_snips(1, 2, 0.5) $$, '22003'),
    ($$ SELECT ope_dr(1, 0.5, 0.5, 'NaN', 0) $$, '22023'),
    ($$ SELECT ope_clipped_ips(1, 0.5, 0.5, -1) $$, '22023'),
    ($$ SELECT ope_bootstrap('nope', 100, 1, 0.5, 0.5) $$, '22023');

DO $$
DECLARE
    b record;
    state text;
BEGIN
    FOR b IN SELECT * FROM bad ORDER BY n LOOP
        BEGIN
            EXECUTE b.query;
            state := 'no error';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        END;
        UPDATE bad SET got = state WHERE n = b.n;
    END LOOP;
END $$;

SELECT diag(format('%s bad inputs tried', count(*))) FROM bad;
SELECT diag(format('unexpected: #%s %s -> %s (wanted %s)', n, trim(query), got, expected))
  FROM bad WHERE got IS DISTINCT FROM expected ORDER BY n;
SELECT is((SELECT count(*) FROM bad WHERE got IS DISTINCT FROM expected), 0::bigint,
          'every bad input fails with its documented SQLSTATE');
SELECT is((SELECT count(*) FROM bad WHERE got = 'XX000' OR got = 'no error'), 0::bigint,
          'none reaches XX000 or succeeds');
SELECT is(pg_temp.checksum(), (SELECT sum FROM before), 'every extension table holds the same rows');
SELECT is((SELECT count(*) FROM bandit.decision), (SELECT decisions FROM before), 'no decision was logged');
SELECT is(pg_temp.probabilities(), (SELECT probs FROM before),
          'every policy probability is the same (no cache left stale)');
SELECT lives_ok($$
    SELECT bandit_reward(decision_id, 1) FROM bandit_select('bad_ts');
    SELECT bandit_reward(decision_id, 1) FROM bandit_select('bad_ctx', ARRAY[0.5, 0.5]);
    SELECT bandit_refresh();
$$, 'the API keeps working');
SELECT isnt(pg_temp.checksum(), (SELECT sum FROM before), 'and the checksum does see a real change');

SELECT * FROM finish();
ROLLBACK;
