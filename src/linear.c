/*
 * linear.c
 *		linear_posterior: invariants, text and binary I/O, and the scalar
 *		functions linear_posterior (the prior), linear_posterior_update,
 *		linear_posterior_theta / _predict / _ucb / _sample.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "linear.h"
#include "random.h"
#include "textio.h"

PG_FUNCTION_INFO_V1(linear_posterior_in);
PG_FUNCTION_INFO_V1(linear_posterior_out);
PG_FUNCTION_INFO_V1(linear_posterior_recv);
PG_FUNCTION_INFO_V1(linear_posterior_send);
PG_FUNCTION_INFO_V1(linear_posterior_prior);
PG_FUNCTION_INFO_V1(linear_posterior_update);
PG_FUNCTION_INFO_V1(linear_posterior_theta);
PG_FUNCTION_INFO_V1(linear_posterior_predict);
PG_FUNCTION_INFO_V1(linear_posterior_ucb);
PG_FUNCTION_INFO_V1(linear_posterior_sample);

/* ------------------------------------------------------------------------
 * Invariants
 * ------------------------------------------------------------------------
 */

void
check_linear_dim(int64 dim)
{
	if (dim < 1 || dim > LINEAR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("linear_posterior dimension must be between 1 and %d", LINEAR_MAX_DIM),
				 errdetail("The dimension given was " INT64_FORMAT ".", dim)));
}

void
check_linear_lambda(double lambda)
{
	if (!isfinite(lambda) || lambda < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lambda must be a finite number, zero or greater"),
				 errdetail("The value given was %g.", lambda)));
}

/*
 * The state's own invariants: a count, a ridge penalty, and a finite
 * symmetric A with a non-negative diagonal (A = lambda*I + sum x x^T is
 * positive semi-definite), and a finite b.
 */
static void
check_linear_state(int dim, int64 n, double lambda, const double *A, const double *b)
{
	check_linear_dim(dim);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("linear_posterior n must not be negative"),
				 errdetail("The value given was " INT64_FORMAT ".", n)));
	check_linear_lambda(lambda);
	for (int j = 0; j < dim; j++)
	{
		if (!isfinite(b[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("linear_posterior b must contain only finite numbers")));
		for (int i = 0; i <= j; i++)
		{
			double		upper = A[i + (Size) j * dim];
			double		lower = A[j + (Size) i * dim];

			if (!isfinite(upper) || !isfinite(lower))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("linear_posterior A must contain only finite numbers")));
			if (upper != lower)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("linear_posterior A must be symmetric"),
						 errdetail("A[%d][%d] is %g but A[%d][%d] is %g.",
								   i + 1, j + 1, upper, j + 1, i + 1, lower)));
		}
		if (!(A[j + (Size) j * dim] >= 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("linear_posterior A must have a non-negative diagonal"),
					 errdetail("A[%d][%d] is %g.", j + 1, j + 1, A[j + (Size) j * dim])));
	}
}

double *
checked_context(ArrayType *context, int dim, const char *what, int *len)
{
	double	   *values;
	int			n;

	if (ARR_NDIM(context) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	if (ARR_ELEMTYPE(context) != FLOAT8OID)
		elog(ERROR, "%s must be a float8 array", what);
	if (array_contains_nulls(context))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", what)));
	n = ArrayGetNItems(ARR_NDIM(context), ARR_DIMS(context));
	if (dim > 0 && n != dim)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have exactly %d elements", what, dim),
				 errdetail("It has %d.", n)));
	values = (double *) ARR_DATA_PTR(context);
	for (int i = 0; i < n; i++)
		if (!isfinite(values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must contain only finite numbers", what),
					 errdetail("Element %d is %g.", i + 1, values[i])));
	*len = n;
	return values;
}

/* ------------------------------------------------------------------------
 * Construction
 * ------------------------------------------------------------------------
 */

LinearPosterior *
make_linear_posterior(int dim, int64 n, double lambda, const double *A, const double *b)
{
	LinearPosterior *p;
	Size		dd = (Size) dim * dim;

	check_linear_state(dim, n, lambda, A, b);
	p = (LinearPosterior *) palloc0(LINEAR_POSTERIOR_SIZE(dim));
	SET_VARSIZE(p, LINEAR_POSTERIOR_SIZE(dim));
	p->format = LINEAR_POSTERIOR_FORMAT;
	p->dim = dim;
	p->n = n;
	p->lambda = lambda;
	memcpy(LP_A(p), A, sizeof(double) * dd);
	memcpy(LP_B(p), b, sizeof(double) * dim);
	linear_posterior_refactor(p);
	return p;
}

LinearPosterior *
linear_posterior_prior_value(int dim, double lambda)
{
	double	   *A;
	double	   *b;
	LinearPosterior *p;

	check_linear_dim(dim);
	check_linear_lambda(lambda);
	A = palloc0(sizeof(double) * dim * dim);
	b = palloc0(sizeof(double) * dim);
	for (int i = 0; i < dim; i++)
		A[i + (Size) i * dim] = lambda;
	p = make_linear_posterior(dim, 0, lambda, A, b);
	pfree(A);
	pfree(b);
	return p;
}

/* ------------------------------------------------------------------------
 * Text I/O: "(dim=2, n=3, lambda=1, A={{2,0.5},{0.5,3}}, b={1,2})",
 * A row by row.  The cached factor is not part of the text.
 * ------------------------------------------------------------------------
 */

/* c after optional spaces; the message is formatted only on the error path */
static void
expect_delimiter(TextCursor *cur, char c, const char *what, int count)
{
	skip_spaces(cur);
	if (*cur->pos != c)
		text_syntax_error(cur, psprintf("\"%c\" (%s has %d elements)", c, what, count));
	cur->pos++;
}

static void
read_vector(TextCursor *cur, double *out, int len, Size stride, const char *what)
{
	expect_char(cur, '{', "\"{\"");
	for (int i = 0; i < len; i++)
	{
		if (i > 0)
			expect_delimiter(cur, ',', what, len);
		out[i * stride] = read_float(cur, what);
	}
	expect_delimiter(cur, '}', what, len);
}

Datum
linear_posterior_in(PG_FUNCTION_ARGS)
{
	TextCursor	cur = {"linear_posterior", PG_GETARG_CSTRING(0), NULL};
	int64		dim;
	int64		n;
	double		lambda;
	double	   *A;
	double	   *b;
	LinearPosterior *p;

	cur.pos = cur.input;
	expect_char(&cur, '(', "\"(\"");
	dim = read_count_field(&cur, "dim");
	check_linear_dim(dim);
	expect_char(&cur, ',', "\",\"");
	n = read_count_field(&cur, "n");
	expect_char(&cur, ',', "\",\"");
	lambda = read_float_field(&cur, "lambda");
	expect_char(&cur, ',', "\",\"");

	A = palloc(sizeof(double) * dim * dim);
	b = palloc(sizeof(double) * dim);
	expect_key(&cur, "A");
	expect_char(&cur, '{', "\"{\"");
	for (int i = 0; i < dim; i++)
	{
		if (i > 0)
			expect_char(&cur, ',', psprintf("\",\" (A has %d rows)", (int) dim));
		/* row i of A: elements A[i + j*dim] */
		read_vector(&cur, A + i, (int) dim, (Size) dim, "a row of A");
	}
	expect_char(&cur, '}', psprintf("\"}\" (A has %d rows)", (int) dim));
	expect_char(&cur, ',', "\",\"");
	expect_key(&cur, "b");
	read_vector(&cur, b, (int) dim, 1, "b");
	expect_end(&cur);

	p = make_linear_posterior((int) dim, n, lambda, A, b);
	pfree(A);
	pfree(b);
	PG_RETURN_POINTER(p);
}

Datum
linear_posterior_out(PG_FUNCTION_ARGS)
{
	LinearPosterior *p = PG_GETARG_LINEAR_POSTERIOR(0);
	int			d = p->dim;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "(dim=%d, n=" INT64_FORMAT ", ", d, p->n);
	append_float_field(&buf, "lambda", p->lambda, false);
	appendStringInfoString(&buf, "A={");
	for (int i = 0; i < d; i++)
	{
		appendStringInfoString(&buf, i > 0 ? ",{" : "{");
		for (int j = 0; j < d; j++)
		{
			if (j > 0)
				appendStringInfoChar(&buf, ',');
			append_float(&buf, LP_A(p)[i + (Size) j * d]);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "}, b={");
	for (int i = 0; i < d; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		append_float(&buf, LP_B(p)[i]);
	}
	appendStringInfoString(&buf, "})");
	PG_RETURN_CSTRING(buf.data);
}

/* ------------------------------------------------------------------------
 * Binary I/O.  Layout: format (1 byte), flags (1 byte, 0 on the wire),
 * dim (int4), n (int8), lambda, A (dim*dim float8, column-major), b (dim
 * float8).  recv checks the length against dim before reading, then every
 * invariant, and recomputes the factor itself.
 * ------------------------------------------------------------------------
 */

Datum
linear_posterior_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			format,
				flags;
	int64		dim,
				n;
	double		lambda;
	double	   *A,
			   *b;
	Size		expected;
	LinearPosterior *p;

	if (buf->len - buf->cursor < 2 + 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary linear_posterior: too short")));
	format = pq_getmsgbyte(buf);
	flags = pq_getmsgbyte(buf);
	if (format != LINEAR_POSTERIOR_FORMAT || flags != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary linear_posterior: unknown format %d or flags %d",
						format, flags)));
	dim = (int32) pq_getmsgint(buf, 4);
	check_linear_dim(dim);
	expected = 8 + 8 + sizeof(double) * (Size) (dim * dim + dim);
	if ((Size) (buf->len - buf->cursor) != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary linear_posterior: wrong length"),
				 errdetail("Dimension " INT64_FORMAT " needs %zu more bytes, got %d.",
						   dim, expected, buf->len - buf->cursor)));
	n = pq_getmsgint64(buf);
	lambda = pq_getmsgfloat8(buf);
	A = palloc(sizeof(double) * dim * dim);
	b = palloc(sizeof(double) * dim);
	for (Size k = 0; k < (Size) (dim * dim); k++)
		A[k] = pq_getmsgfloat8(buf);
	for (int i = 0; i < dim; i++)
		b[i] = pq_getmsgfloat8(buf);
	pq_getmsgend(buf);

	p = make_linear_posterior((int) dim, n, lambda, A, b);
	pfree(A);
	pfree(b);
	PG_RETURN_POINTER(p);
}

Datum
linear_posterior_send(PG_FUNCTION_ARGS)
{
	LinearPosterior *p = PG_GETARG_LINEAR_POSTERIOR(0);
	Size		count = (Size) p->dim * p->dim + p->dim;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, LINEAR_POSTERIOR_FORMAT);
	pq_sendbyte(&buf, 0);
	pq_sendint32(&buf, p->dim);
	pq_sendint64(&buf, p->n);
	pq_sendfloat8(&buf, p->lambda);
	for (Size k = 0; k < count; k++)	/* A then b: contiguous in data[] */
		pq_sendfloat8(&buf, p->data[k]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ------------------------------------------------------------------------
 * Scalar functions
 * ------------------------------------------------------------------------
 */

Datum
linear_posterior_prior(PG_FUNCTION_ARGS)
{
	int32		dim = PG_GETARG_INT32(0);
	double		lambda = PG_GETARG_FLOAT8(1);

	PG_RETURN_POINTER(linear_posterior_prior_value(dim, lambda));
}

Datum
linear_posterior_update(PG_FUNCTION_ARGS)
{
	LinearPosterior *p = PG_GETARG_LINEAR_POSTERIOR(0);
	double		reward = PG_GETARG_FLOAT8(2);
	int			len;
	double	   *x = checked_context(PG_GETARG_ARRAYTYPE_P(1), p->dim, "context", &len);

	if (!isfinite(reward))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reward must be a finite number"),
				 errdetail("The reward given was %g.", reward)));
	PG_RETURN_POINTER(linear_posterior_add(p, x, reward));
}

Datum
linear_posterior_theta(PG_FUNCTION_ARGS)
{
	LinearPosterior *p = PG_GETARG_LINEAR_POSTERIOR(0);
	Datum	   *elems;

	check_linear_factored(p, "linear_posterior");
	elems = palloc(sizeof(Datum) * p->dim);
	for (int i = 0; i < p->dim; i++)
		elems[i] = Float8GetDatum(LP_THETA(p)[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, p->dim, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The factored posterior and a checked x of its dimension. */
static LinearPosterior *
posterior_and_point(FunctionCallInfo fcinfo, double **x)
{
	LinearPosterior *p = PG_GETARG_LINEAR_POSTERIOR(0);
	int			len;

	*x = checked_context(PG_GETARG_ARRAYTYPE_P(1), p->dim, "x", &len);
	check_linear_factored(p, "linear_posterior");
	return p;
}

static double
nonnegative_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	double		value = PG_GETARG_FLOAT8(argno);

	if (!isfinite(value) || value < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number, zero or greater", name),
				 errdetail("The value given was %g.", value)));
	return value;
}

Datum
linear_posterior_predict(PG_FUNCTION_ARGS)
{
	double	   *x;
	LinearPosterior *p = posterior_and_point(fcinfo, &x);

	PG_RETURN_FLOAT8(linear_posterior_mean_at(p, x));
}

Datum
linear_posterior_ucb(PG_FUNCTION_ARGS)
{
	double	   *x;
	LinearPosterior *p = posterior_and_point(fcinfo, &x);
	double		alpha = nonnegative_arg(fcinfo, 2, "alpha");
	double	   *work = palloc(sizeof(double) * p->dim);

	PG_RETURN_FLOAT8(linear_posterior_mean_at(p, x) +
					 alpha * linear_posterior_width_at(p, x, work));
}

/*
 * A Thompson draw of x^T theta~ with theta~ ~ N(theta, v^2 A^-1).  For one
 * x this is N(x^T theta, v^2 x^T A^-1 x), so one normal draw scaled by
 * v * |L^-1 x| has exactly the distribution of the d-dimensional draw.
 */
Datum
linear_posterior_sample(PG_FUNCTION_ARGS)
{
	double	   *x;
	LinearPosterior *p = posterior_and_point(fcinfo, &x);
	double		v = nonnegative_arg(fcinfo, 2, "v");
	double	   *work = palloc(sizeof(double) * p->dim);

	PG_RETURN_FLOAT8(linear_posterior_mean_at(p, x) +
					 v * linear_posterior_width_at(p, x, work) * bandit_random_normal());
}
