-- pgTAP: log growth (issue 6, section 5).  bandit_prune deletes an
-- experiment's old decisions with their rewards; the posteriors, the state
-- version and the next decisions are unaffected; decisions whose rewards
-- are still pending are refused until they are folded.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(10);

SELECT bandit_create('life_online', ARRAY['a', 'b']);
SELECT bandit_create('life_batch', ARRAY['a', 'b'], 'thompson', '{"update": "batch"}');
DO $$
DECLARE d record;
BEGIN
    FOR i IN 1..200 LOOP
        SELECT * INTO d FROM bandit_select('life_online');
        PERFORM bandit_reward(d.decision_id, i % 2);
        SELECT * INTO d FROM bandit_select('life_batch');
        PERFORM bandit_reward(d.decision_id, (i % 3 = 0)::int);
    END LOOP;
END $$;
-- age the first half of each log by a month
UPDATE bandit.decision SET decided_at = decided_at - interval '30 days'
 WHERE id IN (SELECT id FROM bandit.decision ORDER BY id LIMIT 200);

CREATE TEMP TABLE before_prune AS
SELECT e.name, a.name AS arm, a.beta::text AS posterior, a.version
  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id;

SELECT throws_ok($$ SELECT bandit_prune('life_batch', now() - interval '1 day') $$, '55000', NULL,
                 'decisions with pending rewards are not pruned');
SELECT is(bandit_refresh('life_batch'), 200::bigint, 'after a refresh');
SELECT is(bandit_prune('life_batch', now() - interval '1 day'), 100::bigint, 'they are');
SELECT is(bandit_prune('life_online', now() - interval '1 day'), 100::bigint,
          'bandit_prune returns the number of decisions deleted');
SELECT is((SELECT count(*) FROM bandit.reward r JOIN bandit.experiment e ON e.id = r.experiment_id
            WHERE e.name = 'life_online'), 100::bigint, 'their rewards went with them');
SELECT is((SELECT count(*) FROM bandit.decision WHERE decided_at < now() - interval '1 day'), 0::bigint,
          'nothing older than the cut is left');
SELECT is((SELECT count(*) FROM before_prune b JOIN bandit.arm a ON a.beta::text = b.posterior AND a.version = b.version
             JOIN bandit.experiment e ON e.id = a.experiment_id AND e.name = b.name AND a.name = b.arm
            WHERE e.name = 'life_online'), 2::bigint,
          'the posteriors and their versions are unchanged');
SELECT lives_ok($$ SELECT bandit_reward(decision_id, 1) FROM bandit_select('life_online') $$,
                'selects and rewards continue');
SELECT throws_ok($$ SELECT bandit_prune('nope', now()) $$, '42704', NULL, 'an unknown experiment is refused');
SELECT throws_ok($$ SELECT bandit_prune('life_online', NULL) $$, '22004', NULL, 'a NULL time is refused');

SELECT * FROM finish();
ROLLBACK;
