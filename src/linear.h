/*
 * linear.h
 *		The linear_posterior type: one arm's ridge regression of reward on a
 *		context vector x of dimension d (disjoint LinUCB, Li et al. 2010;
 *		linear Thompson sampling, Agrawal & Goyal 2013).
 *
 *		A = lambda * I + sum x x^T		(d x d, symmetric)
 *		b = sum r x						(d)
 *		theta = A^-1 b					(the ridge estimate)
 *
 * A and b are the state; the Cholesky factor L of A (A = L L^T) and theta
 * are a cache stored beside them so that selection costs triangular solves
 * only.  The cache is a pure function of A and b: input, recv, update and
 * the aggregates recompute it, it is never read from the wire.  When A is
 * not numerically positive definite (lambda = 0 with too few or repeated
 * features) the value is still valid, but has no factor: functions that
 * need the solve then raise an error.
 *
 * Matrices are stored column-major (LAPACK's native order, no copies on
 * the way to LAPACKE/CBLAS); A is symmetric, L lower triangular with its
 * strictly upper part zero.
 */
#ifndef BANDIT_LINEAR_H
#define BANDIT_LINEAR_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/array.h"

#define LINEAR_POSTERIOR_FORMAT		1
#define LINEAR_POSTERIOR_FACTORED	0x01	/* L and theta hold A's Cholesky factor and A^-1 b */
#define LINEAR_POSTERIOR_FLAGS		LINEAR_POSTERIOR_FACTORED

/* 1,000 makes a value of 16 MB; larger ones would be slow to factor and to TOAST. */
#define LINEAR_MAX_DIM				1000

#define DEFAULT_LINEAR_LAMBDA		1.0

typedef struct LinearPosterior
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		format;			/* LINEAR_POSTERIOR_FORMAT */
	uint8		flags;			/* LINEAR_POSTERIOR_FACTORED or 0 */
	int16		unused;			/* must be 0 */
	int32		dim;
	int32		unused2;		/* must be 0 */
	int64		n;				/* observations folded in */
	float8		lambda;			/* ridge penalty (the prior precision) */
	float8		data[FLEXIBLE_ARRAY_MEMBER];	/* A[d*d], b[d], L[d*d], theta[d] */
} LinearPosterior;

#define LINEAR_POSTERIOR_SIZE(d)	(offsetof(LinearPosterior, data) + sizeof(float8) * (2 * (Size) (d) * (d) + 2 * (Size) (d)))
#define LP_A(p)			((p)->data)
#define LP_B(p)			((p)->data + (Size) (p)->dim * (p)->dim)
#define LP_L(p)			((p)->data + (Size) (p)->dim * (p)->dim + (p)->dim)
#define LP_THETA(p)		((p)->data + 2 * (Size) (p)->dim * (p)->dim + (p)->dim)

#define DatumGetLinearPosterior(x)		((LinearPosterior *) PG_DETOAST_DATUM(x))
#define PG_GETARG_LINEAR_POSTERIOR(n)	DatumGetLinearPosterior(PG_GETARG_DATUM(n))

/*
 * Sufficient statistics of a batch of (x, r) rows: X^T X and X^T r, with
 * Neumaier compensation, filled through a row buffer so that each block of
 * rows costs one BLAS level-3 call (dsyrk) instead of one rank-1 update per
 * row.  Shared by linear_posterior_agg and bandit_refresh.
 */
typedef struct LinearAccumulator
{
	int			dim;			/* 0 until the first row */
	int64		n;
	double		lambda;			/* < 0 until set */
	double	   *xtx;			/* d*d; upper triangle maintained */
	double	   *xtx_comp;
	double	   *xtr;			/* d */
	double	   *xtr_comp;
	int			capacity;		/* rows the buffer holds */
	int			buffered;
	double	   *rows;			/* capacity * d: row i at rows + i*d */
	double	   *rewards;		/* capacity */
	double	   *scratch;		/* d*d + d for a block's products */
} LinearAccumulator;

/* Invariant checks, shared by input, recv, casts, updates and aggregates. */
extern void check_linear_dim(int64 dim);
extern void check_linear_lambda(double lambda);

/*
 * A context vector: one-dimensional, no NULL, finite; of length dim unless
 * dim is 0.  Returns its elements (a pointer into the array) and sets *len.
 */
extern double *checked_context(ArrayType *context, int dim, const char *what, int *len);

extern LinearPosterior *linear_posterior_prior_value(int dim, double lambda);
/*
 * Check A and b are finite (an update may overflow), then recompute L and
 * theta from them (sets or clears the factored flag).
 */
extern void linear_posterior_refactor(LinearPosterior *p);
/* Errors (naming what) unless p carries a factor. */
extern void check_linear_factored(const LinearPosterior *p, const char *what);

/* A validated value with its cache computed (A column-major d*d, b d). */
extern LinearPosterior *make_linear_posterior(int dim, int64 n, double lambda,
											  const double *A, const double *b);

/* prior plus one observation (x, r), refactored; a new palloc'd value. */
extern LinearPosterior *linear_posterior_add(const LinearPosterior *prior,
											 const double *x, double r);

/* prior + the accumulated rows, refactored; a new palloc'd value. */
extern LinearPosterior *linear_posterior_fold(const LinearPosterior *prior,
											  LinearAccumulator *acc);

/* x^T theta, and sqrt(x^T A^-1 x) = |L^-1 x| (work: d doubles). */
extern double linear_posterior_mean_at(const LinearPosterior *p, const double *x);
extern double linear_posterior_width_at(const LinearPosterior *p, const double *x,
										double *work);

extern void linear_accumulator_init(LinearAccumulator *acc, int dim, double lambda);
extern void linear_accumulator_add(LinearAccumulator *acc, const double *x, double r);
extern void linear_accumulator_flush(LinearAccumulator *acc);
extern void linear_accumulator_merge(LinearAccumulator *into, LinearAccumulator *other);
extern void linear_accumulator_free(LinearAccumulator *acc);

extern Datum linear_posterior_out(PG_FUNCTION_ARGS);

#endif							/* BANDIT_LINEAR_H */
