/*
 * window_aggregates.c
 *		Moving-window support for beta_posterior_agg and normal_posterior_agg:
 *		the inverse transition functions PostgreSQL calls when a window
 *		frame's start moves (RANGE '7 days' PRECEDING, ROWS n PRECEDING), so a
 *		posterior "as of" every row costs O(1) per row instead of
 *		re-aggregating the frame.
 *
 * beta_posterior_agg keeps its ordinary state (a count and two Neumaier
 * sums): removing a reward adds its negation to the compensated sums, which
 * stay within a few units in the last place of the exact frame sums
 * (Neumaier's bound: 2u|S| + O(n u^2) sum|x|, n counting every add and
 * remove); when the frame empties the sums are reset to exactly 0.
 *
 * normal_posterior_agg cannot subtract Welford's running mean and m2
 * accurately, so its moving state is different: the count and compensated
 * sums of d = x - K and d^2 around a shift K, the first value added after
 * the frame was (re)started or emptied; m2 = sum d^2 - (sum d)^2 / n.  Its
 * relative error is about u (1 + n dbar^2 / m2), dbar the frame's mean of d,
 * so the inverse declines (returns NULL, and PostgreSQL recomputes the frame
 * from its first row, which becomes the new K) when the frame's mean has
 * moved more than 100 standard deviations from K: the error stays below
 * about 1e4 u = 2e-12 relative.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "aggregates.h"
#include "posterior.h"
#include "summation.h"

PG_FUNCTION_INFO_V1(beta_posterior_agg_inv);
PG_FUNCTION_INFO_V1(normal_posterior_agg_mtrans);
PG_FUNCTION_INFO_V1(normal_posterior_agg_minv);
PG_FUNCTION_INFO_V1(normal_posterior_agg_mfinal);

/* (frame mean - K)^2 may be at most this many times the frame's variance. */
#define SHIFT_DRIFT_LIMIT 1e4

/* ------------------------------------------------------------------------
 * beta_posterior_agg: inverse transition
 * ------------------------------------------------------------------------
 */

Datum
beta_posterior_agg_inv(PG_FUNCTION_ARGS)
{
	BetaAggState *state;
	double		reward;

	(void) aggregate_context(fcinfo, "beta_posterior_agg_inv");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();		/* nothing to remove from: recompute */
	state = (BetaAggState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);	/* the forward transition skipped it */

	/* the forward transition checked this reward when it was added */
	reward = PG_GETARG_FLOAT8(1);
	if (state->n <= 0)
		PG_RETURN_NULL();
	state->n--;
	if (state->n == 0)
	{
		memset(&state->successes, 0, sizeof(CompensatedSum));
		memset(&state->failures, 0, sizeof(CompensatedSum));
	}
	else
	{
		compensated_add(&state->successes, -reward);
		compensated_add(&state->failures, -(1.0 - reward));
	}
	PG_RETURN_POINTER(state);
}

/* ------------------------------------------------------------------------
 * normal_posterior_agg: moving state
 * ------------------------------------------------------------------------
 */

typedef struct NormalWindowState
{
	int64		n;
	double		shift;			/* K; meaningless while n = 0 */
	CompensatedSum sum;			/* sum of (x - K) */
	CompensatedSum sumsq;		/* sum of (x - K)^2 */
} NormalWindowState;

/* The shifted sums of a moving frame must stay finite (else the posterior would be wrong). */
static void
report_moving_overflow(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("normal_posterior_agg overflows in this window frame"),
			 errdetail("The squared deviations of the frame's rewards exceed the range of float8."),
			 errhint("Rescale the rewards.")));
}

static void
check_moving_square(double d)
{
	if (!isfinite(d * d))
		report_moving_overflow();
}

Datum
normal_posterior_agg_mtrans(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "normal_posterior_agg_mtrans");
	NormalWindowState *state = PG_ARGISNULL(0) ? NULL : (NormalWindowState *) PG_GETARG_POINTER(0);
	double		reward,
				d;

	if (state == NULL)
		state = (NormalWindowState *) MemoryContextAllocZero(agg_context, sizeof(NormalWindowState));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);

	reward = PG_GETARG_FLOAT8(1);
	check_reward_finite(reward);
	if (state->n == 0)
		state->shift = reward;
	d = reward - state->shift;
	check_moving_square(d);
	state->n++;
	compensated_add(&state->sum, d);
	compensated_add(&state->sumsq, d * d);
	PG_RETURN_POINTER(state);
}

Datum
normal_posterior_agg_minv(PG_FUNCTION_ARGS)
{
	NormalWindowState *state;
	double		d,
				n,
				sum,
				m2;

	(void) aggregate_context(fcinfo, "normal_posterior_agg_minv");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (NormalWindowState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);
	if (state->n <= 0)
		PG_RETURN_NULL();

	d = PG_GETARG_FLOAT8(1) - state->shift;
	state->n--;
	if (state->n == 0)
	{
		memset(state, 0, sizeof(NormalWindowState));
		PG_RETURN_POINTER(state);
	}
	compensated_add(&state->sum, -d);
	compensated_add(&state->sumsq, -(d * d));

	/* too far from K to subtract accurately: let PostgreSQL start over */
	n = (double) state->n;
	sum = compensated_value(&state->sum);
	m2 = compensated_value(&state->sumsq) - sum * (sum / n);
	if (!isfinite(m2) || m2 < 0.0 || sum * sum > SHIFT_DRIFT_LIMIT * n * m2)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

Datum
normal_posterior_agg_mfinal(PG_FUNCTION_ARGS)
{
	NormalWindowState *state = PG_ARGISNULL(0) ? NULL : (NormalWindowState *) PG_GETARG_POINTER(0);
	GaussianStats stats = {0, 0.0, 0.0};
	NormalPosterior *prior = make_normal_posterior(0, DEFAULT_NORMAL_PRIOR_MEAN,
												   DEFAULT_NORMAL_PRIOR_KAPPA,
												   DEFAULT_NORMAL_PRIOR_ALPHA,
												   DEFAULT_NORMAL_PRIOR_BETA);

	if (state != NULL && state->n > 0)
	{
		double		n = (double) state->n;
		double		sum = compensated_value(&state->sum);
		double		m2 = compensated_value(&state->sumsq) - sum * (sum / n);

		if (!isfinite(sum) || !isfinite(m2))
			report_moving_overflow();
		stats.n = state->n;
		stats.mean = state->shift + sum / n;
		stats.m2 = (m2 > 0.0) ? m2 : 0.0;
	}
	PG_RETURN_POINTER(normal_posterior_fold(prior, &stats));
}
