#!/usr/bin/env bash
# The pg_regress and isolation suites against a PostgreSQL 15 server built with assertions
# (--enable-cassert: Assert(), memory-context checking, clobbering of freed memory), which Debian does
# not ship. test/assert/build.sh builds it from Debian's PostgreSQL 15 source once per source version
# into /var/cache/custseg/pg-assert/ (~15 min the first time on 2 cores; reused afterwards); custseg
# is built against it (in a copy of the tree) and installed into that build only. Runs the suites on
# a throwaway cluster of it and checks its log for failed assertions and crashed backends, then
# test/security and test/lifecycle against it as well; with --resil also the resilience tests
# (test/resil: random SQL, crashes, the compressed production day).
#   bash test/assert/run.sh [--resil]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$root/build/pg-assert
mkdir -p "$work"
resil=0
[[ ${1:-} == --resil ]] && resil=1

prefix=$(bash test/assert/build.sh | tail -1)
[[ -x $prefix/bin/postgres ]] || { echo "assert: no assertion-enabled server" >&2; exit 1; }
pg_config=$prefix/bin/pg_config
# custseg built against the assertion server's headers, in a copy of the tree so the system build's
# objects are left alone.
rm -rf "$work/ext" && mkdir -p "$work/ext"
git ls-files -z | xargs -0 cp --parents -t "$work/ext"
make -C "$work/ext" -j2 -s PG_CONFIG="$pg_config" >/dev/null
make -C "$work/ext" -s install PG_CONFIG="$pg_config" >/dev/null

export PG_BIN=$prefix/bin
source scripts/pgcluster.sh
pgcluster_start
trap pgcluster_stop EXIT
psql -X -At -c "SELECT 'assert: server ' || version() || ', debug_assertions = ' || current_setting('debug_assertions')"
[[ $(psql -X -At -c "SHOW debug_assertions") == on ]] || { echo "assert: the server has no assertions" >&2; exit 1; }
status=0
# The shared data folder is found relative to the test directory.
ln -sfn "$(cd .. && pwd)/shared" "$work/shared"
if ! make -C "$work/ext" installcheck PG_CONFIG="$pg_config"; then
  [[ -f $work/ext/regression.diffs ]] && head -c 20000 "$work/ext/regression.diffs"
  [[ -f $work/ext/output_iso/regression.diffs ]] && head -c 20000 "$work/ext/output_iso/regression.diffs"
  status=1
fi
if grep -E "TRAP:|terminated by signal|server process .* was terminated|PANIC" "$CUSTSEG_PGLOG"; then
  echo "assert: the assertion server's log shows a failed assertion or a crashed backend" >&2
  status=1
fi
pgcluster_stop
trap - EXIT
# The cluster-level tests too, each on a cluster of the assertion server of its own (their own log
# checks catch a failed assertion, which ends the backend with signal 6).
tests=(test/security/test_nonsuperuser.sh test/lifecycle/test_dump_restore.sh test/lifecycle/test_upgrade.sh)
((resil)) && tests+=(test/resil/test_sqlsmith.sh test/resil/test_crash.sh test/resil/test_load.sh)
for t in "${tests[@]}"; do
  if ! bash "$t" >"$work/$(basename "$t" .sh).log" 2>&1; then
    echo "assert: $t failed on the assertion server:" >&2
    tail -20 "$work/$(basename "$t" .sh).log" >&2
    status=1
  else
    tail -1 "$work/$(basename "$t" .sh).log"
  fi
done
((status == 0)) && echo "assert: ok"
exit $status
