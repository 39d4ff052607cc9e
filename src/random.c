/*
 * random.c
 *		Seeded random draws: uniform, normal, gamma, beta, Student t.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "common/pg_prng.h"
#include "utils/guc.h"

#include "random.h"

/*
 * The generator state lives for the whole backend: it is the one global
 * here, and it must outlive transactions or every transaction would restart
 * the same sequence.  bandit.seed = -1 (the default) means "seed from
 * pg_strong_random"; any other value re-seeds deterministically each time
 * the setting is assigned, so "SET bandit.seed = 42" twice gives the same
 * draws twice.
 */
static pg_prng_state prng_state;
static bool prng_needs_seed = true;
static int	bandit_seed = -1;

static void
assign_bandit_seed(int newval, void *extra)
{
	prng_needs_seed = true;
}

void
bandit_random_define_guc(void)
{
	DefineCustomIntVariable("bandit.seed",
							"Seed for the random draws of bandit policies in this session.",
							"-1 (the default) seeds from a strong random source; "
							"any other value makes the session's draws reproducible.",
							&bandit_seed,
							-1, -1, INT_MAX,
							PGC_USERSET, 0,
							NULL, assign_bandit_seed, NULL);
}

static pg_prng_state *
prng(void)
{
	if (prng_needs_seed)
	{
		if (bandit_seed >= 0)
			pg_prng_seed(&prng_state, (uint64) bandit_seed);
		else if (!pg_prng_strong_seed(&prng_state))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not seed the random number generator")));
		prng_needs_seed = false;
	}
	return &prng_state;
}

double
bandit_random_uniform(void)
{
	return pg_prng_double(prng());
}

/* Box-Muller on (0,1] uniforms, one variate per call (the pair's twin is dropped to keep no state). */
double
bandit_random_normal_from(pg_prng_state *state)
{
	double		u1 = 1.0 - pg_prng_double(state);	/* (0, 1] so log() is finite */
	double		u2 = pg_prng_double(state);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double
bandit_random_normal(void)
{
	return bandit_random_normal_from(prng());
}

pg_prng_state *
bandit_random_state(void)
{
	return prng();
}

/*
 * Marsaglia & Tsang (2000), "A simple method for generating gamma
 * variables".  For shape < 1 use Gamma(shape) = Gamma(shape + 1) * U^(1/shape).
 */
double
bandit_random_gamma(double shape)
{
	double		d,
				c;

	if (shape < 1.0)
	{
		double		u = 1.0 - pg_prng_double(prng());

		return bandit_random_gamma(shape + 1.0) * pow(u, 1.0 / shape);
	}

	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;)
	{
		double		x,
					v,
					u;

		do
		{
			x = bandit_random_normal();
			v = 1.0 + c * x;
		} while (v <= 0.0);
		v = v * v * v;
		u = 1.0 - pg_prng_double(prng());
		if (u < 1.0 - 0.0331 * x * x * x * x)
			return d * v;
		if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

double
bandit_random_beta(double a, double b)
{
	double		x = bandit_random_gamma(a);
	double		y = bandit_random_gamma(b);

	/* Both tiny (a, b << 1) can underflow to 0/0: fall back on which is larger. */
	if (x + y == 0.0)
		return (a >= b) ? 1.0 : 0.0;
	return x / (x + y);
}

double
bandit_random_student_t(double nu)
{
	double		z = bandit_random_normal();
	double		chi2 = 2.0 * bandit_random_gamma(nu / 2.0);

	return z / sqrt(chi2 / nu);
}
