#!/usr/bin/env bash
# Random SQL: SQLsmith's statements, a fixed number from a fixed seed, against a database with
# custseg, models of every kind, segments, offers and views (test/resil/fixture.sql), as an ordinary
# role, on a cluster of its own. Fails on a crashed backend or a failed assertion in the server log,
# or an XX000 in a statement that reached custseg (test/resil/sqlsmith_run.py); prints how many
# statements reached a custseg function. The failing statements go to build/resil/.
#   bash test/resil/test_sqlsmith.sh [--queries N] [--seed S]   (default 1500 and 1: about a minute)
#   bash test/resil/test_sqlsmith.sh --queries 50000 --seed 7  # a longer run by hand
set -uo pipefail
cd "$(dirname "$0")/../.."
queries=1500
seed=1
while (($#)); do
  case $1 in
    --queries) queries=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "usage: test_sqlsmith.sh [--queries N] [--seed S]" >&2; exit 2 ;;
  esac
done
command -v sqlsmith >/dev/null || { echo "resil: sqlsmith is not installed (scripts/install-deps.sh)" >&2; exit 1; }
source scripts/pgcluster.sh
source test/resil/common.sh
mkdir -p build/resil
# statement_timeout bounds each random statement; the function statistics tell which reached custseg.
CUSTSEG_PG_EXTRA_CONF="track_functions = all
statement_timeout = '2s'
lock_timeout = '1s'
${CUSTSEG_PG_EXTRA_CONF:-}" pgcluster_start || exit 1
trap pgcluster_stop EXIT
resil_db smith smith || exit 1
status=0
/usr/bin/python3 test/resil/sqlsmith_run.py --dsn "host=$PGHOST port=$PGPORT dbname=smith user=smith" \
  --seed "$seed" --queries "$queries" --failures build/resil/sqlsmith-failures.sql || status=1
# Every model still scores after the random statements (they ran in rolled-back transactions).
psql -X -q -v ON_ERROR_STOP=1 -d smith -U smith -At -c "SELECT count(*) FROM mall_segments WHERE segment IS NOT NULL" \
  >/dev/null || { echo "resil: the models do not score after the random statements" >&2; status=1; }
resil_check_log || status=1
((status == 0)) && echo "sqlsmith: ok"
exit $status
