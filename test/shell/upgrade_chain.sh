#!/usr/bin/env bash
# Walk the whole upgrade chain: install the oldest available version, ALTER
# EXTENSION bandit UPDATE to the default one, and compare every object of
# the extension with a fresh install of the default version.  Prints TAP.
set -euo pipefail
q() { psql -X -v ON_ERROR_STOP=1 -qtA "$@"; }
n=0; failed=0
check() {
  local desc=$1; shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; failed=$((failed + 1)); fi
}
objects() {  # the extension's objects and their definitions
  q -d "$1" -c "
    SELECT pg_describe_object(classid, objid, 0) FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bandit')
    UNION ALL
    SELECT p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid))
      FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
     WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bandit') AND p.prokind = 'f'
    UNION ALL
    SELECT c.relname || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
      FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE ns.nspname = 'bandit'
    UNION ALL
    SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
     WHERE connamespace = 'bandit'::regnamespace
    ORDER BY 1"
}

default=$(q -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'bandit'")
versions=$(q -d postgres -c "SELECT version FROM pg_available_extension_versions WHERE name = 'bandit'
                             ORDER BY string_to_array(version, '.')::int[]")
oldest=$(echo "$versions" | head -1)
echo "1..$((2 + $(echo "$versions" | wc -l)))"

q -d postgres -c "DROP DATABASE IF EXISTS bandit_upgrade_fresh" -c "DROP DATABASE IF EXISTS bandit_upgrade_walk" \
  -c "CREATE DATABASE bandit_upgrade_fresh" -c "CREATE DATABASE bandit_upgrade_walk" >/dev/null
q -d bandit_upgrade_fresh -c "CREATE EXTENSION bandit" >/dev/null
q -d bandit_upgrade_walk -c "CREATE EXTENSION bandit VERSION '$oldest'" >/dev/null
for v in $versions; do
  check "update path reaches $v from $oldest" \
    q -d bandit_upgrade_walk -c "ALTER EXTENSION bandit UPDATE TO '$v'"
done
check "the walked extension is at the default version $default" \
  test "$(q -d bandit_upgrade_walk -c "SELECT extversion FROM pg_extension WHERE extname = 'bandit'")" = "$default"
check "the walked extension has exactly the objects of a fresh install" \
  diff <(objects bandit_upgrade_fresh) <(objects bandit_upgrade_walk)
q -d postgres -c "DROP DATABASE bandit_upgrade_fresh" -c "DROP DATABASE bandit_upgrade_walk" >/dev/null
exit $((failed > 0))
