#!/usr/bin/env bash
# The API and the page against the demo database, from a fresh Debian 12 machine (as root): installs
# what is missing, builds and installs custseg, builds the page, starts a throwaway PostgreSQL, loads
# the demo (mall customers, the model "mall", offers: scripts/demo.sql), starts the API on 127.0.0.1
# and prints the URL. Runs until Ctrl-C, then stops the API and removes the cluster.
#   bash scripts/serve.sh [--port N]     (default 8000)
set -euo pipefail
cd "$(dirname "$0")/.."
port=8000
while (($#)); do
  case $1 in
    --port) port=$2; shift 2 ;;
    *) echo "usage: bash scripts/serve.sh [--port N]" >&2; exit 2 ;;
  esac
done
source scripts/pgcluster.sh
source scripts/api-env.sh

api_install_deps
make -j2 >/dev/null
make install >/dev/null
echo "custseg: built and installed the extension"
web_build
echo "custseg: built the page (web/dist)"

pgcluster_start
trap 'api_stop; pgcluster_stop; echo "custseg: stopped"' EXIT
trap 'exit 130' INT TERM
load_demo_db "$CUSTSEG_PGDIR/demo.log"
echo "custseg: demo database loaded (model \"mall\", offers); output of scripts/demo.sql in $CUSTSEG_PGDIR/demo.log"
api_start "$port" mall "$CUSTSEG_PGDIR/api.log"

cat <<MSG

  custseg is serving the demo at   http://127.0.0.1:$port/
  segments view                    http://127.0.0.1:$port/#segments
  OpenAPI docs                     http://127.0.0.1:$port/docs
  try:  curl -s -X POST http://127.0.0.1:$port/predict -H 'Content-Type: application/json' \\
          -d '{"gender": "Female", "age": 31, "annual_income_thousands": 88, "spending_score": 91}'
  SQL:  PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER psql
  latency: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER python3 bench/api_latency.py --url http://127.0.0.1:$port

  Ctrl-C stops the API and removes the database. API log: $CUSTSEG_PGDIR/api.log
MSG
wait "$CUSTSEG_API_PID"
