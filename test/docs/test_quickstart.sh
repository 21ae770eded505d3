#!/usr/bin/env bash
# The README's Quick start, run as written: its SQL block (creating and loading mall_customers from
# ../shared/data, training, scoring) in a fresh database of the running cluster (PG* from
# pgcluster_start), from the repository root as the README's relative path expects. ~2 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "test_quickstart: FAIL: $*" >&2; exit 1; }
sql=$(awk '/^## Quick start/ {in_qs = 1; next} in_qs && /^```sql/ {in_sql = 1; next}
           in_sql && /^```/ {exit} in_sql {print}' README.md)
[[ $sql == *"CREATE TABLE mall_customers"* && $sql == *"\\copy mall_customers"* ]] ||
  fail "the Quick start does not create and load mall_customers"
db=custseg_quickstart_$$
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db"
trap 'psql -X -q -c "DROP DATABASE IF EXISTS $db"' EXIT
out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -At <<<"$sql") || fail "the Quick start's SQL failed"
scored=$(psql -X -q -d "$db" -At -c "SELECT count(*) FROM mall_customers c, mall_model m WHERE custseg_predict(m.model, c) IS NOT NULL")
[[ $scored == 200 ]] || fail "the Quick start scored $scored of 200 customers"
[[ $out == *'"rows_used": 200'* ]] || fail "the Quick start's model does not report 200 rows used"
echo "test_quickstart: ok (the README's Quick start runs as written: 200 customers loaded, trained and scored)"
