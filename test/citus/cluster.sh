# A throwaway Citus cluster on this machine: a coordinator and two workers, each a PostgreSQL 15
# server with shared_preload_libraries = 'citus', run as the postgres user with Unix sockets in one
# temporary directory. Source this file (after scripts/pgcluster.sh for PG_BIN), then
#   citus_cluster_start [DB]    # initdb x3, start, citus + custseg on every node, workers added
#   citus_cluster_stop          # stop the three servers and remove everything
#   citus_cluster_check_logs    # fail if a backend of any node crashed
# citus_cluster_start exports PGHOST, PGPORT (the coordinator's), PGUSER and PGDATABASE, and
# CITUS_PORTS (coordinator, worker 1, worker 2). CUSTSEG_PG_EXTRA_CONF is appended to every node's
# postgresql.conf.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

citus_cluster_start() {
  local db=${1:-custseg} base=$((56000 + RANDOM % 900)) i port
  CITUS_DIR=$(mktemp -d /tmp/custseg-citus.XXXXXX)
  chmod 755 "$CITUS_DIR"
  chown postgres: "$CITUS_DIR"
  export CITUS_DIR
  CITUS_PORTS=()
  for i in 0 1 2; do
    port=$((base + i))
    CITUS_PORTS+=("$port")
    runuser -u postgres -- "$PG_BIN/initdb" -D "$CITUS_DIR/node$i" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$CITUS_DIR/initdb$i.log" 2>&1 || {
      cat "$CITUS_DIR/initdb$i.log" >&2
      citus_cluster_stop
      return 1
    }
    cat >>"$CITUS_DIR/node$i/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$CITUS_DIR'
port = $port
shared_preload_libraries = 'citus'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
max_prepared_transactions = 100
max_parallel_workers_per_gather = 2
citus.enable_statistics_collection = off
${CUSTSEG_PG_EXTRA_CONF:-}
CONF
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CITUS_DIR/node$i" -l "$CITUS_DIR/node$i.log" -w -t 60 start \
      >/dev/null || {
      cat "$CITUS_DIR/node$i.log" >&2
      citus_cluster_stop
      return 1
    }
  done
  export PGHOST=$CITUS_DIR PGPORT=${CITUS_PORTS[0]} PGUSER=postgres PGDATABASE=$db
  export CITUS_PORTS
  for port in "${CITUS_PORTS[@]}"; do
    psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres -c "CREATE DATABASE $db" &&
      psql -X -q -v ON_ERROR_STOP=1 -p "$port" -c "CREATE EXTENSION citus" -c "CREATE EXTENSION custseg" || {
      citus_cluster_stop
      return 1
    }
  done
  psql -X -q -v ON_ERROR_STOP=1 \
    -c "SELECT citus_set_coordinator_host('$CITUS_DIR', ${CITUS_PORTS[0]})" \
    -c "SELECT citus_add_node('$CITUS_DIR', ${CITUS_PORTS[1]})" \
    -c "SELECT citus_add_node('$CITUS_DIR', ${CITUS_PORTS[2]})" >/dev/null || {
    citus_cluster_stop
    return 1
  }
}

citus_cluster_stop() {
  [[ -n "${CITUS_DIR:-}" && -d "$CITUS_DIR" ]] || return 0
  local i
  for i in 0 1 2; do
    [[ -d $CITUS_DIR/node$i ]] &&
      runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CITUS_DIR/node$i" -m fast -w stop >/dev/null 2>&1
  done
  rm -rf "$CITUS_DIR"
  unset CITUS_DIR
}

citus_cluster_check_logs() {
  if grep -E "terminated by signal|server process .* was terminated|PANIC" "$CITUS_DIR"/node*.log; then
    echo "custseg: a Citus node's log shows a crashed backend" >&2
    return 1
  fi
}
