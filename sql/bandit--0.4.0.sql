-- bandit 0.4.0: multi-armed bandit experiments inside PostgreSQL.
\echo Use "CREATE EXTENSION bandit" to load this file. \quit

-- ===========================================================================
-- Posterior types
-- ===========================================================================

CREATE TYPE beta_posterior;

CREATE FUNCTION beta_posterior_in(cstring) RETURNS beta_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION beta_posterior_out(beta_posterior) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION beta_posterior_recv(internal) RETURNS beta_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION beta_posterior_send(beta_posterior) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE beta_posterior (
    INPUT = beta_posterior_in,
    OUTPUT = beta_posterior_out,
    RECEIVE = beta_posterior_recv,
    SEND = beta_posterior_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE beta_posterior IS 'Beta posterior of a reward in [0, 1]: (alpha=, beta=, n=)';

CREATE TYPE normal_posterior;

CREATE FUNCTION normal_posterior_in(cstring) RETURNS normal_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION normal_posterior_out(normal_posterior) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION normal_posterior_recv(internal) RETURNS normal_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION normal_posterior_send(normal_posterior) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE normal_posterior (
    INPUT = normal_posterior_in,
    OUTPUT = normal_posterior_out,
    RECEIVE = normal_posterior_recv,
    SEND = normal_posterior_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE normal_posterior IS 'Normal-Inverse-Gamma posterior of a Gaussian reward: (mean=, kappa=, alpha=, beta=, n=)';

-- Scalar functions on posteriors
CREATE FUNCTION posterior_mean(p beta_posterior) RETURNS float8
    AS 'MODULE_PATHNAME', 'beta_posterior_mean_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_mean(p normal_posterior) RETURNS float8
    AS 'MODULE_PATHNAME', 'normal_posterior_mean_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_interval(p beta_posterior, level float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'beta_posterior_interval_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_interval(p normal_posterior, level float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'normal_posterior_interval_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_sample(p beta_posterior) RETURNS float8
    AS 'MODULE_PATHNAME', 'beta_posterior_sample_sql' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION posterior_sample(p normal_posterior) RETURNS float8
    AS 'MODULE_PATHNAME', 'normal_posterior_sample_sql' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION posterior_update(p beta_posterior, reward float8) RETURNS beta_posterior
    AS 'MODULE_PATHNAME', 'beta_posterior_update_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_update(p normal_posterior, reward float8) RETURNS normal_posterior
    AS 'MODULE_PATHNAME', 'normal_posterior_update_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_prob_best(posteriors beta_posterior[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'beta_posterior_prob_best' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION posterior_prob_best(posteriors normal_posterior[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'normal_posterior_prob_best' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- ===========================================================================
-- Aggregates
-- ===========================================================================

CREATE FUNCTION beta_posterior_agg_trans(internal, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION beta_posterior_agg_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION beta_posterior_agg_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION beta_posterior_agg_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION beta_posterior_agg_final(internal) RETURNS beta_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE beta_posterior_agg(reward float8) (
    SFUNC = beta_posterior_agg_trans,
    STYPE = internal,
    FINALFUNC = beta_posterior_agg_final,
    COMBINEFUNC = beta_posterior_agg_combine,
    SERIALFUNC = beta_posterior_agg_serialize,
    DESERIALFUNC = beta_posterior_agg_deserialize,
    PARALLEL = SAFE
);

CREATE FUNCTION normal_posterior_agg_trans(internal, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION normal_posterior_agg_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION normal_posterior_agg_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION normal_posterior_agg_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION normal_posterior_agg_final(internal) RETURNS normal_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE normal_posterior_agg(reward float8) (
    SFUNC = normal_posterior_agg_trans,
    STYPE = internal,
    FINALFUNC = normal_posterior_agg_final,
    COMBINEFUNC = normal_posterior_agg_combine,
    SERIALFUNC = normal_posterior_agg_serialize,
    DESERIALFUNC = normal_posterior_agg_deserialize,
    PARALLEL = SAFE
);

-- ===========================================================================
-- Contextual bandits: linear_posterior (per-arm ridge regression)
-- ===========================================================================

CREATE TYPE linear_posterior;

CREATE FUNCTION linear_posterior_in(cstring) RETURNS linear_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_out(linear_posterior) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_recv(internal) RETURNS linear_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_send(linear_posterior) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- EXTENDED storage: a d = 32 value is about 17 kB and d = 1,000 about 16 MB,
-- so large values are compressed and moved out of line (TOAST).
CREATE TYPE linear_posterior (
    INPUT = linear_posterior_in,
    OUTPUT = linear_posterior_out,
    RECEIVE = linear_posterior_recv,
    SEND = linear_posterior_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE linear_posterior IS 'ridge regression of reward on context: (dim=, n=, lambda=, A={{...}}, b={...}), A = lambda*I + sum x x^T, b = sum r x';

CREATE FUNCTION linear_posterior(dim int, lambda float8 DEFAULT 1) RETURNS linear_posterior
    AS 'MODULE_PATHNAME', 'linear_posterior_prior' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_update(p linear_posterior, context float8[], reward float8)
    RETURNS linear_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_theta(p linear_posterior) RETURNS float8[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_predict(p linear_posterior, x float8[]) RETURNS float8
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_ucb(p linear_posterior, x float8[], alpha float8) RETURNS float8
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_sample(p linear_posterior, x float8[], v float8 DEFAULT 1)
    RETURNS float8
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION linear_posterior_agg_trans(internal, float8[], float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION linear_posterior_agg_trans(internal, float8[], float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'linear_posterior_agg_trans_lambda' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION linear_posterior_agg_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION linear_posterior_agg_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_agg_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION linear_posterior_agg_final(internal) RETURNS linear_posterior
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE linear_posterior_agg(context float8[], reward float8) (
    SFUNC = linear_posterior_agg_trans,
    STYPE = internal,
    FINALFUNC = linear_posterior_agg_final,
    COMBINEFUNC = linear_posterior_agg_combine,
    SERIALFUNC = linear_posterior_agg_serialize,
    DESERIALFUNC = linear_posterior_agg_deserialize,
    PARALLEL = SAFE
);

CREATE AGGREGATE linear_posterior_agg(context float8[], reward float8, lambda float8) (
    SFUNC = linear_posterior_agg_trans,
    STYPE = internal,
    FINALFUNC = linear_posterior_agg_final,
    COMBINEFUNC = linear_posterior_agg_combine,
    SERIALFUNC = linear_posterior_agg_serialize,
    DESERIALFUNC = linear_posterior_agg_deserialize,
    PARALLEL = SAFE
);

-- ===========================================================================
-- Off-policy evaluation: estimators as aggregates over any logged table
-- ===========================================================================

CREATE TYPE ope_estimate AS (
    estimate   float8,
    stderr     float8,
    ci_low     float8,
    ci_high    float8,
    n          bigint,
    ess        float8,
    max_weight float8
);
COMMENT ON TYPE ope_estimate IS 'an off-policy estimate with its standard error, 95% normal interval, rows, effective sample size and largest importance weight';

CREATE FUNCTION ope_ips_trans(internal, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_snips_trans(internal, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_clipped_ips_trans(internal, float8, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_dm_trans(internal, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_dr_trans(internal, float8, float8, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_sndr_trans(internal, float8, float8, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_switch_dr_trans(internal, float8, float8, float8, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ope_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ope_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ope_final(internal) RETURNS ope_estimate
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE ope_ips(reward float8, target_prob float8, logging_prob float8) (
    SFUNC = ope_ips_trans, STYPE = internal, FINALFUNC = ope_final,
    COMBINEFUNC = ope_combine, SERIALFUNC = ope_serialize, DESERIALFUNC = ope_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE ope_snips(reward float8, target_prob float8, logging_prob float8) (
    SFUNC = ope_snips_trans, STYPE = internal, FINALFUNC = ope_final,
    COMBINEFUNC = ope_combine, SERIALFUNC = ope_serialize, DESERIALFUNC = ope_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE ope_clipped_ips(reward float8, target_prob float8, logging_prob float8, cap float8) (
    SFUNC = ope_clipped_ips_trans, STYPE = internal, FINALFUNC = ope_final,
    COMBINEFUNC = ope_combine, SERIALFUNC = ope_serialize, DESERIALFUNC = ope_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE ope_dm(v_target float8) (
    SFUNC = ope_dm_trans, STYPE = internal, FINALFUNC = ope_final,
    COMBINEFUNC = ope_combine, SERIALFUNC = ope_serialize, DESERIALFUNC = ope_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE ope_dr(reward float8, target_prob float8, logging_prob float8,
                        q_logged float8, v_target float8) (
    SFUNC = ope_dr_trans, STYPE = internal, FINALFUNC = ope_final,
    COMBINEFUNC = ope_combine, SERIALFUNC = ope_serialize, DESERIALFUNC = ope_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE ope_sndr(reward float8, target_prob float8, logging_prob float8,
                          q_logged float8, v_target float8) (
    SFUNC = ope_sndr_trans, STYPE = internal, FINALFUNC = ope_final,
    COMBINEFUNC = ope_combine, SERIALFUNC = ope_serialize, DESERIALFUNC = ope_deserialize,
    PARALLEL = SAFE
);
CREATE AGGREGATE ope_switch_dr(reward float8, target_prob float8, logging_prob float8,
                               q_logged float8, v_target float8, tau float8) (
    SFUNC = ope_switch_dr_trans, STYPE = internal, FINALFUNC = ope_final,
    COMBINEFUNC = ope_combine, SERIALFUNC = ope_serialize, DESERIALFUNC = ope_deserialize,
    PARALLEL = SAFE
);

-- Percentile intervals by the Poisson bootstrap.  The draws come from the
-- backend's generator (bandit.seed), so these run in one process: VOLATILE,
-- PARALLEL RESTRICTED, no combine function.
CREATE FUNCTION ope_bootstrap_trans(internal, text, int, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ope_bootstrap_trans(internal, text, int, float8, float8, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ope_bootstrap_trans(internal, text, int, float8, float8, float8, float8, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ope_bootstrap_final(internal) RETURNS ope_estimate
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE AGGREGATE ope_bootstrap(estimator text, replicates int, reward float8, target_prob float8,
                               logging_prob float8) (
    SFUNC = ope_bootstrap_trans, STYPE = internal, FINALFUNC = ope_bootstrap_final,
    PARALLEL = RESTRICTED
);
CREATE AGGREGATE ope_bootstrap(estimator text, replicates int, reward float8, target_prob float8,
                               logging_prob float8, q_logged float8, v_target float8) (
    SFUNC = ope_bootstrap_trans, STYPE = internal, FINALFUNC = ope_bootstrap_final,
    PARALLEL = RESTRICTED
);
CREATE AGGREGATE ope_bootstrap(estimator text, replicates int, reward float8, target_prob float8,
                               logging_prob float8, q_logged float8, v_target float8, param float8) (
    SFUNC = ope_bootstrap_trans, STYPE = internal, FINALFUNC = ope_bootstrap_final,
    PARALLEL = RESTRICTED
);

-- ===========================================================================
-- The extension's tables (schema bandit)
--
-- Registered with pg_extension_config_dump so pg_dump keeps every
-- experiment, arm, posterior, decision and reward.  No privilege on them is
-- granted to PUBLIC; the API functions run with the caller's rights.
-- ===========================================================================

CREATE SCHEMA bandit;
COMMENT ON SCHEMA bandit IS 'tables of the bandit extension';
REVOKE ALL ON SCHEMA bandit FROM PUBLIC;

CREATE SEQUENCE bandit.experiment_id_seq;
CREATE TABLE bandit.experiment (
    id          bigint PRIMARY KEY DEFAULT nextval('bandit.experiment_id_seq'),
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    policy      text NOT NULL,
    params      jsonb NOT NULL,
    version     bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
) WITH (fillfactor = 50);
ALTER SEQUENCE bandit.experiment_id_seq OWNED BY bandit.experiment.id;
COMMENT ON TABLE bandit.experiment IS 'one row per experiment; params holds the effective configuration';

CREATE TABLE bandit.arm (
    experiment_id bigint NOT NULL REFERENCES bandit.experiment (id) ON DELETE CASCADE,
    arm_id      int NOT NULL CHECK (arm_id > 0),
    name        text NOT NULL CHECK (name <> ''),
    enabled     boolean NOT NULL DEFAULT true,
    version     bigint NOT NULL DEFAULT 0,
    beta        beta_posterior,
    normal      normal_posterior,
    ipw_sum     float8 NOT NULL DEFAULT 0,
    linear      linear_posterior,
    PRIMARY KEY (experiment_id, arm_id),
    UNIQUE (experiment_id, name),
    CONSTRAINT arm_posterior_check CHECK (num_nonnulls(beta, normal, linear) = 1)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
-- Online rewards update arm rows constantly; no updated column is indexed,
-- so with free space on the page every update is HOT and page pruning keeps
-- the table as small as its live rows, which the hot path reads on every
-- bandit_select.
COMMENT ON TABLE bandit.arm IS 'arms with their posterior (beta for bernoulli, normal for gaussian rewards, linear for contextual policies)';

CREATE SEQUENCE bandit.decision_id_seq;
CREATE TABLE bandit.decision (
    id            bigint PRIMARY KEY DEFAULT nextval('bandit.decision_id_seq'),
    experiment_id bigint NOT NULL,
    arm_id        int NOT NULL,
    propensity    float8 NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    context       float8[],
    unit          text,
    state_version bigint NOT NULL,
    decided_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    FOREIGN KEY (experiment_id, arm_id) REFERENCES bandit.arm ON DELETE CASCADE
);
ALTER SEQUENCE bandit.decision_id_seq OWNED BY bandit.decision.id;
CREATE INDEX decision_experiment_arm_idx ON bandit.decision (experiment_id, arm_id);
COMMENT ON TABLE bandit.decision IS 'every decision with the propensity it was made with';

CREATE TABLE bandit.reward (
    decision_id   bigint PRIMARY KEY REFERENCES bandit.decision (id) ON DELETE CASCADE,
    experiment_id bigint NOT NULL,
    arm_id        int NOT NULL,
    reward        float8 NOT NULL,
    rewarded_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX reward_experiment_arm_idx ON bandit.reward (experiment_id, arm_id);
COMMENT ON TABLE bandit.reward IS 'the reward log: at most one reward per decision';

CREATE TABLE bandit.pending_reward (
    decision_id   bigint PRIMARY KEY REFERENCES bandit.reward (decision_id) ON DELETE CASCADE,
    experiment_id bigint NOT NULL,
    arm_id        int NOT NULL,
    reward        float8 NOT NULL,
    propensity    float8 NOT NULL
);
CREATE INDEX pending_reward_experiment_idx ON bandit.pending_reward (experiment_id);
COMMENT ON TABLE bandit.pending_reward IS 'rewards of batch experiments not yet folded by bandit_refresh';

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

SELECT pg_catalog.pg_extension_config_dump('bandit.experiment', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.experiment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.arm', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.decision', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.decision_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.reward', '');
SELECT pg_catalog.pg_extension_config_dump('bandit.pending_reward', '');
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

-- ===========================================================================
-- The API
-- ===========================================================================

CREATE FUNCTION bandit_create(name text, arms text[], policy text DEFAULT 'thompson',
                              params jsonb DEFAULT '{}')
    RETURNS bigint
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION bandit_select(experiment text, context float8[] DEFAULT NULL, unit text DEFAULT NULL)
    RETURNS TABLE (decision_id bigint, arm text, propensity float8)
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;

CREATE FUNCTION bandit_reward(decision_id bigint, reward float8) RETURNS void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION bandit_refresh(experiment text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION bandit_policy_prob(experiment text, arm text, context float8[] DEFAULT NULL)
    RETURNS float8
    AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION bandit_add_arm(experiment text, arm text) RETURNS void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION bandit_set_arm_enabled(experiment text, arm text, enabled boolean) RETURNS void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION bandit_drop(experiment text) RETURNS void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION bandit_arm_stats(experiment text)
    RETURNS TABLE (arm text, enabled boolean, pulls bigint, rewarded bigint, reward_sum float8,
                   mean float8, ci_low float8, ci_high float8, prob_best float8, late bigint)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
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

-- ===========================================================================
-- Off-policy evaluation on the extension's own log
-- ===========================================================================

-- Decisions with their rewards, for analysts.  A view runs with its owner's
-- rights, so nothing is granted on it by default: grant SELECT on purpose.
CREATE VIEW bandit_log AS
SELECT e.name AS experiment, d.id AS decision_id, a.name AS arm, d.propensity, d.context,
       d.unit, r.reward, d.decided_at, r.rewarded_at
  FROM bandit.decision d
  JOIN bandit.experiment e ON e.id = d.experiment_id
  JOIN bandit.arm a ON a.experiment_id = d.experiment_id AND a.arm_id = d.arm_id
  LEFT JOIN bandit.reward r ON r.decision_id = d.id;
REVOKE ALL ON bandit_log FROM PUBLIC;
COMMENT ON VIEW bandit_log IS 'every decision with its reward (NULL until rewarded)';

CREATE FUNCTION bandit_evaluate(experiment text, candidate_policy text, params jsonb DEFAULT '{}')
    RETURNS TABLE (estimator text, estimate float8, stderr float8, ci_low float8, ci_high float8,
                   n bigint, ess float8)
    AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION bandit_replay(experiment text, candidate_policy text, params jsonb DEFAULT '{}')
    RETURNS TABLE (estimate float8, stderr float8, matched bigint, events bigint)
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- ===========================================================================
-- Roles and privileges
--
-- Three roles, created once per cluster (they outlive the extension, as
-- roles do):
--   bandit_admin    creates, configures, refreshes and drops experiments;
--                   is also a bandit_app and a bandit_analyst
--   bandit_app      bandit_select and bandit_reward only
--   bandit_analyst  reads stats and the log, runs off-policy evaluation
-- Nothing of the API is executable by PUBLIC, and nobody but the
-- extension's owner may read or write the tables in schema bandit: the API
-- functions that touch them are SECURITY DEFINER (they run as the owner).
-- Their search_path is pinned: the C functions run every query under an
-- override path of pg_catalog and this extension's schema only (no pg_temp,
-- nothing of the caller's path), set in C rather than by a SET clause,
-- which would cost a GUC save and restore on every call of the hot path
-- (about 11% of a bandit_select); bandit_arm_stats, in PL/pgSQL, has
-- SET search_path = pg_catalog, pg_temp.
-- The posterior types, their functions and the OPE aggregates are pure
-- functions of their arguments and stay available to everyone.
-- ===========================================================================

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['bandit_admin', 'bandit_app', 'bandit_analyst'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;
GRANT bandit_app, bandit_analyst TO bandit_admin;

ALTER FUNCTION bandit_create(text, text[], text, jsonb) SECURITY DEFINER;
ALTER FUNCTION bandit_add_arm(text, text) SECURITY DEFINER;
ALTER FUNCTION bandit_set_arm_enabled(text, text, boolean) SECURITY DEFINER;
ALTER FUNCTION bandit_drop(text) SECURITY DEFINER;
ALTER FUNCTION bandit_refresh(text) SECURITY DEFINER;
ALTER FUNCTION bandit_select(text, float8[], text) SECURITY DEFINER;
ALTER FUNCTION bandit_reward(bigint, float8) SECURITY DEFINER;
ALTER FUNCTION bandit_policy_prob(text, text, float8[]) SECURITY DEFINER;
ALTER FUNCTION bandit_arm_stats(text) SECURITY DEFINER;
ALTER FUNCTION bandit_evaluate(text, text, jsonb) SECURITY DEFINER;
ALTER FUNCTION bandit_replay(text, text, jsonb) SECURITY DEFINER;

REVOKE ALL ON FUNCTION
    bandit_create(text, text[], text, jsonb), bandit_add_arm(text, text),
    bandit_set_arm_enabled(text, text, boolean), bandit_drop(text), bandit_refresh(text),
    bandit_select(text, float8[], text), bandit_reward(bigint, float8),
    bandit_policy_prob(text, text, float8[]), bandit_arm_stats(text),
    bandit_evaluate(text, text, jsonb), bandit_replay(text, text, jsonb)
    FROM PUBLIC;

GRANT EXECUTE ON FUNCTION bandit_select(text, float8[], text), bandit_reward(bigint, float8)
    TO bandit_app;
GRANT EXECUTE ON FUNCTION bandit_arm_stats(text), bandit_policy_prob(text, text, float8[]),
    bandit_evaluate(text, text, jsonb), bandit_replay(text, text, jsonb)
    TO bandit_analyst;
GRANT SELECT ON bandit_log TO bandit_analyst;
GRANT EXECUTE ON FUNCTION bandit_create(text, text[], text, jsonb), bandit_add_arm(text, text),
    bandit_set_arm_enabled(text, text, boolean), bandit_drop(text), bandit_refresh(text)
    TO bandit_admin;

-- ===========================================================================
-- Log growth: forget old decisions without touching the posteriors
-- ===========================================================================

CREATE FUNCTION bandit_prune(experiment text, before timestamptz) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    eid bigint;
    waiting bigint;
    deleted bigint;
BEGIN
    IF experiment IS NULL OR before IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN experiment IS NULL THEN 'experiment' ELSE 'before' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the experiment row lock orders this with bandit_refresh
    SELECT e.id INTO eid FROM bandit.experiment e WHERE e.name = experiment FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    SELECT count(*) INTO waiting
      FROM bandit.pending_reward p JOIN bandit.decision d ON d.id = p.decision_id
     WHERE p.experiment_id = eid AND d.decided_at < before;
    IF waiting > 0 THEN
        RAISE EXCEPTION 'cannot prune experiment "%": % rewards of those decisions are not folded yet', experiment, waiting
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run bandit_refresh first.';
    END IF;
    -- rewards go with their decisions (ON DELETE CASCADE); the posteriors,
    -- which already hold them, do not change
    DELETE FROM bandit.decision d WHERE d.experiment_id = eid AND d.decided_at < before;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION bandit_prune(text, timestamptz) IS 'delete an experiment''s decisions (and their rewards) decided before a time; posteriors are kept';
REVOKE ALL ON FUNCTION bandit_prune(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bandit_prune(text, timestamptz) TO bandit_admin;

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
