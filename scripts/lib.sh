# Shared by demo.sh and test.sh: install what is missing, build, install,
# and start (or reuse) a throwaway PostgreSQL 15 cluster on a Unix socket.
#
# Users with their own server: set BANDIT_OWN_SERVER=1 and the usual libpq
# variables (PGHOST, PGPORT, PGUSER, ...) and PG_CONFIG; nothing is installed
# with apt and no cluster is started.
set -euo pipefail

BANDIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config || echo /usr/bin/pg_config)

log() { printf '==> %s\n' "$*" >&2; }

# Debian packages the build, the demo and the tests need.
BANDIT_PACKAGES=(
  make gcc libc6-dev
  postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib
  liblapacke-dev liblapack-dev libblas-dev
  postgresql-$PG_MAJOR-pgtap postgresql-$PG_MAJOR-plproxy libtap-parser-sourcehandler-pgtap-perl
  python3-numpy python3-scipy python3-psycopg2 python3-mpmath
  python3-pandas python3-matplotlib jupyter-nbconvert python3-ipykernel
)

ensure_packages() {
  [ "${BANDIT_OWN_SERVER:-0}" = 1 ] && return 0
  local missing=()
  for p in "${BANDIT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root, or install them)"; exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's postgresql package would create a "main" cluster listening on
  # TCP 5432; we only use our own cluster on a private Unix socket.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_and_install() {
  log "building bandit"
  make -C "$BANDIT_ROOT" -s PG_CONFIG="$PG_CONFIG" >/dev/null
  log "installing bandit into $($PG_CONFIG --pkglibdir)"
  make -C "$BANDIT_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# The cluster lives where the postgres OS user can reach it even when the
# checkout is under /root (mode 700): /var/tmp/bandit-<hash of checkout path>.
# The checkout keeps a symlink .cluster (gitignored) to it.
cluster_dir() {
  local key
  key=$(printf '%s' "$BANDIT_ROOT" | md5sum | cut -c1-12)
  echo "/var/tmp/bandit-cluster-$key"
}

as_postgres() { runuser -u postgres -- "$@"; }

start_cluster() {
  if [ "${BANDIT_OWN_SERVER:-0}" = 1 ]; then
    log "using your server (PGHOST=${PGHOST:-default} PGPORT=${PGPORT:-default})"
    return 0
  fi
  local dir data sock
  dir=$(cluster_dir); data=$dir/data; sock=$dir/socket
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a throwaway cluster in $dir"
    rm -rf "$dir"; mkdir -p "$sock"; chown -R postgres:postgres "$dir"; chmod 700 "$dir"
    as_postgres "$PG_BIN/initdb" -D "$data" -A trust -U postgres --no-sync >/dev/null
    cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$sock'
port = 5432
fsync = off
max_worker_processes = 8
max_parallel_workers_per_gather = 2
shared_buffers = 256MB
CONF
  fi
  ln -sfn "$dir" "$BANDIT_ROOT/.cluster"
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "starting the cluster (socket $sock, no TCP)"
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w start >/dev/null
  fi
  export PGHOST=$sock PGPORT=5432 PGUSER=postgres
}

stop_cluster() {
  local dir; dir=$(cluster_dir)
  [ -f "$dir/data/PG_VERSION" ] && as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
}

psql_db() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }

setup_all() {
  ensure_packages
  build_and_install
  start_cluster
}
