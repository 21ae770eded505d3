#!/usr/bin/env bash
# Crash in the middle: the server dies (kill -9 of a backend, which makes the postmaster reset every
# backend and recover, or an immediate shutdown and a restart) while
#   1. custseg_train scans its source (a 100,000-row table),
#   2. custseg_train writes its version: stored, the previous version deactivated, the segments
#      half rewritten (held there by another session's row lock on a segment),
#   3. custseg_activate runs (held the same way, after its updates of the active flags),
#   4. custseg_refresh_segments rewrites segments (held the same way),
#   5. custseg_refresh_segments scans the source,
#   6. other backends score by name with their lookup caches warm, just after a retraining committed,
#   7. the same with an immediate shutdown instead of kill -9.
# After each restart (test/resil/invariants.sql): no half-written version, exactly one active version
# per name, segments consistent with the active version, labels and offers intact, every model
# scores, and the registry is exactly what was committed before the crash (cases 1-5: as before
# it; 6-7: with the committed retraining); then the next training works and is consistent.
#   bash test/resil/test_crash.sh        (about a minute)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/pgcluster.sh
source test/resil/common.sh
pgcluster_start || exit 1
trap 'kill $(jobs -p) 2>/dev/null; pgcluster_stop' EXIT
resil_db crash crash || exit 1
export PGDATABASE=crash
psql -X -q -v ON_ERROR_STOP=1 -U crash -c "CREATE TABLE big AS SELECT g AS id, s.region, s.channel, s.age, s.income, s.spending_score
  FROM generate_series(1, 100000) g JOIN shoppers s ON s.id = 1 + g % 4000" \
  -c "SELECT version FROM custseg_train('big', 'big', k => 3, exclude => '{id}', options => '{\"seed\": 1}')" >/dev/null || exit 1
failed=0
cases=0
fp() { psql -X -At -U crash -c "SELECT resil.fingerprint()" 2>/dev/null; }
psql -X -q -U postgres -v check_labels= -v expect_fingerprint= -f test/resil/invariants.sql >/dev/null || { echo "crash: invariants fail before any crash" >&2; exit 1; }

# wait_for SQL: polls until the query (run as postgres) returns t (at most 30 s).
wait_for() {
  local i
  for ((i = 0; i < 300; i++)); do
    [[ $(psql -X -At -U postgres -c "$1" 2>/dev/null) == t ]] && return 0
    sleep 0.1
  done
  return 1
}
backend_of() {  # backend_of APPNAME: its pid
  psql -X -At -U postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND state = 'active'" | head -1
}
restart_after_kill() {  # waits for the postmaster's crash recovery
  local i
  for ((i = 0; i < 300; i++)); do
    psql -X -At -U postgres -c "SELECT 1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "crash: the server did not recover" >&2
  return 1
}
crash() {  # crash kill9 PID | crash immediate
  if [[ $1 == kill9 ]]; then
    kill -9 "$2"
    restart_after_kill
  else
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CUSTSEG_PGDATA" -m immediate -w stop >/dev/null &&
      runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CUSTSEG_PGDATA" -l "$CUSTSEG_PGLOG" -w -t 60 start >/dev/null
  fi
}
check() {  # check NAME EXPECTED_FINGERPRINT
  local name=$1 expect=$2 out
  cases=$((cases + 1))
  if ! out=$(psql -X -At -v ON_ERROR_STOP=1 -U postgres -v check_labels= -v check_labels= -v expect_fingerprint="$expect" -f test/resil/invariants.sql 2>&1) ||
    [[ $out != *"invariants: ok"* ]]; then
    echo "crash: $name: FAILED after restart:"
    echo "$out" | tail -5
    failed=$((failed + 1))
    return 1
  fi
  # The next training works and leaves everything consistent.
  if ! out=$(psql -X -At -v ON_ERROR_STOP=1 -U crash -c "SELECT version FROM custseg_train('mall', 'mall', k => 4, options => '{\"seed\": 7}')" 2>/dev/null) ||
    ! psql -X -At -v ON_ERROR_STOP=1 -U postgres -v check_labels= -v expect_fingerprint= -f test/resil/invariants.sql 2>&1 | grep -q "invariants: ok"; then
    echo "crash: $name: the next training failed after restart: $out"
    failed=$((failed + 1))
    return 1
  fi
  echo "crash: $name: ok (next training: version $out)"
}
# hold_segments MODEL: another session locks the model's segment rows until released (its psql
# waits on a FIFO); a writer of those rows then waits there.
hold_segments() {
  mkfifo "$CUSTSEG_PGDIR/hold"
  (psql -X -q -U postgres -v ON_ERROR_STOP=1 <"$CUSTSEG_PGDIR/hold" >/dev/null 2>&1 &)
  exec 7>"$CUSTSEG_PGDIR/hold"
  echo "SET application_name = 'holder'; BEGIN; SELECT 1 FROM custseg_segments WHERE model = '$1' FOR UPDATE;" >&7
  wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'holder' AND state = 'idle in transaction')"
}
release_hold() {
  exec 7>&-
  rm -f "$CUSTSEG_PGDIR/hold"
}
# waiting_writer APP: true once APP's backend waits for a lock, holding row locks on custseg_models
waiting_writer() {
  echo "SELECT EXISTS (SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
          WHERE a.application_name = '$1' AND a.wait_event_type = 'Lock'
            AND l.relation = 'custseg_models'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted)"
}

# 1. custseg_train during its scan.
before=$(fp)
PGAPPNAME=train_scan psql -X -q -U crash -c "SELECT custseg_train('big', 'big', k => 5, exclude => '{id}')" >/dev/null 2>&1 &
wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'train_scan' AND state = 'active'
          AND now() - query_start > interval '100 ms')"
crash kill9 "$(backend_of train_scan)"
wait
check "kill -9 while custseg_train scans" "$before"

# 2. custseg_train while it writes its version.
before=$(fp)
hold_segments mall
PGAPPNAME=train_write psql -X -q -U crash -c "SELECT custseg_train('mall', 'mall', k => 3, options => '{\"seed\": 42}')" >/dev/null 2>&1 &
wait_for "$(waiting_writer train_write)" || echo "crash: custseg_train never reached its writes" >&2
crash kill9 "$(backend_of train_write)"
release_hold
wait
check "kill -9 while custseg_train writes its version and segments" "$before"

# 3. custseg_activate.
before=$(fp)
hold_segments mall
PGAPPNAME=activate psql -X -q -U crash -c "SELECT custseg_activate('mall', 1)" >/dev/null 2>&1 &
wait_for "$(waiting_writer activate)" || echo "crash: custseg_activate never reached its writes" >&2
crash immediate
release_hold
wait
check "immediate shutdown while custseg_activate runs" "$before"

# 4. custseg_refresh_segments while it rewrites segments.
before=$(fp)
hold_segments mall_raw
PGAPPNAME=refresh psql -X -q -U crash -c "SELECT count(*) FROM custseg_refresh_segments('mall_raw')" >/dev/null 2>&1 &
wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'refresh' AND wait_event_type = 'Lock')" ||
  echo "crash: custseg_refresh_segments never reached its writes" >&2
crash kill9 "$(backend_of refresh)"
release_hold
wait
check "kill -9 while custseg_refresh_segments rewrites segments" "$before"

# 5. custseg_refresh_segments during its scans of the source.
before=$(fp)
PGAPPNAME=refresh_scan psql -X -q -U crash -c "SELECT count(*) FROM custseg_refresh_segments('big')" >/dev/null 2>&1 &
wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'refresh_scan' AND state = 'active'
          AND now() - query_start > interval '200 ms')"
crash immediate
wait
check "immediate shutdown while custseg_refresh_segments scans" "$before"

# 6 and 7. Warm lookup caches in four other backends scoring by name in a loop; a retraining commits;
# then the server dies while they score.
for how in kill9 immediate; do
  for i in 1 2 3 4; do
    PGAPPNAME=scorer$i psql -X -q -U crash -c "DO \$\$ BEGIN LOOP PERFORM count(*) FROM mall_segments; PERFORM custseg_predict(to_jsonb(c), 'mall_json') FROM mall c; END LOOP; END \$\$" >/dev/null 2>&1 &
  done
  wait_for "SELECT count(*) = 4 FROM pg_stat_activity WHERE application_name LIKE 'scorer%' AND state = 'active'
            AND now() - query_start > interval '300 ms'"
  psql -X -q -U crash -c "SELECT version FROM custseg_train('mall_json', 'mall', k => 3, exclude => '{customer_id}', options => '{\"seed\": 11}')" >/dev/null
  sleep 0.5
  expect=$(fp)
  if [[ $how == kill9 ]]; then crash kill9 "$(backend_of scorer2)"; else crash immediate; fi
  wait
  check "$how while four backends score with warm caches after a committed retraining" "$expect"
done
resil_check_log 2>/dev/null | grep -v "terminated by signal 9" | grep -E "TRAP:|PANIC|signal [^9]" && failed=$((failed + 1))
echo "crash: $cases cases, $failed failed"
((failed == 0))
