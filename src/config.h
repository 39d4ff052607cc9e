/*
 * config.h
 *		An experiment's configuration: policy, reward type, update mode,
 *		priors and policy parameters, parsed and validated from the params
 *		jsonb given to bandit_create.
 */
#ifndef BANDIT_CONFIG_H
#define BANDIT_CONFIG_H

#include "postgres.h"
#include "utils/jsonb.h"

typedef enum BanditPolicy
{
	POLICY_THOMPSON,
	POLICY_UCB1,
	POLICY_EPSILON_GREEDY,
	POLICY_SOFTMAX,
	POLICY_EXP3,
	POLICY_UNIFORM,
	POLICY_LINUCB,				/* contextual: disjoint LinUCB */
	POLICY_LINTS				/* contextual: linear Thompson sampling */
} BanditPolicy;

typedef enum RewardType
{
	REWARD_BERNOULLI,
	REWARD_GAUSSIAN
} RewardType;

typedef struct ExperimentConfig
{
	BanditPolicy policy;
	RewardType	reward_type;
	bool		online;			/* update = online (else batch) */
	/* priors: Beta(prior_alpha, prior_beta) or NIG(prior_mean, prior_kappa, prior_alpha, prior_beta) */
	double		prior_alpha;
	double		prior_beta;
	double		prior_mean;
	double		prior_kappa;
	/* policy parameters */
	double		epsilon;		/* epsilon_greedy */
	double		decay;			/* epsilon_greedy: epsilon / (1 + decay * observations) */
	double		temperature;	/* softmax */
	double		gamma;			/* exp3 */
	/* contextual policies (linucb, lints): a linear_posterior per arm */
	int			context_dim;	/* d: every context has exactly d numbers */
	double		lambda;			/* ridge penalty: A starts as lambda * I */
	double		ucb_alpha;		/* linucb: width of the confidence bound */
	double		lints_v;		/* lints: posterior scale v */
	/* exploration limits, any policy (see policy_apply_limits) */
	double		explore_share;	/* run the policy with this probability, else the greedy arm; 1 = off */
	double		min_propensity; /* every enabled arm gets at least this; 0 = off */
	/* units and delayed rewards */
	bool		sticky;			/* a unit keeps its arm: repeats logged as kind 'repeat' */
	char	   *reward_window;	/* interval text, or NULL: later rewards are late, not folded */
	/* a changing world (thompson, ucb1; batch): posteriors that forget, recomputed at refresh */
	char	   *half_life;		/* ISO 8601 interval, or NULL: a reward's weight halves every half_life */
	double		half_life_seconds;
	int64		window_count;	/* > 0: only the last window_count folded rewards count */
	char	   *window_span;	/* ISO 8601 interval, or NULL: only rewards of the last window_span count */
	double		window_seconds;
	/* guardrail (non-contextual policies): disable arms that clearly fall short */
	bool		guardrail;
	double		guardrail_min_reward;
	int64		guardrail_min_pulls;
	double		guardrail_confidence;
} ExperimentConfig;

static inline bool
policy_is_contextual(BanditPolicy policy)
{
	return policy == POLICY_LINUCB || policy == POLICY_LINTS;
}

/* Does the experiment's posterior forget (half_life or window)? */
static inline bool
config_forgets(const ExperimentConfig *config)
{
	return config->half_life != NULL || config->window_count > 0 || config->window_span != NULL;
}

extern BanditPolicy policy_from_name(const char *name);
extern const char *policy_name(BanditPolicy policy);

/* Parse and validate; every key must be known for the policy. */
extern void config_from_params(ExperimentConfig *config, BanditPolicy policy,
							   Jsonb *params);

/*
 * The guardrail object {"min_reward": r, "min_pulls": n, "confidence": c},
 * checked, into config (bandit_set_guardrail builds it).
 */
extern void config_set_guardrail(ExperimentConfig *config, double min_reward, int64 min_pulls,
								 double confidence);

/* The effective configuration (defaults filled in) as jsonb, for the catalog. */
extern Jsonb *config_to_params(const ExperimentConfig *config);

/* The prior as a beta_posterior / normal_posterior / linear_posterior text literal. */
extern char *config_prior_literal(const ExperimentConfig *config);

/* The arm column and type that hold this configuration's posterior. */
extern const char *config_posterior_column(const ExperimentConfig *config);
extern const char *config_posterior_type(const ExperimentConfig *config);

#endif							/* BANDIT_CONFIG_H */
