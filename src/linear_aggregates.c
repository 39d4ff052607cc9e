/*
 * linear_aggregates.c
 *		linear_posterior_agg(context float8[], reward float8 [, lambda float8]):
 *		fit a linear_posterior from any table, in parallel.
 *
 * The state is a LinearAccumulator in the aggregate memory context: rows are
 * buffered and folded into X^T X a block at a time (dsyrk), with the sums
 * compensated, so one pass, partial states combined in any order, and the
 * online rank-1 updates of an experiment all agree.  Rows whose context or
 * reward is NULL are skipped, as SQL aggregates skip NULLs; a malformed
 * context or a non-finite reward is an error.  With no rows the result is
 * NULL (the dimension is unknown).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"

#include "aggregates.h"
#include "linear.h"

#define LINEAR_AGG_STATE_FORMAT 1

PG_FUNCTION_INFO_V1(linear_posterior_agg_trans);
PG_FUNCTION_INFO_V1(linear_posterior_agg_trans_lambda);
PG_FUNCTION_INFO_V1(linear_posterior_agg_combine);
PG_FUNCTION_INFO_V1(linear_posterior_agg_serialize);
PG_FUNCTION_INFO_V1(linear_posterior_agg_deserialize);
PG_FUNCTION_INFO_V1(linear_posterior_agg_final);

/* A state that has seen no row yet: dimension unknown. */
static LinearAccumulator *
empty_state(MemoryContext context, double lambda)
{
	LinearAccumulator *acc = MemoryContextAllocZero(context, sizeof(LinearAccumulator));

	acc->lambda = lambda;
	return acc;
}

static void
check_same_lambda(const LinearAccumulator *acc, double lambda)
{
	if (acc->lambda != lambda)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lambda must be the same for every row of linear_posterior_agg"),
				 errdetail("Saw %g and then %g.", acc->lambda, lambda)));
}

static Datum
transition(FunctionCallInfo fcinfo, double lambda)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "linear_posterior_agg_trans");
	LinearAccumulator *acc;
	double	   *x;
	double		reward;
	int			len;

	acc = PG_ARGISNULL(0) ? empty_state(agg_context, lambda)
		: (LinearAccumulator *) PG_GETARG_POINTER(0);
	check_same_lambda(acc, lambda);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(acc);

	x = checked_context(PG_GETARG_ARRAYTYPE_P(1), acc->dim, "context", &len);
	reward = PG_GETARG_FLOAT8(2);
	if (!isfinite(reward))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reward must be a finite number"),
				 errdetail("The reward given was %g.", reward)));
	if (acc->dim == 0)
	{
		MemoryContext old = MemoryContextSwitchTo(agg_context);

		if (len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("context must not be empty")));
		linear_accumulator_init(acc, len, lambda);
		MemoryContextSwitchTo(old);
	}
	linear_accumulator_add(acc, x, reward);
	PG_RETURN_POINTER(acc);
}

Datum
linear_posterior_agg_trans(PG_FUNCTION_ARGS)
{
	return transition(fcinfo, DEFAULT_LINEAR_LAMBDA);
}

Datum
linear_posterior_agg_trans_lambda(PG_FUNCTION_ARGS)
{
	double		lambda;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lambda must not be NULL")));
	lambda = PG_GETARG_FLOAT8(3);
	check_linear_lambda(lambda);
	return transition(fcinfo, lambda);
}

Datum
linear_posterior_agg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "linear_posterior_agg_combine");
	LinearAccumulator *left = PG_ARGISNULL(0) ? NULL : (LinearAccumulator *) PG_GETARG_POINTER(0);
	LinearAccumulator *right = PG_ARGISNULL(1) ? NULL : (LinearAccumulator *) PG_GETARG_POINTER(1);

	if (right == NULL)
	{
		if (left == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(left);
	}
	if (left == NULL)
		left = empty_state(agg_context, right->lambda);
	check_same_lambda(left, right->lambda);
	if (right->dim == 0)
		PG_RETURN_POINTER(left);
	if (left->dim == 0)
	{
		/* copy into the aggregate context: right may live elsewhere */
		MemoryContext old = MemoryContextSwitchTo(agg_context);

		linear_accumulator_init(left, right->dim, right->lambda);
		MemoryContextSwitchTo(old);
	}
	if (left->dim != right->dim)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("contexts of different dimensions in one linear_posterior_agg"),
				 errdetail("Dimensions %d and %d.", left->dim, right->dim)));
	linear_accumulator_merge(left, right);
	PG_RETURN_POINTER(left);
}

static Size
triangle(int dim)
{
	return (Size) dim * (dim + 1) / 2;
}

Datum
linear_posterior_agg_serialize(PG_FUNCTION_ARGS)
{
	LinearAccumulator *acc = (LinearAccumulator *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int			d = acc->dim;

	aggregate_context(fcinfo, "linear_posterior_agg_serialize");
	linear_accumulator_flush(acc);
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, LINEAR_AGG_STATE_FORMAT);
	pq_sendint32(&buf, d);
	pq_sendint64(&buf, acc->n);
	pq_sendfloat8(&buf, acc->lambda);
	for (int j = 0; j < d; j++)
		for (int i = 0; i <= j; i++)
		{
			pq_sendfloat8(&buf, acc->xtx[i + (Size) j * d]);
			pq_sendfloat8(&buf, acc->xtx_comp[i + (Size) j * d]);
		}
	for (int i = 0; i < d; i++)
	{
		pq_sendfloat8(&buf, acc->xtr[i]);
		pq_sendfloat8(&buf, acc->xtr_comp[i]);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static double
finite_from(StringInfo buf)
{
	double		value = pq_getmsgfloat8(buf);

	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid linear_posterior_agg state: non-finite sum")));
	return value;
}

/* The bytes must be exactly what serialize wrote: checked, never trusted. */
Datum
linear_posterior_agg_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "linear_posterior_agg_deserialize");
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	LinearAccumulator *acc;
	int			format;
	int32		d;
	int64		n;
	double		lambda;
	MemoryContext old;

	buf.data = VARDATA_ANY(bytes);
	buf.len = VARSIZE_ANY_EXHDR(bytes);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 1 + 4 + 8 + 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid linear_posterior_agg state: too short")));
	format = pq_getmsgbyte(&buf);
	d = (int32) pq_getmsgint(&buf, 4);
	n = pq_getmsgint64(&buf);
	lambda = pq_getmsgfloat8(&buf);
	if (format != LINEAR_AGG_STATE_FORMAT || d < 0 || d > LINEAR_MAX_DIM || n < 0 ||
		(d == 0) != (n == 0) || !isfinite(lambda) || lambda < 0.0 ||
		(Size) (buf.len - buf.cursor) != sizeof(double) * 2 * (triangle(d) + d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid linear_posterior_agg state"),
				 errdetail("Format %d, dimension %d, n " INT64_FORMAT ", %d bytes of sums.",
						   format, d, n, buf.len - buf.cursor)));

	acc = empty_state(agg_context, lambda);
	if (d > 0)
	{
		old = MemoryContextSwitchTo(agg_context);
		linear_accumulator_init(acc, d, lambda);
		MemoryContextSwitchTo(old);
		acc->n = n;
		for (int j = 0; j < d; j++)
			for (int i = 0; i <= j; i++)
			{
				acc->xtx[i + (Size) j * d] = finite_from(&buf);
				acc->xtx_comp[i + (Size) j * d] = finite_from(&buf);
			}
		for (int i = 0; i < d; i++)
		{
			acc->xtr[i] = finite_from(&buf);
			acc->xtr_comp[i] = finite_from(&buf);
		}
	}
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(acc);
}

Datum
linear_posterior_agg_final(PG_FUNCTION_ARGS)
{
	LinearAccumulator *acc;
	LinearPosterior *prior;

	aggregate_context(fcinfo, "linear_posterior_agg_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	acc = (LinearAccumulator *) PG_GETARG_POINTER(0);
	if (acc->n == 0)
		PG_RETURN_NULL();
	/* folding flushes the row buffer, which leaves the state's meaning unchanged */
	prior = linear_posterior_prior_value(acc->dim, acc->lambda);
	PG_RETURN_POINTER(linear_posterior_fold(prior, acc));
}
