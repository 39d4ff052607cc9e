/*
 * thompson.c
 *    P(arm i has the largest posterior draw) for independent Beta or
 *    location-scale Student t posteriors, by adaptive quadrature of
 *        P_i = integral f_i(x) prod_{j != i} F_j(x) dx.
 *
 * Design
 *  - All arms share one set of nodes: at each node every F_j and f_j is
 *    evaluated once, and the k products "all but i" come from prefix and
 *    suffix products (no division, so F_j = 0 is harmless). The integrand is
 *    a vector of k components, integrated with adaptive Gauss-Kronrod 7-15.
 *  - Integration runs in a transformed variable u in which tails decay
 *    exponentially and endpoint singularities disappear: the logit
 *    u = log(x/(1-x)) for Beta arms (Beta(1/2,1/2) has x^-1/2 poles at 0 and
 *    1; small a or b put mass within 1e-16 of 1, where x itself loses all
 *    precision), and u = asinh((x - c)/w) for t arms (power-law tails
 *    ~|x|^-(nu+1) become ~e^(-nu |u|)).
 *  - Domain: with lo_j, hi_j the TAIL_EPS and 1 - TAIL_EPS quantiles of arm j,
 *    only [L, U] = [max_j lo_j, max_j hi_j] is integrated:
 *      below L, the arm m with lo_m = L has F_m <= TAIL_EPS, so every
 *      integrand with i != m is at most TAIL_EPS f_i there, and the one with
 *      i = m holds at most F_m(L) = TAIL_EPS in total;
 *      above U, every arm i has at most 1 - F_i(U) <= TAIL_EPS of its mass.
 *    Likewise above hi_j arm j is treated as F_j = 1, f_j = 0, which changes
 *    each integrand by at most TAIL_EPS per arm. In all, each probability
 *    moves by at most (k + 2) TAIL_EPS, i.e. < 1e-10 for k <= 1000.
 *  - Panels: breakpoints at per-arm quantiles (bulk and, geometrically
 *    spaced, the tails) and at each arm's switch-off point hi_j, clipped to
 *    [L, U], so every density, however narrow, gets nodes; candidates closer
 *    than a fraction of their own arm's width to an already kept breakpoint
 *    are dropped, which keeps the panel count modest when many arms overlap.
 *  - A panel is accepted when max_i |K15_i - G7_i| is below its share of
 *    INTEGRATION_TOL (proportional to its width), or at MAX_DEPTH bisections,
 *    or when the call's budget of MAX_EXTRA_PANELS bisections is spent.
 *  - The raw probabilities must sum to 1 within SUM_TOL and the error
 *    estimates of panels accepted unresolved (depth or budget) must stay
 *    below SUM_TOL in total;
 *    otherwise -1 is returned rather than a silently wrong answer. Then the
 *    result is normalised.
 */
#include <math.h>
#include <stdlib.h>

#include "distributions.h"
#include "thompson.h"

#define TAIL_EPS			1e-13
#define INTEGRATION_TOL		1e-9
#define SUM_TOL				1e-7
#define MAX_DEPTH			40
/* Bisections allowed per call beyond the initial panels: MAX_DEPTH alone
 * would allow 2^40 panels if the error estimate never settled. The tests'
 * hardest problems use about 70. */
#define MAX_EXTRA_PANELS	2000
#define MERGE_FRACTION		1.0
#define END_MERGE_FRACTION	0.25

/* Probability levels at which each arm proposes breakpoints: the bulk, and
 * geometrically spaced tail levels for heavy (t) or steep (small a, b) tails. */
#define N_LEVELS			9
static const double breakpoint_levels[N_LEVELS] = {
	1e-9, 1e-6, 1e-3, 0.1, 0.5, 0.9, 1.0 - 1e-3, 1.0 - 1e-6, 1.0 - 1e-9
};
#define SCALE_LOW_LEVEL		3			/* index of 0.1 */
#define SCALE_HIGH_LEVEL	5			/* index of 0.9 */

/* Gauss-Kronrod 7-15 on [-1, 1]: Kronrod abscissae (the odd ones are the
 * Gauss nodes), Kronrod weights and Gauss weights (Kronrod 1965). */
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
	double	   *offset;			/* t only: loc_j - centre, exact when close */
	int			panels_left;	/* bisection budget */

	/* scratch, all of length k */
	double	   *active_to;		/* above this u, arm j has F = 1, f = 0 */
	double	   *cdf;
	double	   *density;
	double	   *prefix;
	double	   *kronrod_sum;
	double	   *gauss_sum;
	double	   *total;
} problem;

typedef struct
{
	double		u;
	double		min_gap;
} breakpoint;

/* Quantile of arm j at probability p, in the integration variable u. */
static double
arm_quantile(const problem *pb, int j, double p)
{
	if (pb->family == FAMILY_BETA)
		return dist_beta_quantile_logit(p, pb->param1[j], pb->param2[j]);
	/* (x - centre) formed as (loc - centre) + scale t: no digits are lost
	 * when the locations are large compared with the scales */
	return asinh((pb->offset[j] + pb->param2[j] * dist_t_quantile(p, pb->param3[j])) / pb->width);
}

/* cdf and density (with respect to u) of arm j at u; for t arms
 * x_minus_centre is x(u) - centre and dx_du the Jacobian (shared by all arms
 * at a node). */
static void
arm_eval(const problem *pb, int j, double u, double x_minus_centre, double dx_du,
		 double *cdf, double *density)
{
	if (pb->family == FAMILY_BETA)
		dist_beta_logit_eval(u, pb->param1[j], pb->param2[j], cdf, density);
	else
	{
		dist_t_eval((x_minus_centre - pb->offset[j]) / pb->param2[j], pb->param3[j], cdf, density);
		*density *= dx_du / pb->param2[j];
	}
}

/*
 * Adds weight * (integrand vector at u) to sum (and to second_sum if not
 * NULL). Component i is density_i * prod_{j != i} cdf_j, formed from a
 * prefix product (stored) and a running suffix product.
 */
static void
accumulate_node(problem *pb, double u, double weight, double *sum, double *second_sum,
				double second_weight)
{
	int			k = pb->k;
	int			j;
	double		suffix = 1.0,
				x_minus_centre = 0.0,
				dx_du = 0.0;

	if (pb->family == FAMILY_T)
	{
		x_minus_centre = pb->width * sinh(u);
		dx_du = pb->width * cosh(u);
	}
	for (j = 0; j < k; j++)
	{
		if (u > pb->active_to[j])
		{
			pb->cdf[j] = 1.0;
			pb->density[j] = 0.0;
		}
		else
			arm_eval(pb, j, u, x_minus_centre, dx_du, &pb->cdf[j], &pb->density[j]);
		pb->prefix[j] = (j == 0) ? 1.0 : pb->prefix[j - 1] * pb->cdf[j - 1];
	}
	for (j = k - 1; j >= 0; j--)
	{
		double		value = pb->density[j] * pb->prefix[j] * suffix;

		sum[j] += weight * value;
		if (second_sum)
			second_sum[j] += second_weight * value;
		suffix *= pb->cdf[j];
	}
}

/* Gauss-Kronrod 7-15 on [left, right] for all components; returns
 * max_i |K15_i - G7_i|. Results in pb->kronrod_sum. */
static double
kronrod_panel(problem *pb, double left, double right)
{
	double		half = 0.5 * (right - left);
	double		mid = 0.5 * (right + left);
	double		error = 0.0;
	int			i,
				j;

	for (j = 0; j < pb->k; j++)
		pb->kronrod_sum[j] = pb->gauss_sum[j] = 0.0;
	for (i = 0; i < 8; i++)
	{
		double		offset = half * kronrod_nodes[i];
		int			is_gauss = (i % 2 == 1);
		double		gauss_weight = is_gauss ? gauss_weights[i / 2] : 0.0;

		accumulate_node(pb, mid - offset, kronrod_weights[i], pb->kronrod_sum,
						is_gauss ? pb->gauss_sum : NULL, gauss_weight);
		if (i < 7)
			accumulate_node(pb, mid + offset, kronrod_weights[i], pb->kronrod_sum,
							is_gauss ? pb->gauss_sum : NULL, gauss_weight);
	}
	for (j = 0; j < pb->k; j++)
	{
		pb->kronrod_sum[j] *= half;
		pb->gauss_sum[j] *= half;
		error = fmax(error, fabs(pb->kronrod_sum[j] - pb->gauss_sum[j]));
	}
	return error;
}

/*
 * Adaptive bisection of one panel (explicit stack, depth-first). Adds the
 * accepted Kronrod sums to pb->total; returns the summed error estimates
 * of sub-panels that had to be accepted unresolved (depth or budget).
 */
static double
integrate_panel(problem *pb, double left, double right, double tol_per_width)
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
		double		error;

		top--;
		error = kronrod_panel(pb, a, b);
		if (error > tol_per_width * (b - a) && depth < MAX_DEPTH && pb->panels_left > 0)
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
		if (error > tol_per_width * (b - a))
			unresolved += error;
		for (j = 0; j < pb->k; j++)
			pb->total[j] += pb->kronrod_sum[j];
	}
	return unresolved;
}

static int
compare_breakpoints(const void *a, const void *b)
{
	double		ua = ((const breakpoint *) a)->u;
	double		ub = ((const breakpoint *) b)->u;

	return (ua > ub) - (ua < ub);
}

/* The shared driver: validates the arm tails, builds panels, integrates. */
static int
prob_best(problem *pb, double *prob_out)
{
	int			k = pb->k;
	int			i,
				j,
				n_candidates = 0,
				n_kept = 0,
				status = -1;
	double		lower_limit = -HUGE_VAL,
				upper_limit = -HUGE_VAL,
				last,
				unresolved = 0.0,
				sum = 0.0;
	double	   *block;
	breakpoint *candidates;
	size_t		max_candidates = (size_t) k * (N_LEVELS + 1);
	double	   *kept;

	block = malloc(sizeof(double) * (size_t) k * 8
				   + sizeof(breakpoint) * max_candidates
				   + sizeof(double) * (max_candidates + 2));
	if (block == NULL)
		return -1;
	pb->active_to = block;
	pb->cdf = block + k;
	pb->density = block + 2 * k;
	pb->prefix = block + 3 * k;
	pb->kronrod_sum = block + 4 * k;
	pb->gauss_sum = block + 5 * k;
	pb->total = block + 6 * k;
	pb->offset = block + 7 * k;
	candidates = (breakpoint *) (block + 8 * k);
	kept = (double *) (candidates + max_candidates);

	if (pb->family == FAMILY_T)
		for (j = 0; j < k; j++)
			pb->offset[j] = pb->param1[j] - pb->centre;
	for (j = 0; j < k; j++)
	{
		double		lo = arm_quantile(pb, j, TAIL_EPS);
		double		hi = arm_quantile(pb, j, 1.0 - TAIL_EPS);

		if (isnan(lo) || isnan(hi) || !(lo <= hi))
			goto done;
		pb->active_to[j] = hi;
		lower_limit = fmax(lower_limit, lo);
		upper_limit = fmax(upper_limit, hi);
		pb->total[j] = 0.0;
	}
	if (!(isfinite(lower_limit) && isfinite(upper_limit) && upper_limit > lower_limit))
		goto done;

	/* breakpoint candidates of arms that reach into [L, U] */
	for (j = 0; j < k; j++)
	{
		double		level_u[N_LEVELS];
		double		min_gap;

		if (pb->active_to[j] <= lower_limit)
			continue;
		for (i = 0; i < N_LEVELS; i++)
			level_u[i] = arm_quantile(pb, j, breakpoint_levels[i]);
		min_gap = MERGE_FRACTION * (level_u[SCALE_HIGH_LEVEL] - level_u[SCALE_LOW_LEVEL]);
		for (i = 0; i < N_LEVELS; i++)
		{
			if (!(level_u[i] > lower_limit && level_u[i] < upper_limit))
				continue;
			candidates[n_candidates].u = level_u[i];
			candidates[n_candidates].min_gap = min_gap;
			n_candidates++;
		}
		/* Where the arm is switched off, its far tail must end a panel:
		 * otherwise, after merging, that tail (up to ~1e-6 of its mass) can
		 * sit at the edge of a panel sized for a much wider arm, between
		 * the Gauss-Kronrod nodes. */
		if (pb->active_to[j] < upper_limit)
		{
			candidates[n_candidates].u = pb->active_to[j];
			candidates[n_candidates].min_gap = END_MERGE_FRACTION * min_gap / MERGE_FRACTION;
			n_candidates++;
		}
	}
	qsort(candidates, (size_t) n_candidates, sizeof(breakpoint), compare_breakpoints);
	kept[n_kept++] = lower_limit;
	last = lower_limit;
	for (i = 0; i < n_candidates; i++)
	{
		if (candidates[i].u - last >= candidates[i].min_gap
			&& upper_limit - candidates[i].u >= candidates[i].min_gap)
		{
			kept[n_kept++] = candidates[i].u;
			last = candidates[i].u;
		}
	}
	kept[n_kept++] = upper_limit;

	pb->panels_left = MAX_EXTRA_PANELS;
	for (i = 0; i + 1 < n_kept; i++)
		unresolved += integrate_panel(pb, kept[i], kept[i + 1],
									  INTEGRATION_TOL / (upper_limit - lower_limit));

	for (j = 0; j < k; j++)
		sum += pb->total[j];
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
