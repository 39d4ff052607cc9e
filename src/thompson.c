/*
 * thompson.c
 *    P(arm i has the largest posterior draw) for independent Beta or
 *    location-scale Student t posteriors, by adaptive quadrature of
 *        P_i = integral f_i(x) prod_{j != i} F_j(x) dx.
 *
 * Design
 *  - All arms share one set of nodes, and the k products "all but i" come
 *    from prefix and suffix products (no division, so F_j = 0 is harmless).
 *    The integrand is a vector of k components, integrated with adaptive
 *    Gauss-Kronrod 7-15.
 *  - Only densities are evaluated at the nodes (an exp and a few flops per
 *    arm, with the arm's constants prepared once per call and the logarithms
 *    of the point shared by all arms); the distribution functions come from
 *    integrating them. Panels are processed left to right, and F_j at the
 *    nodes of a panel is F_j at its left end plus the integral of the
 *    degree-14 polynomial interpolating f_j at the 15 Kronrod nodes (a fixed
 *    15 x 15 matrix). An exact incomplete beta / t cdf is evaluated only once
 *    per arm, at the lower limit of integration.
 *  - Integration runs in a transformed variable u in which tails decay
 *    exponentially and endpoint singularities disappear: the logit
 *    u = log(x/(1-x)) for Beta arms (Beta(1/2,1/2) has x^-1/2 poles at 0 and
 *    1; small a or b put mass within 1e-16 of 1, where x itself loses all
 *    precision), and u = asinh((x - c)/w) for t arms (power-law tails
 *    ~|x|^-(nu+1) become ~e^(-nu |u|)).
 *    With a small a, Beta(a,b) holds mass far below x = 1e-300: its logit
 *    tail is ~e^(a u), reaching TAIL_EPS only at u ~ -30/a (-3000 for
 *    Beta(0.01,0.01)); symmetrically for b. Nothing needs x there: the
 *    densities use log x and log y, which stay exact for any finite u, and
 *    the cdf at L comes, where x or 1 - x underflows, from the closed form
 *    of the small tail (dist_beta_logit_eval). So the domain simply extends
 *    as far as the tails do (a or b down to ~3e-307; below that, 30/a nears
 *    the largest double and the call is refused); the panels, placed from
 *    each arm's own shape, scale with it.
 *  - Domain: with lo_j <= (the TAIL_EPS quantile of arm j) and
 *    hi_j >= (its 1 - TAIL_EPS quantile), only [L, U] = [max_j lo_j, max_j hi_j]
 *    is integrated:
 *      below L, the arm m with lo_m = L has F_m <= TAIL_EPS, so every
 *      integrand with i != m is at most TAIL_EPS f_i there, and the one with
 *      i = m holds at most F_m(L) <= TAIL_EPS in total;
 *      above U, every arm i has at most 1 - F_i(U) <= TAIL_EPS of its mass.
 *    Likewise from the first panel that starts at or above hi_j, arm j is
 *    treated as F_j = 1, f_j = 0, which changes each integrand by at most
 *    TAIL_EPS per arm. In all, each probability moves by at most
 *    (k + 2) TAIL_EPS, i.e. < 1e-10 for k <= 1000. lo_j and hi_j need not be
 *    quantiles, only on the safe side: they are where a rigorous bound on
 *    the tail mass falls to TAIL_EPS (found in a few Newton steps on
 *    densities, see beta_tail_bound and t_tail_bound).
 *  - Panels: breakpoints at each arm's mode, at the edges of its bulk either
 *    side (one scale unit for t arms; for Beta arms where the density has
 *    fallen by e^-1/2, one standard deviation for near-normal arms, but far
 *    apart on the two sides when a or b is small: see beta_bulk_edge),
 *    between there and lo_j / hi_j (equally spaced in u for Beta arms, whose
 *    logit tails are exponential or lighter; geometrically in x - loc for t
 *    arms, whose tails are power laws), and at hi_j, clipped to [L, U], so
 *    every density, however narrow, gets nodes; for Beta arms also a mesh
 *    graded towards u = 0, where all their logit densities bend (see
 *    bend_break). A candidate is dropped when it is closer to the last kept
 *    breakpoint than to its arm's own point below, or closer to U than to
 *    its arm's point above, which keeps the panel count modest when many
 *    arms overlap, yet a panel never spans more than about two consecutive
 *    spacings of any arm's points (a one-sided rule: the two sides of an
 *    arm can differ in scale by a factor of 1e9).
 *  - Error control: every component -- the k integrands, and the k densities
 *    f_j, whose integrals are the cdfs -- has the error estimate
 *    |K15 - G7| on each panel. A panel is accepted when, for every component,
 *    that estimate minus RELATIVE_TOL times the component's value is within
 *    the panel's tolerance: INTEGRATION_TOL is split equally among the
 *    initial panels and halved at each bisection, so every component's
 *    estimated error adds up to at most INTEGRATION_TOL + RELATIVE_TOL
 *    (its total being at most 1). Bisection stops at MAX_DEPTH, or when the
 *    call's budget of MAX_EXTRA_PANELS bisections is spent. The G7 estimate
 *    is very pessimistic for K15 (in tests the errors are ~1e-12), and the
 *    interpolated cdfs inside a panel are more accurate than it by a factor
 *    of 300 or more on smooth densities.
 *  - The result is certified or refused (-1, never a silently wrong answer):
 *    the raw probabilities must sum to 1 within SUM_TOL, the error
 *    estimates of panels accepted unresolved (depth or budget) must stay
 *    below SUM_TOL in total, and each arm's integrated cdf must reach 1
 *    within CLOSURE_TOL (which checks the exact cdf at L, the normalisation
 *    of the density and the accumulated integration error at once). Then
 *    the result is normalised.
 */
#include <math.h>
#include <stdlib.h>

#include "distributions.h"
#include "thompson.h"

#define TAIL_EPS			1e-13
#define INTEGRATION_TOL		1e-9
#define RELATIVE_TOL		1e-10
#define SUM_TOL				1e-7
/* An arm's cdf that drifts by d moves the probabilities by about d at most;
 * the drift seen in tests is 1e-13 .. 2e-12. */
#define CLOSURE_TOL			1e-8
#define MAX_DEPTH			40
/* Bisections allowed per call beyond the initial panels: MAX_DEPTH alone
 * would allow 2^40 panels if the error estimate never settled. */
#define MAX_EXTRA_PANELS	2000
#define MERGE_FRACTION		1.0

/* Breakpoints per arm: mode, bulk edges, N_TAIL_BREAKS in each tail, hi. */
#define N_TAIL_BREAKS		3
#define N_BREAKS			(4 + 2 * N_TAIL_BREAKS)
/* Shared by Beta arms: 0 and -+2^m for m = 0 .. 6 (see bend_break). */
#define N_BEND_BREAKS		15

/* Bulk edges: where the log density is BULK_DROP -+ BULK_SLACK below its
 * peak (see beta_bulk_edge). */
#define BULK_DROP			0.5
#define BULK_SLACK			0.25
#define BULK_MAX_ITER		30

/* Search for a tail point: Newton steps (bisection when they leave the
 * bracket), accepting a bound between e^-TAIL_SLACK and 1 times the level. */
#define TAIL_MAX_ITER		60
#define TAIL_SLACK			0.1

/* Gauss-Kronrod 7-15 on [-1, 1]: Kronrod abscissae (the odd ones are the
 * Gauss nodes), Kronrod weights and Gauss weights (Kronrod 1965). */
#define N_NODES				15
static const double kronrod_nodes[8] = {
	0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
	0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
	0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
	0.207784955007898467600689403773245, 0.000000000000000000000000000000000
};
static const double kronrod_weights[8] = {
	0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
	0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
	0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
	0.204432940075298892414161999234649, 0.209482141084727828012999174891714
};
static const double gauss_weights[4] = {
	0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
	0.381830050505118944950369775488975, 0.417959183673469387755102040816327
};

/*
 * The same rule with the nodes in increasing order, and the cumulative
 * weights: cumulative[n][m] = integral from -1 to node m of the Lagrange
 * polynomial that is 1 at node n and 0 at the other nodes, so that
 * sum_n cumulative[n][m] f(node n) integrates the interpolant of f from -1
 * to node m. Filled once by init_rule (the 15-point rule integrates those
 * degree-14 polynomials exactly on any interval). Rows are padded with a
 * zero to N_PADDED so that the inner loop has a vector-friendly length.
 */
#define N_PADDED			16
static double rule_node[N_NODES];
static double rule_kronrod[N_NODES];
static double rule_gauss[N_NODES];	/* 0 at the Kronrod-only nodes */
static double cumulative[N_NODES][N_PADDED];
static int	rule_ready = 0;

typedef enum
{
	FAMILY_BETA,
	FAMILY_T
} arm_family;

typedef struct
{
	arm_family	family;
	int			k;
	const double *param1;		/* alpha, or loc */
	const double *param2;		/* beta, or scale */
	const double *param3;		/* nu (t only) */
	double		centre;			/* t only: u = asinh((x - centre) / width) */
	double		width;
	int			panels_left;	/* bisection budget */

	/* per arm, all of length k */
	dist_beta_logit_kernel *beta;	/* Beta only */
	dist_t_kernel *t;			/* t only */
	double	   *offset;			/* t only: loc_j - centre, exact when close */
	double	   *inv_scale;		/* t only */
	double	   *active_to;		/* hi_j: F = 1, f = 0 on panels from here up */
	double	   *cdf_left;		/* F_j at the left end of the next panel */
	double	   *mass;			/* integral of f_j over the last panel */
	double	   *kronrod_sum;
	double	   *gauss_sum;
	double	   *total;
	double	   *prefix;
	int		   *active;			/* arms not yet switched off in the panel */
	double	   *density;		/* at node n of a panel, active arm a: [n * k + a] */
	double	   *cdf;			/* likewise */
} problem;

#define N_ARM_ARRAYS		9	/* the arrays of doubles of length k above */

/* The integration variable at one node, and what all arms share there. */
typedef struct
{
	dist_logit_point pt;		/* Beta */
	double		x_minus_centre; /* t */
	double		dx_du;			/* t */
} node;

/* A proposed panel boundary of one arm, dropped if closer to the boundary
 * kept before it than to the arm's own point below (gap_below), or closer
 * to the upper limit than to the arm's own point above (gap_above). */
typedef struct
{
	double		u;
	double		gap_below;
	double		gap_above;
} breakpoint;

/* Where an arm proposes breakpoints; lo and hi bound its TAIL_EPS tails. */
typedef struct
{
	double		lo;
	double		hi;
	breakpoint	breaks[N_BREAKS];
} arm_shape;

/* fmax without its NaN rule, which keeps compilers from inlining it. A NaN
 * error estimate may be lost here, but the NaN then also reaches the totals,
 * which the final checks refuse. */
static inline double
max_double(double a, double b)
{
	return (a > b) ? a : b;
}

/* A cdf from the interpolant, kept in [0, 1] (it may stray by rounding, or
 * by interpolation where the density has barely started). */
static inline double
clamp_probability(double p)
{
	return (p < 0.0) ? 0.0 : (p > 1.0) ? 1.0 : p;
}

/* Lagrange polynomial of the sorted nodes that is 1 at node n, at s. */
static double
lagrange(int n, double s)
{
	double		value = 1.0;
	int			q;

	for (q = 0; q < N_NODES; q++)
		if (q != n)
			value *= (s - rule_node[q]) / (rule_node[n] - rule_node[q]);
	return value;
}

static void
init_rule(void)
{
	int			m,
				n,
				r;

	for (n = 0; n < N_NODES; n++)
	{
		int			i = (n <= 7) ? n : 14 - n;	/* index into the tables */

		rule_node[n] = (n < 7) ? -kronrod_nodes[i] : kronrod_nodes[i];
		rule_kronrod[n] = kronrod_weights[i];
		rule_gauss[n] = (i % 2 == 1) ? gauss_weights[i / 2] : 0.0;
	}
	for (m = 0; m < N_NODES; m++)
	{
		/* [-1, node m] = mid -+ half */
		double		half = 0.5 * (rule_node[m] + 1.0),
					mid = 0.5 * (rule_node[m] - 1.0);

		for (n = 0; n < N_NODES; n++)
		{
			double		sum = 0.0;

			for (r = 0; r < N_NODES; r++)
				sum += rule_kronrod[r] * lagrange(n, mid + half * rule_node[r]);
			cumulative[n][m] = half * sum;
		}
	}
	rule_ready = 1;
}

static void
set_node(const problem *pb, double u, node *nd)
{
	if (pb->family == FAMILY_BETA)
		nd->pt = dist_logit_point_at(u);
	else
	{
		double		s = sinh(u);

		/* cosh = sqrt(1 + sinh^2), without overflow for huge |sinh| */
		nd->x_minus_centre = pb->width * s;
		nd->dx_du = pb->width * (fabs(s) < 1e150 ? sqrt(1.0 + s * s) : fabs(s));
	}
}

/* Density of arm j with respect to u at a node. */
static double
arm_density(const problem *pb, int j, const node *nd)
{
	if (pb->family == FAMILY_BETA)
		return exp(dist_beta_logit_log_density(&pb->beta[j], &nd->pt));
	/* (x - loc) formed as (x - centre) - (loc - centre): no digits are lost
	 * when the locations are large compared with the scales */
	return exp(dist_t_log_pdf_prepared(&pb->t[j],
									   (nd->x_minus_centre - pb->offset[j]) * pb->inv_scale[j]))
		* nd->dx_du * pb->inv_scale[j];
}

/* Exact cdf of arm j at u (incomplete beta or t). */
static double
arm_cdf(const problem *pb, int j, double u)
{
	double		cdf,
				density;

	if (pb->family == FAMILY_BETA)
		dist_beta_logit_eval(u, pb->param1[j], pb->param2[j], &cdf, &density);
	else
		dist_t_eval((pb->width * sinh(u) - pb->offset[j]) / pb->param2[j], pb->param3[j],
					&cdf, &density);
	return cdf;
}

/*
 * Tails. A point beyond which an arm holds at most `level` of its mass is
 * found as a point where a rigorous upper bound on the tail mass is at most
 * `level` (and, to waste little domain, above e^-TAIL_SLACK level). The
 * search runs on a distance r > 0 from the arm's centre, along which
 * phi(r) = log(bound / level) decreases from +inf; any r with phi(r) <= 0 is
 * a valid answer. A tail_bound_fn returns phi(r) and sets d phi / dr.
 */
typedef double (*tail_bound_fn) (const void *context, double r, double *derivative);

/* Next trial distance when Newton's step leaves the bracket (inner, outer):
 * geometric when the bracket spans a large ratio. */
static double
tail_bisect(double inner, double outer)
{
	if (isinf(outer))
		return (inner > 0.0) ? 4.0 * inner : 1.0;
	if (inner <= 0.0)
		return outer / 16.0;
	if (outer > 4.0 * inner)
		return sqrt(inner) * sqrt(outer);
	return 0.5 * (inner + outer);
}

/* Newton's method from r (which should lie inside: from far outside phi
 * is huge and its step cancels catastrophically), aiming at the middle of
 * [-TAIL_SLACK, 0]; returns the best valid r found, or NAN. */
static double
tail_search(tail_bound_fn bound, const void *context, double r)
{
	double		inner = 0.0,
				outer = HUGE_VAL,
				best = NAN;
	int			iter;

	for (iter = 0; iter < TAIL_MAX_ITER && isfinite(r); iter++)
	{
		double		derivative,
					phi = bound(context, r, &derivative),
					next;

		if (phi <= 0.0)
		{
			outer = r;
			best = r;
			if (phi >= -TAIL_SLACK)
				break;
		}
		else
			inner = r;
		next = r - (phi + 0.5 * TAIL_SLACK) / derivative;
		if (!(next > inner && next < outer))
			next = tail_bisect(inner, outer);
		r = next;
	}
	return best;
}

typedef struct
{
	const dist_beta_logit_kernel *kern;
	double		mode;
	int			side;			/* -1 lower tail, +1 upper */
	double		log_level;
} beta_tail;

/*
 * g'(u) = a (1 - x) - b x = -(a + b) (x - x0) for g = log f, f the density
 * of the logit of a Beta arm, at pt, d = u - mode. x - x0 = x y0 (1 - e^-d)
 * near the mode, accurate however narrow the arm (the difference of the
 * rounded x and x0 is 0 once the arm is narrower than the spacing of doubles
 * near x0); farther out the difference is accurate, and the product could
 * be 0 * inf.
 */
static double
beta_log_slope(const dist_beta_logit_kernel *kern, const dist_logit_point *pt, double d)
{
	double		dev = (fabs(d) < 1.0) ? pt->x * kern->y0 * -expm1(-d)
		: (pt->x <= pt->y) ? pt->x - kern->x0 : kern->y0 - pt->y;

	return -(kern->a + kern->b) * dev;
}

/*
 * Beta arms, at u = mode + side r: with g = log f (f the density of the
 * logit), g'' = -(a + b) x (1 - x) < 0, so the density is log-concave:
 * beyond u (away from the mode) f(v) <= f(u) exp(g'(u) (v - u)), and the
 * tail holds at most f(u) / |g'(u)|.
 */
static double
beta_tail_bound(const void *context, double r, double *derivative)
{
	const beta_tail *c = (const beta_tail *) context;
	const dist_beta_logit_kernel *kern = c->kern;
	double		d = c->side * r;
	dist_logit_point pt = dist_logit_point_at(c->mode + d);
	double		slope = beta_log_slope(kern, &pt, d);
	double		curvature = -(kern->a + kern->b) * pt.x * pt.y;

	*derivative = c->side * (slope - curvature / slope);
	return dist_beta_logit_log_density(kern, &pt) - log(fabs(slope)) - c->log_level;
}

/*
 * The search starts from the nearer of the normal approximation
 * r = sd sqrt(-2 log level) and the exponential tail r = -log(level) / rate
 * that the slope g' approaches far out (rate a below, b above): the latter
 * is never far outside, since |g'| < rate. But it can be far inside (for
 * huge a or b the slope reaches its rate only far beyond the normal tail),
 * so that Newton's steps, which multiply r by about 1 + phi there, may not
 * get out in time; then the search is repeated from the farther of the two.
 * Returns u, or NAN.
 */
static double
beta_tail_point(const dist_beta_logit_kernel *kern, double mode, double sd, double level,
				int side)
{
	beta_tail	c;
	double		normal = sd * sqrt(-2.0 * log(level)),
				exponential = -log(level) / (side < 0 ? kern->a : kern->b),
				r;

	c.kern = kern;
	c.mode = mode;
	c.side = side;
	c.log_level = log(level);
	r = tail_search(beta_tail_bound, &c, fmin(normal, exponential));
	if (isnan(r))
		r = tail_search(beta_tail_bound, &c, fmax(normal, exponential));
	return mode + side * r;
}

/*
 * Edge of the bulk of a Beta arm on one side: where its log density has
 * fallen BULK_DROP below the peak (one standard deviation for a normal).
 * mode -+ sd, the normal approximation, is far off when a or b is small:
 * the logit density is then two exponential tails of scales 1/a and 1/b
 * joined by a bend of width ~1 near u = 0. For Beta(1, 1e-10) (mode 23,
 * sd 1e5) the density falls by e^-1/2 at u = 0.4 on the left, on the bend,
 * but only at 5e9 on the right; mode -+ sd would leave the bend inside a
 * panel 1e5 wide, where the nodes miss it.
 * h(r) = g(mode) - g(mode + side r) - BULK_DROP is convex with h(0) < 0, so
 * Newton's iterates from any r > 0 are, after at most one step, beyond the
 * root and decrease to it; started at min(sd, the tail point), they stop
 * at once for near-normal arms and within a few steps on exponential or
 * doubly exponential sides. Returns u, not beyond the tail point.
 */
static double
beta_bulk_edge(const dist_beta_logit_kernel *kern, double mode, double peak, double sd,
			   double tail, int side)
{
	double		r_max = side * (tail - mode),
				r = fmin(sd, r_max);
	int			iter;

	for (iter = 0; iter < BULK_MAX_ITER; iter++)
	{
		dist_logit_point pt = dist_logit_point_at(mode + side * r);
		double		h = peak - dist_beta_logit_log_density(kern, &pt) - BULK_DROP,
					next;

		if (fabs(h) <= BULK_SLACK || (h < 0.0 && r >= r_max))
			break;
		/* h'(r) = -side g'(u) */
		next = r + h / (side * beta_log_slope(kern, &pt, side * r));
		if (!(next < r_max))
			next = r_max;		/* also when NaN */
		if (!(next > 0.0))
			break;				/* only by rounding */
		r = next;
	}
	return mode + side * r;
}

typedef struct
{
	const dist_t_kernel *kern;
	double		log_level;
} t_tail;

/*
 * Standard t, at t = e^r > 1: log(1 + s^2/nu) is convex in log s^2, so for
 * s >= t it lies above its tangent there:
 *     log(1 + s^2/nu) >= log(1 + t^2/nu) + theta log(s^2/t^2),
 * theta = t^2 / (nu + t^2), i.e. f(s) <= f(t) (s/t)^-p with p = (nu + 1) theta,
 * and P(T > t) <= f(t) t / (p - 1) (p > 1 for t > 1). As nu grows this
 * becomes f(t) t / (t^2 - 1), a bound for the normal too.
 */
static double
t_tail_bound(const void *context, double r, double *derivative)
{
	const t_tail *c = (const t_tail *) context;
	double		t = exp(r),
				v2 = (c->kern->inv_sqrt_nu * t) * (c->kern->inv_sqrt_nu * t),	/* t^2/nu */
				one_minus_theta = 1.0 / (1.0 + v2),
				theta = isinf(v2) ? 1.0 : v2 * one_minus_theta,
				p = (c->kern->nu + 1.0) * theta;

	/* d/dr of log f(t) + r - log(p - 1), with d theta / dr = 2 theta (1 - theta) */
	*derivative = 1.0 - p - 2.0 * p * one_minus_theta / (p - 1.0);
	return dist_t_log_pdf_prepared(c->kern, t) + r - log(p - 1.0) - c->log_level;
}

/*
 * q > 1 with P(T > q) <= level for the standard t, or NAN. The search starts
 * from the nearer of the normal quantile and the power law the bound
 * approaches far out, log f(t) ~ log_scale - (nu + 1)(log t - log(nu) / 2).
 */
static double
t_tail_point(const dist_t_kernel *kern, double level)
{
	t_tail		c;
	double		normal = log(sqrt(-2.0 * log(level))),
				power = (kern->log_scale + (0.5 * (kern->nu + 1.0) - 1.0) * log(kern->nu)
						 - log(level)) / kern->nu;

	c.kern = kern;
	c.log_level = log(level);
	return exp(tail_search(t_tail_bound, &c, (power > 0.0) ? fmin(normal, power) : normal));
}

/* u at which x - centre = offset + scale * t for t arm j */
static double
t_arm_u(const problem *pb, int j, double t)
{
	return asinh((pb->offset[j] + pb->param2[j] * t) / pb->width);
}

/*
 * Tails and breakpoints of arm j; returns 0, or -1 if its tails cannot be
 * bounded. The breakpoints are the mode and the bulk edges (about one
 * standard deviation out), which may be merged with others closer than the
 * bulk width, and on each side N_TAIL_BREAKS tail points (and hi above),
 * which may be merged with others closer than their spacing.
 */
static int
arm_shape_of(const problem *pb, int j, arm_shape *sh)
{
	double		mode,
				lower[N_TAIL_BREAKS + 1],	/* bulk edge, then outwards */
				upper[N_TAIL_BREAKS + 2];	/* likewise, ending at hi */
	int			m,
				n = 0;

	if (pb->family == FAMILY_BETA)
	{
		/* mode and curvature of the logit density: u = log(a/b), sd^2 = 1/a + 1/b;
		 * the tail points are equally spaced in u (logit tails are
		 * exponential or lighter) */
		double		a = pb->param1[j],
					b = pb->param2[j],
					sd = sqrt(1.0 / a + 1.0 / b),
					peak;
		dist_logit_point at_mode;

		mode = log(a) - log(b);
		at_mode = dist_logit_point_at(mode);
		peak = dist_beta_logit_log_density(&pb->beta[j], &at_mode);
		sh->lo = beta_tail_point(&pb->beta[j], mode, sd, TAIL_EPS, -1);
		sh->hi = beta_tail_point(&pb->beta[j], mode, sd, TAIL_EPS, 1);
		lower[0] = fmax(beta_bulk_edge(&pb->beta[j], mode, peak, sd, sh->lo, -1), sh->lo);
		upper[0] = fmin(beta_bulk_edge(&pb->beta[j], mode, peak, sd, sh->hi, 1), sh->hi);
		for (m = 1; m <= N_TAIL_BREAKS; m++)
		{
			double		f = (double) m / (N_TAIL_BREAKS + 1);

			lower[m] = lower[0] + f * (sh->lo - lower[0]);
			upper[m] = upper[0] + f * (sh->hi - upper[0]);
		}
	}
	else
	{
		/* the tail points sit at t = q^(m/4), i.e. about equally spaced in
		 * log probability for power-law tails */
		double		q = t_tail_point(&pb->t[j], TAIL_EPS);

		if (!(q > 1.0 && isfinite(q)))
			return -1;
		mode = t_arm_u(pb, j, 0.0);
		sh->lo = t_arm_u(pb, j, -q);
		sh->hi = t_arm_u(pb, j, q);
		lower[0] = t_arm_u(pb, j, -1.0);
		upper[0] = t_arm_u(pb, j, 1.0);
		for (m = 1; m <= N_TAIL_BREAKS; m++)
		{
			double		t = pow(q, (double) m / (N_TAIL_BREAKS + 1));

			lower[m] = t_arm_u(pb, j, -t);
			upper[m] = t_arm_u(pb, j, t);
		}
	}
	upper[N_TAIL_BREAKS + 1] = sh->hi;
	/* (an arm far from all others may collapse to a point in u, even to
	 * -inf, e.g. a t arm with loc = -1e300: then it lies below L and plays no
	 * part; the limits L and U are checked to be finite later) */
	if (!(sh->lo <= lower[0] && lower[0] <= upper[0] && upper[0] <= sh->hi))
		return -1;

	/* in increasing order; each with its distance to the arm's point below */
	for (m = N_TAIL_BREAKS; m >= 0; m--)
		sh->breaks[n++].u = lower[m];
	sh->breaks[n++].u = mode;
	for (m = 0; m <= N_TAIL_BREAKS + 1; m++)
		sh->breaks[n++].u = upper[m];
	for (n = 0; n < N_BREAKS; n++)
	{
		sh->breaks[n].gap_below = MERGE_FRACTION
			* (sh->breaks[n].u - ((n == 0) ? sh->lo : sh->breaks[n - 1].u));
		sh->breaks[n].gap_above = (n + 1 < N_BREAKS)
			? MERGE_FRACTION * (sh->breaks[n + 1].u - sh->breaks[n].u)
			: sh->breaks[n].gap_below;
	}
	return 0;
}

/*
 * Error estimate |K15 - G7| of one component (a density or an integrand,
 * both non-negative) beyond RELATIVE_TOL of its value: rounding in the
 * densities (relative 1e-12 and more for narrow arms far out in the asinh
 * scale) puts a floor under |K15 - G7| that shrinks with the panel width no
 * faster than the absolute tolerance does, so bisection alone could never
 * meet it.
 */
static double
excess_error(double kronrod, double gauss)
{
	return fabs(kronrod - gauss) - RELATIVE_TOL * kronrod;
}

/*
 * Gauss-Kronrod 7-15 on [left, right] for all components; results in
 * pb->kronrod_sum (integrands) and pb->mass (densities). Returns the largest
 * excess_error over the integrands and the densities.
 */
static double
kronrod_panel(problem *pb, double left, double right)
{
	double		half = 0.5 * (right - left);
	double		mid = 0.5 * (right + left);
	double		error = 0.0;
	node		nodes[N_NODES];
	int			k = pb->k,
				n_active = 0,
				a,
				j,
				m,
				n;

	for (n = 0; n < N_NODES; n++)
		set_node(pb, mid + half * rule_node[n], &nodes[n]);

	/* densities, and the cdfs from their interpolants */
	for (j = 0; j < k; j++)
	{
		double		f[N_NODES],
					integral[N_PADDED] = {0.0},
					kronrod = 0.0,
					gauss = 0.0;

		pb->kronrod_sum[j] = pb->gauss_sum[j] = pb->mass[j] = 0.0;

		/* Switched off (F = 1, f = 0: no effect on any product) only from
		 * the first panel that starts at or above hi_j: switching off
		 * inside a panel would make f_j jump there, which no bisection
		 * resolves. */
		if (left >= pb->active_to[j])
			continue;
		for (n = 0; n < N_NODES; n++)
		{
			f[n] = arm_density(pb, j, &nodes[n]);
			kronrod += rule_kronrod[n] * f[n];
			gauss += rule_gauss[n] * f[n];
			for (m = 0; m < N_PADDED; m++)
				integral[m] += cumulative[n][m] * f[n];
		}
		pb->mass[j] = half * kronrod;
		error = max_double(error, excess_error(half * kronrod, half * gauss));
		/* node-major, so that the products below run over consecutive arms */
		for (n = 0; n < N_NODES; n++)
		{
			pb->density[n * k + n_active] = f[n];
			pb->cdf[n * k + n_active] = clamp_probability(pb->cdf_left[j] + half * integral[n]);
		}
		pb->active[n_active++] = j;
	}

	/* integrands: component i is f_i * prod_{j != i} F_j, from a prefix
	 * product (stored) and a running suffix product */
	for (n = 0; n < N_NODES; n++)
	{
		const double *f = pb->density + n * k;
		const double *F = pb->cdf + n * k;
		double		suffix = 1.0;

		for (a = 0; a < n_active; a++)
			pb->prefix[a] = (a == 0) ? 1.0 : pb->prefix[a - 1] * F[a - 1];
		for (a = n_active - 1; a >= 0; a--)
		{
			double		value = f[a] * pb->prefix[a] * suffix;

			j = pb->active[a];
			pb->kronrod_sum[j] += rule_kronrod[n] * value;
			pb->gauss_sum[j] += rule_gauss[n] * value;
			suffix *= F[a];
		}
	}
	for (a = 0; a < n_active; a++)
	{
		j = pb->active[a];
		pb->kronrod_sum[j] *= half;
		pb->gauss_sum[j] *= half;
		error = max_double(error, excess_error(pb->kronrod_sum[j], pb->gauss_sum[j]));
	}
	return error;
}

/*
 * Adaptive bisection of one panel (explicit stack, depth-first, left half
 * first so that panels are accepted from left to right, as the running cdfs
 * require). A panel is accepted when its error estimate is within its
 * tolerance, which each half inherits halved, so the tolerances of the
 * accepted pieces add up to that of the whole. Adds the accepted Kronrod
 * sums to pb->total and the densities' masses to pb->cdf_left; returns the
 * summed error estimates of sub-panels that had to be accepted unresolved
 * (depth or budget).
 */
static double
integrate_panel(problem *pb, double left, double right, double tolerance)
{
	double		stack_left[MAX_DEPTH + 2],
				stack_right[MAX_DEPTH + 2];
	int			stack_depth[MAX_DEPTH + 2];
	int			top = 0,
				j;
	double		unresolved = 0.0;

	stack_left[0] = left;
	stack_right[0] = right;
	stack_depth[0] = 0;
	while (top >= 0)
	{
		double		a = stack_left[top],
					b = stack_right[top];
		int			depth = stack_depth[top];
		double		error,
					panel_tolerance = ldexp(tolerance, -depth);

		top--;
		error = kronrod_panel(pb, a, b);
		if (error > panel_tolerance && depth < MAX_DEPTH && pb->panels_left > 0)
		{
			double		mid = 0.5 * (a + b);

			stack_left[top + 1] = mid;
			stack_right[top + 1] = b;
			stack_depth[top + 1] = depth + 1;
			stack_left[top + 2] = a;
			stack_right[top + 2] = mid;
			stack_depth[top + 2] = depth + 1;
			top += 2;
			pb->panels_left -= 2;
			continue;
		}
		if (error > panel_tolerance)
			unresolved += error;
		for (j = 0; j < pb->k; j++)
		{
			pb->total[j] += pb->kronrod_sum[j];
			pb->cdf_left[j] += pb->mass[j];
		}
	}
	return unresolved;
}

/*
 * The bend shared by all Beta arms. The log density g of the logit has slope
 * g'(u) = a - (a + b) / (1 + e^-u): a logistic function of u, constant up to
 * O(e^-|u|) outside a few units around u = 0, so each arm's density is a
 * plain exponential far out but bends there. For small a or b an arm's own
 * breakpoints can be 1e5 apart across that bend (Beta(30, 1e-4): mode 12.6,
 * right bulk edge 5014), and a panel much wider than the bend hides it
 * between the Kronrod nodes, where neither the error estimate nor bisection
 * can see it (errors up to ~min(a,b)^2 went unnoticed). So the candidates
 * also hold a mesh graded towards 0 (past 64, e^-|u| < 1e-27), each point
 * with its distances to its neighbours as gaps, so that it is dropped
 * wherever the arms already give finer panels.
 */
static const double bend_mesh[N_BEND_BREAKS] = {
	-64, -32, -16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16, 32, 64
};

static breakpoint
bend_break(int i)
{
	breakpoint	bp;

	bp.u = bend_mesh[i];
	bp.gap_below = (i > 0) ? bend_mesh[i] - bend_mesh[i - 1] : bend_mesh[1] - bend_mesh[0];
	bp.gap_above = (i + 1 < N_BEND_BREAKS) ? bend_mesh[i + 1] - bend_mesh[i] : bp.gap_below;
	return bp;
}

static int
compare_breakpoints(const void *a, const void *b)
{
	double		ua = ((const breakpoint *) a)->u;
	double		ub = ((const breakpoint *) b)->u;

	return (ua > ub) - (ua < ub);
}

/* The shared driver: bounds the arm tails, builds panels, integrates. */
static int
prob_best(problem *pb, double *prob_out)
{
	int			k = pb->k;
	int			i,
				j,
				n_candidates = 0,
				n_kept = 0,
				n_in_play,
				leader = -1,
				status = -1;
	double		lower_limit = -HUGE_VAL,
				upper_limit = -HUGE_VAL,
				last,
				unresolved = 0.0,
				sum = 0.0;
	void	   *block;
	arm_shape  *shapes;
	breakpoint *candidates;
	size_t		max_candidates = (size_t) k * N_BREAKS + N_BEND_BREAKS;
	double	   *scratch,
			   *kept;

	if (!rule_ready)
		init_rule();
	block = malloc(sizeof(dist_beta_logit_kernel) * (size_t) k
				   + sizeof(dist_t_kernel) * (size_t) k
				   + sizeof(arm_shape) * (size_t) k
				   + sizeof(breakpoint) * max_candidates
				   + sizeof(double) * (max_candidates + 2)
				   + sizeof(double) * (size_t) k * (N_ARM_ARRAYS + 2 * N_NODES)
				   + sizeof(int) * (size_t) k);
	if (block == NULL)
		return -1;
	pb->beta = (dist_beta_logit_kernel *) block;
	pb->t = (dist_t_kernel *) (pb->beta + k);
	shapes = (arm_shape *) (pb->t + k);
	candidates = (breakpoint *) (shapes + k);
	kept = (double *) (candidates + max_candidates);
	scratch = kept + max_candidates + 2;
	pb->offset = scratch;
	pb->inv_scale = scratch + k;
	pb->active_to = scratch + 2 * k;
	pb->cdf_left = scratch + 3 * k;
	pb->mass = scratch + 4 * k;
	pb->kronrod_sum = scratch + 5 * k;
	pb->gauss_sum = scratch + 6 * k;
	pb->total = scratch + 7 * k;
	pb->prefix = scratch + 8 * k;
	pb->density = scratch + N_ARM_ARRAYS * k;
	pb->cdf = pb->density + (size_t) k * N_NODES;
	pb->active = (int *) (pb->cdf + (size_t) k * N_NODES);

	for (j = 0; j < k; j++)
	{
		if (pb->family == FAMILY_BETA)
			dist_beta_logit_kernel_init(&pb->beta[j], pb->param1[j], pb->param2[j]);
		else
		{
			dist_t_kernel_init(&pb->t[j], pb->param3[j]);
			pb->offset[j] = pb->param1[j] - pb->centre;
			pb->inv_scale[j] = 1.0 / pb->param2[j];
		}
		if (arm_shape_of(pb, j, &shapes[j]) != 0)
			goto done;
		pb->active_to[j] = shapes[j].hi;
		lower_limit = fmax(lower_limit, shapes[j].lo);
		upper_limit = fmax(upper_limit, shapes[j].hi);
		pb->total[j] = 0.0;
	}
	if (!(isfinite(lower_limit) && isfinite(upper_limit) && upper_limit > lower_limit))
		goto done;

	/*
	 * If a single arm reaches above L, every other arm lies below L, where
	 * that arm's cdf is at most TAIL_EPS: the other arms' probabilities
	 * together are below 2 (k - 1) TAIL_EPS, and no integration is needed.
	 */
	n_in_play = 0;
	for (j = 0; j < k; j++)
		if (pb->active_to[j] > lower_limit)
		{
			n_in_play++;
			leader = j;
		}
	if (n_in_play == 1)
	{
		for (j = 0; j < k; j++)
			prob_out[j] = (j == leader) ? 1.0 : 0.0;
		status = 0;
		goto done;
	}

	for (j = 0; j < k; j++)
		pb->cdf_left[j] = (pb->active_to[j] > lower_limit) ? arm_cdf(pb, j, lower_limit) : 1.0;

	/* breakpoint candidates of arms that reach into [L, U] */
	for (j = 0; j < k; j++)
	{
		if (pb->active_to[j] <= lower_limit)
			continue;
		for (i = 0; i < N_BREAKS; i++)
			if (shapes[j].breaks[i].u > lower_limit && shapes[j].breaks[i].u < upper_limit)
				candidates[n_candidates++] = shapes[j].breaks[i];
	}
	if (pb->family == FAMILY_BETA)
		for (i = 0; i < N_BEND_BREAKS; i++)
		{
			breakpoint	bp = bend_break(i);

			if (bp.u > lower_limit && bp.u < upper_limit)
				candidates[n_candidates++] = bp;
		}
	qsort(candidates, (size_t) n_candidates, sizeof(breakpoint), compare_breakpoints);
	kept[n_kept++] = lower_limit;
	last = lower_limit;
	for (i = 0; i < n_candidates; i++)
	{
		if (candidates[i].u > last
			&& candidates[i].u - last >= candidates[i].gap_below
			&& upper_limit - candidates[i].u >= candidates[i].gap_above)
		{
			kept[n_kept++] = candidates[i].u;
			last = candidates[i].u;
		}
	}
	kept[n_kept++] = upper_limit;

	pb->panels_left = MAX_EXTRA_PANELS;
	for (i = 0; i + 1 < n_kept; i++)
		unresolved += integrate_panel(pb, kept[i], kept[i + 1], INTEGRATION_TOL / (n_kept - 1));

	for (j = 0; j < k; j++)
	{
		sum += pb->total[j];
		if (!(fabs(pb->cdf_left[j] - 1.0) <= CLOSURE_TOL))
			goto done;
	}
	if (!(fabs(sum - 1.0) <= SUM_TOL) || !(unresolved <= SUM_TOL))
		goto done;
	for (j = 0; j < k; j++)
		prob_out[j] = pb->total[j] / sum;
	status = 0;

done:
	free(block);
	return status;
}

static int
finite_positive(double v)
{
	return v > 0.0 && isfinite(v);
}

int
thompson_beta_prob_best(int k, const double *alpha, const double *beta, double *prob_out)
{
	problem		pb;
	int			j;

	if (k < 1 || alpha == NULL || beta == NULL || prob_out == NULL)
		return -1;
	for (j = 0; j < k; j++)
		if (!finite_positive(alpha[j]) || !finite_positive(beta[j]))
			return -1;
	if (k == 1)
	{
		prob_out[0] = 1.0;
		return 0;
	}
	pb.family = FAMILY_BETA;
	pb.k = k;
	pb.param1 = alpha;
	pb.param2 = beta;
	pb.param3 = NULL;
	pb.centre = 0.0;
	pb.width = 1.0;
	return prob_best(&pb, prob_out);
}

int
thompson_t_prob_best(int k, const double *loc, const double *scale, const double *nu,
					 double *prob_out)
{
	problem		pb;
	int			j;

	if (k < 1 || loc == NULL || scale == NULL || nu == NULL || prob_out == NULL)
		return -1;
	for (j = 0; j < k; j++)
		if (!isfinite(loc[j]) || !finite_positive(scale[j]) || !finite_positive(nu[j]))
			return -1;
	if (k == 1)
	{
		prob_out[0] = 1.0;
		return 0;
	}
	pb.family = FAMILY_T;
	pb.k = k;
	pb.param1 = loc;
	pb.param2 = scale;
	pb.param3 = nu;
	/* asinh scale centred on the highest location, linear over the
	 * narrowest arm's width and logarithmic far away */
	pb.centre = loc[0];
	pb.width = scale[0];
	for (j = 1; j < k; j++)
	{
		pb.centre = fmax(pb.centre, loc[j]);
		pb.width = fmin(pb.width, scale[j]);
	}
	return prob_best(&pb, prob_out);
}
