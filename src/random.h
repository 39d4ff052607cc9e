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

extern void bandit_random_define_guc(void);

extern double bandit_random_uniform(void);	/* in [0, 1) */
extern double bandit_random_normal(void);
extern double bandit_random_gamma(double shape);	/* scale 1 */
extern double bandit_random_beta(double a, double b);
extern double bandit_random_student_t(double nu);

#endif							/* BANDIT_RANDOM_H */
