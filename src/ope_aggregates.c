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

#include "aggregates.h"
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

/* The state, created in the aggregate context on the first call. */
static OpeState *
state_for(FunctionCallInfo fcinfo, OpeEstimator estimator, double param)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "ope transition");
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
	state = MemoryContextAlloc(agg_context, sizeof(OpeState));
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
		elog(ERROR, "cannot combine states of different ope estimators");
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
Datum
ope_final(PG_FUNCTION_ARGS)
{
	OpeState   *state = PG_ARGISNULL(0) ? NULL : (OpeState *) PG_GETARG_POINTER(0);
	OpeResult	r;
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7];

	aggregate_context(fcinfo, "ope_final");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ope_final must return a composite type");
	desc = BlessTupleDesc(desc);
	if (state == NULL)
	{
		OpeState	empty;

		ope_state_init(&empty, OPE_IPS, 0.0);
		ope_state_result(&empty, &r);
		r.ess = 0.0;
	}
	else
		ope_state_result(state, &r);

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
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
