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

source scripts/demo-db.sh
demo_data_present

bash scripts/install-deps.sh build  # the demo needs the build part only
make -j2 >/dev/null
make install >/dev/null
echo "custseg: built and installed $(sed -n "s/^default_version = '\(.*\)'/\1/p" custseg.control)"

source scripts/pgcluster.sh
pgcluster_start
if ((keep)); then
  trap 'echo; echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER psql   (stop: cd / && runuser -u postgres -- $PG_BIN/pg_ctl -D $CUSTSEG_PGDATA stop)"' EXIT
else
  trap pgcluster_stop EXIT
fi

load_demo_db
