/*
 * forgetting.c
 *		bandit_refresh of an experiment whose posteriors forget (half_life,
 *		window); see forgetting.h.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "catalog.h"
#include "forgetting.h"
#include "posterior.h"
#include "summation.h"

/* What an arm's posterior adds to the prior: weighted sums of its rewards. */
typedef struct Evidence
{
	int64		n;				/* rewards folded in (not weighted) */
	CompensatedSum successes;	/* sum of w r (Beta) */
	CompensatedSum failures;	/* sum of w (1 - r) (Beta) */
	double		weight;			/* sum of w (Normal-Inverse-Gamma) */
	double		mean;			/* weighted mean */
	double		m2;				/* weighted sum of squared deviations */
} Evidence;

/* The evidence in a stored posterior: the posterior less the prior. */
static void
evidence_of(const ExperimentConfig *config, Datum beta, bool beta_null, Datum normal,
			bool normal_null, Evidence *e)
{
	memset(e, 0, sizeof(*e));
	if (config->reward_type == REWARD_GAUSSIAN)
	{
		NormalPosterior *p;
		double		k0 = config->prior_kappa;

		if (normal_null)
			report_inconsistent_tables("An arm of a gaussian experiment has no normal posterior.");
		p = DatumGetNormalPosterior(normal);
		e->n = p->n;
		e->weight = p->kappa - k0;
		if (e->weight <= 0)
		{
			e->weight = 0;
			return;
		}
		e->mean = (p->kappa * p->mean - k0 * config->prior_mean) / e->weight;
		e->m2 = 2.0 * (p->beta - config->prior_beta) -
			k0 * e->weight * (e->mean - config->prior_mean) * (e->mean - config->prior_mean) / p->kappa;
		e->m2 = Max(e->m2, 0.0);
	}
	else
	{
		BetaPosterior *p;

		if (beta_null)
			report_inconsistent_tables("An arm of a bernoulli experiment has no beta posterior.");
		p = DatumGetBetaPosterior(beta);
		e->n = p->n;
		e->successes.sum = Max(p->alpha - config->prior_alpha, 0.0);
		e->failures.sum = Max(p->beta - config->prior_beta, 0.0);
	}
}

static void
evidence_scale(Evidence *e, double factor)
{
	e->successes.sum *= factor;
	e->successes.compensation *= factor;
	e->failures.sum *= factor;
	e->failures.compensation *= factor;
	e->weight *= factor;
	e->m2 *= factor;
}

/* One reward r of weight w (weighted Welford for the Gaussian sums). */
static void
evidence_add(Evidence *e, double r, double w)
{
	e->n++;
	compensated_add(&e->successes, w * r);
	compensated_add(&e->failures, w * (1.0 - r));
	if (w > 0)
	{
		double		total = e->weight + w;
		double		delta = r - e->mean;

		e->mean += delta * w / total;
		e->m2 += w * delta * (r - e->mean);
		e->weight = total;
	}
}

/* The prior plus the evidence, as the arm's posterior value. */
static Datum
posterior_of(const ExperimentConfig *config, const Evidence *e)
{
	if (config->reward_type == REWARD_GAUSSIAN)
	{
		double		k0 = config->prior_kappa;
		double		kappa = k0 + e->weight;
		double		d = e->mean - config->prior_mean;

		if (e->weight <= 0)
			return PointerGetDatum(make_normal_posterior(e->n, config->prior_mean, k0,
														 config->prior_alpha, config->prior_beta));
		return PointerGetDatum(make_normal_posterior(e->n,
													 (k0 * config->prior_mean + e->weight * e->mean) / kappa,
													 kappa,
													 config->prior_alpha + 0.5 * e->weight,
													 config->prior_beta + 0.5 * e->m2 +
													 0.5 * k0 * e->weight * d * d / kappa));
	}
	return PointerGetDatum(make_beta_posterior(e->n,
											   config->prior_alpha + compensated_value(&e->successes),
											   config->prior_beta + compensated_value(&e->failures)));
}

/* Arm index of column 1 of row i of an SPI result, checked against max_arm. */
static int32
arm_of(SPITupleTable *t, uint64 i, int max_arm)
{
	bool		isnull;
	int32		arm = DatumGetInt32(SPI_getbinval(t->vals[i], t->tupdesc, 1, &isnull));

	if (arm < 1 || arm > max_arm)
		report_inconsistent_tables(psprintf("A reward names arm %d, which does not exist.", arm));
	return arm;
}

static double
float8_of(SPITupleTable *t, uint64 i, int column, bool *isnull)
{
	return DatumGetFloat8(SPI_getbinval(t->vals[i], t->tupdesc, column, isnull));
}

int64
refresh_forgetting(int64 id, const ExperimentConfig *config)
{
	Oid			argtypes[2] = {INT8OID, FLOAT8OID};
	Datum		args[2] = {Int64GetDatum(id), (Datum) 0};
	SPITupleTable *pending;
	SPITupleTable *arms;
	int64		folded;
	int			max_arm = 0;
	bool		isnull;
	double		state_age;
	bool		first_refresh;
	Evidence   *evidence;
	Oid			beta_type,
				normal_type;

	/* the pending rewards, each taken exactly once, with their age now */
	if (SPI_execute_with_args("WITH p AS (DELETE FROM bandit.pending_reward WHERE experiment_id = $1"
							  "           RETURNING decision_id, arm_id, reward)"
							  " SELECT p.arm_id, p.reward,"
							  "        extract(epoch FROM pg_catalog.now() - r.rewarded_at)::float8"
							  "   FROM p JOIN bandit.reward r ON r.decision_id = p.decision_id",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not take pending rewards");
	pending = SPI_tuptable;
	folded = (int64) SPI_processed;

	if (SPI_execute_with_args("SELECT arm_id, beta, normal FROM bandit.arm"
							  " WHERE experiment_id = $1 ORDER BY arm_id FOR NO KEY UPDATE",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read arms");
	arms = SPI_tuptable;
	beta_type = SPI_gettypeid(arms->tupdesc, 2);
	normal_type = SPI_gettypeid(arms->tupdesc, 3);
	for (uint64 i = 0; i < arms->numvals; i++)
		max_arm = Max(max_arm, DatumGetInt32(SPI_getbinval(arms->vals[i], arms->tupdesc, 1, &isnull)));

	if (SPI_execute_with_args("SELECT extract(epoch FROM pg_catalog.now() - state_time)::float8"
							  "  FROM bandit.experiment WHERE id = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read experiment " INT64_FORMAT, id);
	state_age = float8_of(SPI_tuptable, 0, 1, &first_refresh);

	evidence = palloc0(sizeof(Evidence) * (max_arm + 1));
	if (config->half_life != NULL)
	{
		/* what was folded before, decayed to now; then the new rewards at their age */
		for (uint64 i = 0; i < arms->numvals; i++)
		{
			int32		arm = arm_of(arms, i, max_arm);
			bool		beta_null,
						normal_null;
			Datum		beta = SPI_getbinval(arms->vals[i], arms->tupdesc, 2, &beta_null);
			Datum		normal = SPI_getbinval(arms->vals[i], arms->tupdesc, 3, &normal_null);

			evidence_of(config, beta, beta_null, normal, normal_null, &evidence[arm]);
			if (!first_refresh)
				evidence_scale(&evidence[arm], exp2(-Max(state_age, 0.0) / config->half_life_seconds));
		}
		for (uint64 i = 0; i < pending->numvals; i++)
		{
			int32		arm = arm_of(pending, i, max_arm);
			double		age = float8_of(pending, i, 3, &isnull);

			evidence_add(&evidence[arm], float8_of(pending, i, 2, &isnull),
						 exp2(-Max(age, 0.0) / config->half_life_seconds));
		}
	}
	else
	{
		/* the window's rewards, from the log: folded (not pending), not late */
		const char *query = config->window_count > 0
			? "SELECT r.arm_id, r.reward FROM bandit.reward r"
			" WHERE r.experiment_id = $1 AND NOT r.late"
			"   AND NOT EXISTS (SELECT 1 FROM bandit.pending_reward p WHERE p.decision_id = r.decision_id)"
			" ORDER BY r.rewarded_at DESC, r.decision_id DESC LIMIT $2::bigint"
			: "SELECT r.arm_id, r.reward FROM bandit.reward r"
			" WHERE r.experiment_id = $1 AND NOT r.late"
			"   AND NOT EXISTS (SELECT 1 FROM bandit.pending_reward p WHERE p.decision_id = r.decision_id)"
			"   AND r.rewarded_at > pg_catalog.now() - $2 * interval '1 second'";

		args[1] = Float8GetDatum(config->window_count > 0 ? (double) config->window_count
								 : config->window_seconds);
		if (SPI_execute_with_args(query, 2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the window's rewards");
		for (uint64 i = 0; i < SPI_processed; i++)
			evidence_add(&evidence[arm_of(SPI_tuptable, i, max_arm)],
						 float8_of(SPI_tuptable, i, 2, &isnull), 1.0);
	}

	for (uint64 i = 0; i < arms->numvals; i++)
	{
		int32		arm = arm_of(arms, i, max_arm);
		bool		gaussian = config->reward_type == REWARD_GAUSSIAN;
		Oid			update_types[4] = {INT8OID, INT4OID, beta_type, normal_type};
		Datum		update_args[4] = {Int64GetDatum(id), Int32GetDatum(arm),
			gaussian ? (Datum) 0 : posterior_of(config, &evidence[arm]),
		gaussian ? posterior_of(config, &evidence[arm]) : (Datum) 0};
		char		nulls[4] = {' ', ' ', gaussian ? 'n' : ' ', gaussian ? ' ' : 'n'};

		if (SPI_execute_with_args("UPDATE bandit.arm SET beta = $3, normal = $4"
								  " WHERE experiment_id = $1 AND arm_id = $2",
								  4, update_types, update_args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update arm %d", arm);
	}
	if (SPI_execute_with_args("UPDATE bandit.experiment SET state_time = pg_catalog.now(),"
							  "       version = version + 1 WHERE id = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update experiment " INT64_FORMAT, id);
	return folded;
}
