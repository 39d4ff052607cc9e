-- Fixtures of bench/contextual.sh (run by it with psql variables):
--   :k arms, :d context dimension, :train_rounds, :refresh_every, :n_eval,
--   :rows (rows of the aggregate's table), :ctx (an ARRAY[...] expression of
--   d volatile random() terms, built by the script: the context generator).
--
-- Contexts: x[1] = 1 (intercept), x[2 .. d/2] binary features (1 with
-- probability 0.3), x[d/2+1 .. d] roughly normal (sum of three uniforms,
-- mean 0, sd 0.5).  Arm a's true click probability at x is
-- clamp(x . beta_a, 0.001, 0.999) with beta_a[1] ~ 0.05 + N(0, 0.01^2) and
-- the other coefficients ~ N(0, 0.02^2): a 5% click rate on average, arms
-- close to each other, the best arm depending on the context.
SET client_min_messages = warning;
SELECT setseed(0.42);
SELECT bandit_drop(name) FROM bandit.experiment WHERE name LIKE 'bench_ctx_%';
DROP TABLE IF EXISTS bench_ctx_truth, bench_ctx_train, bench_ctx_eval, bench_ctx_decision,
                     bench_ctx_arm, bench_ctx_agg;

-- roughly N(0, sd^2): three uniforms
CREATE TABLE bench_ctx_truth AS
SELECT 'arm' || a AS arm, a AS arm_id,
       ARRAY(SELECT CASE WHEN j = 1 THEN 0.05 + 0.02 * (random() + random() + random() - 1.5)
                         ELSE 0.04 * (random() + random() + random() - 1.5) END
               FROM generate_series(1, :d) j WHERE a > 0 ORDER BY j)::float8[] AS beta
  FROM generate_series(1, :k) a;

CREATE TABLE bench_ctx_train AS SELECT i, :ctx AS x FROM generate_series(1, :train_rounds) i;
CREATE TABLE bench_ctx_eval (i int PRIMARY KEY, x float8[] NOT NULL);
INSERT INTO bench_ctx_eval SELECT i, :ctx FROM generate_series(1, :n_eval) i;

-- The trainer: LinTS, batch updates folded every :refresh_every rounds, so
-- the first rounds explore uniformly and the later ones follow the policy
-- (uneven pulls, as a live experiment has).  Its posteriors are then copied
-- to the two experiments that are measured, so both start from one state.
SELECT bandit_create('bench_ctx_trainer', ARRAY(SELECT arm FROM bench_ctx_truth ORDER BY arm_id), 'lints',
                     jsonb_build_object('context_dim', :d, 'update', 'batch', 'v', 1, 'lambda', 1));
SELECT set_config('bench.refresh_every', :'refresh_every', false);
DO $$
DECLARE
  r record;
  d record;
  p float8;
  every int := current_setting('bench.refresh_every')::int;
BEGIN
  FOR r IN SELECT i, x FROM bench_ctx_train ORDER BY i LOOP
    SELECT * INTO d FROM bandit_select('bench_ctx_trainer', r.x);
    SELECT least(0.999, greatest(0.001, sum(u.a * u.b))) INTO p
      FROM bench_ctx_truth t, unnest(r.x, t.beta) u(a, b) WHERE t.arm = d.arm;
    PERFORM bandit_reward(d.decision_id, (random() < p)::int);
    IF r.i % every = 0 THEN
      PERFORM bandit_refresh('bench_ctx_trainer');
    END IF;
  END LOOP;
  PERFORM bandit_refresh('bench_ctx_trainer');
END $$;

SELECT bandit_create('bench_ctx_linucb', ARRAY(SELECT arm FROM bench_ctx_truth ORDER BY arm_id), 'linucb',
                     jsonb_build_object('context_dim', :d, 'alpha', 1, 'lambda', 1));
SELECT bandit_create('bench_ctx_lints', ARRAY(SELECT arm FROM bench_ctx_truth ORDER BY arm_id), 'lints',
                     jsonb_build_object('context_dim', :d, 'v', 1, 'lambda', 1));
UPDATE bandit.arm a SET linear = t.linear, version = a.version + 1
  FROM bandit.arm t
 WHERE t.experiment_id = (SELECT id FROM bandit.experiment WHERE name = 'bench_ctx_trainer')
   AND a.experiment_id IN (SELECT id FROM bandit.experiment WHERE name IN ('bench_ctx_linucb', 'bench_ctx_lints'))
   AND a.arm_id = t.arm_id;
-- the training log is not needed any more: both logs start empty
SELECT bandit_drop('bench_ctx_trainer');

-- The baseline: a table of bandit.decision's shape (same columns, primary
-- key, index and foreign key) that the loop fills with the same rows.
CREATE TABLE bench_ctx_arm (
    experiment_id bigint NOT NULL,
    arm_id        int NOT NULL,
    PRIMARY KEY (experiment_id, arm_id));
INSERT INTO bench_ctx_arm SELECT 1, arm_id FROM bench_ctx_truth;
CREATE TABLE bench_ctx_decision (
    id            bigserial PRIMARY KEY,
    experiment_id bigint NOT NULL,
    arm_id        int NOT NULL,
    propensity    float8 NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    context       float8[],
    unit          text,
    state_version bigint NOT NULL,
    decided_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (experiment_id, arm_id) REFERENCES bench_ctx_arm ON DELETE CASCADE);
CREATE INDEX ON bench_ctx_decision (experiment_id, arm_id);

-- linear_posterior_agg's input: :rows rows of (context, reward), the
-- reward a continuous value around 0.05.
CREATE TABLE bench_ctx_agg AS
SELECT :ctx AS context, 0.05 + (random() + random() + random() - 1.5) AS reward
  FROM generate_series(1, :rows) g;
VACUUM ANALYZE;
