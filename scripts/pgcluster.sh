# Throwaway PostgreSQL 15 clusters for tests and demos: source this file, then
#   pgcluster_start            # initdb + start as the postgres user, Unix socket in a temp dir
#   pgcluster_stop             # stop and remove everything
#   pgcluster_check_log        # fail if a backend crashed
# CUSTSEG_PG_EXTRA_CONF, when set, is appended to postgresql.conf (later settings win).
# pgcluster_start exports PGHOST, PGPORT, PGUSER, PGDATABASE for psql, pg_regress and drivers.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# as_postgres PROGRAM ARGS...: runs a PostgreSQL program as the postgres user from /, so that a
# working directory it cannot enter (a clone under /root) does not make it print "could not change
# directory to ...: Permission denied". Paths given to it must be absolute.
as_postgres() {
  (cd / && runuser -u postgres -- "$@")
}

pgcluster_start() {
  local port=${1:-$((54000 + RANDOM % 1000))}
  CUSTSEG_PGDIR=$(mktemp -d /tmp/custseg-pg.XXXXXX)
  chmod 755 "$CUSTSEG_PGDIR"
  chown postgres: "$CUSTSEG_PGDIR"
  export CUSTSEG_PGDIR
  export CUSTSEG_PGDATA=$CUSTSEG_PGDIR/data CUSTSEG_PGLOG=$CUSTSEG_PGDIR/server.log
  as_postgres "$PG_BIN/initdb" -D "$CUSTSEG_PGDATA" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$CUSTSEG_PGDIR/initdb.log" 2>&1 || {
    cat "$CUSTSEG_PGDIR/initdb.log" >&2
    rm -rf "$CUSTSEG_PGDIR"
    return 1
  }
  cat >>"$CUSTSEG_PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$CUSTSEG_PGDIR'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
max_parallel_workers_per_gather = 2
shared_preload_libraries = ''
${CUSTSEG_PG_EXTRA_CONF:-}
CONF
  as_postgres "$PG_BIN/pg_ctl" -D "$CUSTSEG_PGDATA" -l "$CUSTSEG_PGLOG" -w -t 60 start >/dev/null || {
    cat "$CUSTSEG_PGLOG" >&2
    pgcluster_stop  # a server that comes up late is stopped, and the directory removed
    return 1
  }
  export PGHOST=$CUSTSEG_PGDIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

pgcluster_stop() {
  [[ -n "${CUSTSEG_PGDATA:-}" && -d "$CUSTSEG_PGDATA" ]] || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$CUSTSEG_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$CUSTSEG_PGDIR"
  unset CUSTSEG_PGDATA CUSTSEG_PGDIR
}

pgcluster_check_log() {
  if grep -E "terminated by signal|server process .* was terminated|PANIC" "$CUSTSEG_PGLOG"; then
    echo "custseg: the server log shows a crashed backend" >&2
    return 1
  fi
}
