/*
 * policy.c
 *		Probability vectors of the non-contextual policies.
 */
#include "postgres.h"

#include <math.h>

#include "policy.h"
#include "posterior.h"
#include "thompson.h"

static int
count_enabled(int k, const ArmState *arms)
{
	int			enabled = 0;

	for (int i = 0; i < k; i++)
		if (arms[i].enabled)
			enabled++;
	return enabled;
}

bool
policy_has_enabled_arm(int k, const ArmState *arms)
{
	return count_enabled(k, arms) > 0;
}

/* Posterior mean of the arm's reward. */
static double
posterior_mean_of(const ExperimentConfig *config, const ArmState *arm)
{
	if (config->reward_type == REWARD_GAUSSIAN)
		return arm->mean;
	return arm->alpha / (arm->alpha + arm->beta);
}

/*
 * How many observations the posterior holds: n, or with half_life the sum
 * of the rewards' weights, which is the evidence the posterior adds to the
 * prior (sum of w r plus sum of w (1 - r); for Gaussian rewards kappa's
 * growth).  A window's posterior holds exactly its n rewards.
 */
static double
effective_count_of(const ExperimentConfig *config, const ArmState *arm)
{
	if (config->half_life == NULL)
		return (double) arm->n;
	if (config->reward_type == REWARD_GAUSSIAN)
		return arm->kappa - config->prior_kappa;
	return (arm->alpha - config->prior_alpha) + (arm->beta - config->prior_beta);
}

/* Mean of the observed rewards alone (prior removed); only for a positive count. */
static double
empirical_mean_of(const ExperimentConfig *config, const ArmState *arm)
{
	double		count = effective_count_of(config, arm);

	if (config->reward_type == REWARD_GAUSSIAN)
		return (arm->kappa * arm->mean - config->prior_kappa * config->prior_mean) / count;
	return (arm->alpha - config->prior_alpha) / count;
}

/* Split probability mass evenly over the enabled arms whose score equals the maximum. */
static void
argmax_probabilities(int k, const ArmState *arms, const double *score, double mass,
					 double *probs)
{
	double		best = -INFINITY;
	int			ties = 0;

	for (int i = 0; i < k; i++)
		if (arms[i].enabled && score[i] > best)
			best = score[i];
	for (int i = 0; i < k; i++)
		if (arms[i].enabled && score[i] == best)
			ties++;
	for (int i = 0; i < k; i++)
		if (arms[i].enabled && score[i] == best)
			probs[i] += mass / ties;
}

static void
uniform_probabilities(int k, const ArmState *arms, double mass, double *probs)
{
	int			enabled = count_enabled(k, arms);

	for (int i = 0; i < k; i++)
		if (arms[i].enabled)
			probs[i] += mass / enabled;
}

/*
 * UCB1 (Auer, Cesa-Bianchi & Fischer 2002): play every arm once, then the
 * argmax of mean_i + sqrt(2 ln N / n_i).  Deterministic given the state.
 * With half_life the counts are the discounted ones (discounted UCB,
 * Garivier & Moulines 2011), with a window the window's (sliding-window UCB).
 */
static void
ucb1_probabilities(const ExperimentConfig *config, int k, const ArmState *arms,
				   double *probs)
{
	double	   *score = palloc(sizeof(double) * k);
	double		total = 0.0;
	bool		any_untried = false;

	for (int i = 0; i < k; i++)
		if (arms[i].enabled)
		{
			total += effective_count_of(config, &arms[i]);
			if (arms[i].n == 0 || effective_count_of(config, &arms[i]) <= 0)
				any_untried = true;
		}
	for (int i = 0; i < k; i++)
	{
		if (!arms[i].enabled)
			score[i] = -INFINITY;
		else if (any_untried)
			score[i] = (arms[i].n == 0 || effective_count_of(config, &arms[i]) <= 0) ? 1.0 : 0.0;
		else
			score[i] = empirical_mean_of(config, &arms[i]) +
				sqrt(2.0 * Max(log(total), 0.0) / effective_count_of(config, &arms[i]));
	}
	argmax_probabilities(k, arms, score, 1.0, probs);
	pfree(score);
}

static void
greedy_probabilities(const ExperimentConfig *config, int k, const ArmState *arms,
					 double mass, double *probs)
{
	double	   *score = palloc(sizeof(double) * k);

	for (int i = 0; i < k; i++)
		score[i] = posterior_mean_of(config, &arms[i]);
	argmax_probabilities(k, arms, score, mass, probs);
	pfree(score);
}

static void
epsilon_greedy_probabilities(const ExperimentConfig *config, int k,
							 const ArmState *arms, double *probs)
{
	double		observations = 0.0;
	double		epsilon;

	for (int i = 0; i < k; i++)
		observations += (double) arms[i].n;
	epsilon = config->epsilon / (1.0 + config->decay * observations);
	uniform_probabilities(k, arms, epsilon, probs);
	greedy_probabilities(config, k, arms, 1.0 - epsilon, probs);
}

/* Boltzmann exploration over posterior means; max-shifted so exp() cannot overflow. */
static void
softmax_of(int k, const ArmState *arms, const double *logit, double mass, double *probs)
{
	double		top = -INFINITY,
				total = 0.0;

	for (int i = 0; i < k; i++)
		if (arms[i].enabled && logit[i] > top)
			top = logit[i];
	for (int i = 0; i < k; i++)
		if (arms[i].enabled)
			total += exp(logit[i] - top);
	for (int i = 0; i < k; i++)
		if (arms[i].enabled)
			probs[i] += mass * exp(logit[i] - top) / total;
}

static void
softmax_probabilities(const ExperimentConfig *config, int k, const ArmState *arms,
					  double *probs)
{
	double	   *logit = palloc(sizeof(double) * k);

	for (int i = 0; i < k; i++)
		logit[i] = posterior_mean_of(config, &arms[i]) / config->temperature;
	softmax_of(k, arms, logit, 1.0, probs);
	pfree(logit);
}

/*
 * EXP3 (Auer et al. 2002): weights exp(gamma * S_i / K) where S_i sums
 * reward / propensity over the arm's rewards; mixed with gamma uniform.
 */
static void
exp3_probabilities(const ExperimentConfig *config, int k, const ArmState *arms,
				   double *probs)
{
	int			enabled = count_enabled(k, arms);
	double	   *logit = palloc(sizeof(double) * k);

	for (int i = 0; i < k; i++)
		logit[i] = config->gamma * arms[i].ipw_sum / enabled;
	softmax_of(k, arms, logit, 1.0 - config->gamma, probs);
	uniform_probabilities(k, arms, config->gamma, probs);
	pfree(logit);
}

void
thompson_probabilities(RewardType reward_type, int k, const ArmState *arms,
					   double *probs)
{
	int			enabled = count_enabled(k, arms);
	double	   *p1 = palloc(sizeof(double) * enabled);
	double	   *p2 = palloc(sizeof(double) * enabled);
	double	   *p3 = palloc(sizeof(double) * enabled);
	double	   *best = palloc(sizeof(double) * enabled);
	int			j = 0;
	int			status;

	for (int i = 0; i < k; i++)
	{
		if (!arms[i].enabled)
			continue;
		if (reward_type == REWARD_GAUSSIAN)
		{
			/* marginal of the mean: location-scale Student t, 2*alpha dof */
			p1[j] = arms[i].mean;
			p2[j] = sqrt(arms[i].beta / (arms[i].alpha * arms[i].kappa));
			p3[j] = 2.0 * arms[i].alpha;
		}
		else
		{
			p1[j] = arms[i].alpha;
			p2[j] = arms[i].beta;
		}
		j++;
	}
	status = (reward_type == REWARD_GAUSSIAN)
		? thompson_t_prob_best(enabled, p1, p2, p3, best)
		: thompson_beta_prob_best(enabled, p1, p2, best);
	if (status != 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("could not compute Thompson sampling probabilities"),
				 errdetail("The numerical integration did not reach its tolerance for these posteriors.")));
	j = 0;
	for (int i = 0; i < k; i++)
		probs[i] = arms[i].enabled ? best[j++] : 0.0;
	pfree(p1);
	pfree(p2);
	pfree(p3);
	pfree(best);
}

void
policy_probabilities(const ExperimentConfig *config, int k, const ArmState *arms,
					 double *probs)
{
	if (count_enabled(k, arms) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("experiment has no enabled arm"),
				 errhint("Enable an arm with bandit_set_arm_enabled().")));

	for (int i = 0; i < k; i++)
		probs[i] = 0.0;
	switch (config->policy)
	{
		case POLICY_THOMPSON:
			thompson_probabilities(config->reward_type, k, arms, probs);
			break;
		case POLICY_UCB1:
			ucb1_probabilities(config, k, arms, probs);
			break;
		case POLICY_EPSILON_GREEDY:
			epsilon_greedy_probabilities(config, k, arms, probs);
			break;
		case POLICY_SOFTMAX:
			softmax_probabilities(config, k, arms, probs);
			break;
		case POLICY_EXP3:
			exp3_probabilities(config, k, arms, probs);
			break;
		case POLICY_UNIFORM:
			uniform_probabilities(k, arms, 1.0, probs);
			break;
		case POLICY_LINUCB:
		case POLICY_LINTS:
			elog(ERROR, "contextual policies have no context-free probability vector");
	}
	if (policy_has_limits(config))
	{
		double	   *greedy = palloc0(sizeof(double) * k);
		bool	   *enabled = palloc(sizeof(bool) * k);

		for (int i = 0; i < k; i++)
			enabled[i] = arms[i].enabled;
		greedy_probabilities(config, k, arms, 1.0, greedy);
		policy_apply_limits(config, k, enabled, greedy, probs);
		pfree(greedy);
		pfree(enabled);
	}
}

bool
policy_has_limits(const ExperimentConfig *config)
{
	return config->explore_share < 1.0 || config->min_propensity > 0.0;
}

double
policy_effective_floor(const ExperimentConfig *config, int enabled)
{
	return Min(config->min_propensity, 1.0 / enabled);
}

void
policy_apply_limits(const ExperimentConfig *config, int k, const bool *enabled,
					const double *greedy, double *probs)
{
	int			count = 0;
	double		share = config->explore_share;
	double		floor;

	for (int i = 0; i < k; i++)
		if (enabled[i])
			count++;
	floor = policy_effective_floor(config, count);
	for (int i = 0; i < k; i++)
	{
		if (!enabled[i])
		{
			probs[i] = 0.0;
			continue;
		}
		probs[i] = share * probs[i] + (1.0 - share) * greedy[i];
		probs[i] = floor + (1.0 - count * floor) * probs[i];
	}
}

int
policy_walk(int k, const double *probs, double u)
{
	double		cumulative = 0.0;
	int			last_positive = -1;

	for (int i = 0; i < k; i++)
	{
		if (probs[i] <= 0.0)
			continue;
		last_positive = i;
		cumulative += probs[i];
		if (u < cumulative)
			return i;
	}
	/* rounding left the total a hair under 1 and u above it */
	return last_positive;
}

void
arm_state_prior(const ExperimentConfig *config, ArmState *arm)
{
	memset(arm, 0, sizeof(*arm));
	arm->enabled = true;
	arm->alpha = config->prior_alpha;
	arm->beta = config->prior_beta;
	arm->mean = config->prior_mean;
	arm->kappa = config->prior_kappa;
}

/*
 * A batch of rewards folded into a non-contextual arm: Beta or
 * Normal-Inverse-Gamma conjugate update with the batch's sums, and its
 * reward / propensity sum added to the EXP3 sum.
 */
void
arm_state_add_batch(const ExperimentConfig *config, ArmState *arm, const ArmBatch *batch)
{
	if (batch->n == 0)
		return;
	if (config->reward_type == REWARD_GAUSSIAN)
	{
		NormalPosterior prior = {0};
		NormalPosterior *posterior;

		prior.n = arm->n;
		prior.mean = arm->mean;
		prior.kappa = arm->kappa;
		prior.alpha = arm->alpha;
		prior.beta = arm->beta;
		posterior = normal_posterior_fold(&prior, &batch->gaussian);
		arm->mean = posterior->mean;
		arm->kappa = posterior->kappa;
		arm->alpha = posterior->alpha;
		arm->beta = posterior->beta;
		pfree(posterior);
	}
	else
	{
		arm->alpha += compensated_value(&batch->successes);
		arm->beta += compensated_value(&batch->failures);
	}
	arm->n += batch->n;
	arm->ipw_sum += compensated_value(&batch->ipw);
}

/* One reward folded into a non-contextual arm, as bandit_reward folds it online. */
void
arm_state_add_reward(const ExperimentConfig *config, ArmState *arm, double reward,
					 double propensity)
{
	ArmBatch	one = {0};

	arm_batch_add(&one, reward, propensity);
	arm_state_add_batch(config, arm, &one);
}
