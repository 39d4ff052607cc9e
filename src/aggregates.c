/*
 * aggregates.c
 *		beta_posterior_agg(float8) and normal_posterior_agg(float8):
 *		build posteriors from any table, in parallel.
 *
 * Transition states live in the aggregate memory context; combine copies
 * into it when the left state is NULL; final functions never modify or free
 * the state (it may be shared by window frames or re-finalised).  NULL
 * rewards are skipped like any SQL aggregate skips NULLs; other bad rewards
 * are errors.  With no rows the result is the default prior (n = 0).
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"

#include "aggregates.h"
#include "posterior.h"
#include "summation.h"

#define AGG_STATE_FORMAT 1

PG_FUNCTION_INFO_V1(beta_posterior_agg_trans);
PG_FUNCTION_INFO_V1(beta_posterior_agg_combine);
PG_FUNCTION_INFO_V1(beta_posterior_agg_serialize);
PG_FUNCTION_INFO_V1(beta_posterior_agg_deserialize);
PG_FUNCTION_INFO_V1(beta_posterior_agg_final);
PG_FUNCTION_INFO_V1(normal_posterior_agg_trans);
PG_FUNCTION_INFO_V1(normal_posterior_agg_combine);
PG_FUNCTION_INFO_V1(normal_posterior_agg_serialize);
PG_FUNCTION_INFO_V1(normal_posterior_agg_deserialize);
PG_FUNCTION_INFO_V1(normal_posterior_agg_final);

MemoryContext
aggregate_context(FunctionCallInfo fcinfo, const char *func_name)
{
	MemoryContext agg_context;

	if (!AggCheckCallContext(fcinfo, &agg_context))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called in non-aggregate context", func_name)));
	return agg_context;
}

static void *
state_copy_into(MemoryContext context, const void *state, Size size)
{
	void	   *copy = MemoryContextAlloc(context, size);

	memcpy(copy, state, size);
	return copy;
}

/* Deserialise helper: the bytes must be exactly what serialise wrote. */
static StringInfoData
state_reader(bytea *bytes, const char *agg_name, int payload_bytes)
{
	StringInfoData buf;
	int			format;

	buf.data = VARDATA_ANY(bytes);
	buf.len = VARSIZE_ANY_EXHDR(bytes);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len != 1 + payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid %s state: wrong length", agg_name),
				 errdetail("Expected %d bytes, got %d.", 1 + payload_bytes, buf.len)));
	format = pq_getmsgbyte(&buf);
	if (format != AGG_STATE_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid %s state: unknown format %d", agg_name, format)));
	return buf;
}

static void
check_state_count(int64 n, const char *agg_name)
{
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid %s state: negative count", agg_name)));
}

static void
check_state_finite(double value, const char *agg_name)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid %s state: non-finite sum", agg_name)));
}

/* ------------------------------------------------------------------------
 * beta_posterior_agg
 * ------------------------------------------------------------------------
 */

Datum
beta_posterior_agg_trans(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "beta_posterior_agg_trans");
	BetaAggState *state = PG_ARGISNULL(0) ? NULL : (BetaAggState *) PG_GETARG_POINTER(0);
	double		reward;

	if (state == NULL)
		state = (BetaAggState *) MemoryContextAllocZero(agg_context, sizeof(BetaAggState));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);

	reward = PG_GETARG_FLOAT8(1);
	check_reward_unit_interval(reward);
	state->n++;
	compensated_add(&state->successes, reward);
	compensated_add(&state->failures, 1.0 - reward);
	PG_RETURN_POINTER(state);
}

Datum
beta_posterior_agg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "beta_posterior_agg_combine");
	BetaAggState *left = PG_ARGISNULL(0) ? NULL : (BetaAggState *) PG_GETARG_POINTER(0);
	BetaAggState *right = PG_ARGISNULL(1) ? NULL : (BetaAggState *) PG_GETARG_POINTER(1);

	if (right == NULL)
		PG_RETURN_POINTER(left);
	if (left == NULL)
		PG_RETURN_POINTER(state_copy_into(agg_context, right, sizeof(BetaAggState)));

	left->n += right->n;
	compensated_merge(&left->successes, &right->successes);
	compensated_merge(&left->failures, &right->failures);
	PG_RETURN_POINTER(left);
}

Datum
beta_posterior_agg_serialize(PG_FUNCTION_ARGS)
{
	BetaAggState *state = (BetaAggState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	(void) aggregate_context(fcinfo, "beta_posterior_agg_serialize");
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, AGG_STATE_FORMAT);
	pq_sendint64(&buf, state->n);
	pq_sendfloat8(&buf, state->successes.sum);
	pq_sendfloat8(&buf, state->successes.compensation);
	pq_sendfloat8(&buf, state->failures.sum);
	pq_sendfloat8(&buf, state->failures.compensation);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
beta_posterior_agg_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "beta_posterior_agg_deserialize");
	StringInfoData buf = state_reader(PG_GETARG_BYTEA_PP(0), "beta_posterior_agg", 8 * 5);
	BetaAggState *state = (BetaAggState *) MemoryContextAllocZero(agg_context, sizeof(BetaAggState));

	state->n = pq_getmsgint64(&buf);
	state->successes.sum = pq_getmsgfloat8(&buf);
	state->successes.compensation = pq_getmsgfloat8(&buf);
	state->failures.sum = pq_getmsgfloat8(&buf);
	state->failures.compensation = pq_getmsgfloat8(&buf);

	check_state_count(state->n, "beta_posterior_agg");
	check_state_finite(state->successes.sum, "beta_posterior_agg");
	check_state_finite(state->successes.compensation, "beta_posterior_agg");
	check_state_finite(state->failures.sum, "beta_posterior_agg");
	check_state_finite(state->failures.compensation, "beta_posterior_agg");
	if (compensated_value(&state->successes) < 0.0 ||
		compensated_value(&state->failures) < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid beta_posterior_agg state: negative sum")));
	PG_RETURN_POINTER(state);
}

Datum
beta_posterior_agg_final(PG_FUNCTION_ARGS)
{
	BetaAggState *state = PG_ARGISNULL(0) ? NULL : (BetaAggState *) PG_GETARG_POINTER(0);
	BetaPosterior *prior = make_beta_posterior(0, DEFAULT_BETA_PRIOR_ALPHA,
											   DEFAULT_BETA_PRIOR_BETA);

	if (state == NULL)
		PG_RETURN_POINTER(prior);
	PG_RETURN_POINTER(beta_posterior_fold(prior, state->n,
										  compensated_value(&state->successes),
										  compensated_value(&state->failures)));
}

/* ------------------------------------------------------------------------
 * normal_posterior_agg
 * ------------------------------------------------------------------------
 */

Datum
normal_posterior_agg_trans(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "normal_posterior_agg_trans");
	GaussianStats *state = PG_ARGISNULL(0) ? NULL : (GaussianStats *) PG_GETARG_POINTER(0);
	double		reward;

	if (state == NULL)
		state = (GaussianStats *) MemoryContextAllocZero(agg_context, sizeof(GaussianStats));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);

	reward = PG_GETARG_FLOAT8(1);
	check_reward_finite(reward);
	gaussian_stats_add(state, reward);
	PG_RETURN_POINTER(state);
}

Datum
normal_posterior_agg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "normal_posterior_agg_combine");
	GaussianStats *left = PG_ARGISNULL(0) ? NULL : (GaussianStats *) PG_GETARG_POINTER(0);
	GaussianStats *right = PG_ARGISNULL(1) ? NULL : (GaussianStats *) PG_GETARG_POINTER(1);

	if (right == NULL)
		PG_RETURN_POINTER(left);
	if (left == NULL)
		PG_RETURN_POINTER(state_copy_into(agg_context, right, sizeof(GaussianStats)));
	gaussian_stats_merge(left, right);
	PG_RETURN_POINTER(left);
}

Datum
normal_posterior_agg_serialize(PG_FUNCTION_ARGS)
{
	GaussianStats *state = (GaussianStats *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	(void) aggregate_context(fcinfo, "normal_posterior_agg_serialize");
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, AGG_STATE_FORMAT);
	pq_sendint64(&buf, state->n);
	pq_sendfloat8(&buf, state->mean);
	pq_sendfloat8(&buf, state->m2);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
normal_posterior_agg_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "normal_posterior_agg_deserialize");
	StringInfoData buf = state_reader(PG_GETARG_BYTEA_PP(0), "normal_posterior_agg", 8 * 3);
	GaussianStats *state = (GaussianStats *) MemoryContextAllocZero(agg_context, sizeof(GaussianStats));

	state->n = pq_getmsgint64(&buf);
	state->mean = pq_getmsgfloat8(&buf);
	state->m2 = pq_getmsgfloat8(&buf);

	check_state_count(state->n, "normal_posterior_agg");
	check_state_finite(state->mean, "normal_posterior_agg");
	check_state_finite(state->m2, "normal_posterior_agg");
	if (state->m2 < 0.0 || (state->n == 0 && (state->mean != 0.0 || state->m2 != 0.0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid normal_posterior_agg state: inconsistent moments")));
	PG_RETURN_POINTER(state);
}

Datum
normal_posterior_agg_final(PG_FUNCTION_ARGS)
{
	GaussianStats *state = PG_ARGISNULL(0) ? NULL : (GaussianStats *) PG_GETARG_POINTER(0);
	GaussianStats empty = {0, 0.0, 0.0};
	NormalPosterior *prior = make_normal_posterior(0, DEFAULT_NORMAL_PRIOR_MEAN,
												   DEFAULT_NORMAL_PRIOR_KAPPA,
												   DEFAULT_NORMAL_PRIOR_ALPHA,
												   DEFAULT_NORMAL_PRIOR_BETA);

	PG_RETURN_POINTER(normal_posterior_fold(prior, state ? state : &empty));
}
