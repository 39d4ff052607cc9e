-- bandit 0.1.0 -> 0.2.0: contextual bandits (linear_posterior, LinUCB, LinTS).
\echo Use "ALTER EXTENSION bandit UPDATE TO '0.2.0'" to load this file. \quit

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

-- Arms of contextual experiments keep a linear_posterior.
ALTER TABLE bandit.arm ADD COLUMN linear linear_posterior;
ALTER TABLE bandit.arm DROP CONSTRAINT arm_check;
ALTER TABLE bandit.arm ADD CONSTRAINT arm_posterior_check CHECK (num_nonnulls(beta, normal, linear) = 1);
COMMENT ON TABLE bandit.arm IS 'arms with their posterior (beta for bernoulli, normal for gaussian rewards, linear for contextual policies)';
