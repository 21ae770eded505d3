#!/usr/bin/env bash
# A production day, compressed (test/resil/load_day.py): SQL and API clients score one row and
# batches, a dashboard reads the views, a job retrains, rolls back and relabels every few seconds,
# and the database restarts in the middle; on a cluster of its own, with the API on loopback.
# Checks that nothing errs but the documented errors around the restart, that every answer comes
# from one committed version, that backend memory stays flat, then the invariants of
# test/resil/invariants.sql. Prints throughput, p50/p99 latency and errors.
#   bash test/resil/test_load.sh [--duration SECONDS]   (default 120; by hand: --duration 900)
set -uo pipefail
cd "$(dirname "$0")/../.."
duration=120
while (($#)); do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    *) echo "usage: test_load.sh [--duration SECONDS]" >&2; exit 2 ;;
  esac
done
source scripts/pgcluster.sh
source scripts/api-env.sh
source test/resil/common.sh
logs=build/resil  # the API log of the last run (nothing is left in /tmp)
mkdir -p "$logs"
CUSTSEG_PG_EXTRA_CONF="max_connections = 60
${CUSTSEG_PG_EXTRA_CONF:-}" pgcluster_start || exit 1
trap 'api_stop; pgcluster_stop' EXIT
resil_db load load || exit 1
dsn="host=$PGHOST port=$PGPORT dbname=load user=load"
port=$((19000 + RANDOM % 1000))
CUSTSEG_DATABASE_URL=$dsn api_start "$port" mall "$logs/api.log" || exit 1
status=0
/usr/bin/python3 test/resil/load_day.py --dsn "$dsn" --api "http://127.0.0.1:$port" --duration "$duration" \
  --pgdata "$CUSTSEG_PGDATA" --pglog "$CUSTSEG_PGLOG" --pg-bin "$PG_BIN" || status=1
api_stop
out=$(psql -X -At -v ON_ERROR_STOP=1 -U postgres -d load -v check_labels=off -v expect_fingerprint= \
  -f test/resil/invariants.sql 2>&1)
echo "$out" | grep "invariants:" || { echo "$out" | tail -3; status=1; }
[[ $out == *"invariants: ok"* ]] || status=1
resil_check_log || status=1
((status == 0)) && echo "load: ok"
exit $status
