/*
 * posterior_ops.h
 *		Posteriors as values: merge two posteriors that share a prior, and
 *		decay a posterior toward its prior.
 *
 * Both work on the natural parameters of the conjugate family, which are
 * linear in the data's sufficient statistics:
 *   Beta(alpha, beta):      (alpha, beta)
 *   NIG(mean, kappa, alpha, beta):
 *                           (kappa, kappa * mean, alpha, beta + kappa * mean^2 / 2)
 * A posterior built from prior P0 by data D has natural parameters
 * eta(P0) + T(D), T the sufficient statistics of D.  Hence
 *   merge(p, q; P0)  = eta(p) + eta(q) - eta(P0)       (the data of both, P0 once)
 *   decay(p, f; P0)  = eta(P0) + f * (eta(p) - eta(P0)) (every datum weighted f)
 * and n, the observation count, follows the same rule: n_p + n_q - n_P0 for a
 * merge, n_P0 + round(f * (n_p - n_P0)) for a decay (halves away from zero).
 * The NIG formulas are written in a translation-invariant form (deviations
 * from the prior mean), so large means do not cancel.
 *
 * Merge is exactly commutative; associative up to rounding.  Merging with the
 * prior itself returns the other operand's parameters unchanged (n added).
 * Decay with factor 1 returns p, with factor 0 the prior (with n_P0).
 */
#ifndef BANDIT_POSTERIOR_OPS_H
#define BANDIT_POSTERIOR_OPS_H

#include "posterior.h"

/* factor must be finite and in [0, 1]: 22023 otherwise. */
extern void check_decay_factor(double factor);

extern BetaPosterior *beta_posterior_merge(const BetaPosterior *p, const BetaPosterior *q,
										   const BetaPosterior *prior);
extern BetaPosterior *beta_posterior_decay(const BetaPosterior *p, double factor,
										   const BetaPosterior *prior);
extern NormalPosterior *normal_posterior_merge(const NormalPosterior *p, const NormalPosterior *q,
											   const NormalPosterior *prior);
extern NormalPosterior *normal_posterior_decay(const NormalPosterior *p, double factor,
											   const NormalPosterior *prior);

/* The default priors as values (n = 0), the ones the aggregates start from. */
extern BetaPosterior *default_beta_prior(void);
extern NormalPosterior *default_normal_prior(void);

#endif							/* BANDIT_POSTERIOR_OPS_H */
