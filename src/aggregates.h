/*
 * aggregates.h
 *		Helpers shared by the posterior aggregates (aggregates.c,
 *		linear_aggregates.c, window_aggregates.c).
 */
#ifndef BANDIT_AGGREGATES_H
#define BANDIT_AGGREGATES_H

#include "postgres.h"
#include "fmgr.h"

#include "summation.h"

/* beta_posterior_agg's state (also its moving-window state, window_aggregates.c). */
typedef struct BetaAggState
{
	int64		n;
	CompensatedSum successes;	/* sum of r */
	CompensatedSum failures;	/* sum of 1 - r */
} BetaAggState;

/* The aggregate's memory context; errors when not called as an aggregate. */
extern MemoryContext aggregate_context(FunctionCallInfo fcinfo, const char *func_name);

#endif							/* BANDIT_AGGREGATES_H */
