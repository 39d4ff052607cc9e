/*
 * lints.c
 *    Linear Thompson sampling propensities: P(arm a has the largest of
 *    independent Normal(mu_j, sd_j^2) draws among the enabled arms), by
 *    adaptive Gauss-Kronrod quadrature of
 *        P_a = integral phi(z) prod_{j != a} Phi((mu_a - mu_j + sd_a z) / sd_j) dz.
 *    See lints.h for the contract and the accuracy.
 *
 * Design
 *  - Arm j's factor is Phi(x_j) with x_j = c_j + s_j z, c_j = (mu_a - mu_j) / sd_j,
 *    s_j = sd_a / sd_j > 0: increasing in z. It is taken as exactly 1 where
 *    x_j >= X_ONE (there 1 - Phi < 1e-17, below half an ulp of 1) and as 0
 *    below z where x_j = X_ZERO (Phi < 1e-17).
 *  - Point masses (sd_j = 0, or sd_j so small that s_j > 1e15) are steps:
 *    arm a's draw exceeds mu_j iff z > (mu_j - mu_a) / sd_a, a lower limit.
 *  - The integrand g(z) = phi(z) prod Phi(x_j) is log-concave (a product of
 *    log-concave functions of affine maps of z), hence unimodal.
 *  - Fast path, error ~1e-12 absolute: z runs over [lo, 9], where lo is the
 *    largest lower limit (point masses; -9; z where some factor falls to
 *    1e-17). Narrow arms (s_j large) move from 0 to 1 within 17 / s_j in z;
 *    as lo >= z(x_j = X_ZERO), all of that lies just above lo, and the
 *    points where x_j = 0 and x_j = X_ONE are breakpoints. Within each
 *    panel only arms with x_j < X_ONE somewhere on it are evaluated, and a
 *    node's product stops as soon as it falls below 1e-20. Global adaptive
 *    Gauss-Kronrod 10-21 (bisect the panel with the largest error estimate)
 *    until the estimated error is below FAST_ABS_TOL + FAST_REL_TOL * P.
 *  - Tail path, for P_a < TAIL_SWITCH (e.g. a chosen arm with a poor mean):
 *    the absolute cut-offs above would cost relative accuracy, and the
 *    integrand may underflow, so g is integrated in the log domain:
 *    h(z) = log g(z) + log sqrt(2 pi). Its maximum z* (h is concave: Newton
 *    on h' with a bisection safeguard), and the points zl < z* < zr where h
 *    has fallen by TAIL_DROP = 50 (Newton from outside, which for a concave
 *    function stays outside), bound the domain: by concavity the mass
 *    beyond zl or zr is at most e^-50 of the total. exp(h - h(z*)) is
 *    integrated to relative accuracy TAIL_REL_TOL and scaled back, so the
 *    result keeps its relative accuracy down to the underflow threshold.
 *  - Node values, tolerances and cut-offs are documented next to the
 *    constants below. The Kronrod nodes and weights were computed for this
 *    file (60-digit mpmath: Legendre zeros, the Stieltjes polynomial's zeros,
 *    weights from the moment equations, checked exact to degree 31).
 *
 * Plain C99; no state outside the call (thread-safe), no printing.
 */
#include "lints.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define SQRT_HALF		0.70710678118654752440084436210484904	/* 1/sqrt(2) */
#define INV_SQRT_2PI	0.39894228040143267793994605993438187	/* 1/sqrt(2 pi) */
#define LOG_SQRT_2PI	0.91893853320467274178032973640561764	/* log sqrt(2 pi) */

/* Phi(-8.5) = 9.5e-18: at or beyond X_ONE a factor is 1 to double precision */
#define X_ONE			8.5
#define X_ZERO			(-8.5)
/* phi(z) < 1e-17 and 1 - Phi(z) < 1e-18 for |z| >= Z_MAX */
#define Z_MAX			9.0
/* in the fast path a node's value below this counts as 0 */
#define NODE_TINY		1e-20
/* arms with s_j >= NARROW (steeper than phi) get breakpoints */
#define NARROW			2.0
/* s_j above this: arm j is treated as a point mass (its spread, < 1e-15 in z,
 * moves P_a by less than 2e-16) */
#define POINT_MASS_RATIO 1e15

#define FAST_ABS_TOL	1e-12
#define FAST_REL_TOL	1e-10
#define TAIL_SWITCH		1e-6
#define TAIL_REL_TOL	1e-10
#define TAIL_DROP		50.0
/* tail path: below Phi(-40) (4e-350) nothing is representable */
#define X_FLOOR			(-40.0)
#define Z_CEIL			40.0

/* adaptive budget: panels per call */
#define MAX_PANELS		400

/*
 * Gauss-Kronrod 10-21 on [-1, 1]: Kronrod nodes x >= 0 in decreasing order
 * (the last is 0), their Kronrod weights, and the Gauss weight of each node
 * (0 where the node is a Kronrod node only; the 10 Gauss nodes are at odd
 * indices).
 */
#define NHALF 11
#define NNODES (2 * NHALF - 1)
static const double gk_x[NHALF] = {
	0.9956571630258080807355273,
	0.9739065285171717200779640,
	0.9301574913557082260012072,
	0.8650633666889845107320967,
	0.7808177265864168970637176,
	0.6794095682990244062343274,
	0.5627571346686046833390001,
	0.4333953941292471907992659,
	0.2943928627014601981311266,
	0.1488743389816312108848260,
	0.0
};
static const double gk_wk[NHALF] = {
	0.01169463886737187427806440,
	0.03255816230796472747881897,
	0.05475589657435199603138131,
	0.07503967481091995276704314,
	0.09312545458369760553506547,
	0.1093871588022976418992106,
	0.1234919762620658510779581,
	0.1347092173114733259280540,
	0.1427759385770600807970943,
	0.1477391049013384913748415,
	0.1494455540029169056649365
};
static const double gk_wg[NHALF] = {
	0.0,
	0.06667134430868813759356881,
	0.0,
	0.1494513491505805931457763,
	0.0,
	0.2190863625159820439955349,
	0.0,
	0.2692667193099963550912269,
	0.0,
	0.2955242247147528701738930,
	0.0
};

typedef struct
{
	double		a,
				b,
				value,
				error;
} panel;

typedef struct
{
	int			n;				/* arms in c, s */
	const double *c;
	const double *s;
	int		   *active;			/* scratch, n entries */
	bool		log_domain;		/* integrand exp(h(z) - shift), else g(z) sqrt(2 pi) */
	double		shift;
} problem;

/*
 * log Phi(x) and the inverse Mills ratio phi(x) / Phi(x) (and, if wanted,
 * its negative derivative ratio*(x + ratio), in (0, 1)). Accurate for all
 * x >= X_FLOOR; for x < -30 from the asymptotic series
 * Phi(-t) = phi(t)/t (1 - 1/t^2 + 3/t^4 - ...), truncated after 1/t^14
 * (relative error below 5e-18 there).
 */
static double
log_ndtr(double x, double *mills, double *mills_slope)
{
	if (x > -30.0)
	{
		double		cdf = 0.5 * erfc(-x * SQRT_HALF);
		double		ratio;

		if (mills != NULL)
		{
			ratio = INV_SQRT_2PI * exp(-0.5 * x * x) / cdf;
			*mills = ratio;
			if (mills_slope != NULL)
				*mills_slope = ratio * (x + ratio);
		}
		return x > 0.0 ? log1p(-0.5 * erfc(x * SQRT_HALF)) : log(cdf);
	}
	else
	{
		double		t = -x,
					u = 1.0 / (t * t);
		/* 1 - series = u (1 - 3u (1 - 5u (...))) */
		double		rest = u * (1.0 - 3.0 * u * (1.0 - 5.0 * u * (1.0 - 7.0 * u * (1.0 - 9.0 * u
									* (1.0 - 11.0 * u * (1.0 - 13.0 * u))))));
		double		series = 1.0 - rest;

		if (mills != NULL)
		{
			*mills = t / series;
			/* ratio (x + ratio) = (t / S) (t (1 - S) / S) */
			if (mills_slope != NULL)
				*mills_slope = (t / series) * (t * rest / series);
		}
		return -0.5 * t * t - log(t) - LOG_SQRT_2PI + log(series);
	}
}

/* the integrand (scaled, see problem) at the nodes z[0..n-1], arms in active[0..m-1] */
static void
eval_nodes(const problem *pb, int m, const double *z, int n, double *out)
{
	int			i,
				k;

	for (i = 0; i < n; i++)
	{
		double		zi = z[i];

		if (pb->log_domain)
		{
			double		h = -0.5 * zi * zi - pb->shift;

			for (k = 0; k < m; k++)
			{
				int			j = pb->active[k];
				double		x = pb->c[j] + pb->s[j] * zi;

				if (x < X_ONE)
					h += log_ndtr(x, NULL, NULL);
			}
			out[i] = exp(h);
		}
		else
		{
			double		v = exp(-0.5 * zi * zi);

			for (k = 0; k < m; k++)
			{
				int			j = pb->active[k];
				double		x = pb->c[j] + pb->s[j] * zi;

				if (x < X_ONE)
				{
					v *= 0.5 * erfc(-x * SQRT_HALF);
					if (v < NODE_TINY)
					{
						v = 0.0;
						break;
					}
				}
			}
			out[i] = v;
		}
	}
}

/* Gauss-Kronrod 10-21 on [a, b]: the Kronrod value and an error estimate */
static void
apply_rule(const problem *pb, double a, double b, double *value, double *error)
{
	double		half = 0.5 * (b - a),
				mid = 0.5 * (a + b);
	double		z[NNODES],
				f[NNODES];
	double		kronrod = 0.0,
				gauss = 0.0,
				absolute = 0.0,
				mean,
				spread = 0.0,
				err;
	int			i,
				j,
				m = 0;

	/* arms whose factor is below 1 somewhere on [a, b] */
	for (j = 0; j < pb->n; j++)
	{
		if (pb->c[j] + pb->s[j] * a < X_ONE)
		{
			if (!pb->log_domain && pb->c[j] + pb->s[j] * b <= X_ZERO)
			{
				/* factor below 1e-17 on all of [a, b] */
				*value = 0.0;
				*error = 0.0;
				return;
			}
			pb->active[m++] = j;
		}
	}
	for (i = 0; i < NHALF; i++)
	{
		z[i] = mid - half * gk_x[i];
		if (i < NHALF - 1)
			z[NHALF + i] = mid + half * gk_x[i];
	}
	eval_nodes(pb, m, z, NNODES, f);
	for (i = 0; i < NHALF; i++)
	{
		double		pair = (i < NHALF - 1) ? f[i] + f[NHALF + i] : f[i];
		double		abs_pair = (i < NHALF - 1) ? fabs(f[i]) + fabs(f[NHALF + i]) : fabs(f[i]);

		kronrod += gk_wk[i] * pair;
		gauss += gk_wg[i] * pair;
		absolute += gk_wk[i] * abs_pair;
	}
	mean = 0.5 * kronrod;
	for (i = 0; i < NHALF; i++)
	{
		double		dev = fabs(f[i] - mean);

		if (i < NHALF - 1)
			dev += fabs(f[NHALF + i] - mean);
		spread += gk_wk[i] * dev;
	}
	kronrod *= half;
	gauss *= half;
	absolute *= fabs(half);
	spread *= fabs(half);
	/*
	 * |K21 - G10| bounds the error of G10; that of K21 is far smaller on
	 * smooth integrands. The usual scaling (QUADPACK's): spread * min(1,
	 * (200 |K - G| / spread)^1.5), and never below 50 ulps of the integral of
	 * |f|.
	 */
	err = fabs(kronrod - gauss);
	if (spread > 0.0 && err > 0.0)
	{
		double		r = 200.0 * err / spread;

		err = (r < 1.0) ? spread * r * sqrt(r) : spread;
	}
	if (absolute > DBL_MIN / (50.0 * DBL_EPSILON))
		err = fmax(err, 50.0 * DBL_EPSILON * absolute);
	*value = kronrod;
	*error = err;
}

/*
 * Global adaptive integration over the panels between the sorted points
 * pts[0..npts-1] (empty panels skipped), bisecting the panel with the largest
 * error estimate until the sum of the estimates is at most
 * max(abs_tol, rel_tol * |value|). Returns 0, or -1 if MAX_PANELS panels do
 * not suffice.
 */
static int
integrate(const problem *pb, const double *pts, int npts, double abs_tol, double rel_tol,
		  panel *pan, double *value)
{
	int			n = 0,
				i;
	double		stuck = 0.0;	/* error of panels too narrow to bisect */

	for (i = 0; i + 1 < npts; i++)
	{
		if (pts[i + 1] > pts[i])
		{
			pan[n].a = pts[i];
			pan[n].b = pts[i + 1];
			apply_rule(pb, pan[n].a, pan[n].b, &pan[n].value, &pan[n].error);
			n++;
		}
	}
	for (;;)
	{
		double		sum = 0.0,
					err = stuck,
					mid;
		int			worst = 0;

		for (i = 0; i < n; i++)
		{
			sum += pan[i].value;
			err += pan[i].error;
			if (pan[i].error > pan[worst].error)
				worst = i;
		}
		if (err <= fmax(abs_tol, rel_tol * fabs(sum)))
		{
			*value = sum;
			return 0;
		}
		if (n == 0 || n >= MAX_PANELS || !(err < HUGE_VAL))
			return -1;
		mid = 0.5 * (pan[worst].a + pan[worst].b);
		if (!(mid > pan[worst].a && mid < pan[worst].b))
		{
			stuck += pan[worst].error;
			pan[worst].error = 0.0;
			continue;
		}
		pan[n].a = mid;
		pan[n].b = pan[worst].b;
		pan[worst].b = mid;
		apply_rule(pb, pan[worst].a, pan[worst].b, &pan[worst].value, &pan[worst].error);
		apply_rule(pb, pan[n].a, pan[n].b, &pan[n].value, &pan[n].error);
		n++;
	}
}

static void
sort_points(double *p, int n)
{
	int			i,
				j;

	for (i = 1; i < n; i++)
	{
		double		v = p[i];

		for (j = i; j > 0 && p[j - 1] > v; j--)
			p[j] = p[j - 1];
		p[j] = v;
	}
}

/* h(z) = log(g(z) sqrt(2 pi)) over all arms, with h' and h'' if wanted */
static double
log_integrand(const problem *pb, double z, double *d1, double *d2)
{
	double		h = -0.5 * z * z,
				g1 = -z,
				g2 = -1.0;
	int			j;

	for (j = 0; j < pb->n; j++)
	{
		double		x = pb->c[j] + pb->s[j] * z,
					mills,
					slope;

		if (x >= X_ONE)
			continue;
		h += log_ndtr(x, &mills, &slope);
		g1 += pb->s[j] * mills;
		g2 -= pb->s[j] * pb->s[j] * slope;
	}
	if (d1 != NULL)
		*d1 = g1;
	if (d2 != NULL)
		*d2 = g2;
	return h;
}

/*
 * Where h falls to target on the side of z* that start lies on (h(start) <= target):
 * Newton from outside, which for concave h stays outside, so every iterate is
 * a safe limit; stops once within 1 of target.
 */
static double
tail_limit(const problem *pb, double start, double target)
{
	double		z = start;
	int			iter;

	for (iter = 0; iter < 60; iter++)
	{
		double		d1,
					h = log_integrand(pb, z, &d1, NULL),
					next;

		if (h >= target - 1.0 || d1 == 0.0 || !isfinite(d1))
			break;
		next = z + (target - h) / d1;
		if (!isfinite(next) || next == z)
			break;
		z = next;
	}
	return z;
}

/*
 * The tail path: P_a on [lower, Z_CEIL] (lower may be -HUGE_VAL) to relative
 * accuracy, by integrating exp(h - h(z*)). Returns 0 or -1.
 */
static int
tail_probability(problem *pb, double lower, double *points, panel *pan, double *prob)
{
	double		lo = fmax(lower, -Z_CEIL),
				zmin,
				zmax = Z_CEIL,
				zstar,
				hstar,
				d1,
				d2,
				target,
				zl,
				zr,
				start,
				value;
	int			j,
				iter,
				npts = 0;

	/* below x_j = X_FLOOR a factor is < 4e-350: nothing representable */
	for (j = 0; j < pb->n; j++)
		lo = fmax(lo, (X_FLOOR - pb->c[j]) / pb->s[j]);
	if (!(lo < Z_CEIL))
	{
		*prob = 0.0;
		return 0;
	}

	/* the maximum z*: h'(z) > 0 for z < 0, so z* >= max(lo, 0) */
	zmin = fmax(lo, 0.0);
	log_integrand(pb, zmin, &d1, NULL);
	if (d1 <= 0.0)
		zstar = zmin;
	else
	{
		log_integrand(pb, zmax, &d1, NULL);
		if (d1 > 0.0)
		{
			/* the maximum lies beyond z = 40: P_a < 1e-322 */
			*prob = 0.0;
			return 0;
		}
		zstar = zmin;
		for (iter = 0; iter < 100; iter++)
		{
			double		next;

			log_integrand(pb, zstar, &d1, &d2);
			if (d1 > 0.0)
				zmin = zstar;
			else
				zmax = zstar;
			next = zstar - d1 / d2;
			if (!(next > zmin && next < zmax))
				next = 0.5 * (zmin + zmax);
			if (fabs(next - zstar) <= 1e-12 * (1.0 + fabs(zstar)) || zmax - zmin <= 1e-14 * (1.0 + fabs(zstar)))
			{
				zstar = next;
				break;
			}
			zstar = next;
		}
	}
	hstar = log_integrand(pb, zstar, NULL, NULL);
	target = hstar - TAIL_DROP;

	/* left limit: h(z) <= h* + (z*^2 - z^2) / 2 for z < z* */
	start = fmax(lo, -sqrt(zstar * zstar + 2.0 * TAIL_DROP));
	if (start >= zstar)
		zl = zstar;
	else if (log_integrand(pb, start, NULL, NULL) >= target)
		zl = start;
	else
		zl = tail_limit(pb, start, target);
	/* right limit: h(z) <= -z^2 / 2 */
	start = fmax(zstar, sqrt(2.0 * (TAIL_DROP - hstar)));
	zr = (start > zstar) ? tail_limit(pb, start, target) : zstar;
	if (!(zr > zl))
	{
		*prob = 0.0;
		return 0;
	}

	points[npts++] = zl;
	points[npts++] = zr;
	if (zstar > zl && zstar < zr)
		points[npts++] = zstar;
	/* steps of arms narrow compared with [zl, zr] */
	for (j = 0; j < pb->n; j++)
	{
		double		width = (X_ONE - X_ZERO) / pb->s[j];
		double		p0 = -pb->c[j] / pb->s[j];

		if (width * 4.0 < zr - zl)
		{
			double		cand[3];
			int			q;

			cand[0] = p0 + X_ZERO / pb->s[j];
			cand[1] = p0;
			cand[2] = p0 + X_ONE / pb->s[j];
			for (q = 0; q < 3; q++)
				if (cand[q] > zl && cand[q] < zr)
					points[npts++] = cand[q];
		}
	}
	sort_points(points, npts);

	pb->log_domain = true;
	pb->shift = hstar;
	if (integrate(pb, points, npts, 0.0, TAIL_REL_TOL, pan, &value) != 0)
		return -1;
	if (!(value > 0.0))
	{
		*prob = 0.0;
		return 0;
	}
	*prob = fmin(1.0, exp(hstar - LOG_SQRT_2PI + log(value)));
	return 0;
}

/* P_a for a continuous arm a: factors Phi(c_j + s_j z), z > lower */
static int
continuous_probability(problem *pb, double lower, double *points, panel *pan, double *prob)
{
	double		lo = fmax(lower, -Z_MAX),
				hi = Z_MAX,
				value;
	int			j,
				npts = 0;

	for (j = 0; j < pb->n; j++)
		lo = fmax(lo, (X_ZERO - pb->c[j]) / pb->s[j]);
	if (lo < hi)
	{
		points[npts++] = lo;
		points[npts++] = hi;
		for (j = 0; j < pb->n; j++)
		{
			if (pb->s[j] >= NARROW)
			{
				double		p0 = -pb->c[j] / pb->s[j],
							p1 = (X_ONE - pb->c[j]) / pb->s[j];

				if (p0 > lo && p0 < hi)
					points[npts++] = p0;
				if (p1 > lo && p1 < hi)
					points[npts++] = p1;
			}
		}
		sort_points(points, npts);
		pb->log_domain = false;
		pb->shift = 0.0;
		if (integrate(pb, points, npts, FAST_ABS_TOL, FAST_REL_TOL, pan, &value) != 0)
			return -1;
		value *= INV_SQRT_2PI;
		if (value >= TAIL_SWITCH)
		{
			*prob = fmin(1.0, value);
			return 0;
		}
	}
	return tail_probability(pb, lower, points, pan, prob);
}

int
lints_prob_best(int k, const double *mu, const double *sd, const bool *enabled, int a, double *prob)
{
	/* c, s (k each), breakpoints (3 k + 3) */
#define SCRATCH(k) (5 * (k) + 3)
	double		stack_buf[SCRATCH(64)];
	int			stack_idx[64];
	panel		pan[MAX_PANELS];
	double	   *buf = stack_buf;
	int		   *idx = stack_idx;
	double		lower = -HUGE_VAL,
				log_constant = 0.0;
	problem		pb;
	int			j,
				n = 0,
				status;

	if (k < 1 || mu == NULL || sd == NULL || prob == NULL || a < 0 || a >= k ||
		(enabled != NULL && !enabled[a]))
		return -1;
	for (j = 0; j < k; j++)
		if ((enabled == NULL || enabled[j]) && (!isfinite(mu[j]) || !isfinite(sd[j]) || sd[j] < 0.0))
			return -1;

	if (sd[a] == 0.0)
	{
		/* a point mass: it wins if no point mass lies above it (sharing ties)
		 * and every continuous arm falls below mu_a */
		double		log_p = 0.0;
		int			ties = 0;

		for (j = 0; j < k; j++)
		{
			if (enabled != NULL && !enabled[j])
				continue;
			if (sd[j] == 0.0)
			{
				if (mu[j] > mu[a])
				{
					*prob = 0.0;
					return 0;
				}
				if (mu[j] == mu[a])
					ties++;
			}
			else
				log_p += log_ndtr(fmax((mu[a] - mu[j]) / sd[j], X_FLOOR - 1.0), NULL, NULL);
		}
		*prob = exp(log_p) / ties;
		return 0;
	}

	if (k > 64)
	{
		buf = malloc(sizeof(double) * SCRATCH(k));
		idx = malloc(sizeof(int) * k);
		if (buf == NULL || idx == NULL)
		{
			free(buf);
			free(idx);
			return -1;
		}
	}
	for (j = 0; j < k; j++)
	{
		double		c,
					s;

		if (j == a || (enabled != NULL && !enabled[j]))
			continue;
		s = sd[a] / sd[j];
		c = (mu[a] - mu[j]) / sd[j];
		if (sd[j] == 0.0 || !(s <= POINT_MASS_RATIO))
		{
			/* a step at z = (mu_j - mu_a) / sd_a */
			lower = fmax(lower, (mu[j] - mu[a]) / sd[a]);
			continue;
		}
		if (c == HUGE_VAL)
			continue;			/* factor 1 */
		if (c == -HUGE_VAL)
		{
			lower = HUGE_VAL;	/* factor 0 */
			continue;
		}
		if (s == 0.0)
		{
			/* sd_a / sd_j underflowed: a constant factor */
			log_constant += log_ndtr(fmax(c, X_FLOOR - 1.0), NULL, NULL);
			continue;
		}
		buf[n] = c;
		buf[k + n] = s;
		n++;
	}
	if (lower == HUGE_VAL)
	{
		*prob = 0.0;
		status = 0;
	}
	else if (n == 0)
	{
		/* only steps: P(z > lower), times the constant factors */
		*prob = 0.5 * erfc(lower * SQRT_HALF) * exp(log_constant);
		status = 0;
	}
	else
	{
		pb.n = n;
		pb.c = buf;
		pb.s = buf + k;
		pb.active = idx;
		status = continuous_probability(&pb, lower, buf + 2 * k, pan, prob);
		if (status == 0 && log_constant < 0.0)
			*prob *= exp(log_constant);
	}
	if (buf != stack_buf)
	{
		free(buf);
		free(idx);
	}
	return status;
#undef SCRATCH
}
