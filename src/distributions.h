/*
 * distributions.h
 *    Beta, Student t and standard normal distribution functions used by the
 *    bandit extension (posterior summaries, quantiles, Thompson sampling).
 *
 * Plain C99 with <math.h> only: no PostgreSQL headers, no external libraries.
 * The functions never abort or print; an invalid parameter (non-finite, or
 * out of range: a, b, nu must be > 0; p must lie in [0, 1]) yields NAN.
 * Callers are expected to validate user input before calling.
 *
 * Accuracy (checked by test/unit/check_distributions.py against SciPy/Boost
 * and 40-digit mpmath values):
 *   dist_beta_cdf      ~3e-15 absolute for a, b in [0.05, 1e7] (against 40-digit
 *                      values); relative error of small lower-tail values
 *                      ~1e-12 or better. Cost is bounded for any a, b.
 *   dist_beta_quantile |cdf(q) - p| below 1e-12 for p in [1e-12, 1 - 1e-12],
 *                      unless q is so close to 1 that the spacing of doubles
 *                      there is itself coarser (then q is within an ulp or so).
 *   dist_t_*           same accuracy as the beta functions they are built on,
 *                      for any nu up to 1e20; above that the normal
 *                      distribution is used (|F_t - Phi| <= 0.16/nu < 2e-21).
 */
#ifndef BANDIT_DISTRIBUTIONS_H
#define BANDIT_DISTRIBUTIONS_H

/* log B(a,b) = lgamma(a) + lgamma(b) - lgamma(a+b), without cancellation
 * when a and/or b are large. */
double dist_lbeta(double a, double b);

/* Beta(a, b) density, distribution function (the regularised incomplete beta
 * function I_x(a,b)) and its inverse. x outside [0,1] is allowed for the pdf
 * (gives 0) and the cdf (gives 0 or 1). */
double dist_beta_pdf(double x, double a, double b);
double dist_beta_cdf(double x, double a, double b);
double dist_beta_quantile(double p, double a, double b);

/*
 * The same in the logit scale u = log(x / (1 - x)), for integrating over
 * Beta densities (Thompson sampling). x and 1 - x are formed separately, so
 * these keep full precision where x is within 1e-16 of 0 or 1 -- much of
 * the mass of Beta(a,b) lies there when a or b is small.
 *   dist_beta_logit_eval:     at x = 1 / (1 + exp(-u)), sets *cdf = I_x(a,b)
 *                             and *density = x^a (1-x)^b / B(a,b), the density
 *                             of U = log(X / (1 - X)), for any finite u: where
 *                             x or 1 - x is below 1e-300 (|u| > 690), from the
 *                             leading term of the small tail (relative error
 *                             below 1e-300 (1 + max(a,b))).
 */
void dist_beta_logit_eval(double u, double a, double b, double *cdf, double *density);

/*
 * Densities at many points (Thompson sampling): the constants of one
 * distribution are prepared once, and the logarithms that depend only on the
 * point are computed once per point and shared by all distributions
 * evaluated there. No validation: parameters must be finite and positive.
 *
 * dist_logit_point_at(u): x = 1 / (1 + exp(-u)), y = 1 - x, log x and log y,
 *     each formed without cancellation. x and y stay normal doubles while
 *     |u| < 708; log x and log y are accurate for any finite u, and so is
 *     the density below, which falls back on them where x or y underflows.
 * dist_beta_logit_log_density: log of x^a y^b / B(a,b), the density of
 *     U = log(X / (1 - X)) for X ~ Beta(a,b). For min(a,b) >= 10 it is
 *     written around the mode so that the large terms cancel analytically;
 *     absolute error (against 40-digit values at the same u) below 3e-13
 *     for a + b <= 1e4 and below 1.3e-11 up to a + b = 1e7, from the mode to
 *     30 standard deviations out.
 * dist_t_log_pdf_prepared: log of the standard t density (as dist_t_pdf,
 *     which uses it).
 */
typedef struct
{
	double		x;
	double		y;
	double		log_x;
	double		log_y;
} dist_logit_point;

typedef struct
{
	double		a;
	double		b;
	double		x0;				/* a / (a + b), the mode of the logit density */
	double		y0;				/* b / (a + b) */
	double		log_x0;
	double		log_y0;
	double		log_scale;		/* centred: log(x0^a y0^b / B(a,b)); else -log B(a,b) */
	int			centred;
} dist_beta_logit_kernel;

typedef struct
{
	double		nu;
	double		log_scale;		/* log of the density at 0 */
	double		inv_sqrt_nu;
	double		half_nu_plus_1;
	int			normal;			/* nu so large that the normal is used */
} dist_t_kernel;

dist_logit_point dist_logit_point_at(double u);
void dist_beta_logit_kernel_init(dist_beta_logit_kernel *kern, double a, double b);
double dist_beta_logit_log_density(const dist_beta_logit_kernel *kern, const dist_logit_point *pt);
void dist_t_kernel_init(dist_t_kernel *kern, double nu);
double dist_t_log_pdf_prepared(const dist_t_kernel *kern, double t);

/* Standard Student t with nu > 0 degrees of freedom (nu need not be an
 * integer). */
double dist_t_pdf(double t, double nu);
double dist_t_cdf(double t, double nu);
double dist_t_quantile(double p, double nu);

/* cdf and pdf of the standard t at once (they share the work); for
 * integrating over t densities (Thompson sampling). */
void dist_t_eval(double t, double nu, double *cdf, double *density);

/* Regularised incomplete gamma functions P(a, x) = gamma(a, x) / Gamma(a)
 * and Q(a, x) = 1 - P(a, x), a > 0, x >= 0; and the chi-square upper tail
 * P(X > x) for df > 0 degrees of freedom, Q(df/2, x/2) (x <= 0 gives 1).
 * The smaller of P and Q has a relative error below 1e-13 for a up to 1e4
 * (measured 4e-14; in tails below 1e-100, whose exponent is rounded, up to
 * ~1.4e-13), the larger an absolute one below 4e-15
 * (test/unit/check_distributions.py, against SciPy and 40-digit mpmath). */
double dist_gamma_p(double a, double x);
double dist_gamma_q(double a, double x);
double dist_chi2_sf(double x, double df);

/* Standard normal. */
double dist_normal_pdf(double z);
double dist_normal_cdf(double z);
double dist_normal_quantile(double p);

#endif							/* BANDIT_DISTRIBUTIONS_H */
