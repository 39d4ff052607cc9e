-- pgTAP: posteriors as values (issue 7, section 2): posterior_merge, the
-- operator +, posterior_decay, the aggregates as moving window functions;
-- and the monitoring functions (section 4): bandit_srm, bandit_timeline,
-- bandit_regret, bandit_drift (their contract, errors and privileges, and
-- the counts against direct computations; the statistics are checked
-- against SciPy in test/python/values_monitoring.py).
--
-- Everything runs in one transaction that is rolled back at the end.
-- Tolerances: counts exactly; posterior parameters from sums 1e-12
-- relative; normal_posterior beta rebuilt from natural parameters (whose
-- large terms cancel in the test's own formula) 1e-10 relative.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(70);

SET LOCAL bandit.seed = 1207;
SELECT setseed(0.125);

-- --------------------------------------------------------------------------
-- Helpers
-- --------------------------------------------------------------------------

-- a field of a posterior's text form
CREATE FUNCTION pg_temp.field(p text, key text) RETURNS float8
    LANGUAGE sql IMMUTABLE AS
$$ SELECT substring(p FROM '[(, ]' || key || '=([^,)]+)')::float8 $$;
CREATE FUNCTION pg_temp.rel(a float8, b float8) RETURNS float8
    LANGUAGE sql IMMUTABLE AS
$$ SELECT abs(a - b) / greatest(abs(b), 1e-300) $$;
-- same n, parameters within tol relative
CREATE FUNCTION pg_temp.close(p text, q text, tol float8) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS
$$ SELECT pg_temp.field(p, 'n') = pg_temp.field(q, 'n')
      AND bool_and(coalesce(pg_temp.rel(pg_temp.field(p, k), pg_temp.field(q, k)) <= tol, false))
     FROM unnest(CASE WHEN p LIKE '(alpha%' THEN ARRAY['alpha', 'beta']
                      ELSE ARRAY['mean', 'kappa', 'alpha', 'beta'] END) k $$;

CREATE FUNCTION pg_temp.eid(exp text) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM bandit.experiment WHERE name = exp $$;

-- rounds of select + reward, Bernoulli(levels[arm_id])
CREATE FUNCTION pg_temp.play(exp text, rounds int, levels float8[]) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    d record;
    aid int;
BEGIN
    FOR i IN 1 .. rounds LOOP
        SELECT * INTO d FROM bandit_select(exp);
        SELECT arm_id INTO aid FROM bandit.arm WHERE experiment_id = pg_temp.eid(exp) AND name = d.arm;
        PERFORM bandit_reward(d.decision_id, (random() < levels[aid])::int);
    END LOOP;
END $$;

-- 10,000 observations: rewards in [0, 1] (not integers, so the sums are not
-- exact), Gaussian-like rewards around 40, three arms, one every 37 minutes,
-- and a copy with every 11th reward NULL
CREATE TEMP TABLE obs AS
SELECT i, i % 2 AS half, i % 3 + 1 AS arm, random() AS r,
       40 + 5 * (random() + random() + random() - 1.5) AS x,
       timestamptz '2026-01-01 00:00:00+00' + i * interval '37 minutes' AS t
  FROM generate_series(1, 10000) i;
ALTER TABLE obs ADD COLUMN r_null float8, ADD COLUMN x_null float8;
UPDATE obs SET r_null = CASE WHEN i % 11 <> 0 THEN r END, x_null = CASE WHEN i % 11 <> 0 THEN x END;

-- --------------------------------------------------------------------------
-- posterior_merge and +: the data of both, the prior counted once
-- --------------------------------------------------------------------------

CREATE TEMP TABLE halves AS
SELECT beta_posterior_agg(r) FILTER (WHERE half = 0) AS b0, beta_posterior_agg(r) FILTER (WHERE half = 1) AS b1,
       beta_posterior_agg(r) AS b, normal_posterior_agg(x) FILTER (WHERE half = 0) AS n0,
       normal_posterior_agg(x) FILTER (WHERE half = 1) AS n1, normal_posterior_agg(x) AS n
  FROM obs;

SELECT ok((SELECT pg_temp.close(posterior_merge(b0, b1)::text, b::text, 1e-12) FROM halves),
          'beta: merging the aggregates of two halves gives the aggregate of the whole (n exact, alpha, beta 1e-12)');
SELECT ok((SELECT pg_temp.close(posterior_merge(n0, n1)::text, n::text, 1e-12) FROM halves),
          'normal: merging the aggregates of two halves gives the aggregate of the whole (n exact, the rest 1e-12)');
SELECT is((SELECT (b0 + b1)::text FROM halves), (SELECT posterior_merge(b0, b1)::text FROM halves),
          'beta: p + q is posterior_merge(p, q)');
SELECT is((SELECT (n0 + n1)::text FROM halves), (SELECT posterior_merge(n0, n1)::text FROM halves),
          'normal: p + q is posterior_merge(p, q)');
-- the formula, written here: alpha = alpha_p + alpha_q - 1, beta likewise, n added
SELECT ok((SELECT pg_temp.field(m::text, 'alpha') = pg_temp.field(b0::text, 'alpha') + pg_temp.field(b1::text, 'alpha') - 1
              AND pg_temp.field(m::text, 'beta') = pg_temp.field(b0::text, 'beta') + pg_temp.field(b1::text, 'beta') - 1
              AND pg_temp.field(m::text, 'n') = 10000
             FROM halves, LATERAL (SELECT b0 + b1 AS m) x),
          'beta: alpha_p + alpha_q - 1, beta_p + beta_q - 1, n_p + n_q');

-- seven groups, merged in two orders and two groupings
CREATE TEMP TABLE groups AS
SELECT i % 7 AS g, beta_posterior_agg(r) AS b, normal_posterior_agg(x) AS n FROM obs GROUP BY 1;
SELECT ok((SELECT bool_and((p.b + q.b)::text = (q.b + p.b)::text AND (p.n + q.n)::text = (q.n + p.n)::text)
             FROM groups p, groups q),
          'merge is exactly commutative (49 ordered pairs of each type)');
SELECT ok((SELECT bool_and(pg_temp.close(((p.b + q.b) + s.b)::text, (p.b + (q.b + s.b))::text, 1e-12)
                       AND pg_temp.close(((p.n + q.n) + s.n)::text, (p.n + (q.n + s.n))::text, 1e-12))
             FROM groups p, groups q, groups s),
          'merge is associative to 1e-12 (343 triples of each type)');
CREATE FUNCTION pg_temp.merge_all_beta(ps beta_posterior[]) RETURNS beta_posterior LANGUAGE plpgsql AS $$
DECLARE acc beta_posterior := '(alpha=1, beta=1, n=0)'; BEGIN
    FOR i IN 1 .. cardinality(ps) LOOP acc := acc + ps[i]; END LOOP; RETURN acc; END $$;
CREATE FUNCTION pg_temp.merge_all_normal(ps normal_posterior[]) RETURNS normal_posterior LANGUAGE plpgsql AS $$
DECLARE acc normal_posterior := '(mean=0, kappa=0.01, alpha=1, beta=1, n=0)'; BEGIN
    FOR i IN 1 .. cardinality(ps) LOOP acc := acc + ps[i]; END LOOP; RETURN acc; END $$;
SELECT ok((SELECT pg_temp.close(pg_temp.merge_all_beta(array_agg(b ORDER BY g))::text, (SELECT b::text FROM halves), 1e-12)
              AND pg_temp.close(pg_temp.merge_all_beta(array_agg(b ORDER BY g DESC))::text, (SELECT b::text FROM halves), 1e-12)
              AND pg_temp.close(pg_temp.merge_all_normal(array_agg(n ORDER BY g))::text, (SELECT n::text FROM halves), 1e-12)
              AND pg_temp.close(pg_temp.merge_all_normal(array_agg(n ORDER BY g DESC))::text, (SELECT n::text FROM halves), 1e-12)
             FROM groups),
          'the seven group aggregates merged in either order give the aggregate of the whole (1e-12)');
SELECT ok((SELECT bool_and((b + '(alpha=1, beta=1, n=0)'::beta_posterior)::text = b::text
                       AND ('(alpha=1, beta=1, n=0)'::beta_posterior + b)::text = b::text
                       AND (n + '(mean=0, kappa=0.01, alpha=1, beta=1, n=0)'::normal_posterior)::text = n::text
                       AND ('(mean=0, kappa=0.01, alpha=1, beta=1, n=0)'::normal_posterior + n)::text = n::text)
             FROM groups),
          'the default prior is an exact identity of +');

-- an experiment's prior (Beta(2, 3); NIG(5, 2, 3, 4)): the three-argument
-- form, against folding the rows into the prior one by one
CREATE FUNCTION pg_temp.fold_beta(prior beta_posterior, rs float8[]) RETURNS beta_posterior LANGUAGE plpgsql AS $$
DECLARE acc beta_posterior := prior; BEGIN
    FOR i IN 1 .. cardinality(rs) LOOP acc := posterior_update(acc, rs[i]); END LOOP; RETURN acc; END $$;
CREATE FUNCTION pg_temp.fold_normal(prior normal_posterior, xs float8[]) RETURNS normal_posterior LANGUAGE plpgsql AS $$
DECLARE acc normal_posterior := prior; BEGIN
    FOR i IN 1 .. cardinality(xs) LOOP acc := posterior_update(acc, xs[i]); END LOOP; RETURN acc; END $$;
CREATE TEMP TABLE own_prior AS
SELECT pg_temp.fold_beta('(alpha=2, beta=3, n=0)', array_agg(r ORDER BY i) FILTER (WHERE i <= 300 AND half = 0)) AS b0,
       pg_temp.fold_beta('(alpha=2, beta=3, n=0)', array_agg(r ORDER BY i) FILTER (WHERE i <= 300 AND half = 1)) AS b1,
       pg_temp.fold_beta('(alpha=2, beta=3, n=0)', array_agg(r ORDER BY i) FILTER (WHERE i <= 300)) AS b,
       pg_temp.fold_normal('(mean=5, kappa=2, alpha=3, beta=4, n=0)', array_agg(x ORDER BY i) FILTER (WHERE i <= 300 AND half = 0)) AS n0,
       pg_temp.fold_normal('(mean=5, kappa=2, alpha=3, beta=4, n=0)', array_agg(x ORDER BY i) FILTER (WHERE i <= 300 AND half = 1)) AS n1,
       pg_temp.fold_normal('(mean=5, kappa=2, alpha=3, beta=4, n=0)', array_agg(x ORDER BY i) FILTER (WHERE i <= 300)) AS n
  FROM obs;
SELECT ok((SELECT pg_temp.close(posterior_merge(b0, b1, '(alpha=2, beta=3, n=0)')::text, b::text, 1e-12)
              AND pg_temp.close(posterior_merge(n0, n1, '(mean=5, kappa=2, alpha=3, beta=4, n=0)')::text, n::text, 1e-12)
             FROM own_prior),
          'with the prior given: merging two halves folded from it one by one gives the whole folded from it (1e-12)');
SELECT ok((SELECT NOT pg_temp.close((b0 + b1)::text, b::text, 1e-3) FROM own_prior),
          'the two-argument form subtracts the default prior, not the experiment''s');

-- errors
SELECT throws_ok($$ SELECT '(alpha=0.5, beta=9, n=1)'::beta_posterior + '(alpha=0.4, beta=5, n=1)' $$,
                 '22023', 'cannot merge these beta_posterior values',
                 'a merged alpha below 0 (operands without the prior) is 22023');
SELECT throws_ok($$ SELECT '(mean=0, kappa=0.004, alpha=1, beta=1, n=0)'::normal_posterior
                         + '(mean=1, kappa=0.004, alpha=1, beta=1, n=0)' $$,
                 '22023', 'cannot merge these normal_posterior values', 'a merged kappa below 0 is 22023');
SELECT throws_ok($$ SELECT '(alpha=1e308, beta=1, n=1)'::beta_posterior + '(alpha=1e308, beta=1, n=1)' $$,
                 '22003', 'beta_posterior value out of range', 'a merged alpha beyond float8 is 22003');
SELECT throws_ok($$ SELECT '(alpha=2, beta=1, n=9223372036854775807)'::beta_posterior + '(alpha=2, beta=1, n=1)' $$,
                 '22003', 'posterior observation count out of range', 'a merged n beyond int8 is 22003');
SELECT throws_ok($$ SELECT posterior_merge('(alpha=2, beta=1, n=1)'::beta_posterior, '(alpha=2, beta=1, n=1)',
                                           '(alpha=1, beta=1, n=5)') $$,
                 '22023', 'cannot merge these beta_posterior values', 'a merged n below 0 (a prior with more observations) is 22023');
SELECT ok(posterior_merge(NULL::beta_posterior, '(alpha=1, beta=1, n=0)') IS NULL, 'posterior_merge is STRICT');

-- --------------------------------------------------------------------------
-- posterior_decay: prior + factor * (p - prior), in the natural parameters
-- --------------------------------------------------------------------------

CREATE TEMP TABLE factors AS SELECT unnest(ARRAY[0, 1e-9, 0.1, 0.25, 0.5, 0.7, 0.9, 1 - 1e-9, 1]::float8[]) AS f;
SELECT ok((SELECT bool_and(pg_temp.rel(pg_temp.field(d, 'alpha'), 1 + f * (pg_temp.field(b::text, 'alpha') - 1)) <= 1e-12
                       AND pg_temp.rel(pg_temp.field(d, 'beta'), 1 + f * (pg_temp.field(b::text, 'beta') - 1)) <= 1e-12
                       AND pg_temp.field(d, 'n') = floor(f * pg_temp.field(b::text, 'n') + 0.5))
             FROM groups, factors, LATERAL (SELECT posterior_decay(b, f)::text AS d) x),
          'beta: alpha = 1 + f (alpha_p - 1), beta = 1 + f (beta_p - 1), n = floor(f n + 1/2) (1e-12; 7 posteriors x 9 factors)');
-- NIG natural parameters: kappa, kappa mean, alpha, beta + kappa mean^2 / 2
CREATE FUNCTION pg_temp.natural(p text) RETURNS float8[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY[k, k * m, pg_temp.field(p, 'alpha'), pg_temp.field(p, 'beta') + k * m * m / 2]
     FROM (SELECT pg_temp.field(p, 'kappa') AS k, pg_temp.field(p, 'mean') AS m) x $$;
SELECT ok((SELECT bool_and(pg_temp.rel(pg_temp.field(d, 'kappa'), e[1]) <= 1e-12
                       AND pg_temp.rel(pg_temp.field(d, 'mean'), e[2] / e[1]) <= 1e-12
                       AND pg_temp.rel(pg_temp.field(d, 'alpha'), e[3]) <= 1e-12
                       AND pg_temp.rel(pg_temp.field(d, 'beta'), e[4] - e[2] * e[2] / (2 * e[1])) <= 1e-10
                       AND pg_temp.field(d, 'n') = floor(f * pg_temp.field(n::text, 'n') + 0.5))
             FROM groups, factors,
                  LATERAL (SELECT posterior_decay(n, f)::text AS d,
                                  ARRAY(SELECT z0 + f * (zp - z0)
                                          FROM unnest(pg_temp.natural('(mean=0, kappa=0.01, alpha=1, beta=1, n=0)'),
                                                      pg_temp.natural(n::text)) u(z0, zp)) AS e) x),
          'normal: natural parameters prior + f (p - prior), n = floor(f n + 1/2) (1e-12; beta 1e-10; 7 x 9)');
SELECT ok((SELECT bool_and(posterior_decay(b, 1)::text = b::text AND posterior_decay(n, 1)::text = n::text
                       AND posterior_decay(b, 0)::text = '(alpha=1, beta=1, n=0)'
                       AND posterior_decay(n, 0)::text = '(mean=0, kappa=0.01, alpha=1, beta=1, n=0)')
             FROM groups),
          'factor 1 returns p exactly, factor 0 the default prior exactly');
-- parameters compose; n is rounded at each step, so it may differ by 1
CREATE FUNCTION pg_temp.close_but_n(p text, q text, tol float8) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT abs(pg_temp.field(p, 'n') - pg_temp.field(q, 'n')) <= 1
      AND pg_temp.close(regexp_replace(p, 'n=[0-9]+', 'n=0'), regexp_replace(q, 'n=[0-9]+', 'n=0'), tol) $$;
SELECT ok((SELECT bool_and(pg_temp.close_but_n(posterior_decay(posterior_decay(b, f), 0.4)::text,
                                               posterior_decay(b, f * 0.4)::text, 1e-12)
                       AND pg_temp.close_but_n(posterior_decay(posterior_decay(n, f), 0.4)::text,
                                               posterior_decay(n, f * 0.4)::text, 1e-12))
             FROM groups, factors),
          'decay composes: decay(decay(p, f), 0.4) = decay(p, 0.4 f) (parameters 1e-12, n within 1)');
SELECT is(posterior_decay('(alpha=2, beta=2, n=3)'::beta_posterior, 0.5)::text, '(alpha=1.5, beta=1.5, n=2)',
          'n = round(f n), halves away from zero: 1.5 -> 2');
SELECT is(posterior_decay('(alpha=2, beta=2, n=5)'::beta_posterior, 0.5)::text, '(alpha=1.5, beta=1.5, n=3)',
          'n = round(f n): 2.5 -> 3');
SELECT is(posterior_decay('(alpha=7, beta=4, n=9)'::beta_posterior, 0.5, '(alpha=3, beta=2, n=1)')::text,
          '(alpha=5, beta=3, n=5)', 'with the prior given: prior + f (p - prior), n too');
SELECT ok((SELECT pg_temp.close(posterior_decay(n, 0.3, '(mean=5, kappa=2, alpha=3, beta=4, n=0)')::text,
                                posterior_merge(posterior_decay(n0, 0.3, '(mean=5, kappa=2, alpha=3, beta=4, n=0)'),
                                                posterior_decay(n1, 0.3, '(mean=5, kappa=2, alpha=3, beta=4, n=0)'),
                                                '(mean=5, kappa=2, alpha=3, beta=4, n=0)')::text, 1e-12)
             FROM own_prior),
          'decay distributes over merge: decay(p + q) = decay(p) + decay(q) (1e-12, with the prior given)');
SELECT throws_ok($$ SELECT posterior_decay('(alpha=2, beta=2, n=3)'::beta_posterior, 1.5) $$,
                 '22023', 'decay factor must be between 0 and 1', 'factor above 1 is 22023');
SELECT throws_ok($$ SELECT posterior_decay('(mean=0, kappa=1, alpha=2, beta=2, n=3)'::normal_posterior, -0.1) $$,
                 '22023', 'decay factor must be between 0 and 1', 'factor below 0 is 22023');
SELECT throws_ok($$ SELECT posterior_decay('(alpha=2, beta=2, n=3)'::beta_posterior, 'NaN') $$,
                 '22023', 'decay factor must be between 0 and 1', 'factor NaN is 22023');
SELECT ok(posterior_decay('(alpha=2, beta=2, n=3)'::beta_posterior, NULL) IS NULL, 'posterior_decay is STRICT');

SELECT is((SELECT count(*) FROM pg_proc WHERE proname IN ('posterior_merge', 'posterior_decay')
              AND provolatile = 'i' AND proisstrict AND proparallel = 's' AND NOT prosecdef),
          8::bigint, 'posterior_merge and posterior_decay (8 signatures): IMMUTABLE STRICT PARALLEL SAFE');
SELECT is((SELECT count(*) FROM pg_operator o WHERE o.oprname = '+' AND o.oprcom = o.oid
              AND o.oprleft IN ('beta_posterior'::regtype, 'normal_posterior'::regtype) AND o.oprleft = o.oprright),
          2::bigint, 'the operators + on beta_posterior and normal_posterior are their own commutators');

-- --------------------------------------------------------------------------
-- The aggregates as window functions: against the aggregate over each frame
-- --------------------------------------------------------------------------

CREATE TEMP TABLE win AS
SELECT i, arm, t,
       beta_posterior_agg(r) OVER w7 AS b7, normal_posterior_agg(x) OVER w7 AS n7,
       beta_posterior_agg(r_null) OVER w7 AS b7null, normal_posterior_agg(x_null) OVER w7 AS n7null,
       beta_posterior_agg(r) OVER (PARTITION BY arm ORDER BY i ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING) AS b3,
       normal_posterior_agg(x) OVER (PARTITION BY arm ORDER BY i ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING) AS n3
  FROM obs WHERE i <= 3000
WINDOW w7 AS (PARTITION BY arm ORDER BY t RANGE interval '7 days' PRECEDING);
SELECT ok((SELECT bool_and(pg_temp.close(w.b7::text, d.b::text, 1e-12) AND pg_temp.close(w.n7::text, d.n::text, 1e-12)
                       AND pg_temp.close(w.b7null::text, d.bnull::text, 1e-12)
                       AND pg_temp.close(w.n7null::text, d.nnull::text, 1e-12))
             FROM win w, LATERAL (SELECT beta_posterior_agg(o.r) AS b, normal_posterior_agg(o.x) AS n,
                                         beta_posterior_agg(o.r_null) AS bnull, normal_posterior_agg(o.x_null) AS nnull
                                    FROM obs o WHERE o.arm = w.arm AND o.t BETWEEN w.t - interval '7 days' AND w.t) d),
          'RANGE ''7 days'' PRECEDING by arm: every row''s posterior equals the aggregate over its frame (3,000 rows, 1e-12, with and without NULL rewards)');
SELECT ok((SELECT bool_and(pg_temp.close(w.b3::text, d.b::text, 1e-12) AND pg_temp.close(w.n3::text, d.n::text, 1e-12))
             FROM win w, LATERAL (SELECT beta_posterior_agg(o.r) AS b, normal_posterior_agg(o.x) AS n
                                    FROM (SELECT * FROM obs o WHERE o.arm = w.arm AND o.i < w.i ORDER BY o.i DESC LIMIT 3) o) d),
          'ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING: equal to the aggregate over the three rows before (1e-12)');
-- a frame whose start never moves: the ordinary transition, finalised after every row
SELECT ok((SELECT bool_and(pg_temp.close(w.b::text, d.b::text, 1e-12) AND pg_temp.close(w.n::text, d.n::text, 1e-12))
             FROM (SELECT i, beta_posterior_agg(r) OVER (ORDER BY i) AS b, normal_posterior_agg(x) OVER (ORDER BY i) AS n
                     FROM obs WHERE i <= 500) w,
                  LATERAL (SELECT beta_posterior_agg(o.r) AS b, normal_posterior_agg(o.x) AS n FROM obs o WHERE o.i <= w.i) d),
          'running posteriors (frame from the first row): each equals the aggregate of the rows so far (1e-12)');
SELECT ok((SELECT bool_and(b3::text = '(alpha=1, beta=1, n=0)'
                       AND n3::text = '(mean=0, kappa=0.01, alpha=1, beta=1, n=0)')
             FROM win WHERE i <= 3),
          'an empty frame gives the prior exactly');
SELECT is((SELECT count(*) FROM pg_aggregate
            WHERE aggfnoid IN ('beta_posterior_agg(float8)'::regprocedure, 'normal_posterior_agg(float8)'::regprocedure)
              AND aggminvtransfn <> 0 AND aggmfinalmodify = 'r'),
          2::bigint, 'both aggregates have a moving-window inverse and a read-only final function');
-- linear_posterior_agg: no inverse; PostgreSQL refolds each frame
CREATE TEMP TABLE lin AS
SELECT i, linear_posterior_agg(ARRAY[1, x / 40, r], r) OVER (ORDER BY i ROWS 20 PRECEDING) AS w
  FROM obs WHERE i <= 300;
SELECT ok((SELECT bool_and(e.ok)
             FROM lin l, LATERAL (SELECT linear_posterior_agg(ARRAY[1, o.x / 40, o.r], o.r) AS d
                                    FROM obs o WHERE o.i BETWEEN l.i - 20 AND l.i) d,
                  LATERAL (SELECT bool_and(abs(a - b) <= 1e-12 * greatest(abs(b), 1)) AS ok
                             FROM unnest(linear_posterior_theta(l.w), linear_posterior_theta(d.d)) u(a, b)) e),
          'linear_posterior_agg OVER (ROWS 20 PRECEDING) equals the aggregate over each frame (theta, 1e-12)');

-- --------------------------------------------------------------------------
-- Monitoring: one Bernoulli experiment with decisions spread over 10 hours
-- --------------------------------------------------------------------------

SELECT bandit_create('mon', ARRAY['a', 'b', 'c']) IS NOT NULL AS created \gset
SELECT pg_temp.play('mon', 600, ARRAY[0.2, 0.5, 0.6]) IS NULL AS played \gset
-- spread the log over ten hours (test data): decision k at 09:00 UTC two days ago + k minutes
SELECT to_timestamp(floor(extract(epoch FROM now()) / 86400) * 86400 - 2 * 86400) AS day0 \gset
UPDATE bandit.decision d SET decided_at = (:'day0'::timestamptz + interval '9 hours') + (d.id - m.first) * interval '1 minute'
  FROM (SELECT min(id) AS first FROM bandit.decision WHERE experiment_id = pg_temp.eid('mon')) m
 WHERE d.experiment_id = pg_temp.eid('mon');

-- bucket start by epoch arithmetic (date_bin aligned on 2000-01-01 UTC is the same for whole hours)
CREATE TEMP TABLE direct_timeline AS
SELECT to_timestamp(floor(extract(epoch FROM d.decided_at) / 3600) * 3600) AS b, a.name AS arm,
       count(*) AS decisions, count(r.reward) AS rewards, avg(r.reward) AS mean_reward
  FROM bandit.decision d JOIN bandit.arm a USING (experiment_id, arm_id)
  LEFT JOIN bandit.reward r ON r.decision_id = d.id
 WHERE d.experiment_id = pg_temp.eid('mon') GROUP BY 1, 2;
SELECT set_eq($$ SELECT bucket_start, arm, decisions, rewards, mean_reward FROM bandit_timeline('mon', '1 hour') $$,
              $$ SELECT bs.b, x.name, coalesce(t.decisions, 0) AS decisions, coalesce(t.rewards, 0) AS rewards, t.mean_reward
                   FROM (SELECT DISTINCT b FROM direct_timeline) bs
                  CROSS JOIN (SELECT name FROM bandit.arm WHERE experiment_id = pg_temp.eid('mon')) x
                   LEFT JOIN direct_timeline t ON t.b = bs.b AND t.arm = x.name $$,
              'bandit_timeline: decisions, rewards and mean reward per hour and arm, as counted directly');
SELECT is((SELECT count(DISTINCT bucket_start) FROM bandit_timeline('mon', '1 hour')), 10::bigint,
          'bandit_timeline: 600 decisions a minute apart from 09:00 fill ten hourly buckets');
SELECT ok((SELECT bool_and(abs(s - 1) <= 1e-12) FROM (SELECT sum(share) AS s FROM bandit_timeline('mon', '1 hour')
                                                      GROUP BY bucket_start) x)
          AND (SELECT bool_and(share = decisions::float8 / 60) FROM bandit_timeline('mon', '1 hour')),
          'bandit_timeline: share = decisions / decisions of the bucket (60 a bucket here), summing to 1');
SELECT is((SELECT array_agg(DISTINCT bucket_start ORDER BY bucket_start) FROM bandit_timeline('mon', '1 day')),
          ARRAY[:'day0'::timestamptz], 'bandit_timeline: day buckets start at midnight UTC');

-- regret with the current posteriors: pulls(arm) x (best mean - mean(arm)), means from alpha / (alpha + beta)
CREATE TEMP TABLE arm_means AS
SELECT p.arm_id, pg_temp.field(p.beta::text, 'alpha') / (pg_temp.field(p.beta::text, 'alpha') + pg_temp.field(p.beta::text, 'beta')) AS m
  FROM bandit.arm_posteriors('mon') p;
CREATE TEMP TABLE direct_regret AS
SELECT to_timestamp(floor(extract(epoch FROM d.decided_at) / 3600) * 3600) AS b, count(*) AS n,
       sum((SELECT max(m) FROM arm_means) - am.m) AS loss
  FROM bandit.decision d JOIN arm_means am USING (arm_id)
 WHERE d.experiment_id = pg_temp.eid('mon') GROUP BY 1;
SELECT ok((SELECT count(*) = 10 AND bool_and(g.decisions = d.n AND abs(g.regret - d.loss) <= 1e-12 * greatest(d.loss, 1)
                                             AND abs(g.cumulative_regret - (SELECT sum(loss) FROM direct_regret x WHERE x.b <= d.b))
                                                 <= 1e-12 * greatest(g.cumulative_regret, 1))
             FROM bandit_regret('mon') g JOIN direct_regret d ON d.b = g.bucket_start),
          'bandit_regret (default bucket 1 hour): per bucket and cumulative, against pulls x (best mean - arm mean) (1e-12)');
SELECT ok((SELECT bool_and(regret >= 0) AND count(*) = 6 AND sum(decisions) = 600
                  AND abs(max(cumulative_regret) - (SELECT sum(loss) FROM direct_regret)) <= 1e-12 * max(cumulative_regret)
             FROM bandit_regret('mon', '2 hours')),
          'bandit_regret: 2-hour buckets from 08:00 (six), the same total; regret is never negative');
SELECT bandit_create('mon_ctx', ARRAY['p', 'q'], 'linucb', '{"context_dim": 2}') IS NOT NULL AS created \gset
SELECT throws_ok($$ SELECT * FROM bandit_regret('mon_ctx') $$, '0A000',
                 'bandit_regret does not support contextual experiments', 'bandit_regret of a contextual experiment is 0A000');

-- drift: the decisions from 17:00 on against those before
CREATE TEMP TABLE direct_drift AS
SELECT a.name, avg(r.reward) FILTER (WHERE d.decided_at >= (:'day0'::timestamptz + interval '17 hours')) AS recent,
       avg(r.reward) FILTER (WHERE d.decided_at < (:'day0'::timestamptz + interval '17 hours')) AS earlier
  FROM bandit.decision d JOIN bandit.arm a USING (experiment_id, arm_id) JOIN bandit.reward r ON r.decision_id = d.id
 WHERE d.experiment_id = pg_temp.eid('mon') GROUP BY a.name;
SELECT ok((SELECT count(*) = 3 AND bool_and(f.recent_mean IS NOT DISTINCT FROM d.recent
                                            AND f.earlier_mean IS NOT DISTINCT FROM d.earlier)
             FROM bandit_drift('mon', now() - (:'day0'::timestamptz + interval '17 hours')) f JOIN direct_drift d ON d.name = f.arm),
          'bandit_drift: recent and earlier mean rewards per arm, as averaged directly');
SELECT ok((SELECT bool_and(p_value > 0 AND p_value <= 1) FROM bandit_drift('mon', now() - (:'day0'::timestamptz + interval '17 hours'))
            WHERE recent_mean IS NOT NULL AND earlier_mean IS NOT NULL),
          'bandit_drift: p-values in (0, 1] where both samples have rewards');
SELECT is((SELECT array_agg(p_value IS NULL ORDER BY arm) FROM bandit_drift('mon', '1 second')),
          ARRAY[true, true, true], 'bandit_drift: no recent rewards: p_value NULL');

-- SRM: which decisions count
SELECT ok((SELECT arms = 3 AND decisions = 600 AND p_value > 0 AND p_value <= 1 AND chi_square >= 0 FROM bandit_srm('mon')),
          'bandit_srm: 3 arms, 600 policy decisions, a chi-square and a p-value');
SELECT bandit_pause('mon', 'a') IS NULL AS paused \gset
SELECT pg_temp.play('mon', 30, ARRAY[0.2, 0.5, 0.6]) IS NULL AS played \gset
SELECT bandit_resume('mon') IS NULL AS resumed \gset
SELECT is((SELECT decisions FROM bandit_srm('mon')), 600::bigint, 'bandit_srm leaves out paused decisions');
SELECT bandit_create('mon_one', ARRAY['only']) IS NOT NULL AS created \gset
SELECT pg_temp.play('mon_one', 20, ARRAY[0.5]) IS NULL AS played \gset
SELECT is((SELECT (arms, decisions, chi_square, p_value)::text FROM bandit_srm('mon_one')), '(0,0,,)',
          'bandit_srm: decisions with propensity 1 carry no randomness: none counted, no statistic');
SELECT throws_ok($$ SELECT * FROM bandit_srm('mon_ctx') $$, '0A000',
                 'bandit_srm does not support contextual experiments', 'bandit_srm of a contextual experiment is 0A000');
SELECT bandit_create('mon_empty', ARRAY['x', 'y']) IS NOT NULL AS created \gset
SELECT is((SELECT (arms, decisions, chi_square, p_value)::text FROM bandit_srm('mon_empty')), '(0,0,,)',
          'bandit_srm of an experiment without decisions: no statistic');

-- --------------------------------------------------------------------------
-- Errors and privileges of the monitoring functions
-- --------------------------------------------------------------------------

SELECT throws_ok($$ SELECT * FROM bandit_srm(NULL) $$, '22004', 'experiment must not be NULL', 'bandit_srm(NULL) is 22004');
SELECT throws_ok($$ SELECT * FROM bandit_srm('nope') $$, '42704', 'experiment "nope" does not exist', 'bandit_srm of an unknown experiment is 42704');
SELECT throws_ok($$ SELECT * FROM bandit_timeline(NULL, '1 hour') $$, '22004', 'experiment must not be NULL', 'bandit_timeline(NULL, ...) is 22004');
SELECT throws_ok($$ SELECT * FROM bandit_timeline('mon', NULL) $$, '22004', 'bucket must not be NULL', 'bandit_timeline(..., NULL) is 22004');
SELECT throws_ok($$ SELECT * FROM bandit_timeline('nope', '1 hour') $$, '42704', 'experiment "nope" does not exist', 'bandit_timeline of an unknown experiment is 42704');
SELECT throws_ok($$ SELECT * FROM bandit_timeline('mon', '0') $$, '22023',
                 'bucket must be a positive interval without months or years', 'a zero bucket is 22023');
SELECT throws_ok($$ SELECT * FROM bandit_timeline('mon', '-1 hour') $$, '22023',
                 'bucket must be a positive interval without months or years', 'a negative bucket is 22023');
SELECT throws_ok($$ SELECT * FROM bandit_regret('mon', '1 month') $$, '22023',
                 'bucket must be a positive interval without months or years', 'a bucket of months is 22023');
SELECT throws_ok($$ SELECT * FROM bandit_regret(NULL) $$, '22004', 'experiment must not be NULL', 'bandit_regret(NULL) is 22004');
SELECT throws_ok($$ SELECT * FROM bandit_regret('nope') $$, '42704', 'experiment "nope" does not exist', 'bandit_regret of an unknown experiment is 42704');
SELECT throws_ok($$ SELECT * FROM bandit_drift(NULL, '1 hour') $$, '22004', 'experiment must not be NULL', 'bandit_drift(NULL, ...) is 22004');
SELECT throws_ok($$ SELECT * FROM bandit_drift('mon', NULL) $$, '22004', 'recent must not be NULL', 'bandit_drift(..., NULL) is 22004');
SELECT throws_ok($$ SELECT * FROM bandit_drift('nope', '1 hour') $$, '42704', 'experiment "nope" does not exist', 'bandit_drift of an unknown experiment is 42704');
SELECT throws_ok($$ SELECT * FROM bandit_drift('mon', '-1 day') $$, '22023', 'recent must be a positive interval', 'a negative recent interval is 22023');

SELECT is((SELECT count(*) FROM pg_proc p
            WHERE p.oid IN ('bandit_srm(text)'::regprocedure, 'bandit_timeline(text, interval)'::regprocedure,
                            'bandit_regret(text, interval)'::regprocedure, 'bandit_drift(text, interval)'::regprocedure)
              AND p.provolatile = 's' AND p.prosecdef AND NOT p.proisstrict AND p.proparallel = 'r'
              AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp']
              AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
              AND has_function_privilege('bandit_analyst', p.oid, 'EXECUTE')
              AND NOT has_function_privilege('bandit_app', p.oid, 'EXECUTE')),
          4::bigint, 'the four: STABLE SECURITY DEFINER, search_path pinned, EXECUTE for bandit_analyst (and admin) only');
CREATE ROLE tap_values_analyst IN ROLE bandit_analyst;
CREATE ROLE tap_values_app IN ROLE bandit_app;
SET LOCAL ROLE tap_values_analyst;
SELECT lives_ok($$ SELECT * FROM bandit_srm('mon'); SELECT * FROM bandit_timeline('mon', '1 hour');
                   SELECT * FROM bandit_regret('mon'); SELECT * FROM bandit_drift('mon', '1 hour') $$,
                'a bandit_analyst calls all four');
RESET ROLE;
SET LOCAL ROLE tap_values_app;
SELECT throws_ok($$ SELECT * FROM bandit_srm('mon') $$, '42501', NULL, 'a bandit_app may not call bandit_srm');
SELECT throws_ok($$ SELECT * FROM bandit_drift('mon', '1 hour') $$, '42501', NULL, 'a bandit_app may not call bandit_drift');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
