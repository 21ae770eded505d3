#!/usr/bin/env bash
# The scripts around the extension: each command installs only what it uses (the demo no test
# stack), PostgreSQL's programs run as postgres from a directory they can enter, the demo
# database's output goes to the caller's log without truncating it, the demo prints one notation for
# an empty list, the page's npm install sends no telemetry, and the tests leave no files in /tmp.
# Needs custseg installed for $PG_BIN's server; ~10 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
fail() { echo "test_scripts: FAIL: $*" >&2; exit 1; }

# Each command installs what it uses: the demo's part has no browser, compiler toolchain for fuzzing,
# GoogleTest, pytest, scikit-learn or Node.js; the full set has them.
build=$(bash scripts/install-deps.sh --list build)
all=$(bash scripts/install-deps.sh --list all)
for p in chromium clang-14 libgtest-dev googletest python3-pytest python3-sklearn nodejs npm postgresql-15-cron cmake; do
  grep -qx "$p" <<<"$build" && fail "the build part installs $p"
done
for p in postgresql-server-dev-15 libeigen3-dev g++ make; do
  grep -qx "$p" <<<"$build" || fail "the build part lacks $p"
done
for p in chromium clang-14 libgtest-dev python3-pytest python3-sklearn postgresql-15-cron cmake; do
  grep -qx "$p" <<<"$all" || fail "the full set lacks $p"
done
grep -q '^bash scripts/install-deps.sh build ' scripts/demo.sh || fail "scripts/demo.sh does not install the build part only"
grep -q 'api_install_deps test' test/api/run.sh || fail "the API tests do not install their test part"

# npm's install of the page: the telemetry of @scarf/scarf (pulled in by swagger-ui-dist) is off.
/usr/bin/python3 -c 'import json, sys; sys.exit(0 if json.load(open("web/package.json"))["scarfSettings"]["enabled"] is False else 1)' ||
  fail "web/package.json does not turn scarf off"
grep -q 'SCARF_ANALYTICS=false npm ci' scripts/api-env.sh || fail "web_build runs npm ci without SCARF_ANALYTICS=false"

# A clone in a directory the postgres user cannot enter (as under /root): no "could not change directory".
away=$(mktemp -d /tmp/custseg-scripts-test.XXXXXX)
trap 'rm -rf "$away"' EXIT
chmod 700 "$away"
source scripts/pgcluster.sh
(cd "$away" && pgcluster_start >"$away/start.log" 2>&1 && pgcluster_stop >>"$away/start.log" 2>&1) ||
  { cat "$away/start.log" >&2; fail "a cluster could not start from $away"; }
grep -q "could not change directory" "$away/start.log" && { cat "$away/start.log" >&2; fail "programs run as postgres complain about the directory"; }

# The demo database into a log the caller opened: what was written before stays (no truncation).
pgcluster_start
trap 'pgcluster_stop; rm -rf "$away"' EXIT
source scripts/demo-db.sh
{
  echo "custseg: line written before the demo"
  load_demo_db
} >"$away/demo.log" 2>&1 || { cat "$away/demo.log" >&2; fail "load_demo_db failed"; }
[[ $(head -1 "$away/demo.log") == "custseg: line written before the demo" ]] || fail "the demo truncated its own log"
grep -q "Nightly retraining" "$away/demo.log" || fail "the demo's output is not in the log"
# One notation for an empty list of segments: SQL's {} (custseg_drift), never JSON's [] beside it.
sed -n '/Nightly retraining/,$p' "$away/demo.log" | grep -q '\[\]' && {
  sed -n '/Nightly retraining/,$p' "$away/demo.log" >&2
  fail "the demo prints [] and {} for the same empty list"
}
# An explicit log file gets the output too.
# (into a database of its own: the demo creates several tables)
psql -X -q -c "CREATE DATABASE demo2" >/dev/null
PGDATABASE=demo2 load_demo_db "$away/demo2.log" || { tail -20 "$away/demo2.log" >&2; fail "load_demo_db LOG failed"; }
grep -q "Nightly retraining" "$away/demo2.log" || fail "load_demo_db LOG wrote nothing"

# The regression tests write their binary COPY file into the cluster's data directory, not /tmp.
grep -q "/tmp/" sql/model_io.sql && fail "model_io writes to /tmp"
grep -q -- '--basetemp=' test/api/run.sh || fail "pytest would leave /tmp/pytest-of-$USER"
echo "test_scripts: ok (install parts, no directory warnings, demo log appended, one empty-list notation, no telemetry)"
