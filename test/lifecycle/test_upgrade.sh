#!/usr/bin/env bash
# From the first released version to the current one: CREATE EXTENSION custseg VERSION '0.1.0',
# train models (several versions), rename a label, add offers and views, then ALTER EXTENSION custseg
# UPDATE. The data must be intact and every prediction the same (fingerprint.sql), and the updated
# extension must equal a fresh CREATE EXTENSION custseg object for object and definition for
# definition (catalog.sql: members, function definitions, aggregates, types, columns, constraints,
# indexes, triggers, policies, views, privileges, configuration tables). Then DROP EXTENSION: without
# CASCADE it refuses while custseg_create_views' views and a custseg_model column depend on it; with
# CASCADE it removes them, and nothing of the extension remains. Needs make install; ~15 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pgcluster.sh
pgcluster_start
trap pgcluster_stop EXIT
data=$(cd .. && pwd)/shared/data/mall_customers.csv
work=$CUSTSEG_PGDIR/upgrade
mkdir -p "$work"
fail() { echo "test_upgrade: FAIL: $*" >&2; exit 1; }
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" custseg.control)

q -c "CREATE DATABASE up" -c "CREATE DATABASE fresh"
q -d up -c "CREATE EXTENSION custseg VERSION '0.1.0'"
[[ $(q -d up -c "SELECT extversion FROM pg_extension WHERE extname = 'custseg'") == 0.1.0 ]] || fail "not at 0.1.0"
q -d up -f test/lifecycle/fixture.sql <"$data" 2>/dev/null
q -d up -f test/lifecycle/fingerprint.sql >"$work/before.txt"

q -d up -c "ALTER EXTENSION custseg UPDATE"
[[ $(q -d up -c "SELECT extversion FROM pg_extension WHERE extname = 'custseg'") == "$current" ]] ||
  fail "ALTER EXTENSION custseg UPDATE did not reach $current"
q -d up -f test/lifecycle/fingerprint.sql >"$work/after.txt"
diff -u "$work/before.txt" "$work/after.txt" || fail "the update changed data or predictions (above)"

q -d fresh -c "CREATE EXTENSION custseg"
q -d up -f test/lifecycle/catalog.sql >"$work/updated.txt"
q -d fresh -f test/lifecycle/catalog.sql >"$work/fresh.txt"
n=$(grep -c . "$work/fresh.txt")
((n > 100)) || fail "the catalog listing has only $n lines"
diff -u "$work/fresh.txt" "$work/updated.txt" || fail "the updated extension differs from a fresh one (above: - fresh, + updated)"

# The updated registry keeps working: models stored by 0.1.0 belong to the role that ran the update.
[[ $(q -d up -c "SELECT string_agg(DISTINCT owner, ',') FROM custseg_models") == postgres ]] || fail "owner of 0.1.0 models"
q -d up -c "SELECT version FROM custseg_train('mall', 'mall', k => 3, options => '{\"seed\": 42}')" >/dev/null 2>&1 ||
  fail "training after the update"

# DROP EXTENSION: refused while user objects depend on it, then CASCADE removes them and everything.
for db in up fresh; do
  if [[ $db == up ]]; then
    out=$(psql -X -q -At -d up -v VERBOSITY=verbose -c "DROP EXTENSION custseg" 2>&1) && fail "DROP EXTENSION without CASCADE succeeded"
    grep -q "ERROR:  2BP01: cannot drop extension custseg because other objects depend on it" <<<"$out" ||
      fail "DROP EXTENSION without CASCADE: $out"
    grep -q "view mall_segments depends on" <<<"$out" || fail "the error does not name the views: $out"
    q -d up -c "DROP EXTENSION custseg CASCADE" 2>/dev/null
    [[ $(q -d up -c "SELECT count(*) FROM pg_class WHERE relname IN ('mall_segments', 'mall_segments_offers', 'young', 'young_offers')") == 0 ]] ||
      fail "CASCADE left custseg_create_views' views"
    [[ $(q -d up -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'saved'::regclass AND attname = 'model' AND NOT attisdropped") == 0 ]] ||
      fail "CASCADE left the custseg_model column"
    [[ $(q -d up -c "SELECT count(*) FROM mall") == 200 ]] || fail "CASCADE touched the source table"
  else
    q -d fresh -c "DROP EXTENSION custseg"
  fi
  left=$(q -d "$db" <<'SQL'
SELECT string_agg(what, ', ') FROM (
    SELECT 'function ' || oid::regprocedure AS what FROM pg_proc WHERE proname LIKE 'custseg%'
    UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typname LIKE '%custseg%'
    UNION ALL SELECT 'relation ' || relname FROM pg_class WHERE relname LIKE 'custseg%'
    UNION ALL SELECT 'policy ' || polname FROM pg_policy WHERE polname LIKE 'custseg%'
    UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE 'custseg%'
    UNION ALL SELECT 'operator ' || oprname FROM pg_operator o JOIN pg_type t ON t.oid IN (o.oprleft, o.oprright) WHERE t.typname LIKE '%custseg%'
    UNION ALL SELECT 'init_privs ' || objoid FROM pg_init_privs ip WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = ip.objoid)
                   AND NOT EXISTS (SELECT 1 FROM pg_proc WHERE oid = ip.objoid) AND NOT EXISTS (SELECT 1 FROM pg_type WHERE oid = ip.objoid)
                   AND NOT EXISTS (SELECT 1 FROM pg_namespace WHERE oid = ip.objoid)
    UNION ALL SELECT 'extension ' || extname FROM pg_extension WHERE extname = 'custseg') x
SQL
)
  [[ -z $left ]] || fail "DROP EXTENSION left in $db: $left"
done
pgcluster_check_log
echo "test_upgrade: ok (0.1.0 -> $current: data and predictions kept, $n catalog lines equal to a fresh install, DROP EXTENSION clean)"
