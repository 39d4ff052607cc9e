-- bandit 0.3.0 -> 0.4.0: online rewards in per-backend slots (the hot arm).
\echo Use "ALTER EXTENSION bandit UPDATE TO '0.4.0'" to load this file. \quit

-- Online rewards of non-contextual experiments: one row per experiment and
-- backend slot (the backend's id modulo 16), holding per-arm sums that are
-- added to the arm rows' posteriors when they are read, and folded into them
-- by bandit_refresh.  Sessions rewarding one arm update different rows, so
-- they do not wait for each other's commits (the hot arm).
CREATE TABLE bandit.reward_slot (
    experiment_id bigint NOT NULL REFERENCES bandit.experiment (id) ON DELETE CASCADE,
    slot        int NOT NULL CHECK (slot >= 0),
    version     bigint NOT NULL CHECK (version > 0),
    stats       float8[] NOT NULL,
    PRIMARY KEY (experiment_id, slot)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
COMMENT ON TABLE bandit.reward_slot IS 'online rewards not yet folded into bandit.arm: per-arm sums, one row per experiment and backend slot';

SELECT pg_catalog.pg_extension_config_dump('bandit.reward_slot', '');

-- Internal: called by the API functions (which run as the extension's owner),
-- not by users; schema bandit is closed to PUBLIC and so are they.
CREATE FUNCTION bandit.reward_slot_add(stats float8[], arm_id int, reward float8, propensity float8)
    RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_reward_slot_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.reward_slot_add(float8[], int, float8, float8) IS 'internal: add one online reward to a reward slot''s per-arm sums';
CREATE FUNCTION bandit.arm_posteriors(experiment text)
    RETURNS TABLE (arm_id int, beta beta_posterior, normal normal_posterior)
    AS 'MODULE_PATHNAME', 'bandit_arm_posteriors' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;
COMMENT ON FUNCTION bandit.arm_posteriors(text) IS 'internal: each arm''s current posterior (the arm row plus its unfolded online rewards)';
REVOKE ALL ON FUNCTION bandit.reward_slot_add(float8[], int, float8, float8),
    bandit.arm_posteriors(text) FROM PUBLIC;

-- bandit_arm_stats reads the posteriors with their unfolded online rewards,
-- and counts late rewards apart (a new column: the function is re-created).
DROP FUNCTION bandit_arm_stats(text);
CREATE FUNCTION bandit_arm_stats(experiment text)
    RETURNS TABLE (arm text, enabled boolean, pulls bigint, rewarded bigint, reward_sum float8,
                   mean float8, ci_low float8, ci_high float8, prob_best float8, late bigint)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    eid bigint;
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'experiment must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT e.id INTO eid FROM bandit.experiment e WHERE e.name = experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    WITH arms AS (
        -- posteriors with the online rewards not yet folded into bandit.arm
        SELECT a.arm_id, a.name, a.enabled, p.beta, p.normal,
               row_number() OVER (PARTITION BY a.enabled ORDER BY a.arm_id) AS enabled_rank
          FROM bandit.arm a JOIN bandit.arm_posteriors(experiment) p ON p.arm_id = a.arm_id
         WHERE a.experiment_id = eid
    ), best AS (
        -- one of the two columns is NULL on every arm; aggregate only the other
        SELECT COALESCE(@extschema@.posterior_prob_best(
                            array_agg(x.beta ORDER BY x.arm_id) FILTER (WHERE x.beta IS NOT NULL)),
                        @extschema@.posterior_prob_best(
                            array_agg(x.normal ORDER BY x.arm_id) FILTER (WHERE x.normal IS NOT NULL))) AS p
          FROM arms x WHERE x.enabled
    ), pulls AS (
        SELECT d.arm_id, count(*) AS n FROM bandit.decision d
         WHERE d.experiment_id = eid GROUP BY d.arm_id
    ), rewards AS (
        -- rewards later than the experiment's reward_window are not folded: counted apart
        SELECT r.arm_id, count(*) FILTER (WHERE NOT r.late) AS n,
               sum(r.reward) FILTER (WHERE NOT r.late) AS total,
               count(*) FILTER (WHERE r.late) AS late
          FROM bandit.reward r
         WHERE r.experiment_id = eid GROUP BY r.arm_id
    )
    SELECT a.name, a.enabled,
           COALESCE(p.n, 0), COALESCE(r.n, 0), COALESCE(r.total, 0),
           r.total / NULLIF(r.n, 0),
           ci.bounds[1], ci.bounds[2],
           CASE WHEN a.enabled THEN (SELECT b.p[a.enabled_rank] FROM best b) ELSE 0 END,
           COALESCE(r.late, 0)
      FROM arms a
      LEFT JOIN pulls p ON p.arm_id = a.arm_id
      LEFT JOIN rewards r ON r.arm_id = a.arm_id
      CROSS JOIN LATERAL (
          SELECT COALESCE(@extschema@.posterior_interval(a.beta, 0.95),
                          @extschema@.posterior_interval(a.normal, 0.95)) AS bounds) ci
     ORDER BY a.arm_id;
END
$$;
REVOKE ALL ON FUNCTION bandit_arm_stats(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bandit_arm_stats(text) TO bandit_analyst;

-- ===========================================================================
-- Running experiments safely: pause, guardrails, events
-- ===========================================================================

-- While an experiment is paused every decision is its paused_arm (an arm_id
-- of the experiment), with propensity 1, logged with kind 'paused'.
ALTER TABLE bandit.experiment ADD COLUMN paused_arm int CHECK (paused_arm > 0);
COMMENT ON COLUMN bandit.experiment.paused_arm IS 'the arm every decision serves while the experiment is paused (bandit_pause), else NULL';
-- posteriors that forget (half_life, window) are as of the last refresh
ALTER TABLE bandit.experiment ADD COLUMN state_time timestamptz;
COMMENT ON COLUMN bandit.experiment.state_time IS 'half_life and window: the time the arms'' posteriors were last recomputed for (bandit_refresh), else NULL';
ALTER TABLE bandit.decision ADD COLUMN kind text NOT NULL DEFAULT 'policy'
    CHECK (kind IN ('policy', 'paused', 'repeat'));
COMMENT ON COLUMN bandit.decision.kind IS 'policy: drawn from the policy; paused: the paused experiment''s default arm (propensity 1); repeat: a sticky unit''s earlier arm';
ALTER TABLE bandit.reward ADD COLUMN late boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN bandit.reward.late IS 'true: the reward came after decided_at + the experiment''s reward_window and was not folded';

-- Every change of an experiment, kept after the experiment is dropped (no
-- foreign key), in the order made.
CREATE SEQUENCE bandit.event_id_seq;
CREATE TABLE bandit.event (
    id              bigint PRIMARY KEY DEFAULT nextval('bandit.event_id_seq'),
    experiment_id   bigint NOT NULL,
    experiment_name text NOT NULL,
    at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    who             text NOT NULL DEFAULT SESSION_USER,
    what            text NOT NULL CHECK (what IN ('created', 'arm added', 'arm enabled', 'arm disabled',
                                                  'paused', 'resumed', 'guardrail set',
                                                  'guardrail tripped', 'dropped')),
    arm             text,
    why             text
);
ALTER SEQUENCE bandit.event_id_seq OWNED BY bandit.event.id;
CREATE INDEX event_experiment_name_idx ON bandit.event (experiment_name, id);
-- bandit_srm reads an experiment's arm changes by id
CREATE INDEX event_experiment_id_idx ON bandit.event (experiment_id, id);
COMMENT ON TABLE bandit.event IS 'every change of every experiment: when, who (session user), what, why';
SELECT pg_catalog.pg_extension_config_dump('bandit.event', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.event_id_seq', '');

-- the log view shows how each decision was made, and which rewards came late
CREATE OR REPLACE VIEW bandit_log AS
SELECT e.name AS experiment, d.id AS decision_id, a.name AS arm, d.propensity, d.context,
       d.unit, r.reward, d.decided_at, r.rewarded_at, d.kind, r.late
  FROM bandit.decision d
  JOIN bandit.experiment e ON e.id = d.experiment_id
  JOIN bandit.arm a ON a.experiment_id = d.experiment_id AND a.arm_id = d.arm_id
  LEFT JOIN bandit.reward r ON r.decision_id = d.id;

CREATE FUNCTION bandit_pause(experiment text, default_arm text) RETURNS void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION bandit_pause(text, text) IS 'serve default_arm to every decision (propensity 1, kind paused) until bandit_resume';
CREATE FUNCTION bandit_resume(experiment text) RETURNS void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION bandit_resume(text) IS 'end a pause: decisions come from the policy again';
CREATE FUNCTION bandit_set_guardrail(experiment text, min_reward float8, min_pulls bigint,
                                     confidence float8 DEFAULT 0.95) RETURNS void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION bandit_set_guardrail(text, float8, bigint, float8) IS 'disable an arm automatically once, after min_pulls rewards, its upper posterior bound at confidence is below min_reward';

CREATE FUNCTION bandit_events(experiment text)
    RETURNS TABLE (at timestamptz, who text, what text, arm text, why text)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'experiment must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM bandit.event e WHERE e.experiment_name = experiment)
       AND NOT EXISTS (SELECT 1 FROM bandit.experiment x WHERE x.name = experiment) THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT e.at, e.who, e.what, e.arm, e.why FROM bandit.event e
     WHERE e.experiment_name = experiment ORDER BY e.id;
END
$$;
COMMENT ON FUNCTION bandit_events(text) IS 'the changes of an experiment (also of earlier ones of that name, dropped), oldest first';

REVOKE ALL ON FUNCTION bandit_pause(text, text), bandit_resume(text),
    bandit_set_guardrail(text, float8, bigint, float8), bandit_events(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bandit_pause(text, text), bandit_resume(text),
    bandit_set_guardrail(text, float8, bigint, float8) TO bandit_admin;
GRANT EXECUTE ON FUNCTION bandit_events(text) TO bandit_analyst;

-- Units and delayed rewards: a reward later than the experiment's
-- reward_window is logged as late and folded nowhere; sticky units and
-- bandit_reward_unit find a unit's decisions by decision_unit_idx.
CREATE INDEX decision_unit_idx ON bandit.decision (experiment_id, unit, id) WHERE unit IS NOT NULL;
-- a sticky unit's arm: its latest policy decision, found without walking its repeats
CREATE INDEX decision_unit_policy_idx ON bandit.decision (experiment_id, unit, id)
    WHERE unit IS NOT NULL AND kind = 'policy';

CREATE FUNCTION bandit_reward_unit(experiment text, unit text, reward float8) RETURNS bigint
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION bandit_reward_unit(text, text, float8) IS 'reward the unit''s latest unrewarded decision inside the reward_window; returns its id, or NULL when there is none';
REVOKE ALL ON FUNCTION bandit_reward_unit(text, text, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bandit_reward_unit(text, text, float8) TO bandit_app;

-- ===========================================================================
-- Posterior values: merge, decay (issue 7)
-- ===========================================================================

-- posterior_merge(p, q): the posterior given the data of both, the prior
-- counted once (the natural parameters of p and q added, the prior's
-- subtracted); also the operator +.  posterior_decay(p, factor): every
-- observation in p weighted by factor in [0, 1], i.e. p moved toward the
-- prior (1: p, 0: the prior); n becomes round(factor * n).  The two-argument
-- forms use the default prior, which the aggregates start from; the
-- three-argument forms take the prior (for experiments with other priors).
CREATE FUNCTION posterior_merge(p beta_posterior, q beta_posterior) RETURNS beta_posterior
    AS 'MODULE_PATHNAME', 'beta_posterior_merge_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_merge(p beta_posterior, q beta_posterior, prior beta_posterior) RETURNS beta_posterior
    AS 'MODULE_PATHNAME', 'beta_posterior_merge_prior_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_merge(p normal_posterior, q normal_posterior) RETURNS normal_posterior
    AS 'MODULE_PATHNAME', 'normal_posterior_merge_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_merge(p normal_posterior, q normal_posterior, prior normal_posterior) RETURNS normal_posterior
    AS 'MODULE_PATHNAME', 'normal_posterior_merge_prior_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_decay(p beta_posterior, factor float8) RETURNS beta_posterior
    AS 'MODULE_PATHNAME', 'beta_posterior_decay_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_decay(p beta_posterior, factor float8, prior beta_posterior) RETURNS beta_posterior
    AS 'MODULE_PATHNAME', 'beta_posterior_decay_prior_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_decay(p normal_posterior, factor float8) RETURNS normal_posterior
    AS 'MODULE_PATHNAME', 'normal_posterior_decay_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_decay(p normal_posterior, factor float8, prior normal_posterior) RETURNS normal_posterior
    AS 'MODULE_PATHNAME', 'normal_posterior_decay_prior_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION posterior_merge(beta_posterior, beta_posterior) IS 'the posterior given the data of both, the default prior Beta(1, 1) counted once';
COMMENT ON FUNCTION posterior_merge(beta_posterior, beta_posterior, beta_posterior) IS 'the posterior given the data of both, their common prior counted once';
COMMENT ON FUNCTION posterior_merge(normal_posterior, normal_posterior) IS 'the posterior given the data of both, the default prior NIG(0, 0.01, 1, 1) counted once';
COMMENT ON FUNCTION posterior_merge(normal_posterior, normal_posterior, normal_posterior) IS 'the posterior given the data of both, their common prior counted once';
COMMENT ON FUNCTION posterior_decay(beta_posterior, float8) IS 'every observation weighted by factor in [0, 1]: toward the default prior Beta(1, 1); n = round(factor * n)';
COMMENT ON FUNCTION posterior_decay(beta_posterior, float8, beta_posterior) IS 'every observation weighted by factor in [0, 1]: toward the given prior';
COMMENT ON FUNCTION posterior_decay(normal_posterior, float8) IS 'every observation weighted by factor in [0, 1]: toward the default prior NIG(0, 0.01, 1, 1); n = round(factor * n)';
COMMENT ON FUNCTION posterior_decay(normal_posterior, float8, normal_posterior) IS 'every observation weighted by factor in [0, 1]: toward the given prior';

CREATE OPERATOR + (
    LEFTARG = beta_posterior, RIGHTARG = beta_posterior,
    FUNCTION = posterior_merge, COMMUTATOR = +
);
CREATE OPERATOR + (
    LEFTARG = normal_posterior, RIGHTARG = normal_posterior,
    FUNCTION = posterior_merge, COMMUTATOR = +
);

-- The posterior aggregates as moving window functions: an inverse transition
-- removes a row when the frame's start moves (beta: from the compensated
-- sums; normal: a shifted-sums state of its own), so
--   beta_posterior_agg(r) OVER (PARTITION BY arm ORDER BY t RANGE '7 days' PRECEDING)
-- costs O(1) per row.  CREATE OR REPLACE keeps everything that depends on
-- the aggregates.
CREATE FUNCTION beta_posterior_agg_inv(internal, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION normal_posterior_agg_mtrans(internal, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION normal_posterior_agg_minv(internal, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION normal_posterior_agg_mfinal(internal) RETURNS normal_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE AGGREGATE beta_posterior_agg(reward float8) (
    SFUNC = beta_posterior_agg_trans,
    STYPE = internal,
    FINALFUNC = beta_posterior_agg_final,
    COMBINEFUNC = beta_posterior_agg_combine,
    SERIALFUNC = beta_posterior_agg_serialize,
    DESERIALFUNC = beta_posterior_agg_deserialize,
    MSFUNC = beta_posterior_agg_trans,
    MINVFUNC = beta_posterior_agg_inv,
    MSTYPE = internal,
    MFINALFUNC = beta_posterior_agg_final,
    PARALLEL = SAFE
);

CREATE OR REPLACE AGGREGATE normal_posterior_agg(reward float8) (
    SFUNC = normal_posterior_agg_trans,
    STYPE = internal,
    FINALFUNC = normal_posterior_agg_final,
    COMBINEFUNC = normal_posterior_agg_combine,
    SERIALFUNC = normal_posterior_agg_serialize,
    DESERIALFUNC = normal_posterior_agg_deserialize,
    MSFUNC = normal_posterior_agg_mtrans,
    MINVFUNC = normal_posterior_agg_minv,
    MSTYPE = internal,
    MFINALFUNC = normal_posterior_agg_mfinal,
    PARALLEL = SAFE
);

-- ===========================================================================
-- Monitoring: sample ratio mismatch, timeline, regret, drift (issue 7)
-- ===========================================================================

-- Internal: the numerical parts, called by the functions below.
CREATE FUNCTION bandit.srm_trans(internal, arm_id int, propensity float8, reset boolean, state_version bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_srm_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION bandit.srm_final(internal) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bandit_srm_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE bandit.srm_accum(arm_id int, propensity float8, reset boolean, state_version bigint) (
    SFUNC = bandit.srm_trans,
    STYPE = internal,
    FINALFUNC = bandit.srm_final
);
COMMENT ON AGGREGATE bandit.srm_accum(int, float8, boolean, bigint) IS 'internal: sample ratio mismatch over decisions (and arm resets) in time order: {arms, decisions, chi_square, p_value, df}';
CREATE FUNCTION bandit.welch_p_value(n1 bigint, mean1 float8, var1 float8,
                                     n2 bigint, mean2 float8, var2 float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bandit_welch_p_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.welch_p_value(bigint, float8, float8, bigint, float8, float8) IS 'internal: two-sided p-value of Welch''s t-test from counts, means and sample variances';
REVOKE ALL ON FUNCTION bandit.srm_trans(internal, int, float8, boolean, bigint), bandit.srm_final(internal),
    bandit.srm_accum(int, float8, boolean, bigint),
    bandit.welch_p_value(bigint, float8, float8, bigint, float8, float8) FROM PUBLIC;

CREATE FUNCTION bandit_srm(experiment text)
    RETURNS TABLE (arms int, decisions bigint, chi_square float8, p_value float8)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    eid bigint;
    pol text;
    r float8[];
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'experiment must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT e.id, e.policy INTO eid, pol FROM bandit.experiment e WHERE e.name = experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    IF pol IN ('linucb', 'lints') THEN
        RAISE EXCEPTION 'bandit_srm does not support contextual experiments'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = pg_catalog.format('Experiment "%s" uses the policy %s, whose arms'' probabilities depend on the context.', experiment, pol);
    END IF;
    -- the policy's decisions (not paused ones, not sticky repeats) and the
    -- times arms were disabled, in time order; an event comes before the
    -- decisions of its own instant
    SELECT bandit.srm_accum(s.arm_id, s.propensity, s.reset, s.state_version ORDER BY s.at, s.event_first, s.id)
      INTO r
      FROM (SELECT d.decided_at AS at, 1 AS event_first, d.id, d.arm_id, d.propensity, false AS reset,
                   d.state_version
              FROM bandit.decision d
             WHERE d.experiment_id = eid AND d.kind = 'policy'
            UNION ALL
            SELECT ev.at, 0, ev.id, a.arm_id, NULL, true, NULL
              FROM bandit.event ev
              JOIN bandit.arm a ON a.experiment_id = ev.experiment_id AND a.name = ev.arm
             WHERE ev.experiment_id = eid AND ev.what IN ('arm disabled', 'guardrail tripped')) s;
    arms := r[1]::int;
    decisions := r[2]::bigint;
    chi_square := r[3];
    p_value := r[4];
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION bandit_srm(text) IS 'sample ratio mismatch: do the logged arms follow the logged propensities? chi-square with arms - 1 degrees of freedom';

CREATE FUNCTION bandit_timeline(experiment text, bucket interval)
    RETURNS TABLE (bucket_start timestamptz, arm text, decisions bigint, share float8, rewards bigint,
                   mean_reward float8)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    eid bigint;
    width interval := bucket;
BEGIN
    IF experiment IS NULL OR width IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN experiment IS NULL THEN 'experiment' ELSE 'bucket' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF width <= interval '0' OR extract(month FROM width) <> 0 OR extract(year FROM width) <> 0 THEN
        RAISE EXCEPTION 'bucket must be a positive interval without months or years'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The bucket given was %s.', width);
    END IF;
    SELECT e.id INTO eid FROM bandit.experiment e WHERE e.name = experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    WITH per_arm AS (
        SELECT pg_catalog.date_bin(width, d.decided_at, timestamptz '2000-01-01 00:00:00+00') AS b,
               d.arm_id, count(*) AS n,
               count(r.decision_id) FILTER (WHERE NOT r.late) AS n_rewards,
               avg(r.reward) FILTER (WHERE NOT r.late) AS mean_r
          FROM bandit.decision d
          LEFT JOIN bandit.reward r ON r.decision_id = d.id
         WHERE d.experiment_id = eid
         GROUP BY 1, 2
    ), buckets AS (
        SELECT p.b, sum(p.n) AS total FROM per_arm p GROUP BY p.b
    )
    SELECT bk.b, a.name, COALESCE(p.n, 0), COALESCE(p.n, 0)::float8 / bk.total::float8,
           COALESCE(p.n_rewards, 0), p.mean_r
      FROM buckets bk
     CROSS JOIN bandit.arm a
      LEFT JOIN per_arm p ON p.b = bk.b AND p.arm_id = a.arm_id
     WHERE a.experiment_id = eid
     ORDER BY bk.b, a.arm_id;
END
$$;
COMMENT ON FUNCTION bandit_timeline(text, interval) IS 'per time bucket (of decided_at) and arm: decisions, share of the bucket''s decisions, rewards (not late) and their mean';

CREATE FUNCTION bandit_regret(experiment text, bucket interval DEFAULT '1 hour')
    RETURNS TABLE (bucket_start timestamptz, decisions bigint, regret float8, cumulative_regret float8)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    eid bigint;
    pol text;
    width interval := bucket;
BEGIN
    IF experiment IS NULL OR width IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN experiment IS NULL THEN 'experiment' ELSE 'bucket' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF width <= interval '0' OR extract(month FROM width) <> 0 OR extract(year FROM width) <> 0 THEN
        RAISE EXCEPTION 'bucket must be a positive interval without months or years'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The bucket given was %s.', width);
    END IF;
    SELECT e.id, e.policy INTO eid, pol FROM bandit.experiment e WHERE e.name = experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    IF pol IN ('linucb', 'lints') THEN
        RAISE EXCEPTION 'bandit_regret does not support contextual experiments'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = pg_catalog.format('Experiment "%s" uses the policy %s, whose arms'' mean rewards depend on the context.', experiment, pol);
    END IF;
    RETURN QUERY
    WITH means AS (
        -- the current posteriors, with online rewards not yet folded
        SELECT p.arm_id, COALESCE(@extschema@.posterior_mean(p.beta),
                                  @extschema@.posterior_mean(p.normal)) AS m
          FROM bandit.arm_posteriors(experiment) p
    ), best AS (
        SELECT max(x.m) AS m FROM means x
    ), per_bucket AS (
        SELECT pg_catalog.date_bin(width, d.decided_at, timestamptz '2000-01-01 00:00:00+00') AS b,
               count(*) AS n, sum(bt.m - x.m) AS loss
          FROM bandit.decision d
          JOIN means x ON x.arm_id = d.arm_id
         CROSS JOIN best bt
         WHERE d.experiment_id = eid
         GROUP BY 1
    )
    SELECT pb.b, pb.n, pb.loss, sum(pb.loss) OVER (ORDER BY pb.b)
      FROM per_bucket pb
     ORDER BY pb.b;
END
$$;
COMMENT ON FUNCTION bandit_regret(text, interval) IS 'expected regret per time bucket and cumulated: the best arm''s posterior mean minus the chosen arm''s, summed over decisions, with the current posteriors';

CREATE FUNCTION bandit_drift(experiment text, recent interval)
    RETURNS TABLE (arm text, recent_mean float8, earlier_mean float8, p_value float8)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    eid bigint;
    since timestamptz;
BEGIN
    IF experiment IS NULL OR recent IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN experiment IS NULL THEN 'experiment' ELSE 'recent' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF recent <= interval '0' THEN
        RAISE EXCEPTION 'recent must be a positive interval'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The interval given was %s.', recent);
    END IF;
    SELECT e.id INTO eid FROM bandit.experiment e WHERE e.name = experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    since := pg_catalog.now() - recent;
    RETURN QUERY
    WITH samples AS (
        SELECT d.arm_id, r.reward, d.decided_at >= since AS is_recent
          FROM bandit.reward r
          JOIN bandit.decision d ON d.id = r.decision_id
         WHERE r.experiment_id = eid AND NOT r.late
    ), moments AS (
        SELECT s.arm_id,
               count(*) FILTER (WHERE s.is_recent) AS n1,
               avg(s.reward) FILTER (WHERE s.is_recent) AS m1,
               var_samp(s.reward) FILTER (WHERE s.is_recent) AS v1,
               count(*) FILTER (WHERE NOT s.is_recent) AS n2,
               avg(s.reward) FILTER (WHERE NOT s.is_recent) AS m2,
               var_samp(s.reward) FILTER (WHERE NOT s.is_recent) AS v2
          FROM samples s
         GROUP BY s.arm_id
    )
    SELECT a.name, m.m1, m.m2, bandit.welch_p_value(m.n1, m.m1, m.v1, m.n2, m.m2, m.v2)
      FROM bandit.arm a
      LEFT JOIN moments m ON m.arm_id = a.arm_id
     WHERE a.experiment_id = eid
     ORDER BY a.arm_id;
END
$$;
COMMENT ON FUNCTION bandit_drift(text, interval) IS 'per arm: mean reward of the decisions of the last recent interval, of those before, and the two-sided p-value of Welch''s t-test between them';

REVOKE ALL ON FUNCTION bandit_srm(text), bandit_timeline(text, interval),
    bandit_regret(text, interval), bandit_drift(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bandit_srm(text), bandit_timeline(text, interval),
    bandit_regret(text, interval), bandit_drift(text, interval) TO bandit_analyst;
