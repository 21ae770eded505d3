#!/usr/bin/env bash
# custseg on Citus against one node (bench/citus_bench.py): builds or reuses Citus
# (scripts/citus-build.sh), starts a coordinator and two workers on this machine, and compares the
# distributed whole-row floor, training and scoring with the same on one node, as ratios.
#   bash bench/citus.sh                       # 1M and 10M rows (about 15 minutes on 2 cores)
#   bash bench/citus.sh --sizes 100k --runs 1
# Needs custseg installed (make install); CUSTSEG_DESTDIR and PG_BIN as for test/citus/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/citus-build.sh "${CUSTSEG_DESTDIR:-/}" >/dev/null
source scripts/pgcluster.sh
source test/citus/cluster.sh
# The same memory for each node as bench/run.sh gives its one server, shared by three here.
export CUSTSEG_PG_EXTRA_CONF="${CUSTSEG_PG_EXTRA_CONF:-}
shared_buffers = '1GB'
work_mem = '64MB'
max_worker_processes = 8
max_parallel_workers = 4"
citus_cluster_start custseg_bench
trap citus_cluster_stop EXIT
/usr/bin/python3 bench/citus_bench.py "$@"
