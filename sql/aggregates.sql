-- beta_posterior_agg and normal_posterior_agg: values, NULLs, errors, parallel plans.
CREATE EXTENSION IF NOT EXISTS bandit;

-- no rows: the default prior
SELECT beta_posterior_agg(x) FROM (SELECT 1.0::float8 WHERE false) t(x);
SELECT normal_posterior_agg(x) FROM (SELECT 1.0::float8 WHERE false) t(x);
-- NULL rewards are skipped, as every SQL aggregate skips NULLs
SELECT beta_posterior_agg(x) FROM (VALUES (1.0::float8), (NULL), (0), (1)) t(x);
-- fractional rewards in [0, 1]
SELECT beta_posterior_agg(x) FROM (VALUES (0.25::float8), (0.5)) t(x);
-- bad rewards
SELECT beta_posterior_agg(x) FROM (VALUES (1.0::float8), (2)) t(x);
SELECT beta_posterior_agg(x) FROM (VALUES (1.0::float8), ('NaN')) t(x);
SELECT normal_posterior_agg(x) FROM (VALUES (1.0::float8), ('-Infinity')) t(x);

-- The Normal-Inverse-Gamma update, written out: prior (mu0=0, kappa0=0.01, alpha0=1, beta0=1)
-- and data 1, 2, 3, 4: n=4, mean 2.5, m2 = 5.
SELECT abs(posterior_mean(p) - 4 * 2.5 / 4.01) < 1e-12 AS mean_ok,
       p::text LIKE '(mean=%, kappa=4.01, alpha=3, beta=%, n=4)' AS shape_ok,
       abs(split_part(split_part(p::text, 'beta=', 2), ',', 1)::float8
           - (1 + 5.0 / 2 + 0.01 * 4 * 2.5 * 2.5 / (2 * 4.01))) < 1e-12 AS rate_ok
  FROM (SELECT normal_posterior_agg(x) AS p FROM (VALUES (1.0::float8), (2), (3), (4)) t(x)) s;

-- One pass equals the fold of one-at-a-time updates (posterior_update)
CREATE FUNCTION pg_temp.fold_updates(rewards float8[]) RETURNS normal_posterior LANGUAGE plpgsql AS $$
DECLARE p normal_posterior := '(mean=0, kappa=0.01, alpha=1, beta=1, n=0)'; r float8;
BEGIN
  FOREACH r IN ARRAY rewards LOOP p := posterior_update(p, r); END LOOP;
  RETURN p;
END $$;
WITH data AS (SELECT array_agg(sin(i) * 10 ORDER BY i) AS xs FROM generate_series(1, 1000) i)
SELECT abs(posterior_mean(a) - posterior_mean(u)) < 1e-12 AS mean_agrees,
       abs((posterior_interval(a, 0.95))[2] - (posterior_interval(u, 0.95))[2]) < 1e-12 AS spread_agrees,
       substring(a::text from ' n=([0-9]+)') = substring(u::text from ' n=([0-9]+)') AS count_agrees
  FROM data,
       LATERAL (SELECT normal_posterior_agg(x) AS a FROM unnest(data.xs) x) s1,
       LATERAL (SELECT pg_temp.fold_updates(data.xs) AS u) s2;

-- Parallel: the plan has a Partial Aggregate under a Gather, and the result
-- equals the serial one.
CREATE TABLE agg_log (arm int, click float8, revenue float8);
INSERT INTO agg_log
  SELECT i % 4, (hashint4(i) % 7 = 0)::int, (hashint4(i) % 1000) / 10.0
    FROM generate_series(1, 200000) i;
ANALYZE agg_log;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT arm, beta_posterior_agg(click), normal_posterior_agg(revenue) FROM agg_log GROUP BY arm;
CREATE TABLE parallel_result AS
  SELECT arm, beta_posterior_agg(click) AS b, normal_posterior_agg(revenue) AS g
    FROM agg_log GROUP BY arm;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE serial_result AS
  SELECT arm, beta_posterior_agg(click) AS b, normal_posterior_agg(revenue) AS g
    FROM agg_log GROUP BY arm;
-- counts and Beta parameters are exact; the Normal parameters agree to 1e-12 relative
SELECT s.arm, s.b::text = p.b::text AS beta_identical,
       abs(posterior_mean(s.g) - posterior_mean(p.g)) <= 1e-12 * abs(posterior_mean(s.g)) AS normal_mean_ok,
       abs((posterior_interval(s.g, 0.9))[2] - (posterior_interval(p.g, 0.9))[2])
         <= 1e-12 * abs((posterior_interval(s.g, 0.9))[2]) AS normal_spread_ok
  FROM serial_result s JOIN parallel_result p USING (arm) ORDER BY arm;
RESET ALL;
DROP TABLE agg_log, parallel_result, serial_result;
