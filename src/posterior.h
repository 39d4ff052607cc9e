/*
 * posterior.h
 *		The posterior types beta_posterior and normal_posterior.
 *
 * Both are small varlena values stored with double alignment and PLAIN
 * storage.  Each starts with a format version byte and a flags byte so the
 * layout can change later without a new type.
 *
 * beta_posterior: Beta(alpha, beta) for rewards in [0,1]; a reward r adds r
 * to alpha and 1 - r to beta.  n counts the observations folded in.
 *
 * normal_posterior: Normal-Inverse-Gamma posterior NIG(mean, kappa, alpha,
 * beta) for Gaussian rewards with unknown mean and variance.  The mean
 * reward's marginal posterior is a Student t with 2*alpha degrees of
 * freedom, location mean and scale sqrt(beta / (alpha * kappa)).
 */
#ifndef BANDIT_POSTERIOR_H
#define BANDIT_POSTERIOR_H

#include "postgres.h"
#include "fmgr.h"

/* Default priors: Beta(1, 1); NIG(mean 0, kappa 0.01, alpha 1, beta 1). */
#define DEFAULT_BETA_PRIOR_ALPHA	1.0
#define DEFAULT_BETA_PRIOR_BETA		1.0
#define DEFAULT_NORMAL_PRIOR_MEAN	0.0
#define DEFAULT_NORMAL_PRIOR_KAPPA	0.01
#define DEFAULT_NORMAL_PRIOR_ALPHA	1.0
#define DEFAULT_NORMAL_PRIOR_BETA	1.0

#define BETA_POSTERIOR_FORMAT		1
#define NORMAL_POSTERIOR_FORMAT		1

typedef struct BetaPosterior
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		format;			/* BETA_POSTERIOR_FORMAT */
	uint8		flags;			/* none defined yet; must be 0 */
	int16		unused;			/* must be 0 */
	int64		n;				/* observations folded in */
	float8		alpha;
	float8		beta;
} BetaPosterior;

typedef struct NormalPosterior
{
	int32		vl_len_;
	uint8		format;			/* NORMAL_POSTERIOR_FORMAT */
	uint8		flags;			/* none defined yet; must be 0 */
	int16		unused;			/* must be 0 */
	int64		n;
	float8		mean;			/* posterior location of the mean reward */
	float8		kappa;			/* prior pseudo-count plus n */
	float8		alpha;			/* inverse-gamma shape */
	float8		beta;			/* inverse-gamma rate */
} NormalPosterior;

/* Sufficient statistics of a batch of Gaussian rewards (Welford / Chan). */
typedef struct GaussianStats
{
	int64		n;
	double		mean;
	double		m2;				/* sum of squared deviations from mean */
} GaussianStats;

#define DatumGetBetaPosterior(x)	((BetaPosterior *) PG_DETOAST_DATUM(x))
#define PG_GETARG_BETA_POSTERIOR(n)	DatumGetBetaPosterior(PG_GETARG_DATUM(n))
#define DatumGetNormalPosterior(x)	((NormalPosterior *) PG_DETOAST_DATUM(x))
#define PG_GETARG_NORMAL_POSTERIOR(n) DatumGetNormalPosterior(PG_GETARG_DATUM(n))

/* Invariant checks: one per type, shared by input, recv, aggregates and updates. */
extern void check_beta_posterior_params(int64 n, double alpha, double beta);
extern void check_normal_posterior_params(int64 n, double mean, double kappa,
										  double alpha, double beta);
/* Reward checks, shared by bandit_reward, posterior_update and the aggregates. */
extern void check_reward_finite(double reward);
extern void check_reward_unit_interval(double reward);
extern void check_reward_gaussian_range(double reward);

/* a + b for observation counts; 22003 when it overflows int8. */
extern int64 posterior_add_counts(int64 a, int64 b);

extern BetaPosterior *make_beta_posterior(int64 n, double alpha, double beta);
extern NormalPosterior *make_normal_posterior(int64 n, double mean, double kappa,
											  double alpha, double beta);

/* Fold data into a posterior (returns a new palloc'd value). */
extern BetaPosterior *beta_posterior_fold(const BetaPosterior *prior, int64 n,
										  double success_sum, double failure_sum);
extern NormalPosterior *normal_posterior_fold(const NormalPosterior *prior,
											  const GaussianStats *stats);

extern void gaussian_stats_add(GaussianStats *stats, double x);
extern void gaussian_stats_merge(GaussianStats *into, const GaussianStats *other);

/* Marginal posterior of the mean reward as a location-scale Student t. */
extern void normal_posterior_marginal(const NormalPosterior *p, double *loc,
									  double *scale, double *dof);
extern double beta_posterior_mean(const BetaPosterior *p);

#endif							/* BANDIT_POSTERIOR_H */
