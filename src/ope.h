/*
 * ope.h
 *		Off-policy estimators over logged decisions: IPS, SNIPS, clipped
 *		IPS, DM, DR, SNDR and Switch-DR, as streaming states that aggregates
 *		(ope_aggregates.c) and bandit_evaluate share.
 *
 * Each estimator is a smooth function of the means of a small per-row
 * vector z (one to three terms, below).  A state keeps, for z:
 *   - compensated sums (Neumaier), for the estimate itself;
 *   - Welford running means and co-moments, merged with Chan et al.'s
 *     formula, for its standard error by the delta method:
 *       Var(estimate) ~= g^T Cov(z) g / n,   g = gradient at the means;
 *   - compensated sums of the importance weights and their squares (ESS)
 *     and the largest weight.
 * With w = target_prob / logging_prob, the rows' vectors are
 *   ips         z = (w r)                      estimate m0
 *   snips       z = (w r, w)                   estimate m0 / m1
 *   clipped_ips z = (min(w, cap) r)            estimate m0
 *   dm          z = (v)                        estimate m0
 *   dr          z = (v + w (r - q))            estimate m0
 *   sndr        z = (v, w (r - q), w)          estimate m0 + m1 / m2
 *   switch_dr   z = (v + [w <= tau] w (r - q)) estimate m0
 */
#ifndef BANDIT_OPE_H
#define BANDIT_OPE_H

#include "postgres.h"

#include "summation.h"

typedef enum OpeEstimator
{
	OPE_IPS,
	OPE_SNIPS,
	OPE_CLIPPED_IPS,
	OPE_DM,
	OPE_DR,
	OPE_SNDR,
	OPE_SWITCH_DR
} OpeEstimator;

#define OPE_NUM_ESTIMATORS	7
#define OPE_MAX_TERMS		3

typedef struct OpeState
{
	OpeEstimator estimator;
	int64		n;
	double		param;			/* cap (clipped_ips) or tau (switch_dr); else 0 */
	CompensatedSum sum[OPE_MAX_TERMS];
	double		mean[OPE_MAX_TERMS];
	double		comoment[OPE_MAX_TERMS][OPE_MAX_TERMS];
	CompensatedSum weight_sum;	/* of the weights the estimator uses */
	CompensatedSum weight_sq_sum;
	double		max_weight;
} OpeState;

/* The result; a NULL field has its *_null flag set. */
typedef struct OpeResult
{
	double		estimate;
	double		stderr;
	double		ci_low;
	double		ci_high;
	int64		n;
	double		ess;
	double		max_weight;
	bool		estimate_null;
	bool		stderr_null;	/* also ci_low, ci_high */
	bool		max_weight_null;
} OpeResult;

extern const char *ope_estimator_name(OpeEstimator estimator);
/* The estimator of a name ("ips", "snips", ...); errors on an unknown one. */
extern OpeEstimator ope_estimator_from_name(const char *name);
extern int	ope_terms(OpeEstimator estimator);
/* Does the estimator read q_logged / v_target (a reward model)? */
extern bool ope_uses_model(OpeEstimator estimator);

extern void ope_state_init(OpeState *state, OpeEstimator estimator, double param);

/*
 * One logged row.  Checks every input (logging_prob in (0, 1],
 * target_prob in [0, 1], finite reward, q_logged and v_target) and errors
 * with a fitting SQLSTATE; inputs the estimator does not read are ignored.
 */
extern void ope_state_add(OpeState *state, double reward, double target_prob,
						  double logging_prob, double q_logged, double v_target);
extern void ope_state_merge(OpeState *into, const OpeState *other);
extern void ope_state_result(const OpeState *state, OpeResult *result);

/* Checks shared by the aggregates' parameters. */
extern void check_ope_cap(double cap);
extern void check_ope_tau(double tau);

#endif							/* BANDIT_OPE_H */
