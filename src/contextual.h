/*
 * contextual.h
 *		The contextual policies, LinUCB and linear Thompson sampling, on the
 *		arms' linear_posteriors: scores at a context, the decision, and the
 *		exact probability of each arm (its propensity).
 *
 * Unlike the other policies, the probabilities depend on the context, so
 * they are computed per decision, from the cached per-arm factors: two
 * triangular-solve-sized products per arm (x^T theta and |L^-1 x|).
 */
#ifndef BANDIT_CONTEXTUAL_H
#define BANDIT_CONTEXTUAL_H

#include "common/pg_prng.h"

#include "catalog.h"

/*
 * A decision at context x (length config.context_dim).  uniform is a draw
 * in [0,1) (a unit's hash or the backend generator) used by LinUCB's walk;
 * LinTS draws its normals from prng.  Returns the arm index and sets
 * *propensity to the exact probability the policy gave that arm.
 */
extern int	contextual_decide(const ExperimentState *state, const char *experiment,
							  const double *x, double uniform, pg_prng_state *prng,
							  double *propensity);

/* The probability of one arm at context x (0 for a disabled arm). */
extern double contextual_probability(const ExperimentState *state, const char *experiment,
									 const double *x, int arm);

/* Every arm's probability at context x (for off-policy evaluation). */
extern void contextual_probabilities(const ExperimentState *state, const char *experiment,
									 const double *x, double *probs);

#endif							/* BANDIT_CONTEXTUAL_H */
