#!/usr/bin/env bash
# custseg on Citus 13.2.2: builds Citus from ../shared/vendor/citus (or reuses its cache, see
# scripts/citus-build.sh), starts a coordinator and two workers on this machine, creates citus and
# custseg on every node, and checks on a hash-distributed table (32 shards) against a local copy of
# the same rows: training pushed down (worker partial aggregates, combined on the coordinator),
# custseg_train, custseg_evaluate_k and k => NULL; scoring in the workers by name, by table and by
# value with the same segments as on one node; a retrain or an activation seen by the workers from
# the next statement on; row security on the registry through the workers; custseg_activate,
# custseg_refresh_segments, custseg_profile, custseg_describe, custseg_correlations, custseg_drift
# and the views of custseg_create_views read in full in the workers. Needs custseg installed.
# CUSTSEG_DESTDIR: the PostgreSQL copy Citus is installed into (default: the system's, as custseg).
# About 1 minute with Citus cached; building it adds 2 to 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/citus-build.sh "${CUSTSEG_DESTDIR:-/}"
source scripts/pgcluster.sh
source test/citus/cluster.sh
citus_cluster_start custseg
trap citus_cluster_stop EXIT
rows=${CUSTSEG_CITUS_ROWS:-20000}
export PGOPTIONS="-c client_min_messages=warning"
# Pulling the rows to the coordinator (an intermediate result of the table's size) fails under this limit.
small="SET citus.max_intermediate_result_size = '64kB'"
checks=0
fail() { echo "test_citus: FAIL: $*" >&2; exit 1; }
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
# expect EXPECTED SQL [psql options]: the single-value (rows joined by |) result of SQL.
expect() {
  local want=$1 sql=$2 got
  shift 2
  got=$(q "$@" -c "$sql" 2>&1) || fail "$sql: $got"
  got=$(paste -sd'|' <<<"$got")
  [[ $got == "$want" ]] || fail "$sql: expected '$want', got '$got'"
  checks=$((checks + 1))
}
# expect_match PATTERN SQL: the output of SQL (e.g. an EXPLAIN) matches the extended regex.
expect_match() {
  local out
  out=$(q -c "$2" 2>&1) || fail "$2: $out"
  grep -Eq "$1" <<<"$out" || fail "$2: output does not match '$1': $out"
  checks=$((checks + 1))
}
# expect_error SQLSTATE SQL [MESSAGE-PATTERN] [psql options]: SQL fails with that SQLSTATE.
expect_error() {
  local state=$1 sql=$2 pattern=${3:-} out
  shift 3 || shift $#
  if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose "$@" -c "$sql" 2>&1); then
    fail "$sql: succeeded, expected $state"
  fi
  grep -q "ERROR:  $state:" <<<"$out" || fail "$sql: expected $state, got: $out"
  [[ -z $pattern ]] || grep -Eq "$pattern" <<<"$out" || fail "$sql: message does not match '$pattern': $out"
  checks=$((checks + 1))
}

# The same rows twice: cust (distributed) and cust_local (a plain table on the coordinator).
psql -X -q -v ON_ERROR_STOP=1 -v name=cust_local -v rows="$rows" -f bench/make_table.sql >/dev/null
q -c "CREATE TABLE cust (LIKE cust_local INCLUDING ALL)" \
  -c "SELECT create_distributed_table('cust', 'customer_id', shard_count => 32)" \
  -c "INSERT INTO cust SELECT * FROM cust_local" >/dev/null
expect "$rows" "SELECT count(*) FROM cust"
expect "32" "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'cust'::regclass"
expect "t|t" "SELECT custseg_citus_table('cust'), NOT custseg_citus_table('cust_local')"

# ---- training pushed down ----
opts='{"k": 3, "exclude": ["customer_id"]}'
expect_match "worker_partial_agg" \
  "EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_fit(to_jsonb(c), '$opts') FROM cust c"
expect_match "coord_combine_agg" \
  "EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_fit(to_jsonb(c), '$opts') FROM cust c"
# Only partial states come back: one row per shard, no customer row.
expect_match "Task Count: 32" "EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_fit(to_jsonb(c), '$opts') FROM cust c"
expect "$rows|3" "SELECT (j #>> '{training,rows_seen}'), jsonb_array_length(j #> '{kmeans,centroids}')
                  FROM (SELECT custseg_model_json(custseg_fit(to_jsonb(c), '$opts')) j FROM cust c) x"
# Training on the distributed table gives the statistics of training on the local copy.
expect "t" "WITH d AS (SELECT custseg_model_json(custseg_fit(to_jsonb(c), '$opts')) j FROM cust c),
                 l AS (SELECT custseg_model_json(custseg_fit(to_jsonb(c), '$opts')) j FROM cust_local c)
            SELECT bool_and(abs((d.j #>> ARRAY['scaler','mean',i::text])::float8 - (l.j #>> ARRAY['scaler','mean',i::text])::float8) < 1e-9)
            FROM d, l, generate_series(0, jsonb_array_length(d.j #> '{scaler,mean}') - 1) i"
# The record form cannot run in Citus's workers (it checks declared argument types).
expect_error XX000 "SELECT custseg_fit(c, '$opts') FROM cust c" "worker_partial_agg_sfunc" ""
# custseg_train, custseg_evaluate_k and k => NULL push their aggregate down (the commands Citus
# sends to the workers are logged), and run to the end.
out=$(q -c "SET citus.log_remote_commands = on" -c "SET client_min_messages = log" \
  -c "SELECT version FROM custseg_train('m', 'cust', k => 3)" 2>&1) || fail "custseg_train: $out"
grep -q "worker_partial_agg" <<<"$out" || fail "custseg_train sent no partial aggregate to the workers: $out"
checks=$((checks + 1))
expect "1|$rows|3" "SELECT version, metrics ->> 'rows_seen', jsonb_array_length(custseg_model_json(model) #> '{kmeans,centroids}')
                    FROM custseg_models WHERE name = 'm'"
expect "3" "SELECT count(*) FROM custseg_segments WHERE model = 'm' AND label IS NOT NULL"
# The distributed model is the model of the record form over the local copy: every number within
# 1e-9 (relative; the shards' sums are added in another order), the same structure, and every row
# the same segment. Also with fewer sample rows than rows: the sample does not depend on how the
# rows are split among shards.
q -c "CREATE FUNCTION json_close(a jsonb, b jsonb) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS \$\$
      BEGIN
        RETURN CASE jsonb_typeof(a)
          WHEN 'object' THEN jsonb_typeof(b) = 'object'
               AND (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(a) k) = (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(b) k)
               AND (SELECT coalesce(bool_and(json_close(a -> k, b -> k)), true) FROM jsonb_object_keys(a) k)
          WHEN 'array' THEN jsonb_typeof(b) = 'array' AND jsonb_array_length(a) = jsonb_array_length(b)
               AND (SELECT coalesce(bool_and(json_close(a -> i, b -> i)), true) FROM generate_series(0, jsonb_array_length(a) - 1) i)
          WHEN 'number' THEN jsonb_typeof(b) = 'number'
               AND abs(a::text::float8 - b::text::float8) <= 1e-9 * greatest(1, abs(a::text::float8))
          ELSE a = b END;
      END \$\$" >/dev/null
same_model() {  # same_model VERSION-SELECTOR: the distributed model of that row against the local record form
  expect "t|0" "WITH d AS (SELECT m.model, custseg_model_json(m.model) AS j, m.options FROM custseg_models m WHERE $1),
                     l AS (SELECT custseg_fit(c, (SELECT options - 'stage' FROM d)) AS model FROM cust_local c)
                SELECT json_close(d.j, custseg_model_json(l.model)),
                       (SELECT count(*) FROM cust_local c WHERE custseg_predict(d.model, c) <> custseg_predict(l.model, c))
                FROM d, l"
}
same_model "m.name = 'm' AND m.version = 1"
expect "1" "SELECT version FROM custseg_train('small_sample', 'cust', k => 3, options => '{\"sample_size\": 5000}', activate => false)"
expect "t" "SELECT (metrics ->> 'rows_clustered')::int < $rows FROM custseg_models WHERE name = 'small_sample'"
same_model "m.name = 'small_sample'"
# Transforms apply in the workers' column-array transitions as in the record form's reader.
expect "1" "SELECT version FROM custseg_train('tf', 'cust', k => 3, activate => false,
              options => '{\"transform\": {\"annual_income\": \"log1p\", \"age\": {\"clip\": [20, 60]}}}')"
same_model "m.name = 'tf'"
# The sample threshold (each shard ships its share of the sample) is exact or retried: on a table
# of 20,000 rows but only 280 distinct ones, the threshold keeps too few (CS001 from the fit itself)
# and custseg_train runs again without it, giving the local model.
q -c "CREATE TABLE dup_local AS SELECT g AS id, (g % 40)::float8 AS x, (g % 7)::text AS c FROM generate_series(1, 20000) g" \
  -c "ALTER TABLE dup_local ADD PRIMARY KEY (id)" -c "CREATE TABLE dup (LIKE dup_local INCLUDING ALL)" \
  -c "SELECT create_distributed_table('dup', 'id', shard_count => 32)" -c "INSERT INTO dup SELECT * FROM dup_local" >/dev/null
dup_args=$(q -c "SELECT custseg_fit_columns_args('dup', '{\"exclude\": [\"id\"]}')")
expect_error CS001 "SELECT custseg_fit_columns($dup_args, '{\"exclude\": [\"id\"], \"sample_size\": 5000, \"_sample_threshold\": \"5000000000000000000\"}') FROM dup t" \
  "the sample threshold kept fewer rows"
expect "1" "SELECT version FROM custseg_train('dup_m', 'dup', k => 3, options => '{\"sample_size\": 5000, \"seed\": 3}')"
expect "t|0" "WITH d AS (SELECT model FROM custseg_models WHERE name = 'dup_m'),
                   l AS (SELECT custseg_fit(dl, '{\"k\": 3, \"sample_size\": 5000, \"seed\": 3, \"exclude\": [\"id\"]}') AS model FROM dup_local dl)
              SELECT json_close(custseg_model_json(d.model) - 'options', custseg_model_json(l.model) - 'options'),
                     (SELECT count(*) FROM dup_local dl WHERE custseg_predict(d.model, dl) <> custseg_predict(l.model, dl))
              FROM d, l"
args=$(q -c "SELECT custseg_fit_columns_args('cust', '{\"exclude\": [\"customer_id\"]}')")
expect_match "worker_partial_agg" "EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_fit_columns($args, '$opts') FROM cust t"
expect "t" "SELECT json_close((SELECT custseg_model_json(custseg_fit_columns($args, '$opts')) FROM cust t),
                              (SELECT custseg_model_json(custseg_fit(l, '$opts')) FROM cust_local l))"
out=$(q -c "SET citus.log_remote_commands = on" -c "SET client_min_messages = log" \
  -c "SELECT count(*) FROM custseg_evaluate_k('cust', 2, 5)" 2>&1) || fail "custseg_evaluate_k: $out"
grep -q "worker_partial_agg" <<<"$out" || fail "custseg_evaluate_k sent no partial aggregate: $out"
grep -qx "4" <<<"$out" || fail "custseg_evaluate_k: expected 4 rows: $out"
checks=$((checks + 1))
expect "3" "SELECT (SELECT k FROM custseg_evaluate_k('cust') WHERE chosen)"
expect "1|3" "SELECT version, (options ->> 'k') FROM custseg_train('auto', 'cust', k => NULL, activate => false)"

# ---- scoring in the workers: by name, by table and by value, as on one node ----
for form in "custseg_predict(c, 'm')" "custseg_predict(to_jsonb(c), 'm')" "custseg_predict(c)" \
  "(custseg_score(c, 'm')).segment"; do
  expect_match "Query: SELECT .*custseg_(predict|score)" "EXPLAIN (VERBOSE, COSTS OFF) SELECT $form FROM cust c"
done
mv="(SELECT model FROM custseg_models WHERE name = 'm' AND active)"
q -c "CREATE TABLE scored AS SELECT customer_id,
        custseg_predict(c, 'm') AS by_name, custseg_predict(to_jsonb(c), 'm') AS by_jsonb,
        custseg_predict(c) AS by_table, (custseg_score(c, 'm')).segment AS score,
        (custseg_score(c, 'm')).label AS label,
        custseg_predict($mv, c) AS value_record, custseg_predict($mv, to_jsonb(c)) AS value_jsonb,
        (custseg_score($mv, c)).segment AS score_value, (custseg_score($mv, to_jsonb(c))).segment AS score_value_jsonb
      FROM cust c" >/dev/null
expect "$rows|0" "SELECT count(*), count(*) FILTER (WHERE s.segment IS DISTINCT FROM x.by_name
                    OR s.segment IS DISTINCT FROM x.by_jsonb OR s.segment IS DISTINCT FROM x.by_table
                    OR s.segment IS DISTINCT FROM x.score OR s.segment IS DISTINCT FROM x.value_record
                    OR s.segment IS DISTINCT FROM x.value_jsonb OR s.segment IS DISTINCT FROM x.score_value
                    OR s.segment IS DISTINCT FROM x.score_value_jsonb
                    OR x.label IS DISTINCT FROM g.label)
                  FROM scored x
                  JOIN (SELECT customer_id, custseg_predict(l, 'm') AS segment FROM cust_local l) s USING (customer_id)
                  LEFT JOIN custseg_segments g ON g.model = 'm' AND g.segment = s.segment"
expect "3" "SELECT count(DISTINCT segment) FROM (SELECT custseg_predict(c, 'm') AS segment FROM cust c) x" -c "$small"

# ---- a retrain or an activation is seen by the workers from the next statement on ----
expect "2" "SELECT version FROM custseg_train('m', 'cust', k => 4)"
expect "4|4" "SELECT count(DISTINCT custseg_predict(c, 'm')), count(DISTINCT custseg_predict(c)) FROM cust c"
expect "1" "SELECT version FROM custseg_activate('m', 1)" -c "$small"
expect "3|3" "SELECT count(DISTINCT custseg_predict(c, 'm')), count(DISTINCT (custseg_score(c, 'm')).segment) FROM cust c"
# The same session, whose connections to the workers are kept: no stale model there either.
out=$(q -c "SELECT version FROM custseg_activate('m', 2)" -c "SELECT count(DISTINCT custseg_predict(c, 'm')) FROM cust c" \
  -c "SELECT version FROM custseg_activate('m', 1)" -c "SELECT count(DISTINCT custseg_predict(c, 'm')) FROM cust c" 2>&1)
[[ $(paste -sd'|' <<<"$out") == "2|4|1|3" ]] || fail "activations in one session: expected 2|4|1|3, got $out"
checks=$((checks + 1))

# ---- row security on the registry holds in the workers ----
q -c "CREATE ROLE alice LOGIN" -c "CREATE ROLE bob LOGIN" -c "GRANT CREATE ON SCHEMA public TO alice, bob" -c "GRANT SELECT ON cust_local TO alice, bob" >/dev/null
q -U alice -c "CREATE TABLE alice_cust AS SELECT * FROM cust_local" \
  -c "SELECT create_distributed_table('alice_cust', 'customer_id', shard_count => 4)" \
  -c "SELECT truncate_local_data_after_distributing_table('alice_cust')" \
  -c "SELECT version FROM custseg_train('alice_model', 'alice_cust', k => 3, exclude => '{customer_id}')" >/dev/null
q -U bob -c "CREATE TABLE bob_cust AS SELECT * FROM cust_local" \
  -c "SELECT create_distributed_table('bob_cust', 'customer_id', shard_count => 4)" \
  -c "SELECT truncate_local_data_after_distributing_table('bob_cust')" >/dev/null
expect "3" "SELECT count(DISTINCT custseg_predict(b, 'alice_model')) FROM alice_cust b" -U alice
expect_error 42704 "SELECT count(DISTINCT custseg_predict(b, 'alice_model')) FROM bob_cust b" \
  'no active custseg model named "alice_model"' -U bob
q -U alice -c "GRANT SELECT ON alice_cust TO bob" >/dev/null
expect "3" "SELECT count(DISTINCT custseg_predict(b, 'alice_model')) FROM bob_cust b" -U bob
expect_error 42501 "SELECT custseg_activate('alice_model', 1)" "" -U bob

# ---- every other function on the distributed table ----
expect "3" "SELECT count(*) FROM custseg_refresh_segments('m')" -c "$small"
expect "$rows" "SELECT sum(size) FROM custseg_segments WHERE model = 'm'"
expect "t" "SELECT count(*) > 0 FROM custseg_profile('m')"
expect "$rows" "SELECT max(n) FROM custseg_profile('m') WHERE segment IS NULL"
expect "9|9" "SELECT count(*), count(*) FILTER (WHERE d.count = l.count AND d.distinct_count = l.distinct_count
                 AND d.median IS NOT DISTINCT FROM l.median AND d.outliers IS NOT DISTINCT FROM l.outliers AND d.top IS NOT DISTINCT FROM l.top
                 AND abs(coalesce(d.mean - l.mean, 0)) < 1e-9)
               FROM custseg_describe('cust') d JOIN custseg_describe('cust_local') l USING (column_name)"
expect "21|21" "SELECT count(*), count(*) FILTER (WHERE abs(d.r - l.r) < 1e-9 AND d.n = l.n)
                 FROM custseg_correlations('cust') d JOIN custseg_correlations('cust_local') l USING (column_a, column_b)"
expect "2" "SELECT count(*) FROM custseg_drift('m')"
expect "cust_segments|cust_segments_offers" "SELECT * FROM custseg_create_views('cust', 'm')"
q -c "INSERT INTO custseg_offers (model, segment, title) SELECT 'm', segment, 'offer ' || segment FROM custseg_segments WHERE model = 'm'" >/dev/null
expect "$rows|3" "SELECT count(*), count(DISTINCT segment) FROM cust_segments" -c "$small"
expect "$rows" "SELECT count(*) FROM cust_segments_offers"
expect "0" "SELECT count(*) FROM cust_segments v JOIN scored x USING (customer_id) WHERE v.segment <> x.by_name OR v.label IS DISTINCT FROM x.label"
expect_match "Query: SELECT .*custseg_predict" "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM cust_segments"

citus_cluster_check_logs
echo "test_citus: $checks checks passed ($rows rows in 32 shards on 2 workers)"
