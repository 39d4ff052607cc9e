/*
 * policy.h
 *		From an experiment's configuration and its arms' posteriors to the
 *		probability vector pi(arm) of the policy in that state.
 *
 * Every policy here depends only on the state, so the vector is computed
 * once per state version and both the draw and the logged propensity come
 * from it: they cannot disagree.
 */
#ifndef BANDIT_POLICY_H
#define BANDIT_POLICY_H

#include "config.h"
#include "reward_slot.h"

typedef struct ArmState
{
	bool		enabled;
	int64		n;				/* rewards folded into the posterior */
	/* bernoulli: Beta(alpha, beta); gaussian: NIG(mean, kappa, alpha, beta) */
	double		alpha;
	double		beta;
	double		mean;
	double		kappa;
	double		ipw_sum;		/* sum of reward / propensity (EXP3) */
	const struct LinearPosterior *linear;	/* contextual policies; else NULL */
} ArmState;

/*
 * Fills probs[0..k-1]; disabled arms get 0.  Errors if no arm is enabled.
 * Not for contextual policies, whose probabilities depend on the context.
 */
extern void policy_probabilities(const ExperimentConfig *config, int k,
								 const ArmState *arms, double *probs);

/* Thompson sampling's P(arm is the best draw) over the enabled arms. */
extern void thompson_probabilities(RewardType reward_type, int k,
								   const ArmState *arms, double *probs);

extern bool policy_has_enabled_arm(int k, const ArmState *arms);

/*
 * The exploration limits every policy takes (params explore_share and
 * min_propensity): with probability 1 - explore_share the greedy arm
 * (greedy: its vector, ties split), otherwise the policy (probs); then each
 * of the K enabled arms gets at least the floor m = min(min_propensity,
 * 1/K): p = m + (1 - K m) p.  The result is the exact probability of the
 * mixed policy, in probs.  policy_probabilities applies it already.
 */
extern bool policy_has_limits(const ExperimentConfig *config);
extern double policy_effective_floor(const ExperimentConfig *config, int enabled);
extern void policy_apply_limits(const ExperimentConfig *config, int k, const bool *enabled,
								const double *greedy, double *probs);

/* Index of the arm that the cumulative walk of probs reaches at u in [0,1). */
extern int	policy_walk(int k, const double *probs, double u);

/* An arm at the configuration's prior (enabled). */
extern void arm_state_prior(const ExperimentConfig *config, ArmState *arm);

/* Fold a batch of rewards into a non-contextual arm (its posterior and EXP3 sum). */
extern void arm_state_add_batch(const ExperimentConfig *config, ArmState *arm,
								const ArmBatch *batch);

/* Fold one reward into a non-contextual arm, as an online bandit_reward does. */
extern void arm_state_add_reward(const ExperimentConfig *config, ArmState *arm,
								 double reward, double propensity);

#endif							/* BANDIT_POLICY_H */
