-- The SQL API: create, select, reward, refresh, stats, arms, drop.
CREATE EXTENSION IF NOT EXISTS bandit;
SET bandit.seed = 1;

-- create: the effective params are stored with defaults filled in
SELECT bandit_create('api_thompson', ARRAY['a', 'b', 'c']) > 0 AS created;
SELECT bandit_create('api_batch', ARRAY['x', 'y'], 'epsilon_greedy',
                     '{"update": "batch", "epsilon": 0.2}') > 0 AS created;
SELECT bandit_create('api_gauss', ARRAY['p', 'q'], 'thompson',
                     '{"reward_type": "gaussian", "prior_mean": 10}') > 0 AS created;
SELECT name, policy, params FROM bandit.experiment ORDER BY id;
SELECT e.name, a.arm_id, a.name, a.enabled, a.beta, a.normal
  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id ORDER BY e.id, a.arm_id;

-- select logs the decision with its propensity and state version
SELECT arm IS NOT NULL AS has_arm, round(propensity::numeric, 6) AS propensity FROM bandit_select('api_thompson');
SELECT d.experiment_id, round(d.propensity::numeric, 6) AS propensity, d.context, d.unit, d.state_version
  FROM bandit.decision d ORDER BY id DESC LIMIT 1;
SELECT count(*) FROM bandit_select('api_thompson', ARRAY[1.5, -2]::float8[], 'user-7');
SELECT context, unit FROM bandit.decision ORDER BY id DESC LIMIT 1;

-- the same unit in the same state gets the same arm, every time
-- (an SRF in the target list runs once per row; one in FROM without a lateral reference would run once)
SELECT count(DISTINCT arm) AS arms_seen, count(*) AS decisions
  FROM (SELECT (bandit_select('api_thompson', NULL, 'user-42')).arm FROM generate_series(1, 20)) s;

-- online reward: the next select sees it (state version moves, posterior
-- updated); it waits in this backend's reward slot until a refresh moves it
-- into the arm row
SELECT decision_id AS d1, arm AS a1 FROM bandit_select('api_thompson') \gset
SELECT bandit_reward(:d1, 1);
SELECT p.beta AS seen, a.beta AS stored
  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
  JOIN bandit.arm_posteriors('api_thompson') p ON p.arm_id = a.arm_id
 WHERE e.name = 'api_thompson' AND a.name = :'a1';
SELECT s.version AS slot_version FROM bandit.reward_slot s JOIN bandit.experiment e ON e.id = s.experiment_id
 WHERE e.name = 'api_thompson';
SELECT decision_id AS d1_next FROM bandit_select('api_thompson') \gset
SELECT (SELECT state_version FROM bandit.decision WHERE id = :d1)
       < (SELECT state_version FROM bandit.decision WHERE id = :d1_next) AS version_moved;

-- batch reward: pending until refresh, folded exactly once
SELECT decision_id AS d2, arm AS a2 FROM bandit_select('api_batch') \gset
SELECT bandit_reward(:d2, 1);
SELECT count(*) AS pending FROM bandit.pending_reward;
SELECT a.beta FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
 WHERE e.name = 'api_batch' AND a.name = :'a2';
SELECT bandit_refresh('api_batch') AS folded;
SELECT bandit_refresh('api_batch') AS folded_again;
SELECT count(*) AS pending FROM bandit.pending_reward;
SELECT a.beta FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
 WHERE e.name = 'api_batch' AND a.name = :'a2';

-- epsilon-greedy propensities: greedy arm 1 - eps + eps/K, the other eps/K
SELECT arm, round(bandit_policy_prob('api_batch', arm)::numeric, 12) AS prob
  FROM unnest(ARRAY['x', 'y']) arm ORDER BY arm;

-- gaussian rewards go to normal_posterior
SELECT decision_id AS d3 FROM bandit_select('api_gauss') \gset
SELECT bandit_reward(:d3, 12.5);
SELECT count(*) AS updated FROM bandit.arm_posteriors('api_gauss') WHERE (normal::text) LIKE '%n=1)';

-- stats
SELECT arm, enabled, pulls, rewarded, reward_sum, mean,
       ci_low < ci_high AS ci_ordered, prob_best BETWEEN 0 AND 1 AS prob_ok
  FROM bandit_arm_stats('api_batch');
SELECT round(sum(prob_best)::numeric, 9) AS prob_best_sum FROM bandit_arm_stats('api_thompson');
SELECT arm, pulls, rewarded, reward_sum, ci_low < ci_high AS ci_ordered,
       round(prob_best::numeric, 6) BETWEEN 0 AND 1 AS prob_ok
  FROM bandit_arm_stats('api_gauss') WHERE rewarded > 0;
SELECT round(sum(prob_best)::numeric, 9) AS prob_best_sum FROM bandit_arm_stats('api_gauss');

-- a refresh of an online experiment moves its reward slots into the arm rows
SELECT bandit_refresh('api_thompson') AS folded;
SELECT count(*) AS slots_left FROM bandit.reward_slot s JOIN bandit.experiment e ON e.id = s.experiment_id
 WHERE e.name = 'api_thompson';

-- arms: add, disable, enable
SELECT bandit_add_arm('api_thompson', 'd');
SELECT name, arm_id, enabled, beta FROM bandit.arm
 WHERE experiment_id = (SELECT id FROM bandit.experiment WHERE name = 'api_thompson') ORDER BY arm_id;
SELECT bandit_set_arm_enabled('api_thompson', 'a', false);
SELECT bandit_policy_prob('api_thompson', 'a') AS disabled_prob;
SELECT count(*) FILTER (WHERE arm = 'a') AS disabled_picks, count(DISTINCT arm) AS arms_picked
  FROM (SELECT (bandit_select('api_thompson')).arm FROM generate_series(1, 200)) s;
SELECT bandit_set_arm_enabled('api_thompson', 'a', true);
SELECT bandit_policy_prob('api_thompson', 'a') > 0 AS enabled_again;

-- uniform, ucb1, softmax, exp3: propensities from their formulas
SELECT bandit_create('api_uniform', ARRAY['u1', 'u2', 'u3'], 'uniform') > 0 AS created;
SELECT arm, bandit_policy_prob('api_uniform', arm) = 1.0 / 3 AS one_third
  FROM unnest(ARRAY['u1', 'u2', 'u3']) arm;
SELECT bandit_create('api_ucb', ARRAY['k1', 'k2'], 'ucb1') > 0 AS created;
-- untried arms first, split evenly
SELECT bandit_policy_prob('api_ucb', 'k1') AS untried_split;
SELECT bandit_create('api_softmax', ARRAY['s1', 's2'], 'softmax', '{"temperature": 0.5}') > 0 AS created;
SELECT bandit_create('api_exp3', ARRAY['e1', 'e2'], 'exp3', '{"gamma": 0.3}') > 0 AS created;

-- drop removes the experiment, its arms, decisions and rewards
SELECT bandit_drop('api_thompson');
SELECT count(*) FROM bandit.experiment WHERE name = 'api_thompson';
SELECT count(*) FROM bandit.decision d LEFT JOIN bandit.arm a USING (experiment_id, arm_id)
 WHERE a.arm_id IS NULL;

SELECT bandit_drop(name) FROM bandit.experiment;
RESET bandit.seed;
