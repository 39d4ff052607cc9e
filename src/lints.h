/*
 * lints.h
 *    Propensities of linear Thompson sampling (LinTS): for one context, arm
 *    i's sampled score is an independent Normal(mu[i], sd[i]^2) draw, and the
 *    policy plays the arm with the largest score. lints_prob_best computes
 *    the probability of that event for one arm a exactly, by adaptive
 *    Gauss-Kronrod quadrature of the one-dimensional integral
 *        P_a = integral phi(z) prod_{j enabled, j != a} Phi((mu_a - mu_j + sd_a z) / sd_j) dz
 *    (phi, Phi the standard normal density and distribution function).
 *
 * Plain C99 (<math.h>, <stdbool.h>, <stdlib.h>): no PostgreSQL headers, no
 * state outside the call (thread-safe), never aborts or prints; allocates
 * only when k > 64.
 *
 * sd[i] == 0 is allowed: the score is then exactly mu[i] (a point mass).
 * When sd is 0 for all enabled arms (a zero context vector), the arms with
 * the largest mu share probability 1 equally and the others get 0. In
 * general a continuous arm is below t with probability Phi((t - mu)/sd), a
 * point mass iff mu < t, and point masses tied at the maximum split their
 * share evenly; for a point mass a,
 *     P_a = [no point mass above mu_a] / (point masses at mu_a) * prod_{continuous j} Phi((mu_a - mu_j) / sd_j).
 * (An arm with sd_j below 1e-15 sd_a counts as a point mass when a is
 * continuous: that moves P_a by less than 2e-16.)
 *
 * Accuracy (test/unit/check_lints.py, against scipy.integrate.quad,
 * closed forms and Monte Carlo, k = 2..50, sd ratios up to 1e6):
 *   - P_a >= 1e-6: absolute error below ~1e-12 (the error target is
 *     1e-12 + 1e-10 P_a; the estimates are pessimistic, measured errors are
 *     ~1e-15); sum over arms of P_a is 1 within ~1e-13.
 *   - P_a < 1e-6: recomputed in the log domain, relative error ~1e-10, down
 *     to the underflow threshold: a true value above ~1e-300 comes back
 *     positive and accurate; below ~1e-320 (not representable) it may be 0.
 * Time: a few microseconds per call for k = 20 (see check_lints.py's output).
 */
#ifndef BANDIT_LINTS_H
#define BANDIT_LINTS_H

#include <stdbool.h>

/*
 * P(arm a has the largest Normal(mu, sd^2) draw among the enabled arms).
 * mu, sd, enabled have k entries; enabled may be NULL (all arms take part);
 * entries of arms not enabled are ignored. Returns 0 and writes *prob on
 * success; -1 on invalid input (k < 1, a NULL mu, sd or prob, a out of
 * range or not enabled, a non-finite mu or sd or a negative sd among the
 * enabled arms), if memory cannot be allocated (k > 64), or if the quadrature
 * cannot certify its error (never seen in tests); *prob is then unchanged.
 */
int lints_prob_best(int k, const double *mu, const double *sd, const bool *enabled, int a, double *prob);

#endif							/* BANDIT_LINTS_H */
