/*
 * monitoring.c
 *		The numerical parts of the monitoring functions (bandit_srm,
 *		bandit_drift); their SQL wrappers read the log.
 *
 * bandit.srm_accum(arm_id, propensity, reset, state_version ORDER BY time):
 * sample ratio mismatch from a log that holds, per decision, the chosen arm
 * and the probability the policy gave it (not the probabilities of the
 * other arms), and the state version it was drawn in.
 *
 * Under a correct log, A_t ~ pi_t and propensity p_t = pi_t(A_t).  For any
 * weights h_t fixed before decision t (predictable) and zero wherever
 * pi_t(a) = 0,
 *		E[ 1{A_t = a} h_t(a) / p_t - h_t(a) | past ] = h_t(a) - h_t(a) = 0,
 * so S_a = sum_t (1{A_t = a} h_t(a) / p_t - h_t(a)), the inverse-propensity
 * corrected count of arm a minus its expected count sum_t h_t(a), is a
 * martingale.  We take h_t as close to pi_t as the earlier decisions tell:
 * decisions of one state version were drawn from one probability vector, so
 * an arm chosen earlier in t's state version has h_t(a) = its logged
 * propensity, exactly pi_t(a); every other arm its latest logged propensity
 * (zero for an arm never chosen, and again after it is disabled until it is
 * next chosen), scaled down if need be so that these do not exceed the mass
 * the exact ones leave, 1 - sum of the exact ones.  h_t sums to at most 1
 * and is never scaled up: an arm whose h_t(a) = pi_t(a) contributes exactly
 * 1{A_t = a} - pi_t(a), and an arm with h_t(a) = 0 nothing.  When h_t is
 * close to pi_t (probabilities that move slowly, online, or stay fixed for a
 * while, batch) the covariance of S is close to
 *		V = sum_t (diag(h_t) - h_t h_t^T).
 * The statistic uses the contrasts only (S projected off (1, ..., 1), along
 * which V is singular when h_t sums to 1): S^T (P V P)^+ S, P = I - 11^T/k,
 * chi-square with rank(P V P) = arms - 1 degrees of freedom under a correct
 * log (asymptotically; test/python/values_monitoring.py checks that the
 * p-values are uniform over many seeds).  Decisions with propensity 1 carry
 * no randomness and are skipped.
 *
 * bandit.welch_p_value: the two-sided p-value of Welch's t-test from two
 * samples' counts, means and variances.
 */
#include "postgres.h"

#include <math.h>

#include <lapacke.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "aggregates.h"
#include "distributions.h"

PG_FUNCTION_INFO_V1(bandit_srm_trans);
PG_FUNCTION_INFO_V1(bandit_srm_final);
PG_FUNCTION_INFO_V1(bandit_welch_p_value);

/* O(arms^2) work per decision and memory per call */
#define SRM_MAX_ARMS 1000

/* eigenvalues below this fraction of the largest count as zero */
#define SRM_RANK_TOLERANCE 1e-9

typedef struct SrmState
{
	int			k;				/* arms seen so far (dense indices 0..k-1) */
	int			capacity;
	int64		decisions;		/* decisions used (propensity < 1) */
	bool		have_version;
	int64		version;		/* the state version of the latest decision */
	int32	   *arm_ids;		/* dense index -> arm_id */
	double	   *last;			/* latest propensity of each arm; 0 = unknown */
	bool	   *seen;			/* chosen earlier in the current state version */
	double	   *excess;			/* S: corrected count minus expected count */
	double	   *expected;		/* sum_t h_t */
	double	   *cross;			/* sum_t h_t h_t^T, upper triangle, k x capacity */
	double	   *h;				/* scratch */
} SrmState;

static int
srm_arm_index(SrmState *state, int32 arm_id)
{
	for (int i = 0; i < state->k; i++)
		if (state->arm_ids[i] == arm_id)
			return i;
	if (state->k >= SRM_MAX_ARMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sample ratio mismatch supports at most %d arms", SRM_MAX_ARMS)));
	if (state->k == state->capacity)
	{
		int			old = state->capacity;
		int			cap = old * 2;
		double	   *cross = palloc0(sizeof(double) * cap * cap);

		for (int i = 0; i < old; i++)
			memcpy(cross + (Size) i * cap, state->cross + (Size) i * old, sizeof(double) * old);
		pfree(state->cross);
		state->cross = cross;
		state->arm_ids = repalloc(state->arm_ids, sizeof(int32) * cap);
		state->last = repalloc(state->last, sizeof(double) * cap);
		state->seen = repalloc(state->seen, sizeof(bool) * cap);
		state->excess = repalloc(state->excess, sizeof(double) * cap);
		state->expected = repalloc(state->expected, sizeof(double) * cap);
		state->h = repalloc(state->h, sizeof(double) * cap);
		state->capacity = cap;
	}
	state->arm_ids[state->k] = arm_id;
	state->last[state->k] = 0.0;
	state->seen[state->k] = false;
	state->excess[state->k] = 0.0;
	state->expected[state->k] = 0.0;
	return state->k++;
}

static SrmState *
srm_state_new(MemoryContext context)
{
	MemoryContext old = MemoryContextSwitchTo(context);
	SrmState   *state = palloc0(sizeof(SrmState));

	state->capacity = 8;
	state->arm_ids = palloc(sizeof(int32) * state->capacity);
	state->last = palloc(sizeof(double) * state->capacity);
	state->seen = palloc(sizeof(bool) * state->capacity);
	state->excess = palloc(sizeof(double) * state->capacity);
	state->expected = palloc(sizeof(double) * state->capacity);
	state->h = palloc(sizeof(double) * state->capacity);
	state->cross = palloc0(sizeof(double) * state->capacity * state->capacity);
	MemoryContextSwitchTo(old);
	return state;
}

static void
srm_add_decision(SrmState *state, int a, double p, int64 version)
{
	int			k = state->k;
	double		exact = 0.0,
				stale = 0.0,
				rest,
				scale,
				total = 0.0;

	if (!state->have_version || version != state->version)
	{
		state->have_version = true;
		state->version = version;
		memset(state->seen, 0, sizeof(bool) * state->capacity);
	}

	/* h: exact for the arms seen in this version, the others' latest within what is left */
	for (int i = 0; i < k; i++)
	{
		if (state->seen[i])
			exact += state->last[i];
		else
			stale += state->last[i];
	}
	rest = Max(1.0 - exact, 0.0);
	scale = (stale > rest) ? rest / stale : 1.0;
	for (int i = 0; i < k; i++)
	{
		state->h[i] = state->seen[i] ? state->last[i] : state->last[i] * scale;
		total += state->h[i];
	}
	/* only a log with one arm at two propensities in one version gets here */
	if (total > 1.0)
		for (int i = 0; i < k; i++)
			state->h[i] /= total;
	if (total > 0.0)
	{
		for (int i = 0; i < k; i++)
		{
			double		hi = state->h[i];

			state->excess[i] -= hi;
			state->expected[i] += hi;
		}
		for (int i = 0; i < k; i++)
		{
			double		hi = state->h[i];
			double	   *row = state->cross + (Size) i * state->capacity;

			if (hi == 0.0)
				continue;
			for (int j = i; j < k; j++)
				row[j] += hi * state->h[j];
		}
		state->excess[a] += state->h[a] / p;
	}
	state->last[a] = p;
	state->seen[a] = true;
	state->decisions++;
}

Datum
bandit_srm_trans(PG_FUNCTION_ARGS)
{
	MemoryContext agg_context = aggregate_context(fcinfo, "bandit_srm_trans");
	SrmState   *state = PG_ARGISNULL(0) ? srm_state_new(agg_context) : (SrmState *) PG_GETARG_POINTER(0);
	MemoryContext old;
	int			a;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);
	old = MemoryContextSwitchTo(agg_context);
	a = srm_arm_index(state, PG_GETARG_INT32(1));
	MemoryContextSwitchTo(old);

	if (!PG_ARGISNULL(3) && PG_GETARG_BOOL(3))
	{
		/* disabled: unknown until chosen again */
		state->last[a] = 0.0;
		state->seen[a] = false;
	}
	else if (!PG_ARGISNULL(2) && !PG_ARGISNULL(4))
	{
		double		p = PG_GETARG_FLOAT8(2);

		if (!(p > 0.0 && p <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("propensity %g is outside (0, 1]", p)));
		if (p < 1.0)
			srm_add_decision(state, a, p, PG_GETARG_INT64(4));
	}
	PG_RETURN_POINTER(state);
}

/* v <- P v P for a symmetric m x m matrix, P = I - 11^T / m. */
static void
project_off_ones(double *v, int m)
{
	double	   *row_mean = palloc0(sizeof(double) * m);
	double		all = 0.0;

	for (int c = 0; c < m; c++)
		for (int r = 0; r < m; r++)
			row_mean[r] += v[r + (Size) c * m] / m;
	for (int r = 0; r < m; r++)
		all += row_mean[r] / m;
	/* (P v P)_rc = v_rc - mean_r - mean_c + mean of all (v symmetric) */
	for (int c = 0; c < m; c++)
		for (int r = 0; r < m; r++)
			v[r + (Size) c * m] += all - row_mean[r] - row_mean[c];
	pfree(row_mean);
}

/*
 * {arms, decisions, chi_square, p_value, df}: arms is the number of arms with
 * a positive expected count; chi_square and p_value are NULL when fewer than
 * two arms have one.
 */
Datum
bandit_srm_final(PG_FUNCTION_ARGS)
{
	SrmState   *state = PG_ARGISNULL(0) ? NULL : (SrmState *) PG_GETARG_POINTER(0);
	Datum		values[5];
	bool		nulls[5] = {false, false, true, true, true};
	int			dims[1] = {5};
	int			lbs[1] = {1};
	int			m = 0;
	int		   *use;

	if (state == NULL)
	{
		values[0] = Float8GetDatum(0.0);
		values[1] = Float8GetDatum(0.0);
		PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 1, dims, lbs, FLOAT8OID,
												 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	use = palloc(sizeof(int) * Max(state->k, 1));
	for (int i = 0; i < state->k; i++)
		if (state->expected[i] > 0.0)
			use[m++] = i;
	values[0] = Float8GetDatum((double) m);
	values[1] = Float8GetDatum((double) state->decisions);

	if (m >= 2)
	{
		double	   *v = palloc(sizeof(double) * m * m);
		double	   *eig = palloc(sizeof(double) * m);
		double		chi_square = 0.0,
					top;
		int			rank = 0;
		lapack_int	info;

		/* V = diag(expected) - cross, then P V P, P = I - 11^T / m (column-major) */
		for (int c = 0; c < m; c++)
			for (int r = 0; r <= c; r++)
			{
				int			i = use[r],
							j = use[c];
				double		value = (r == c ? state->expected[i] : 0.0)
					- state->cross[(Size) i * state->capacity + j];

				v[r + (Size) c * m] = value;
				v[c + (Size) r * m] = value;
			}
		project_off_ones(v, m);
		info = LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', m, v, m, eig);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compute the sample ratio mismatch statistic"),
					 errdetail("LAPACK dsyev returned %d.", (int) info)));
		top = eig[m - 1];
		for (int e = 0; e < m; e++)
		{
			double		proj = 0.0;

			if (!(eig[e] > SRM_RANK_TOLERANCE * top))
				continue;
			for (int r = 0; r < m; r++)
				proj += v[r + (Size) e * m] * state->excess[use[r]];
			chi_square += proj * proj / eig[e];
			rank++;
		}
		if (rank > 0)
		{
			values[2] = Float8GetDatum(chi_square);
			values[3] = Float8GetDatum(dist_chi2_sf(chi_square, rank));
			values[4] = Float8GetDatum((double) rank);
			nulls[2] = nulls[3] = nulls[4] = false;
		}
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 1, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * welch_p_value(n1, mean1, var1, n2, mean2, var2): two-sided p-value of
 * Welch's unequal-variance t-test (var = the sample variance, divisor n - 1):
 *   t = (mean1 - mean2) / sqrt(var1/n1 + var2/n2),
 *   df = (var1/n1 + var2/n2)^2 / ((var1/n1)^2/(n1-1) + (var2/n2)^2/(n2-1)),
 *   p = 2 F_t(-|t|; df).
 * NULL when a sample has fewer than 2 values or both variances are 0.
 */
Datum
bandit_welch_p_value(PG_FUNCTION_ARGS)
{
	int64		n1 = PG_GETARG_INT64(0),
				n2 = PG_GETARG_INT64(3);
	double		mean1 = PG_GETARG_FLOAT8(1),
				var1 = PG_GETARG_FLOAT8(2),
				mean2 = PG_GETARG_FLOAT8(4),
				var2 = PG_GETARG_FLOAT8(5),
				s1,
				s2,
				se2,
				t,
				df,
				p;

	if (n1 < 2 || n2 < 2 || !(var1 >= 0.0) || !(var2 >= 0.0))
		PG_RETURN_NULL();
	s1 = var1 / (double) n1;
	s2 = var2 / (double) n2;
	se2 = s1 + s2;
	if (!(se2 > 0.0) || !isfinite(se2))
		PG_RETURN_NULL();
	t = (mean1 - mean2) / sqrt(se2);
	df = se2 * se2 / (s1 * s1 / (double) (n1 - 1) + s2 * s2 / (double) (n2 - 1));
	if (!isfinite(t) || !(df > 0.0))
		PG_RETURN_NULL();
	p = 2.0 * dist_t_cdf(-fabs(t), df);
	PG_RETURN_FLOAT8(Min(p, 1.0));
}
