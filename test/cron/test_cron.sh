#!/usr/bin/env bash
# Nightly retraining with pg_cron, for real: a throwaway cluster with pg_cron preloaded, a job that
# retrains the mall model, dashboards reading the views while it runs, and the new version keeping
# segment numbers, labels and offers. The job is scheduled every minute, so this takes up to ~2 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pgcluster.sh
export CUSTSEG_PG_EXTRA_CONF="shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 20"
pgcluster_start
trap pgcluster_stop EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
data=$(cd .. && pwd)/shared/data/mall_customers.csv
q <<SQL
CREATE EXTENSION custseg;
CREATE EXTENSION pg_cron;
CREATE TABLE mall (customer_id text PRIMARY KEY, gender text, age int, annual_income_thousands int, spending_score int);
\copy mall FROM '$data' WITH (FORMAT csv, HEADER true)
SELECT version FROM custseg_train('mall', 'mall', k => 3, options => '{"seed": 42}') \g /dev/null
UPDATE custseg_segments SET label = 'VIP' WHERE model = 'mall' AND segment = 1;
INSERT INTO custseg_offers (model, segment, title) SELECT 'mall', segment, 'offer ' || segment FROM custseg_segments WHERE model = 'mall';
SELECT custseg_create_views('mall', 'mall') \g /dev/null
CREATE TABLE before AS SELECT segment, label FROM custseg_segments WHERE model = 'mall';
SELECT cron.schedule('custseg-nightly', '* * * * *',
  \$\$SELECT custseg_train('mall', 'public.mall', k => 3, options => '{"seed": 7}')\$\$) \g /dev/null
SQL
echo "test_cron: job scheduled; reading the views until a second version appears"

fail() { echo "test_cron: FAIL: $*" >&2; exit 1; }
reads=0
for _ in $(seq 1 240); do
  # A dashboard: every customer with segment and label, and the offers view.
  n=$(q -c "SELECT count(*) FROM mall_segments WHERE segment IS NOT NULL AND label IS NOT NULL")
  [[ $n == 200 ]] || fail "the view returned $n labelled rows during retraining"
  o=$(q -c "SELECT count(*) FROM mall_segments_offers")
  [[ $o == 200 ]] || fail "the offers view returned $o rows during retraining"
  reads=$((reads + 1))
  v=$(q -c "SELECT count(*) FROM custseg_models WHERE name = 'mall'")
  [[ $v -ge 2 ]] && break
  sleep 0.5
done
[[ $v -ge 2 ]] || fail "no new version within 2 minutes: $(q -c "SELECT string_agg(status || ': ' || coalesce(return_message, ''), '; ') FROM cron.job_run_details")"
echo "test_cron: version 2 appeared after $reads dashboard reads"
q -c "SELECT cron.unschedule('custseg-nightly')" >/dev/null

status=$(q -c "SELECT status FROM cron.job_run_details ORDER BY start_time LIMIT 1")
[[ $status == succeeded ]] || fail "the job's status is $status"
active=$(q -c "SELECT version FROM custseg_models WHERE name = 'mall' AND active")
[[ $active == 2 ]] || fail "active version is $active"
same=$(q -c "SELECT count(*) FROM before b JOIN custseg_segments s ON s.model = 'mall' AND s.segment = b.segment AND s.label = b.label")
[[ $same == 3 ]] || fail "only $same of 3 segments kept their number and label"
vip=$(q -c "SELECT label FROM custseg_segments WHERE model = 'mall' AND segment = 1")
[[ $vip == VIP ]] || fail "the renamed label is now $vip"
offers=$(q -c "SELECT count(*) FROM custseg_segment_offers WHERE model = 'mall'")
[[ $offers == 3 ]] || fail "$offers offers still joined to segments"
q -c "SELECT 'drift: ' || version || ' <- ' || previous_version || ', matched ' || matched_segments || ', rows changed ' || drift_rows FROM custseg_drift('mall') WHERE version = 2"
pgcluster_check_log
echo "test_cron: ok"
