/*
 * bandit.c
 *		Module entry point: settings and transaction callbacks.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "catalog.h"
#include "random.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	bandit_random_define_guc();
	MarkGUCPrefixReserved("bandit");
	bandit_cache_register_callbacks();
}
