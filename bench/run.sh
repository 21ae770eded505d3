#!/usr/bin/env bash
# The benchmark, from a fresh Debian 12 machine (as root): installs what is missing, builds and
# installs the extension, starts a throwaway cluster, and runs bench/bench.py, which prints medians,
# ratios against the floor and scikit-learn, and writes them as JSON.
#   bash bench/run.sh                          # 100k, 1M and 10M rows (about 10 minutes)
#   bash bench/run.sh --sizes 100k --runs 1    # a smoke run (what the test command runs)
# Arguments are passed to bench.py (see bench.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
make -s -j2 >/dev/null
make -s install >/dev/null
source scripts/pgcluster.sh
# Room for a 10M-row table's scans in memory, as a tuned server would have.
export CUSTSEG_PG_EXTRA_CONF="${CUSTSEG_PG_EXTRA_CONF:-}
shared_buffers = '2GB'
work_mem = '64MB'
max_worker_processes = 8
max_parallel_workers = 4"
pgcluster_start
trap pgcluster_stop EXIT
psql -qX -c "CREATE EXTENSION custseg"
/usr/bin/python3 bench/bench.py "$@"
