/*
 * ope_floor.c
 *		Reference aggregates for bench/ope.sh, built by it into its scratch
 *		directory and created in schema bench_floor of the benchmark's
 *		database (never installed, not part of the extension).
 *
 *	bench_floor.ips_floor(reward, target_prob, logging_prob) float8
 *		The least a C aggregate with ope_ips's signature and an internal
 *		state can do per row: one transition call through fmgr, the state
 *		pointer, three float8 arguments, one weighted reward added to a plain
 *		double and a count.  Its time minus the count(*) scan is the
 *		aggregate machinery's own cost per row; ope_ips minus ips_floor is
 *		what ope_ips's per-row work (input checks, compensated sums, Welford
 *		moments, weight sums) costs on top.
 *
 *	bench_floor.ips_lean(reward, target_prob, logging_prob) float8[]
 *		What ope_ips returns -- {estimate, stderr, n, ess, max_weight} --
 *		with the same input checks and compensated (Neumaier) sums, but
 *		with the per-row work written for the IPS case alone, inlined, and
 *		without a division per row: the standard error comes from
 *		compensated sums of d = z - shift and d^2 (shift = the first row's
 *		z) instead of a Welford mean updated by delta / n on every row.
 *		A sketch of how src/ope.c could go faster, timed beside it; its
 *		results are checked against ope_ips outside the timing.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(ips_floor_trans);
PG_FUNCTION_INFO_V1(ips_floor_final);
PG_FUNCTION_INFO_V1(ips_lean_trans);
PG_FUNCTION_INFO_V1(ips_lean_final);

typedef struct FloorState
{
	int64		n;
	double		sum;
} FloorState;

static void *
new_state(FunctionCallInfo fcinfo, Size size)
{
	MemoryContext agg_context;

	if (!AggCheckCallContext(fcinfo, &agg_context))
		elog(ERROR, "called in non-aggregate context");
	return MemoryContextAllocZero(agg_context, size);
}

Datum
ips_floor_trans(PG_FUNCTION_ARGS)
{
	FloorState *state = PG_ARGISNULL(0) ? new_state(fcinfo, sizeof(FloorState))
		: (FloorState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(state);
	state->sum += PG_GETARG_FLOAT8(1) * PG_GETARG_FLOAT8(2) / PG_GETARG_FLOAT8(3);
	state->n++;
	PG_RETURN_POINTER(state);
}

Datum
ips_floor_final(PG_FUNCTION_ARGS)
{
	FloorState *state = PG_ARGISNULL(0) ? NULL : (FloorState *) PG_GETARG_POINTER(0);

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(state->sum / (double) state->n);
}

/* Neumaier, as src/summation.h */
typedef struct Sum
{
	double		sum;
	double		c;
} Sum;

static inline void
sum_add(Sum *acc, double value)
{
	double		t = acc->sum + value;

	if (fabs(acc->sum) >= fabs(value))
		acc->c += (acc->sum - t) + value;
	else
		acc->c += (value - t) + acc->sum;
	acc->sum = t;
}

static inline double
sum_value(const Sum *acc)
{
	return acc->sum + acc->c;
}

typedef struct LeanState
{
	int64		n;
	double		shift;
	Sum			d;				/* z - shift */
	Sum			dd;				/* (z - shift)^2 */
	Sum			w;
	Sum			ww;
	double		max_weight;
} LeanState;

Datum
ips_lean_trans(PG_FUNCTION_ARGS)
{
	LeanState  *state;
	double		reward,
				target_prob,
				logging_prob,
				w,
				z,
				d;

	if (PG_ARGISNULL(0))
		state = new_state(fcinfo, sizeof(LeanState));
	else
		state = (LeanState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(state);
	reward = PG_GETARG_FLOAT8(1);
	target_prob = PG_GETARG_FLOAT8(2);
	logging_prob = PG_GETARG_FLOAT8(3);
	/* the same checks as ope_state_add, one well-predicted branch */
	if (unlikely(!isfinite(reward) || !(target_prob >= 0.0 && target_prob <= 1.0) ||
				 !(logging_prob > 0.0 && logging_prob <= 1.0)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("invalid ips input")));
	w = target_prob / logging_prob;
	z = w * reward;
	if (unlikely(!isfinite(z)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ips term out of range")));
	if (state->n == 0)
		state->shift = z;
	state->n++;
	d = z - state->shift;
	sum_add(&state->d, d);
	sum_add(&state->dd, d * d);
	sum_add(&state->w, w);
	sum_add(&state->ww, w * w);
	if (w > state->max_weight)
		state->max_weight = w;
	PG_RETURN_POINTER(state);
}

Datum
ips_lean_final(PG_FUNCTION_ARGS)
{
	LeanState  *state = PG_ARGISNULL(0) ? NULL : (LeanState *) PG_GETARG_POINTER(0);
	Datum		out[5];
	double		n,
				md,
				var,
				ws,
				wss;

	if (state == NULL || state->n < 2)
		PG_RETURN_NULL();
	n = (double) state->n;
	md = sum_value(&state->d) / n;
	var = (sum_value(&state->dd) - n * md * md) / (n - 1.0);
	ws = sum_value(&state->w);
	wss = sum_value(&state->ww);
	out[0] = Float8GetDatum(state->shift + md);
	out[1] = Float8GetDatum(sqrt(Max(var, 0.0) / n));
	out[2] = Float8GetDatum(n);
	out[3] = Float8GetDatum(wss > 0.0 ? ws * ws / wss : 0.0);
	out[4] = Float8GetDatum(state->max_weight);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, 5, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
