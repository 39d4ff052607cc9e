#!/usr/bin/env bash
# Beyond one machine (docs/scaling.md): three throwaway PostgreSQL 15 clusters,
# a coordinator and two shards, each with `CREATE EXTENSION bandit`.  Prints TAP.
#
# 1. PL/Proxy.  The coordinator's database "proxy" routes bandit_create,
#    bandit_select, bandit_reward and bandit_refresh to the shard that owns
#    the experiment, looked up in the table bandit_placement.  Ids are unique
#    across shards (bandit_shard_sequences: every sequence of the extension
#    counts in steps of 64 from shard + 1) and the proxy's bandit_reward takes
#    the experiment's name.  Demo traffic (4 experiments, Bernoulli arms with
#    known rates, 4,400 select + reward rounds in all) as an application role
#    through the proxy; each shard's log must hold exactly the client's
#    decisions and rewards of the experiments placed on it, and after
#    bandit_refresh through the proxy every arm's posterior must equal
#    beta_posterior_agg over its shard's reward log.  Then two experiments
#    move between shards (one online, one batch with pending rewards): the
#    move waits for client transactions in flight, refuses calls meanwhile
#    (55006) while the proxy serves the others, copies every row of every
#    extension table exactly and leaves none behind; rewards of decisions made
#    before the move still arrive, and the checks are repeated.
# 2. postgres_fdw.  The coordinator's database "analytics" holds a decision
#    log (120,000 generated rows, 6 experiments) hash-partitioned by
#    experiment over foreign tables on the shards (server option extensions
#    'bandit'); with enable_partitionwise_aggregate every bandit aggregate
#    runs on the shards (EXPLAIN VERBOSE: in the Remote SQL) and the results
#    equal a single-node serial run over the same rows: counts and
#    beta_posterior exactly, every other number to 1e-12 relative (in
#    practice bit-identical, as the shards read the rows in the same order).
#    GROUP BY arm, not the partition key, combines states on the coordinator
#    over fetched rows: the same tolerances.
#
# The clusters live in /var/tmp/bandit-scaleout-XXXXXX (owned by postgres, so
# a checkout under /root works), listen on Unix sockets only
# (listen_addresses = ''; the port numbers only name the socket files), and
# are stopped and removed on exit.  Needs root (or the postgres OS user),
# PostgreSQL 15 with bandit, postgres_fdw (postgresql-contrib) and PL/Proxy
# (postgresql-15-plproxy) installed; nothing of the caller's cluster is used.
# BANDIT_SCALEOUT_KEEP=1 leaves the clusters running for a look afterwards.
set -Eeuo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config || echo /usr/bin/pg_config)
PLAN=25
started=$(date +%s)

# --- prerequisites -----------------------------------------------------------
missing=""
if [ ! -x "$PG_CONFIG" ]; then
  missing="pg_config"
else
  PG_BIN=$("$PG_CONFIG" --bindir)
  EXTDIR=$("$PG_CONFIG" --sharedir)/extension
  for ext in bandit postgres_fdw plproxy; do
    [ -f "$EXTDIR/$ext.control" ] || missing="$missing $ext"
  done
fi
if [ "$(id -u)" != 0 ] && [ "$(id -un)" != postgres ]; then missing="$missing root-or-postgres"; fi
id postgres >/dev/null 2>&1 || missing="$missing postgres-os-user"
if [ -n "$missing" ]; then
  if [ "${BANDIT_OWN_SERVER:-0}" = 1 ]; then
    echo "1..0 # SKIP scale-out check needs:$missing (PL/Proxy: apt-get install postgresql-15-plproxy)"
    exit 0
  fi
  echo "1..1"
  echo "not ok 1 - prerequisites missing:$missing (scripts/test.sh installs postgresql-15-plproxy)"
  exit 1
fi

n=0; failed=0
check() {  # description, command...
  local desc=$1; shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; failed=$((failed + 1)); fi
}
note() { printf '# %s\n' "$@"; }

# --- the three clusters ------------------------------------------------------
DIR=$(mktemp -d /var/tmp/bandit-scaleout-XXXXXX)
NODES=(coord shard0 shard1)
declare -A PORT=([coord]=5441 [shard0]=5442 [shard1]=5443)
BGPID=""

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# the servers must not inherit the caller's libpq settings (their own
# postgres_fdw and PL/Proxy connections would read them)
pg_ctl_() { as_pg env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGOPTIONS -u PGSERVICE \
  -u PGPASSWORD "$PG_BIN/pg_ctl" "$@"; }

cleanup() {
  local rc=$?
  trap - EXIT ERR
  [ -n "$BGPID" ] && kill "$BGPID" 2>/dev/null
  if [ "${BANDIT_SCALEOUT_KEEP:-0}" = 1 ]; then
    echo "# kept the clusters in $DIR (stop: pg_ctl -D $DIR/<node>/data stop, as postgres)"
    exit "$rc"
  fi
  for node in "${NODES[@]}"; do
    [ -f "$DIR/$node/data/postmaster.pid" ] && pg_ctl_ -D "$DIR/$node/data" -m immediate stop >/dev/null 2>&1 &
  done
  wait
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
trap 'echo "# setup step failed (line $LINENO): $BASH_COMMAND"' ERR

echo "1..$PLAN"

start_node() {
  local node=$1
  as_pg mkdir "$DIR/$node"
  as_pg "$PG_BIN/initdb" -D "$DIR/$node/data" -A trust -U postgres --no-sync --no-locale -E UTF8 >/dev/null
  as_pg tee -a "$DIR/$node/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR/$node'
port = ${PORT[$node]}
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
max_connections = 30
CONF
  pg_ctl_ -D "$DIR/$node/data" -l "$DIR/$node/server.log" -w start >/dev/null
}
chown postgres:postgres "$DIR"; chmod 700 "$DIR"
pids=()
for node in "${NODES[@]}"; do start_node "$node" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done

# psql on a node: q NODE DB [psql args...]; as another role: U=web q ...
q() { local node=$1 db=$2; shift 2
  psql -X -v ON_ERROR_STOP=1 -qtA -h "$DIR/$node" -p "${PORT[$node]}" -U "${U:-postgres}" -d "$db" "$@"; }
conn() { echo "host=$DIR/$1 port=${PORT[$1]} dbname=bandit"; }

# --- shards ------------------------------------------------------------------
LOG_COLUMNS="experiment text NOT NULL, arm int NOT NULL, reward float8, gain float8, x float8[],
             target_prob float8, logging_prob float8, q_logged float8, v_target float8"
for s in 0 1; do
  q shard$s postgres -c "CREATE DATABASE bandit" -c "CREATE ROLE web LOGIN"
  q shard$s bandit >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION bandit;
GRANT bandit_app TO web;

-- The same as docs/scaling.md: every id sequence of the extension (those
-- registered with pg_extension_config_dump) counts in steps of STRIDE from
-- SHARD + 1, positioned past every id its table holds, so that ids are
-- unique across shards and a copied experiment's ids stay below new ones.
-- Idempotent; only ever moves a sequence forward.
CREATE FUNCTION bandit_shard_sequences(shard int, stride int DEFAULT 64) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    r record;
    last bigint;
    called boolean;
    top bigint;
    base bigint;
    v bigint;
BEGIN
    IF shard < 0 OR stride < 1 OR shard >= stride THEN
        RAISE EXCEPTION 'shard must be between 0 and stride - 1';
    END IF;
    FOR r IN
        SELECT s.oid::regclass AS seq, q.seqincrement, q.seqstart,
               t.oid::regclass AS tbl, a.attname AS col
          FROM pg_extension x
         CROSS JOIN LATERAL unnest(x.extconfig) u(oid)
          JOIN pg_class s ON s.oid = u.oid AND s.relkind = 'S'
          JOIN pg_sequence q ON q.seqrelid = s.oid
          LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                               AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
          LEFT JOIN pg_class t ON t.oid = d.refobjid
          LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
         WHERE x.extname = 'bandit'
    LOOP
        IF r.tbl IS NOT NULL THEN
            -- inserts take their id from the column default: keep them out meanwhile
            EXECUTE format('LOCK TABLE %s IN SHARE MODE', r.tbl);
            EXECUTE format('SELECT max(%I) FROM %s', r.col, r.tbl) INTO top;
        END IF;
        IF r.seqincrement <> stride OR r.seqstart <> shard + 1 THEN
            EXECUTE format('ALTER SEQUENCE %s INCREMENT BY %s START WITH %s', r.seq, stride, shard + 1);
        END IF;
        EXECUTE format('SELECT last_value, is_called FROM %s', r.seq) INTO last, called;
        base := greatest(CASE WHEN called THEN last ELSE 0 END, coalesce(top, 0));
        v := base + ((shard + 1 - base) % stride + stride) % stride;   -- >= base, = shard + 1 mod stride
        IF NOT (called AND v = last) THEN
            PERFORM setval(r.seq, v, v <= base);                       -- next id: v, or v + stride if taken
        END IF;
    END LOOP;
END
$$;
SQL
  q shard$s bandit >/dev/null <<SQL
SELECT bandit_shard_sequences($s);
-- part 2: this shard's partition of the analytics log
CREATE TABLE decision_log_part ($LOG_COLUMNS);
SQL
done

# --- the proxy (the same definitions as docs/scaling.md) -----------------------
q coord postgres -c "CREATE DATABASE proxy" -c "CREATE DATABASE analytics" -c "CREATE ROLE web LOGIN"
q coord proxy >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION plproxy;
CREATE SERVER bandit_shards FOREIGN DATA WRAPPER plproxy
    OPTIONS (p0 '$(conn shard0)', p1 '$(conn shard1)');
CREATE USER MAPPING FOR PUBLIC SERVER bandit_shards;
GRANT USAGE ON FOREIGN SERVER bandit_shards TO web;

CREATE TABLE bandit_placement (
    experiment text PRIMARY KEY,
    shard      int NOT NULL CHECK (shard >= 0),
    moving     boolean NOT NULL DEFAULT false
);

-- the shard of an experiment; the shared advisory lock lasts until the
-- caller's transaction ends, so that a move can wait for calls in flight
CREATE FUNCTION bandit_shard(experiment text) RETURNS int
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS \$\$
DECLARE
    placed public.bandit_placement;
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'experiment must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(1650552420, hashtext(experiment));
    SELECT * INTO placed FROM public.bandit_placement p WHERE p.experiment = bandit_shard.experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    IF placed.moving THEN
        RAISE EXCEPTION 'experiment "%" is being moved', experiment
            USING ERRCODE = 'object_in_use', HINT = 'Retry in a moment.';
    END IF;
    RETURN placed.shard;
END
\$\$;

CREATE FUNCTION bandit_create(name text, arms text[], policy text DEFAULT 'thompson',
                              params jsonb DEFAULT '{}') RETURNS bigint
    LANGUAGE plproxy AS \$\$ CLUSTER 'bandit_shards'; RUN ON bandit_shard(name); \$\$;
CREATE FUNCTION bandit_select(experiment text, context float8[] DEFAULT NULL, unit text DEFAULT NULL)
    RETURNS TABLE (decision_id bigint, arm text, propensity float8)
    LANGUAGE plproxy AS \$\$ CLUSTER 'bandit_shards'; RUN ON bandit_shard(experiment); \$\$;
CREATE FUNCTION bandit_reward(experiment text, decision_id bigint, reward float8) RETURNS void
    LANGUAGE plproxy AS \$\$
    CLUSTER 'bandit_shards';
    RUN ON bandit_shard(experiment);
    SELECT bandit_reward(decision_id, reward);
\$\$;
CREATE FUNCTION bandit_refresh(experiment text) RETURNS bigint
    LANGUAGE plproxy AS \$\$ CLUSTER 'bandit_shards'; RUN ON bandit_shard(experiment); \$\$;
CREATE FUNCTION bandit_refresh_all() RETURNS SETOF bigint
    LANGUAGE plproxy AS \$\$ CLUSTER 'bandit_shards'; RUN ON ALL; SELECT bandit_refresh(NULL); \$\$;
CREATE FUNCTION bandit_arm_stats(experiment text)
    RETURNS TABLE (arm text, enabled boolean, pulls bigint, rewarded bigint, reward_sum float8,
                   mean float8, ci_low float8, ci_high float8, prob_best float8)
    LANGUAGE plproxy AS \$\$ CLUSTER 'bandit_shards'; RUN ON bandit_shard(experiment); \$\$;

-- moving an experiment: stop routing to it once the calls in flight are done ...
CREATE FUNCTION bandit_move_begin(experiment text, from_shard int) RETURNS void
    LANGUAGE plpgsql AS \$\$
BEGIN
    PERFORM pg_advisory_xact_lock(1650552420, hashtext(experiment));
    UPDATE bandit_placement p SET moving = true
     WHERE p.experiment = bandit_move_begin.experiment AND p.shard = from_shard AND NOT p.moving;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" is not placed on shard % (or is being moved)', experiment, from_shard;
    END IF;
END
\$\$;
-- ... and route to its new shard once its rows are there
CREATE FUNCTION bandit_move_end(experiment text, to_shard int) RETURNS void
    LANGUAGE plpgsql AS \$\$
BEGIN
    UPDATE bandit_placement p SET shard = to_shard, moving = false
     WHERE p.experiment = bandit_move_end.experiment AND p.moving;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" is not being moved', experiment;
    END IF;
END
\$\$;

REVOKE ALL ON FUNCTION bandit_move_begin(text, int), bandit_move_end(text, int) FROM PUBLIC;

-- the test's client side: what the application asked and was told
CREATE TABLE arm_truth (experiment text, arm text, p float8, PRIMARY KEY (experiment, arm));
CREATE TABLE traffic (experiment text NOT NULL, decision_id bigint NOT NULL, arm text NOT NULL,
                      propensity float8 NOT NULL, outcome float8 NOT NULL, rewarded boolean NOT NULL,
                      phase int NOT NULL);
CREATE TABLE release (go boolean);
GRANT SELECT ON arm_truth, release TO web;
GRANT SELECT, INSERT, UPDATE ON traffic TO web;
SQL

# four experiments, two per shard: online Thompson and UCB1, batch
# epsilon-greedy and Thompson; known click rates per arm
q coord proxy >/dev/null <<'SQL'
INSERT INTO bandit_placement VALUES ('checkout', 0), ('discount', 0), ('banner', 1), ('subject', 1);
INSERT INTO arm_truth VALUES
    ('checkout', 'red', 0.2), ('checkout', 'green', 0.5), ('checkout', 'blue', 0.3),
    ('discount', '5pct', 0.45), ('discount', '10pct', 0.2),
    ('banner', 'a', 0.55), ('banner', 'b', 0.2), ('banner', 'c', 0.3),
    ('subject', 's1', 0.1), ('subject', 's2', 0.3), ('subject', 's3', 0.6);
SELECT bandit_create('checkout', ARRAY['red', 'green', 'blue']);
SELECT bandit_create('discount', ARRAY['5pct', '10pct'], 'epsilon_greedy', '{"epsilon": 0.2, "update": "batch"}');
SELECT bandit_create('banner', ARRAY['a', 'b', 'c'], 'ucb1');
SELECT bandit_create('subject', ARRAY['s1', 's2', 's3'], 'thompson', '{"update": "batch"}');
SQL

EXPERIMENTS="ARRAY['checkout', 'discount', 'banner', 'subject']"
# rounds FROM..TO of select + reward for every experiment, as the application
# role web through the proxy; with DEFER, every 10th decision of the
# experiments in DEFER gets its reward only later (sent by send_deferred)
traffic() {  # from to phase [defer-array]
  local defer=${4:-"ARRAY[]::text[]"}
  U=web q coord proxy >/dev/null <<SQL
DO \$\$
DECLARE d record; e text; r float8;
BEGIN
  PERFORM setseed($1 / 100000.0);
  FOR i IN $1..$2 LOOP
    FOREACH e IN ARRAY $EXPERIMENTS LOOP
      SELECT * INTO d FROM bandit_select(e);
      SELECT (random() < t.p)::int INTO r FROM arm_truth t WHERE t.experiment = e AND t.arm = d.arm;
      IF i % 10 = 0 AND e = ANY ($defer) THEN
        INSERT INTO traffic VALUES (e, d.decision_id, d.arm, d.propensity, r, false, $3);
      ELSE
        PERFORM bandit_reward(e, d.decision_id, r);
        INSERT INTO traffic VALUES (e, d.decision_id, d.arm, d.propensity, r, true, $3);
      END IF;
    END LOOP;
  END LOOP;
END
\$\$;
SQL
}
refresh_batch() { q coord proxy -c "SELECT bandit_refresh('discount'), bandit_refresh('subject')" >/dev/null; }
send_deferred() {
  U=web q coord proxy -c "SELECT count(bandit_reward(experiment, decision_id, outcome))
                            FROM traffic WHERE NOT rewarded" \
                      -c "UPDATE traffic SET rewarded = true WHERE NOT rewarded"
}

# what each shard's log holds, and what the client says it should hold
shard_decisions() { q "shard$1" bandit -c "SELECT experiment, decision_id, arm, propensity FROM bandit_log ORDER BY decision_id"; }
shard_rewards() { q "shard$1" bandit -c "SELECT experiment, decision_id, reward FROM bandit_log WHERE reward IS NOT NULL ORDER BY decision_id"; }
client_decisions() { q coord proxy -c "SELECT t.experiment, t.decision_id, t.arm, t.propensity FROM traffic t
                                        JOIN bandit_placement p USING (experiment) WHERE p.shard = $1 ORDER BY 2"; }
client_rewards() { q coord proxy -c "SELECT t.experiment, t.decision_id, t.outcome FROM traffic t
                                      JOIN bandit_placement p USING (experiment) WHERE p.shard = $1 AND t.rewarded ORDER BY 2"; }
same_decisions() { diff <(shard_decisions "$1") <(client_decisions "$1") >/dev/null && [ "$(client_decisions "$1" | wc -l)" -gt 0 ]; }
same_rewards() { diff <(shard_rewards "$1") <(client_rewards "$1") >/dev/null && [ "$(client_rewards "$1" | wc -l)" -gt 0 ]; }

# every arm's posterior on a shard against beta_posterior_agg over the
# shard's reward log; "mismatches|arms|pending rewards"
posterior_vs_log() {
  q "shard$1" bandit -c "
    SELECT count(*) FILTER (WHERE a.beta::text IS DISTINCT FROM l.agg::text), count(*),
           (SELECT count(*) FROM bandit.pending_reward)
      FROM bandit.arm a
      CROSS JOIN LATERAL (SELECT beta_posterior_agg(r.reward) AS agg FROM bandit.reward r
                           WHERE r.experiment_id = a.experiment_id AND r.arm_id = a.arm_id) l"
}
posteriors_match() { local out; out=$(posterior_vs_log "$1"); note "shard$1: mismatches|arms|pending = $out"
  [[ $out =~ ^0\|([0-9]+)\|0$ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; }

# --- part 1: routed traffic ----------------------------------------------------
t0=$(date +%s%N)
for start in $(seq 1 100 701); do
  traffic "$start" $((start + 99)) 1
  refresh_batch
done
t1=$(date +%s%N)
note "phase 1: 800 rounds x 4 experiments through the proxy in $(( (t1 - t0) / 1000000 )) ms" \
     "decisions on shard0: $(q shard0 bandit -c 'SELECT count(*) FROM bandit.decision'), on shard1: $(q shard1 bandit -c 'SELECT count(*) FROM bandit.decision')"

check "shard0's log holds exactly the client's decisions of the experiments placed on shard0" same_decisions 0
check "shard1's log holds exactly the client's decisions of the experiments placed on shard1" same_decisions 1
check "shard0's rewards are exactly the rewards the client sent for its experiments" same_rewards 0
check "shard1's rewards are exactly the rewards the client sent for its experiments" same_rewards 1
ids_tagged() {
  local s
  for s in 0 1; do
    [ "$(q shard$s bandit -c "SELECT (SELECT count(*) FROM bandit.decision WHERE (id - 1) % 64 <> $s)
                                   + (SELECT count(*) FROM bandit.experiment WHERE (id - 1) % 64 <> $s)")" = 0 ] || return 1
  done
}
check "decision and experiment ids are disjoint between the shards (id - 1 = shard mod 64)" ids_tagged

q coord proxy -c "SELECT bandit_refresh(e) FROM unnest($EXPERIMENTS) e" >/dev/null
check "after bandit_refresh through the proxy, every arm's posterior on shard0 equals beta_posterior_agg over shard0's reward log" posteriors_match 0
check "after bandit_refresh through the proxy, every arm's posterior on shard1 equals beta_posterior_agg over shard1's reward log" posteriors_match 1

while IFS='|' read -r e arms; do note "pulls $e: $arms"; done < <(q coord proxy -c "
  SELECT experiment, string_agg(arm || ' (p=' || p || ') ' || pulls, ', ' ORDER BY p DESC)
    FROM (SELECT t.experiment, t.arm, a.p, count(*) AS pulls FROM traffic t
            JOIN arm_truth a USING (experiment, arm) GROUP BY 1, 2, 3) s GROUP BY 1 ORDER BY 1")
best_arm_wins() {
  [ "$(q coord proxy -c "
    SELECT count(*) FROM (
      SELECT DISTINCT ON (experiment) experiment, arm, p FROM (
        SELECT t.experiment, t.arm, a.p, count(*) AS pulls FROM traffic t
          JOIN arm_truth a USING (experiment, arm) GROUP BY 1, 2, 3) s
       ORDER BY experiment, pulls DESC) top
     WHERE p = (SELECT max(p) FROM arm_truth a WHERE a.experiment = top.experiment)")" = 4 ]
}
check "in every experiment the arm with the highest rate was pulled most (the policies learn from the routed rewards)" best_arm_wins
app_cannot_refresh() {  # PL/Proxy connects as the caller, so the shards check its role
  local out
  out=$(U=web q coord proxy -v VERBOSITY=sqlstate -c "SELECT bandit_refresh('discount')" 2>&1) && return 1
  [[ $out == *42501* ]]
}
check "the shards check the caller's role: the application role (bandit_app) selects and rewards through the proxy but may not refresh (42501)" app_cannot_refresh

# --- moving experiments --------------------------------------------------------
# a last stretch whose rewards for every 10th decision of the two experiments
# about to move are sent only after the move; the batch experiment keeps
# pending rewards
traffic 801 900 1 "ARRAY['checkout', 'subject']"

# The extension's tables (pg_extension_config_dump order: parents first),
# their columns, and the condition that selects one experiment's rows:
# "table|columns|condition" with ID standing for the experiment's id.
ext_tables() {  # node
  q "$1" bandit -c "
    SELECT c.oid::regclass,
           (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                AND a.attname = 'experiment_id' AND NOT a.attisdropped)
                THEN 'experiment_id = ID'
                WHEN c.oid = 'bandit.experiment'::regclass THEN 'id = ID' END
      FROM pg_extension x CROSS JOIN LATERAL unnest(x.extconfig) WITH ORDINALITY u(oid, ord)
      JOIN pg_class c ON c.oid = u.oid
     WHERE x.extname = 'bandit' AND c.relkind = 'r' ORDER BY u.ord"
}
# one query over every table: the experiment's rows as text, or their count
rows_sql() {  # tables id text|count
  local t cols cond sql=""
  while IFS='|' read -r t cols cond; do
    [ -n "$cond" ] || { echo "SELECT 1/0 -- $t has no experiment column"; return; }
    if [ "$3" = text ]; then
      sql="$sql${sql:+ UNION ALL }SELECT '$t', x::text FROM $t x WHERE ${cond//ID/$2}"
    else
      sql="$sql${sql:+ + }(SELECT count(*) FROM $t WHERE ${cond//ID/$2})"
    fi
  done <<<"$1"
  if [ "$3" = text ]; then echo "$sql ORDER BY 1, 2"; else echo "SELECT $sql"; fi
}
# copy an experiment's rows from one shard to another (one REPEATABLE READ
# snapshot on the source, one transaction on the target), then compare
move_copy() {  # experiment from to
  local e=$1 src=shard$2 dst=shard$3 id tables t cols cond
  [ "$(q "$src" bandit -c "SELECT extversion FROM pg_extension WHERE extname = 'bandit'")" = \
    "$(q "$dst" bandit -c "SELECT extversion FROM pg_extension WHERE extname = 'bandit'")" ] || return 1
  id=$(q "$src" bandit -c "SELECT id FROM bandit.experiment WHERE name = '$e'")
  [ -n "$id" ] || return 1
  tables=$(ext_tables "$src")
  {
    echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
    while IFS='|' read -r t cols cond; do
      echo "\\echo 'COPY $t ($cols) FROM STDIN;'"
      echo "COPY (SELECT $cols FROM $t WHERE ${cond//ID/$id}) TO STDOUT;"
      echo "\\echo '\\\\.'"
    done <<<"$tables"
    echo "COMMIT;"
  } | q "$src" bandit > "$DIR/move-$e.sql" || return 1
  echo "SELECT bandit_shard_sequences($3);" >> "$DIR/move-$e.sql"
  q "$dst" bandit -1 -f "$DIR/move-$e.sql" >/dev/null || return 1
  diff <(q "$src" bandit -c "$(rows_sql "$tables" "$id" text)") \
       <(q "$dst" bandit -c "$(rows_sql "$tables" "$id" text)") >/dev/null
}
move_experiment() {  # experiment from to
  local e=$1 id tables before
  id=$(q "shard$2" bandit -c "SELECT id FROM bandit.experiment WHERE name = '$e'")
  tables=$(ext_tables "shard$2")
  before=$(q "shard$2" bandit -c "$(rows_sql "$tables" "$id" count)")
  q coord proxy -c "SELECT bandit_move_begin('$e', $2)" >/dev/null || return 1
  move_copy "$e" "$2" "$3" || return 1
  # drop it on the source, with what bandit_drop keeps (0.4.0: its events)
  { echo "SELECT bandit_drop('$e');"
    tac <<<"$tables" | while IFS='|' read -r t cols cond; do echo "DELETE FROM $t WHERE ${cond//ID/$id};"; done
  } | q "shard$2" bandit -1 >/dev/null || return 1
  q coord proxy -c "SELECT bandit_move_end('$e', $3)" >/dev/null || return 1
  note "moved $e (id $id, $before rows) from shard$2 to shard$3"
  [ "$(q "shard$2" bandit -c "$(rows_sql "$tables" "$id" count)")" = 0 ] &&
  [ "$(q "shard$3" bandit -c "$(rows_sql "$tables" "$id" count)")" = "$before" ]
}

# a client transaction that has used 'checkout' and is still open ...
U=web q coord proxy >/dev/null <<'SQL' &
BEGIN;
INSERT INTO traffic SELECT 'checkout', decision_id, arm, propensity, 1, false, 1 FROM bandit_select('checkout');
DO $$ BEGIN
  FOR i IN 1..600 LOOP EXIT WHEN EXISTS (SELECT 1 FROM release); PERFORM pg_sleep(0.05); END LOOP;
END $$;
COMMIT;
SQL
BGPID=$!
for _ in $(seq 1 300); do
  [ "$(q coord proxy -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()")" -gt 0 ] && break
  sleep 0.05
done
move_waits() {  # ... holds off the move (lock_timeout: 55P03) ...
  local out
  out=$(q coord proxy -v VERBOSITY=sqlstate -c "SET lock_timeout = '300ms'" -c "SELECT bandit_move_begin('checkout', 0)" 2>&1) && return 1
  [[ $out == *55P03* ]] && [ "$(q coord proxy -c "SELECT moving FROM bandit_placement WHERE experiment = 'checkout'")" = f ]
}
check "a move waits for the open client transactions that used the experiment" move_waits
q coord proxy -c "INSERT INTO release VALUES (true)" >/dev/null
wait "$BGPID"; BGPID=""

# ... and once begun, calls for the moving experiment fail, the others go on
q coord proxy -c "SELECT bandit_move_begin('checkout', 0)" >/dev/null
moving_refused() {
  local out
  out=$(U=web q coord proxy -v VERBOSITY=sqlstate -c "SELECT * FROM bandit_select('checkout')" 2>&1) && return 1
  [[ $out == *55006* ]] &&
  U=web q coord proxy -c "INSERT INTO traffic SELECT 'banner', decision_id, arm, propensity, 0, false, 1
                            FROM bandit_select('banner')" >/dev/null
}
check "while an experiment moves, calls for it fail with 55006 (object_in_use) and the others are served" moving_refused
q coord proxy -c "UPDATE bandit_placement SET moving = false WHERE experiment = 'checkout'" >/dev/null

pending_subject=$(q shard1 bandit -c "SELECT count(*) FROM bandit.pending_reward")
check "moving the online experiment checkout from shard0 to shard1 copies every row exactly and leaves none behind" \
  move_experiment checkout 0 1
check "moving the batch experiment subject ($pending_subject pending rewards) from shard1 to shard0 copies every row exactly and leaves none behind" \
  move_experiment subject 1 0

# after the moves: the rewards held back, then more traffic
deferred=$(send_deferred | head -1)
note "rewards sent after the moves for decisions made before them: $deferred"
for start in 901 1001; do
  traffic "$start" $((start + 99)) 2
  refresh_batch
done
q coord proxy -c "SELECT sum(n) FROM bandit_refresh_all() n" >/dev/null
note "placement now: $(q coord proxy -c "SELECT string_agg(experiment || ' -> shard' || shard, ', ' ORDER BY experiment) FROM bandit_placement")"

both_decisions() { same_decisions 0 && same_decisions 1; }
both_rewards() { same_rewards 0 && same_rewards 1; }
check "after the moves each shard's log holds exactly the client's decisions of the experiments now placed on it" both_decisions
check "after the moves each shard holds exactly the client's rewards for them, the $deferred held back across the move included" both_rewards
new_ids_tagged() {
  # phase 2 ids carry the shard that issued them, and for the moved
  # experiments they follow every id that came with the move
  [ "$(q coord proxy -c "
    SELECT count(*) FROM traffic t JOIN bandit_placement p USING (experiment)
     WHERE t.phase = 2 AND ((t.decision_id - 1) % 64 <> p.shard
                            OR t.decision_id < (SELECT max(o.decision_id) FROM traffic o
                                                 WHERE o.experiment = t.experiment AND o.phase = 1))")" = 0 ] &&
  [ "$(q coord proxy -c "SELECT count(DISTINCT decision_id) = count(*) FROM traffic")" = t ]
}
check "decisions made after the moves carry their new shard's ids, above those that came with the move; no id was issued twice" new_ids_tagged
check "after the moves and bandit_refresh_all() through the proxy, every posterior on shard0 equals beta_posterior_agg over its reward log" posteriors_match 0
check "after the moves and bandit_refresh_all() through the proxy, every posterior on shard1 equals beta_posterior_agg over its reward log" posteriors_match 1

# --- part 2: a hash-partitioned log over postgres_fdw --------------------------
q coord analytics >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION bandit;
CREATE EXTENSION postgres_fdw;
CREATE SERVER shard0 FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$DIR/shard0', port '${PORT[shard0]}', dbname 'bandit', extensions 'bandit', batch_size '1000', fetch_size '10000');
CREATE SERVER shard1 FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$DIR/shard1', port '${PORT[shard1]}', dbname 'bandit', extensions 'bandit', batch_size '1000', fetch_size '10000');
CREATE USER MAPPING FOR postgres SERVER shard0 OPTIONS (user 'postgres');
CREATE USER MAPPING FOR postgres SERVER shard1 OPTIONS (user 'postgres');
CREATE TABLE decision_log ($LOG_COLUMNS) PARTITION BY HASH (experiment);
CREATE FOREIGN TABLE decision_log_0 PARTITION OF decision_log FOR VALUES WITH (MODULUS 2, REMAINDER 0)
    SERVER shard0 OPTIONS (table_name 'decision_log_part');
CREATE FOREIGN TABLE decision_log_1 PARTITION OF decision_log FOR VALUES WITH (MODULUS 2, REMAINDER 1)
    SERVER shard1 OPTIONS (table_name 'decision_log_part');

-- the same rows on one node
CREATE TABLE decision_log_single ($LOG_COLUMNS);
SELECT setseed(0.42);
INSERT INTO decision_log_single
SELECT 'exp_' || e, a,
       CASE WHEN i % 50 = 0 THEN NULL ELSE (random() < 0.1 * a)::int END,  -- 2% not rewarded
       a + 3 * random(),
       ARRAY[1, random(), random()],
       random(), 0.05 + 0.95 * random(), 0.1 * a, 0.2 + 0.1 * random()
  FROM generate_series(1, 6) e, generate_series(1, 20000) i, LATERAL (SELECT 1 + (7 * i + e) % 4 AS a) s;
INSERT INTO decision_log SELECT * FROM decision_log_single;   -- routed to the shards
ANALYZE decision_log_single;
ANALYZE decision_log;   -- samples the foreign partitions: row estimates for the planner

-- numbers in a value's text form, and comparisons
CREATE FUNCTION nums(v text) RETURNS float8[] LANGUAGE sql IMMUTABLE AS \$\$
  SELECT coalesce(array_agg(m[1]::float8 ORDER BY o), '{}')
    FROM regexp_matches(v, '(-?[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?)', 'g') WITH ORDINALITY r(m, o) \$\$;
CREATE FUNCTION shape(v text) RETURNS text LANGUAGE sql IMMUTABLE AS \$\$
  SELECT regexp_replace(v, '(-?[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?)', '#', 'g') \$\$;
CREATE FUNCTION max_rel_diff(a text, b text) RETURNS float8 LANGUAGE sql IMMUTABLE AS \$\$
  SELECT CASE WHEN shape(a) IS DISTINCT FROM shape(b) THEN 'Infinity'::float8
              ELSE coalesce(max(abs(x - y) / nullif(greatest(abs(x), abs(y)), 0)), 0) END
    FROM unnest(nums(a), nums(b)) u(x, y) \$\$;
-- the count in a posterior's text (n=...) or an ope_estimate's (5th field)
CREATE FUNCTION count_of(v text) RETURNS text LANGUAGE sql IMMUTABLE AS \$\$
  SELECT coalesce(substring(v from '(?:^|[(, ])n=([0-9]+)'), split_part(btrim(v, '()'), ',', 5)) \$\$;
SQL

AGG_NAMES=(beta normal linear linear_lambda ips snips clipped_ips dm dr sndr switch_dr)
AGG_EXPRS=(
  "beta_posterior_agg(reward)"
  "normal_posterior_agg(gain)"
  "linear_posterior_agg(x, reward)"
  "linear_posterior_agg(x, gain, 0.5)"
  "ope_ips(reward, target_prob, logging_prob)"
  "ope_snips(reward, target_prob, logging_prob)"
  "ope_clipped_ips(reward, target_prob, logging_prob, 3)"
  "ope_dm(v_target)"
  "ope_dr(reward, target_prob, logging_prob, q_logged, v_target)"
  "ope_sndr(reward, target_prob, logging_prob, q_logged, v_target)"
  "ope_switch_dr(reward, target_prob, logging_prob, q_logged, v_target, 3)"
)
select_list="count(*) AS rows"; pair_values=""
for i in "${!AGG_NAMES[@]}"; do
  a=${AGG_NAMES[$i]}
  select_list="$select_list, ${AGG_EXPRS[$i]} AS $a"
  pair_values="$pair_values${pair_values:+, }('$a', d.$a::text, s.$a::text)"
done
# results by KEY (experiment: the partition key; arm: not), distributed and
# on one node (serial), side by side as text
results() {  # key
  q coord analytics >/dev/null <<SQL
SET enable_partitionwise_aggregate = on;
CREATE TABLE dist_$1 AS SELECT $1, $select_list FROM decision_log GROUP BY $1;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE single_$1 AS SELECT $1, $select_list FROM decision_log_single GROUP BY $1;
CREATE VIEW pairs_$1 AS
SELECT d.$1 AS key, d.rows AS d_rows, s.rows AS s_rows, v.agg, v.d, v.s
  FROM dist_$1 d JOIN single_$1 s USING ($1)
 CROSS JOIN LATERAL (VALUES $pair_values) v(agg, d, s);
SQL
}
results experiment
results arm

placed=$(q coord analytics -c "SELECT (SELECT count(DISTINCT experiment) FROM decision_log_0) || '|' || (SELECT count(DISTINCT experiment) FROM decision_log_1)")
note "partitions: ${placed%|*} experiments on shard0, ${placed#*|} on shard1 ($(q coord analytics -c 'SELECT count(*) FROM decision_log') rows)"
check "the hash partitions spread the experiments over both shards" \
  test "${placed%|*}" -gt 0 -a "${placed#*|}" -gt 0 -a "$(q coord analytics -c 'SELECT count(*) FROM decision_log')" = 120000

EXPLAIN_EXP=$(q coord analytics -c "SET enable_partitionwise_aggregate = on" \
  -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT experiment, $select_list FROM decision_log GROUP BY experiment")
pushed_down() {
  local remote agg ok=0
  remote=$(grep 'Remote SQL:' <<<"$EXPLAIN_EXP")
  [ "$(wc -l <<<"$remote")" = 2 ] || return 1
  for agg in count beta_posterior_agg normal_posterior_agg linear_posterior_agg ope_ips ope_snips \
             ope_clipped_ips ope_dm ope_dr ope_sndr ope_switch_dr; do
    [ "$(grep -c "[ .]$agg(" <<<"$remote")" = 2 ] || ok=1
  done
  grep -q 'GROUP BY' <<<"$remote" || ok=1
  # no aggregation left on the coordinator
  ! grep -vE 'Relations: Aggregate on' <<<"$EXPLAIN_EXP" | grep -qE 'Aggregate|Group Key' && [ $ok = 0 ]
}
check "EXPLAIN VERBOSE: both partitions' Remote SQL run all eleven bandit aggregates with GROUP BY, nothing is aggregated on the coordinator" pushed_down
grep -m1 'Remote SQL:' <<<"$EXPLAIN_EXP" | cut -c1-200 | sed 's/^ */# /; s/$/ .../'

exact_counts() {  # key
  [ "$(q coord analytics -c "SELECT count(*) FILTER (WHERE d_rows <> s_rows OR count_of(d) IS DISTINCT FROM count_of(s) OR count_of(d) = ''),
                                    count(DISTINCT key) FROM pairs_$1")" = "0|$2" ]
}
close_to_single() {  # key
  local out
  out=$(q coord analytics -c "SELECT count(*) FILTER (WHERE max_rel_diff(d, s) > 1e-12), count(*),
                                    count(*) FILTER (WHERE d = s), max(max_rel_diff(d, s)) FROM pairs_$1")
  note "GROUP BY $1: values beyond 1e-12|values|bit-identical|largest relative difference = $out"
  [[ $out == 0\|* ]]
}
check "GROUP BY experiment on the shards: every count (rows, n of every posterior and estimate) equals the single-node run exactly" exact_counts experiment 6
check "GROUP BY experiment on the shards: every beta_posterior is bit-identical to the single-node run" \
  test "$(q coord analytics -c "SELECT count(*) FILTER (WHERE d <> s) || '|' || count(*) FROM pairs_experiment WHERE agg = 'beta'")" = "0|6"
check "GROUP BY experiment on the shards: every number of every value within 1e-12 relative of the single-node serial run" close_to_single experiment

EXPLAIN_ARM=$(q coord analytics -c "SET enable_partitionwise_aggregate = on" \
  -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT arm, $select_list FROM decision_log GROUP BY arm")
note "GROUP BY arm (not the partition key) plan: $(grep -oE '(Finalize|Partial) [A-Za-z]*Aggregate|Foreign Scan|Remote SQL: SELECT [a-z_, ]* FROM' <<<"$EXPLAIN_ARM" | sort | uniq -c | tr -s ' ' | paste -sd ';' -)"
partial_per_partition() {
  [ "$(grep -cE 'Partial [A-Za-z]*Aggregate' <<<"$EXPLAIN_ARM")" = 2 ] && grep -qE 'Finalize [A-Za-z]*Aggregate' <<<"$EXPLAIN_ARM" &&
  exact_counts arm 4
}
check "GROUP BY arm (not the partition key): a partial aggregate per partition over the fetched rows, combined on the coordinator; counts exact" partial_per_partition
check "GROUP BY arm across the partitions: every number within 1e-12 relative of the single-node serial run" close_to_single arm

trap - ERR
note "$(( $(date +%s) - started )) s"
exit $((failed > 0 || n != PLAN))
