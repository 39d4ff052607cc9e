/*
 * thompson.h
 *    Probability that each arm of a bandit is the best one under Thompson
 *    sampling, i.e. P(arm i has the largest posterior draw), computed by
 *    numerical integration rather than by sampling:
 *        P_i = integral f_i(x) prod_{j != i} F_j(x) dx.
 *
 * Plain C99 (<math.h>, <stdlib.h> for a scratch allocation); depends only on
 * distributions.h. Functions never abort or print.
 *
 * Both functions take k >= 1 arms in arrays of length k and write k
 * probabilities summing to 1 into prob_out. They return 0 on success and -1
 * if an input is invalid (k < 1, a NULL array, a non-finite parameter,
 * alpha/beta/scale/nu <= 0), if scratch memory cannot be allocated, or if the
 * integration cannot certify its result (the raw probabilities must sum to 1
 * within 1e-7 and the quadrature error estimate must be small); prob_out is
 * then left unspecified. The absolute error of each probability is normally
 * below 1e-9.
 */
#ifndef BANDIT_THOMPSON_H
#define BANDIT_THOMPSON_H

/* P(arm i has the largest draw) for independent posteriors; arms given in arrays of length k (k >= 1).
 * Writes k probabilities summing to 1 into prob_out. Returns 0 on success, -1 if an input is invalid. */
int thompson_beta_prob_best(int k, const double *alpha, const double *beta, double *prob_out);

/* location-scale Student t posteriors: draw = loc + scale * T_nu */
int thompson_t_prob_best(int k, const double *loc, const double *scale, const double *nu, double *prob_out);

#endif							/* BANDIT_THOMPSON_H */
