/*
 * summation.h
 *		Neumaier (improved Kahan) compensated summation.
 *
 * Posterior sums run over logs of millions of rows; a plain double
 * accumulator loses about log2(n) bits.  The compensation term is carried
 * through aggregate combine and serialisation so partial sums do not drift.
 */
#ifndef BANDIT_SUMMATION_H
#define BANDIT_SUMMATION_H

#include <math.h>

typedef struct CompensatedSum
{
	double		sum;
	double		compensation;
} CompensatedSum;

static inline void
compensated_add(CompensatedSum *acc, double value)
{
	double		t = acc->sum + value;

	if (fabs(acc->sum) >= fabs(value))
		acc->compensation += (acc->sum - t) + value;
	else
		acc->compensation += (value - t) + acc->sum;
	acc->sum = t;
}

static inline void
compensated_merge(CompensatedSum *acc, const CompensatedSum *other)
{
	compensated_add(acc, other->sum);
	acc->compensation += other->compensation;
}

static inline double
compensated_value(const CompensatedSum *acc)
{
	return acc->sum + acc->compensation;
}

#endif							/* BANDIT_SUMMATION_H */
