-- Fixture of bench/ope.sh (run by it with the psql variables :rows and
-- :marker): the log table the off-policy estimators are measured on.
--
-- One row per logged decision, as a contextual bandit over about ten actions
-- would log it:
--   p0        logging_prob of the logged action, uniform in [0.05, 0.15)
--             (about 1/10, perturbed);
--   pt        target_prob of the same action, p0 * E with E ~ Exp(1), capped
--             at 1: the importance weight w = pt / p0 is about Exp(1)
--             (mean about 1, so IPS and SNIPS agree; largest weight near 20);
--   r         reward 0/1, 1 with probability 0.05;
--   q_logged  a reward model's prediction for the logged action, in [0.03, 0.07);
--   v_target  the model's value of the target policy, in [0.03, 0.07).
-- The table is filled once, frozen and analysed (VACUUM FREEZE, ANALYZE), so no
-- timed scan sets hint bits; its comment records how it was made, and the
-- script rebuilds it only when that comment differs (ROWS changed, or this
-- file did).
SET client_min_messages = warning;
SELECT setseed(0.42);
DROP TABLE IF EXISTS log;
CREATE TABLE log (
    r         float8 NOT NULL,
    pt        float8 NOT NULL,
    p0        float8 NOT NULL,
    q_logged  float8 NOT NULL,
    v_target  float8 NOT NULL
);
INSERT INTO log (r, pt, p0, q_logged, v_target)
SELECT (random() < 0.05)::int::float8,
       least(1.0, p0 * -ln(1.0 - random())),
       p0,
       0.03 + 0.04 * random(),
       0.03 + 0.04 * random()
  FROM (SELECT 0.05 + 0.10 * random() AS p0 FROM generate_series(1, :rows)) s;
COMMENT ON TABLE log IS :'marker';
VACUUM (FREEZE, ANALYZE) log;
CHECKPOINT;
