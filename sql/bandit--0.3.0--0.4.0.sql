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

-- bandit_arm_stats reads the posteriors with their unfolded online rewards.
CREATE OR REPLACE FUNCTION bandit_arm_stats(experiment text)
    RETURNS TABLE (arm text, enabled boolean, pulls bigint, rewarded bigint, reward_sum float8,
                   mean float8, ci_low float8, ci_high float8, prob_best float8)
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
        SELECT r.arm_id, count(*) AS n, sum(r.reward) AS total FROM bandit.reward r
         WHERE r.experiment_id = eid GROUP BY r.arm_id
    )
    SELECT a.name, a.enabled,
           COALESCE(p.n, 0), COALESCE(r.n, 0), COALESCE(r.total, 0),
           r.total / NULLIF(r.n, 0),
           ci.bounds[1], ci.bounds[2],
           CASE WHEN a.enabled THEN (SELECT b.p[a.enabled_rank] FROM best b) ELSE 0 END
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
-- Posterior values: merge, decay (issue 7)
-- ===========================================================================
