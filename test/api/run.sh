#!/usr/bin/env bash
# custseg's API and page tests, standalone from a fresh Debian 12 machine (as root): installs what is
# missing, builds and installs the extension, builds the page, starts a throwaway PostgreSQL, runs
# the pytest suite (its own database: a generated customer table and models), then serves the demo
# database (mall customers, models, offers; CDNOW's RFM segments, kept and re-scored; and gmm and
# dbscan models of the mall customers) and drives the page in headless Chromium (the prediction form
# and segments, then the marketing console), saving screenshots to test/api/screenshots/ (or
# $CUSTSEG_SCREENSHOTS), and finally a short latency smoke of bench/api_latency.py (not timed against
# anything). Exits non-zero when a stage fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/pgcluster.sh
source scripts/api-env.sh
shots=${CUSTSEG_SCREENSHOTS:-$(pwd)/test/api/screenshots}
logs=$(mktemp -d /tmp/custseg-api-test.XXXXXX)
trap 'rmdir "$logs" 2>/dev/null || true' EXIT  # until the cluster runs: nothing logged yet

failed=0
stage() {  # stage NAME COMMAND...
  local name=$1 start=$SECONDS
  shift
  echo "=== $name"
  if "$@"; then
    echo "=== $name: ok ($((SECONDS - start)) s)"
  else
    echo "=== $name: FAILED ($((SECONDS - start)) s)"
    failed=$((failed + 1))
    return 1
  fi
}

cleanup() {
  api_stop
  pgcluster_stop
  if ((failed)); then rmdir "$logs" 2>/dev/null || true; else rm -rf "$logs"; fi  # logs are kept for a failed run
}

stage "dependencies" api_install_deps test || exit 1
((failed)) && exit 1
stage "build and install the extension" bash -c 'make -j2 >/dev/null && make install >/dev/null'
stage "build the page" web_build
((failed)) && exit 1

pgcluster_start || exit 1
trap cleanup EXIT

# --basetemp: pytest's temporary directories go with the logs, not to /tmp/pytest-of-$USER.
stage "API tests (pytest)" env CUSTSEG_API_LOG="$logs/api-pytest.log" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  --basetemp="$logs/pytest" test/api

# Besides the demo's models, one per method the page shows apart: gmm (probabilities) and dbscan (noise).
other_methods() {
  psql -X -q -v ON_ERROR_STOP=1 >>"$logs/demo.log" 2>&1 <<'SQL'
SELECT 1 FROM custseg_train('mall_gmm', 'mall_customers', k => 3, options => '{"seed": 7, "method": "gmm"}');
SELECT 1 FROM custseg_train('mall_dbscan', 'mall_customers', k => NULL, options => '{"seed": 7, "method": "dbscan"}');
SQL
}

demo_ok=0
stage "load the demo database" load_demo_db "$logs/demo.log" && stage "train gmm and dbscan models of the mall customers" other_methods && demo_ok=1
if ((demo_ok)); then
  port=$((18000 + RANDOM % 1000))
  if api_start "$port" mall "$logs/api-e2e.log"; then
    stage "page end-to-end in headless Chromium" node test/api/e2e.mjs "http://127.0.0.1:$port" "$shots"
    stage "marketing console end-to-end in headless Chromium" node test/api/console.mjs "http://127.0.0.1:$port" "$shots" cdnow
    stage "latency smoke (bench/api_latency.py)" /usr/bin/python3 bench/api_latency.py --url "http://127.0.0.1:$port" \
      --requests 500 --warmup 100 --concurrency 4
  else
    failed=$((failed + 1))
  fi
fi
stage "server log has no crashed backend" pgcluster_check_log

echo
if ((failed)); then
  echo "api tests: $failed stage(s) failed (logs in $logs)"
  exit 1
fi
echo "api tests: all passed (screenshots in $shots)"
