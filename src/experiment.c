/*
 * experiment.c
 *		The SQL API: bandit_create, bandit_select, bandit_reward,
 *		bandit_refresh, bandit_policy_prob, bandit_add_arm,
 *		bandit_set_arm_enabled, bandit_drop.
 *
 * Functions that act never treat a NULL argument as "do nothing": a NULL
 * where a value is needed is an error, so no decision or reward vanishes.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/resowner.h"
#include "common/hashfn.h"
#include "port/pg_bswap.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "contextual.h"
#include "linear.h"
#include "config.h"
#include "forgetting.h"
#include "operations.h"
#include "policy.h"
#include "posterior.h"
#include "random.h"
#include "reward_slot.h"
#include "summation.h"

PG_FUNCTION_INFO_V1(bandit_create);
PG_FUNCTION_INFO_V1(bandit_select);
PG_FUNCTION_INFO_V1(bandit_reward);
PG_FUNCTION_INFO_V1(bandit_reward_unit);
PG_FUNCTION_INFO_V1(bandit_refresh);
PG_FUNCTION_INFO_V1(bandit_policy_prob);
PG_FUNCTION_INFO_V1(bandit_add_arm);
PG_FUNCTION_INFO_V1(bandit_set_arm_enabled);
PG_FUNCTION_INFO_V1(bandit_drop);
PG_FUNCTION_INFO_V1(bandit_arm_posteriors);

/* ------------------------------------------------------------------------
 * Argument checks
 * ------------------------------------------------------------------------
 */

static char *
nonempty_name(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *s;

	check_not_null(fcinfo, argno, argname);
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname)));
	return s;
}

/* The arm list of bandit_create: 1-D, non-empty, no NULL, empty or duplicate name. */
static ArrayType *
checked_arm_list(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *arms;
	Datum	   *names;
	bool	   *nulls;
	int			n;

	check_not_null(fcinfo, argno, "arms");
	arms = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arms) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("arms must be a one-dimensional array")));
	deconstruct_array(arms, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arms must not be empty"),
				 errhint("Give at least one arm name, e.g. ARRAY['a', 'b'].")));
	for (int i = 0; i < n; i++)
	{
		char	   *name;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arm names must not be NULL")));
		name = TextDatumGetCString(names[i]);
		if (name[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("arm names must not be empty")));
		for (int j = 0; j < i; j++)
			if (strcmp(name, TextDatumGetCString(names[j])) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("arm \"%s\" appears more than once", name)));
	}
	return arms;
}


/* ------------------------------------------------------------------------
 * bandit_create(name, arms, policy, params) RETURNS bigint
 * ------------------------------------------------------------------------
 */
Datum
bandit_create(PG_FUNCTION_ARGS)
{
	char	   *name = nonempty_name(fcinfo, 0, "name");
	ArrayType  *arms = checked_arm_list(fcinfo, 1);
	char	   *policy;
	Jsonb	   *params;
	ExperimentConfig config;
	int64		id;
	char	   *query;

	check_not_null(fcinfo, 2, "policy");
	check_not_null(fcinfo, 3, "params");
	policy = text_to_cstring(PG_GETARG_TEXT_PP(2));
	params = PG_GETARG_JSONB_P(3);
	config_from_params(&config, policy_from_name(policy), params);
	if (policy_is_contextual(config.policy) && !arm_has_linear_column())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("policy \"%s\" needs version 0.2.0 or later of the extension's tables",
						policy_name(config.policy)),
				 errhint("Run ALTER EXTENSION bandit UPDATE.")));

	catalog_begin(fcinfo);
	if ((config.sticky || config.reward_window != NULL || config.guardrail || config_forgets(&config)) &&
		!catalog_has_0_4())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("parameters \"sticky\", \"reward_window\", \"guardrail\", \"half_life\" and \"window\" need version 0.4.0 or later of the extension's tables"),
				 errhint("Run ALTER EXTENSION bandit UPDATE.")));
	{
		Oid			argtypes[3] = {TEXTOID, TEXTOID, JSONBOID};
		Datum		args[3] = {CStringGetTextDatum(name),
			CStringGetTextDatum(policy_name(config.policy)),
		JsonbPGetDatum(config_to_params(&config))};

		if (SPI_execute_with_args("INSERT INTO bandit.experiment (name, policy, params)"
								  " VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id",
								  3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not insert experiment");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("experiment \"%s\" already exists", name)));
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										 &(bool){false}));
	}
	{
		Oid			argtypes[3] = {INT8OID, TEXTARRAYOID, TEXTOID};
		Datum		args[3] = {Int64GetDatum(id), PointerGetDatum(arms),
		CStringGetTextDatum(config_prior_literal(&config))};

		query = psprintf("INSERT INTO bandit.arm (experiment_id, arm_id, name, %s)"
						 " SELECT $1, t.ord::int4, t.name, $3::%s"
						 "   FROM unnest($2) WITH ORDINALITY AS t(name, ord)",
						 config_posterior_column(&config), config_posterior_type(&config));
		if (SPI_execute_with_args(query, 3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert arms");
	}
	record_event(id, name, "created", NULL,
				 psprintf("policy %s, params %s", policy_name(config.policy),
						  JsonbToCString(NULL, &config_to_params(&config)->root, 0)));
	catalog_end();
	PG_RETURN_INT64(id);
}

/* ------------------------------------------------------------------------
 * bandit_select(experiment, context, unit)
 *		RETURNS TABLE(decision_id bigint, arm text, propensity float8)
 * ------------------------------------------------------------------------
 */

/*
 * A 64-bit hash of (experiment id, state version, unit).  The integers are
 * hashed in network byte order so a unit gets the same arm on servers of
 * either endianness.
 */
static uint64
unit_hash(int64 experiment_id, int64 state_version, text *unit)
{
	int			len = VARSIZE_ANY_EXHDR(unit);
	char	   *buf = palloc(2 * sizeof(int64) + len);
	uint64		id_be = pg_hton64((uint64) experiment_id);
	uint64		version_be = pg_hton64((uint64) state_version);
	uint64		h;

	memcpy(buf, &id_be, sizeof(int64));
	memcpy(buf + sizeof(int64), &version_be, sizeof(int64));
	memcpy(buf + 2 * sizeof(int64), VARDATA_ANY(unit), len);
	h = hash_bytes_extended((const unsigned char *) buf, 2 * sizeof(int64) + len, 0);
	pfree(buf);
	return h;
}

/* u in [0,1) from the top 53 bits of a hash */
static double
hash_uniform(uint64 h)
{
	return (double) (h >> 11) * (1.0 / 9007199254740992.0);	/* 2^-53 */
}

/*
 * Log a decision; kind is "policy", "paused" or "repeat" (tables older than
 * 0.4.0 have no kind column: only policy decisions are made there).
 */
static int64
insert_decision(const ExperimentState *state, const char *name, int arm, double propensity,
				const char *kind, Datum context, bool context_null, Datum unit, bool unit_null)
{
	MemoryContext caller_context = CurrentMemoryContext;
	int			rc = 0;
	static SPIPlanPtr plan = NULL;
	static SPIPlanPtr plan_0_3 = NULL;
	bool		has_kind = catalog_has_0_4();
	Oid			argtypes[7] = {INT8OID, INT4OID, FLOAT8OID, FLOAT8ARRAYOID, TEXTOID, INT8OID, TEXTOID};
	Datum		args[7] = {Int64GetDatum(state->id), Int32GetDatum(state->arm_ids[arm]),
		Float8GetDatum(propensity), context, unit,
		Int64GetDatum(state->state_version), CStringGetTextDatum(kind)};
	char		nulls[7] = {' ', ' ', ' ', context_null ? 'n' : ' ', unit_null ? 'n' : ' ', ' ', ' '};
	bool		isnull;

	if (has_kind)
		catalog_plan(&plan,
					 "INSERT INTO bandit.decision"
					 " (experiment_id, arm_id, propensity, context, unit, state_version, kind)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
					 7, argtypes);
	else
		catalog_plan(&plan_0_3,
					 "INSERT INTO bandit.decision"
					 " (experiment_id, arm_id, propensity, context, unit, state_version)"
					 " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
					 6, argtypes);
	/*
	 * The decision's foreign key to its arm fails only when the experiment
	 * was dropped after this select read it (a drop commits while the
	 * insert waits on the arm row): say so instead of naming the key.  The
	 * error is replaced, not handled, so no subtransaction is needed.
	 */
	PG_TRY();
	{
		rc = SPI_execute_plan(has_kind ? plan : plan_0_3, args, nulls, false, 0);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(caller_context);
		error = CopyErrorData();
		if (error->sqlerrcode != ERRCODE_FOREIGN_KEY_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("experiment \"%s\" was dropped concurrently", name),
				 errdetail("No decision was logged.")));
	}
	PG_END_TRY();
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not log decision");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The row type of bandit_select's result, built and blessed once per
 * backend (rebuilt only if the function is re-created with a new oid).
 */
static TupleDesc
select_result_desc(FunctionCallInfo fcinfo)
{
	static TupleDesc desc = NULL;
	static Oid	desc_function = InvalidOid;

	if (desc == NULL || desc_function != fcinfo->flinfo->fn_oid)
	{
		TupleDesc	call_desc;
		MemoryContext old;

		if (get_call_result_type(fcinfo, NULL, &call_desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "bandit_select must return a row type");
		old = MemoryContextSwitchTo(TopMemoryContext);
		if (desc != NULL)
			FreeTupleDesc(desc);
		desc = BlessTupleDesc(CreateTupleDescCopy(call_desc));
		MemoryContextSwitchTo(old);
		desc_function = fcinfo->flinfo->fn_oid;
	}
	return desc;
}

/*
 * The context argument of a call: NULL, or checked against the
 * experiment (contextual policies need exactly context_dim numbers; the
 * others log any one-dimensional array of finite numbers as given).
 */
static double *
call_context(FunctionCallInfo fcinfo, int argno, const ExperimentState *state, const char *name)
{
	int			len;
	bool		contextual = policy_is_contextual(state->config.policy);

	if (PG_ARGISNULL(argno))
	{
		if (contextual)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("experiment \"%s\" uses policy \"%s\" and needs a context",
							name, policy_name(state->config.policy)),
					 errhint("Pass context => an array of %d numbers.", state->config.context_dim)));
		return NULL;
	}
	return checked_context(PG_GETARG_ARRAYTYPE_P(argno),
						   contextual ? state->config.context_dim : 0, "context", &len);
}

/*
 * Choose an arm.  With a unit (argument 2), every draw comes from the hash
 * of (experiment, state version, unit), so the same unit in the same state
 * (and context) gets the same arm; otherwise from the backend's generator.
 */
static int
decide(const ExperimentState *state, const char *name, FunctionCallInfo fcinfo,
	   double *propensity)
{
	double	   *x = call_context(fcinfo, 1, state, name);
	pg_prng_state unit_prng;
	pg_prng_state *prng = bandit_random_state();
	double		u;
	int			arm;

	/* paused: the default arm, the same for everyone; nothing explores */
	if (state->paused >= 0)
	{
		*propensity = 1.0;
		return state->paused;
	}
	if (PG_ARGISNULL(2))
		u = bandit_random_uniform();
	else
	{
		uint64		h = unit_hash(state->id, state->state_version, PG_GETARG_TEXT_PP(2));

		u = hash_uniform(h);
		pg_prng_seed(&unit_prng, h);
		prng = &unit_prng;
	}
	if (policy_is_contextual(state->config.policy))
		return contextual_decide(state, name, x, u, prng, propensity);
	arm = policy_walk(state->k, state->probs, u);
	*propensity = state->probs[arm];
	return arm;
}

/*
 * A sticky experiment's unit keeps the arm of its latest policy decision
 * (its first, unless that arm was disabled since and it was drawn again):
 * returns that arm's index and the propensity it was drawn with, or -1 when
 * the unit has no such decision or the arm is disabled now.
 */
static int
sticky_arm(const ExperimentState *state, Datum unit, double *propensity)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(state->id), unit};
	bool		isnull;
	int32		arm_id;

	catalog_plan(&plan,
				 "SELECT arm_id, propensity FROM bandit.decision"
				 " WHERE experiment_id = $1 AND unit = $2 AND kind = 'policy'"
				 " ORDER BY id DESC LIMIT 1",
				 2, argtypes);
	if (SPI_execute_plan(plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the unit's decisions");
	if (SPI_processed == 0)
		return -1;
	arm_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*propensity = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	for (int i = 0; i < state->k; i++)
		if (state->arm_ids[i] == arm_id)
			return state->arms[i].enabled ? i : -1;
	return -1;
}

/*
 * One decision per call, returned through the value-per-call protocol: all
 * of the call's memory lives in the SRF's multi-call context, which is
 * freed when the row has been returned, so a statement may call
 * bandit_select millions of times (SELECT bandit_select(...) FROM big_table)
 * without growing.
 */
Datum
bandit_select(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext caller_context;
		char	   *name;
		ExperimentState *state;
		int			arm;
		char	   *arm_name;
		double		propensity;
		int64		decision_id;
		const char *kind;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		check_not_null(fcinfo, 0, "experiment");
		funcctx = SRF_FIRSTCALL_INIT();
		caller_context = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		name = text_to_cstring(PG_GETARG_TEXT_PP(0));

		catalog_begin(fcinfo);
		state = experiment_state(name, false);
		kind = state->paused >= 0 ? "paused" : "policy";
		if (state->config.sticky && !PG_ARGISNULL(2) && state->paused < 0 &&
			(arm = sticky_arm(state, PG_GETARG_DATUM(2), &propensity)) >= 0)
		{
			/* the unit's arm; the context is still checked and logged */
			(void) call_context(fcinfo, 1, state, name);
			kind = "repeat";
		}
		else
			arm = decide(state, name, fcinfo, &propensity);
		/* the insert may run user triggers that flush or reload the cached state */
		arm_name = MemoryContextStrdup(funcctx->multi_call_memory_ctx, state->arm_names[arm]);
		decision_id = insert_decision(state, name, arm, propensity, kind,
									  PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1),
									  PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
		catalog_end();

		values[0] = Int64GetDatum(decision_id);
		values[1] = CStringGetTextDatum(arm_name);
		values[2] = Float8GetDatum(propensity);
		funcctx->user_fctx = DatumGetPointer(
			HeapTupleGetDatum(heap_form_tuple(select_result_desc(fcinfo), values, nulls)));
		funcctx->max_calls = 1;
		MemoryContextSwitchTo(caller_context);
	}

	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr < funcctx->max_calls)
		SRF_RETURN_NEXT(funcctx, PointerGetDatum(funcctx->user_fctx));
	SRF_RETURN_DONE(funcctx);
}

/*
 * A contextual arm must stay solvable, or every later decision of its
 * experiment would fail: refuse (and so roll back) the reward that would make
 * its A numerically singular, e.g. one at a context with huge features.
 * Only the value's header is read, not the whole (possibly TOASTed) matrix.
 */
static void
check_arm_solvable(const char *arm, Datum linear, const char *hint)
{
	LinearPosterior *head = (LinearPosterior *)
		PG_DETOAST_DATUM_SLICE(linear, 0, offsetof(LinearPosterior, data));

	if (!(head->flags & LINEAR_POSTERIOR_FACTORED))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("reward not folded: the posterior of arm \"%s\" would become singular", arm),
				 errdetail("A = lambda*I + sum x x^T would not be numerically positive definite "
						   "(its condition number would exceed what a double can resolve)."),
				 errhint("%s", hint)));
}

/* ------------------------------------------------------------------------
 * bandit_reward(decision_id, reward) RETURNS void
 * ------------------------------------------------------------------------
 */
/*
 * Record (and fold, or queue) one reward of a decision: the body of
 * bandit_reward and bandit_reward_unit, between catalog_begin and
 * catalog_end.  A reward later than the experiment's reward_window is
 * logged as late and folded nowhere.
 */
static void
reward_decision(int64 decision_id, double reward)
{
	static SPIPlanPtr lookup_plan = NULL;
	static SPIPlanPtr log_plans[2] = {NULL, NULL};	/* [late] */
	static SPIPlanPtr online_plan = NULL;
	static SPIPlanPtr online_linear_plan = NULL;
	static SPIPlanPtr slot_plan = NULL;
	static SPIPlanPtr pending_plan = NULL;
	Datum		experiment_id,
				arm_id,
				propensity,
				context;
	bool		isnull,
				context_null,
				online,
				contextual;
	char	   *reward_type;
	char	   *experiment_name;
	bool		guardrail;
	bool		late;

	check_reward_finite(reward);
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(decision_id)};
		HeapTuple	tuple;
		TupleDesc	desc;

		catalog_plan(&lookup_plan,
					 "SELECT d.experiment_id, d.arm_id, d.propensity,"
					 "       e.params ->> 'reward_type', e.params ->> 'update',"
					 "       e.policy, d.context, e.name, e.params ? 'guardrail',"
					 "       coalesce(d.decided_at + (e.params ->> 'reward_window')::interval"
					 "                < pg_catalog.now(), false)"
					 "  FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id"
					 " WHERE d.id = $1",
					 1, argtypes);
		if (SPI_execute_plan(lookup_plan, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up decision " INT64_FORMAT, decision_id);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("decision " INT64_FORMAT " does not exist", decision_id)));
		tuple = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		experiment_id = SPI_getbinval(tuple, desc, 1, &isnull);
		arm_id = SPI_getbinval(tuple, desc, 2, &isnull);
		propensity = SPI_getbinval(tuple, desc, 3, &isnull);
		reward_type = SPI_getvalue(tuple, desc, 4);
		online = strcmp(SPI_getvalue(tuple, desc, 5), "online") == 0;
		contextual = policy_is_contextual(policy_from_name(SPI_getvalue(tuple, desc, 6)));
		context = SPI_getbinval(tuple, desc, 7, &context_null);
		experiment_name = SPI_getvalue(tuple, desc, 8);
		guardrail = DatumGetBool(SPI_getbinval(tuple, desc, 9, &isnull));
		late = DatumGetBool(SPI_getbinval(tuple, desc, 10, &isnull));
		if (contextual && context_null)
			report_inconsistent_tables(psprintf("Decision " INT64_FORMAT " of a contextual experiment has no context.",
												decision_id));
	}
	if (strcmp(reward_type, "bernoulli") == 0)
		check_reward_unit_interval(reward);
	else
		check_reward_gaussian_range(reward);

	{
		Oid			argtypes[5] = {INT8OID, INT8OID, INT4OID, FLOAT8OID, BOOLOID};
		Datum		args[5] = {Int64GetDatum(decision_id), experiment_id, arm_id,
		Float8GetDatum(reward), BoolGetDatum(late)};

		/*
		 * The primary key makes a second reward impossible, concurrency
		 * included.  (Only experiments with a reward_window, which need the
		 * tables of 0.4.0, have late rewards.)
		 */
		catalog_plan(&log_plans[late],
					 late
					 ? "INSERT INTO bandit.reward (decision_id, experiment_id, arm_id, reward, late)"
					 " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (decision_id) DO NOTHING"
					 " RETURNING decision_id"
					 : "INSERT INTO bandit.reward (decision_id, experiment_id, arm_id, reward)"
					 " VALUES ($1, $2, $3, $4) ON CONFLICT (decision_id) DO NOTHING"
					 " RETURNING decision_id",
					 late ? 5 : 4, argtypes);
		if (SPI_execute_plan(log_plans[late], args, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not log reward");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("decision " INT64_FORMAT " already has a reward", decision_id),
					 errdetail("Each decision takes exactly one reward.")));
	}

	if (late)
		return;					/* logged, counted by bandit_arm_stats, never folded */
	if (online && contextual)
	{
		Oid			argtypes[5] = {INT8OID, INT4OID, FLOAT8OID, FLOAT8OID, FLOAT8ARRAYOID};
		Datum		args[5] = {experiment_id, arm_id, Float8GetDatum(reward), propensity, context};

		catalog_plan(&online_linear_plan,
					 "UPDATE bandit.arm SET linear = linear_posterior_update(linear, $5, $3),"
					 "       ipw_sum = ipw_sum + $3 / $4, version = version + 1"
					 " WHERE experiment_id = $1 AND arm_id = $2 RETURNING name, linear",
					 5, argtypes);
		if (SPI_execute_plan(online_linear_plan, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not update arm posterior");
		check_arm_solvable(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						   SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull),
						   "Scale the context features (or use a larger lambda); nothing was changed.");
	}
	else if (online && catalog_has_0_4())
	{
		Oid			argtypes[5] = {INT8OID, INT4OID, INT4OID, FLOAT8OID, FLOAT8OID};
		Datum		args[5] = {experiment_id, Int32GetDatum(reward_slot_of_backend()), arm_id,
		Float8GetDatum(reward), propensity};

		/*
		 * This backend's slot row: sessions rewarding the same arm write
		 * different rows, so none waits for another's commit.
		 */
		catalog_plan(&slot_plan,
					 "INSERT INTO bandit.reward_slot AS s (experiment_id, slot, version, stats)"
					 " VALUES ($1, $2, 1, bandit.reward_slot_add('{}', $3, $4, $5))"
					 " ON CONFLICT (experiment_id, slot) DO UPDATE"
					 " SET version = s.version + 1, stats = bandit.reward_slot_add(s.stats, $3, $4, $5)",
					 5, argtypes);
		if (SPI_execute_plan(slot_plan, args, NULL, false, 0) != SPI_OK_INSERT || SPI_processed != 1)
			elog(ERROR, "could not record online reward");
	}
	else if (online)
	{
		/* a database still at 0.3.0 or older: no reward slots */
		Oid			argtypes[4] = {INT8OID, INT4OID, FLOAT8OID, FLOAT8OID};
		Datum		args[4] = {experiment_id, arm_id, Float8GetDatum(reward), propensity};

		catalog_plan(&online_plan,
					 "UPDATE bandit.arm SET beta = posterior_update(beta, $3),"
					 "       normal = posterior_update(normal, $3),"
					 "       ipw_sum = ipw_sum + $3 / $4, version = version + 1"
					 " WHERE experiment_id = $1 AND arm_id = $2",
					 4, argtypes);
		if (SPI_execute_plan(online_plan, args, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "could not update arm posterior");
	}
	else
	{
		Oid			argtypes[5] = {INT8OID, INT8OID, INT4OID, FLOAT8OID, FLOAT8OID};
		Datum		args[5] = {Int64GetDatum(decision_id), experiment_id, arm_id,
		Float8GetDatum(reward), propensity};

		catalog_plan(&pending_plan,
					 "INSERT INTO bandit.pending_reward"
					 " (decision_id, experiment_id, arm_id, reward, propensity)"
					 " VALUES ($1, $2, $3, $4, $5)",
					 5, argtypes);
		if (SPI_execute_plan(pending_plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not queue reward");
	}
	/* an online reward is folded now: the arm may trip the guardrail now */
	if (online && guardrail)
		guardrail_check(experiment_name, DatumGetInt32(arm_id));
}

Datum
bandit_reward(PG_FUNCTION_ARGS)
{
	check_not_null(fcinfo, 0, "decision_id");
	check_not_null(fcinfo, 1, "reward");
	catalog_begin(fcinfo);
	reward_decision(PG_GETARG_INT64(0), PG_GETARG_FLOAT8(1));
	catalog_end();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * bandit_reward_unit(experiment, unit, reward) RETURNS bigint
 *
 * For conversion events that know the unit but not the decision: credits
 * the unit's latest decision that has no reward yet and is still inside the
 * experiment's reward_window (any age without one).  Returns the decision's
 * id, or NULL when there is none to credit (nothing is recorded then).
 * ------------------------------------------------------------------------
 */
Datum
bandit_reward_unit(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	int64		decision_id;
	bool		isnull;

	check_not_null(fcinfo, 0, "experiment");
	check_not_null(fcinfo, 1, "unit");
	check_not_null(fcinfo, 2, "reward");
	check_reward_finite(PG_GETARG_FLOAT8(2));
	catalog_begin(fcinfo);
	if (!catalog_has_0_4())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("bandit_reward_unit needs version 0.4.0 or later of the extension's tables"),
				 errhint("Run ALTER EXTENSION bandit UPDATE.")));
	args[0] = Int64GetDatum(experiment_id(text_to_cstring(PG_GETARG_TEXT_PP(0)), false));
	args[1] = PG_GETARG_DATUM(1);
	catalog_plan(&plan,
				 "SELECT d.id FROM bandit.decision d JOIN bandit.experiment e ON e.id = d.experiment_id"
				 " WHERE d.experiment_id = $1 AND d.unit = $2"
				 "   AND NOT EXISTS (SELECT 1 FROM bandit.reward r WHERE r.decision_id = d.id)"
				 "   AND coalesce(d.decided_at + (e.params ->> 'reward_window')::interval"
				 "                >= pg_catalog.now(), true)"
				 " ORDER BY d.id DESC LIMIT 1",
				 2, argtypes);
	if (SPI_execute_plan(plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the unit's decisions");
	if (SPI_processed == 0)
	{
		catalog_end();
		PG_RETURN_NULL();
	}
	decision_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	reward_decision(decision_id, PG_GETARG_FLOAT8(2));
	catalog_end();
	PG_RETURN_INT64(decision_id);
}

/* ------------------------------------------------------------------------
 * bandit_refresh(experiment DEFAULT NULL) RETURNS bigint
 * ------------------------------------------------------------------------
 */


/* The largest arm_id in column 1 of an SPI result. */
static int
max_arm_id(SPITupleTable *arms)
{
	int			max_arm = 0;
	bool		isnull;

	for (uint64 i = 0; i < arms->numvals; i++)
		max_arm = Max(max_arm, DatumGetInt32(SPI_getbinval(arms->vals[i], arms->tupdesc, 1, &isnull)));
	return max_arm;
}

/*
 * Take one experiment's pending rewards (pending_query, $1 = the id; it
 * deletes them) and lock its arm rows (arms_query).  Returns how many
 * rewards were taken; *arms is set only when there were some.
 */
static int64
take_pending(int64 id, const char *pending_query, int pending_status, const char *arms_query,
			 SPITupleTable **pending, SPITupleTable **arms)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	int64		taken;

	if (SPI_execute_with_args(pending_query, 1, argtypes, args, NULL, false, 0) != pending_status)
		elog(ERROR, "could not take pending rewards");
	taken = (int64) SPI_processed;
	*pending = SPI_tuptable;
	if (taken == 0)
		return 0;
	if (SPI_execute_with_args(arms_query, 1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read arms");
	*arms = SPI_tuptable;
	return taken;
}

/*
 * Fold a contextual experiment's pending rewards: per arm, the logged
 * contexts and rewards go through the same blocked accumulation as
 * linear_posterior_agg, then one refactorisation per arm.
 */
static int64
refresh_contextual(int64 id, const ExperimentConfig *config)
{
	SPITupleTable *pending;
	SPITupleTable *arms;
	int64		folded;
	int			max_arm;
	LinearAccumulator *acc;
	CompensatedSum *ipw;
	bool		isnull;
	Oid			linear_type;

	folded = take_pending(id,
						  "WITH p AS (DELETE FROM bandit.pending_reward WHERE experiment_id = $1"
						  "           RETURNING decision_id, arm_id, reward, propensity)"
						  " SELECT p.arm_id, p.reward, p.propensity, d.context"
						  "   FROM p LEFT JOIN bandit.decision d ON d.id = p.decision_id",
						  SPI_OK_SELECT,
						  "SELECT arm_id, linear, name FROM bandit.arm"
						  " WHERE experiment_id = $1 ORDER BY arm_id FOR NO KEY UPDATE",
						  &pending, &arms);
	if (folded == 0)
		return 0;
	linear_type = SPI_gettypeid(arms->tupdesc, 2);
	max_arm = max_arm_id(arms);

	acc = palloc0(sizeof(LinearAccumulator) * (max_arm + 1));
	ipw = palloc0(sizeof(CompensatedSum) * (max_arm + 1));
	for (uint64 i = 0; i < pending->numvals; i++)
	{
		HeapTuple	t = pending->vals[i];
		int32		arm = DatumGetInt32(SPI_getbinval(t, pending->tupdesc, 1, &isnull));
		double		r = DatumGetFloat8(SPI_getbinval(t, pending->tupdesc, 2, &isnull));
		double		p = DatumGetFloat8(SPI_getbinval(t, pending->tupdesc, 3, &isnull));
		Datum		context = SPI_getbinval(t, pending->tupdesc, 4, &isnull);
		int			len;
		double	   *x;

		if (arm < 1 || arm > max_arm || isnull)
			report_inconsistent_tables("A pending reward of a contextual experiment has no arm or no context.");
		x = checked_context(DatumGetArrayTypeP(context), config->context_dim, "logged context", &len);
		if (acc[arm].dim == 0)
			linear_accumulator_init(&acc[arm], config->context_dim, config->lambda);
		linear_accumulator_add(&acc[arm], x, r);
		compensated_add(&ipw[arm], r / p);
	}

	for (uint64 i = 0; i < arms->numvals; i++)
	{
		HeapTuple	t = arms->vals[i];
		int32		arm = DatumGetInt32(SPI_getbinval(t, arms->tupdesc, 1, &isnull));
		Datum		linear = SPI_getbinval(t, arms->tupdesc, 2, &isnull);
		Oid			argtypes[4] = {INT8OID, INT4OID, linear_type, FLOAT8OID};
		Datum		args[4];

		if (acc[arm].n == 0)
			continue;
		if (isnull)
			report_inconsistent_tables("An arm of a contextual experiment has no linear posterior.");
		if (DatumGetLinearPosterior(linear)->dim != config->context_dim)
			report_inconsistent_tables(psprintf("Arm %d has a posterior of dimension %d in an experiment of dimension %d.",
												arm, DatumGetLinearPosterior(linear)->dim,
												config->context_dim));
		args[0] = Int64GetDatum(id);
		args[1] = Int32GetDatum(arm);
		args[2] = PointerGetDatum(linear_posterior_fold(DatumGetLinearPosterior(linear), &acc[arm]));
		check_arm_solvable(SPI_getvalue(t, arms->tupdesc, 3), args[2],
						   "Nothing was changed.  Delete the pending rewards of decisions with extreme"
						   " contexts from bandit.pending_reward, then refresh again.");
		args[3] = Float8GetDatum(compensated_value(&ipw[arm]));
		if (SPI_execute_with_args("UPDATE bandit.arm SET linear = $3, ipw_sum = ipw_sum + $4"
								  " WHERE experiment_id = $1 AND arm_id = $2",
								  4, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update arm %d", arm);
	}
	experiment_bump_version(id, 1);
	return folded;
}

/*
 * Take the online rewards of one experiment's reward slots: delete the slot
 * rows no session is writing (SKIP LOCKED: a refresh never waits for a
 * rewarding transaction, so the two cannot deadlock; a slot skipped now is
 * folded by a later refresh and counts at every read meanwhile).  Returns
 * the deleted rows (version, stats), or NULL for a database without slots.
 */
static SPITupleTable *
take_reward_slots(int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};

	if (!catalog_has_0_4())
		return NULL;
	if (SPI_execute_with_args("WITH s AS (SELECT slot FROM bandit.reward_slot WHERE experiment_id = $1"
							  "           FOR UPDATE SKIP LOCKED)"
							  " DELETE FROM bandit.reward_slot r USING s"
							  "  WHERE r.experiment_id = $1 AND r.slot = s.slot"
							  " RETURNING r.version, r.stats",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not take reward slots");
	return SPI_tuptable;
}

/*
 * Fold one experiment's pending rewards, and move its online rewards from
 * the reward slots into the arm rows.  The caller holds the experiment row
 * lock, so refreshes of one experiment run one at a time; DELETE ...
 * RETURNING takes exactly the rows this snapshot sees, and rewards committed
 * meanwhile stay pending for the next refresh: each is folded exactly once.
 * Returns the number of pending rewards folded.
 */
static int64
refresh_experiment(int64 id, const char *name)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	SPITupleTable *pending;
	SPITupleTable *slots;
	SPITupleTable *arms;
	int64		folded;
	int64		slot_versions = 0;
	int			max_arm;
	ArmBatch   *batch;
	bool		isnull;
	Oid			beta_type,
				normal_type;
	ExperimentConfig config;

	experiment_config(id, &config);
	if (policy_is_contextual(config.policy))
		return refresh_contextual(id, &config);
	if (config_forgets(&config))
	{
		folded = refresh_forgetting(id, &config);
		if (config.guardrail)
			guardrail_check(name, 0);
		return folded;
	}

	if (SPI_execute_with_args("DELETE FROM bandit.pending_reward WHERE experiment_id = $1"
							  " RETURNING arm_id, reward, propensity",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not take pending rewards");
	pending = SPI_tuptable;
	folded = (int64) SPI_processed;
	slots = take_reward_slots(id);
	if (folded == 0 && (slots == NULL || slots->numvals == 0))
		return 0;
	if (SPI_execute_with_args("SELECT arm_id, beta, normal FROM bandit.arm"
							  " WHERE experiment_id = $1 ORDER BY arm_id FOR NO KEY UPDATE",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read arms");
	arms = SPI_tuptable;
	beta_type = SPI_gettypeid(arms->tupdesc, 2);
	normal_type = SPI_gettypeid(arms->tupdesc, 3);
	max_arm = max_arm_id(arms);

	batch = palloc0(sizeof(ArmBatch) * (max_arm + 1));
	for (uint64 i = 0; i < pending->numvals; i++)
	{
		HeapTuple	t = pending->vals[i];
		int32		arm = DatumGetInt32(SPI_getbinval(t, pending->tupdesc, 1, &isnull));
		double		r = DatumGetFloat8(SPI_getbinval(t, pending->tupdesc, 2, &isnull));
		double		p = DatumGetFloat8(SPI_getbinval(t, pending->tupdesc, 3, &isnull));

		if (arm < 1 || arm > max_arm)
			report_inconsistent_tables(psprintf("A pending reward names arm %d, which does not exist.", arm));
		arm_batch_add(&batch[arm], r, p);
	}
	for (uint64 i = 0; slots != NULL && i < slots->numvals; i++)
	{
		HeapTuple	t = slots->vals[i];

		slot_versions += DatumGetInt64(SPI_getbinval(t, slots->tupdesc, 1, &isnull));
		reward_slot_unpack(DatumGetArrayTypeP(SPI_getbinval(t, slots->tupdesc, 2, &isnull)),
						   max_arm, batch);
	}

	for (uint64 i = 0; i < arms->numvals; i++)
	{
		HeapTuple	t = arms->vals[i];
		int32		arm = DatumGetInt32(SPI_getbinval(t, arms->tupdesc, 1, &isnull));
		Datum		beta = SPI_getbinval(t, arms->tupdesc, 2, &isnull);
		bool		beta_null = isnull;
		Datum		normal = SPI_getbinval(t, arms->tupdesc, 3, &isnull);
		bool		normal_null = isnull;
		Oid			update_types[5] = {INT8OID, INT4OID, beta_type, normal_type, FLOAT8OID};
		Datum		update_args[5];
		char		nulls[5] = {' ', ' ', beta_null ? 'n' : ' ', normal_null ? 'n' : ' ', ' '};

		if (batch[arm].n == 0)
			continue;
		update_args[0] = Int64GetDatum(id);
		update_args[1] = Int32GetDatum(arm);
		update_args[2] = beta_null ? (Datum) 0 :
			PointerGetDatum(beta_posterior_fold(DatumGetBetaPosterior(beta), batch[arm].n,
												compensated_value(&batch[arm].successes),
												compensated_value(&batch[arm].failures)));
		update_args[3] = normal_null ? (Datum) 0 :
			PointerGetDatum(normal_posterior_fold(DatumGetNormalPosterior(normal),
												  &batch[arm].gaussian));
		update_args[4] = Float8GetDatum(compensated_value(&batch[arm].ipw));
		if (SPI_execute_with_args("UPDATE bandit.arm SET beta = $3, normal = $4,"
								  " ipw_sum = ipw_sum + $5"
								  " WHERE experiment_id = $1 AND arm_id = $2",
								  5, update_types, update_args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update arm %d", arm);
	}

	/*
	 * The deleted slots' versions leave the state version's sum: add them to
	 * the experiment's, plus one for the change, so the sum still grows.
	 */
	experiment_bump_version(id, slot_versions + 1);
	if (config.guardrail)
		guardrail_check(name, 0);
	return folded;
}

/*
 * Refresh one experiment of a refresh of all, in a subtransaction: an
 * experiment whose pending rewards cannot be folded (an error about its
 * data) is reported with a WARNING and left as it was, and the others are
 * still folded, so a scheduled bandit_refresh() is not stopped by one
 * experiment.  Cancels, timeouts and the like still end the call.
 */
/*
 * Errors about one experiment's data (class 22, data exceptions, and the
 * like) are that experiment's; a cancel, a timeout, a lack of resources, a
 * serialisation failure or an internal error concern the whole call.
 */
static bool
refresh_error_is_local(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	/* one experiment's rows changed by hand (report_inconsistent_tables) */
	if (sqlerrcode == ERRCODE_DATA_CORRUPTED)
		return true;
	return !(category == ERRCODE_TRANSACTION_ROLLBACK ||
			 category == ERRCODE_INSUFFICIENT_RESOURCES ||
			 category == ERRCODE_OPERATOR_INTERVENTION ||
			 category == ERRCODE_SYSTEM_ERROR ||
			 category == ERRCODE_INTERNAL_ERROR ||
			 category == ERRCODE_PROGRAM_LIMIT_EXCEEDED);
}

static int64
refresh_isolated(int64 id, const char *name)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	int64		folded = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		folded = refresh_experiment(id, name);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(caller_context);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		if (!refresh_error_is_local(error->sqlerrcode))
			ReThrowError(error);
		ereport(WARNING,
				(errcode(error->sqlerrcode),
				 errmsg("experiment \"%s\" not refreshed: %s", name, error->message),
				 error->detail ? errdetail_internal("%s", error->detail) : 0,
				 error->hint ? errhint("%s", error->hint) : 0));
		FreeErrorData(error);
		folded = 0;
	}
	PG_END_TRY();
	return folded;
}

Datum
bandit_refresh(PG_FUNCTION_ARGS)
{
	int64		folded = 0;
	int64	   *ids;
	char	  **names = NULL;
	uint64		count;

	catalog_begin(fcinfo);
	if (!PG_ARGISNULL(0))
	{
		ids = palloc(sizeof(int64));
		ids[0] = experiment_id(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
		count = 1;
	}
	else
	{
		bool		isnull;

		/* lock in id order so two refreshes of everything cannot deadlock */
		if (SPI_execute("SELECT id, name FROM bandit.experiment ORDER BY id FOR NO KEY UPDATE",
						false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not list experiments");
		count = SPI_processed;
		ids = palloc(sizeof(int64) * (count + 1));
		names = palloc(sizeof(char *) * (count + 1));
		for (uint64 i = 0; i < count; i++)
		{
			ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		}
	}
	if (!PG_ARGISNULL(0))
		folded = refresh_experiment(ids[0], text_to_cstring(PG_GETARG_TEXT_PP(0)));
	else
		for (uint64 i = 0; i < count; i++)
			folded += refresh_isolated(ids[i], names[i]);
	catalog_end();
	PG_RETURN_INT64(folded);
}

/* ------------------------------------------------------------------------
 * bandit_policy_prob(experiment, arm, context) RETURNS float8
 * ------------------------------------------------------------------------
 */
Datum
bandit_policy_prob(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *arm;
	ExperimentState *state;
	double		prob;
	int			arm_index;

	check_not_null(fcinfo, 0, "experiment");
	check_not_null(fcinfo, 1, "arm");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arm = text_to_cstring(PG_GETARG_TEXT_PP(1));

	catalog_begin(fcinfo);
	state = experiment_state(name, true);
	arm_index = experiment_arm_index(state, name, arm);
	{
		double	   *x = call_context(fcinfo, 2, state, name);

		prob = state->paused >= 0 ? (arm_index == state->paused ? 1.0 : 0.0)
			: policy_is_contextual(state->config.policy)
			? contextual_probability(state, name, x, arm_index)
			: state->probs[arm_index];
	}
	catalog_end();
	PG_RETURN_FLOAT8(prob);
}

/* ------------------------------------------------------------------------
 * Arms and experiments: add, enable/disable, drop
 * ------------------------------------------------------------------------
 */


Datum
bandit_add_arm(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *arm = nonempty_name(fcinfo, 1, "arm");
	int64		id;
	ExperimentConfig config;

	check_not_null(fcinfo, 0, "experiment");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	catalog_begin(fcinfo);
	id = experiment_id(name, true);
	experiment_config(id, &config);
	{
		Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
		Datum		args[3] = {Int64GetDatum(id), CStringGetTextDatum(arm),
		CStringGetTextDatum(config_prior_literal(&config))};
		char	   *query;

		if (SPI_execute_with_args("SELECT 1 FROM bandit.arm WHERE experiment_id = $1 AND name = $2",
								  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read arms");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("arm \"%s\" already exists in experiment \"%s\"", arm, name)));
		query = psprintf("INSERT INTO bandit.arm (experiment_id, arm_id, name, %s)"
						 " SELECT $1, COALESCE(max(arm_id), 0) + 1, $2, $3::%s"
						 "   FROM bandit.arm WHERE experiment_id = $1",
						 config_posterior_column(&config), config_posterior_type(&config));
		if (SPI_execute_with_args(query, 3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert arm");
	}
	experiment_bump_version(id, 1);
	record_event(id, name, "arm added", arm, "bandit_add_arm, at the prior");
	catalog_end();
	PG_RETURN_VOID();
}

Datum
bandit_set_arm_enabled(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *arm;
	bool		enabled;
	int64		id;
	Oid			argtypes[3] = {INT8OID, TEXTOID, BOOLOID};
	Datum		args[3];

	check_not_null(fcinfo, 0, "experiment");
	check_not_null(fcinfo, 1, "arm");
	check_not_null(fcinfo, 2, "enabled");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arm = text_to_cstring(PG_GETARG_TEXT_PP(1));
	enabled = PG_GETARG_BOOL(2);

	catalog_begin(fcinfo);
	id = experiment_id(name, true);
	args[0] = Int64GetDatum(id);
	args[1] = CStringGetTextDatum(arm);
	args[2] = BoolGetDatum(enabled);
	if (SPI_execute_with_args(catalog_has_0_4()
							  ? "SELECT a.enabled, e.paused_arm IS NOT DISTINCT FROM a.arm_id"
							  "  FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id"
							  " WHERE a.experiment_id = $1 AND a.name = $2"
							  : "SELECT enabled, false FROM bandit.arm WHERE experiment_id = $1 AND name = $2",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read arm");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("arm \"%s\" does not exist in experiment \"%s\"", arm, name)));
	/* no change, no new state version: caches and unit assignments stay */
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false})) == enabled)
	{
		catalog_end();
		PG_RETURN_VOID();
	}
	if (!enabled && DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &(bool){false})))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot disable arm \"%s\": experiment \"%s\" is paused on it", arm, name),
				 errhint("Resume the experiment, or pause it on another arm, first.")));
	if (SPI_execute_with_args("UPDATE bandit.arm SET enabled = $3"
							  " WHERE experiment_id = $1 AND name = $2",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update arm");
	if (!enabled)
	{
		bool		isnull;

		if (SPI_execute_with_args("SELECT count(*) FROM bandit.arm"
								  " WHERE experiment_id = $1 AND enabled",
								  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not count arms");
		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot disable arm \"%s\": it is the last enabled arm of experiment \"%s\"",
							arm, name),
					 errhint("Enable another arm first, or drop the experiment.")));
	}
	experiment_bump_version(id, 1);
	record_event(id, name, enabled ? "arm enabled" : "arm disabled", arm, "bandit_set_arm_enabled");
	catalog_end();
	PG_RETURN_VOID();
}

Datum
bandit_drop(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	char	   *name;

	check_not_null(fcinfo, 0, "experiment");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args[0] = CStringGetTextDatum(name);

	catalog_begin(fcinfo);
	if (SPI_execute_with_args("DELETE FROM bandit.experiment WHERE name = $1 RETURNING id",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not drop experiment");
	if (SPI_processed == 0)
		report_unknown_experiment(name);
	{
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
													 &(bool){false}));

		experiment_state_forget(id);
		record_event(id, name, "dropped", NULL, "bandit_drop: its arms, decisions and rewards are deleted");
	}
	catalog_end();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * bandit.arm_posteriors(experiment) RETURNS TABLE (arm_id, beta, normal)
 *
 * Internal, for bandit_arm_stats: each arm's posterior as bandit_select
 * sees it, the arm row plus the online rewards still in reward slots.
 * Contextual arms get two NULLs (their posterior is the arm row's linear).
 * ------------------------------------------------------------------------
 */
Datum
bandit_arm_posteriors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ExperimentState *state;

	check_not_null(fcinfo, 0, "experiment");
	InitMaterializedSRF(fcinfo, 0);
	catalog_begin(fcinfo);
	state = experiment_state(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	for (int i = 0; i < state->k; i++)
	{
		const ArmState *arm = &state->arms[i];
		Datum		values[3] = {Int32GetDatum(state->arm_ids[i]), (Datum) 0, (Datum) 0};
		bool		nulls[3] = {false, true, true};

		if (policy_is_contextual(state->config.policy))
			;
		else if (state->config.reward_type == REWARD_GAUSSIAN)
		{
			values[2] = PointerGetDatum(make_normal_posterior(arm->n, arm->mean, arm->kappa,
															  arm->alpha, arm->beta));
			nulls[2] = false;
		}
		else
		{
			values[1] = PointerGetDatum(make_beta_posterior(arm->n, arm->alpha, arm->beta));
			nulls[1] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	catalog_end();
	return (Datum) 0;
}
