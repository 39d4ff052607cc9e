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
 *
 * Accuracy (test/unit/check_lints.py: scipy.integrate.quad on 360 random
 * cases with k = 2..50 arms, sd ratios up to 1e6, near ties and disabled
 * arms; closed forms; Monte Carlo; 30-digit mpmath for tiny values):
 *   - P_a >= 1e-6: the quadrature stops when its (pessimistic) error
 *     estimate is below max(1e-12, 1e-10 P_a); measured errors are ~1e-15,
 *     at most 2e-14 seen (differences of up to 4e-13 from quad are quad's
 *     own error, as 30-digit values show). The sum over arms is 1 within
 *     2e-14; two-arm closed forms and 1/k for identical arms within 4e-16.
 *   - P_a < 1e-6: recomputed in the log domain to relative accuracy
 *     (target 1e-10; measured below 3e-13, growing like 1e-16 |log P_a| from
 *     rounding), so a propensity that is representable comes back positive:
 *     checked down to 1e-302. Only a true value below ~1e-320 may come back
 *     as 0 (or as a subnormal with few correct digits).
 *   For a continuous arm a, another arm with sd below 1e-15 sd_a counts as
 *   a point mass (this moves P_a by less than 2e-16).
 * Time (k = 20, gcc -O2, one core of the 2-core test machine): ~8.5 us with
 * one clearly best arm (P of that arm), ~11 us when all 20 are nearly tied,
 * ~15 us with sds spread over a factor 400; ~30-35 us when P_a < 1e-6
 * (second pass in the log domain). check_lints.py prints current figures.
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
 * cannot meet its error target within its budget of panels (never seen in
 * tests, which include extreme and random inputs); *prob is then unchanged.
 */
int lints_prob_best(int k, const double *mu, const double *sd, const bool *enabled, int a, double *prob);

#endif							/* BANDIT_LINTS_H */
