/*
 * config.c
 *		Parse, validate and normalise experiment params.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/datetime.h"
#include "miscadmin.h"
#include "utils/json.h"
#include "datatype/timestamp.h"

#include "config.h"
#include "linear.h"
#include "posterior.h"

static const char *const policy_names[] = {
	[POLICY_THOMPSON] = "thompson",
	[POLICY_UCB1] = "ucb1",
	[POLICY_EPSILON_GREEDY] = "epsilon_greedy",
	[POLICY_SOFTMAX] = "softmax",
	[POLICY_EXP3] = "exp3",
	[POLICY_UNIFORM] = "uniform",
	[POLICY_LINUCB] = "linucb",
	[POLICY_LINTS] = "lints",
};

#define NUM_POLICIES lengthof(policy_names)

BanditPolicy
policy_from_name(const char *name)
{
	for (int i = 0; i < (int) NUM_POLICIES; i++)
		if (strcmp(name, policy_names[i]) == 0)
			return (BanditPolicy) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown bandit policy \"%s\"", name),
			 errhint("Known policies: thompson, ucb1, epsilon_greedy, softmax, exp3, uniform, linucb, lints.")));
	pg_unreachable();
}

const char *
policy_name(BanditPolicy policy)
{
	return policy_names[policy];
}

/* Which keys each policy accepts beyond the common ones. */
static const char *
policy_keys(BanditPolicy policy)
{
	switch (policy)
	{
		case POLICY_THOMPSON:
		case POLICY_UCB1:
			return "half_life, window";
		case POLICY_EPSILON_GREEDY:
			return "epsilon, decay";
		case POLICY_SOFTMAX:
			return "temperature";
		case POLICY_EXP3:
			return "gamma";
		case POLICY_LINUCB:
			return "alpha, epsilon";
		case POLICY_LINTS:
			return "v";
		default:
			return "";
	}
}

static const char *
allowed_keys_hint(const ExperimentConfig *config)
{
	const char *common = policy_is_contextual(config->policy)
		? "reward_type, update, explore_share, min_propensity, sticky, reward_window, context_dim, lambda"
		: config->reward_type == REWARD_GAUSSIAN
		? "reward_type, update, explore_share, min_propensity, sticky, reward_window, guardrail, prior_mean, prior_kappa, prior_alpha, prior_beta"
		: "reward_type, update, explore_share, min_propensity, sticky, reward_window, guardrail, prior_alpha, prior_beta";
	const char *extra = policy_keys(config->policy);

	return psprintf("Policy \"%s\" with reward_type \"%s\" accepts: %s%s%s.",
					policy_name(config->policy),
					config->reward_type == REWARD_GAUSSIAN ? "gaussian" : "bernoulli",
					common, *extra ? ", " : "", extra);
}

static double
number_param(const char *key, JsonbValue *value)
{
	double		result;

	if (value->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a number", key)));
	result = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												NumericGetDatum(value->val.numeric)));
	if (!isfinite(result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be finite", key)));
	return result;
}

static double
positive_param(const char *key, JsonbValue *value)
{
	double		result = number_param(key, value);

	if (result <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be greater than zero", key),
				 errdetail("The value given was %g.", result)));
	return result;
}

static double
probability_param(const char *key, JsonbValue *value)
{
	double		result = positive_param(key, value);

	if (result > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be in (0, 1]", key),
				 errdetail("The value given was %g.", result)));
	return result;
}

static double
nonnegative_param(const char *key, JsonbValue *value)
{
	double		result = number_param(key, value);

	if (result < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must not be negative", key),
				 errdetail("The value given was %g.", result)));
	return result;
}

static double
unit_interval_param(const char *key, JsonbValue *value)
{
	double		result = nonnegative_param(key, value);

	if (result > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be in [0, 1]", key),
				 errdetail("The value given was %g.", result)));
	return result;
}

static int
dimension_param(const char *key, JsonbValue *value)
{
	double		result = number_param(key, value);

	if (result != floor(result) || result < 1 || result > LINEAR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be an integer between 1 and %d", key, LINEAR_MAX_DIM),
				 errdetail("The value given was %g.", result)));
	return (int) result;
}

static char *
string_param(const char *key, JsonbValue *value)
{
	if (value->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a string", key)));
	return pnstrdup(value->val.string.val, value->val.string.len);
}

void
config_set_guardrail(ExperimentConfig *config, double min_reward, int64 min_pulls,
					 double confidence)
{
	if (!isfinite(min_reward))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("guardrail min_reward must be finite")));
	if (min_pulls < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("guardrail min_pulls must be at least 1"),
				 errdetail("The value given was " INT64_FORMAT ".", min_pulls)));
	if (!(confidence > 0.5 && confidence < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("guardrail confidence must be in (0.5, 1)"),
				 errdetail("The value given was %g.", confidence)));
	config->guardrail = true;
	config->guardrail_min_reward = min_reward;
	config->guardrail_min_pulls = min_pulls;
	config->guardrail_confidence = confidence;
}

/* "guardrail": {"min_reward": r, "min_pulls": n, "confidence": c} */
static void
guardrail_param(ExperimentConfig *config, JsonbValue *value)
{
	JsonbValue *min_reward,
			   *min_pulls,
			   *confidence;
	double		pulls;

	if (value->type != jbvBinary || !JsonContainerIsObject(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"guardrail\" must be a JSON object"),
				 errhint("Use {\"min_reward\": r, \"min_pulls\": n, \"confidence\": c}, or bandit_set_guardrail().")));
	min_reward = getKeyJsonValueFromContainer(value->val.binary.data, "min_reward", 10, NULL);
	min_pulls = getKeyJsonValueFromContainer(value->val.binary.data, "min_pulls", 9, NULL);
	confidence = getKeyJsonValueFromContainer(value->val.binary.data, "confidence", 10, NULL);
	if (min_reward == NULL || min_pulls == NULL || confidence == NULL ||
		JsonContainerSize(value->val.binary.data) != 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"guardrail\" must have exactly the keys min_reward, min_pulls and confidence")));
	pulls = number_param("guardrail.min_pulls", min_pulls);
	if (pulls != floor(pulls) || pulls < 1 || pulls > (double) PG_INT64_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("guardrail min_pulls must be a whole number of at least 1"),
				 errdetail("The value given was %g.", pulls)));
	config_set_guardrail(config, number_param("guardrail.min_reward", min_reward), (int64) pulls,
						 number_param("guardrail.confidence", confidence));
}

/* A positive interval given as text (e.g. "7 days"), normalised to ISO 8601; *seconds (a month is 30 days). */
static char *
interval_param_seconds(const char *key, JsonbValue *value, double *seconds)
{
	char	   *text = string_param(key, value);
	Interval   *span;

	span = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(text),
												 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	if (span->month < 0 || span->day < 0 || span->time < 0 ||
		(span->month == 0 && span->day == 0 && span->time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a positive interval", key),
				 errdetail("The value given was \"%s\".", text)));
	/* ISO 8601 (e.g. "PT1H"): read back the same whatever a session's IntervalStyle */
	{
		struct pg_itm itm;
		char		buf[MAXDATELEN + 1];

		double		total = span->time / 1e6 + span->day * 86400.0 + span->month * 30.0 * 86400.0;

		/* decided_at + the interval, and now() - it, must stay timestamps */
		if (total > 1000.0 * 365.25 * 86400.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s\" must be at most 1000 years", key),
					 errdetail("The value given was \"%s\".", text)));
		if (seconds != NULL)
			*seconds = total;
		interval2itm(*span, &itm);
		EncodeInterval(&itm, INTSTYLE_ISO_8601, buf);
		return pstrdup(buf);
	}
}

static char *
interval_param(const char *key, JsonbValue *value)
{
	return interval_param_seconds(key, value, NULL);
}

/* "window": a count of rewards (a positive integer) or an interval (text) */
static void
window_param(ExperimentConfig *config, JsonbValue *value)
{
	if (value->type == jbvString)
	{
		config->window_span = interval_param_seconds("window", value, &config->window_seconds);
		return;
	}
	{
		double		n = number_param("window", value);

		if (n != floor(n) || n < 1 || n > 1e15)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"window\" must be a positive whole number of rewards or an interval"),
					 errdetail("The value given was %g.", n),
					 errhint("For example {\"window\": 1000} or {\"window\": \"7 days\"}.")));
		config->window_count = (int64) n;
	}
}

static JsonbValue *
find_key(Jsonb *params, const char *key)
{
	return getKeyJsonValueFromContainer(&params->root, key, strlen(key), NULL);
}

static bool
key_allowed(const ExperimentConfig *config, const char *key)
{
	static const char *const common[] = {"reward_type", "update", "explore_share", "min_propensity",
	"sticky", "reward_window"};

	for (int i = 0; i < (int) lengthof(common); i++)
		if (strcmp(key, common[i]) == 0)
			return true;
	/* contextual policies keep a ridge regression per arm, not a Beta/NIG prior */
	if (policy_is_contextual(config->policy))
		return strcmp(key, "context_dim") == 0 || strcmp(key, "lambda") == 0 ||
			(config->policy == POLICY_LINUCB &&
			 (strcmp(key, "alpha") == 0 || strcmp(key, "epsilon") == 0)) ||
			(config->policy == POLICY_LINTS && strcmp(key, "v") == 0);
	if (strcmp(key, "prior_alpha") == 0 || strcmp(key, "prior_beta") == 0 ||
		strcmp(key, "guardrail") == 0)
		return true;
	if (config->reward_type == REWARD_GAUSSIAN &&
		(strcmp(key, "prior_mean") == 0 || strcmp(key, "prior_kappa") == 0))
		return true;
	switch (config->policy)
	{
		case POLICY_EPSILON_GREEDY:
			return strcmp(key, "epsilon") == 0 || strcmp(key, "decay") == 0;
		case POLICY_SOFTMAX:
			return strcmp(key, "temperature") == 0;
		case POLICY_EXP3:
			return strcmp(key, "gamma") == 0;
		case POLICY_THOMPSON:
		case POLICY_UCB1:
			return strcmp(key, "half_life") == 0 || strcmp(key, "window") == 0;
		default:
			return false;
	}
}

void
config_from_params(ExperimentConfig *config, BanditPolicy policy, Jsonb *params)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	JsonbValue *value;

	if (!JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params must be a JSON object")));

	memset(config, 0, sizeof(*config));
	config->policy = policy;
	config->reward_type = REWARD_BERNOULLI;
	config->online = true;
	config->epsilon = 0.1;
	config->decay = 0.0;
	config->temperature = 0.1;
	config->gamma = 0.1;
	config->context_dim = 0;
	config->lambda = DEFAULT_LINEAR_LAMBDA;
	config->ucb_alpha = 1.0;
	config->lints_v = 1.0;
	config->explore_share = 1.0;
	config->min_propensity = 0.0;
	config->guardrail = false;
	config->sticky = false;
	config->reward_window = NULL;
	config->half_life = NULL;
	config->half_life_seconds = 0;
	config->window_count = 0;
	config->window_span = NULL;
	config->window_seconds = 0;
	if (policy == POLICY_LINUCB)
		config->epsilon = 0.0;	/* pure LinUCB unless exploration is asked for */

	if ((value = find_key(params, "reward_type")) != NULL)
	{
		char	   *s = string_param("reward_type", value);

		if (strcmp(s, "gaussian") == 0)
			config->reward_type = REWARD_GAUSSIAN;
		else if (strcmp(s, "bernoulli") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown reward_type \"%s\"", s),
					 errhint("Use \"bernoulli\" (rewards in [0, 1]) or \"gaussian\".")));
	}
	if ((value = find_key(params, "update")) != NULL)
	{
		char	   *s = string_param("update", value);

		if (strcmp(s, "batch") == 0)
			config->online = false;
		else if (strcmp(s, "online") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown update mode \"%s\"", s),
					 errhint("Use \"online\" or \"batch\".")));
	}

	if (config->reward_type == REWARD_GAUSSIAN)
	{
		config->prior_alpha = DEFAULT_NORMAL_PRIOR_ALPHA;
		config->prior_beta = DEFAULT_NORMAL_PRIOR_BETA;
		config->prior_mean = DEFAULT_NORMAL_PRIOR_MEAN;
		config->prior_kappa = DEFAULT_NORMAL_PRIOR_KAPPA;
	}
	else
	{
		config->prior_alpha = DEFAULT_BETA_PRIOR_ALPHA;
		config->prior_beta = DEFAULT_BETA_PRIOR_BETA;
	}

	if (policy == POLICY_EXP3 && config->reward_type != REWARD_BERNOULLI)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"exp3\" needs rewards in [0, 1]"),
				 errhint("Use reward_type \"bernoulli\" (any reward between 0 and 1).")));

	/* Every key must be known: a typo must not silently fall back on a default. */
	it = JsonbIteratorInit(&params->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		JsonbValue	val;

		if (token != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		if (!key_allowed(config, key))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown parameter \"%s\" for policy \"%s\"", key, policy_name(policy)),
					 errhint("%s", allowed_keys_hint(config))));
		token = JsonbIteratorNext(&it, &val, true);
		Assert(token == WJB_VALUE);
		if (strcmp(key, "prior_alpha") == 0)
			config->prior_alpha = positive_param(key, &val);
		else if (strcmp(key, "prior_beta") == 0)
			config->prior_beta = positive_param(key, &val);
		else if (strcmp(key, "prior_mean") == 0)
			config->prior_mean = number_param(key, &val);
		else if (strcmp(key, "prior_kappa") == 0)
			config->prior_kappa = positive_param(key, &val);
		else if (strcmp(key, "epsilon") == 0)
			config->epsilon = policy_is_contextual(policy)
				? unit_interval_param(key, &val) : probability_param(key, &val);
		else if (strcmp(key, "context_dim") == 0)
			config->context_dim = dimension_param(key, &val);
		else if (strcmp(key, "lambda") == 0)
			config->lambda = positive_param(key, &val);
		else if (strcmp(key, "alpha") == 0)
			config->ucb_alpha = nonnegative_param(key, &val);
		else if (strcmp(key, "v") == 0)
			config->lints_v = positive_param(key, &val);
		else if (strcmp(key, "decay") == 0)
		{
			config->decay = number_param(key, &val);
			if (config->decay < 0.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("parameter \"decay\" must not be negative"),
						 errdetail("The value given was %g.", config->decay)));
		}
		else if (strcmp(key, "temperature") == 0)
			config->temperature = positive_param(key, &val);
		else if (strcmp(key, "gamma") == 0)
			config->gamma = probability_param(key, &val);
		else if (strcmp(key, "explore_share") == 0)
			config->explore_share = unit_interval_param(key, &val);
		else if (strcmp(key, "min_propensity") == 0)
		{
			config->min_propensity = unit_interval_param(key, &val);
			if (config->min_propensity >= 1.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("parameter \"min_propensity\" must be below 1"),
						 errdetail("The value given was %g.", config->min_propensity)));
		}
		else if (strcmp(key, "guardrail") == 0)
			guardrail_param(config, &val);
		else if (strcmp(key, "sticky") == 0)
		{
			if (val.type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("parameter \"sticky\" must be true or false")));
			config->sticky = val.val.boolean;
		}
		else if (strcmp(key, "reward_window") == 0)
			config->reward_window = interval_param(key, &val);
		else if (strcmp(key, "half_life") == 0)
			config->half_life = interval_param_seconds(key, &val, &config->half_life_seconds);
		else if (strcmp(key, "window") == 0)
			window_param(config, &val);
	}
	if (config->half_life != NULL && (config->window_count > 0 || config->window_span != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameters \"half_life\" and \"window\" cannot be combined"),
				 errhint("Forget old rewards either gradually (half_life) or all at once (window).")));
	if (config_forgets(config) && config->online)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameters \"half_life\" and \"window\" need \"update\": \"batch\""),
				 errdetail("A posterior that forgets is recomputed, as of that moment, by each bandit_refresh."),
				 errhint("Create the experiment with \"update\": \"batch\" and schedule bandit_refresh (for example every minute with pg_cron).")));
	if (policy_is_contextual(policy) && config->context_dim == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" needs the parameter \"context_dim\"", policy_name(policy)),
				 errhint("Give the number of context features, e.g. '{\"context_dim\": 8}'.")));
}

static void
append_number(StringInfo buf, const char *key, double value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(value, digits);
	appendStringInfo(buf, ", \"%s\": %s", key, digits);
}

/* The exploration limits and the guardrail, only when set (existing params stay as they were). */
static void
append_limits(StringInfo buf, const ExperimentConfig *config)
{
	if (config->explore_share != 1.0)
		append_number(buf, "explore_share", config->explore_share);
	if (config->min_propensity != 0.0)
		append_number(buf, "min_propensity", config->min_propensity);
	if (config->half_life != NULL)
	{
		appendStringInfoString(buf, ", \"half_life\": ");
		escape_json(buf, config->half_life);
	}
	if (config->window_count > 0)
		appendStringInfo(buf, ", \"window\": " INT64_FORMAT, config->window_count);
	if (config->window_span != NULL)
	{
		appendStringInfoString(buf, ", \"window\": ");
		escape_json(buf, config->window_span);
	}
	if (config->sticky)
		appendStringInfoString(buf, ", \"sticky\": true");
	if (config->reward_window != NULL)
	{
		appendStringInfoString(buf, ", \"reward_window\": ");
		escape_json(buf, config->reward_window);
	}
	if (config->guardrail)
	{
		char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

		appendStringInfoString(buf, ", \"guardrail\": {\"min_pulls\": ");
		appendStringInfo(buf, INT64_FORMAT, config->guardrail_min_pulls);
		double_to_shortest_decimal_buf(config->guardrail_min_reward, digits);
		appendStringInfo(buf, ", \"min_reward\": %s", digits);
		double_to_shortest_decimal_buf(config->guardrail_confidence, digits);
		appendStringInfo(buf, ", \"confidence\": %s}", digits);
	}
}

Jsonb *
config_to_params(const ExperimentConfig *config)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"reward_type\": \"%s\", \"update\": \"%s\"",
					 config->reward_type == REWARD_GAUSSIAN ? "gaussian" : "bernoulli",
					 config->online ? "online" : "batch");
	if (policy_is_contextual(config->policy))
	{
		appendStringInfo(&buf, ", \"context_dim\": %d", config->context_dim);
		append_number(&buf, "lambda", config->lambda);
		if (config->policy == POLICY_LINUCB)
		{
			append_number(&buf, "alpha", config->ucb_alpha);
			append_number(&buf, "epsilon", config->epsilon);
		}
		else
			append_number(&buf, "v", config->lints_v);
		append_limits(&buf, config);
		appendStringInfoChar(&buf, '}');
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	}
	if (config->reward_type == REWARD_GAUSSIAN)
	{
		append_number(&buf, "prior_mean", config->prior_mean);
		append_number(&buf, "prior_kappa", config->prior_kappa);
	}
	append_number(&buf, "prior_alpha", config->prior_alpha);
	append_number(&buf, "prior_beta", config->prior_beta);
	switch (config->policy)
	{
		case POLICY_EPSILON_GREEDY:
			append_number(&buf, "epsilon", config->epsilon);
			append_number(&buf, "decay", config->decay);
			break;
		case POLICY_SOFTMAX:
			append_number(&buf, "temperature", config->temperature);
			break;
		case POLICY_EXP3:
			append_number(&buf, "gamma", config->gamma);
			break;
		default:
			break;
	}
	append_limits(&buf, config);
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

const char *
config_posterior_column(const ExperimentConfig *config)
{
	if (policy_is_contextual(config->policy))
		return "linear";
	return config->reward_type == REWARD_GAUSSIAN ? "normal" : "beta";
}

const char *
config_posterior_type(const ExperimentConfig *config)
{
	if (policy_is_contextual(config->policy))
		return "linear_posterior";
	return config->reward_type == REWARD_GAUSSIAN ? "normal_posterior" : "beta_posterior";
}

char *
config_prior_literal(const ExperimentConfig *config)
{
	char		a[DOUBLE_SHORTEST_DECIMAL_LEN],
				b[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (policy_is_contextual(config->policy))
		return DatumGetCString(DirectFunctionCall1(linear_posterior_out,
												   PointerGetDatum(linear_posterior_prior_value(config->context_dim,
																								config->lambda))));

	double_to_shortest_decimal_buf(config->prior_alpha, a);
	double_to_shortest_decimal_buf(config->prior_beta, b);
	if (config->reward_type == REWARD_GAUSSIAN)
	{
		char		m[DOUBLE_SHORTEST_DECIMAL_LEN],
					k[DOUBLE_SHORTEST_DECIMAL_LEN];

		double_to_shortest_decimal_buf(config->prior_mean, m);
		double_to_shortest_decimal_buf(config->prior_kappa, k);
		return psprintf("(mean=%s, kappa=%s, alpha=%s, beta=%s, n=0)", m, k, a, b);
	}
	return psprintf("(alpha=%s, beta=%s, n=0)", a, b);
}
