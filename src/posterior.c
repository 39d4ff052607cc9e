/*
 * posterior.c
 *		beta_posterior and normal_posterior: I/O, invariants, updates and
 *		the scalar functions posterior_mean / posterior_interval /
 *		posterior_sample / posterior_update.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "distributions.h"
#include "posterior.h"
#include "policy.h"
#include "random.h"
#include "textio.h"

PG_FUNCTION_INFO_V1(beta_posterior_in);
PG_FUNCTION_INFO_V1(beta_posterior_out);
PG_FUNCTION_INFO_V1(beta_posterior_recv);
PG_FUNCTION_INFO_V1(beta_posterior_send);
PG_FUNCTION_INFO_V1(normal_posterior_in);
PG_FUNCTION_INFO_V1(normal_posterior_out);
PG_FUNCTION_INFO_V1(normal_posterior_recv);
PG_FUNCTION_INFO_V1(normal_posterior_send);
PG_FUNCTION_INFO_V1(beta_posterior_mean_sql);
PG_FUNCTION_INFO_V1(normal_posterior_mean_sql);
PG_FUNCTION_INFO_V1(beta_posterior_interval_sql);
PG_FUNCTION_INFO_V1(normal_posterior_interval_sql);
PG_FUNCTION_INFO_V1(beta_posterior_sample_sql);
PG_FUNCTION_INFO_V1(normal_posterior_sample_sql);
PG_FUNCTION_INFO_V1(beta_posterior_update_sql);
PG_FUNCTION_INFO_V1(normal_posterior_update_sql);

/* ------------------------------------------------------------------------
 * Invariants
 * ------------------------------------------------------------------------
 */

static void
check_positive_finite(const char *type_name, const char *field, double value)
{
	if (!isfinite(value) || value <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s must be a positive finite number", type_name, field),
				 errdetail("The value given was %g.", value)));
}

static void
check_count(const char *type_name, int64 n)
{
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s n must not be negative", type_name),
				 errdetail("The value given was " INT64_FORMAT ".", n)));
}

void
check_beta_posterior_params(int64 n, double alpha, double beta)
{
	check_count("beta_posterior", n);
	check_positive_finite("beta_posterior", "alpha", alpha);
	check_positive_finite("beta_posterior", "beta", beta);
}

void
check_normal_posterior_params(int64 n, double mean, double kappa,
							  double alpha, double beta)
{
	check_count("normal_posterior", n);
	if (!isfinite(mean))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("normal_posterior mean must be a finite number")));
	check_positive_finite("normal_posterior", "kappa", kappa);
	check_positive_finite("normal_posterior", "alpha", alpha);
	check_positive_finite("normal_posterior", "beta", beta);
}

void
check_reward_finite(double reward)
{
	if (!isfinite(reward))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reward must be a finite number"),
				 errdetail("The reward given was %g.", reward)));
}

void
check_reward_unit_interval(double reward)
{
	check_reward_finite(reward);
	if (reward < 0.0 || reward > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("reward %g is outside [0, 1]", reward),
				 errdetail("Bernoulli rewards (and beta_posterior) take values between 0 and 1."),
				 errhint("Use reward_type \"gaussian\" for unbounded rewards.")));
}

/*
 * Rewards of Gaussian experiments: at most 1e100 in magnitude, so that sums
 * of squares over 2^53 rewards (and the posterior built from them) stay
 * finite; a reward whose sums overflowed could never be folded again.
 */
void
check_reward_gaussian_range(double reward)
{
	check_reward_finite(reward);
	if (fabs(reward) > 1e100)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("reward %g is too large", reward),
				 errdetail("Rewards of gaussian experiments are at most 1e100 in magnitude."),
				 errhint("Rescale the rewards.")));
}

static void
check_level(double level)
{
	if (!(level > 0.0 && level < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("interval level must be strictly between 0 and 1"),
				 errdetail("The level given was %g.", level)));
}

/* ------------------------------------------------------------------------
 * Construction and folding
 * ------------------------------------------------------------------------
 */

BetaPosterior *
make_beta_posterior(int64 n, double alpha, double beta)
{
	BetaPosterior *p;

	check_beta_posterior_params(n, alpha, beta);
	p = (BetaPosterior *) palloc0(sizeof(BetaPosterior));
	SET_VARSIZE(p, sizeof(BetaPosterior));
	p->format = BETA_POSTERIOR_FORMAT;
	p->n = n;
	p->alpha = alpha;
	p->beta = beta;
	return p;
}

NormalPosterior *
make_normal_posterior(int64 n, double mean, double kappa, double alpha, double beta)
{
	NormalPosterior *p;

	check_normal_posterior_params(n, mean, kappa, alpha, beta);
	p = (NormalPosterior *) palloc0(sizeof(NormalPosterior));
	SET_VARSIZE(p, sizeof(NormalPosterior));
	p->format = NORMAL_POSTERIOR_FORMAT;
	p->n = n;
	p->mean = mean;
	p->kappa = kappa;
	p->alpha = alpha;
	p->beta = beta;
	return p;
}

int64
posterior_add_counts(int64 a, int64 b)
{
	int64		result;

	if (pg_add_s64_overflow(a, b, &result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("posterior observation count out of range")));
	return result;
}

BetaPosterior *
beta_posterior_fold(const BetaPosterior *prior, int64 n, double success_sum,
					double failure_sum)
{
	return make_beta_posterior(posterior_add_counts(prior->n, n),
							   prior->alpha + success_sum,
							   prior->beta + failure_sum);
}

/*
 * Conjugate Normal-Inverse-Gamma update with a batch summarised by
 * (n, mean, m2).  With n = 1 this is the familiar one-step update; the
 * batch form gives the same posterior as n single steps (up to rounding).
 */
NormalPosterior *
normal_posterior_fold(const NormalPosterior *prior, const GaussianStats *stats)
{
	double		n = (double) stats->n;
	double		kappa,
				delta;

	if (stats->n == 0)
		return make_normal_posterior(prior->n, prior->mean, prior->kappa,
									 prior->alpha, prior->beta);
	kappa = prior->kappa + n;
	delta = stats->mean - prior->mean;
	return make_normal_posterior(posterior_add_counts(prior->n, stats->n),
								 prior->mean + delta * n / kappa,
								 kappa,
								 prior->alpha + 0.5 * n,
								 prior->beta + 0.5 * stats->m2 +
								 0.5 * prior->kappa * n * delta * delta / kappa);
}

/* Welford's update. */
void
gaussian_stats_add(GaussianStats *stats, double x)
{
	double		delta = x - stats->mean;

	stats->n++;
	stats->mean += delta / (double) stats->n;
	stats->m2 += delta * (x - stats->mean);
}

/* Chan, Golub & LeVeque's pairwise combination of two batches. */
void
gaussian_stats_merge(GaussianStats *into, const GaussianStats *other)
{
	double		n1 = (double) into->n,
				n2 = (double) other->n,
				n,
				delta;

	if (other->n == 0)
		return;
	if (into->n == 0)
	{
		*into = *other;
		return;
	}
	n = n1 + n2;
	delta = other->mean - into->mean;
	into->mean += delta * n2 / n;
	into->m2 += other->m2 + delta * delta * n1 * n2 / n;
	into->n = posterior_add_counts(into->n, other->n);
}

void
normal_posterior_marginal(const NormalPosterior *p, double *loc, double *scale,
						  double *dof)
{
	*loc = p->mean;
	*scale = sqrt(p->beta / (p->alpha * p->kappa));
	*dof = 2.0 * p->alpha;
}

double
beta_posterior_mean(const BetaPosterior *p)
{
	return p->alpha / (p->alpha + p->beta);
}

/* ------------------------------------------------------------------------
 * Text I/O: "(alpha=3, beta=9, n=10)" and
 * "(mean=0.5, kappa=10, alpha=6, beta=3.2, n=10)".  Keys come in this order;
 * whitespace is allowed around tokens.
 * ------------------------------------------------------------------------
 */

Datum
beta_posterior_in(PG_FUNCTION_ARGS)
{
	TextCursor	cur = {"beta_posterior", PG_GETARG_CSTRING(0), NULL};
	double		alpha,
				beta;
	int64		n;

	cur.pos = cur.input;
	expect_char(&cur, '(', "\"(\"");
	alpha = read_float_field(&cur, "alpha");
	expect_char(&cur, ',', "\",\"");
	beta = read_float_field(&cur, "beta");
	expect_char(&cur, ',', "\",\"");
	n = read_count_field(&cur, "n");
	expect_end(&cur);

	PG_RETURN_POINTER(make_beta_posterior(n, alpha, beta));
}

Datum
beta_posterior_out(PG_FUNCTION_ARGS)
{
	BetaPosterior *p = PG_GETARG_BETA_POSTERIOR(0);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	append_float_field(&buf, "alpha", p->alpha, false);
	append_float_field(&buf, "beta", p->beta, false);
	appendStringInfo(&buf, "n=" INT64_FORMAT ")", p->n);
	PG_RETURN_CSTRING(buf.data);
}

Datum
normal_posterior_in(PG_FUNCTION_ARGS)
{
	TextCursor	cur = {"normal_posterior", PG_GETARG_CSTRING(0), NULL};
	double		mean,
				kappa,
				alpha,
				beta;
	int64		n;

	cur.pos = cur.input;
	expect_char(&cur, '(', "\"(\"");
	mean = read_float_field(&cur, "mean");
	expect_char(&cur, ',', "\",\"");
	kappa = read_float_field(&cur, "kappa");
	expect_char(&cur, ',', "\",\"");
	alpha = read_float_field(&cur, "alpha");
	expect_char(&cur, ',', "\",\"");
	beta = read_float_field(&cur, "beta");
	expect_char(&cur, ',', "\",\"");
	n = read_count_field(&cur, "n");
	expect_end(&cur);

	PG_RETURN_POINTER(make_normal_posterior(n, mean, kappa, alpha, beta));
}

Datum
normal_posterior_out(PG_FUNCTION_ARGS)
{
	NormalPosterior *p = PG_GETARG_NORMAL_POSTERIOR(0);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	append_float_field(&buf, "mean", p->mean, false);
	append_float_field(&buf, "kappa", p->kappa, false);
	append_float_field(&buf, "alpha", p->alpha, false);
	append_float_field(&buf, "beta", p->beta, false);
	appendStringInfo(&buf, "n=" INT64_FORMAT ")", p->n);
	PG_RETURN_CSTRING(buf.data);
}

/* ------------------------------------------------------------------------
 * Binary I/O.  Layout: format (1 byte), flags (1 byte), n (int8), then the
 * float8 fields.  recv trusts nothing: it checks format, flags, that the
 * message holds exactly the fields, and every invariant.
 * ------------------------------------------------------------------------
 */

static void
recv_header(StringInfo buf, const char *type_name, int expected_format,
			int payload_bytes)
{
	int			format,
				flags;

	if (buf->len - buf->cursor != 2 + payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary %s: wrong length", type_name),
				 errdetail("Expected %d bytes, got %d.", 2 + payload_bytes,
						   buf->len - buf->cursor)));
	format = pq_getmsgbyte(buf);
	flags = pq_getmsgbyte(buf);
	if (format != expected_format)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary %s: unknown format version %d", type_name, format)));
	if (flags != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary %s: unknown flags %d", type_name, flags)));
}

Datum
beta_posterior_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		n;
	double		alpha,
				beta;

	recv_header(buf, "beta_posterior", BETA_POSTERIOR_FORMAT, 8 * 3);
	n = pq_getmsgint64(buf);
	alpha = pq_getmsgfloat8(buf);
	beta = pq_getmsgfloat8(buf);
	PG_RETURN_POINTER(make_beta_posterior(n, alpha, beta));
}

Datum
beta_posterior_send(PG_FUNCTION_ARGS)
{
	BetaPosterior *p = PG_GETARG_BETA_POSTERIOR(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, p->format);
	pq_sendbyte(&buf, p->flags);
	pq_sendint64(&buf, p->n);
	pq_sendfloat8(&buf, p->alpha);
	pq_sendfloat8(&buf, p->beta);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
normal_posterior_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		n;
	double		mean,
				kappa,
				alpha,
				beta;

	recv_header(buf, "normal_posterior", NORMAL_POSTERIOR_FORMAT, 8 * 5);
	n = pq_getmsgint64(buf);
	mean = pq_getmsgfloat8(buf);
	kappa = pq_getmsgfloat8(buf);
	alpha = pq_getmsgfloat8(buf);
	beta = pq_getmsgfloat8(buf);
	PG_RETURN_POINTER(make_normal_posterior(n, mean, kappa, alpha, beta));
}

Datum
normal_posterior_send(PG_FUNCTION_ARGS)
{
	NormalPosterior *p = PG_GETARG_NORMAL_POSTERIOR(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, p->format);
	pq_sendbyte(&buf, p->flags);
	pq_sendint64(&buf, p->n);
	pq_sendfloat8(&buf, p->mean);
	pq_sendfloat8(&buf, p->kappa);
	pq_sendfloat8(&buf, p->alpha);
	pq_sendfloat8(&buf, p->beta);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ------------------------------------------------------------------------
 * posterior_mean, posterior_interval, posterior_sample, posterior_update
 * ------------------------------------------------------------------------
 */

Datum
beta_posterior_mean_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(beta_posterior_mean(PG_GETARG_BETA_POSTERIOR(0)));
}

Datum
normal_posterior_mean_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(PG_GETARG_NORMAL_POSTERIOR(0)->mean);
}

static ArrayType *
interval_array(double low, double high)
{
	Datum		bounds[2] = {Float8GetDatum(low), Float8GetDatum(high)};

	return construct_array(bounds, 2, FLOAT8OID, sizeof(float8),
						   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* Equal-tailed interval: the (1-level)/2 and (1+level)/2 quantiles. */
Datum
beta_posterior_interval_sql(PG_FUNCTION_ARGS)
{
	BetaPosterior *p = PG_GETARG_BETA_POSTERIOR(0);
	double		level = PG_GETARG_FLOAT8(1);
	double		tail;

	check_level(level);
	tail = (1.0 - level) / 2.0;
	PG_RETURN_ARRAYTYPE_P(interval_array(dist_beta_quantile(tail, p->alpha, p->beta),
										 dist_beta_quantile(1.0 - tail, p->alpha, p->beta)));
}

Datum
normal_posterior_interval_sql(PG_FUNCTION_ARGS)
{
	NormalPosterior *p = PG_GETARG_NORMAL_POSTERIOR(0);
	double		level = PG_GETARG_FLOAT8(1);
	double		loc,
				scale,
				dof,
				half_width;

	check_level(level);
	normal_posterior_marginal(p, &loc, &scale, &dof);
	half_width = scale * dist_t_quantile((1.0 + level) / 2.0, dof);
	PG_RETURN_ARRAYTYPE_P(interval_array(loc - half_width, loc + half_width));
}

Datum
beta_posterior_sample_sql(PG_FUNCTION_ARGS)
{
	BetaPosterior *p = PG_GETARG_BETA_POSTERIOR(0);

	PG_RETURN_FLOAT8(bandit_random_beta(p->alpha, p->beta));
}

Datum
normal_posterior_sample_sql(PG_FUNCTION_ARGS)
{
	NormalPosterior *p = PG_GETARG_NORMAL_POSTERIOR(0);
	double		loc,
				scale,
				dof;

	normal_posterior_marginal(p, &loc, &scale, &dof);
	PG_RETURN_FLOAT8(loc + scale * bandit_random_student_t(dof));
}

Datum
beta_posterior_update_sql(PG_FUNCTION_ARGS)
{
	BetaPosterior *p = PG_GETARG_BETA_POSTERIOR(0);
	double		reward = PG_GETARG_FLOAT8(1);

	check_reward_unit_interval(reward);
	PG_RETURN_POINTER(beta_posterior_fold(p, 1, reward, 1.0 - reward));
}

Datum
normal_posterior_update_sql(PG_FUNCTION_ARGS)
{
	NormalPosterior *p = PG_GETARG_NORMAL_POSTERIOR(0);
	GaussianStats one = {0, 0.0, 0.0};

	check_reward_finite(PG_GETARG_FLOAT8(1));
	gaussian_stats_add(&one, PG_GETARG_FLOAT8(1));
	PG_RETURN_POINTER(normal_posterior_fold(p, &one));
}

/* ------------------------------------------------------------------------
 * posterior_prob_best(posteriors[]) RETURNS float8[]: Thompson sampling's
 * P(this posterior gives the largest draw), the same numbers bandit_select
 * uses for its thompson policy.
 * ------------------------------------------------------------------------
 */

static Datum *
posterior_array_elements(ArrayType *array, int *count)
{
	Datum	   *elements;
	bool	   *nulls;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("posterior_prob_best expects a one-dimensional array")));
	deconstruct_array(array, ARR_ELEMTYPE(array), -1, false, TYPALIGN_DOUBLE,
					  &elements, &nulls, count);
	for (int i = 0; i < *count; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("posterior_prob_best does not accept NULL elements")));
	if (*count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("posterior_prob_best needs at least one posterior")));
	return elements;
}

static ArrayType *
float8_array(const double *values, int count)
{
	Datum	   *datums = palloc(sizeof(Datum) * count);

	for (int i = 0; i < count; i++)
		datums[i] = Float8GetDatum(values[i]);
	return construct_array(datums, count, FLOAT8OID, sizeof(float8),
						   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

PG_FUNCTION_INFO_V1(beta_posterior_prob_best);
Datum
beta_posterior_prob_best(PG_FUNCTION_ARGS)
{
	int			k;
	Datum	   *elements = posterior_array_elements(PG_GETARG_ARRAYTYPE_P(0), &k);
	ArmState   *arms = palloc0(sizeof(ArmState) * k);
	double	   *best = palloc(sizeof(double) * k);

	for (int i = 0; i < k; i++)
	{
		BetaPosterior *p = DatumGetBetaPosterior(elements[i]);

		arms[i].enabled = true;
		arms[i].alpha = p->alpha;
		arms[i].beta = p->beta;
	}
	thompson_probabilities(REWARD_BERNOULLI, k, arms, best);
	PG_RETURN_ARRAYTYPE_P(float8_array(best, k));
}

PG_FUNCTION_INFO_V1(normal_posterior_prob_best);
Datum
normal_posterior_prob_best(PG_FUNCTION_ARGS)
{
	int			k;
	Datum	   *elements = posterior_array_elements(PG_GETARG_ARRAYTYPE_P(0), &k);
	ArmState   *arms = palloc0(sizeof(ArmState) * k);
	double	   *best = palloc(sizeof(double) * k);

	for (int i = 0; i < k; i++)
	{
		NormalPosterior *p = DatumGetNormalPosterior(elements[i]);

		arms[i].enabled = true;
		arms[i].mean = p->mean;
		arms[i].kappa = p->kappa;
		arms[i].alpha = p->alpha;
		arms[i].beta = p->beta;
	}
	thompson_probabilities(REWARD_GAUSSIAN, k, arms, best);
	PG_RETURN_ARRAYTYPE_P(float8_array(best, k));
}
