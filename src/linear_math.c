/*
 * linear_math.c
 *		The linear algebra behind linear_posterior, through LAPACKE and CBLAS:
 *		Cholesky factorisation with a condition check (dpotrf, dlansy,
 *		dpocon), solves (dpotrs, dtrsv), rank-1 updates (dsyr, daxpy) and the
 *		blocked accumulation of X^T X (dsyrk) and X^T r (dgemv).
 *
 * Every matrix is column-major with leading dimension d.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include <cblas.h>
#include <lapacke.h>

#include "common/int.h"

#include "linear.h"

/*
 * A is treated as singular when its reciprocal condition number (1-norm,
 * LAPACK's estimate) is below d * 2^-52: a solve would then keep no
 * correct digit.
 */
static double
singular_rcond(int dim)
{
	return dim * DBL_EPSILON;
}

static void
zero_strict_upper(double *m, int dim)
{
	for (int j = 1; j < dim; j++)
		memset(m + (Size) j * dim, 0, sizeof(double) * j);
}

/* Copy the upper triangle onto the lower one. */
static void
mirror_upper(double *m, int dim)
{
	for (int j = 0; j < dim; j++)
		for (int i = 0; i < j; i++)
			m[j + (Size) i * dim] = m[i + (Size) j * dim];
}

void
linear_posterior_refactor(LinearPosterior *p)
{
	int			d = p->dim;
	Size		dd = (Size) d * d;
	double	   *L = LP_L(p);
	double	   *theta = LP_THETA(p);
	lapack_int	info;

	for (Size k = 0; k < dd + d; k++)
		if (!isfinite(p->data[k]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("linear_posterior value out of range"),
					 errdetail("A sum in A = lambda*I + sum x x^T or b = sum r x overflowed."),
					 errhint("Scale the context features or rewards.")));
	memcpy(L, LP_A(p), sizeof(double) * dd);
	info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', d, L, d);
	if (info == 0)
	{
		double	   *work = palloc(sizeof(double) * 3 * d);
		lapack_int *iwork = palloc(sizeof(lapack_int) * d);
		double		anorm = LAPACKE_dlansy_work(LAPACK_COL_MAJOR, '1', 'L', d, LP_A(p), d, work);
		double		rcond = 0.0;

		info = LAPACKE_dpocon_work(LAPACK_COL_MAJOR, 'L', d, L, d, anorm, &rcond, work, iwork);
		pfree(work);
		pfree(iwork);
		if (info == 0 && rcond >= singular_rcond(d))
		{
			zero_strict_upper(L, d);
			memcpy(theta, LP_B(p), sizeof(double) * d);
			info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', d, 1, L, d, theta, d);
			if (info != 0)
				elog(ERROR, "dpotrs failed with info %d", (int) info);
			p->flags |= LINEAR_POSTERIOR_FACTORED;
			return;
		}
	}
	/* no usable factor: keep the cache zero so the stored bytes are canonical */
	memset(L, 0, sizeof(double) * dd);
	memset(theta, 0, sizeof(double) * d);
	p->flags &= ~LINEAR_POSTERIOR_FACTORED;
}

void
check_linear_factored(const LinearPosterior *p, const char *what)
{
	if (!(p->flags & LINEAR_POSTERIOR_FACTORED))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s is singular or too ill-conditioned to solve", what),
				 errdetail("Its matrix A = lambda*I + sum x x^T (dimension %d, n = " INT64_FORMAT
						   ", lambda = %g) is not numerically positive definite.",
						   p->dim, p->n, p->lambda),
				 errhint("Fit with a ridge penalty lambda > 0, or with more varied contexts.")));
}

double
linear_posterior_mean_at(const LinearPosterior *p, const double *x)
{
	return cblas_ddot(p->dim, LP_THETA(p), 1, x, 1);
}

double
linear_posterior_width_at(const LinearPosterior *p, const double *x, double *work)
{
	memcpy(work, x, sizeof(double) * p->dim);
	cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, p->dim,
				LP_L(p), p->dim, work, 1);
	return cblas_dnrm2(p->dim, work, 1);
}

/* ------------------------------------------------------------------------
 * Accumulating X^T X and X^T r
 * ------------------------------------------------------------------------
 */

static inline void
neumaier_add(double *sum, double *comp, double value)
{
	double		t = *sum + value;

	if (fabs(*sum) >= fabs(value))
		*comp += (*sum - t) + value;
	else
		*comp += (value - t) + *sum;
	*sum = t;
}

void
linear_accumulator_init(LinearAccumulator *acc, int dim, double lambda)
{
	Size		dd = (Size) dim * dim;

	check_linear_dim(dim);
	acc->dim = dim;
	acc->n = 0;
	acc->lambda = lambda;
	acc->xtx = palloc0(sizeof(double) * dd);
	acc->xtx_comp = palloc0(sizeof(double) * dd);
	acc->xtr = palloc0(sizeof(double) * dim);
	acc->xtr_comp = palloc0(sizeof(double) * dim);
	/* blocks of about 128 kB: big enough for dsyrk to pay, small per group */
	acc->capacity = Max(8, Min(256, 16384 / dim));
	acc->buffered = 0;
	acc->rows = palloc(sizeof(double) * acc->capacity * dim);
	acc->rewards = palloc(sizeof(double) * acc->capacity);
	/* zeroed: a BLAS may read C even with beta = 0 */
	acc->scratch = palloc0(sizeof(double) * (dd + dim));
}

void
linear_accumulator_free(LinearAccumulator *acc)
{
	pfree(acc->xtx);
	pfree(acc->xtx_comp);
	pfree(acc->xtr);
	pfree(acc->xtr_comp);
	pfree(acc->rows);
	pfree(acc->rewards);
	pfree(acc->scratch);
	acc->dim = 0;
}

void
linear_accumulator_add(LinearAccumulator *acc, const double *x, double r)
{
	memcpy(acc->rows + (Size) acc->buffered * acc->dim, x, sizeof(double) * acc->dim);
	acc->rewards[acc->buffered] = r;
	acc->buffered++;
	if (pg_add_s64_overflow(acc->n, 1, &acc->n))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("linear_posterior observation count out of range")));
	if (acc->buffered == acc->capacity)
		linear_accumulator_flush(acc);
}

/*
 * One block: the buffer is the d x m matrix X^T (row i of X is column i),
 * so X^T X = (X^T)(X^T)^T is one dsyrk and X^T r one dgemv.  The block's
 * products are then added to the totals with compensation, so long logs
 * lose no more than one rounding per block.
 */
void
linear_accumulator_flush(LinearAccumulator *acc)
{
	int			d = acc->dim;
	double	   *block = acc->scratch;
	double	   *block_r = acc->scratch + (Size) d * d;

	if (acc->buffered == 0)
		return;
	cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, d, acc->buffered,
				1.0, acc->rows, d, 0.0, block, d);
	cblas_dgemv(CblasColMajor, CblasNoTrans, d, acc->buffered,
				1.0, acc->rows, d, acc->rewards, 1, 0.0, block_r, 1);
	for (int j = 0; j < d; j++)
		for (int i = 0; i <= j; i++)
		{
			Size		k = i + (Size) j * d;

			neumaier_add(&acc->xtx[k], &acc->xtx_comp[k], block[k]);
		}
	for (int i = 0; i < d; i++)
		neumaier_add(&acc->xtr[i], &acc->xtr_comp[i], block_r[i]);
	acc->buffered = 0;
}

void
linear_accumulator_merge(LinearAccumulator *into, LinearAccumulator *other)
{
	int			d = into->dim;

	Assert(into->dim == other->dim);
	linear_accumulator_flush(into);
	linear_accumulator_flush(other);
	for (int j = 0; j < d; j++)
		for (int i = 0; i <= j; i++)
		{
			Size		k = i + (Size) j * d;

			neumaier_add(&into->xtx[k], &into->xtx_comp[k], other->xtx[k]);
			into->xtx_comp[k] += other->xtx_comp[k];
		}
	for (int i = 0; i < d; i++)
	{
		neumaier_add(&into->xtr[i], &into->xtr_comp[i], other->xtr[i]);
		into->xtr_comp[i] += other->xtr_comp[i];
	}
	if (pg_add_s64_overflow(into->n, other->n, &into->n))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("linear_posterior observation count out of range")));
}

LinearPosterior *
linear_posterior_fold(const LinearPosterior *prior, LinearAccumulator *acc)
{
	int			d = prior->dim;
	LinearPosterior *p = palloc(VARSIZE(prior));
	double	   *A,
			   *b;

	if (acc->dim != d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot fold contexts of dimension %d into a linear_posterior of dimension %d",
						acc->dim, d)));
	memcpy(p, prior, VARSIZE(prior));
	linear_accumulator_flush(acc);
	A = LP_A(p);
	b = LP_B(p);
	for (int j = 0; j < d; j++)
		for (int i = 0; i <= j; i++)
		{
			Size		k = i + (Size) j * d;

			A[k] += acc->xtx[k] + acc->xtx_comp[k];
		}
	mirror_upper(A, d);
	for (int i = 0; i < d; i++)
		b[i] += acc->xtr[i] + acc->xtr_comp[i];
	if (pg_add_s64_overflow(p->n, acc->n, &p->n))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("linear_posterior observation count out of range")));
	linear_posterior_refactor(p);
	return p;
}

/* One observation: A += x x^T (dsyr, then mirrored), b += r x, refactor. */
LinearPosterior *
linear_posterior_add(const LinearPosterior *prior, const double *x, double r)
{
	int			d = prior->dim;
	LinearPosterior *p = palloc(VARSIZE(prior));

	memcpy(p, prior, VARSIZE(prior));
	cblas_dsyr(CblasColMajor, CblasUpper, d, 1.0, x, 1, LP_A(p), d);
	mirror_upper(LP_A(p), d);
	cblas_daxpy(d, r, x, 1, LP_B(p), 1);
	if (pg_add_s64_overflow(p->n, 1, &p->n))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("linear_posterior observation count out of range")));
	linear_posterior_refactor(p);
	return p;
}
