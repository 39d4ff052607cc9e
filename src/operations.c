/*
 * operations.c
 *		bandit_pause, bandit_resume, bandit_set_guardrail; the events log
 *		and the guardrail check that bandit_reward and bandit_refresh run.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "config.h"
#include "distributions.h"
#include "operations.h"
#include "posterior.h"

PG_FUNCTION_INFO_V1(bandit_pause);
PG_FUNCTION_INFO_V1(bandit_resume);
PG_FUNCTION_INFO_V1(bandit_set_guardrail);

void
record_event(int64 experiment_id, const char *experiment, const char *what,
			 const char *arm, const char *why)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5] = {Int64GetDatum(experiment_id), CStringGetTextDatum(experiment),
		CStringGetTextDatum(what),
		arm ? CStringGetTextDatum(arm) : (Datum) 0,
	why ? CStringGetTextDatum(why) : (Datum) 0};
	char		nulls[5] = {' ', ' ', ' ', arm ? ' ' : 'n', why ? ' ' : 'n'};

	if (!catalog_has_0_4())
		return;
	catalog_plan(&plan,
				 "INSERT INTO bandit.event (experiment_id, experiment_name, what, arm, why)"
				 " VALUES ($1, $2, $3, $4, $5)",
				 5, argtypes);
	if (SPI_execute_plan(plan, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record event");
}

/* Pause and guardrails live in columns and params of 0.4.0. */
static void
require_0_4(const char *function)
{
	if (!catalog_has_0_4())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s needs version 0.4.0 or later of the extension's tables", function),
				 errhint("Run ALTER EXTENSION bandit UPDATE.")));
}

/* The upper bound of the arm's mean reward at one-sided confidence level. */
static double
upper_bound(const ExperimentConfig *config, const ArmState *arm, double confidence)
{
	if (config->reward_type == REWARD_GAUSSIAN)
	{
		NormalPosterior p = {0};
		double		loc,
					scale,
					dof;

		p.n = arm->n;
		p.mean = arm->mean;
		p.kappa = arm->kappa;
		p.alpha = arm->alpha;
		p.beta = arm->beta;
		normal_posterior_marginal(&p, &loc, &scale, &dof);
		return loc + scale * dist_t_quantile(confidence, dof);
	}
	return dist_beta_quantile(confidence, arm->alpha, arm->beta);
}

/*
 * Before a trip, take the experiment row lock (as bandit_pause and
 * bandit_set_arm_enabled do) and look again, in a snapshot taken after it
 * (READ COMMITTED):
 * two sessions tripping two arms at once, or a trip beside a pause, must not
 * leave no enabled arm or a pause on a disabled arm.
 */
static bool
trip_still_allowed(int64 id, int32 arm_id)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(id), Int32GetDatum(arm_id)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT 1 FROM bandit.experiment WHERE id = $1 FOR NO KEY UPDATE",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not lock experiment " INT64_FORMAT, id);
	/*
	 * And its arm rows: under REPEATABLE READ or SERIALIZABLE the snapshot
	 * below is the transaction's, which cannot see a trip committed
	 * meanwhile; locking a row that trip changed fails with 40001 instead.
	 */
	if (SPI_execute_with_args("SELECT 1 FROM bandit.arm WHERE experiment_id = $1"
							  " ORDER BY arm_id FOR NO KEY UPDATE",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the arms of experiment " INT64_FORMAT, id);
	if (SPI_execute_with_args("SELECT a.enabled AND e.paused_arm IS DISTINCT FROM a.arm_id"
							  "       AND (SELECT count(*) FROM bandit.arm o"
							  "             WHERE o.experiment_id = $1 AND o.enabled) > 1"
							  "  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id"
							  " WHERE a.experiment_id = $1 AND a.arm_id = $2",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read arm %d", arm_id);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

void
guardrail_check(const char *experiment, int32 arm_id)
{
	ExperimentState *state = experiment_state(experiment, false);
	ExperimentConfig config = state->config;
	int			k = state->k;
	int			enabled = 0;
	int64		id = state->id;
	int			paused = state->paused;
	ArmState   *arms;
	int32	   *arm_ids;
	char	  **names;

	if (!config.guardrail || policy_is_contextual(config.policy))
		return;
	/* copies: disabling an arm changes the state, and the cache with it */
	arms = palloc(sizeof(ArmState) * k);
	arm_ids = palloc(sizeof(int32) * k);
	names = palloc(sizeof(char *) * k);
	for (int i = 0; i < k; i++)
	{
		arms[i] = state->arms[i];
		arm_ids[i] = state->arm_ids[i];
		names[i] = pstrdup(state->arm_names[i]);
		if (arms[i].enabled)
			enabled++;
	}

	for (int i = 0; i < k; i++)
	{
		double		upper;

		if ((arm_id != 0 && arm_ids[i] != arm_id) || !arms[i].enabled || i == paused ||
			arms[i].n < config.guardrail_min_pulls)
			continue;
		upper = upper_bound(&config, &arms[i], config.guardrail_confidence);
		if (!(upper < config.guardrail_min_reward) || enabled <= 1)
			continue;
		if (!trip_still_allowed(id, arm_ids[i]))
			continue;
		{
			Oid			argtypes[2] = {INT8OID, INT4OID};
			Datum		args[2] = {Int64GetDatum(id), Int32GetDatum(arm_ids[i])};

			if (SPI_execute_with_args("UPDATE bandit.arm SET enabled = false, version = version + 1"
									  " WHERE experiment_id = $1 AND arm_id = $2",
									  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not disable arm %d", arm_ids[i]);
		}
		enabled--;
		record_event(id, experiment, "guardrail tripped", names[i],
					 psprintf("upper %g%% bound of the mean reward %.6g is below min_reward %.6g after " INT64_FORMAT " rewards",
							  100.0 * config.guardrail_confidence, upper,
							  config.guardrail_min_reward, arms[i].n));
	}
}

/* ------------------------------------------------------------------------
 * bandit_pause(experiment, default_arm), bandit_resume(experiment)
 * ------------------------------------------------------------------------
 */
Datum
bandit_pause(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *arm;
	int64		id;
	int32		arm_id;
	bool		isnull;

	check_not_null(fcinfo, 0, "experiment");
	check_not_null(fcinfo, 1, "default_arm");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arm = text_to_cstring(PG_GETARG_TEXT_PP(1));

	catalog_begin(fcinfo);
	require_0_4("bandit_pause");
	id = experiment_id(name, true);
	{
		Oid			argtypes[2] = {INT8OID, TEXTOID};
		Datum		args[2] = {Int64GetDatum(id), CStringGetTextDatum(arm)};

		if (SPI_execute_with_args("SELECT arm_id, enabled FROM bandit.arm"
								  " WHERE experiment_id = $1 AND name = $2",
								  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read arm");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("arm \"%s\" does not exist in experiment \"%s\"", arm, name)));
		arm_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot pause experiment \"%s\" on arm \"%s\": the arm is disabled", name, arm),
					 errhint("Enable the arm first, or pause on an enabled arm.")));
	}
	{
		Oid			argtypes[2] = {INT8OID, INT4OID};
		Datum		args[2] = {Int64GetDatum(id), Int32GetDatum(arm_id)};

		if (SPI_execute_with_args("UPDATE bandit.experiment SET paused_arm = $2, version = version + 1"
								  " WHERE id = $1",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not pause experiment");
	}
	record_event(id, name, "paused", arm,
				 psprintf("every decision serves arm \"%s\" with propensity 1 until bandit_resume", arm));
	catalog_end();
	PG_RETURN_VOID();
}

Datum
bandit_resume(PG_FUNCTION_ARGS)
{
	char	   *name;
	int64		id;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];

	check_not_null(fcinfo, 0, "experiment");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	catalog_begin(fcinfo);
	require_0_4("bandit_resume");
	id = experiment_id(name, true);
	args[0] = Int64GetDatum(id);
	if (SPI_execute_with_args("UPDATE bandit.experiment SET paused_arm = NULL, version = version + 1"
							  " WHERE id = $1 AND paused_arm IS NOT NULL",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not resume experiment");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("experiment \"%s\" is not paused", name)));
	record_event(id, name, "resumed", NULL, "decisions come from the policy again");
	catalog_end();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * bandit_set_guardrail(experiment, min_reward, min_pulls, confidence)
 * ------------------------------------------------------------------------
 */
Datum
bandit_set_guardrail(PG_FUNCTION_ARGS)
{
	char	   *name;
	int64		id;
	ExperimentConfig config;

	check_not_null(fcinfo, 0, "experiment");
	check_not_null(fcinfo, 1, "min_reward");
	check_not_null(fcinfo, 2, "min_pulls");
	check_not_null(fcinfo, 3, "confidence");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	catalog_begin(fcinfo);
	require_0_4("bandit_set_guardrail");
	id = experiment_id(name, true);
	experiment_config(id, &config);
	if (policy_is_contextual(config.policy))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("guardrails are not supported for policy \"%s\"", policy_name(config.policy)),
				 errdetail("A contextual arm's mean reward depends on the context; a guardrail needs one posterior mean per arm.")));
	config_set_guardrail(&config, PG_GETARG_FLOAT8(1), PG_GETARG_INT64(2), PG_GETARG_FLOAT8(3));
	{
		Oid			argtypes[2] = {INT8OID, JSONBOID};
		Datum		args[2] = {Int64GetDatum(id), JsonbPGetDatum(config_to_params(&config))};

		if (SPI_execute_with_args("UPDATE bandit.experiment SET params = $2, version = version + 1"
								  " WHERE id = $1",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not set guardrail");
	}
	record_event(id, name, "guardrail set", NULL,
				 psprintf("disable an arm once, after at least " INT64_FORMAT " rewards, its upper %g%% bound of the mean reward is below %.6g",
						  config.guardrail_min_pulls, 100.0 * config.guardrail_confidence,
						  config.guardrail_min_reward));
	/* arms that already fall short are disabled now */
	guardrail_check(name, 0);
	catalog_end();
	PG_RETURN_VOID();
}
