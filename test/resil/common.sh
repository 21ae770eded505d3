# Shared by the resilience tests (source from the repository root after scripts/pgcluster.sh):
#   resil_db DB ROLE     creates ROLE (a login role, not a superuser) and DB owned by it, installs
#                        custseg and loads test/resil/fixture.sql as ROLE
#   resil_check_log      fails when the server log shows a crashed backend, a PANIC or a failed
#                        assertion (TRAP:, on an assertion-enabled server)
resil_db() {
  local db=$1 role=$2
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE \"$role\" LOGIN" -c "CREATE DATABASE \"$db\" OWNER \"$role\"" &&
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION custseg" &&
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -U "$role" -f test/resil/fixture.sql \
      <"$(cd .. && pwd)/shared/data/mall_customers.csv" >/dev/null 2>&1 ||
    { echo "resil: the fixture did not load" >&2; return 1; }
}

resil_check_log() {
  if grep -E "TRAP:|terminated by signal|server process .* was terminated|PANIC" "$CUSTSEG_PGLOG" | grep -v "^\s*$"; then
    echo "resil: the server log shows a crashed backend or a failed assertion" >&2
    return 1
  fi
}
