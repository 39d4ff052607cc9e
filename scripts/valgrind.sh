#!/usr/bin/env bash
# Run the regression suite (make installcheck: pg_regress + isolation, then the
# pgTAP files) against a private PostgreSQL 15 server whose postmaster and
# every backend run under valgrind's memcheck with PostgreSQL's own
# suppression file, then list every valgrind error whose stack involves
# bandit.so.  Issue 6.  Run as root from a checkout, after `make install`
# (the installed bandit.so is tested as-is; BANDIT_VG_BUILD=1 builds and
# installs first).
#
#   bash scripts/valgrind.sh      # everything: likely over an hour on 2 cores
#   BANDIT_VG_SKIP='02_policies 03_statistics 05_contextual_learning' \
#     bash scripts/valgrind.sh    # the rest: about 5 minutes on 2 cores
#
# Environment:
#   BANDIT_VG_DIR   working folder (default /var/tmp/bandit-valgrind): the
#                   cluster, a copy of the checkout, the valgrind logs
#   BANDIT_VG_PORT  port that names the Unix socket (default 5488; no TCP)
#   BANDIT_VG_SKIP  pgTAP files (basenames without .sql) not to run
#   BANDIT_VG_JOBS  pgTAP files run in this many parallel lanes (default: nproc)
#   BANDIT_VG_KEEP=1  leave the server running afterwards
# The last line is "valgrind: N other errors, M involving bandit.so (K logs)";
# the exit status is non-zero when M > 0 or a test failed.
#
# Not covered: without a USE_VALGRIND build of PostgreSQL, memcheck does not
# see palloc chunk boundaries, so an overrun or use-after-pfree inside a
# memory context block goes unnoticed; what it does see is reads of
# uninitialised memory (including palloc'd memory never written), and any
# invalid access to malloc'd memory (LAPACK/BLAS work arrays, libc).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VG_DIR=${BANDIT_VG_DIR:-/var/tmp/bandit-valgrind}
VG_PORT=${BANDIT_VG_PORT:-5488}
VG_SKIP=" ${BANDIT_VG_SKIP:-} "
DATA=$VG_DIR/data
SOCK=$VG_DIR/socket
LOGS=$VG_DIR/logs
SUPP=$VG_DIR/valgrind.supp
COPY=$VG_DIR/checkout

[ "$(id -u)" = 0 ] || { log "run as root (the server runs as the postgres OS user)"; exit 1; }
ensure_packages
command -v valgrind >/dev/null || {
  log "installing valgrind"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
[ "${BANDIT_VG_BUILD:-0}" = 1 ] && build_and_install
[ -f "$($PG_CONFIG --pkglibdir)/bandit.so" ] || { log "bandit is not installed: make install first"; exit 1; }

mkdir -p "$VG_DIR"
# an earlier run's server, if one was left behind
if [ -f "$DATA/postmaster.pid" ]; then
  as_postgres "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -t 300 stop >/dev/null 2>&1 || true
fi

# PostgreSQL's suppressions (src/tools/valgrind.supp) from the Debian source
# package, fetched once with a private apt state (no change to /etc/apt).
if [ ! -s "$SUPP" ]; then
  log "fetching PostgreSQL's src/tools/valgrind.supp (apt-get source postgresql-$PG_MAJOR)"
  apt=$VG_DIR/apt; rm -rf "$apt"; mkdir -p "$apt/lists/partial" "$apt/src"
  cat > "$apt/src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $(. /etc/os-release; echo "$VERSION_CODENAME")
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  aptopt=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt" -o Dir::State::Lists="$apt/lists")
  apt-get "${aptopt[@]}" -qq update
  (cd "$apt/src" && apt-get "${aptopt[@]}" -qq source --download-only "postgresql-$PG_MAJOR" >/dev/null 2>&1)
  tar -xjf "$apt"/src/postgresql-"$PG_MAJOR"_*.orig.tar.bz2 -C "$apt/src" --wildcards '*/src/tools/valgrind.supp'
  cp "$apt"/src/postgresql-*/src/tools/valgrind.supp "$SUPP"
  rm -rf "$apt"
fi

log "fresh cluster in $DATA (socket $SOCK, port $VG_PORT, no TCP)"
rm -rf "$DATA" "$SOCK" "$LOGS" "$COPY"
mkdir -p "$SOCK" "$LOGS" "$COPY"
# a copy of the checkout the postgres user can read and write (results/)
tar -C "$BANDIT_ROOT" --exclude=.git --exclude=.cluster --exclude=results --exclude=output_iso \
    --exclude='regression.*' --exclude=test/unit/build -cf - . | tar -C "$COPY" -xf -
cp "$BANDIT_ROOT/scripts/valgrind-debian.supp" "$VG_DIR/"
chown -R postgres:postgres "$VG_DIR"; chmod 700 "$VG_DIR"
as_postgres "$PG_BIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >/dev/null

log "starting the postmaster under valgrind (logs: $LOGS/valgrind.<pid>.log)"
as_postgres valgrind --quiet --trace-children=yes --track-origins=yes --read-inline-info=yes \
  --leak-check=no --gen-suppressions=all --suppressions="$SUPP" \
  --suppressions="$VG_DIR/valgrind-debian.supp" --error-exitcode=128 --fullpath-after= --vgdb=no \
  --log-file="$LOGS/valgrind.%p.log" \
  "$PG_BIN/postgres" -D "$DATA" -c port="$VG_PORT" -c unix_socket_directories="$SOCK" \
  -c listen_addresses= -c fsync=off -c shared_buffers=32MB -c max_parallel_workers_per_gather=2 \
  -c log_line_prefix='%m [%p] ' -c log_min_messages=warning \
  > "$VG_DIR/server.log" 2>&1 &
VG_PID=$!
stop_server() {
  [ "${BANDIT_VG_KEEP:-0}" = 1 ] && return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$DATA" -m fast -t 600 stop >/dev/null 2>&1 || true
  wait "$VG_PID" 2>/dev/null || true
}
trap stop_server EXIT
for _ in $(seq 300); do
  pg_isready -q -h "$SOCK" -p "$VG_PORT" && break
  kill -0 "$VG_PID" 2>/dev/null || { log "the server did not start:"; cat "$VG_DIR/server.log" >&2; exit 1; }
  sleep 2
done
pg_isready -q -h "$SOCK" -p "$VG_PORT" || { log "the server did not start in 10 minutes"; exit 1; }
export PGHOST=$SOCK PGPORT=$VG_PORT PGUSER=postgres

status=0

# pg_regress and the isolation tests as two runs, so that a failure in the
# first does not skip the second.  Run as root (the client side only): the
# types test writes fixed names in /tmp (/tmp/bandit_regress_*.bin) that
# earlier runs as root may own.
for suite in regress isolation; do
  log "make installcheck: $suite"
  if [ $suite = regress ]; then vars=(ISOLATION=); else vars=(REGRESS=); fi
  SECONDS=0
  if make -C "$COPY" -s installcheck PG_CONFIG="$PG_CONFIG" "${vars[@]}" > "$VG_DIR/$suite.out" 2>&1; then
    log "$suite passed (${SECONDS}s)"
  else
    log "$suite FAILED (${SECONDS}s): $VG_DIR/$suite.out and regression.diffs under $COPY"
    status=1
  fi
  grep -E '\.\.\. |^(ok|not ok) ' "$VG_DIR/$suite.out" >&2 || true
done

# pgTAP: the files spread over $VG_JOBS lanes (one per core by default), each
# lane a fresh database bandit_tap_<lane> running its files one after another;
# the slow statistical files go last.
VG_JOBS=${BANDIT_VG_JOBS:-$(nproc)}
slow=" 03_statistics 05_contextual_learning "
files=()
for f in "$COPY"/test/pgtap/*.sql; do [[ $slow == *" $(basename "$f" .sql) "* ]] || files+=("$f"); done
for f in "$COPY"/test/pgtap/*.sql; do [[ $slow == *" $(basename "$f" .sql) "* ]] && files+=("$f"); done
run_lane() {
  local lane=$1; shift
  local db=bandit_tap_$lane f name
  psql_db -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
  psql_db -d "$db" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION bandit" >/dev/null
  for f in "$@"; do
    name=$(basename "$f" .sql)
    if [[ $VG_SKIP == *" $name "* ]]; then log "  $name: skipped (BANDIT_VG_SKIP)"; continue; fi
    local t0=$SECONDS
    if pg_prove --ext .sql -d "$db" "$f" > "$VG_DIR/pgtap.$name.out" 2>&1; then
      log "  $name: passed ($((SECONDS - t0))s, lane $lane)"
    else
      log "  $name: FAILED ($((SECONDS - t0))s, lane $lane), see $VG_DIR/pgtap.$name.out"
      echo "$name" >> "$VG_DIR/pgtap.failed"
    fi
  done
}
log "pgTAP tests (pg_prove), $VG_JOBS lanes"
rm -f "$VG_DIR"/pgtap.*
SECONDS=0
lanes=()
for ((j = 0; j < VG_JOBS; j++)); do
  mine=()
  for ((i = j; i < ${#files[@]}; i += VG_JOBS)); do mine+=("${files[i]}"); done
  run_lane "$j" "${mine[@]}" &
  lanes+=($!)
done
wait "${lanes[@]}" || true
[ -s "$VG_DIR/pgtap.failed" ] && status=1
log "pgTAP done (${SECONDS}s)"

stop_server; trap - EXIT

# Every error record in every log: a non-indented "==PID== message" line with
# its stack ("at 0x..." / "by 0x..." lines, the origin, and the suppression
# that --gen-suppressions prints after it).  A frame is bandit's when its
# full source path (--fullpath-after=) lies in the directory bandit.so was
# compiled in (DW_AT_comp_dir), or, without debug info, "(in .../bandit.so)".
# Those records go to bandit-errors.txt.
so=$($PG_CONFIG --pkglibdir)/bandit.so
compdir=$(readelf --debug-dump=info "$so" 2>/dev/null | sed -n 's/.*DW_AT_comp_dir.*: \(\/.*\)$/\1/p' | head -1)
if python3 - "$LOGS" "$VG_DIR/bandit-errors.txt" "${compdir:-/nonexistent}/" <<'PY'
import glob, re, sys
logs, out, compdir = sys.argv[1], sys.argv[2], sys.argv[3]
def ours_line(l):
    return "bandit.so" in l or ("(" + compdir) in l
records = []
for path in sorted(glob.glob(logs + "/valgrind.*.log")):
    cur = None
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"==(\d+)== (\S.*)", line)
        if m and not m.group(2).startswith("Warning:"):
            cur = [path, [m.group(2)]]
            records.append(cur)
        elif cur is not None:
            cur[1].append(re.sub(r"^==\d+== ?", "", line))
errors = [r for r in records if any(re.match(r"\s+at 0x", l) for l in r[1])]
ours = [r for r in errors if any(ours_line(l) for l in r[1])]
with open(out, "w") as o:
    for path, lines in ours:
        o.write("### %s\n%s\n\n" % (path, "\n".join(lines).rstrip()))
print("valgrind: %d other errors, %d involving bandit.so (%d logs)"
      % (len(errors) - len(ours), len(ours), len(glob.glob(logs + "/valgrind.*.log"))))
sys.exit(1 if ours else 0)
PY
then :; else status=1; log "errors involving bandit.so: $VG_DIR/bandit-errors.txt"; fi
exit $status
