/*
 * forgetting.h
 *		Posteriors that forget (params half_life and window of thompson and
 *		ucb1, batch experiments): recomputed by each bandit_refresh as of
 *		that refresh's transaction time t.
 *
 * half_life h: a reward that arrived at t_i weighs 2^(-(t - t_i) / h), so
 * the posterior is the prior plus the weighted evidence (Beta: sum w r and
 * sum w (1 - r); Normal-Inverse-Gamma: the weighted count, mean and sum of
 * squares).  Kept incrementally: the stored evidence, as of the previous
 * refresh (experiment.state_time), decays by 2^(-(t - state_time) / h) and
 * the newly folded rewards are added with their own weights, which equals
 * the sum over the whole log.
 *
 * window: only the last N folded rewards of the experiment (by reward
 * time), or those of the last interval, count; recomputed from the reward
 * log at every refresh.
 */
#ifndef BANDIT_FORGETTING_H
#define BANDIT_FORGETTING_H

#include "postgres.h"

#include "config.h"

/*
 * Fold the experiment's pending rewards and recompute its posteriors as of
 * now; the caller holds the experiment row lock.  Returns the number of
 * pending rewards folded.  Runs inside catalog_begin/end.
 */
extern int64 refresh_forgetting(int64 id, const ExperimentConfig *config);

#endif							/* BANDIT_FORGETTING_H */
