-- Test data for the analyst notebook (docs/notebooks/analyst.ipynb): one
-- experiment with simulated traffic spread over a simulated time span.
--
--   psql -d DB -f docs/notebooks/make_traffic.sql
--   psql -d DB -v experiment=checkout -v decisions=6000 -v days=14 \
--        -v end='2025-03-17 00:00+00' -f docs/notebooks/make_traffic.sql
--
-- Run it as a superuser (the database owner that ran CREATE EXTENSION bandit),
-- on a database you can throw away, never on production: it drops and
-- re-creates the experiment, and it rewrites the log's timestamps by hand.
--
-- Four checkout-button colours with true click rates 4%, 5%, 8% and 6%;
-- Thompson sampling chooses through bandit_select and learns through
-- bandit_reward, exactly as an application would.  Every decision of one
-- transaction gets the same decided_at (the transaction start), so the script
-- then spreads the decisions evenly over :days days ending at :end, in
-- decision order, and gives each reward a delay of up to an hour.  The end is
-- a fixed date by default, so that the figures drawn from the data are the
-- same every run.  That UPDATE of bandit.decision and bandit.reward is
-- test-data generation only: the functions never need it, and nothing but a
-- superuser may write those tables.  Seeds are fixed (bandit.seed, setseed),
-- so a run is reproducible (on the same build of the extension).
\set ON_ERROR_STOP on
\set QUIET on
\if :{?experiment}
\else
\set experiment notebook_demo
\endif
\if :{?decisions}
\else
\set decisions 6000
\endif
\if :{?days}
\else
\set days 14
\endif
\if :{?end}
\else
\set end '2025-03-17 00:00:00+00'
\endif

SET client_min_messages = warning;
SET bandit.seed = 2026;                      -- reproducible policy draws
SELECT setseed(0.42) \g /dev/null
SELECT bandit_drop(name) FROM bandit.experiment WHERE name = :'experiment' \g /dev/null

CREATE TEMP TABLE nb_truth (arm text PRIMARY KEY, rate float8);
INSERT INTO nb_truth VALUES ('red', 0.04), ('green', 0.05), ('blue', 0.08), ('grey', 0.06);
SELECT bandit_create(:'experiment', ARRAY['red', 'green', 'blue', 'grey'], 'thompson') \g /dev/null

SELECT set_config('nb.experiment', :'experiment', false),
       set_config('nb.decisions', :'decisions', false) \g /dev/null
DO $$
DECLARE
    exp text := current_setting('nb.experiment');
    d record;
BEGIN
    FOR i IN 1 .. current_setting('nb.decisions')::int LOOP
        SELECT * INTO d FROM bandit_select(exp);
        PERFORM bandit_reward(d.decision_id,
                              (random() < (SELECT rate FROM nb_truth WHERE arm = d.arm))::int);
    END LOOP;
END
$$;

-- Test data only: spread the decisions over the span, in decision order
-- (decision i of n at start + span * (i - 1 + u) / n, u uniform in [0, 1)).
WITH e AS (SELECT id FROM bandit.experiment WHERE name = :'experiment'),
     d AS (SELECT d.id, row_number() OVER (ORDER BY d.id) AS i, count(*) OVER () AS n
             FROM bandit.decision d JOIN e ON d.experiment_id = e.id)
UPDATE bandit.decision t
   SET decided_at = :'end'::timestamptz - make_interval(days => :days)
                    + make_interval(days => :days) * ((d.i - 1 + random()) / d.n)
  FROM d WHERE t.id = d.id;
UPDATE bandit.reward r
   SET rewarded_at = d.decided_at + make_interval(secs => 3600 * random())
  FROM bandit.decision d
 WHERE r.decision_id = d.id
   AND d.experiment_id = (SELECT id FROM bandit.experiment WHERE name = :'experiment');
SELECT bandit_refresh(:'experiment') \g /dev/null
DROP TABLE nb_truth;

\set QUIET off
\echo
SELECT :'experiment' AS experiment, count(*) AS decisions, count(reward) AS rewarded,
       min(decided_at)::date AS first_day, max(decided_at)::date AS last_day
  FROM bandit_log WHERE experiment = :'experiment';
