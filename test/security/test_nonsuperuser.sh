#!/usr/bin/env bash
# custseg for ordinary roles: after a superuser's CREATE EXTENSION, and nothing else from one, two
# roles without superuser train (custseg_fit, custseg_train), score, label segments, add offers and
# create views on tables they own; neither can read or change the other's models, segments or offers
# until the owner shares them (SELECT on the source table: read; membership in the owner role: read
# and change). Also checks the catalog (every function SECURITY INVOKER, every SQL and PL/pgSQL
# function with search_path pinned pg_catalog first, row security on every table, no TRUNCATE) and
# that a role whose search_path puts its own shadowing operators and functions before pg_catalog
# never gets them run by custseg. Needs the extension installed (make install); ~15 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pgcluster.sh
pgcluster_start
trap pgcluster_stop EXIT
data=$(cd .. && pwd)/shared/data/mall_customers.csv
export PGDATABASE=sec
checks=0
fail() { echo "test_nonsuperuser: FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); }
# as ROLE SQL...: runs SQL as ROLE, stops on the first error, prints unaligned rows.
as() { local role=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -At -U "$role" "$@"; }
# expect ROLE EXPECTED SQL: the single-value result of SQL run as ROLE.
expect() {
  local got
  # NOTICEs (custseg_train names its features) are not part of the result.
  got=$(PGOPTIONS="-c client_min_messages=warning" as "$1" -c "$3" 2>&1) || fail "$1: $3: $got"
  got=$(paste -sd'|' <<<"$got")  # rows joined by |, like columns
  [[ $got == "$2" ]] || fail "$1: $3: expected '$2', got '$got'"
  ok
}
# expect_error ROLE SQLSTATE SQL [MESSAGE-PATTERN]: SQL run as ROLE fails with that SQLSTATE.
expect_error() {
  local out
  if out=$(psql -X -q -At -U "$1" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$3" 2>&1); then
    fail "$1: $3: succeeded, expected $2 (output: $out)"
  fi
  grep -q "ERROR:  $2:" <<<"$out" || fail "$1: $3: expected $2, got: $out"
  [[ -z ${4:-} ]] || grep -Eq "$4" <<<"$out" || fail "$1: $3: message does not match '$4': $out"
  ok
}

# The superuser's part: the database, the extension, two ordinary roles and a schema each (what a
# DBA provisions for any user; custseg itself needs nothing more).
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE DATABASE sec;
\c sec
CREATE EXTENSION custseg;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN;
CREATE SCHEMA AUTHORIZATION alice;
CREATE SCHEMA AUTHORIZATION bob;
SQL
expect postgres "0" "SELECT count(*) FROM pg_roles WHERE rolname IN ('alice', 'bob', 'carol') AND (rolsuper OR rolbypassrls OR rolcreaterole)"

# ---- Catalog: SECURITY INVOKER, pinned search_path, row security, grants ----
expect postgres "" "
  SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg'
  WHERE p.prosecdef"
expect postgres "" "
  SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg'
  WHERE l.lanname NOT IN ('c', 'internal') AND p.proname <> 'custseg_rescore'
    AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=pg_catalog,%' OR c = 'search_path=pg_catalog')"
# The one exception: the procedure custseg_rescore commits between batches, which PostgreSQL refuses
# to a procedure with SET clauses; its body only calls the pinned custseg_rescore_batch, qualified.
expect postgres "custseg_rescore|t" "
  SELECT p.proname, p.prosrc LIKE '%public.custseg_rescore_batch(%' FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg'
  WHERE p.prokind = 'p'"
expect postgres "custseg_kept_segments true 4|custseg_model_names true 4|custseg_models true 2|custseg_offers true 2|custseg_segment_changes true 4|custseg_segment_labels true 2|custseg_segments true 2" "
  SELECT c.relname || ' ' || c.relrowsecurity || ' ' || (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
  FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg'
  WHERE c.relkind = 'r' ORDER BY 1"
expect postgres "f" "SELECT has_table_privilege('carol', 'custseg_models', 'TRUNCATE')
                     OR has_table_privilege('carol', 'custseg_segments', 'TRUNCATE')
                     OR has_table_privilege('carol', 'custseg_offers', 'TRUNCATE')"
expect postgres "t" "SELECT array_to_string(reloptions, ',') LIKE '%security_invoker=true%' FROM pg_class WHERE relname = 'custseg_segment_offers'"

# ---- Each role trains, scores, labels, adds offers and creates views on its own table ----
for who in alice bob; do
  as "$who" <<SQL
CREATE TABLE mall (customer_id text PRIMARY KEY, gender text, age int, annual_income_thousands int, spending_score int);
\copy mall FROM '$data' WITH (FORMAT csv, HEADER true)
CREATE TABLE ${who}_fit AS SELECT custseg_fit(c, '{"exclude": ["customer_id"], "seed": 42}') AS model FROM mall c;
SELECT version FROM custseg_train('${who}_mall', 'mall', k => 3, options => '{"seed": 42}') \g /dev/null
SELECT version FROM custseg_train('${who}_mall', 'mall', k => 3, options => '{"seed": 7}') \g /dev/null
SELECT version FROM custseg_activate('${who}_mall', 1) \g /dev/null
UPDATE custseg_segments SET label = '${who} VIP' WHERE model = '${who}_mall' AND segment = 0;
INSERT INTO custseg_offers (model, segment, title) SELECT '${who}_mall', segment, '${who} offer ' || segment
FROM custseg_segments WHERE model = '${who}_mall';
SELECT custseg_create_views('mall', '${who}_mall') \g /dev/null
SELECT count(*) FROM custseg_refresh_segments('${who}_mall', keep_labels => true) \g /dev/null
SELECT count(*) FROM custseg_evaluate_k('mall', 2, 3, options => '{"seed": 1, "n_init": 2}') \g /dev/null
SELECT count(*) FROM custseg_describe('mall') \g /dev/null
SELECT count(*) FROM custseg_correlations('mall') \g /dev/null
SELECT count(*) FROM custseg_profile('${who}_mall') \g /dev/null
SQL
  expect "$who" "$who" "SELECT DISTINCT owner FROM custseg_models WHERE name = '${who}_mall'"
  expect "$who" "200|200|200" "SELECT count(custseg_predict(c, '${who}_mall')), count(custseg_predict(c)),
                                      count(custseg_predict(m.model, c)) FROM mall c, ${who}_fit m"
  expect "$who" "t" "SELECT bool_and(custseg_predict(c) = custseg_predict(c, '${who}_mall')
                                     AND (custseg_score(c, '${who}_mall')).segment = custseg_predict(c))
                     FROM mall c"
  expect "$who" "200|${who} VIP" "SELECT count(*), max(label) FILTER (WHERE segment = 0) FROM mall_segments"
  expect "$who" "200" "SELECT count(*) FROM mall_segments_offers"
  expect "$who" "3" "SELECT count(*) FROM custseg_segment_offers"
  expect "$who" "2" "SELECT count(*) FROM custseg_drift('${who}_mall')"
  expect "$who" "1" "SELECT (custseg_predict(to_jsonb(c), '${who}_mall') IS NOT NULL)::int FROM mall c LIMIT 1"
done

# ---- Without a grant, bob sees nothing of alice's and changes nothing ----
expect bob "0|0|0|0" "SELECT (SELECT count(*) FROM custseg_models WHERE name = 'alice_mall'),
                             (SELECT count(*) FROM custseg_segments WHERE model = 'alice_mall'),
                             (SELECT count(*) FROM custseg_offers WHERE model = 'alice_mall'),
                             (SELECT count(*) FROM custseg_segment_offers WHERE model = 'alice_mall')"
expect bob "bob_mall" "SELECT string_agg(DISTINCT name, ',') FROM custseg_models"
expect_error bob 42704 "SELECT custseg_predict(c, 'alice_mall') FROM mall c LIMIT 1" 'no active custseg model named "alice_mall"'
expect_error bob 42704 "SELECT custseg_score(c, 'alice_mall') FROM mall c LIMIT 1"
expect_error bob 42704 "SELECT custseg_predict('{\"age\": 30}'::jsonb, 'alice_mall')"
expect_error bob 42704 "SELECT custseg_activate('alice_mall', 2)"
expect_error bob 42704 "SELECT * FROM custseg_profile('alice_mall')"
expect_error bob 42704 "SELECT custseg_create_views('mall', 'alice_mall', 'stolen')"
expect_error bob 42501 "SELECT custseg_train('alice_mall', 'mall')" 'permission denied for custseg model "alice_mall"'
expect_error bob 42501 "INSERT INTO custseg_offers (model, segment, title) VALUES ('alice_mall', 0, 'hijack')" 'row-level security'
SQL_TAMPER="UPDATE custseg_models SET active = false WHERE name = 'alice_mall';
            DELETE FROM custseg_models WHERE name = 'alice_mall';
            UPDATE custseg_segments SET label = 'pwned' WHERE model = 'alice_mall';
            DELETE FROM custseg_segments WHERE model = 'alice_mall';
            UPDATE custseg_offers SET title = 'pwned' WHERE model = 'alice_mall';
            DELETE FROM custseg_offers WHERE model = 'alice_mall';"
as bob -c "$SQL_TAMPER" >/dev/null
expect_error bob 42501 "INSERT INTO custseg_models (name, version, source, model, owner) SELECT 'forged', 1, 'bob.mall', model, 'alice' FROM bob_fit" 'row-level security'
expect_error bob 42501 "UPDATE custseg_models SET owner = 'alice' WHERE name = 'bob_mall'" 'row-level security'
# A forged version of alice's name, owned by bob: the name is claimed by alice, so the claim refuses
# it, and bob gains no right over alice's segments and offers.
expect_error bob 42501 "INSERT INTO custseg_models (name, version, source, model, owner) SELECT 'alice_mall', 99, 'bob.mall', model, 'bob' FROM bob_fit" 'row-level security'
expect bob "0" "WITH u AS (UPDATE custseg_model_names SET owner = 'bob' WHERE name = 'alice_mall' RETURNING 1) SELECT count(*) FROM u"
expect bob "0" "WITH d AS (DELETE FROM custseg_model_names WHERE name = 'alice_mall' RETURNING 1) SELECT count(*) FROM d"
expect bob "alice" "SELECT owner FROM custseg_model_names WHERE name = 'alice_mall'"
expect_error bob 42501 "SELECT * FROM alice.mall_segments" 'permission denied for schema alice'
expect_error bob 42501 "TRUNCATE custseg_models" 'permission denied'
expect alice "2|1|3|3|alice VIP" "SELECT (SELECT count(*) FROM custseg_models WHERE name = 'alice_mall'),
                                         (SELECT version FROM custseg_models WHERE name = 'alice_mall' AND active),
                                         (SELECT count(*) FROM custseg_segments WHERE model = 'alice_mall'),
                                         (SELECT count(*) FROM custseg_offers WHERE model = 'alice_mall' AND title LIKE 'alice offer%'),
                                         (SELECT label FROM custseg_segments WHERE model = 'alice_mall' AND segment = 0)"

# ---- Read sharing: a role that may read the source table sees the model, and only reads ----
as alice -c "GRANT USAGE ON SCHEMA alice TO carol; GRANT SELECT ON mall, mall_segments, mall_segments_offers TO carol"
expect carol "2|3|3" "SELECT (SELECT count(*) FROM custseg_models WHERE name = 'alice_mall'),
                             (SELECT count(*) FROM custseg_segments WHERE model = 'alice_mall'),
                             (SELECT count(*) FROM custseg_offers WHERE model = 'alice_mall')"
expect carol "200|200|200" "SELECT count(custseg_predict(c, 'alice_mall')), count(custseg_predict(c)), count(*) FILTER (WHERE label IS NOT NULL)
                            FROM alice.mall c JOIN alice.mall_segments s USING (customer_id)"
expect carol "200" "SELECT count(*) FROM alice.mall_segments_offers"
expect carol "0" "SELECT count(*) FROM custseg_models WHERE name = 'bob_mall'"
expect_error carol 42501 "SELECT custseg_train('alice_mall', 'alice.mall')" 'permission denied for custseg model "alice_mall"'
expect_error carol 42501 "SELECT custseg_activate('alice_mall', 2)" 'permission denied for custseg model "alice_mall"'
expect_error carol 42501 "INSERT INTO custseg_offers (model, segment, title) VALUES ('alice_mall', 0, 'x')" 'row-level security'
expect carol "" "UPDATE custseg_segments SET label = 'pwned' WHERE model = 'alice_mall' RETURNING label"
expect alice "alice VIP" "SELECT label FROM custseg_segments WHERE model = 'alice_mall' AND segment = 0"

# ---- Full sharing: membership in the owner role. A team role (PostgreSQL 15 lets only an admin
# grant membership); alice hands her model name to it, and every member of the team may change it ----
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE team NOLOGIN; GRANT team TO alice, bob"
expect_error alice 42501 "UPDATE custseg_models SET owner = 'carol' WHERE name = 'alice_mall'" 'row-level security'
as alice -c "UPDATE custseg_models SET owner = 'team' WHERE name = 'alice_mall'; GRANT USAGE ON SCHEMA alice TO team; GRANT SELECT ON mall TO team"
expect bob "2|3|3" "SELECT (SELECT count(*) FROM custseg_models WHERE name = 'alice_mall'),
                           (SELECT count(*) FROM custseg_segments WHERE model = 'alice_mall'),
                           (SELECT count(*) FROM custseg_offers WHERE model = 'alice_mall')"
expect bob "200" "SELECT count(custseg_predict(c, 'alice_mall')) FROM alice.mall c"
expect bob "3|team" "SELECT version, owner FROM custseg_train('alice_mall', 'alice.mall', k => 3, options => '{\"seed\": 42}')"
expect bob "2" "SELECT version FROM custseg_activate('alice_mall', 2)"
expect bob "1" "WITH i AS (INSERT INTO custseg_offers (model, segment, title) VALUES ('alice_mall', 0, 'from bob') RETURNING 1) SELECT count(*) FROM i"
expect alice "3|2|from bob" "SELECT (SELECT count(*) FROM custseg_models WHERE name = 'alice_mall'),
                                    (SELECT version FROM custseg_models WHERE name = 'alice_mall' AND active),
                                    (SELECT title FROM custseg_offers WHERE model = 'alice_mall' AND title = 'from bob')"
expect alice "0" "SELECT count(*) FROM custseg_models WHERE name = 'bob_mall'"
as postgres -c "REVOKE team FROM bob"
expect bob "0" "SELECT count(*) FROM custseg_models WHERE name = 'alice_mall'"

# ---- A hostile search_path: bob's schema shadows operators and functions before pg_catalog ----
as bob <<'SQL'
CREATE TABLE hijack_log (what text, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION hijacked(what text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO bob.hijack_log (what) VALUES (what); RETURN true; END $$;
CREATE FUNCTION eq_text(a text, b text) RETURNS boolean LANGUAGE sql AS $$ SELECT bob.hijacked('text = text') AND a OPERATOR(pg_catalog.=) b $$;
CREATE FUNCTION eq_int(a integer, b integer) RETURNS boolean LANGUAGE sql AS $$ SELECT bob.hijacked('int = int') AND a OPERATOR(pg_catalog.=) b $$;
CREATE FUNCTION eq_name(a name, b name) RETURNS boolean LANGUAGE sql AS $$ SELECT bob.hijacked('name = name') AND a OPERATOR(pg_catalog.=) b $$;
CREATE FUNCTION eq_oid(a oid, b oid) RETURNS boolean LANGUAGE sql AS $$ SELECT bob.hijacked('oid = oid') AND a OPERATOR(pg_catalog.=) b $$;
CREATE FUNCTION ne_text(a text, b text) RETURNS boolean LANGUAGE sql AS $$ SELECT bob.hijacked('text <> text') AND a OPERATOR(pg_catalog.<>) b $$;
CREATE FUNCTION cat_text(a text, b text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('text || text') THEN a OPERATOR(pg_catalog.||) b END $$;
CREATE FUNCTION cat_jsonb(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('jsonb || jsonb') THEN a OPERATOR(pg_catalog.||) b END $$;
CREATE FUNCTION get_jsonb(a jsonb, b text) RETURNS jsonb LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('jsonb -> text') THEN a OPERATOR(pg_catalog.->) b END $$;
CREATE FUNCTION get_text(a jsonb, b text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('jsonb ->> text') THEN a OPERATOR(pg_catalog.->>) b END $$;
CREATE OPERATOR = (FUNCTION = eq_text, LEFTARG = text, RIGHTARG = text);
CREATE OPERATOR = (FUNCTION = eq_int, LEFTARG = integer, RIGHTARG = integer);
CREATE OPERATOR = (FUNCTION = eq_name, LEFTARG = name, RIGHTARG = name);
CREATE OPERATOR = (FUNCTION = eq_oid, LEFTARG = oid, RIGHTARG = oid);
CREATE OPERATOR <> (FUNCTION = ne_text, LEFTARG = text, RIGHTARG = text);
CREATE OPERATOR || (FUNCTION = cat_text, LEFTARG = text, RIGHTARG = text);
CREATE OPERATOR || (FUNCTION = cat_jsonb, LEFTARG = jsonb, RIGHTARG = jsonb);
CREATE OPERATOR -> (FUNCTION = get_jsonb, LEFTARG = jsonb, RIGHTARG = text);
CREATE OPERATOR ->> (FUNCTION = get_text, LEFTARG = jsonb, RIGHTARG = text);
CREATE FUNCTION quote_ident(text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('quote_ident') THEN pg_catalog.quote_ident($1) END $$;
CREATE FUNCTION jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('jsonb_typeof') THEN pg_catalog.jsonb_typeof($1) END $$;
CREATE FUNCTION pg_has_role(oid, text) RETURNS boolean LANGUAGE sql AS $$ SELECT bob.hijacked('pg_has_role') $$;
CREATE FUNCTION to_regrole(text) RETURNS regrole LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('to_regrole') THEN pg_catalog.to_regrole($1) END $$;
CREATE FUNCTION to_regclass(text) RETURNS regclass LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('to_regclass') THEN pg_catalog.to_regclass($1) END $$;
CREATE FUNCTION now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('now') THEN pg_catalog.now() END $$;
CREATE FUNCTION pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('pg_advisory_xact_lock') THEN pg_catalog.pg_advisory_xact_lock($1) END $$;
CREATE FUNCTION hashtextextended(text, bigint) RETURNS bigint LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('hashtextextended') THEN pg_catalog.hashtextextended($1, $2) END $$;
CREATE FUNCTION format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('format') THEN pg_catalog.format($1, VARIADIC $2) END $$;
CREATE FUNCTION clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT CASE WHEN bob.hijacked('clock_timestamp') THEN pg_catalog.clock_timestamp() END $$;
CREATE TABLE custseg_models (name text, version int, active boolean, source text, model text);
CREATE TABLE custseg_segments (model text, segment int, label text);
CREATE TABLE custseg_kept_segments (source text, column_name text, model text);
CREATE TABLE custseg_segment_changes (model text, source text, customer_key text);
CREATE TABLE orders AS SELECT customer_id, timestamptz '2024-06-01' - age * interval '1 day' AS at,
                              spending_score::numeric AS amount, 1 AS units FROM bob.mall;
SQL
# Every entry point, under search_path = bob, pg_catalog, public (bob's objects win over pg_catalog's).
as bob <<'SQL'
SET search_path = bob, pg_catalog, public;
SELECT count(*) FROM public.custseg_train('bob_mall', 'bob.mall', k => 3, options => '{"seed": 3}') \g /dev/null
SELECT count(*) FROM public.custseg_train('bob_auto', 'bob.mall', k => NULL, options => '{"seed": 3, "n_init": 2}', activate => false) \g /dev/null
SELECT count(*) FROM public.custseg_activate('bob_mall', 1) \g /dev/null
SELECT count(*) FROM public.custseg_refresh_segments('bob_mall') \g /dev/null
SELECT count(public.custseg_predict(c, 'bob_mall')) FROM bob.mall c \g /dev/null
SELECT count(public.custseg_predict(c)) FROM bob.mall c \g /dev/null
SELECT count((public.custseg_score(c, 'bob_mall')).segment) FROM bob.mall c \g /dev/null
SELECT count(public.custseg_predict(to_jsonb(c), 'bob_mall')) FROM bob.mall c \g /dev/null
SELECT count(public.custseg_predict(m.model, c)) FROM bob.mall c, bob.bob_fit m \g /dev/null
SELECT public.custseg_fit(c, '{"exclude": ["customer_id"]}') IS NULL FROM bob.mall c \g /dev/null
SELECT count(*) FROM public.custseg_create_views('bob.mall', 'bob_mall', 'mall_v') \g /dev/null
SELECT count(*) FROM bob.mall_v \g /dev/null
SELECT count(*) FROM bob.mall_v_offers \g /dev/null
SELECT count(*) FROM public.custseg_segment_offers \g /dev/null
SELECT count(*) FROM public.custseg_evaluate_k('bob.mall', 2, 3, options => '{"n_init": 2}') \g /dev/null
SELECT count(*) FROM public.custseg_describe('bob.mall') \g /dev/null
SELECT count(*) FROM public.custseg_correlations('bob.mall') \g /dev/null
SELECT count(*) FROM public.custseg_profile('bob_mall') \g /dev/null
SELECT count(*) FROM public.custseg_drift('bob_mall') \g /dev/null
SELECT count(*) FROM public.custseg_models \g /dev/null
SELECT count(*) FROM public.custseg_rfm('bob.orders', 'customer_id', 'at', 'amount', '2024-06-02', 30, 'units') \g /dev/null
SELECT count(*) FROM public.custseg_rfm('bob.orders', 'customer_id', 'at', 'amount') \g /dev/null
SELECT public.custseg_keep_segment('bob.mall', 'bob_mall') \g /dev/null
UPDATE bob.mall SET spending_score = 101 - spending_score;
INSERT INTO bob.mall VALUES ('9999', 'Female', 30, 90, 90);
SELECT count(*) FROM public.custseg_train('bob_mall', 'bob.mall', k => 3, options => '{"seed": 5}') \g /dev/null
CALL public.custseg_rescore('bob.mall', batch_size => 64);
SELECT count(*) FROM public.custseg_transitions('bob_mall', 1, 3) \g /dev/null
SELECT count(*) FROM public.custseg_segment_changes \g /dev/null
SELECT count(*) FROM public.custseg_kept_segments \g /dev/null
SELECT count(*) FROM public.custseg_create_views('bob.mall', 'bob_mall', 'mall_kept_v') \g /dev/null
SELECT public.custseg_unkeep_segment('bob.mall') \g /dev/null
SELECT public.custseg_keep_segment('bob.mall', 'bob_mall') \g /dev/null
SQL
expect bob "" "SELECT string_agg(DISTINCT what, ', ') FROM bob.hijack_log"
# Kept segments and their transitions, with row security as for the registry.
expect bob "0" "SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'bob_mall')) FROM bob.mall c"
expect bob "t" "SELECT count(*) > 0 FROM public.custseg_segment_changes WHERE model = 'bob_mall' AND source = 'bob.mall'"
expect carol "0" "SELECT count(*) FROM public.custseg_segment_changes"
expect carol "0" "SELECT count(*) FROM public.custseg_kept_segments"
expect bob "t" "SELECT count(*) > 0 FROM public.custseg_segment_labels WHERE model = 'bob_mall'"
expect carol "0|t" "SELECT count(*) FILTER (WHERE model = 'bob_mall'), count(*) FILTER (WHERE model = 'alice_mall') > 0
                    FROM public.custseg_segment_labels"  # carol may read alice's model, not bob's
expect_error carol 42501 "INSERT INTO public.custseg_segment_labels (model, version, segment, label) VALUES ('bob_mall', 1, 0, 'x')" 'row-level security'
expect alice "0" "SELECT count(*) FROM public.custseg_segment_changes WHERE model = 'bob_mall'"
expect_error carol 42501 "INSERT INTO public.custseg_segment_changes (model, source, customer_key, reason) VALUES ('bob_mall', 'bob.mall', 'x', 'update')" 'row-level security'
expect_error alice 42501 "INSERT INTO public.custseg_segment_changes (model, source, customer_key, reason) VALUES ('alice_mall', 'bob.mall', 'x', 'update')" 'row-level security'
expect_error carol 42501 "INSERT INTO public.custseg_kept_segments (source, column_name, model, key_columns) VALUES ('bob.mall', 'x', 'bob_mall', '{customer_id}')" 'row-level security'
expect carol "0" "WITH d AS (DELETE FROM public.custseg_segment_changes RETURNING 1) SELECT count(*) FROM d"
expect alice "0" "WITH d AS (UPDATE public.custseg_kept_segments SET version = 1 RETURNING 1) SELECT count(*) FROM d"
expect_error carol 42501 "UPDATE bob.mall SET age = age" 'permission denied'
# The shadows do work when bob's own SQL uses them: the check above can see a hijack.
as bob -c "SET search_path = bob, pg_catalog; SELECT 'a' = 'a'" >/dev/null
expect bob "text = text" "SELECT string_agg(DISTINCT what, ', ') FROM bob.hijack_log"

pgcluster_check_log
echo "test_nonsuperuser: ok ($checks checks)"
