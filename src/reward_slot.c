/*
 * reward_slot.c
 *		Per-arm reward sums (batches) and the reward slots of online
 *		experiments; see reward_slot.h.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "storage/backendid.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "reward_slot.h"

PG_FUNCTION_INFO_V1(bandit_reward_slot_add);

void
arm_batch_add(ArmBatch *batch, double reward, double propensity)
{
	batch->n++;
	compensated_add(&batch->successes, reward);
	compensated_add(&batch->failures, 1.0 - reward);
	gaussian_stats_add(&batch->gaussian, reward);
	compensated_add(&batch->ipw, reward / propensity);
}

void
arm_batch_merge(ArmBatch *into, const ArmBatch *other)
{
	into->n += other->n;
	compensated_merge(&into->successes, &other->successes);
	compensated_merge(&into->failures, &other->failures);
	gaussian_stats_merge(&into->gaussian, &other->gaussian);
	compensated_merge(&into->ipw, &other->ipw);
}

/*
 * Backend ids are small and dense among the backends alive at one time, so
 * up to REWARD_SLOTS concurrent sessions never share a slot.
 */
int
reward_slot_of_backend(void)
{
	return (int) (MyBackendId % REWARD_SLOTS);
}

/* The slot array's entries, checked: one dimension, no NULLs, whole arms. */
static double *
slot_entries(ArrayType *stats, int *narms)
{
	int			count = ArrayGetNItems(ARR_NDIM(stats), ARR_DIMS(stats));

	if (ARR_ELEMTYPE(stats) != FLOAT8OID || ARR_NDIM(stats) > 1 ||
		ARR_HASNULL(stats) || count % SLOT_STATS_PER_ARM != 0)
		report_inconsistent_tables("A reward slot's stats are not a one-dimensional float8 array of whole arms without NULLs.");
	*narms = count / SLOT_STATS_PER_ARM;
	return count == 0 ? NULL : (double *) ARR_DATA_PTR(stats);
}

/* One arm's stored sums, checked, as a batch. */
static void
entry_to_batch(const double *e, ArmBatch *batch)
{
	for (int i = 0; i < SLOT_STATS_PER_ARM; i++)
		if (!isfinite(e[i]))
			report_inconsistent_tables("A reward slot holds a value that is not finite.");
	if (e[0] < 0 || e[0] > 9007199254740992.0 || e[0] != floor(e[0]) || e[6] < 0)
		report_inconsistent_tables("A reward slot holds a negative or fractional count or a negative sum of squares.");
	if (e[0] == 0)
	{
		for (int i = 1; i < SLOT_STATS_PER_ARM; i++)
			if (e[i] != 0)
				report_inconsistent_tables("A reward slot holds sums for an arm without rewards.");
	}
	batch->n = (int64) e[0];
	batch->successes.sum = e[1];
	batch->successes.compensation = e[2];
	batch->failures.sum = e[3];
	batch->failures.compensation = e[4];
	batch->gaussian.n = batch->n;
	batch->gaussian.mean = e[5];
	batch->gaussian.m2 = e[6];
	batch->ipw.sum = e[7];
	batch->ipw.compensation = e[8];
}

static void
batch_to_entry(const ArmBatch *batch, double *e)
{
	e[0] = (double) batch->n;
	e[1] = batch->successes.sum;
	e[2] = batch->successes.compensation;
	e[3] = batch->failures.sum;
	e[4] = batch->failures.compensation;
	e[5] = batch->gaussian.mean;
	e[6] = batch->gaussian.m2;
	e[7] = batch->ipw.sum;
	e[8] = batch->ipw.compensation;
}

void
reward_slot_unpack(ArrayType *stats, int max_arm, ArmBatch *batches)
{
	int			narms;
	double	   *entries = slot_entries(stats, &narms);

	for (int arm = 1; arm <= narms; arm++)
	{
		ArmBatch	batch;

		entry_to_batch(entries + (arm - 1) * SLOT_STATS_PER_ARM, &batch);
		if (batch.n == 0)
			continue;
		if (arm > max_arm)
			report_inconsistent_tables(psprintf("A reward slot holds rewards of arm %d, which does not exist.", arm));
		arm_batch_merge(&batches[arm], &batch);
	}
}

/*
 * bandit.reward_slot_add(stats float8[], arm_id int, reward float8,
 * propensity float8) RETURNS float8[]: the slot with one more reward of the
 * arm (the array grows when the arm is past its end).  Internal: only
 * bandit_reward calls it, with values it has checked; they are checked
 * again here because the function can be called directly by its owner.
 */
Datum
bandit_reward_slot_add(PG_FUNCTION_ARGS)
{
	ArrayType  *stats = PG_GETARG_ARRAYTYPE_P(0);
	int32		arm = PG_GETARG_INT32(1);
	double		reward = PG_GETARG_FLOAT8(2);
	double		propensity = PG_GETARG_FLOAT8(3);
	int			narms;
	double	   *entries = slot_entries(stats, &narms);
	int			result_arms;
	Datum	   *values;
	ArmBatch	batch = {0};

	if (arm < 1 || arm > MaxAllocSize / (SLOT_STATS_PER_ARM * sizeof(Datum) * 2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arm id %d is out of range", arm)));
	check_reward_finite(reward);
	if (!(propensity > 0 && propensity <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("propensity must be in (0, 1], got %g", propensity)));

	result_arms = Max(narms, arm);
	values = palloc0(sizeof(Datum) * result_arms * SLOT_STATS_PER_ARM);
	for (int i = 0; i < result_arms * SLOT_STATS_PER_ARM; i++)
		values[i] = Float8GetDatum(i < narms * SLOT_STATS_PER_ARM ? entries[i] : 0.0);

	if (arm <= narms)
		entry_to_batch(entries + (arm - 1) * SLOT_STATS_PER_ARM, &batch);
	arm_batch_add(&batch, reward, propensity);
	{
		double		e[SLOT_STATS_PER_ARM];

		batch_to_entry(&batch, e);
		for (int i = 0; i < SLOT_STATS_PER_ARM; i++)
		{
			if (!isfinite(e[i]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("the online reward sums of arm %d would overflow", arm),
						 errdetail("Reward %g with propensity %g makes a sum of its reward slot infinite.",
								   reward, propensity),
						 errhint("Rescale the rewards; nothing was changed.")));
			values[(arm - 1) * SLOT_STATS_PER_ARM + i] = Float8GetDatum(e[i]);
		}
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(values, result_arms * SLOT_STATS_PER_ARM,
										  FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}
