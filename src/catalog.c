/*
 * catalog.c
 *		SPI access to the experiment tables and the experiment state cache.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "linear.h"
#include "reward_slot.h"
#include "posterior.h"

static HTAB *state_cache = NULL;
static void load_state_in_snapshot(ExperimentState *entry);
static MemoryContext state_cache_context = NULL;

/* ------------------------------------------------------------------------
 * SPI sessions with a pinned search_path
 * ------------------------------------------------------------------------
 */

void
catalog_begin(FunctionCallInfo fcinfo)
{
	OverrideSearchPath path;

	/* pg_catalog first, then the schema our own SQL functions live in */
	path.schemas = list_make1_oid(get_func_namespace(fcinfo->flinfo->fn_oid));
	path.addCatalog = true;
	path.addTemp = false;
	path.generation = 0;
	PushOverrideSearchPath(&path);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
catalog_end(void)
{
	SPI_finish();
	PopOverrideSearchPath();
}

SPIPlanPtr
catalog_plan(SPIPlanPtr *slot, const char *query, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", query,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

void
report_unknown_experiment(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("experiment \"%s\" does not exist", name)));
}

void
report_inconsistent_tables(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the bandit tables are inconsistent"),
			 errdetail_internal("%s", detail),
			 errhint("The extension's tables were changed other than through its functions.")));
}

void
check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
}

/* ------------------------------------------------------------------------
 * The state cache
 * ------------------------------------------------------------------------
 */

static void
flush_state_cache(void)
{
	if (state_cache_context != NULL)
		MemoryContextReset(state_cache_context);
	state_cache = NULL;
}

static void
cache_xact_callback(XactEvent event, void *arg)
{
	/*
	 * A prepared transaction may yet be rolled back (ROLLBACK PREPARED, from
	 * any session): a state read from its own changes is as uncertain as an
	 * aborted one's.
	 */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		flush_state_cache();
}

static void
cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		flush_state_cache();
}

void
bandit_cache_register_callbacks(void)
{
	RegisterXactCallback(cache_xact_callback, NULL);
	RegisterSubXactCallback(cache_subxact_callback, NULL);
}

static ExperimentState *
cache_entry(int64 id)
{
	bool		found;
	ExperimentState *entry;

	if (state_cache == NULL)
	{
		HASHCTL		ctl;

		if (state_cache_context == NULL)
			state_cache_context = AllocSetContextCreate(TopMemoryContext,
														"bandit experiment states",
														ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(ExperimentState);
		ctl.hcxt = state_cache_context;
		state_cache = hash_create("bandit experiment states", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = (ExperimentState *) hash_search(state_cache, &id, HASH_ENTER, &found);
	if (!found)
	{
		entry->valid = false;
		entry->context = AllocSetContextCreate(state_cache_context,
											   "bandit experiment state",
											   ALLOCSET_SMALL_SIZES);
	}
	return entry;
}

void
experiment_state_forget(int64 id)
{
	ExperimentState *entry;

	if (state_cache == NULL)
		return;
	entry = (ExperimentState *) hash_search(state_cache, &id, HASH_FIND, NULL);
	if (entry == NULL)
		return;
	MemoryContextDelete(entry->context);
	hash_search(state_cache, &id, HASH_REMOVE, NULL);
}

static int64
getarg_int64(HeapTuple tuple, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	Assert(!isnull);
	return DatumGetInt64(d);
}

bool
arm_has_linear_column(void)
{
	Oid			arm = get_relname_relid("arm", get_namespace_oid("bandit", false));

	return OidIsValid(arm) && get_attnum(arm, "linear") != InvalidAttrNumber;
}

/*
 * The tables of 0.4.0 (bandit.reward_slot, bandit.event, the columns
 * experiment.paused_arm and decision.kind) arrive together, so one of them
 * stands for all.
 */
bool
catalog_has_0_4(void)
{
	return OidIsValid(get_relname_relid("reward_slot", get_namespace_oid("bandit", false)));
}

/*
 * Add the online rewards of the experiment's reward slots to its arms (in
 * the snapshot that read the arms).  Returns the sum of the slots' versions.
 */
static int64
load_reward_slots(ExperimentState *entry)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(entry->id)};
	int			max_arm = 0;
	ArmBatch   *batches;
	int64		versions = 0;

	if (!catalog_has_0_4())
		return 0;
	catalog_plan(&plan, "SELECT version, stats FROM bandit.reward_slot WHERE experiment_id = $1",
				 1, argtypes);
	if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read reward slots of experiment " INT64_FORMAT, entry->id);
	if (SPI_processed == 0)
		return 0;
	if (policy_is_contextual(entry->config.policy))
		report_inconsistent_tables("A contextual experiment has reward slots.");

	for (int i = 0; i < entry->k; i++)
		max_arm = Max(max_arm, entry->arm_ids[i]);
	batches = palloc0(sizeof(ArmBatch) * (max_arm + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;

		versions += getarg_int64(tuple, SPI_tuptable->tupdesc, 1);
		reward_slot_unpack(DatumGetArrayTypeP(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull)),
						   max_arm, batches);
	}
	for (int i = 0; i < entry->k; i++)
		arm_state_add_batch(&entry->config, &entry->arms[i], &batches[entry->arm_ids[i]]);
	pfree(batches);
	return versions;
}

/*
 * Read the experiment, its arms and its reward slots in one snapshot and
 * recompute the vector.  From a VOLATILE caller (read_only false) the
 * snapshot is a fresh one that also sees this transaction's earlier
 * commands, as a query of a volatile function would.
 */
static void
load_state(ExperimentState *entry, bool read_only)
{
	if (!read_only)
	{
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	PG_TRY();
	{
		load_state_in_snapshot(entry);
	}
	PG_FINALLY();
	{
		if (!read_only)
			PopActiveSnapshot();
	}
	PG_END_TRY();
}

static void
load_state_in_snapshot(ExperimentState *entry)
{
	/* [has arm.linear (0.2.0)][has experiment.paused_arm (0.4.0)] */
	static SPIPlanPtr plans[2][2];
	bool		has_linear = arm_has_linear_column();
	bool		has_0_4 = catalog_has_0_4();
	SPIPlanPtr	chosen;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(entry->id)};
	MemoryContext old;
	SPITupleTable *tuptable;
	TupleDesc	desc;
	int64		version_sum;

	/*
	 * The library serves every installed version of the extension: a
	 * database still at 0.1.0 (before ALTER EXTENSION bandit UPDATE) has no
	 * arm.linear column, and no contextual experiment either; before 0.4.0
	 * no experiment is paused.
	 */
	chosen = catalog_plan(&plans[has_linear][has_0_4],
						  psprintf("SELECT e.version, e.policy, e.params, a.arm_id, a.name, a.enabled,"
								   "       a.version, a.beta, a.normal, a.ipw_sum, %s, %s"
								   "  FROM bandit.experiment e JOIN bandit.arm a ON a.experiment_id = e.id"
								   " WHERE e.id = $1 ORDER BY a.arm_id",
								   has_linear ? "a.linear" : "NULL::bytea",
								   has_0_4 ? "e.paused_arm" : "NULL::int"),
						  1, argtypes);
	if (SPI_execute_plan(chosen, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read experiment " INT64_FORMAT, entry->id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("experiment " INT64_FORMAT " was dropped concurrently", entry->id)));

	entry->valid = false;
	MemoryContextReset(entry->context);
	tuptable = SPI_tuptable;
	desc = tuptable->tupdesc;

	{
		bool		isnull;
		char	   *policy = TextDatumGetCString(SPI_getbinval(tuptable->vals[0], desc, 2, &isnull));
		Jsonb	   *params = DatumGetJsonbP(SPI_getbinval(tuptable->vals[0], desc, 3, &isnull));

		MemoryContext caller = MemoryContextSwitchTo(entry->context);

		/* its strings (intervals) live as long as the cached state */
		config_from_params(&entry->config, policy_from_name(policy), params);
		MemoryContextSwitchTo(caller);
		entry->config_version = getarg_int64(tuptable->vals[0], desc, 1);
	}

	old = MemoryContextSwitchTo(entry->context);
	entry->k = (int) SPI_processed;
	entry->arm_ids = palloc(sizeof(int32) * entry->k);
	entry->arm_names = palloc(sizeof(char *) * entry->k);
	entry->arms = palloc0(sizeof(ArmState) * entry->k);
	entry->probs = palloc(sizeof(double) * entry->k);
	MemoryContextSwitchTo(old);

	version_sum = entry->config_version;
	entry->paused = -1;
	for (int i = 0; i < entry->k; i++)
	{
		HeapTuple	tuple = tuptable->vals[i];
		ArmState   *arm = &entry->arms[i];
		bool		isnull;
		Datum		posterior;

		entry->arm_ids[i] = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
		entry->arm_names[i] = MemoryContextStrdup(entry->context,
												  TextDatumGetCString(SPI_getbinval(tuple, desc, 5, &isnull)));
		arm->enabled = DatumGetBool(SPI_getbinval(tuple, desc, 6, &isnull));
		version_sum += getarg_int64(tuple, desc, 7);
		arm->ipw_sum = DatumGetFloat8(SPI_getbinval(tuple, desc, 10, &isnull));
		{
			Datum		paused = SPI_getbinval(tuple, desc, 12, &isnull);

			if (!isnull && DatumGetInt32(paused) == entry->arm_ids[i])
				entry->paused = i;
		}
		if (policy_is_contextual(entry->config.policy))
		{
			LinearPosterior *p;

			posterior = SPI_getbinval(tuple, desc, 11, &isnull);
			if (isnull)
				report_inconsistent_tables("An arm of a contextual experiment has no linear posterior.");
			/* a detoasted copy that lives as long as the cached state */
			old = MemoryContextSwitchTo(entry->context);
			p = (LinearPosterior *) PG_DETOAST_DATUM_COPY(posterior);
			MemoryContextSwitchTo(old);
			if (p->dim != entry->config.context_dim)
				report_inconsistent_tables(psprintf("An arm posterior has dimension %d in an experiment of dimension %d.",
													p->dim, entry->config.context_dim));
			arm->linear = p;
			arm->n = p->n;
		}
		else if (entry->config.reward_type == REWARD_GAUSSIAN)
		{
			NormalPosterior *p;

			posterior = SPI_getbinval(tuple, desc, 9, &isnull);
			if (isnull)
				report_inconsistent_tables("An arm of a gaussian experiment has no normal posterior.");
			p = DatumGetNormalPosterior(posterior);
			arm->n = p->n;
			arm->mean = p->mean;
			arm->kappa = p->kappa;
			arm->alpha = p->alpha;
			arm->beta = p->beta;
		}
		else
		{
			BetaPosterior *p;

			posterior = SPI_getbinval(tuple, desc, 8, &isnull);
			if (isnull)
				report_inconsistent_tables("An arm of a bernoulli experiment has no beta posterior.");
			p = DatumGetBetaPosterior(posterior);
			arm->n = p->n;
			arm->alpha = p->alpha;
			arm->beta = p->beta;
		}
	}
	/* the arms as their rows hold them, for refold_reward_slots */
	entry->base_arms = MemoryContextAlloc(entry->context, sizeof(ArmState) * entry->k);
	memcpy(entry->base_arms, entry->arms, sizeof(ArmState) * entry->k);
	entry->base_version = version_sum;
	entry->slot_version = load_reward_slots(entry);
	version_sum += entry->slot_version;
	{
		bool		isnull;

		SPI_getbinval(tuptable->vals[0], desc, 12, &isnull);
		if (!isnull && entry->paused < 0)
			report_inconsistent_tables("A paused experiment's default arm does not exist.");
	}
	/* contextual policies compute their probabilities per context */
	if (!policy_is_contextual(entry->config.policy))
		policy_probabilities(&entry->config, entry->k, entry->arms, entry->probs);
	entry->state_version = version_sum;
	entry->valid = true;
}

/* Schema bandit, with the caller's USAGE privilege checked as a query would. */
static Oid
bandit_namespace(void)
{
	Oid			namespace = get_namespace_oid("bandit", false);
	AclResult	acl = pg_namespace_aclcheck(namespace, GetUserId(), ACL_USAGE);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_SCHEMA, "bandit");
	return namespace;
}

/* A relation of schema bandit, opened with the caller's SELECT privilege checked. */
static Relation
open_bandit_table(const char *relname, Oid namespace)
{
	Oid			relid = get_relname_relid(relname, namespace);
	AclResult	acl;

	if (!OidIsValid(relid))
		elog(ERROR, "table bandit.%s is missing", relname);
	acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, relname);
	return table_open(relid, AccessShareLock);
}

static Oid
bandit_index(const char *indexname, Oid namespace)
{
	Oid			relid = get_relname_relid(indexname, namespace);

	if (!OidIsValid(relid))
		elog(ERROR, "index bandit.%s is missing", indexname);
	return relid;
}

static AttrNumber
column_number(Relation rel, const char *column)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column bandit.%s.%s is missing", RelationGetRelationName(rel), column);
	return attnum;
}

static int64
int8_column(HeapTuple tuple, Relation rel, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, RelationGetDescr(rel), &isnull);

	if (isnull)
		elog(ERROR, "NULL in a NOT NULL column of bandit.%s", RelationGetRelationName(rel));
	return DatumGetInt64(d);
}

/*
 * The sum of an experiment's reward slot versions (0 before 0.4.0: no
 * slots); with batches (indexed by arm_id, up to max_arm), each slot's sums
 * are added to them too, from the same rows.
 */
static int64
scan_reward_slots(int64 id, Oid namespace, Snapshot snapshot, ArmBatch *batches, int max_arm)
{
	Oid			relid = get_relname_relid("reward_slot", namespace);
	Relation	slots;
	AttrNumber	version_column;
	AttrNumber	stats_column;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		sum = 0;

	if (!OidIsValid(relid))
		return 0;
	slots = open_bandit_table("reward_slot", namespace);
	version_column = column_number(slots, "version");
	stats_column = column_number(slots, "stats");
	ScanKeyInit(&key, column_number(slots, "experiment_id"),
				BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	scan = systable_beginscan(slots, bandit_index("reward_slot_pkey", namespace), true,
							  snapshot, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		sum += int8_column(tuple, slots, version_column);
		if (batches != NULL)
		{
			bool		isnull;
			Datum		stats = heap_getattr(tuple, stats_column, RelationGetDescr(slots), &isnull);

			if (isnull)
				report_inconsistent_tables("A reward slot has no stats.");
			reward_slot_unpack(DatumGetArrayTypeP(stats), max_arm, batches);
		}
	}
	systable_endscan(scan);
	table_close(slots, AccessShareLock);
	return sum;
}

/* What the hot path reads: the experiment's id and its versions, in one snapshot. */
typedef struct StateVersions
{
	int64		id;
	int64		base;			/* the experiment row's version plus its arm rows' */
	int64		slots;			/* the sum of its reward slots' versions (filled in by experiment_state) */
	Oid			namespace;
	Snapshot	snapshot;		/* registered; the caller unregisters it */
} StateVersions;

/*
 * The hot path's one read: the experiment's id and its versions, by index
 * scans that run directly on the tables, as a SELECT would, with the
 * caller's SELECT privilege checked; starting a query through SPI would cost
 * several times as much.  Only when a version differs from the cached one
 * are posteriors read.  Like a SELECT in a volatile function, a fresh
 * snapshot is taken that also sees this transaction's earlier commands;
 * read_only keeps the statement's snapshot instead.
 */
static void
read_state_version(const char *name, bool read_only, StateVersions *v)
{
	int64	   *id = &v->id;
	int64	   *version = &v->base;
	Oid			namespace = v->namespace = bandit_namespace();
	Relation	experiments = open_bandit_table("experiment", namespace);
	Relation	arms = open_bandit_table("arm", namespace);
	Oid			name_index = bandit_index("experiment_name_key", namespace);
	Relation	name_index_rel = index_open(name_index, AccessShareLock);
	Snapshot	snapshot;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (!read_only)
		CommandCounterIncrement();
	snapshot = RegisterSnapshot(read_only ? GetActiveSnapshot() : GetTransactionSnapshot());

	/* systable_beginscan takes heap attribute numbers in its keys */
	ScanKeyEntryInitialize(&key, 0, column_number(experiments, "name"),
						   BTEqualStrategyNumber, InvalidOid,
						   name_index_rel->rd_indcollation[0], F_TEXTEQ,
						   CStringGetTextDatum(name));
	scan = systable_beginscan(experiments, name_index, true, snapshot, 1, &key);
	if (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		found = true;
		*id = int8_column(tuple, experiments, column_number(experiments, "id"));
		*version = int8_column(tuple, experiments, column_number(experiments, "version"));
	}
	systable_endscan(scan);
	index_close(name_index_rel, AccessShareLock);

	if (found)
	{
		AttrNumber	arm_version = column_number(arms, "version");

		ScanKeyInit(&key, column_number(arms, "experiment_id"),
					BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(*id));
		scan = systable_beginscan(arms, bandit_index("arm_pkey", namespace), true,
								  snapshot, 1, &key);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
			*version += int8_column(tuple, arms, arm_version);
		systable_endscan(scan);
	}
	table_close(arms, AccessShareLock);
	table_close(experiments, AccessShareLock);
	if (!found)
	{
		UnregisterSnapshot(snapshot);
		report_unknown_experiment(name);
	}
	v->snapshot = snapshot;
}

/*
 * Only reward slots changed since the state was read (online rewards): add
 * the slots, read directly in the snapshot that counted their versions, to
 * the arms as their rows were read, and recompute the vector; no query.
 */
static void
refold_reward_slots(ExperimentState *entry, const StateVersions *v)
{
	int			max_arm = 0;
	ArmBatch   *batches;

	entry->valid = false;
	for (int i = 0; i < entry->k; i++)
		max_arm = Max(max_arm, entry->arm_ids[i]);
	batches = palloc0(sizeof(ArmBatch) * (max_arm + 1));
	scan_reward_slots(entry->id, v->namespace, v->snapshot, batches, max_arm);
	memcpy(entry->arms, entry->base_arms, sizeof(ArmState) * entry->k);
	for (int i = 0; i < entry->k; i++)
		arm_state_add_batch(&entry->config, &entry->arms[i], &batches[entry->arm_ids[i]]);
	pfree(batches);
	policy_probabilities(&entry->config, entry->k, entry->arms, entry->probs);
	entry->slot_version = v->slots;
	entry->state_version = entry->base_version + entry->slot_version;
	entry->valid = true;
}

ExperimentState *
experiment_state(const char *name, bool read_only)
{
	StateVersions v;
	ExperimentState *entry;

	read_state_version(name, read_only, &v);
	entry = cache_entry(v.id);

	/*
	 * Only online non-contextual experiments have reward slots (the update
	 * mode and the policy never change): the others skip the slot scan once
	 * their state is cached.
	 */
	if (entry->valid && (!entry->config.online || policy_is_contextual(entry->config.policy)))
		v.slots = entry->slot_version;
	else
		v.slots = scan_reward_slots(v.id, v.namespace, v.snapshot, NULL, 0);
	if (entry->valid && entry->base_version == v.base && entry->slot_version != v.slots &&
		!policy_is_contextual(entry->config.policy))
		refold_reward_slots(entry, &v);
	else if (!entry->valid || entry->base_version != v.base || entry->slot_version != v.slots)
		load_state(entry, read_only);
	UnregisterSnapshot(v.snapshot);
	return entry;
}

int64
experiment_id(const char *name, bool lock)
{
	Datum		args[1] = {CStringGetTextDatum(name)};
	Oid			argtypes[1] = {TEXTOID};
	const char *query = lock
		? "SELECT id FROM bandit.experiment WHERE name = $1 FOR NO KEY UPDATE"
		: "SELECT id FROM bandit.experiment WHERE name = $1";

	if (SPI_execute_with_args(query, 1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up experiment \"%s\"", name);
	if (SPI_processed == 0)
		report_unknown_experiment(name);
	return getarg_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

int
experiment_arm_index(const ExperimentState *state, const char *experiment, const char *arm)
{
	for (int i = 0; i < state->k; i++)
		if (strcmp(state->arm_names[i], arm) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("arm \"%s\" does not exist in experiment \"%s\"", arm, experiment)));
	pg_unreachable();
}

void
experiment_config(int64 id, ExperimentConfig *config)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	bool		isnull;
	char	   *policy;

	if (SPI_execute_with_args("SELECT policy, params FROM bandit.experiment WHERE id = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read experiment " INT64_FORMAT, id);
	policy = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	config_from_params(config, policy_from_name(policy),
					   DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
}

void
experiment_bump_version(int64 id, int64 by)
{
	Datum		args[2] = {Int64GetDatum(id), Int64GetDatum(by)};
	Oid			argtypes[2] = {INT8OID, INT8OID};

	if (SPI_execute_with_args("UPDATE bandit.experiment SET version = version + $2 WHERE id = $1",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update experiment " INT64_FORMAT, id);
}
