-- beta_posterior and normal_posterior: text I/O, binary I/O, scalar functions.
CREATE EXTENSION IF NOT EXISTS bandit;
\pset null '(null)'

-- text round trips (shortest exact decimals)
SELECT '(alpha=3, beta=9, n=10)'::beta_posterior;
SELECT ' ( alpha = 0.1 ,beta=1e6,n= 0 ) '::beta_posterior;
SELECT '(alpha=0.30000000000000004, beta=1, n=9223372036854775807)'::beta_posterior;
SELECT '(mean=-2.5, kappa=10.01, alpha=6, beta=3.2, n=10)'::normal_posterior;
SELECT '(alpha=3, beta=9, n=10)'::beta_posterior::text::beta_posterior;

-- malformed text: 22P02; values outside the domain: 22023
SELECT ''::beta_posterior;
SELECT '(alpha=3, beta=9)'::beta_posterior;
SELECT '(alpha=3, beta=9, n=10) x'::beta_posterior;
SELECT '(beta=9, alpha=3, n=10)'::beta_posterior;
SELECT '(alpha=abc, beta=9, n=10)'::beta_posterior;
SELECT '(alpha=3, beta=9, n=1.5)'::beta_posterior;
SELECT '(alpha=1e999, beta=9, n=1)'::beta_posterior;
SELECT '(alpha=0, beta=9, n=10)'::beta_posterior;
SELECT '(alpha=3, beta=-1, n=10)'::beta_posterior;
SELECT '(alpha=NaN, beta=1, n=10)'::beta_posterior;
SELECT '(alpha=inf, beta=1, n=10)'::beta_posterior;
SELECT '(alpha=1, beta=1, n=-1)'::beta_posterior;
SELECT '(mean=0, kappa=0, alpha=1, beta=1, n=0)'::normal_posterior;
SELECT '(mean=nan, kappa=1, alpha=1, beta=1, n=0)'::normal_posterior;
SELECT '(mean=0, kappa=1, alpha=1, beta=1)'::normal_posterior;

-- posterior_mean and posterior_interval
SELECT posterior_mean('(alpha=3, beta=9, n=10)'::beta_posterior) = 3.0 / 12 AS beta_mean_ok;
SELECT posterior_mean('(mean=-2.5, kappa=10, alpha=6, beta=3, n=10)'::normal_posterior);
-- Beta(1,1) is uniform: the 95% interval is [0.025, 0.975]
SELECT abs(i[1] - 0.025) < 1e-12 AND abs(i[2] - 0.975) < 1e-12 AS uniform_interval_ok
  FROM posterior_interval('(alpha=1, beta=1, n=0)'::beta_posterior, 0.95) i;
-- Beta(2,1) has cdf x^2: the 90% interval is [sqrt(0.05), sqrt(0.95)]
SELECT abs(i[1] - sqrt(0.05)) < 1e-12 AND abs(i[2] - sqrt(0.95)) < 1e-12 AS beta21_interval_ok
  FROM posterior_interval('(alpha=2, beta=1, n=1)'::beta_posterior, 0.90) i;
-- the t marginal with 2*alpha = 2 dof has quantile t_0.975 = 4.302652729911275 (closed form
-- for 2 dof: t = (2p-1)/sqrt(2p(1-p))), location 1, scale sqrt(beta/(alpha*kappa)) = 1
SELECT abs(i[2] - 1 - (2*0.975-1)/sqrt(2*0.975*0.025)) < 1e-9 AND abs((i[1] + i[2]) / 2 - 1) < 1e-12
       AS t2_interval_ok
  FROM posterior_interval('(mean=1, kappa=1, alpha=1, beta=1, n=0)'::normal_posterior, 0.95) i;
SELECT posterior_interval('(alpha=1, beta=1, n=0)'::beta_posterior, 1);
SELECT posterior_interval('(alpha=1, beta=1, n=0)'::beta_posterior, 0);
SELECT posterior_interval('(alpha=1, beta=1, n=0)'::beta_posterior, 'NaN');

-- posterior_update: one observation
SELECT posterior_update('(alpha=1, beta=1, n=0)'::beta_posterior, 1);
SELECT posterior_update('(alpha=1, beta=1, n=0)'::beta_posterior, 0.25);
SELECT posterior_update('(mean=0, kappa=1, alpha=1, beta=1, n=0)'::normal_posterior, 2);
SELECT posterior_update('(alpha=1, beta=1, n=0)'::beta_posterior, 1.5);
SELECT posterior_update('(alpha=1, beta=1, n=0)'::beta_posterior, 'NaN');
SELECT posterior_update('(mean=0, kappa=1, alpha=1, beta=1, n=0)'::normal_posterior, 'Infinity');

-- posterior_sample: reproducible under bandit.seed, inside the support
SET bandit.seed = 7;
CREATE TEMP TABLE draws AS
  SELECT posterior_sample('(alpha=2, beta=5, n=5)'::beta_posterior) AS x FROM generate_series(1, 1000);
SET bandit.seed = 7;
SELECT count(*) FILTER (WHERE d.x = s.x) AS same_draws
  FROM (SELECT x, row_number() OVER () AS i FROM draws) d
  JOIN (SELECT posterior_sample('(alpha=2, beta=5, n=5)'::beta_posterior) AS x,
               row_number() OVER () AS i FROM generate_series(1, 1000)) s USING (i);
SELECT min(x) > 0 AND max(x) < 1 AS in_support FROM draws;
RESET bandit.seed;

-- posterior_prob_best: identical posteriors split evenly; a hopeless arm gets ~0
SELECT array_agg(round(p::numeric, 9)) FROM unnest(posterior_prob_best(ARRAY[
  '(alpha=3, beta=9, n=10)', '(alpha=3, beta=9, n=10)', '(alpha=3, beta=9, n=10)',
  '(alpha=3, beta=9, n=10)']::beta_posterior[])) p;
SELECT p[2] < 1e-9 AS hopeless_arm_ok, abs(p[1] + p[2] - 1) < 1e-12 AS sums_to_one
  FROM posterior_prob_best(ARRAY['(alpha=900, beta=100, n=998)',
                                 '(alpha=100, beta=900, n=998)']::beta_posterior[]) p;
SELECT posterior_prob_best(ARRAY['(alpha=1, beta=1, n=0)', NULL]::beta_posterior[]);
SELECT posterior_prob_best(ARRAY[]::beta_posterior[]);

-- binary I/O: a COPY BINARY round trip through send and recv
CREATE TEMP TABLE posteriors (b beta_posterior, g normal_posterior);
INSERT INTO posteriors VALUES
  ('(alpha=3, beta=9, n=10)', '(mean=-2.5, kappa=10.01, alpha=6, beta=3.2, n=10)'),
  ('(alpha=0.30000000000000004, beta=1e300, n=0)', '(mean=1e-300, kappa=1, alpha=1, beta=1, n=0)');
\copy posteriors TO 'results/bandit_regress_posteriors.bin' WITH (FORMAT binary)
CREATE TEMP TABLE posteriors_back (LIKE posteriors);
\copy posteriors_back FROM 'results/bandit_regress_posteriors.bin' WITH (FORMAT binary)
SELECT count(*) AS identical FROM posteriors p JOIN posteriors_back q
    ON p.b::text = q.b::text AND p.g::text = q.g::text;

-- corrupt binary input: 22P03 (wrong length, unknown format, unknown flags),
-- 22023 (a well-formed message with an impossible value)
CREATE TEMP TABLE one_beta (b beta_posterior);
\! printf 'PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\031\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\377\377' > results/bandit_regress_short.bin
\copy one_beta FROM 'results/bandit_regress_short.bin' WITH (FORMAT binary)
\! printf 'PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\032\2\0\0\0\0\0\0\0\0\0\077\360\0\0\0\0\0\0\077\360\0\0\0\0\0\0\377\377' > results/bandit_regress_format.bin
\copy one_beta FROM 'results/bandit_regress_format.bin' WITH (FORMAT binary)
\! printf 'PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\032\1\1\0\0\0\0\0\0\0\0\077\360\0\0\0\0\0\0\077\360\0\0\0\0\0\0\377\377' > results/bandit_regress_flags.bin
\copy one_beta FROM 'results/bandit_regress_flags.bin' WITH (FORMAT binary)
\! printf 'PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\032\1\0\0\0\0\0\0\0\0\0\177\370\0\0\0\0\0\0\077\360\0\0\0\0\0\0\377\377' > results/bandit_regress_nan.bin
\copy one_beta FROM 'results/bandit_regress_nan.bin' WITH (FORMAT binary)
\! printf 'PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\032\1\0\377\377\377\377\377\377\377\377\077\360\0\0\0\0\0\0\077\360\0\0\0\0\0\0\377\377' > results/bandit_regress_negative.bin
\copy one_beta FROM 'results/bandit_regress_negative.bin' WITH (FORMAT binary)
-- and the same bytes with valid values load: Beta(1, 1), n = 0
\! printf 'PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\032\1\0\0\0\0\0\0\0\0\0\077\360\0\0\0\0\0\0\077\360\0\0\0\0\0\0\377\377' > results/bandit_regress_valid.bin
\copy one_beta FROM 'results/bandit_regress_valid.bin' WITH (FORMAT binary)
SELECT * FROM one_beta;
