/*
 * contextual.c
 *		LinUCB (Li et al. 2010, disjoint model) and linear Thompson sampling
 *		(Agrawal & Goyal 2013) over the arms' linear_posteriors.
 *
 * At a context x, arm i's posterior gives a mean mu_i = x^T theta_i and a
 * width w_i = sqrt(x^T A_i^-1 x) = |L_i^-1 x|.
 *
 * LinUCB picks the arm with the largest mu_i + alpha * w_i; ties are split
 * evenly, and with epsilon > 0 a uniform draw over the enabled arms is mixed
 * in, so the probability vector is exact and every arm keeps a positive
 * propensity when epsilon > 0.
 *
 * LinTS draws theta~_i ~ N(theta_i, v^2 A_i^-1) and picks the largest
 * x^T theta~_i.  For one x that score is N(mu_i, (v w_i)^2), independent
 * across arms, so one normal draw per arm is the whole sampling step, and
 * the propensity of the chosen arm is the one-dimensional integral
 * P(arm a has the largest score), computed by lints_prob_best (exact to
 * quadrature accuracy, see lints.h) rather than estimated by Monte Carlo.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "contextual.h"
#include "linear.h"
#include "lints.h"
#include "policy.h"
#include "random.h"

typedef struct Scores
{
	int			k;
	double	   *mean;
	double	   *width;
	bool	   *enabled;
} Scores;

static void
scores_free(Scores *s)
{
	pfree(s->mean);
	pfree(s->width);
	pfree(s->enabled);
}

static Scores
scores_at(const ExperimentState *state, const char *experiment, const double *x)
{
	Scores		s;
	double	   *work = palloc(sizeof(double) * state->config.context_dim);

	s.k = state->k;
	s.mean = palloc(sizeof(double) * s.k);
	s.width = palloc(sizeof(double) * s.k);
	s.enabled = palloc(sizeof(bool) * s.k);
	if (!policy_has_enabled_arm(s.k, state->arms))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("experiment \"%s\" has no enabled arm", experiment),
				 errhint("Enable an arm with bandit_set_arm_enabled().")));
	for (int i = 0; i < s.k; i++)
	{
		const LinearPosterior *p = state->arms[i].linear;

		s.enabled[i] = state->arms[i].enabled;
		s.mean[i] = s.width[i] = 0.0;
		if (!s.enabled[i])
			continue;
		if (!(p->flags & LINEAR_POSTERIOR_FACTORED))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the posterior of arm \"%s\" of experiment \"%s\" is singular or too ill-conditioned to solve",
							state->arm_names[i], experiment),
					 errhint("Create the experiment with a larger lambda.")));
		s.mean[i] = linear_posterior_mean_at(p, x);
		s.width[i] = linear_posterior_width_at(p, x, work);
		if (!isfinite(s.mean[i]) || !isfinite(s.width[i]) ||
			!isfinite(state->config.lints_v * s.width[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the score of arm \"%s\" of experiment \"%s\" is out of range at this context",
							state->arm_names[i], experiment),
					 errhint("Scale the context features or rewards.")));
	}
	pfree(work);
	return s;
}

/* LinUCB's probability vector: argmax of the bound, ties split, epsilon mixed. */
static void
linucb_probabilities(const ExperimentConfig *config, const Scores *s, double *probs)
{
	double		best = -INFINITY;
	int			enabled = 0,
				ties = 0;
	double	   *bound = palloc(sizeof(double) * s->k);

	for (int i = 0; i < s->k; i++)
	{
		if (!s->enabled[i])
			continue;
		enabled++;
		bound[i] = s->mean[i] + config->ucb_alpha * s->width[i];
		if (!isfinite(bound[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("LinUCB score out of range"),
					 errhint("Scale the context features or rewards.")));
		if (bound[i] > best)
			best = bound[i];
	}
	for (int i = 0; i < s->k; i++)
		if (s->enabled[i] && bound[i] == best)
			ties++;
	for (int i = 0; i < s->k; i++)
		probs[i] = !s->enabled[i] ? 0.0
			: (1.0 - config->epsilon) * (bound[i] == best ? 1.0 / ties : 0.0) +
			config->epsilon / enabled;
	pfree(bound);
}

static double
lints_probability(const ExperimentConfig *config, const Scores *s, int arm)
{
	double	   *sd = palloc(sizeof(double) * s->k);
	double		prob;

	for (int i = 0; i < s->k; i++)
		sd[i] = config->lints_v * s->width[i];
	if (lints_prob_best(s->k, s->mean, sd, s->enabled, arm, &prob) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("could not compute the linear Thompson sampling probability"),
				 errdetail("The numerical integration did not reach its tolerance at this context.")));
	pfree(sd);
	return prob;
}

/* One draw per enabled arm; exact ties (only possible with zero width) split by uniform. */
static int
lints_draw(const ExperimentConfig *config, const Scores *s, double uniform, pg_prng_state *prng)
{
	double		best = -INFINITY;
	int			ties = 0,
				pick;
	double	   *score = palloc(sizeof(double) * s->k);

	for (int i = 0; i < s->k; i++)
	{
		if (!s->enabled[i])
			continue;
		score[i] = s->mean[i] + config->lints_v * s->width[i] * bandit_random_normal_from(prng);
		if (score[i] > best)
			best = score[i];
	}
	for (int i = 0; i < s->k; i++)
		if (s->enabled[i] && score[i] == best)
			ties++;
	pick = (int) (uniform * ties);
	for (int i = 0; i < s->k; i++)
		if (s->enabled[i] && score[i] == best && pick-- == 0)
		{
			pfree(score);
			return i;
		}
	elog(ERROR, "LinTS draw found no arm");
	pg_unreachable();
}

/* The greedy vector at x: the enabled arms of largest x^T theta, ties split. */
static double *
greedy_at(const Scores *s)
{
	double	   *greedy = palloc0(sizeof(double) * s->k);
	double		best = -INFINITY;
	int			ties = 0;

	for (int i = 0; i < s->k; i++)
		if (s->enabled[i] && s->mean[i] > best)
			best = s->mean[i];
	for (int i = 0; i < s->k; i++)
		if (s->enabled[i] && s->mean[i] == best)
			ties++;
	for (int i = 0; i < s->k; i++)
		if (s->enabled[i] && s->mean[i] == best)
			greedy[i] = 1.0 / ties;
	return greedy;
}

/* probs with the experiment's exploration limits applied (see policy.h) */
static void
apply_limits_at(const ExperimentConfig *config, const Scores *s, double *probs)
{
	double	   *greedy;

	if (!policy_has_limits(config))
		return;
	greedy = greedy_at(s);
	policy_apply_limits(config, s->k, s->enabled, greedy, probs);
	pfree(greedy);
}

/*
 * LinTS with exploration limits, sampled as the mixture it is: with
 * probability K m a uniform enabled arm, else with probability 1 - share
 * the greedy arm, else a LinTS draw.  The propensity is the mixture's
 * probability of the arm, m + (1 - K m) ((1 - share) g + share p_lints).
 */
static int
lints_limited_draw(const ExperimentConfig *config, const Scores *s, double uniform,
				   pg_prng_state *prng, double *propensity)
{
	double	   *greedy = greedy_at(s);
	int			count = 0;
	double		floor;
	double		share = config->explore_share;
	int			arm = -1;

	for (int i = 0; i < s->k; i++)
		if (s->enabled[i])
			count++;
	floor = policy_effective_floor(config, count);
	if (pg_prng_double(prng) < count * floor)
	{
		int			pick = (int) (uniform * count);

		for (int i = 0; i < s->k && arm < 0; i++)
			if (s->enabled[i] && pick-- == 0)
				arm = i;
	}
	else if (pg_prng_double(prng) >= share)
		arm = policy_walk(s->k, greedy, uniform);
	else
		arm = lints_draw(config, s, uniform, prng);
	*propensity = floor + (1.0 - count * floor) *
		((1.0 - share) * greedy[arm] +
		 (share > 0.0 ? share * lints_probability(config, s, arm) : 0.0));
	/* drawn, so positive; see contextual_decide */
	*propensity = Max(*propensity, DBL_MIN);
	pfree(greedy);
	return arm;
}

/* Every arm's probability (limits applied) from the scores at one context. */
static void
contextual_vector(const ExperimentState *state, const Scores *s, double *probs)
{
	if (state->config.policy == POLICY_LINUCB)
		linucb_probabilities(&state->config, s, probs);
	else
		for (int i = 0; i < s->k; i++)
			probs[i] = s->enabled[i] ? lints_probability(&state->config, s, i) : 0.0;
	apply_limits_at(&state->config, s, probs);
}

int
contextual_decide(const ExperimentState *state, const char *experiment, const double *x,
				  double uniform, pg_prng_state *prng, double *propensity)
{
	Scores		s = scores_at(state, experiment, x);
	int			arm;

	if (state->config.policy == POLICY_LINUCB)
	{
		double	   *probs = palloc(sizeof(double) * s.k);

		linucb_probabilities(&state->config, &s, probs);
		apply_limits_at(&state->config, &s, probs);
		arm = policy_walk(s.k, probs, uniform);
		*propensity = probs[arm];
		pfree(probs);
	}
	else if (policy_has_limits(&state->config))
		arm = lints_limited_draw(&state->config, &s, uniform, prng, propensity);
	else
	{
		double		prob;

		arm = lints_draw(&state->config, &s, uniform, prng);
		prob = lints_probability(&state->config, &s, arm);
		/*
		 * The arm was drawn, so its probability is positive; below the
		 * smallest double it would round to 0, which the log cannot hold.
		 */
		*propensity = Max(prob, DBL_MIN);
	}
	scores_free(&s);
	return arm;
}

double
contextual_probability(const ExperimentState *state, const char *experiment,
					   const double *x, int arm)
{
	Scores		s;
	double		prob;

	if (!state->arms[arm].enabled)
		return 0.0;
	s = scores_at(state, experiment, x);
	if (state->config.policy == POLICY_LINUCB || policy_has_limits(&state->config))
	{
		double	   *probs = palloc(sizeof(double) * s.k);

		contextual_vector(state, &s, probs);
		prob = probs[arm];
		pfree(probs);
	}
	else
		prob = lints_probability(&state->config, &s, arm);
	scores_free(&s);
	return prob;
}

void
contextual_probabilities(const ExperimentState *state, const char *experiment,
						 const double *x, double *probs)
{
	Scores		s = scores_at(state, experiment, x);

	contextual_vector(state, &s, probs);
	scores_free(&s);
}
