-- bandit 0.2.0 -> 0.3.0: off-policy evaluation.
\echo Use "ALTER EXTENSION bandit UPDATE TO '0.3.0'" to load this file. \quit

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
