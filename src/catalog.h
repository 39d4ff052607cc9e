/*
 * catalog.h
 *		Access to the extension's tables (schema "bandit") through SPI, and
 *		the per-backend cache of experiment states.
 *
 * Every SQL-callable function that touches the tables runs between
 * catalog_begin() and catalog_end(): SPI is connected and the search_path
 * is pinned to pg_catalog plus the extension's own schema, so no object of
 * the caller's search_path can stand in for ours or for a built-in.
 */
#ifndef BANDIT_CATALOG_H
#define BANDIT_CATALOG_H

#include "postgres.h"
#include "fmgr.h"
#include "executor/spi.h"

#include "config.h"
#include "policy.h"

/*
 * An experiment's state as one backend last read it.  state_version is the
 * experiment row's version plus the sum of its arm rows' and reward slots'
 * versions.  Every committed change raises that sum (a refresh that deletes
 * reward slots adds their versions, plus one, to the experiment's), and
 * PostgreSQL makes commits visible in one order, so within a backend a given
 * sum always names the same committed state.  The cache is flushed when a
 * (sub)transaction aborts, because the state it may hold came from rows
 * that no longer exist.
 */
typedef struct ExperimentState
{
	int64		id;				/* hash key */
	bool		valid;
	int64		config_version; /* the experiment row's version */
	int64		state_version;
	MemoryContext context;		/* owns everything below */
	ExperimentConfig config;
	int			k;
	int32	   *arm_ids;
	char	  **arm_names;
	ArmState   *arms;
	double	   *probs;			/* the policy's probability vector in this state */
	int			paused;			/* index of the arm served while paused, or -1 */
	/* online rewards change only reward slots: the arms before them, and the versions */
	ArmState   *base_arms;		/* the arm rows' posteriors, without the slots */
	int64		base_version;	/* the experiment row's version plus its arm rows' */
	int64		slot_version;	/* the sum of its reward slots' versions */
} ExperimentState;

extern void catalog_begin(FunctionCallInfo fcinfo);
extern void catalog_end(void);

/* Prepare (once per backend) and keep a plan. */
extern SPIPlanPtr catalog_plan(SPIPlanPtr *slot, const char *query, int nargs,
							   Oid *argtypes);

/*
 * The current state of an experiment, from the cache when it is current.
 * read_only: true from STABLE functions (use the statement's snapshot),
 * false from VOLATILE ones (take a fresh snapshot, see the latest commits).
 */
extern ExperimentState *experiment_state(const char *name, bool read_only);

/* Its id alone (errors when it does not exist); optionally locked against config changes. */
extern int64 experiment_id(const char *name, bool lock);

/* Index of the named arm in state->arm_names; errors when absent. */
extern int	experiment_arm_index(const ExperimentState *state, const char *experiment,
								 const char *arm);

/* Its configuration, parsed from the experiment row. */
extern void experiment_config(int64 id, ExperimentConfig *config);

/*
 * Raise the experiment row's version by "by", so that the state version
 * grows; by is more than 1 when rows whose versions counted in it are
 * deleted (folded reward slots).
 */
extern void experiment_bump_version(int64 id, int64 by);

/* Drop this backend's cached state of an experiment (after bandit_drop). */
extern void experiment_state_forget(int64 id);

extern void bandit_cache_register_callbacks(void);

/* Errors shared by the API functions. */
extern void report_unknown_experiment(const char *name) pg_attribute_noreturn();
/* The tables hold what the extension's functions never write (changed by hand). */
extern void report_inconsistent_tables(const char *detail) pg_attribute_noreturn();
/* Are the tables at 0.4.0 or later (reward slots, events, pause, decision kinds)? */
extern bool catalog_has_0_4(void);
/* Does bandit.arm have the linear column (0.2.0 and later)? */
extern bool arm_has_linear_column(void);
extern void check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname);

#endif							/* BANDIT_CATALOG_H */
