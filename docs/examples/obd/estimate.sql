-- estimate.sql: off-policy evaluation on the Open Bandit Dataset (docs/obd.md).
--
-- Estimates, from the uniform-random policy's logs, the click-through rate
-- of the Bernoulli Thompson sampling (BTS) policy with the bandit
-- extension's seven estimators, and compares each with BTS's on-policy CTR
-- measured in its own logs, as Saito et al. (arXiv:2008.07146) do.
--
--   bash docs/examples/obd/load_obd.sh /path/to/obd obd     # once
--   psql -X -q -d obd -f docs/examples/obd/estimate.sql
--
-- Settings (psql -v name=value), with their defaults:
--   cap=5        the cap on the importance weight of ope_clipped_ips
--   tau=5        the weight beyond which ope_switch_dr uses the model only
--   strength=50  prior strength (pseudo-impressions) of the reward model
--   boot=200     bootstrap resamples of the random log (0: skip that part)
--   seed=0.5     setseed() for the bootstrap, in [-1, 1]
--
-- Everything it creates is temporary: obd_log is only read.

\set ON_ERROR_STOP on
\if :{?cap}      \else \set cap 5       \endif
\if :{?tau}      \else \set tau 5       \endif
\if :{?strength} \else \set strength 50 \endif
\if :{?boot}     \else \set boot 200    \endif
\if :{?seed}     \else \set seed 0.5    \endif

DO $$
BEGIN
    IF to_regclass('obd_log') IS NULL THEN
        RAISE EXCEPTION 'table obd_log not found'
            USING HINT = 'Load the data first: bash docs/examples/obd/load_obd.sh /path/to/obd DATABASE';
    END IF;
END
$$;

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bandit;
\pset footer off

-- ---------------------------------------------------------------------------
-- 1. The evaluation policy pi_e(item | campaign, position): how often BTS
--    showed each item at each position, over the whole week of its log.
--    (Items BTS never showed at a position get probability 0.)
-- ---------------------------------------------------------------------------
DROP TABLE IF EXISTS pi_e;
CREATE TEMPORARY TABLE pi_e AS
SELECT campaign, position, item_id,
       count(*)::float8 / sum(count(*)) OVER (PARTITION BY campaign, position) AS prob
FROM obd_log
WHERE policy = 'bts'
GROUP BY campaign, position, item_id;
ANALYZE pi_e;

-- ---------------------------------------------------------------------------
-- 2. The reward model q(item, position), fitted on the random log only and
--    cross-fitted in two folds by row_id parity: fold k's model is fitted on
--    the rows of fold k and scores the rows of the other fold.  Each cell's
--    click rate is shrunk towards the fold's overall CTR by a Beta prior
--    worth :strength impressions:
--        q = (clicks + strength * ctr0) / (impressions + strength)
--    Cells with no impressions get ctr0.
-- ---------------------------------------------------------------------------
DROP TABLE IF EXISTS reward_model;
CREATE TEMPORARY TABLE reward_model AS
WITH rnd AS (
    SELECT campaign, row_id % 2 AS fold, position, item_id, click
    FROM obd_log WHERE policy = 'random'
), prior AS (              -- ctr0: the training fold's overall click rate
    SELECT campaign, fold, avg(click)::float8 AS ctr0 FROM rnd GROUP BY campaign, fold
), cells AS (              -- every (item, position) of the campaign, per fold
    SELECT p.campaign, p.fold, pos.position, i.item_id, p.ctr0
    FROM prior p
    CROSS JOIN generate_series(1, 3) AS pos(position)
    JOIN (SELECT DISTINCT campaign, item_id FROM rnd) i USING (campaign)
), counts AS (
    SELECT campaign, fold, position, item_id, count(*) AS n, sum(click) AS clicks
    FROM rnd GROUP BY campaign, fold, position, item_id
)
SELECT c.campaign, c.fold AS train_fold, c.position, c.item_id,
       (coalesce(k.clicks, 0) + :strength * c.ctr0)
         / (coalesce(k.n, 0) + :strength) AS q
FROM cells c
LEFT JOIN counts k USING (campaign, fold, position, item_id);
ANALYZE reward_model;

-- v_target per training fold and position: the model's value of pi_e,
-- sum over items a of pi_e(a | p) * q(a, p).
DROP TABLE IF EXISTS model_value;
CREATE TEMPORARY TABLE model_value AS
SELECT m.campaign, m.train_fold, m.position, sum(coalesce(e.prob, 0) * m.q) AS v
FROM reward_model m
LEFT JOIN pi_e e USING (campaign, position, item_id)
GROUP BY m.campaign, m.train_fold, m.position;
ANALYZE model_value;

-- ---------------------------------------------------------------------------
-- 3. One row per random-log impression, with what the estimators read:
--    target_prob  = pi_e(logged item | position)
--    logging_prob = the logged propensity_score (1/34 men, 1/46 women)
--    q_logged, v_target from the model of the OTHER fold.
--    (day is not read here; docs/obd.md uses it for a per-day pi_e.)
-- ---------------------------------------------------------------------------
DROP TABLE IF EXISTS ope_rows;
CREATE TEMPORARY TABLE ope_rows AS
SELECT r.campaign, r.row_id, (r.ts AT TIME ZONE 'UTC')::date AS day, r.position, r.item_id,
       r.click::float8             AS reward,
       coalesce(e.prob, 0)          AS target_prob,
       r.propensity                AS logging_prob,
       m.q                         AS q_logged,
       v.v                         AS v_target
FROM obd_log r
LEFT JOIN pi_e e USING (campaign, position, item_id)
JOIN reward_model m ON m.campaign = r.campaign AND m.train_fold = 1 - r.row_id % 2
                   AND m.position = r.position AND m.item_id = r.item_id
JOIN model_value v ON v.campaign = r.campaign AND v.train_fold = 1 - r.row_id % 2
                  AND v.position = r.position
WHERE r.policy = 'random';
ANALYZE ope_rows;

-- ---------------------------------------------------------------------------
-- 4. The ground truth: BTS's on-policy CTR in its own log, with a 95%
--    normal interval; the random policy's own CTR beside it.
-- ---------------------------------------------------------------------------
DROP TABLE IF EXISTS on_policy;
CREATE TEMPORARY TABLE on_policy AS
SELECT campaign, count(*) AS n, sum(click) AS clicks,
       avg(click)::float8 AS ctr,
       sqrt(avg(click) * (1 - avg(click)) / count(*))::float8 AS se
FROM obd_log WHERE policy = 'bts' GROUP BY campaign;

\echo
\echo 'The evaluation policy pi_e (BTS action frequencies): support and largest weight pi_e / pi_b'
SELECT e.campaign, e.position, count(*) AS items_shown,
       round(max(e.prob)::numeric, 4) AS max_prob,
       round(max(e.prob / r.propensity)::numeric, 2) AS max_weight,
       round((1 / sum(e.prob ^ 2))::numeric, 1) AS effective_items
FROM pi_e e
JOIN (SELECT DISTINCT campaign, propensity FROM obd_log WHERE policy = 'random') r USING (campaign)
GROUP BY e.campaign, e.position ORDER BY 1, 2;

\echo 'On-policy CTR of BTS (ground truth) and of the random policy, in %'
SELECT o.campaign, o.n AS bts_rows, o.clicks AS bts_clicks,
       round(100 * o.ctr::numeric, 3) AS bts_ctr,
       round(100 * (o.ctr - 1.959964 * o.se)::numeric, 3) AS ci_low,
       round(100 * (o.ctr + 1.959964 * o.se)::numeric, 3) AS ci_high,
       round(100 * avg(r.reward)::numeric, 3) AS random_ctr
FROM on_policy o JOIN ope_rows r USING (campaign)
GROUP BY o.campaign, o.n, o.clicks, o.ctr, o.se ORDER BY 1;

-- ---------------------------------------------------------------------------
-- 5. The seven estimators, one aggregate each, per campaign.
-- ---------------------------------------------------------------------------
DROP TABLE IF EXISTS ope_results;
CREATE TEMPORARY TABLE ope_results AS
SELECT campaign, x.estimator, x.ord, (x.e).*
FROM (
    SELECT campaign,
           ope_ips(reward, target_prob, logging_prob)                              AS ips,
           ope_snips(reward, target_prob, logging_prob)                            AS snips,
           ope_clipped_ips(reward, target_prob, logging_prob, :cap)                AS clipped_ips,
           ope_dm(v_target)                                                        AS dm,
           ope_dr(reward, target_prob, logging_prob, q_logged, v_target)           AS dr,
           ope_sndr(reward, target_prob, logging_prob, q_logged, v_target)         AS sndr,
           ope_switch_dr(reward, target_prob, logging_prob, q_logged, v_target, :tau) AS switch_dr
    FROM ope_rows GROUP BY campaign
) a
CROSS JOIN LATERAL (VALUES
    (1, 'ips', a.ips), (2, 'snips', a.snips),
    (3, 'clipped_ips (cap ' || :cap || ')', a.clipped_ips), (4, 'dm', a.dm),
    (5, 'dr', a.dr), (6, 'sndr', a.sndr),
    (7, 'switch_dr (tau ' || :tau || ')', a.switch_dr)
) AS x(ord, estimator, e);

\echo 'Off-policy estimates of the BTS CTR from the random log, in %, against the on-policy CTR'
\echo '(rel_error = |estimate - on_policy| / on_policy; covered: on-policy CTR inside the 95% CI;'
\echo ' z = (estimate - on_policy) / sqrt(se^2 + se_on_policy^2), the two logs being independent)'
SELECT r.campaign, r.estimator,
       round(100 * r.estimate::numeric, 3) AS estimate,
       round(100 * r.ci_low::numeric, 3)   AS ci_low,
       round(100 * r.ci_high::numeric, 3)  AS ci_high,
       round(r.ess::numeric, 0)            AS ess,
       round(r.max_weight::numeric, 2)     AS max_w,
       round(100 * o.ctr::numeric, 3)      AS on_policy,
       round((abs(r.estimate - o.ctr) / o.ctr)::numeric, 3) AS rel_error,
       o.ctr BETWEEN r.ci_low AND r.ci_high AS covered,
       round(((r.estimate - o.ctr) / sqrt(r.stderr ^ 2 + o.se ^ 2))::numeric, 2) AS z
FROM ope_results r JOIN on_policy o USING (campaign)
ORDER BY r.campaign, r.ord;

-- ---------------------------------------------------------------------------
-- 6. The paper's way: relative estimation error over bootstrap resamples of
--    the random log (resampled rows keep their row_id, so copies of a row
--    stay in one fold and cross-fitting still never scores a row with a
--    model that saw it); the reward model is refitted on each resample,
--    pi_e and the on-policy CTR stay fixed.  Reported: the mean relative
--    error and its 2.5% and 97.5% percentiles over the resamples.
-- ---------------------------------------------------------------------------
SELECT :boot > 0 AS run_bootstrap \gset
\if :run_bootstrap
SET max_parallel_workers_per_gather = 0;   -- one process: the draws are reproducible
SET work_mem = '64MB';                     -- hash joins over 4 million rows,
SET enable_mergejoin = off;                -- not sorts of them on disk
SELECT setseed(:seed) AS seeded \gset

DROP TABLE IF EXISTS boot_rows;
CREATE TEMPORARY TABLE boot_rows AS
WITH rnd AS (
    SELECT campaign, row_id, position, item_id, click, propensity,
           (row_number() OVER (PARTITION BY campaign ORDER BY row_id) - 1)::int AS rn,
           count(*) OVER (PARTITION BY campaign) AS n
    FROM obd_log WHERE policy = 'random'
), draws AS (              -- n draws with replacement per campaign and resample
    SELECT c.campaign, b, floor(random() * c.n)::int AS rn
    FROM (SELECT DISTINCT campaign, n FROM rnd) c
    CROSS JOIN generate_series(1, :boot) AS b
    CROSS JOIN LATERAL generate_series(1, c.n) AS i
)
SELECT d.b, r.campaign,
       r.row_id % 2 AS fold,              -- the fold this row trains
       1 - r.row_id % 2 AS model_fold,    -- the fold whose model scores it
       r.position, r.item_id,
       r.click::float8 AS reward, r.propensity AS logging_prob
FROM draws d JOIN rnd r USING (campaign, rn);
ANALYZE boot_rows;

DROP TABLE IF EXISTS boot_model;
CREATE TEMPORARY TABLE boot_model AS
WITH prior AS (
    SELECT b, campaign, fold, avg(reward) AS ctr0 FROM boot_rows GROUP BY b, campaign, fold
), counts AS (
    SELECT b, campaign, fold, position, item_id, count(*) AS n, sum(reward) AS clicks
    FROM boot_rows GROUP BY b, campaign, fold, position, item_id
)
SELECT p.b, p.campaign, p.fold AS train_fold, pos.position, i.item_id,
       (coalesce(k.clicks, 0) + :strength * p.ctr0) / (coalesce(k.n, 0) + :strength) AS q
FROM prior p
CROSS JOIN generate_series(1, 3) AS pos(position)
JOIN (SELECT DISTINCT campaign, item_id FROM obd_log WHERE policy = 'random') i USING (campaign)
LEFT JOIN counts k ON k.b = p.b AND k.campaign = p.campaign AND k.fold = p.fold
                  AND k.position = pos.position AND k.item_id = i.item_id;
ANALYZE boot_model;

DROP TABLE IF EXISTS boot_value;
CREATE TEMPORARY TABLE boot_value AS
SELECT m.b, m.campaign, m.train_fold, m.position, sum(coalesce(e.prob, 0) * m.q) AS v
FROM boot_model m LEFT JOIN pi_e e USING (campaign, position, item_id)
GROUP BY m.b, m.campaign, m.train_fold, m.position;
ANALYZE boot_value;

DROP TABLE IF EXISTS boot_results;
CREATE TEMPORARY TABLE boot_results AS
SELECT b, campaign, x.ord, x.estimator, (x.e).estimate
FROM (
    SELECT r.b, r.campaign,
           ope_ips(r.reward, coalesce(e.prob, 0), r.logging_prob)                 AS ips,
           ope_snips(r.reward, coalesce(e.prob, 0), r.logging_prob)               AS snips,
           ope_clipped_ips(r.reward, coalesce(e.prob, 0), r.logging_prob, :cap)   AS clipped_ips,
           ope_dm(v.v)                                                            AS dm,
           ope_dr(r.reward, coalesce(e.prob, 0), r.logging_prob, m.q, v.v)        AS dr,
           ope_sndr(r.reward, coalesce(e.prob, 0), r.logging_prob, m.q, v.v)      AS sndr,
           ope_switch_dr(r.reward, coalesce(e.prob, 0), r.logging_prob, m.q, v.v, :tau) AS switch_dr
    FROM boot_rows r
    LEFT JOIN pi_e e USING (campaign, position, item_id)
    JOIN boot_model m ON m.b = r.b AND m.campaign = r.campaign AND m.train_fold = r.model_fold
                     AND m.position = r.position AND m.item_id = r.item_id
    JOIN boot_value v ON v.b = r.b AND v.campaign = r.campaign AND v.train_fold = r.model_fold
                     AND v.position = r.position
    GROUP BY r.b, r.campaign
) a
CROSS JOIN LATERAL (VALUES
    (1, 'ips', a.ips), (2, 'snips', a.snips),
    (3, 'clipped_ips (cap ' || :cap || ')', a.clipped_ips), (4, 'dm', a.dm),
    (5, 'dr', a.dr), (6, 'sndr', a.sndr),
    (7, 'switch_dr (tau ' || :tau || ')', a.switch_dr)
) AS x(ord, estimator, e);
RESET max_parallel_workers_per_gather;
RESET work_mem;
RESET enable_mergejoin;

\echo 'Relative estimation error over' :boot 'bootstrap resamples of the random log'
\echo '(mean, and 2.5% / 97.5% percentiles; boot_sd: the spread of the estimate over the resamples,'
\echo ' beside stderr, the delta-method standard error the aggregate reported on the full log; in %)'
SELECT r.campaign, r.estimator, count(*) AS resamples,
       round(avg(abs(r.estimate - o.ctr) / o.ctr)::numeric, 3) AS mean_rel_error,
       round(percentile_cont(0.025) WITHIN GROUP (ORDER BY abs(r.estimate - o.ctr) / o.ctr)::numeric, 3) AS p2_5,
       round(percentile_cont(0.975) WITHIN GROUP (ORDER BY abs(r.estimate - o.ctr) / o.ctr)::numeric, 3) AS p97_5,
       round(100 * stddev_samp(r.estimate)::numeric, 4) AS boot_sd,
       round(100 * f.stderr::numeric, 4) AS stderr
FROM boot_results r
JOIN on_policy o USING (campaign)
JOIN ope_results f ON f.campaign = r.campaign AND f.ord = r.ord
GROUP BY r.campaign, r.ord, r.estimator, f.stderr
ORDER BY r.campaign, r.ord;
\endif
