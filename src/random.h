/*
 * random.h
 *		Backend-local random draws for bandit policies.
 *
 * One pg_prng state per backend.  It is seeded from pg_strong_random on
 * first use, or from the bandit.seed GUC whenever that is set, so tests can
 * reproduce a session's draws.
 */
#ifndef BANDIT_RANDOM_H
#define BANDIT_RANDOM_H

#include "common/pg_prng.h"

extern void bandit_random_define_guc(void);

/* The backend's generator, for callers that draw through pg_prng directly. */
extern pg_prng_state *bandit_random_state(void);
extern double bandit_random_normal_from(pg_prng_state *state);

extern double bandit_random_uniform(void);	/* in [0, 1) */
extern double bandit_random_normal(void);
extern double bandit_random_gamma(double shape);	/* scale 1 */
extern double bandit_random_beta(double a, double b);
extern double bandit_random_student_t(double nu);

#endif							/* BANDIT_RANDOM_H */
