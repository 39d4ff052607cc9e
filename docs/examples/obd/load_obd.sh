#!/usr/bin/env bash
# Load the small Open Bandit Dataset sample into PostgreSQL (docs/obd.md).
#
#   bash docs/examples/obd/load_obd.sh /path/to/obd [database]
#
# /path/to/obd is the folder holding random/ and bts/ (each with men/ and
# women/ inside), as in the Open Bandit Pipeline's obd/ folder.  The database
# defaults to "obd" and is created if it does not exist.  Connection settings
# come from the usual libpq variables (PGHOST, PGPORT, PGUSER, ...).
#
# Creates (dropping it first if present) the table obd_log with the 40,000
# impressions of both policies (random, bts) and both campaigns (men, women),
# in one transaction: a failed run leaves the previous table untouched.
# Needs only bash, coreutils (cut, head) and psql.  The data stay where they
# are: nothing is copied next to this script.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=$(basename "$0")

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
usage() {
  printf 'usage: bash %s /path/to/obd [database]\n' "$prog" >&2
  printf '  /path/to/obd: the folder with random/{men,women}/ and bts/{men,women}/\n' >&2
  printf '  database:     where to load it (default: obd, created if missing)\n' >&2
  exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
case $1 in -h|--help) usage ;; esac
obd_dir=$1
db=${2:-obd}

command -v psql >/dev/null || die "psql not found in PATH"
command -v cut >/dev/null || die "cut not found in PATH"
[ -f "$here/load_obd.sql" ] || die "load_obd.sql is missing beside $prog (looked in $here)"
[ -d "$obd_dir" ] || die "'$obd_dir' is not a directory (expected the Open Bandit Dataset folder with random/ and bts/)"

# The header every log file must start with (the affinity columns after it
# vary in number per campaign and are not loaded).
expected_header=',timestamp,item_id,position,click,propensity_score'

files=()
for policy in random bts; do
  for campaign in men women; do
    f=$obd_dir/$policy/$campaign/$campaign.csv
    [ -f "$f" ] || die "missing $f (expected $policy/$campaign/$campaign.csv under '$obd_dir')"
    [ -r "$f" ] || die "cannot read $f"
    header=$(head -n 1 "$f" | cut -d, -f1-6 | tr -d '\r')
    [ "$header" = "$expected_header" ] ||
      die "unexpected header in $f: '$header' (expected '$expected_header')"
    files+=("$policy" "$campaign" "$f")
  done
done

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# The database: connect, or create it if it does not exist yet.
if ! psql_q -d "$db" -c 'SELECT 1' >/dev/null 2>&1; then
  printf '%s: database "%s" not reachable; trying to create it\n' "$prog" "$db" >&2
  createdb "$db" || die "could not connect to or create database \"$db\" (check PGHOST, PGPORT, PGUSER)"
fi

# One psql session, one transaction: the DDL, then per file its first six
# columns inline after a \copy ... FROM stdin, moved into obd_log with the
# policy and campaign (fixed words from the loop above, never user input).
{
  echo 'SET client_min_messages = warning;'
  echo 'BEGIN;'
  cat "$here/load_obd.sql"
  set -- "${files[@]}"
  while [ $# -gt 0 ]; do
    policy=$1 campaign=$2 f=$3; shift 3
    echo '\copy obd_staging (row_id, ts, item_id, position, click, propensity) FROM stdin WITH (FORMAT csv, HEADER true)'
    cut -d, -f1-6 "$f" | tr -d '\r'
    echo '\.'
    cat <<SQL
INSERT INTO obd_log (policy, campaign, row_id, ts, item_id, position, click, propensity)
SELECT '$policy', '$campaign', row_id, ts, item_id, position, click, propensity
FROM obd_staging;
TRUNCATE obd_staging;
SQL
  done
  echo 'COMMIT;'
  echo 'ANALYZE obd_log;'
} | psql_q -d "$db" || die "loading into database \"$db\" failed (see the psql error above); obd_log was left as it was"

# What was loaded, to compare with the dataset's README.
psql -X -v ON_ERROR_STOP=1 -d "$db" -c "
SELECT policy, campaign, count(*) AS rows, count(DISTINCT item_id) AS items,
       sum(click) AS clicks, round(avg(click)::numeric, 4) AS ctr,
       (min(ts) AT TIME ZONE 'UTC')::date AS first_day,
       (max(ts) AT TIME ZONE 'UTC')::date AS last_day
FROM obd_log GROUP BY policy, campaign ORDER BY policy DESC, campaign;"
printf '%s: loaded obd_log into database "%s"\n' "$prog" "$db" >&2
