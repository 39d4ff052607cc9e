/*
 * ope_aggregates.c
 *		The off-policy estimators as aggregates returning ope_estimate:
 *		ope_ips, ope_snips, ope_clipped_ips, ope_dm, ope_dr, ope_sndr,
 *		ope_switch_dr.  One transition function per signature; combine,
 *		serialize, deserialize and final are shared (the state knows its
 *		estimator).
 *
 * Rows with a NULL argument are skipped, as SQL aggregates skip NULLs (a
 * decision without a reward is missing data, not a zero: coalesce it if a
 * missing reward means no click).  With no rows the estimate is NULL and
 * n = 0.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "aggregates.h"
#include "random.h"
#include "ope.h"

#define OPE_STATE_FORMAT 1

PG_FUNCTION_INFO_V1(ope_ips_trans);
PG_FUNCTION_INFO_V1(ope_snips_trans);
PG_FUNCTION_INFO_V1(ope_clipped_ips_trans);
PG_FUNCTION_INFO_V1(ope_dm_trans);
PG_FUNCTION_INFO_V1(ope_dr_trans);
PG_FUNCTION_INFO_V1(ope_sndr_trans);
PG_FUNCTION_INFO_V1(ope_switch_dr_trans);
PG_FUNCTION_INFO_V1(ope_combine);
PG_FUNCTION_INFO_V1(ope_serialize);
PG_FUNCTION_INFO_V1(ope_deserialize);
PG_FUNCTION_INFO_V1(ope_final);
PG_FUNCTION_INFO_V1(ope_bootstrap_trans);
PG_FUNCTION_INFO_V1(ope_bootstrap_final);

/* The state, created in the aggregate context on the first call. */
static OpeState *
state_for(FunctionCallInfo fcinfo, OpeEstimator estimator, double param)
{
	OpeState   *state;

	if (!PG_ARGISNULL(0))
	{
		state = (OpeState *) PG_GETARG_POINTER(0);
		if (state->param != param)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the %s of %s must be the same for every row",
							estimator == OPE_CLIPPED_IPS ? "cap" : "tau",
							ope_estimator_name(estimator)),
					 errdetail("Saw %g and then %g.", state->param, param)));
		return state;
	}
	/* only a new state needs the aggregate context (checked once, not per row) */
	state = MemoryContextAlloc(aggregate_context(fcinfo, "ope transition"), sizeof(OpeState));
	ope_state_init(state, estimator, param);
	return state;
}

static bool
any_null(FunctionCallInfo fcinfo, int first, int last)
{
	for (int i = first; i <= last; i++)
		if (PG_ARGISNULL(i))
			return true;
	return false;
}

/* The cap / tau argument: never NULL (it is not data), checked, constant. */
static double
param_arg(FunctionCallInfo fcinfo, int argno, OpeEstimator estimator)
{
	double		param;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", estimator == OPE_CLIPPED_IPS ? "cap" : "tau")));
	param = PG_GETARG_FLOAT8(argno);
	if (estimator == OPE_CLIPPED_IPS)
		check_ope_cap(param);
	else
		check_ope_tau(param);
	return param;
}

/* (reward, target_prob, logging_prob [, q_logged, v_target]) from argument 1 on */
static Datum
weighted_transition(FunctionCallInfo fcinfo, OpeEstimator estimator, int nargs, double param)
{
	OpeState   *state = state_for(fcinfo, estimator, param);

	if (any_null(fcinfo, 1, nargs))
		PG_RETURN_POINTER(state);
	ope_state_add(state, PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3),
				  nargs >= 5 ? PG_GETARG_FLOAT8(4) : 0.0,
				  nargs >= 5 ? PG_GETARG_FLOAT8(5) : 0.0);
	PG_RETURN_POINTER(state);
}

Datum
ope_ips_trans(PG_FUNCTION_ARGS)
{
	return weighted_transition(fcinfo, OPE_IPS, 3, 0.0);
}

Datum
ope_snips_trans(PG_FUNCTION_ARGS)
{
	return weighted_transition(fcinfo, OPE_SNIPS, 3, 0.0);
}

Datum
ope_clipped_ips_trans(PG_FUNCTION_ARGS)
{
	return weighted_transition(fcinfo, OPE_CLIPPED_IPS, 3, param_arg(fcinfo, 4, OPE_CLIPPED_IPS));
}

Datum
ope_dm_trans(PG_FUNCTION_ARGS)
{
	OpeState   *state = state_for(fcinfo, OPE_DM, 0.0);

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);
	ope_state_add(state, 0.0, 0.0, 1.0, 0.0, PG_GETARG_FLOAT8(1));
	PG_RETURN_POINTER(state);
}

Datum
ope_dr_trans(PG_FUNCTION_ARGS)
{
	return weighted_transition(fcinfo, OPE_DR, 5, 0.0);
}

Datum
ope_sndr_trans(PG_FUNCTION_ARGS)
{
	return weighted_transition(fcinfo, OPE_SNDR, 5, 0.0);
}

Datum
ope_switch_dr_trans(PG_FUNCTION_ARGS)
{
	return weighted_transition(fcinfo, OPE_SWITCH_DR, 5, param_arg(fcinfo, 6, OPE_SWITCH_DR));
}

Datum
ope_combine(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "ope_combine");
	OpeState   *left = PG_ARGISNULL(0) ? NULL : (OpeState *) PG_GETARG_POINTER(0);
	OpeState   *right = PG_ARGISNULL(1) ? NULL : (OpeState *) PG_GETARG_POINTER(1);

	if (right == NULL)
	{
		if (left == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(left);
	}
	if (left == NULL)
	{
		/* copy into the aggregate context: right may live elsewhere */
		left = MemoryContextAlloc(agg_context, sizeof(OpeState));
		*left = *right;
		PG_RETURN_POINTER(left);
	}
	if (left->estimator != right->estimator || left->param != right->param)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the %s of %s must be the same for every row",
						left->estimator == OPE_CLIPPED_IPS ? "cap" : "tau",
						ope_estimator_name(left->estimator)),
				 errdetail("Saw %g and %g.", left->param, right->param)));
	ope_state_merge(left, right);
	PG_RETURN_POINTER(left);
}

/* ------------------------------------------------------------------------
 * Serialisation: format, estimator, n, param, then per term the sum and its
 * compensation and the mean, the k x k co-moments, the weight sums with
 * their compensations and the largest weight.
 * ------------------------------------------------------------------------
 */

static int
state_bytes(int k)
{
	return 1 + 1 + 8 + 8 + 8 * (3 * k + k * k + 5);
}

Datum
ope_serialize(PG_FUNCTION_ARGS)
{
	OpeState   *state = (OpeState *) PG_GETARG_POINTER(0);
	int			k = ope_terms(state->estimator);
	StringInfoData buf;

	aggregate_context(fcinfo, "ope_serialize");
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, OPE_STATE_FORMAT);
	pq_sendbyte(&buf, (uint8) state->estimator);
	pq_sendint64(&buf, state->n);
	pq_sendfloat8(&buf, state->param);
	for (int j = 0; j < k; j++)
	{
		pq_sendfloat8(&buf, state->sum[j].sum);
		pq_sendfloat8(&buf, state->sum[j].compensation);
		pq_sendfloat8(&buf, state->mean[j]);
	}
	for (int j = 0; j < k; j++)
		for (int l = 0; l < k; l++)
			pq_sendfloat8(&buf, state->comoment[j][l]);
	pq_sendfloat8(&buf, state->weight_sum.sum);
	pq_sendfloat8(&buf, state->weight_sum.compensation);
	pq_sendfloat8(&buf, state->weight_sq_sum.sum);
	pq_sendfloat8(&buf, state->weight_sq_sum.compensation);
	pq_sendfloat8(&buf, state->max_weight);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static double
finite_field(StringInfo buf)
{
	double		value = pq_getmsgfloat8(buf);

	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid ope state: non-finite field")));
	return value;
}

/* The bytes must be exactly what serialize wrote: checked, never trusted. */
Datum
ope_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "ope_deserialize");
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	OpeState   *state;
	int			format,
				estimator,
				k;

	buf.data = VARDATA_ANY(bytes);
	buf.len = VARSIZE_ANY_EXHDR(bytes);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid ope state: too short")));
	format = pq_getmsgbyte(&buf);
	estimator = pq_getmsgbyte(&buf);
	if (format != OPE_STATE_FORMAT || estimator >= OPE_NUM_ESTIMATORS ||
		buf.len != state_bytes(ope_terms((OpeEstimator) estimator)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid ope state"),
				 errdetail("Format %d, estimator %d, %d bytes.", format, estimator, buf.len)));
	k = ope_terms((OpeEstimator) estimator);
	state = MemoryContextAllocZero(agg_context, sizeof(OpeState));
	state->estimator = (OpeEstimator) estimator;
	state->n = pq_getmsgint64(&buf);
	state->param = finite_field(&buf);
	if (state->n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid ope state: negative count")));
	for (int j = 0; j < k; j++)
	{
		state->sum[j].sum = finite_field(&buf);
		state->sum[j].compensation = finite_field(&buf);
		state->mean[j] = finite_field(&buf);
	}
	for (int j = 0; j < k; j++)
		for (int l = 0; l < k; l++)
			state->comoment[j][l] = finite_field(&buf);
	state->weight_sum.sum = finite_field(&buf);
	state->weight_sum.compensation = finite_field(&buf);
	state->weight_sq_sum.sum = finite_field(&buf);
	state->weight_sq_sum.compensation = finite_field(&buf);
	state->max_weight = finite_field(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/* ------------------------------------------------------------------------
 * ope_estimate (estimate, stderr, ci_low, ci_high, n, ess, max_weight)
 * ------------------------------------------------------------------------
 */
static Datum
estimate_tuple(FunctionCallInfo fcinfo, const OpeResult *result)
{
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7];
	OpeResult	r = *result;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "an ope final function must return a composite type");
	desc = BlessTupleDesc(desc);
	values[0] = Float8GetDatum(r.estimate);
	values[1] = Float8GetDatum(r.stderr);
	values[2] = Float8GetDatum(r.ci_low);
	values[3] = Float8GetDatum(r.ci_high);
	values[4] = Int64GetDatum(r.n);
	values[5] = Float8GetDatum(r.ess);
	values[6] = Float8GetDatum(r.max_weight);
	nulls[0] = r.estimate_null;
	nulls[1] = nulls[2] = nulls[3] = r.stderr_null;
	nulls[4] = nulls[5] = false;
	nulls[6] = r.max_weight_null;
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/* The result of no rows: NULL estimate, n = 0, ess = 0. */
static void
empty_result(OpeResult *r)
{
	OpeState	empty;

	ope_state_init(&empty, OPE_IPS, 0.0);
	ope_state_result(&empty, r);
	r->ess = 0.0;
}

Datum
ope_final(PG_FUNCTION_ARGS)
{
	OpeState   *state = PG_ARGISNULL(0) ? NULL : (OpeState *) PG_GETARG_POINTER(0);
	OpeResult	r;

	aggregate_context(fcinfo, "ope_final");
	if (state == NULL)
		empty_result(&r);
	else
		ope_state_result(state, &r);
	PG_RETURN_DATUM(estimate_tuple(fcinfo, &r));
}

/* ------------------------------------------------------------------------
 * ope_bootstrap(estimator, replicates, reward, target_prob, logging_prob
 *				 [, q_logged, v_target [, param]])
 *
 * The Poisson bootstrap (Hanley & MacGibbon 2006; Chamandy et al. 2012):
 * every row enters each of the B replicates k ~ Poisson(1) times, which
 * needs one pass and no stored rows.  The result is the full-data estimate
 * with the replicates' standard deviation as stderr and their 2.5% and
 * 97.5% quantiles as the interval.  Draws come from the backend's
 * generator (bandit.seed), so the aggregate runs in one process: it is
 * PARALLEL RESTRICTED and has no combine function.
 * ------------------------------------------------------------------------
 */

#define BOOTSTRAP_MIN_REPLICATES	10
#define BOOTSTRAP_MAX_REPLICATES	100000

typedef struct BootstrapState
{
	OpeState	full;
	int			replicates;
	OpeState   *replicate;
} BootstrapState;

/* Poisson(1) by inversion: P(k) = e^-1 / k! */
static int
poisson_one(pg_prng_state *prng)
{
	double		u = pg_prng_double(prng);
	double		p = 0.36787944117144233;	/* e^-1 */
	double		cumulative = p;
	int			k = 0;

	while (u >= cumulative && k < 30)
	{
		k++;
		p /= k;
		cumulative += p;
	}
	return k;
}

/* The call's estimator, replicates and cap/tau, checked. */
static void
bootstrap_spec(FunctionCallInfo fcinfo, int nargs, OpeEstimator *estimator, int *replicates,
			   double *param)
{
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("estimator and replicates must not be NULL")));
	*estimator = ope_estimator_from_name(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	*replicates = PG_GETARG_INT32(2);
	*param = 0.0;
	if (*replicates < BOOTSTRAP_MIN_REPLICATES || *replicates > BOOTSTRAP_MAX_REPLICATES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("replicates must be between %d and %d",
						BOOTSTRAP_MIN_REPLICATES, BOOTSTRAP_MAX_REPLICATES)));
	if (ope_uses_model(*estimator) && nargs < 7)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("estimator \"%s\" needs q_logged and v_target", ope_estimator_name(*estimator))));
	if (*estimator == OPE_CLIPPED_IPS || *estimator == OPE_SWITCH_DR)
	{
		if (nargs < 8)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("estimator \"%s\" needs its %s as the last argument",
							ope_estimator_name(*estimator),
							*estimator == OPE_CLIPPED_IPS ? "cap" : "tau")));
		*param = param_arg(fcinfo, 8, *estimator);
	}
}

Datum
ope_bootstrap_trans(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "ope_bootstrap_trans");
	BootstrapState *state = PG_ARGISNULL(0) ? NULL : (BootstrapState *) PG_GETARG_POINTER(0);
	int			nargs = PG_NARGS() - 1;
	pg_prng_state *prng = bandit_random_state();
	OpeEstimator estimator;
	int			replicates;
	double		param;
	double		q,
				v;

	bootstrap_spec(fcinfo, nargs, &estimator, &replicates, &param);
	if (state == NULL)
	{
		state = MemoryContextAlloc(agg_context, sizeof(BootstrapState));
		ope_state_init(&state->full, estimator, param);
		state->replicates = replicates;
		state->replicate = MemoryContextAlloc(agg_context, sizeof(OpeState) * replicates);
		for (int b = 0; b < replicates; b++)
			ope_state_init(&state->replicate[b], estimator, param);
	}
	else if (estimator != state->full.estimator || replicates != state->replicates ||
			 param != state->full.param)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the estimator, replicates and cap or tau of ope_bootstrap must be the same for every row")));

	if (state->full.estimator == OPE_DM ? (nargs < 7 || PG_ARGISNULL(7))
		: any_null(fcinfo, 3, ope_uses_model(state->full.estimator) ? 7 : 5))
		PG_RETURN_POINTER(state);
	q = nargs >= 7 && !PG_ARGISNULL(6) ? PG_GETARG_FLOAT8(6) : 0.0;
	v = nargs >= 7 && !PG_ARGISNULL(7) ? PG_GETARG_FLOAT8(7) : 0.0;
	ope_state_add(&state->full, PG_GETARG_FLOAT8(3), PG_GETARG_FLOAT8(4), PG_GETARG_FLOAT8(5), q, v);
	for (int b = 0; b < state->replicates; b++)
		for (int copies = poisson_one(prng); copies > 0; copies--)
			ope_state_add(&state->replicate[b], PG_GETARG_FLOAT8(3), PG_GETARG_FLOAT8(4),
						  PG_GETARG_FLOAT8(5), q, v);
	PG_RETURN_POINTER(state);
}

static int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (Hyndman & Fan type 7). */
static double
quantile_sorted(const double *sorted, int n, double p)
{
	double		h = (n - 1) * p;
	int			lo = (int) floor(h);

	if (lo >= n - 1)
		return sorted[n - 1];
	return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
}

Datum
ope_bootstrap_final(PG_FUNCTION_ARGS)
{
	BootstrapState *state = PG_ARGISNULL(0) ? NULL : (BootstrapState *) PG_GETARG_POINTER(0);
	OpeResult	r;
	double	   *estimates;
	int			defined = 0;
	double		mean = 0.0,
				m2 = 0.0;

	aggregate_context(fcinfo, "ope_bootstrap_final");
	if (state == NULL)
	{
		empty_result(&r);
		PG_RETURN_DATUM(estimate_tuple(fcinfo, &r));
	}
	ope_state_result(&state->full, &r);
	estimates = palloc(sizeof(double) * state->replicates);
	for (int b = 0; b < state->replicates; b++)
	{
		OpeResult	rb;

		ope_state_result(&state->replicate[b], &rb);
		if (rb.estimate_null)
			continue;
		estimates[defined++] = rb.estimate;
		/* Welford over the replicates */
		{
			double		delta = rb.estimate - mean;

			mean += delta / defined;
			m2 += delta * (rb.estimate - mean);
		}
	}
	/* the interval needs the estimate and most replicates defined */
	r.stderr_null = r.estimate_null || state->full.n < 2 || defined < 2 ||
		defined < state->replicates / 2;
	if (!r.stderr_null)
	{
		qsort(estimates, defined, sizeof(double), compare_doubles);
		r.stderr = sqrt(m2 / (defined - 1));
		r.ci_low = quantile_sorted(estimates, defined, 0.025);
		r.ci_high = quantile_sorted(estimates, defined, 0.975);
	}
	pfree(estimates);
	PG_RETURN_DATUM(estimate_tuple(fcinfo, &r));
}
