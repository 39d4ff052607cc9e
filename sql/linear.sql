-- linear_posterior: text I/O, invariants, scalar functions, the aggregate
-- and its parallel plan.  Numeric checks against independent computations
-- live in test/python/linear_posterior.py; this file pins the visible
-- behaviour and every error message (SQLSTATEs: test/pgtap).
CREATE EXTENSION IF NOT EXISTS bandit;

-- the prior and text I/O
SELECT linear_posterior(3);
SELECT linear_posterior(2, 0.5);
SELECT '(dim=2, n=3, lambda=1, A={{2,0.5},{0.5,3}}, b={1,2})'::linear_posterior;
SELECT ' ( dim = 1 , n = 0 , lambda = 0.25 , A = { { 0.25 } } , b = { 0 } ) '::linear_posterior;
-- subnormal numbers (a sum of tiny rewards) are values like any other
SELECT '(dim=1, n=1, lambda=1, A={{1}}, b={1e-320})'::linear_posterior::text::linear_posterior;
SELECT '(alpha=1e-310, beta=1, n=0)'::beta_posterior::text::beta_posterior;
-- round trip of values that need all 17 digits
SELECT linear_posterior_update(linear_posterior(2), ARRAY[0.1, 1/3.0], 2/3.0)::text::linear_posterior::text
     = linear_posterior_update(linear_posterior(2), ARRAY[0.1, 1/3.0], 2/3.0)::text AS round_trip;

-- invalid text: syntax (22P02) and invariants (22023)
SELECT '(dim=2, n=3, lambda=1, A={{2,0.5},{0.5,3}})'::linear_posterior;
SELECT '(dim=2, n=3, lambda=1, A={{2,0.5,1},{0.5,3}}, b={1,2})'::linear_posterior;
SELECT '(dim=2, n=3, lambda=1, A={{2,0.5},{0.5,3}}, b={1,2}) x'::linear_posterior;
SELECT '(dim=0, n=0, lambda=1, A={}, b={})'::linear_posterior;
SELECT '(dim=1001, n=0, lambda=1, A={}, b={})'::linear_posterior;
SELECT '(dim=2, n=-1, lambda=1, A={{1,0},{0,1}}, b={0,0})'::linear_posterior;
SELECT '(dim=2, n=0, lambda=-1, A={{1,0},{0,1}}, b={0,0})'::linear_posterior;
SELECT '(dim=2, n=0, lambda=1, A={{1,0.5},{0,1}}, b={0,0})'::linear_posterior;
SELECT '(dim=2, n=0, lambda=1, A={{1,0},{0,NaN}}, b={0,0})'::linear_posterior;
SELECT '(dim=2, n=0, lambda=1, A={{1,0},{0,1}}, b={Infinity,0})'::linear_posterior;
SELECT '(dim=2, n=0, lambda=1, A={{-1,0},{0,1}}, b={0,0})'::linear_posterior;
SELECT linear_posterior(0);
SELECT linear_posterior(2, 'NaN');

-- theta, predict, ucb, sample on A = [[2, .5], [.5, 3]], b = [1, 2]:
-- theta = A^-1 b = (3 - 1, 4 - .5) / 5.75 = (8/23, 14/23)
SELECT abs((linear_posterior_theta(p))[1] - 8/23.0) < 1e-15 AND abs((linear_posterior_theta(p))[2] - 14/23.0) < 1e-15 AS theta_close,
       abs(linear_posterior_predict(p, ARRAY[1, 1]) - 22/23.0) < 1e-15 AS predict,
       -- x^T A^-1 x at x = (1, 0) is 3 / 5.75
       abs(linear_posterior_ucb(p, ARRAY[1, 0], 2) - (8/23.0 + 2 * sqrt(3 / 5.75))) < 1e-15 AS ucb,
       linear_posterior_sample(p, ARRAY[1, 1], 0) = linear_posterior_predict(p, ARRAY[1, 1]) AS sample_v0
  FROM (SELECT '(dim=2, n=3, lambda=1, A={{2,0.5},{0.5,3}}, b={1,2})'::linear_posterior AS p) s;
SELECT linear_posterior_predict(linear_posterior(2), ARRAY[1, 2, 3]);
SELECT linear_posterior_predict(linear_posterior(2), ARRAY[1, NULL]);
SELECT linear_posterior_predict(linear_posterior(2), ARRAY[[1, 2]]);
SELECT linear_posterior_predict(linear_posterior(2), ARRAY[1, 'NaN']::float8[]);
SELECT linear_posterior_ucb(linear_posterior(2), ARRAY[1, 2], -1);
SELECT linear_posterior_sample(linear_posterior(2), ARRAY[1, 2], 'Infinity');
SELECT linear_posterior_update(linear_posterior(2), ARRAY[1, 2], 'NaN');
SELECT linear_posterior_update(linear_posterior(2), ARRAY[1e200, 1], 1);
-- lambda = 0 with one direction only: singular, a clear error (22000)
SELECT linear_posterior_theta(linear_posterior_update(linear_posterior(2, 0), ARRAY[1, 1], 1));

-- the aggregate
CREATE TABLE lin_log (g int, x float8[], r float8);
INSERT INTO lin_log
SELECT i % 3, ARRAY[1, (i % 7) / 7.0, (i % 11) / 11.0], ((i % 5) / 5.0) FROM generate_series(1, 3000) i;
INSERT INTO lin_log VALUES (0, NULL, 1), (1, ARRAY[1, 2, 3], NULL);
-- NULL contexts and rewards are skipped
SELECT g, (linear_posterior_agg(x, r)::text ~ '^\(dim=3, n=1000, lambda=1, ') AS shape
  FROM lin_log GROUP BY g ORDER BY g;
SELECT linear_posterior_agg(x, r) FROM lin_log WHERE false;
SELECT linear_posterior_agg(x, r) FROM lin_log WHERE x IS NULL;
SELECT linear_posterior_agg(x, r, 0.5)::text ~ 'lambda=0.5, ' AS explicit_lambda FROM lin_log;
SELECT linear_posterior_agg(x, r) FROM (VALUES (ARRAY[1, 2]::float8[], 1::float8), (ARRAY[1, 2, 3], 1)) v(x, r);
SELECT linear_posterior_agg(x, r, l) FROM (VALUES (ARRAY[1, 2]::float8[], 1::float8, 1::float8), (ARRAY[1, 2], 1, 2)) v(x, r, l);
SELECT linear_posterior_agg(x, r, -1) FROM lin_log;
SELECT linear_posterior_agg(x, r, NULL) FROM lin_log;
SELECT linear_posterior_agg(x, 'Infinity') FROM lin_log;
SELECT linear_posterior_agg(ARRAY[]::float8[], 1);

-- a parallel plan (Partial Aggregate) gives the serial plan's theta to 1e-12
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT linear_posterior_agg(x, r) FROM lin_log;
SELECT linear_posterior_agg(x, r) AS parallel_p FROM lin_log \gset
SET max_parallel_workers_per_gather = 0;
SELECT bool_and(abs(p - s) <= 1e-12 * abs(s)) AS parallel_equals_serial
  FROM unnest(linear_posterior_theta(:'parallel_p'),
              (SELECT linear_posterior_theta(linear_posterior_agg(x, r)) FROM lin_log)) AS t(p, s);
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

DROP TABLE lin_log;
