/*
 * bench_thompson.c
 *    Timing of thompson_beta_prob_best / thompson_t_prob_best on typical
 *    posteriors; bench/thompson.sh builds and runs it beside a NumPy
 *    baseline of the same integral.
 *
 *    Layouts, drawn from a fixed-seed generator so that every run times the
 *    same problems (they mirror the regimes of check_distributions.py):
 *      narrow  Beta arms of size 1e3..1e6 around a common mean (overlapping)
 *      wide    Beta(a, b) with a, b in [0.5, 5]
 *      mixed   half narrow (size 1e3..1e5), half wide (size 1..10)
 *      t       location-scale t, loc ~ N(0,1), scale 0.1..3, nu 1..1000
 *    plus the k = 5 example of the design notes (Beta(304,5014), ...).
 *
 *    Usage: bench_thompson [seconds per layout, default 0.3] [layout]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "thompson.h"

#define MAX_K 100
#define N_DRAWS 8				/* problems per layout, timed round robin */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static double
uniform(double lo, double hi)
{
	/* xorshift64*: plenty for picking test problems */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return lo + (hi - lo) * ((rng_state * 0x2545F4914F6CDD1DULL >> 11) * (1.0 / 9007199254740992.0));
}

static double
normal(void)
{
	double		u1 = uniform(1e-300, 1.0),
				u2 = uniform(0.0, 1.0);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

typedef struct
{
	int			is_t;
	int			k;
	double		p1[MAX_K],
				p2[MAX_K],
				p3[MAX_K];
} problem_set;

static void
make_problem(const char *layout, int k, problem_set *ps)
{
	int			j;

	ps->k = k;
	ps->is_t = (strcmp(layout, "t") == 0);
	if (strcmp(layout, "narrow") == 0)
	{
		double		n = pow(10.0, uniform(3, 6)),
					m0 = uniform(0.02, 0.6),
					sd = sqrt(m0 * (1 - m0) / n);

		for (j = 0; j < k; j++)
		{
			double		m = fmin(fmax(m0 + 1.5 * sd * normal(), 1e-4), 1 - 1e-4);
			double		size = n * exp(uniform(-0.3, 0.3));

			ps->p1[j] = m * size;
			ps->p2[j] = (1 - m) * size;
		}
	}
	else if (strcmp(layout, "wide") == 0)
		for (j = 0; j < k; j++)
		{
			ps->p1[j] = uniform(0.5, 5);
			ps->p2[j] = uniform(0.5, 5);
		}
	else if (strcmp(layout, "mixed") == 0)
		for (j = 0; j < k; j++)
		{
			double		size = (uniform(0, 1) < 0.5) ? pow(10.0, uniform(3, 5)) : uniform(1, 10);
			double		m = uniform(0.1, 0.4);

			ps->p1[j] = m * size;
			ps->p2[j] = (1 - m) * size;
		}
	else
		for (j = 0; j < k; j++)
		{
			ps->p1[j] = normal();
			ps->p2[j] = pow(10.0, uniform(-1, 0.5));
			ps->p3[j] = pow(10.0, uniform(0, 3));
		}
}

static int
solve(const problem_set *ps, double *out)
{
	return ps->is_t ? thompson_t_prob_best(ps->k, ps->p1, ps->p2, ps->p3, out)
		: thompson_beta_prob_best(ps->k, ps->p1, ps->p2, out);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Mean and maximum time per call (microseconds) over the problems, each
 * repeated until about `seconds` / n have passed. */
static void
time_problems(const char *label, const problem_set *ps, int n, double seconds)
{
	double		out[MAX_K],
				total = 0.0,
				slowest = 0.0;
	int			i,
				failures = 0;

	for (i = 0; i < n; i++)
	{
		double		start = now_seconds(),
					elapsed;
		long		reps = 0;

		do
		{
			failures += (solve(&ps[i], out) != 0);
			reps++;
			elapsed = now_seconds() - start;
		} while (elapsed < seconds / n);
		total += elapsed / reps;
		slowest = fmax(slowest, elapsed / reps);
	}
	printf("%-24s mean %9.1f us   max %9.1f us%s\n", label, 1e6 * total / n, 1e6 * slowest,
		   failures ? "   (FAILURES)" : "");
}

int
main(int argc, char **argv)
{
	static const char *layouts[] = {"narrow", "wide", "mixed", "t"};
	static const int ks[] = {5, 20, 100};
	static problem_set sets[N_DRAWS];
	double		seconds = (argc > 1) ? atof(argv[1]) : 0.3;
	const char *only = (argc > 2) ? argv[2] : NULL;
	unsigned	l,
				s;
	int			i;

	/* the example of the design notes */
	{
		static const double a[5] = {304, 246, 261, 42, 180},
					b[5] = {5014, 4656, 4527, 924, 3476};

		sets[0].is_t = 0;
		sets[0].k = 5;
		memcpy(sets[0].p1, a, sizeof(a));
		memcpy(sets[0].p2, b, sizeof(b));
		if (only == NULL || strcmp(only, "example") == 0)
			time_problems("example k=5", sets, 1, seconds);
	}
	for (s = 0; s < sizeof(ks) / sizeof(ks[0]); s++)
		for (l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++)
		{
			char		label[64];

			for (i = 0; i < N_DRAWS; i++)
				make_problem(layouts[l], ks[s], &sets[i]);
			if (only != NULL && strcmp(only, layouts[l]) != 0)
				continue;
			snprintf(label, sizeof(label), "%s k=%d", layouts[l], ks[s]);
			time_problems(label, sets, N_DRAWS, seconds);
		}
	return 0;
}
