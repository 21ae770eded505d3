#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (as root): install what is missing, build and install
# custseg, start a throwaway PostgreSQL 15, load the mall customers, train, and show the segments,
# their offers and predictions. The cluster is removed on exit unless --keep is given.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    *) echo "usage: bash scripts/demo.sh [--keep]" >&2; exit 2 ;;
  esac
done

data=$(cd .. && pwd)/shared/data/mall_customers.csv
if [[ ! -r $data ]]; then
  echo "custseg: $data not found (the shared data folder must sit beside this repository)" >&2
  exit 1
fi

bash scripts/install-deps.sh
make -j2 >/dev/null
make install >/dev/null
echo "custseg: built and installed $(sed -n "s/^default_version = '\(.*\)'/\1/p" custseg.control)"

source scripts/pgcluster.sh
pgcluster_start
if ((keep)); then
  trap 'echo; echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER psql   (stop: runuser -u postgres -- $PG_BIN/pg_ctl -D $CUSTSEG_PGDATA stop)"' EXIT
else
  trap pgcluster_stop EXIT
fi

psql -X -q -v ON_ERROR_STOP=1 --pset=footer=off <<SQL
CREATE EXTENSION custseg;
CREATE TABLE mall_customers (customer_id text PRIMARY KEY, gender text, age int,
                             annual_income_thousands int, spending_score int);
\copy mall_customers FROM '$data' WITH (FORMAT csv, HEADER true)
\i scripts/demo.sql
SQL
