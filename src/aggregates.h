/*
 * aggregates.h
 *		Helpers shared by the posterior aggregates (aggregates.c,
 *		linear_aggregates.c).
 */
#ifndef BANDIT_AGGREGATES_H
#define BANDIT_AGGREGATES_H

#include "postgres.h"
#include "fmgr.h"

/* The aggregate's memory context; errors when not called as an aggregate. */
extern MemoryContext aggregate_context(FunctionCallInfo fcinfo, const char *func_name);

#endif							/* BANDIT_AGGREGATES_H */
