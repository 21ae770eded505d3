#!/usr/bin/env bash
# Runs inside a Debian root made by test/pgversions/run.sh (the tree at /build/custseg, the shared
# data at /build/shared/data, PG_BIN and PG_CONFIG naming the root's PostgreSQL): builds and installs
# custseg (failing on any compiler warning), runs the pg_regress and isolation suites (the Makefile's
# REGRESS and ISOLATION lists, whatever they hold), every differential test of test/diff (against
# scikit-learn and pandas) and the server log check on one throwaway cluster, then the upgrade test
# and the security test on clusters of their own. Every step runs even when an earlier one failed
# (all but the build); the exit status says whether all passed.
set -uo pipefail
cd /build/custseg
source scripts/pgcluster.sh
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
label="PostgreSQL $("$PG_CONFIG" --version | cut -d' ' -f2) on Debian ${CUSTSEG_SUITE:-?} ($(cat /etc/debian_version))"

failures=()
steps=0
step() {  # step NAME COMMAND...
  local name=$1 start=$SECONDS
  shift
  steps=$((steps + 1))
  echo "--- $label: $name"
  if "$@"; then
    echo "--- $name: ok ($((SECONDS - start)) s)"
  else
    echo "--- $name: FAILED ($((SECONDS - start)) s)"
    failures+=("$name")
  fi
}

build() {
  make -j2 PG_CONFIG="$PG_CONFIG" >build/make.log 2>&1
  local rc=$?
  cat build/make.log
  ((rc == 0)) || return 1
  if grep -Ei "warning:" build/make.log; then
    echo "pgversions: the build on PostgreSQL $major printed warnings (above)" >&2
    return 1
  fi
  make install PG_CONFIG="$PG_CONFIG" >/dev/null
}

regress() {
  make installcheck PG_CONFIG="$PG_CONFIG" && return 0
  [[ -f regression.diffs ]] && head -c 20000 regression.diffs
  [[ -f output_iso/regression.diffs ]] && head -c 20000 output_iso/regression.diffs
  return 1
}

mkdir -p build
step "build and install (no warning)" build
if ((${#failures[@]})); then
  echo "pgversions: $label: the build failed; nothing else run"
  exit 1
fi
if pgcluster_start; then
  trap pgcluster_stop EXIT
  step "pg_regress and isolation tests" regress
  # Every differential test there is (test_sklearn.py against scikit-learn, and the others).
  sklearn=$(python3 -c 'import sklearn; print(sklearn.__version__)')
  for t in test/diff/test_*.py; do
    step "differential tests: $(basename "$t") (scikit-learn $sklearn)" python3 "$t"
  done
  step "server log has no crashed backend" pgcluster_check_log
  pgcluster_stop
else
  failures+=("cluster start")
fi
step "upgrade from 0.1.0 equals a fresh install; DROP EXTENSION" bash test/lifecycle/test_upgrade.sh
step "ordinary roles: row security, grants, hostile search_path" bash test/security/test_nonsuperuser.sh

if ((${#failures[@]})); then
  echo "pgversions: $label: ${#failures[@]} of $steps steps failed: $(printf '%s; ' "${failures[@]}")"
  exit 1
fi
echo "pgversions: $label: all $steps steps passed"
