/*
 * reward_slot.h
 *		Sums of rewards per arm (a batch), and their stored form in the
 *		reward slots of online experiments.
 *
 * An online reward of a non-contextual experiment is added to a row of
 * bandit.reward_slot chosen by the rewarding backend (its backend id modulo
 * REWARD_SLOTS), not to the arm row: sessions rewarding the same arm write
 * different rows and do not wait for each other's commits.  Beta and
 * Normal-Inverse-Gamma posteriors fold sums, so the posterior read as "arm
 * row plus every slot's sums" is the posterior of all the rewards.
 * bandit_refresh moves the sums into the arm rows and deletes the slots.
 *
 * A slot's stats column is a float8[] of SLOT_STATS_PER_ARM entries per arm
 * (arm_id a at offset (a - 1) * SLOT_STATS_PER_ARM), in this order: n,
 * success sum and its compensation, failure sum and its compensation,
 * Gaussian mean and m2 (Welford), reward / propensity sum and its
 * compensation.  Arms past the end of the array have no rewards in the slot.
 */
#ifndef BANDIT_REWARD_SLOT_H
#define BANDIT_REWARD_SLOT_H

#include "postgres.h"
#include "utils/array.h"

#include "posterior.h"
#include "summation.h"

#define REWARD_SLOTS		16
#define SLOT_STATS_PER_ARM	9

/* Sums of one arm's rewards, as a refresh or a slot holds them. */
typedef struct ArmBatch
{
	int64		n;
	CompensatedSum successes;	/* sum of r (Beta's alpha) */
	CompensatedSum failures;	/* sum of 1 - r (Beta's beta) */
	GaussianStats gaussian;
	CompensatedSum ipw;			/* sum of r / propensity (EXP3) */
} ArmBatch;

extern void arm_batch_add(ArmBatch *batch, double reward, double propensity);
extern void arm_batch_merge(ArmBatch *into, const ArmBatch *other);

/* This backend's slot. */
extern int	reward_slot_of_backend(void);

/*
 * Add a slot's stats to batches[1..max_arm] (indexed by arm_id).  Errors
 * (the tables are inconsistent) when the array is malformed or names an arm
 * above max_arm.
 */
extern void reward_slot_unpack(ArrayType *stats, int max_arm, ArmBatch *batches);

#endif							/* BANDIT_REWARD_SLOT_H */
