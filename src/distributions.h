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
 *   dist_beta_quantile_logit: log(q / (1 - q)) for q = dist_beta_quantile(p,a,b)
 *                             (-inf / +inf for p = 0 / 1).
 *   dist_beta_logit_eval:     at x = 1 / (1 + exp(-u)), sets *cdf = I_x(a,b)
 *                             and *density = x^a (1-x)^b / B(a,b), the density
 *                             of U = log(X / (1 - X)).
 */
double dist_beta_quantile_logit(double p, double a, double b);
void dist_beta_logit_eval(double u, double a, double b, double *cdf, double *density);

/* Standard Student t with nu > 0 degrees of freedom (nu need not be an
 * integer). */
double dist_t_pdf(double t, double nu);
double dist_t_cdf(double t, double nu);
double dist_t_quantile(double p, double nu);

/* cdf and pdf of the standard t at once (they share the work); for
 * integrating over t densities (Thompson sampling). */
void dist_t_eval(double t, double nu, double *cdf, double *density);

/* Standard normal. */
double dist_normal_pdf(double z);
double dist_normal_cdf(double z);
double dist_normal_quantile(double p);

#endif							/* BANDIT_DISTRIBUTIONS_H */
