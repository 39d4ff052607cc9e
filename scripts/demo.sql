-- 20,000 rounds of simulated traffic: four page variants with true click
-- rates 2%, 3%, 5% and 4%; Thompson sampling learns which one to show.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET bandit.seed = 2026;                -- reproducible policy draws
\o /dev/null
SELECT setseed(0.42);                  -- reproducible simulated clicks
SELECT bandit_drop(name) FROM bandit.experiment WHERE name = 'demo';
\o
CREATE TEMP TABLE truth (arm text PRIMARY KEY, rate float8);
INSERT INTO truth VALUES ('red', 0.02), ('green', 0.03), ('blue', 0.05), ('grey', 0.04);
SELECT bandit_create('demo', ARRAY['red', 'green', 'blue', 'grey'], 'thompson') \gset

CREATE TEMP TABLE rounds (round int, arm text, rate float8, clicked boolean);
DO $$
DECLARE
    d record;
    r float8;
    clicked boolean;
BEGIN
    FOR i IN 1..20000 LOOP
        SELECT * INTO d FROM bandit_select('demo');
        SELECT rate INTO r FROM truth WHERE arm = d.arm;
        clicked := random() < r;
        PERFORM bandit_reward(d.decision_id, CASE WHEN clicked THEN 1 ELSE 0 END);
        INSERT INTO rounds VALUES (i, d.arm, r, clicked);
    END LOOP;
END
$$;

\echo
\echo 'Arms after 20,000 rounds (bandit_arm_stats):'
SELECT s.arm, t.rate AS true_rate, s.pulls, s.reward_sum::int AS clicks,
       round(s.mean::numeric, 4) AS observed_rate,
       round(s.ci_low::numeric, 4) AS ci_low, round(s.ci_high::numeric, 4) AS ci_high,
       round(s.prob_best::numeric, 4) AS prob_best
  FROM bandit_arm_stats('demo') s JOIN truth t USING (arm);

\echo 'Expected regret (clicks lost against always showing the best arm):'
SELECT round(sum((SELECT max(rate) FROM truth) - rate)::numeric, 1) AS thompson_regret,
       round((count(*) * ((SELECT max(rate) FROM truth) - (SELECT avg(rate) FROM truth)))::numeric, 1)
           AS uniform_regret,
       round((sum((SELECT max(rate) FROM truth) - rate)
              / (count(*) * ((SELECT max(rate) FROM truth) - (SELECT avg(rate) FROM truth))))::numeric, 3)
           AS ratio,
       sum(clicked::int) AS clicks
  FROM rounds;
