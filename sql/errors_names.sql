-- Names and sources: the registry functions with model names and tables that do not exist, NULL
-- arguments, bad options, and the odd but valid: identifiers with spaces, quotes and capitals, and
-- sources that are views, partitioned tables and temporary tables.
SET client_min_messages = warning;
CREATE TABLE en (id int PRIMARY KEY, age float8, spend numeric, region text);
INSERT INTO en SELECT i, 20 + (i * 7) % 40, (i * 13) % 100 + 0.5, (ARRAY['north', 'south', 'east'])[1 + i % 3]
FROM generate_series(1, 60) i;
CREATE TABLE en_empty (id int PRIMARY KEY, age float8);
CREATE TABLE en_few (id int PRIMARY KEY, age float8);
INSERT INTO en_few VALUES (1, 10), (2, 20), (3, 10);
SELECT version FROM custseg_train('en', 'en', options => '{"seed": 1}');

-- ---- custseg_train ----
SELECT err($q$SELECT custseg_train(NULL, 'en')$q$);
SELECT err($q$SELECT custseg_train('', 'en')$q$);
SELECT err($q$SELECT custseg_train('x', NULL)$q$);
SELECT err($q$SELECT custseg_train('x', 'no_such_table')$q$);
SELECT err($q$SELECT custseg_train('x', 'en_empty')$q$);
SELECT err($q$SELECT custseg_train('x', 'en_few', k => 3, n_components => NULL)$q$);
SELECT err($q$SELECT custseg_train('x', 'en', k => 0)$q$);
SELECT err($q$SELECT custseg_train('x', 'en', k => 100000)$q$);
SELECT err($q$SELECT custseg_train('x', 'en', n_components => 0)$q$);
SELECT err($q$SELECT custseg_train('x', 'en', n_components => 6)$q$);
SELECT err($q$SELECT custseg_train('x', 'en', exclude => ARRAY['nope'])$q$);
SELECT err($q$SELECT custseg_train('x', 'en', exclude => ARRAY['id', 'age', 'spend', 'region'])$q$);
SELECT err($q$SELECT custseg_train('x', 'en', options => '[1]')$q$);
SELECT err($q$SELECT custseg_train('x', 'en', options => '{"kk": 1}')$q$);
SELECT err($q$SELECT custseg_train('x', 'en', options => '{"seed": "one"}')$q$);
SELECT err($q$SELECT custseg_train('x', 'en', options => '{"sample_size": 1e400}')$q$);
SELECT err($q$SELECT custseg_train('x', 'en', k => NULL, options => '{"k": "auto"}')$q$);
-- k chosen automatically needs more distinct rows than 8.
SELECT err($q$SELECT custseg_train('x', 'en_few', k => NULL, n_components => NULL)$q$);
-- A failed training writes nothing.
SELECT count(*) AS versions_of_x FROM custseg_models WHERE name = 'x';

-- ---- custseg_activate ----
SELECT err($q$SELECT custseg_activate('nope', 1)$q$);
SELECT err($q$SELECT custseg_activate('en', 99)$q$);
SELECT err($q$SELECT custseg_activate('en', NULL)$q$);
SELECT err($q$SELECT custseg_activate(NULL, 1)$q$);

-- ---- Scoring by name and by table ----
SELECT err($q$SELECT custseg_predict(e, 'nope') FROM en e$q$);
SELECT err($q$SELECT custseg_predict(e, 'EN') FROM en e$q$);
SELECT err($q$SELECT custseg_predict('{"age": 30}'::jsonb, 'nope')$q$);
SELECT err($q$SELECT custseg_predict(e) FROM en_few e$q$);
SELECT err($q$SELECT custseg_predict(ROW(1, 30.0, 5, 'north'))$q$);
SELECT err($q$SELECT custseg_predict(t) FROM (SELECT 1 AS id, 30.0 AS age) t$q$);
SELECT err($q$SELECT custseg_predict(e, 'en') FROM en_few e$q$);
SELECT err($q$SELECT custseg_predict('[1, 2]'::jsonb, 'en')$q$);
SELECT err($q$SELECT custseg_predict('"north"'::jsonb, 'en')$q$);
SELECT err($q$SELECT custseg_predict('{"age": {"years": 30}}'::jsonb, 'en')$q$);
SELECT err($q$SELECT custseg_predict('{"age": [30]}'::jsonb, 'en')$q$);
SELECT err($q$SELECT custseg_predict('{"age": "thirty"}'::jsonb, 'en')$q$);
SELECT err($q$SELECT custseg_predict('{"age": "NaN"}'::jsonb, 'en')$q$);
SELECT err($q$SELECT custseg_predict('{"age": 1e400}'::jsonb, 'en')$q$);
SELECT custseg_predict('{}'::jsonb, 'en') IS NULL AS empty_object_is_null,
       custseg_predict('{"age": "30", "spend": 12.5, "region": 7, "other": [1]}'::jsonb, 'en') IS NOT NULL AS lenient_values,
       custseg_predict(NULL::jsonb, 'en') IS NULL AS null_row, custseg_predict('{}'::jsonb, NULL) IS NULL AS null_name;
-- Two active models trained on one table: name one.
SELECT version FROM custseg_train('en_second', 'en', options => '{"seed": 2}');
SELECT err($q$SELECT custseg_predict(e) FROM en e$q$);
DELETE FROM custseg_models WHERE name = 'en_second';
DELETE FROM custseg_segments WHERE model = 'en_second';
SELECT count(DISTINCT custseg_predict(e)) AS segments_by_table FROM en e;

-- ---- custseg_score ----
SELECT err($q$SELECT custseg_score(e, 'nope') FROM en e$q$);
SELECT err($q$SELECT custseg_score(e, 'en') FROM en_few e$q$);
INSERT INTO custseg_models (name, version, source, model, active)
SELECT 'en_nokm', 1, 'public.en', custseg_fit(e, '{"k": null, "exclude": ["id"]}'), true FROM en e;
SELECT err($q$SELECT custseg_score(e, 'en_nokm') FROM en e$q$);
SELECT err($q$SELECT custseg_predict(e, 'en_nokm') FROM en e$q$);

-- ---- Segments, views, profile, drift ----
SELECT err($q$SELECT custseg_refresh_segments('nope')$q$);
SELECT err($q$SELECT custseg_refresh_segments(NULL)$q$);
SELECT count(*) AS nokm_segments FROM custseg_refresh_segments('en_nokm');
SELECT err($q$SELECT custseg_profile('nope')$q$);
SELECT err($q$SELECT custseg_profile(NULL)$q$);
SELECT err($q$SELECT custseg_profile('en_nokm')$q$);
SELECT err($q$SELECT custseg_drift('nope')$q$);
SELECT err($q$SELECT custseg_drift(NULL)$q$);
SELECT err($q$SELECT custseg_create_views('en', 'nope')$q$);
SELECT err($q$SELECT custseg_create_views('en', NULL)$q$);
SELECT err($q$SELECT custseg_create_views(NULL, 'en')$q$);
CREATE TABLE en_taken (a int);
SELECT err($q$SELECT custseg_create_views('en', 'en', 'en_taken')$q$);
SELECT err($q$SELECT custseg_create_views('en', 'en', '')$q$);
-- The model's source table is gone.
CREATE TABLE en_gone AS SELECT * FROM en;
SELECT version FROM custseg_train('en_gone', 'en_gone', options => '{"seed": 1}');
DROP TABLE en_gone;
SELECT err($q$SELECT custseg_refresh_segments('en_gone')$q$);
SELECT err($q$SELECT custseg_profile('en_gone')$q$);
-- A column the model needs was dropped.
CREATE TABLE en_alter AS SELECT * FROM en;
SELECT version FROM custseg_train('en_alter', 'en_alter', options => '{"seed": 1}');
ALTER TABLE en_alter DROP COLUMN spend;
SELECT err($q$SELECT custseg_predict(e, 'en_alter') FROM en_alter e$q$);
SELECT err($q$SELECT custseg_refresh_segments('en_alter')$q$);
SELECT err($q$SELECT custseg_train('en_alter', 'en_alter', exclude => ARRAY['spend'])$q$);

-- ---- custseg_evaluate_k, custseg_describe, custseg_correlations ----
SELECT err($q$SELECT custseg_evaluate_k(NULL)$q$);
SELECT err($q$SELECT custseg_evaluate_k('en', NULL, 3)$q$);
SELECT err($q$SELECT custseg_evaluate_k('en', 1, 3)$q$);
SELECT err($q$SELECT custseg_evaluate_k('en', 4, 3)$q$);
SELECT err($q$SELECT custseg_evaluate_k('en', 2, 1001)$q$);
SELECT err($q$SELECT custseg_evaluate_k('en', options => '{"k": 3}')$q$);
SELECT err($q$SELECT custseg_evaluate_k('en', options => '{"n_init": 0}')$q$);
SELECT err($q$SELECT custseg_evaluate_k('en_empty')$q$);
SELECT err($q$SELECT custseg_evaluate_k('en_few', n_components => NULL)$q$);
SELECT err($q$SELECT custseg_evaluate_k('no_such_table')$q$);
SELECT err($q$SELECT custseg_describe(NULL)$q$);
SELECT err($q$SELECT custseg_describe('no_such_table')$q$);
SELECT err($q$SELECT custseg_correlations(NULL)$q$);
-- Empty and tiny tables describe without error.
SELECT column_name, kind, count, nulls, mean, median FROM custseg_describe('en_empty');
SELECT column_name, count, round(mean::numeric, 6) AS mean, round(stddev::numeric, 6) AS stddev, q1
FROM custseg_describe('en_few') WHERE column_name = 'age';
SELECT count(*) AS pairs FROM custseg_correlations('en_empty');

-- ---- Identifiers with spaces, quotes and capitals: all work ----
CREATE SCHEMA "Shop Data";
CREATE TABLE "Shop Data"."Customer ""VIP"" List" ("Customer ID" int PRIMARY KEY, "Age (years)" float8,
                                                   "Spend $" numeric, "Region'Name" text);
INSERT INTO "Shop Data"."Customer ""VIP"" List" SELECT * FROM en;
SELECT name, version, source, options -> 'exclude' AS excluded
FROM custseg_train('Model "A" o''Brien', '"Shop Data"."Customer ""VIP"" List"', options => '{"seed": 1}');
SELECT count(*) AS scored, count(DISTINCT custseg_predict(c, 'Model "A" o''Brien')) AS segments,
       count(*) FILTER (WHERE custseg_predict(c) = custseg_predict(c, 'Model "A" o''Brien')) AS by_table_agrees
FROM "Shop Data"."Customer ""VIP"" List" c;
SELECT count(*) FILTER (WHERE s.segment = custseg_predict(e, 'en')) AS same_segments_as_plain_names
FROM en e JOIN "Shop Data"."Customer ""VIP"" List" c ON c."Customer ID" = e.id,
     custseg_score(c, 'Model "A" o''Brien') s;
SELECT custseg_predict(jsonb_build_object('Age (years)', 30, 'Spend $', 50, 'Region''Name', 'north'), 'Model "A" o''Brien') IS NOT NULL AS jsonb_scores;
SELECT custseg_create_views('"Shop Data"."Customer ""VIP"" List"', 'Model "A" o''Brien', 'Segments "VIP" view');
SELECT count(*) AS view_rows, count(label) AS labelled FROM "Shop Data"."Segments ""VIP"" view";
SELECT count(*) AS offer_rows FROM "Shop Data"."Segments ""VIP"" view_offers";
SELECT count(*) AS segments FROM custseg_segments WHERE model = 'Model "A" o''Brien';
SELECT count(*) > 0 AS profiled FROM custseg_profile('Model "A" o''Brien') WHERE feature = 'Age (years)';
SELECT column_name, kind, count FROM custseg_describe('"Shop Data"."Customer ""VIP"" List"') ORDER BY column_name;
SELECT column_a, column_b, n FROM custseg_correlations('"Shop Data"."Customer ""VIP"" List"') ORDER BY 1, 2;
SELECT version, metrics -> 'previous_version' AS previous_version
FROM custseg_train('Model "A" o''Brien', '"Shop Data"."Customer ""VIP"" List"', options => '{"seed": 2}');
SELECT version, previous_version, matched_segments FROM custseg_drift('Model "A" o''Brien');
SELECT count(*) AS k_rows FROM custseg_evaluate_k('"Shop Data"."Customer ""VIP"" List"', 2, 3, options => '{"seed": 1}');
-- A misspelt or wrongly cased name is not found, and the hint quotes it as SQL.
SELECT err($q$SELECT custseg_predict(c, 'model "A" o''Brien') FROM "Shop Data"."Customer ""VIP"" List" c$q$);

-- ---- Sources that are views, partitioned tables and temporary tables: all work ----
CREATE VIEW en_view AS SELECT id, age, spend, region FROM en WHERE id <= 45;
SELECT name, source, (metrics ->> 'rows_used')::int AS rows_used FROM custseg_train('en_view', 'en_view', exclude => ARRAY['id'], options => '{"seed": 1}');
SELECT count(*) FILTER (WHERE custseg_predict(v) IS NOT NULL) AS view_rows_by_table FROM en_view v;
SELECT sum(size) AS segment_rows FROM custseg_segments WHERE model = 'en_view';
CREATE TABLE en_part (id int, age float8, spend numeric, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE en_part_n PARTITION OF en_part FOR VALUES IN ('north');
CREATE TABLE en_part_rest PARTITION OF en_part DEFAULT;
INSERT INTO en_part SELECT * FROM en;
SELECT name, source, options -> 'exclude' AS excluded, (metrics ->> 'rows_used')::int AS rows_used
FROM custseg_train('en_part', 'en_part', options => '{"seed": 1}');
-- Rows of the parent score by table; a partition's rows have the partition's row type.
SELECT count(custseg_predict(p)) AS parent_rows FROM en_part p;
SELECT err($q$SELECT custseg_predict(p) FROM en_part_n p$q$);
SELECT count(custseg_predict(p, 'en_part')) AS partition_rows_by_name FROM en_part_n p;
SELECT sum(size) AS segment_rows FROM custseg_segments WHERE model = 'en_part';
CREATE TEMP TABLE en_temp AS SELECT * FROM en;
SELECT name, source ~ '^pg_temp_\d+\.en_temp$' AS temp_source, (metrics ->> 'rows_used')::int AS rows_used
FROM custseg_train('en_temp', 'en_temp', exclude => ARRAY['id'], options => '{"seed": 1}');
SELECT count(custseg_predict(t)) AS temp_rows_by_table FROM en_temp t;
SELECT sum(size) AS segment_rows FROM custseg_segments WHERE model = 'en_temp';
SELECT count(*) AS k_rows FROM custseg_evaluate_k('en_temp', 2, 3, exclude => ARRAY['id']);
SELECT count(*) AS described FROM custseg_describe('en_part');
SELECT count(*) AS described FROM custseg_describe('en_view');
SELECT count(*) > 0 AS profiled FROM custseg_profile('en_temp');
RESET client_min_messages;
