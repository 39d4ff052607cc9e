/*
 * evaluate.c
 *		Off-policy evaluation of a candidate policy on an experiment's own
 *		log: bandit_evaluate (IPS, SNIPS, DM, DR, SNDR with a cross-fitted
 *		reward model) and bandit_replay (Li et al. 2011).
 *
 * The candidate is any configuration bandit_create accepts.  Its state is
 * trained on the log itself, in one of two ways (params "training"):
 *   online  (default) before each logged decision, the candidate has folded
 *           exactly the rewards of the earlier decisions (in decided_at, id
 *           order), as if it had run beside the logging policy on the same
 *           data;
 *   frozen  the candidate has folded every reward of the log, as it would
 *           stand now, and is evaluated with that one state.
 * Only rewarded decisions are evaluated.  The reward model of DM and DR is
 * per-arm posterior means (the experiment's prior), or a ridge regression
 * per arm when the experiment or the candidate is contextual, cross-fitted
 * over "folds" folds (by decision id) so that no row's reward is used to
 * predict that row; folds are taken by position in the decision-ordered log.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "catalog.h"
#include "contextual.h"
#include "linear.h"
#include "ope.h"
#include "policy.h"
#include "posterior.h"
#include "random.h"

PG_FUNCTION_INFO_V1(bandit_evaluate);
PG_FUNCTION_INFO_V1(bandit_replay);

typedef struct LoggedRow
{
	int64		decision_id;
	int			arm;			/* index into the experiment's arms */
	double		propensity;
	double		reward;
	double	   *context;		/* NULL when none was logged */
} LoggedRow;

typedef struct Log
{
	int			nrows;
	LoggedRow  *rows;
	int			dim;			/* context length (0 if the candidate and model need none) */
} Log;

typedef struct EvaluationOptions
{
	bool		online;			/* training: online (else frozen) */
	int			folds;
} EvaluationOptions;

/* n x k doubles, or n rows: logs may pass the 1 GB of a plain palloc */
static void *
huge_alloc(Size count, Size size)
{
	return palloc_extended(Max(count, 1) * size, MCXT_ALLOC_HUGE);
}

/* ------------------------------------------------------------------------
 * The candidate configuration
 * ------------------------------------------------------------------------
 */

static Jsonb *
jsonb_without(Jsonb *params, const char *key)
{
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(params),
											  CStringGetTextDatum(key)));
}

static JsonbValue *
jsonb_key(Jsonb *params, const char *key)
{
	return getKeyJsonValueFromContainer(&params->root, key, strlen(key), NULL);
}

/*
 * The candidate's configuration from its policy and params, with the
 * evaluation's own options (training, folds) taken out; reward_type and,
 * for a contextual candidate of a contextual experiment, context_dim are
 * inherited from the experiment unless given.
 */
static void
candidate_config(const ExperimentConfig *experiment, const char *policy, Jsonb *params,
				 ExperimentConfig *candidate, EvaluationOptions *options)
{
	BanditPolicy cand_policy = policy_from_name(policy);
	JsonbValue *v;
	StringInfoData defaults;

	if (!JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params must be a JSON object")));
	options->online = true;
	options->folds = 5;
	if ((v = jsonb_key(params, "training")) != NULL)
	{
		char	   *s = v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : "";

		if (strcmp(s, "frozen") == 0)
			options->online = false;
		else if (strcmp(s, "online") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"training\" must be \"online\" or \"frozen\"")));
		params = jsonb_without(params, "training");
	}
	if ((v = jsonb_key(params, "folds")) != NULL)
	{
		double		folds = v->type == jbvNumeric
			? DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)))
			: -1;

		if (folds != floor(folds) || folds < 2 || folds > 20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"folds\" must be an integer between 2 and 20")));
		options->folds = (int) folds;
		params = jsonb_without(params, "folds");
	}

	/* a deliberate limit (documented, 0A000): a forgetting candidate would need the log replayed as of each decision's time */
	if (jsonb_key(params, "half_life") != NULL || jsonb_key(params, "window") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("candidates with \"half_life\" or \"window\" cannot be evaluated"),
				 errdetail("The candidate would have to be trained on the log as of each logged decision's time.")));

	initStringInfo(&defaults);
	appendStringInfo(&defaults, "{\"reward_type\": \"%s\"",
					 experiment->reward_type == REWARD_GAUSSIAN ? "gaussian" : "bernoulli");
	if (policy_is_contextual(cand_policy) && policy_is_contextual(experiment->policy))
		appendStringInfo(&defaults, ", \"context_dim\": %d", experiment->context_dim);
	appendStringInfoChar(&defaults, '}');
	params = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
												DirectFunctionCall1(jsonb_in, CStringGetDatum(defaults.data)),
												JsonbPGetDatum(params)));
	config_from_params(candidate, cand_policy, params);
}

/* ------------------------------------------------------------------------
 * The log
 * ------------------------------------------------------------------------
 */

static int
arm_index_of(const ExperimentState *state, int32 arm_id)
{
	for (int i = 0; i < state->k; i++)
		if (state->arm_ids[i] == arm_id)
			return i;
	elog(ERROR, "logged decision for unknown arm %d", arm_id);
	pg_unreachable();
}

/*
 * Every rewarded decision of the experiment, in decision order, except (from
 * 0.4.0) a sticky unit's repeats, which were not drawn (their propensity is
 * the unit's first draw's, and counting them would weight a unit by its
 * visits), and late rewards, which the experiment does not count either.
 */
static Log
read_log(const ExperimentState *state, int dim)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(state->id)};
	Log			log;

	if (SPI_execute_with_args(catalog_has_0_4()
							  ? "SELECT d.id, d.arm_id, d.propensity, r.reward, d.context"
							  "  FROM bandit.decision d JOIN bandit.reward r ON r.decision_id = d.id"
							  " WHERE d.experiment_id = $1 AND d.kind <> 'repeat' AND NOT r.late"
							  " ORDER BY d.decided_at, d.id"
							  : "SELECT d.id, d.arm_id, d.propensity, r.reward, d.context"
							  "  FROM bandit.decision d JOIN bandit.reward r ON r.decision_id = d.id"
							  " WHERE d.experiment_id = $1 ORDER BY d.decided_at, d.id",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the log");
	if (SPI_processed > (uint64) PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("experiment has too many rewarded decisions to evaluate at once"),
				 errhint("Prune old decisions with bandit_prune.")));
	log.nrows = (int) SPI_processed;
	log.rows = huge_alloc(log.nrows, sizeof(LoggedRow));
	log.dim = dim;
	for (int i = 0; i < log.nrows; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		LoggedRow  *row = &log.rows[i];
		bool		isnull;
		Datum		context;

		CHECK_FOR_INTERRUPTS();
		row->decision_id = DatumGetInt64(SPI_getbinval(t, desc, 1, &isnull));
		row->arm = arm_index_of(state, DatumGetInt32(SPI_getbinval(t, desc, 2, &isnull)));
		row->propensity = DatumGetFloat8(SPI_getbinval(t, desc, 3, &isnull));
		row->reward = DatumGetFloat8(SPI_getbinval(t, desc, 4, &isnull));
		context = SPI_getbinval(t, desc, 5, &isnull);
		row->context = NULL;
		if (dim > 0)
		{
			int			len;
			double	   *x;

			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("decision " INT64_FORMAT " has no context, which a contextual evaluation needs",
								row->decision_id)));
			x = checked_context(DatumGetArrayTypeP(context), dim, "logged context", &len);
			row->context = palloc(sizeof(double) * dim);
			memcpy(row->context, x, sizeof(double) * dim);
		}
	}
	return log;
}

/* ------------------------------------------------------------------------
 * The candidate's state and probabilities
 * ------------------------------------------------------------------------
 */

/* A state shaped like the experiment's (same arms, same enabled flags) at the candidate's prior. */
static ExperimentState *
candidate_state(const ExperimentState *experiment, const ExperimentConfig *config)
{
	ExperimentState *c = palloc0(sizeof(ExperimentState));

	c->id = experiment->id;
	c->config = *config;
	c->k = experiment->k;
	c->arm_ids = experiment->arm_ids;
	c->arm_names = experiment->arm_names;
	c->arms = palloc0(sizeof(ArmState) * c->k);
	c->probs = palloc(sizeof(double) * c->k);
	for (int i = 0; i < c->k; i++)
	{
		arm_state_prior(config, &c->arms[i]);
		c->arms[i].enabled = experiment->arms[i].enabled;
		if (policy_is_contextual(config->policy))
			c->arms[i].linear = linear_posterior_prior_value(config->context_dim, config->lambda);
	}
	return c;
}

/*
 * Fold a logged reward into the candidate, with the propensity the
 * candidate's own importance-weighted sums (EXP3) should use.
 */
static void
candidate_learn(ExperimentState *c, const LoggedRow *row, double propensity)
{
	ArmState   *arm = &c->arms[row->arm];

	if (policy_is_contextual(c->config.policy))
	{
		const LinearPosterior *old = arm->linear;

		arm->linear = linear_posterior_add(old, row->context, row->reward);
		pfree((void *) old);
		arm->n++;
		arm->ipw_sum += row->reward / propensity;
	}
	else
	{
		/* a bernoulli candidate on a gaussian log: its Beta posteriors need rewards in [0, 1] */
		if (c->config.reward_type == REWARD_BERNOULLI)
			check_reward_unit_interval(row->reward);
		arm_state_add_reward(&c->config, arm, row->reward, propensity);
	}
}

static void
candidate_probabilities(ExperimentState *c, const char *experiment, const LoggedRow *row,
						double *probs)
{
	if (policy_is_contextual(c->config.policy))
		contextual_probabilities(c, experiment, row->context, probs);
	else
		policy_probabilities(&c->config, c->k, c->arms, probs);
}

/* ------------------------------------------------------------------------
 * The cross-fitted reward model: q[row][arm], the prediction of a model
 * fitted on the other folds.
 * ------------------------------------------------------------------------
 */

/*
 * Folds by position in the decision-ordered log: balanced whatever the
 * decision ids (one sequence serves every experiment, so an experiment's
 * ids can all share a residue).
 */
static int
fold_of(int row, int folds)
{
	return row % folds;
}

/* q[i * k + a]: the prediction for row i and arm a of a model fitted without row i's fold */
static double *
reward_model(const ExperimentState *experiment, const Log *log, int folds)
{
	const ExperimentConfig *config = &experiment->config;
	int			k = experiment->k;
	double	   *q = huge_alloc((Size) log->nrows * k, sizeof(double));

	if (log->dim > 0)
	{
		/*
		 * A ridge regression per (fold left out, arm), fitted and used one at
		 * a time so that memory stays at one accumulator and one fit.
		 */
		double		lambda = policy_is_contextual(config->policy) ? config->lambda : DEFAULT_LINEAR_LAMBDA;

		for (int f = 0; f < folds; f++)
			for (int a = 0; a < k; a++)
			{
				LinearAccumulator acc;
				LinearPosterior *prior = linear_posterior_prior_value(log->dim, lambda);
				LinearPosterior *fit;

				linear_accumulator_init(&acc, log->dim, lambda);
				for (int i = 0; i < log->nrows; i++)
					if (fold_of(i, folds) != f && log->rows[i].arm == a)
					{
						CHECK_FOR_INTERRUPTS();
						linear_accumulator_add(&acc, log->rows[i].context, log->rows[i].reward);
					}
				fit = linear_posterior_fold(prior, &acc);
				check_linear_factored(fit, "the reward model");
				for (int i = 0; i < log->nrows; i++)
					if (fold_of(i, folds) == f)
						q[(Size) i * k + a] = linear_posterior_mean_at(fit, log->rows[i].context);
				linear_accumulator_free(&acc);
				pfree(prior);
				pfree(fit);
			}
	}
	else
	{
		/* posterior mean per arm, from the sums of the other folds */
		double	   *n = palloc0(sizeof(double) * (folds + 1) * k);
		double	   *sum = palloc0(sizeof(double) * (folds + 1) * k);

		for (int i = 0; i < log->nrows; i++)
		{
			const LoggedRow *row = &log->rows[i];
			int			f = fold_of(i, folds);

			n[f * k + row->arm] += 1;
			sum[f * k + row->arm] += row->reward;
			n[folds * k + row->arm] += 1;
			sum[folds * k + row->arm] += row->reward;
		}
		for (int i = 0; i < log->nrows; i++)
		{
			int			f = fold_of(i, folds);

			for (int a = 0; a < k; a++)
			{
				double		na = n[folds * k + a] - n[f * k + a];
				double		sa = sum[folds * k + a] - sum[f * k + a];

				q[(Size) i * k + a] = config->reward_type == REWARD_GAUSSIAN
					? (config->prior_kappa * config->prior_mean + sa) / (config->prior_kappa + na)
					: (config->prior_alpha + sa) / (config->prior_alpha + config->prior_beta + na);
			}
		}
	}
	return q;
}

/* ------------------------------------------------------------------------
 * bandit_evaluate(experiment, candidate_policy, params)
 *		RETURNS TABLE(estimator, estimate, stderr, ci_low, ci_high, n, ess)
 * ------------------------------------------------------------------------
 */

static const OpeEstimator evaluated[] = {OPE_IPS, OPE_SNIPS, OPE_DM, OPE_DR, OPE_SNDR};

typedef struct Setup
{
	char	   *name;
	ExperimentState *experiment;
	ExperimentState *candidate;
	EvaluationOptions options;
	Log			log;
} Setup;

static Setup
setup(FunctionCallInfo fcinfo, bool model_contexts)
{
	Setup		s;
	ExperimentConfig config;
	bool		contextual;

	check_not_null(fcinfo, 0, "experiment");
	check_not_null(fcinfo, 1, "candidate_policy");
	check_not_null(fcinfo, 2, "params");
	s.name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s.experiment = experiment_state(s.name, true);
	candidate_config(&s.experiment->config, text_to_cstring(PG_GETARG_TEXT_PP(1)),
					 PG_GETARG_JSONB_P(2), &config, &s.options);
	s.candidate = candidate_state(s.experiment, &config);
	contextual = policy_is_contextual(config.policy) ||
		(model_contexts && policy_is_contextual(s.experiment->config.policy));
	s.log = read_log(s.experiment,
					 !contextual ? 0
					 : policy_is_contextual(config.policy) ? config.context_dim
					 : s.experiment->config.context_dim);
	return s;
}

/*
 * The candidate's probabilities at every row, pi[i * k + a]: online
 * (trained on the earlier rows only) or frozen (trained on all).  Training
 * on the log uses the logged propensities, as the live policy would have.
 */
static double *
candidate_policy_at_rows(Setup *s)
{
	int			k = s->candidate->k;
	double	   *pi = huge_alloc((Size) s->log.nrows * k, sizeof(double));
	bool		contextual = policy_is_contextual(s->candidate->config.policy);

	if (!s->options.online)
		for (int i = 0; i < s->log.nrows; i++)
		{
			CHECK_FOR_INTERRUPTS();
			candidate_learn(s->candidate, &s->log.rows[i], s->log.rows[i].propensity);
		}
	for (int i = 0; i < s->log.nrows; i++)
	{
		double	   *row_pi = pi + (Size) i * k;

		CHECK_FOR_INTERRUPTS();
		/* context-free policies: recompute only when the state moved */
		if (contextual || i == 0 || s->options.online)
			candidate_probabilities(s->candidate, s->name, &s->log.rows[i], row_pi);
		else
			memcpy(row_pi, row_pi - k, sizeof(double) * k);
		if (s->options.online)
			candidate_learn(s->candidate, &s->log.rows[i], s->log.rows[i].propensity);
	}
	return pi;
}

Datum
bandit_evaluate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Setup		s;
	double	   *pi;
	double	   *q;
	int			k;
	OpeState	states[lengthof(evaluated)];

	InitMaterializedSRF(fcinfo, 0);
	/* everything below lives in SPI's memory, released by catalog_end() */
	catalog_begin(fcinfo);
	s = setup(fcinfo, true);
	pi = candidate_policy_at_rows(&s);
	q = reward_model(s.experiment, &s.log, s.options.folds);
	k = s.candidate->k;

	for (int e = 0; e < (int) lengthof(evaluated); e++)
		ope_state_init(&states[e], evaluated[e], 0.0);
	for (int i = 0; i < s.log.nrows; i++)
	{
		const LoggedRow *row = &s.log.rows[i];
		double		v = 0.0;

		for (int a = 0; a < k; a++)
			v += pi[(Size) i * k + a] * q[(Size) i * k + a];
		for (int e = 0; e < (int) lengthof(evaluated); e++)
			ope_state_add(&states[e], row->reward, pi[(Size) i * k + row->arm], row->propensity,
						  q[(Size) i * k + row->arm], v);
	}

	for (int e = 0; e < (int) lengthof(evaluated); e++)
	{
		OpeResult	r;
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		ope_state_result(&states[e], &r);
		values[0] = CStringGetTextDatum(ope_estimator_name(evaluated[e]));
		values[1] = Float8GetDatum(r.estimate);
		values[2] = Float8GetDatum(r.stderr);
		values[3] = Float8GetDatum(r.ci_low);
		values[4] = Float8GetDatum(r.ci_high);
		values[5] = Int64GetDatum(r.n);
		values[6] = Float8GetDatum(r.ess);
		nulls[1] = r.estimate_null;
		nulls[2] = nulls[3] = nulls[4] = r.stderr_null;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	catalog_end();
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * bandit_replay(experiment, candidate_policy, params)
 *		RETURNS TABLE(estimate, stderr, matched, events)
 *
 * Li, Chu, Langford & Wang (2011): walk the log in order; the candidate
 * draws an arm from its current policy; when it is the logged arm the
 * event counts and the candidate learns its reward, otherwise the event is
 * skipped.  The mean reward over the counted events estimates the
 * candidate's per-decision reward without bias when the log was gathered
 * by a uniform-random policy, which is checked.  Draws use the backend's
 * generator (bandit.seed makes a replay reproducible).
 * ------------------------------------------------------------------------
 */
Datum
bandit_replay(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Setup		s;
	double	   *probs;
	OpeState	matched;
	OpeResult	r;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	/* everything below lives in SPI's memory, released by catalog_end() */
	catalog_begin(fcinfo);
	if (!PG_ARGISNULL(2) &&
		(jsonb_key(PG_GETARG_JSONB_P(2), "training") || jsonb_key(PG_GETARG_JSONB_P(2), "folds")))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bandit_replay takes no \"training\" or \"folds\" parameter"),
				 errdetail("A replayed candidate always learns online from the events it matches.")));
	s = setup(fcinfo, false);

	/* uniform: one propensity for every decision, and it is 1/m for a whole m */
	for (int i = 0; i < s.log.nrows; i++)
		if (fabs(s.log.rows[i].propensity - s.log.rows[0].propensity) >
			1e-12 * s.log.rows[0].propensity ||
			fabs(rint(1.0 / s.log.rows[0].propensity) * s.log.rows[0].propensity - 1.0) > 1e-9)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("bandit_replay needs a log gathered by a uniform-random policy"),
					 errdetail("Experiment \"%s\" logged propensity %g for decision " INT64_FORMAT
							   " and %g for decision " INT64_FORMAT "; uniform logging gives every decision 1/m for m arms.",
							   s.name, s.log.rows[0].propensity, s.log.rows[0].decision_id,
							   s.log.rows[i].propensity, s.log.rows[i].decision_id),
					 errhint("Use bandit_evaluate, which weights by the logged propensities.")));

	probs = palloc(sizeof(double) * s.candidate->k);
	ope_state_init(&matched, OPE_DM, 0.0);
	for (int i = 0; i < s.log.nrows; i++)
	{
		const LoggedRow *row = &s.log.rows[i];

		CHECK_FOR_INTERRUPTS();
		candidate_probabilities(s.candidate, s.name, row, probs);
		if (policy_walk(s.candidate->k, probs, bandit_random_uniform()) != row->arm)
			continue;
		ope_state_add(&matched, 0.0, 0.0, 1.0, 0.0, row->reward);
		/* a deployed candidate weights its own sums by its own probability */
		candidate_learn(s.candidate, row, probs[row->arm]);
	}
	ope_state_result(&matched, &r);
	values[0] = Float8GetDatum(r.estimate);
	values[1] = Float8GetDatum(r.stderr);
	values[2] = Int64GetDatum(r.n);
	values[3] = Int64GetDatum(s.log.nrows);
	nulls[0] = r.estimate_null;
	nulls[1] = r.stderr_null;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	catalog_end();
	return (Datum) 0;
}
