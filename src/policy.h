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
