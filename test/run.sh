#!/usr/bin/env bash
# Every custseg test, from a fresh Debian 12 machine (as root): install dependencies, the core's
# GoogleTest suite (plain and under sanitizers), a fuzz smoke run of the model readers, the PGXS
# build and install, ordinary roles' privileges, dump/restore and upgrade, Citus 13.2.2 (built from
# ../shared/vendor/citus or its cache) on a coordinator and two workers, the resilience tests (random
# SQL from SQLsmith, crashes in the middle of writes, a compressed day of mixed load), the build and the
# SQL-level suites on PostgreSQL 17 and 18 (Debian 13 and Debian testing roots made by debootstrap,
# cached under /var/cache/custseg/roots), then against a throwaway PostgreSQL 15 cluster the
# pg_regress and isolation suites and the differential tests against scikit-learn, a check of the
# server log for crashed backends; then, each on a cluster of its own, a real pg_cron retraining job,
# backend memory on 10 million rows, the API and web page (pytest and headless Chromium), and a
# benchmark smoke run (no assertion on any time). Ends with "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/pgcluster.sh

passed=0
failed=0
failures=()
stage() {  # stage NAME COMMAND...
  local name=$1
  shift
  echo
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then
    echo "=== $name: ok ($((SECONDS - start)) s)"
    passed=$((passed + 1))
  else
    echo "=== $name: FAILED ($((SECONDS - start)) s)"
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

core_tests() {
  cmake -S . -B build/core -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build build/core -j2 &&
    ctest --test-dir build/core --output-on-failure
}

core_sanitized() {  # assertions on (no NDEBUG), at -O1: Eigen at -O0 under the sanitizers is 5x slower
  cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DCUSTSEG_SANITIZE=ON >/dev/null &&
    cmake --build build/asan -j2 &&
    ctest --test-dir build/asan --output-on-failure
}

build_extension() {  # fails on a compiler warning too, as the PostgreSQL 17 and 18 builds do
  mkdir -p build
  make -j2 2>&1 | tee build/make.log
  ((PIPESTATUS[0] == 0)) || return 1
  if grep -q "warning:" build/make.log; then
    echo "custseg: the build printed warnings (above)" >&2
    return 1
  fi
  make install
}

regress() {
  if make installcheck; then
    return 0
  fi
  [[ -f regression.diffs ]] && head -c 20000 regression.diffs
  [[ -f output_iso/regression.diffs ]] && head -c 20000 output_iso/regression.diffs
  return 1
}

differential() {  # both must pass (each runs to its end and prints its summary)
  local rc=0
  /usr/bin/python3 test/diff/test_sklearn.py || rc=1
  /usr/bin/python3 test/diff/test_methods.py || rc=1
  return $rc
}

stage "dependencies" bash scripts/install-deps.sh || true
if ((failed)); then
  echo "tests: $passed passed, $failed failed"
  exit 1
fi
# The compiler cache for the builds on this machine (the Debian roots keep their own): a machine that
# ran the tests before recompiles only what changed. ccache keys each object by its preprocessed source,
# flags and compiler; paths are taken relative to the clone, so any clean clone hits. A cache that is
# missing or cannot be written only makes the builds slower.
ccache_dir=${CUSTSEG_CCACHE:-/var/cache/custseg/ccache}/native
if command -v ccache >/dev/null && mkdir -p "$ccache_dir" 2>/dev/null && [[ -w $ccache_dir ]]; then
  [[ -x /usr/lib/ccache/clang++-14 ]] || update-ccache-symlinks 2>/dev/null || true
  export CCACHE_DIR=$ccache_dir CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=2G
  export PATH=/usr/lib/ccache:$PATH
fi
stage "core unit tests" core_tests
stage "core unit tests under AddressSanitizer and UBSan" core_sanitized
stage "fuzzing the model readers (30 s per target)" bash test/fuzz/run.sh 30
failed_before_build=$failed
stage "build and install the extension" build_extension
if ((failed > failed_before_build)); then
  # The stages below would test whatever custseg was installed before.
  echo "tests: $passed passed, $failed failed (the later stages need the build: not run)"
  echo "failed stages: ${failures[*]}"
  exit 1
fi
stage "ordinary roles: row security, grants, hostile search_path" bash test/security/test_nonsuperuser.sh
stage "pg_dump and pg_restore keep models and predictions" bash test/lifecycle/test_dump_restore.sh
stage "upgrade from 0.1.0 equals a fresh install; DROP EXTENSION" bash test/lifecycle/test_upgrade.sh
stage "Citus: a coordinator and two workers (training pushed down, scoring in the workers)" bash test/citus/run.sh
stage "scripts: install parts, demo log, no directory warnings, no npm telemetry" bash test/scripts/test_scripts.sh
stage "random SQL: 1500 SQLsmith statements (seed 1), no crash, no XX000" bash test/resil/test_sqlsmith.sh
stage "crashes while training, activating, refreshing segments and scoring" bash test/resil/test_crash.sh
stage "a production day in 2 minutes: mixed load, retraining, a restart" bash test/resil/test_load.sh --duration 120
# The other majors Debian ships, each in a root of its release (cached; test/pgversions/run.sh).
stage "PostgreSQL 17 (Debian 13 root): build, pg_regress and isolation, scikit-learn, upgrade, security" \
  bash test/pgversions/run.sh trixie 17
stage "PostgreSQL 18 (Debian testing root): build, pg_regress and isolation, scikit-learn, upgrade, security" \
  bash test/pgversions/run.sh testing 18

if pgcluster_start; then
  trap pgcluster_stop EXIT
  stage "pg_regress and isolation tests" regress
  stage "differential tests against scikit-learn" differential
  stage "customers in motion: RFM against pandas, kept segments, notifications" /usr/bin/python3 test/diff/test_motion.py
  stage "the README's Quick start runs as written" bash test/docs/test_quickstart.sh
  stage "server log has no crashed backend" pgcluster_check_log
  stage "nightly retraining with pg_cron" bash test/cron/test_cron.sh
  stage "backend memory on 10 million rows" bash test/memory/test_memory.sh
  stage "API and web page (FastAPI, headless Chromium)" bash test/api/run.sh
  stage "benchmark smoke run (100k rows, no assertions on time)" bash bench/run.sh --sizes 100k --runs 1 --pgbench-seconds 2 --json build/bench-smoke.json
else
  echo "custseg: could not start a PostgreSQL cluster" >&2
  failed=$((failed + 1))
  failures+=("cluster start")
fi

echo
if ((failed)); then echo "failed stages: ${failures[*]}"; fi
echo "tests: $passed passed, $failed failed"
((failed == 0))
