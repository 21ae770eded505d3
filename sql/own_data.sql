-- An analyst's own data: column types and names that broke training, the columns that become
-- features (primary key, identifiers, exclude, include), options k and n_components, rows with no
-- feature, views over tables with a segment column, JSON scoring, describe's kinds, equality of models.
SET client_min_messages = notice;

-- ---- A boolean column: trained as 0/1, profiled and described as numeric ----
CREATE TABLE od_bool (id int PRIMARY KEY, spend float8, member boolean, city text);
INSERT INTO od_bool SELECT i, (i % 3) * 40 + (i % 7), i % 3 = 0, (ARRAY['x', 'y'])[1 + i % 2] FROM generate_series(1, 60) i;
SELECT version, metrics -> 'features' AS features FROM custseg_train('od_bool', 'od_bool', options => '{"seed": 1}');
SELECT version FROM custseg_activate('od_bool', 1);
SELECT segment, size, round((profile #>> '{numeric,member,mean}')::numeric, 3) AS member_share
FROM custseg_segments WHERE model = 'od_bool' ORDER BY member_share, segment;
SELECT feature, round(mean::numeric, 3) AS mean, min, max FROM custseg_profile('od_bool')
WHERE segment IS NULL AND feature = 'member';
SELECT column_name, kind, round(mean::numeric, 3) AS mean, min, max, feature FROM custseg_describe('od_bool')
WHERE column_name = 'member';

-- ---- Column names that are the aliases of the generated queries ----
CREATE TABLE od_names (t int, s int, u int, p int, e int, f int, r int, g int, j int, m int, o int, q int, z int,
                       kv int, c int, v int, n int, x int, st int, sh int, cs int, segs int, k int, key int,
                       value int, feature int, kind int, num int, txt text, segment int, "row" int,
                       label text, model text, all_rows int, share int, "T" text);
INSERT INTO od_names
SELECT i % 7, i % 5, i % 3, i % 11, i % 2, i % 4, i % 6, i % 8, i % 9, i % 10, i % 12, i % 13, i % 14,
       i % 15, i % 16, i % 17, i % 18, i % 19, i % 20, i % 21, i % 22, i % 23, i % 24, i % 25, i % 26,
       i % 27, i % 28, i % 29, 'q' || (i % 2), (i % 3) * 100, i % 30, (ARRAY['a', 'b', 'c'])[1 + i % 3],
       'm' || (i % 2), i % 31, i % 32, 'T' || (i % 3)
FROM generate_series(1, 90) i;
SELECT version, jsonb_array_length(metrics -> 'features') AS features
FROM custseg_train('od_names', 'od_names', options => '{"seed": 1}');
-- Retraining matches segments and counts drift with the same generated queries.
SELECT version, metrics ->> 'drift_rows' AS drift_rows
FROM custseg_train('od_names', 'od_names', options => '{"seed": 2}');
SELECT name, version, (options ->> 'k')::int AS k
FROM custseg_train('od_names_auto', 'od_names', k => NULL, options => '{"seed": 1}');
SELECT count(*) AS ks FROM custseg_evaluate_k('od_names', 2, 4, options => '{"seed": 1}');
SELECT count(*) AS profile_rows FROM custseg_profile('od_names');
SELECT count(*) AS described FROM custseg_describe('od_names');
-- 32 numeric columns: 496 pairs, more than one call of 100 arguments holds.
SELECT count(*) AS pairs, count(r) AS with_r FROM custseg_correlations('od_names');
SELECT count(*) AS segments FROM custseg_refresh_segments('od_names');
SELECT count(*) = 90 AS scored FROM od_names t WHERE custseg_predict(t.*, 'od_names') IS NOT NULL;

-- Many columns: no generated call passes more than 100 arguments (60 numeric columns).
SELECT format('CREATE TABLE od_wide_cols (%s)', string_agg(format('c%s int', i), ', ')) FROM generate_series(1, 60) i \gexec
SELECT format('INSERT INTO od_wide_cols SELECT %s FROM generate_series(1, 40) r', string_agg(format('(r * %s) %% 7', i), ', '))
FROM generate_series(1, 60) i \gexec
SELECT jsonb_array_length(metrics -> 'features') AS features
FROM custseg_train('od_wide_cols', 'od_wide_cols', options => '{"seed": 1}');
SELECT count(*) AS described, count(*) FILTER (WHERE kind = 'numeric') AS numeric FROM custseg_describe('od_wide_cols');
SELECT count(*) AS segments, bool_and(jsonb_typeof(profile -> 'numeric' -> 'c60') = 'object') AS profiled
FROM custseg_segments WHERE model = 'od_wide_cols';

-- ---- Views over a table that has "segment" and "label" columns ----
SELECT * FROM custseg_create_views('od_names', 'od_names');
SELECT * FROM custseg_create_views('od_names', 'od_names', segment_column => 'custseg_segment',
                                   label_column => 'custseg_label');
SELECT count(*) AS rows, count(DISTINCT custseg_segment) AS segments, bool_and(custseg_label IS NOT NULL) AS labelled,
       bool_and(custseg_segment = custseg_predict(v.*, 'od_names')) AS same_as_predict
FROM od_names_segments v;
INSERT INTO custseg_offers (model, segment, title) SELECT 'od_names', segment, 'offer for ' || segment
FROM custseg_segments WHERE model = 'od_names';
SELECT count(*) AS offer_rows, count(DISTINCT custseg_segment) AS segments FROM od_names_segments_offers;
SELECT * FROM custseg_create_views('od_names', 'od_names', 'od_names_v2', 'seg', 'seg');

-- ---- Which columns become features ----
-- A copy without a primary key: the text id is unique per row, so it is left out, with a NOTICE.
CREATE TABLE od_mall AS SELECT * FROM mall;
SELECT version, options -> 'exclude' AS exclude, metrics -> 'features' AS features, metrics -> 'excluded' AS excluded
FROM custseg_train('od_mall', 'od_mall', options => '{"seed": 42}');
SELECT * FROM custseg_features('od_mall');
SELECT feature, kind, levels, encoded_columns FROM custseg_features((SELECT model FROM custseg_models WHERE name = 'od_mall'));
-- Asked for, it is a feature again (and a NOTICE warns of its 200 one-hot columns).
SELECT version, jsonb_array_length(custseg_model_json(model) -> 'columns') AS encoded
FROM custseg_train('od_mall', 'od_mall', options => '{"seed": 42, "include": ["customer_id"]}', activate => false);
-- The same model as trained on the original (whose primary key is left out).
SELECT (SELECT custseg_model_json(model) -> 'kmeans' FROM custseg_models WHERE name = 'od_mall' AND version = 1)
     = custseg_model_json((SELECT custseg_fit(c, '{"k": 3, "n_components": 2, "seed": 42, "exclude": ["customer_id"]}') FROM mall c)) -> 'kmeans'
       AS same_as_without_id;
-- An explicit exclude adds to the primary key, it does not replace it.
SELECT options -> 'exclude' AS exclude, metrics -> 'features' AS features
FROM custseg_train('od_pk', 'mall', options => '{"exclude": ["age"], "seed": 1}');
SELECT options -> 'exclude' AS exclude
FROM custseg_train('od_pk', 'mall', exclude => ARRAY['gender'], options => '{"exclude": ["age"], "seed": 1}');
-- The primary key as a feature when asked for ("include").
CREATE TABLE od_retail_pk AS SELECT * FROM retail;
ALTER TABLE od_retail_pk ADD PRIMARY KEY ("CustomerID");
SELECT options -> 'exclude' AS exclude, metrics -> 'excluded' AS excluded
FROM custseg_train('od_retail', 'od_retail_pk', options => '{"seed": 1}');
SELECT options -> 'exclude' AS exclude, metrics -> 'features' -> 0 AS first_feature
FROM custseg_train('od_retail', 'od_retail_pk', options => '{"seed": 1, "include": ["CustomerID"]}');
-- Whole-number ids without a key: by their name or because they run without gaps.
CREATE TABLE od_ids (row_no int, "CustomerID" bigint, age int, spend numeric, code text);
INSERT INTO od_ids SELECT 1000 + i, 7 * i, 20 + (i * 37) % 50, (i * 13) % 100 + 0.5, 'c' || (i % 4) FROM generate_series(1, 40) i;
SELECT options -> 'exclude' AS exclude, metrics -> 'excluded' AS excluded
FROM custseg_train('od_ids', 'od_ids', options => '{"seed": 1}');
-- A domain counts as its base type.
CREATE DOMAIN od_ref AS text;
CREATE TABLE od_dom (ref od_ref, spend int, visits int);
INSERT INTO od_dom SELECT 'r' || i, (i * 7) % 30, i % 4 FROM generate_series(1, 20) i;
SELECT options -> 'exclude' AS exclude FROM custseg_train('od_dom', 'od_dom', k => 2, options => '{"seed": 1}');
-- A small table is never second-guessed (fewer than 10 rows), nor are columns with repeats.
CREATE TABLE od_small (name text, age int);
INSERT INTO od_small VALUES ('ann', 31), ('bob', 45), ('cy', 22), ('dee', 60), ('ed', 38), ('flo', 51);
SELECT options -> 'exclude' AS exclude FROM custseg_train('od_small', 'od_small', k => 2, options => '{"seed": 1}');
-- A categorical column with many levels: a NOTICE before it becomes as many one-hot columns.
CREATE TABLE od_wide (shop text, spend float8);
INSERT INTO od_wide SELECT 'shop ' || (i % 80), i % 17 FROM generate_series(1, 400) i;
SELECT jsonb_array_length(custseg_model_json(model) -> 'columns') AS encoded
FROM custseg_train('od_wide', 'od_wide', options => '{"seed": 1}');
-- "include" is checked like the other lists.
SELECT err($q$SELECT custseg_train('od_bad', 'mall', options => '{"include": "customer_id"}')$q$);
SELECT err($q$SELECT custseg_train('od_bad', 'mall', options => '{"include": ["nope"]}')$q$);
SELECT err($q$SELECT custseg_train('od_bad', 'mall', options => '{"exclude": "age"}')$q$);
SELECT err($q$SELECT custseg_features('no_such_model')$q$);

-- ---- k and n_components in options ----
SELECT (options ->> 'k')::int AS k, options -> 'n_components' AS n_components,
       custseg_model_json(model) -> 'pca' = 'null' AS no_pca,
       jsonb_array_length(custseg_model_json(model) #> '{kmeans,centroids}') AS centroids
FROM custseg_train('od_k', 'mall', options => '{"k": 5, "n_components": null, "seed": 1}');
SELECT (options ->> 'k')::int AS k, options -> 'n_components' AS n_components
FROM custseg_train('od_k', 'mall', k => 4, n_components => 3, options => '{"seed": 1}');
SELECT (options ->> 'k')::int AS k, options -> 'n_components' AS n_components
FROM custseg_train('od_k', 'mall', k => 4, options => '{"k": 4, "n_components": 0.9, "seed": 1}');
SELECT err($q$SELECT custseg_train('od_k', 'mall', k => 4, options => '{"k": 5}')$q$);
SELECT err($q$SELECT custseg_train('od_k', 'mall', n_components => 3, options => '{"n_components": null}')$q$);
SELECT err($q$SELECT custseg_evaluate_k('mall', 2, 3, n_components => 3, options => '{"n_components": 1}')$q$);
SELECT k, round(inertia::numeric, 4) = round((SELECT e.inertia FROM custseg_evaluate_k('mall', 2, 3, n_components => NULL,
              options => '{"seed": 1}') e WHERE e.k = 2)::numeric, 4) AS same_as_no_pca_argument
FROM custseg_evaluate_k('mall', 2, 2, options => '{"n_components": null, "seed": 1}');

-- ---- A row with no feature present has no segment ----
SELECT custseg_predict('{}'::jsonb, 'od_mall') IS NULL AS empty_object,
       custseg_predict('{"Age": 31, "Gender": "Male"}'::jsonb, 'od_mall') IS NULL AS misspelt_keys,
       custseg_predict('{"age": null, "gender": null}'::jsonb, 'od_mall') IS NULL AS null_values,
       custseg_predict('{"age": 31}'::jsonb, 'od_mall') IS NOT NULL AS one_feature;
SELECT custseg_predict(r, 'od_mall') IS NULL AS all_null_row, custseg_predict(r) IS NULL AS all_null_row_by_table,
       (custseg_score(r, 'od_mall')).segment IS NULL AS score_is_null
FROM (SELECT NULL::text AS customer_id, NULL::text AS gender, NULL::int AS age, NULL::int AS annual_income_thousands,
             NULL::int AS spending_score) x, LATERAL (SELECT (x::text)::od_mall AS r) y;

-- A table with rows that have no feature: training skips them, segments and profiles leave them out,
-- the view shows them without a segment.
CREATE TABLE od_gaps (id int PRIMARY KEY, a float8, b text);
INSERT INTO od_gaps SELECT i, CASE WHEN i > 3 THEN i % 10 END, CASE WHEN i > 3 THEN 'x' || (i % 2) END
FROM generate_series(1, 40) i;
SELECT metrics ->> 'rows_skipped' AS skipped
FROM custseg_train('od_gaps', 'od_gaps', n_components => NULL, options => '{"seed": 1}');
SELECT sum(size) AS sized, round(sum(share)::numeric, 6) AS shares FROM custseg_segments WHERE model = 'od_gaps';
SELECT count(*) FILTER (WHERE segment IS NULL) AS all_rows_lines, max(n) FILTER (WHERE segment IS NULL) AS all_rows_n
FROM custseg_profile('od_gaps');
SELECT * FROM custseg_create_views('od_gaps', 'od_gaps');
SELECT count(*) FILTER (WHERE segment IS NULL) AS without_segment, count(*) AS rows FROM od_gaps_segments;

-- ---- custseg_score for a customer held as JSON ----
SELECT s.segment = j.segment AS same_segment, s.label = j.label AS same_label,
       abs(s.distance - j.distance) < 1e-12 AS same_distance, abs(s.confidence - j.confidence) < 1e-12 AS same_confidence,
       s.coordinates = j.coordinates AS same_coordinates
FROM mall c, custseg_score(c, 'od_mall') s, custseg_score(to_jsonb(c), 'od_mall') j
WHERE c.customer_id = '0042';
SELECT count(*) AS agree FROM mall c
WHERE (custseg_score(to_jsonb(c), 'od_mall')).segment = custseg_predict(to_jsonb(c), 'od_mall');
SELECT custseg_score('{}'::jsonb, 'od_mall') IS NULL AS empty_is_null, (custseg_score('{}'::jsonb, 'od_mall')).label IS NULL AS no_label;
SELECT err($q$SELECT custseg_score('{"age": "old"}'::jsonb, 'od_mall')$q$);
SELECT err($q$SELECT custseg_score('{"age": 1}'::jsonb, 'no_such_model')$q$);

-- ---- custseg_describe: kinds as training treats them, the key, identifiers, codes ----
CREATE TABLE od_wholesale ("Customer ID" int, "Channel" int, "Region" int, "Fresh" int, "Milk" int, "Grocery" int,
                           "Frozen" int, "Detergents_Paper" int, "Delicassen" int);
\copy od_wholesale FROM '../shared/data/wholesale_customers.csv' WITH (FORMAT csv, HEADER true)
SELECT column_name, kind, distinct_count, feature, note FROM custseg_describe('od_wholesale');
SELECT options -> 'exclude' AS exclude FROM custseg_train('od_wholesale', 'od_wholesale', k => 4, options => '{"seed": 1}');
CREATE TABLE od_kinds (id int PRIMARY KEY, joined date, extra jsonb, flag boolean, tier text, score numeric);
INSERT INTO od_kinds SELECT i, date '2024-01-01' + i, jsonb_build_object('i', i), i % 2 = 0, 't' || (i % 3), i % 5
FROM generate_series(1, 12) i;
SELECT column_name, kind, feature, note FROM custseg_describe('od_kinds');
SELECT err($q$SELECT custseg_train('od_kinds', 'od_kinds')$q$);
SELECT metrics -> 'features' AS features
FROM custseg_train('od_kinds', 'od_kinds', exclude => ARRAY['joined', 'extra'], options => '{"seed": 1}');

-- ---- Stricter options and messages ----
SELECT options -> 'sample_size' AS sample_size, options::text LIKE '%"sample_size": 100000%' AS printed_whole
FROM custseg_models WHERE name = 'od_mall' AND version = 1;
SELECT custseg_model_json(model) #> '{options,sample_size}' AS sample_size,
       model::text LIKE '%"sample_size": 100000,%' AS text_form_whole
FROM custseg_models WHERE name = 'od_mall' AND version = 1;
-- Too many encoded columns: the message names the categorical column with the most categories.
SELECT err($q$SELECT custseg_fit(j, '{"k": null}')
              FROM (SELECT jsonb_object_agg('x' || i, i) || jsonb_build_object('tier', 't' || r, 'size', 's' || (r % 2)) AS j
                    FROM generate_series(1, 997) i, generate_series(1, 3) r GROUP BY r) s$q$);

-- ---- Equality of models: =, DISTINCT, GROUP BY, count(DISTINCT), joins, ORDER BY ----
CREATE TABLE od_models AS
SELECT name, version, model FROM custseg_models WHERE name IN ('od_k', 'od_pk', 'od_mall');
INSERT INTO od_models SELECT name || '_copy', version, model::text::custseg_model FROM od_models;
SELECT count(*) AS rows, count(DISTINCT model) AS distinct_models FROM od_models;
SELECT count(*) AS groups FROM (SELECT model FROM od_models GROUP BY model) g;
SELECT count(*) AS distinct_rows FROM (SELECT DISTINCT model FROM od_models) d;
SET enable_hashagg = off;
SELECT count(*) AS distinct_rows_sorted FROM (SELECT DISTINCT model FROM od_models) d;
RESET enable_hashagg;
SELECT count(*) AS pairs FROM od_models a JOIN od_models b ON a.model = b.model AND a.name <> b.name;
SET enable_hashjoin = off; SET enable_nestloop = off;
SELECT count(*) AS pairs_merged FROM od_models a JOIN od_models b ON a.model = b.model AND a.name <> b.name;
RESET enable_hashjoin; RESET enable_nestloop;
SELECT a.model = b.model AS same, a.model <> b.model AS differ, (a.model < b.model) <> (a.model > b.model) AS ordered
FROM od_models a, od_models b WHERE a.name = 'od_k' AND a.version = 1 AND b.name = 'od_k' AND b.version = 2;
SELECT count(*) AS self_equal FROM od_models WHERE model = model::text::custseg_model;
SELECT count(*) AS in_list FROM od_models WHERE model IN (SELECT model FROM custseg_models WHERE name = 'od_pk');
SELECT count(*) AS unioned FROM (SELECT model FROM od_models UNION SELECT model FROM od_models) u;
SELECT count(DISTINCT m) AS ordered_distinct FROM (SELECT model AS m FROM od_models ORDER BY model) o;
