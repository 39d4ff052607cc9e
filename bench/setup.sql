-- Benchmark fixtures: bandit experiments and baseline tables of the same shape
-- as bandit.decision (same columns, primary key, indexes, CHECK constraints and foreign key).
SET client_min_messages = warning;
SELECT bandit_drop(name) FROM bandit.experiment WHERE name LIKE 'bench_%';
SELECT bandit_create('bench_t5_online',  ARRAY(SELECT 'arm' || i FROM generate_series(1, 5) i));
SELECT bandit_create('bench_t20_online', ARRAY(SELECT 'arm' || i FROM generate_series(1, 20) i));
SELECT bandit_create('bench_t5_batch',   ARRAY(SELECT 'arm' || i FROM generate_series(1, 5) i),
                     'thompson', '{"update": "batch"}');
SELECT bandit_create('bench_t20_batch',  ARRAY(SELECT 'arm' || i FROM generate_series(1, 20) i),
                     'thompson', '{"update": "batch"}');
-- give the posteriors some data so Thompson propensities are not all equal
DO $$
DECLARE d record;
BEGIN
  FOR i IN 1..400 LOOP
    FOR d IN SELECT * FROM bandit_select('bench_t5_online') UNION ALL
             SELECT * FROM bandit_select('bench_t20_online') UNION ALL
             SELECT * FROM bandit_select('bench_t5_batch') UNION ALL
             SELECT * FROM bandit_select('bench_t20_batch') LOOP
      PERFORM bandit_reward(d.decision_id, (random() < 0.05)::int);
    END LOOP;
  END LOOP;
END $$;
SELECT bandit_refresh();

DROP TABLE IF EXISTS bench_decision, bench_arm;
CREATE TABLE bench_arm (
    experiment_id bigint NOT NULL,
    arm_id        int NOT NULL,
    pulls         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment_id, arm_id));
INSERT INTO bench_arm SELECT 1, i FROM generate_series(1, 20) i;
CREATE TABLE bench_decision (
    id            bigserial PRIMARY KEY,
    experiment_id bigint NOT NULL,
    arm_id        int NOT NULL,
    propensity    float8 NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    context       float8[],
    unit          text,
    state_version bigint NOT NULL,
    decided_at    timestamptz NOT NULL DEFAULT now(),
    kind          text NOT NULL DEFAULT 'policy' CHECK (kind IN ('policy', 'paused', 'repeat')),
    FOREIGN KEY (experiment_id, arm_id) REFERENCES bench_arm);
CREATE INDEX ON bench_decision (experiment_id, arm_id);
-- 0.4.0's unit indexes (partial: a decision without a unit enters neither)
CREATE INDEX ON bench_decision (experiment_id, unit, id) WHERE unit IS NOT NULL;
CREATE INDEX ON bench_decision (experiment_id, unit, id) WHERE unit IS NOT NULL AND kind = 'policy';
VACUUM ANALYZE;
