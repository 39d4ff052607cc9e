/*
 * posterior_ops.c
 *		posterior_merge(p, q [, prior]), the operator + and
 *		posterior_decay(p, factor [, prior]) for beta_posterior and
 *		normal_posterior.  The formulas are in posterior_ops.h.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "posterior.h"
#include "posterior_ops.h"

PG_FUNCTION_INFO_V1(beta_posterior_merge_sql);
PG_FUNCTION_INFO_V1(beta_posterior_merge_prior_sql);
PG_FUNCTION_INFO_V1(beta_posterior_decay_sql);
PG_FUNCTION_INFO_V1(beta_posterior_decay_prior_sql);
PG_FUNCTION_INFO_V1(normal_posterior_merge_sql);
PG_FUNCTION_INFO_V1(normal_posterior_merge_prior_sql);
PG_FUNCTION_INFO_V1(normal_posterior_decay_sql);
PG_FUNCTION_INFO_V1(normal_posterior_decay_prior_sql);

/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------
 */

void
check_decay_factor(double factor)
{
	if (!(factor >= 0.0 && factor <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decay factor must be between 0 and 1"),
				 errdetail("The factor given was %g.", factor)));
}

/*
 * A merged field: finite (else 22003) and, for the positive fields, above 0
 * (else 22023: the operands did not both contain the prior).
 */
static void
check_merged_field(const char *type_name, const char *field, double value, bool positive)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s value out of range", type_name),
				 errdetail("Merging gives %s = %g.", field, value)));
	if (positive && value <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge these %s values", type_name),
				 errdetail("Merging adds the two posteriors and subtracts the prior once, which gives %s = %g; it must be positive.",
						   field, value),
				 errhint("Merge posteriors that each contain the prior, or pass their common prior as the third argument.")));
}

static void
check_decayed_field(const char *type_name, const char *field, double value)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s value out of range", type_name),
				 errdetail("Decaying gives %s = %g.", field, value)));
}

/* n_p + n_q - n_prior: 22003 on overflow, 22023 when negative. */
static int64
merged_count(const char *type_name, int64 np, int64 nq, int64 n0)
{
	int64		n = posterior_add_counts(np, nq);

	if (n < n0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge these %s values", type_name),
				 errdetail("Merging gives n = " INT64_FORMAT " - " INT64_FORMAT ", which is negative.",
						   n, n0),
				 errhint("Merge posteriors that each contain the prior, or pass their common prior as the third argument.")));
	return n - n0;
}

/* n0 + round(f * (n - n0)), halves away from zero; between n0 and n. */
static int64
decayed_count(int64 n, int64 n0, double factor)
{
	int64		span = n - n0;	/* both >= 0: cannot overflow */
	double		scaled;

	if (factor == 1.0)
		return n;
	scaled = round(factor * (double) span);
	if (fabs(scaled) >= fabs((double) span))
		return n;
	return n0 + (int64) scaled;
}

/* ------------------------------------------------------------------------
 * Default priors
 * ------------------------------------------------------------------------
 */

BetaPosterior *
default_beta_prior(void)
{
	return make_beta_posterior(0, DEFAULT_BETA_PRIOR_ALPHA, DEFAULT_BETA_PRIOR_BETA);
}

NormalPosterior *
default_normal_prior(void)
{
	return make_normal_posterior(0, DEFAULT_NORMAL_PRIOR_MEAN, DEFAULT_NORMAL_PRIOR_KAPPA,
								 DEFAULT_NORMAL_PRIOR_ALPHA, DEFAULT_NORMAL_PRIOR_BETA);
}

/* ------------------------------------------------------------------------
 * beta_posterior
 * ------------------------------------------------------------------------
 */

static bool
beta_is_prior(const BetaPosterior *p, const BetaPosterior *prior)
{
	return p->alpha == prior->alpha && p->beta == prior->beta;
}

BetaPosterior *
beta_posterior_merge(const BetaPosterior *p, const BetaPosterior *q,
					 const BetaPosterior *prior)
{
	int64		n = merged_count("beta_posterior", p->n, q->n, prior->n);
	double		alpha,
				beta;

	/* the prior is the identity, exactly */
	if (beta_is_prior(q, prior))
		return make_beta_posterior(n, p->alpha, p->beta);
	if (beta_is_prior(p, prior))
		return make_beta_posterior(n, q->alpha, q->beta);

	/* (p + q) - prior: the same rounding whichever operand comes first */
	alpha = (p->alpha + q->alpha) - prior->alpha;
	beta = (p->beta + q->beta) - prior->beta;
	check_merged_field("beta_posterior", "alpha", alpha, true);
	check_merged_field("beta_posterior", "beta", beta, true);
	return make_beta_posterior(n, alpha, beta);
}

BetaPosterior *
beta_posterior_decay(const BetaPosterior *p, double factor, const BetaPosterior *prior)
{
	int64		n;

	check_decay_factor(factor);
	n = decayed_count(p->n, prior->n, factor);
	if (factor == 1.0)
		return make_beta_posterior(n, p->alpha, p->beta);
	if (factor == 0.0)
		return make_beta_posterior(n, prior->alpha, prior->beta);
	/* a convex combination of positive numbers: positive and finite */
	return make_beta_posterior(n,
							   (1.0 - factor) * prior->alpha + factor * p->alpha,
							   (1.0 - factor) * prior->beta + factor * p->beta);
}

/* ------------------------------------------------------------------------
 * normal_posterior
 *
 * With d = mean - m0 for each posterior (m0 the prior mean):
 *   merge: kappa = kp + kq - k0,  D = (kp dp + kq dq) / kappa,  mean = m0 + D,
 *          alpha = ap + aq - a0,
 *          beta  = bp + bq - b0 + (kp (dp - D)^2 + kq (dq - D)^2 - k0 D^2) / 2
 *   decay: kappa = (1-f) k0 + f kp,  D = f kp dp / kappa,  mean = m0 + D,
 *          alpha = (1-f) a0 + f ap,
 *          beta  = (1-f) b0 + f bp + f (1-f) kp k0 dp^2 / (2 kappa)
 * (beta + kappa mean^2 / 2 is the natural parameter that adds; these are the
 * same sums with the large terms cancelled analytically.)
 * ------------------------------------------------------------------------
 */

static bool
normal_is_prior(const NormalPosterior *p, const NormalPosterior *prior)
{
	return p->mean == prior->mean && p->kappa == prior->kappa &&
		p->alpha == prior->alpha && p->beta == prior->beta;
}

NormalPosterior *
normal_posterior_merge(const NormalPosterior *p, const NormalPosterior *q,
					   const NormalPosterior *prior)
{
	int64		n = merged_count("normal_posterior", p->n, q->n, prior->n);
	double		m0 = prior->mean,
				dp,
				dq,
				kappa,
				shift,
				alpha,
				beta,
				spread;

	if (normal_is_prior(q, prior))
		return make_normal_posterior(n, p->mean, p->kappa, p->alpha, p->beta);
	if (normal_is_prior(p, prior))
		return make_normal_posterior(n, q->mean, q->kappa, q->alpha, q->beta);

	kappa = (p->kappa + q->kappa) - prior->kappa;
	check_merged_field("normal_posterior", "kappa", kappa, true);
	alpha = (p->alpha + q->alpha) - prior->alpha;
	check_merged_field("normal_posterior", "alpha", alpha, true);

	dp = p->mean - m0;
	dq = q->mean - m0;
	shift = (p->kappa * dp + q->kappa * dq) / kappa;
	check_merged_field("normal_posterior", "mean", m0 + shift, false);
	spread = (p->kappa * (dp - shift) * (dp - shift) + q->kappa * (dq - shift) * (dq - shift))
		- prior->kappa * shift * shift;
	beta = (p->beta + q->beta) - prior->beta + 0.5 * spread;
	check_merged_field("normal_posterior", "beta", beta, true);
	return make_normal_posterior(n, m0 + shift, kappa, alpha, beta);
}

NormalPosterior *
normal_posterior_decay(const NormalPosterior *p, double factor, const NormalPosterior *prior)
{
	int64		n;
	double		g,
				dp,
				kappa,
				shift,
				beta;

	check_decay_factor(factor);
	n = decayed_count(p->n, prior->n, factor);
	if (factor == 1.0)
		return make_normal_posterior(n, p->mean, p->kappa, p->alpha, p->beta);
	if (factor == 0.0)
		return make_normal_posterior(n, prior->mean, prior->kappa, prior->alpha, prior->beta);

	g = 1.0 - factor;
	dp = p->mean - prior->mean;
	kappa = g * prior->kappa + factor * p->kappa;
	shift = factor * p->kappa * dp / kappa;
	beta = g * prior->beta + factor * p->beta +
		0.5 * factor * g * (p->kappa * prior->kappa / kappa) * dp * dp;
	check_decayed_field("normal_posterior", "mean", prior->mean + shift);
	check_decayed_field("normal_posterior", "beta", beta);
	return make_normal_posterior(n, prior->mean + shift, kappa,
								 g * prior->alpha + factor * p->alpha, beta);
}

/* ------------------------------------------------------------------------
 * SQL entry points (all STRICT)
 * ------------------------------------------------------------------------
 */

Datum
beta_posterior_merge_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(beta_posterior_merge(PG_GETARG_BETA_POSTERIOR(0),
										   PG_GETARG_BETA_POSTERIOR(1),
										   default_beta_prior()));
}

Datum
beta_posterior_merge_prior_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(beta_posterior_merge(PG_GETARG_BETA_POSTERIOR(0),
										   PG_GETARG_BETA_POSTERIOR(1),
										   PG_GETARG_BETA_POSTERIOR(2)));
}

Datum
beta_posterior_decay_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(beta_posterior_decay(PG_GETARG_BETA_POSTERIOR(0),
										   PG_GETARG_FLOAT8(1),
										   default_beta_prior()));
}

Datum
beta_posterior_decay_prior_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(beta_posterior_decay(PG_GETARG_BETA_POSTERIOR(0),
										   PG_GETARG_FLOAT8(1),
										   PG_GETARG_BETA_POSTERIOR(2)));
}

Datum
normal_posterior_merge_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(normal_posterior_merge(PG_GETARG_NORMAL_POSTERIOR(0),
											 PG_GETARG_NORMAL_POSTERIOR(1),
											 default_normal_prior()));
}

Datum
normal_posterior_merge_prior_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(normal_posterior_merge(PG_GETARG_NORMAL_POSTERIOR(0),
											 PG_GETARG_NORMAL_POSTERIOR(1),
											 PG_GETARG_NORMAL_POSTERIOR(2)));
}

Datum
normal_posterior_decay_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(normal_posterior_decay(PG_GETARG_NORMAL_POSTERIOR(0),
											 PG_GETARG_FLOAT8(1),
											 default_normal_prior()));
}

Datum
normal_posterior_decay_prior_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(normal_posterior_decay(PG_GETARG_NORMAL_POSTERIOR(0),
											 PG_GETARG_FLOAT8(1),
											 PG_GETARG_NORMAL_POSTERIOR(2)));
}
