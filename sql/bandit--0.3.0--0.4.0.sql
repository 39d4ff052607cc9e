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
