#!/usr/bin/env bash
# Backend memory on 10 million rows, on a throwaway cluster of its own (custseg installed with
# `make install` first): scoring in one backend stays flat, training stays within README's bound,
# an explicit sample_size above the bound is 54000. Pass a row count to try a smaller table.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pgcluster.sh
pgcluster_start
trap pgcluster_stop EXIT
/usr/bin/python3 test/memory/memory.py "$@"
pgcluster_check_log
