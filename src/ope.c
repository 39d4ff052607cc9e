/*
 * ope.c
 *		Streaming off-policy estimators (see ope.h for the estimators'
 *		per-row vectors and the delta-method standard errors).
 *
 * References: IPS (Horvitz & Thompson 1952); SNIPS (Swaminathan &
 * Joachims 2015); DM and DR (Dudik, Langford & Li 2011); self-normalised
 * DR (the weights of DR's correction term normalised by their mean, as in
 * Kallus & Uehara 2019 and the Open Bandit Pipeline); Switch-DR (Wang,
 * Agarwal & Dudik 2017), in its doubly robust form: the DR correction is
 * applied where w <= tau and only the model's value elsewhere.
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"

#include "ope.h"
#include "posterior.h"

/* the 97.5% quantile of the standard normal: 95% two-sided intervals */
#define Z_975	1.959963984540054

static const char *const estimator_names[OPE_NUM_ESTIMATORS] = {
	[OPE_IPS] = "ips",
	[OPE_SNIPS] = "snips",
	[OPE_CLIPPED_IPS] = "clipped_ips",
	[OPE_DM] = "dm",
	[OPE_DR] = "dr",
	[OPE_SNDR] = "sndr",
	[OPE_SWITCH_DR] = "switch_dr",
};

static const int estimator_terms[OPE_NUM_ESTIMATORS] = {
	[OPE_IPS] = 1,
	[OPE_SNIPS] = 2,
	[OPE_CLIPPED_IPS] = 1,
	[OPE_DM] = 1,
	[OPE_DR] = 1,
	[OPE_SNDR] = 3,
	[OPE_SWITCH_DR] = 1,
};

const char *
ope_estimator_name(OpeEstimator estimator)
{
	return estimator_names[estimator];
}

OpeEstimator
ope_estimator_from_name(const char *name)
{
	for (int i = 0; i < OPE_NUM_ESTIMATORS; i++)
		if (strcmp(name, estimator_names[i]) == 0)
			return (OpeEstimator) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown estimator \"%s\"", name),
			 errhint("Known estimators: ips, snips, clipped_ips, dm, dr, sndr, switch_dr.")));
	pg_unreachable();
}

int
ope_terms(OpeEstimator estimator)
{
	return estimator_terms[estimator];
}

bool
ope_uses_model(OpeEstimator estimator)
{
	return estimator == OPE_DM || estimator == OPE_DR || estimator == OPE_SNDR ||
		estimator == OPE_SWITCH_DR;
}

/* ------------------------------------------------------------------------
 * Input checks
 * ------------------------------------------------------------------------
 */

static void
check_probability(const char *name, double p, bool zero_allowed)
{
	if (!(p <= 1.0 && (zero_allowed ? p >= 0.0 : p > 0.0)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be in %s", name, zero_allowed ? "[0, 1]" : "(0, 1]"),
				 errdetail("The value given was %g.", p)));
}

static void
check_finite(const char *name, double value)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", name),
				 errdetail("The value given was %g.", value)));
}

void
check_ope_cap(double cap)
{
	if (!(isfinite(cap) && cap > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cap must be a positive finite number"),
				 errdetail("The value given was %g.", cap)));
}

void
check_ope_tau(double tau)
{
	if (!(isfinite(tau) && tau >= 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tau must be a finite number, zero or greater"),
				 errdetail("The value given was %g.", tau)));
}

/* ------------------------------------------------------------------------
 * The state
 * ------------------------------------------------------------------------
 */

void
ope_state_init(OpeState *state, OpeEstimator estimator, double param)
{
	memset(state, 0, sizeof(*state));
	state->estimator = estimator;
	state->param = param;
}

static void
add_terms(OpeState *state, const double *z)
{
	int			k = ope_terms(state->estimator);
	double		delta[OPE_MAX_TERMS];

	for (int j = 0; j < k; j++)
		if (!isfinite(z[j]) || !isfinite(z[j] * z[j]) ||
			!isfinite(state->sum[j].sum + z[j]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s term out of range", ope_estimator_name(state->estimator)),
					 errdetail("A weighted reward of one row overflowed a float8."),
					 errhint("Check for logging probabilities near zero.")));
	if (pg_add_s64_overflow(state->n, 1, &state->n))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s row count out of range", ope_estimator_name(state->estimator))));
	/* Welford: delta against the old mean, then the update against the new one */
	for (int j = 0; j < k; j++)
	{
		compensated_add(&state->sum[j], z[j]);
		delta[j] = z[j] - state->mean[j];
		state->mean[j] += delta[j] / (double) state->n;
	}
	for (int j = 0; j < k; j++)
		for (int l = 0; l < k; l++)
			state->comoment[j][l] += delta[j] * (z[l] - state->mean[l]);
}

static void
add_weight(OpeState *state, double w)
{
	/* w^2 and the sums of the ESS must stay finite, or the state turns to NaN */
	if (!isfinite(w * w) || !isfinite(state->weight_sq_sum.sum + w * w))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s importance weight out of range", ope_estimator_name(state->estimator)),
				 errdetail("A weight target_prob / logging_prob of %g is too large to square.", w),
				 errhint("Check for logging probabilities near zero.")));
	compensated_add(&state->weight_sum, w);
	compensated_add(&state->weight_sq_sum, w * w);
	if (w > state->max_weight)
		state->max_weight = w;
}

void
ope_state_add(OpeState *state, double reward, double target_prob, double logging_prob,
			  double q_logged, double v_target)
{
	double		z[OPE_MAX_TERMS] = {0, 0, 0};
	double		w = 0.0;

	if (state->estimator != OPE_DM)
	{
		check_finite("reward", reward);
		check_probability("target_prob", target_prob, true);
		check_probability("logging_prob", logging_prob, false);
		w = target_prob / logging_prob;
	}
	if (ope_uses_model(state->estimator))
	{
		if (state->estimator != OPE_DM)
			check_finite("q_logged", q_logged);
		check_finite("v_target", v_target);
	}

	switch (state->estimator)
	{
		case OPE_IPS:
			z[0] = w * reward;
			break;
		case OPE_SNIPS:
			z[0] = w * reward;
			z[1] = w;
			break;
		case OPE_CLIPPED_IPS:
			w = Min(w, state->param);
			z[0] = w * reward;
			break;
		case OPE_DM:
			z[0] = v_target;
			break;
		case OPE_DR:
			z[0] = v_target + w * (reward - q_logged);
			break;
		case OPE_SNDR:
			z[0] = v_target;
			z[1] = w * (reward - q_logged);
			z[2] = w;
			break;
		case OPE_SWITCH_DR:
			/* beyond tau the row contributes the model's value only */
			if (w > state->param)
				w = 0.0;
			z[0] = v_target + w * (reward - q_logged);
			break;
	}
	add_terms(state, z);
	if (state->estimator != OPE_DM)
		add_weight(state, w);
}

/* Chan, Golub & LeVeque: combine two states' means and co-moments. */
void
ope_state_merge(OpeState *into, const OpeState *other)
{
	int			k = ope_terms(into->estimator);
	double		n1 = (double) into->n,
				n2 = (double) other->n,
				n;
	double		delta[OPE_MAX_TERMS];

	Assert(into->estimator == other->estimator);
	if (other->n == 0)
		return;
	if (into->n == 0)
	{
		*into = *other;
		return;
	}
	if (pg_add_s64_overflow(into->n, other->n, &into->n))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s row count out of range", ope_estimator_name(into->estimator))));
	n = n1 + n2;
	for (int j = 0; j < k; j++)
	{
		compensated_merge(&into->sum[j], &other->sum[j]);
		delta[j] = other->mean[j] - into->mean[j];
	}
	for (int j = 0; j < k; j++)
		for (int l = 0; l < k; l++)
			into->comoment[j][l] += other->comoment[j][l] + delta[j] * delta[l] * n1 * n2 / n;
	for (int j = 0; j < k; j++)
		into->mean[j] += delta[j] * n2 / n;
	compensated_merge(&into->weight_sum, &other->weight_sum);
	compensated_merge(&into->weight_sq_sum, &other->weight_sq_sum);
	into->max_weight = Max(into->max_weight, other->max_weight);
	/* two partial states can overflow together where neither row did */
	for (int j = 0; j < k; j++)
		if (!isfinite(compensated_value(&into->sum[j])) || !isfinite(into->comoment[j][j]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s term out of range", ope_estimator_name(into->estimator)),
					 errdetail("The sums of the weighted rewards overflowed a float8."),
					 errhint("Check for logging probabilities near zero.")));
	if (!isfinite(compensated_value(&into->weight_sq_sum)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s importance weight out of range", ope_estimator_name(into->estimator)),
				 errdetail("The sum of the squared weights overflowed a float8."),
				 errhint("Check for logging probabilities near zero.")));
}

void
ope_state_result(const OpeState *state, OpeResult *result)
{
	int			k = ope_terms(state->estimator);
	double		n = (double) state->n;
	double		m[OPE_MAX_TERMS];
	double		g[OPE_MAX_TERMS] = {1, 0, 0};
	double		variance = 0.0;
	bool		defined = true;

	memset(result, 0, sizeof(*result));
	result->n = state->n;
	result->estimate_null = result->stderr_null = true;
	result->max_weight_null = (state->estimator == OPE_DM || state->n == 0);
	result->max_weight = state->max_weight;
	if (state->estimator == OPE_DM)
		result->ess = n;
	else
	{
		double		ws = compensated_value(&state->weight_sum);
		double		wsq = compensated_value(&state->weight_sq_sum);

		result->ess = wsq > 0.0 ? ws * ws / wsq : 0.0;
	}
	if (state->n == 0)
		return;

	for (int j = 0; j < k; j++)
		m[j] = compensated_value(&state->sum[j]) / n;
	switch (state->estimator)
	{
		case OPE_SNIPS:
			/* no weight at all: the target policy never takes a logged action */
			defined = m[1] > 0.0;
			if (defined)
			{
				result->estimate = m[0] / m[1];
				g[0] = 1.0 / m[1];
				g[1] = -m[0] / (m[1] * m[1]);
			}
			break;
		case OPE_SNDR:
			defined = m[2] > 0.0;
			if (defined)
			{
				result->estimate = m[0] + m[1] / m[2];
				g[1] = 1.0 / m[2];
				g[2] = -m[1] / (m[2] * m[2]);
			}
			break;
		default:
			result->estimate = m[0];
			break;
	}
	if (!defined)
		return;
	result->estimate_null = false;
	if (state->n < 2)
		return;

	for (int j = 0; j < k; j++)
		for (int l = 0; l < k; l++)
			variance += g[j] * g[l] * state->comoment[j][l];
	variance /= (n - 1.0) * n;
	result->stderr = sqrt(Max(variance, 0.0));
	result->ci_low = result->estimate - Z_975 * result->stderr;
	result->ci_high = result->estimate + Z_975 * result->stderr;
	result->stderr_null = false;
}
