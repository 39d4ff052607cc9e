-- Every bad input: a fitting SQLSTATE, never XX000, and nothing changed.
CREATE EXTENSION IF NOT EXISTS bandit;

-- try(sql) runs a statement and reports its SQLSTATE and message
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- a checksum of every extension table
CREATE FUNCTION pg_temp.tables_checksum() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
    SELECT 'e' || e::text AS t FROM bandit.experiment e
    UNION ALL SELECT 'a' || a::text FROM bandit.arm a
    UNION ALL SELECT 'd' || d::text FROM bandit.decision d
    UNION ALL SELECT 'r' || r::text FROM bandit.reward r
    UNION ALL SELECT 'p' || p::text FROM bandit.pending_reward p) s
$$;

SELECT bandit_create('err_online', ARRAY['a', 'b']) > 0 AS created;
SELECT bandit_create('err_batch', ARRAY['a', 'b'], 'thompson', '{"update": "batch"}') > 0 AS created;
SELECT bandit_create('err_gauss', ARRAY['a', 'b'], 'ucb1', '{"reward_type": "gaussian"}') > 0 AS created;
SELECT decision_id AS rewarded FROM bandit_select('err_online') \gset
SELECT bandit_reward(:rewarded, 1);
SELECT decision_id AS open_decision FROM bandit_select('err_online') \gset
SELECT decision_id AS open_batch FROM bandit_select('err_batch') \gset
SELECT pg_temp.tables_checksum() AS before \gset

CREATE TEMP TABLE cases (id serial, stmt text);
INSERT INTO cases (stmt) VALUES
  -- unknown experiment, arm, decision
  ($$SELECT * FROM bandit_select('nope')$$),
  ($$SELECT bandit_policy_prob('nope', 'a')$$),
  ($$SELECT bandit_policy_prob('err_online', 'zzz')$$),
  ($$SELECT bandit_reward(987654321, 1)$$),
  ($$SELECT bandit_refresh('nope')$$),
  ($$SELECT * FROM bandit_arm_stats('nope')$$),
  ($$SELECT bandit_add_arm('nope', 'c')$$),
  ($$SELECT bandit_set_arm_enabled('err_online', 'zzz', false)$$),
  ($$SELECT bandit_drop('nope')$$),
  -- duplicates
  ($$SELECT bandit_create('err_online', ARRAY['a'])$$),
  ($$SELECT bandit_create('dup_arms', ARRAY['a', 'b', 'a'])$$),
  ($$SELECT bandit_add_arm('err_online', 'a')$$),
  -- empty or NULL arm lists and names
  ($$SELECT bandit_create('empty', ARRAY[]::text[])$$),
  ($$SELECT bandit_create('nullarms', NULL)$$),
  ($$SELECT bandit_create('nullelem', ARRAY['a', NULL])$$),
  ($$SELECT bandit_create('emptyname', ARRAY['a', ''])$$),
  ($$SELECT bandit_create('twodim', ARRAY[['a', 'b'], ['c', 'd']])$$),
  ($$SELECT bandit_create('', ARRAY['a'])$$),
  ($$SELECT bandit_create(NULL, ARRAY['a'])$$),
  -- unknown policy or parameter, bad parameter values
  ($$SELECT bandit_create('p1', ARRAY['a'], 'greedy')$$),
  ($$SELECT bandit_create('p2', ARRAY['a'], NULL)$$),
  ($$SELECT bandit_create('p3', ARRAY['a'], 'thompson', NULL)$$),
  ($$SELECT bandit_create('p4', ARRAY['a'], 'thompson', '{"epsilon": 0.1}')$$),
  ($$SELECT bandit_create('p5', ARRAY['a'], 'thompson', '{"prior_alpah": 2}')$$),
  ($$SELECT bandit_create('p6', ARRAY['a'], 'thompson', '{"reward_type": "poisson"}')$$),
  ($$SELECT bandit_create('p7', ARRAY['a'], 'thompson', '{"update": "nightly"}')$$),
  ($$SELECT bandit_create('p8', ARRAY['a'], 'thompson', '{"prior_alpha": 0}')$$),
  ($$SELECT bandit_create('p9', ARRAY['a'], 'thompson', '{"prior_beta": -1}')$$),
  ($$SELECT bandit_create('p10', ARRAY['a'], 'thompson', '{"prior_alpha": "NaN"}')$$),
  ($$SELECT bandit_create('p11', ARRAY['a'], 'epsilon_greedy', '{"epsilon": 0}')$$),
  ($$SELECT bandit_create('p12', ARRAY['a'], 'epsilon_greedy', '{"epsilon": 1.5}')$$),
  ($$SELECT bandit_create('p13', ARRAY['a'], 'epsilon_greedy', '{"decay": -1}')$$),
  ($$SELECT bandit_create('p14', ARRAY['a'], 'softmax', '{"temperature": 0}')$$),
  ($$SELECT bandit_create('p15', ARRAY['a'], 'softmax', '{"temperature": -2}')$$),
  ($$SELECT bandit_create('p16', ARRAY['a'], 'exp3', '{"gamma": 0}')$$),
  ($$SELECT bandit_create('p17', ARRAY['a'], 'exp3', '{"reward_type": "gaussian"}')$$),
  ($$SELECT bandit_create('p18', ARRAY['a'], 'thompson', '[1, 2]')$$),
  ($$SELECT bandit_create('p19', ARRAY['a'], 'thompson', '{"reward_type": 1}')$$),
  ($$SELECT bandit_create('p20', ARRAY['a'], 'thompson', '{"reward_type": "gaussian", "prior_kappa": 0}')$$),
  ($$SELECT bandit_create('p21', ARRAY['a'], 'thompson', '{"prior_mean": 1}')$$),
  -- bad rewards
  ($$SELECT bandit_reward($$ || :open_decision || $$, 'NaN')$$),
  ($$SELECT bandit_reward($$ || :open_decision || $$, 'Infinity')$$),
  ($$SELECT bandit_reward($$ || :open_decision || $$, 1.5)$$),
  ($$SELECT bandit_reward($$ || :open_decision || $$, -0.1)$$),
  ($$SELECT bandit_reward($$ || :open_batch || $$, 2)$$),
  ($$SELECT bandit_reward($$ || :open_decision || $$, NULL)$$),
  ($$SELECT bandit_reward(NULL, 1)$$),
  -- a second reward for one decision
  ($$SELECT bandit_reward($$ || :rewarded || $$, 0)$$),
  -- NULLs where a value is needed
  ($$SELECT * FROM bandit_select(NULL)$$),
  ($$SELECT bandit_policy_prob('err_online', NULL)$$),
  ($$SELECT bandit_add_arm('err_online', NULL)$$),
  ($$SELECT bandit_add_arm('err_online', '')$$),
  ($$SELECT bandit_set_arm_enabled('err_online', 'a', NULL)$$),
  ($$SELECT bandit_drop(NULL)$$),
  ($$SELECT * FROM bandit_arm_stats(NULL)$$),
  -- bad contexts
  ($$SELECT * FROM bandit_select('err_online', ARRAY[1, NULL]::float8[])$$),
  ($$SELECT * FROM bandit_select('err_online', ARRAY[1, 'NaN']::float8[])$$),
  ($$SELECT * FROM bandit_select('err_online', ARRAY[[1, 2], [3, 4]]::float8[])$$),
  -- the last enabled arm cannot be disabled
  ($$SELECT bandit_set_arm_enabled('err_online', 'a', false), bandit_set_arm_enabled('err_online', 'b', false)$$),
  -- malformed type input
  ($$SELECT '(alpha=1, beta=1)'::beta_posterior$$),
  ($$SELECT '(mean=0, kappa=1, alpha=1, beta=0, n=0)'::normal_posterior$$);

SELECT id, pg_temp.try(stmt) FROM cases ORDER BY id;

-- none of it changed anything
SELECT pg_temp.tables_checksum() = :'before' AS unchanged;
-- and nothing reached XX000
SELECT count(*) AS internal_errors FROM cases WHERE pg_temp.try(stmt) LIKE 'XX%';

SELECT bandit_drop(name) FROM bandit.experiment;
