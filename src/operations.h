/*
 * operations.h
 *		Operating an experiment safely: the events log, pause and resume,
 *		and guardrails that disable an arm which clearly falls short.
 */
#ifndef BANDIT_OPERATIONS_H
#define BANDIT_OPERATIONS_H

#include "postgres.h"

/*
 * Append to bandit.event (a no-op on tables older than 0.4.0, which have
 * none).  arm and why may be NULL.  Runs inside catalog_begin/end.
 */
extern void record_event(int64 experiment_id, const char *experiment, const char *what,
						 const char *arm, const char *why);

/*
 * Apply the experiment's guardrail (if it has one) to one arm (arm_id > 0)
 * or to every arm (arm_id 0), on the state as this transaction now sees
 * it: each enabled arm with at least min_pulls rewards whose upper
 * posterior bound at the configured confidence is below min_reward is
 * disabled, and the trip recorded, unless it is the last enabled arm or
 * the arm a pause serves.  Runs inside catalog_begin/end.
 */
extern void guardrail_check(const char *experiment, int32 arm_id);

#endif							/* BANDIT_OPERATIONS_H */
