-- The model registry: custseg_train, versions, activation.
\set VERBOSITY terse

CREATE TABLE train_src (customer_id text PRIMARY KEY, gender text, age int,
                        annual_income_thousands int, spending_score int);
INSERT INTO train_src SELECT * FROM mall;

-- The primary key is excluded by default; the stored row is returned.
SELECT name, version, source, active, options->'exclude' AS exclude, options->'k' AS k,
       metrics->'rows_used' AS rows_used, metrics ? 'duration_ms' AS has_duration,
       jsonb_array_length(metrics->'explained_variance_ratio') AS n_ratios
FROM custseg_train('mall', 'train_src', options => '{"seed": 1}');

-- Training again stores version 2 and makes it the only active one.
SELECT version, active, options->'k' AS k FROM custseg_train('mall', 'train_src', k => 4, options => '{"seed": 1}');
SELECT name, version, active FROM custseg_models ORDER BY name, version;

-- Arguments override options; a NULL argument defers to options; exclude may be given.
SELECT version, options->'n_components' AS n_components, options->'exclude' AS exclude, active
FROM custseg_train('mall', 'train_src', k => 3, n_components => NULL, exclude => ARRAY['customer_id', 'gender'],
                   options => '{"n_components": 0.8, "seed": 2}', activate => false);
SELECT name, version, active FROM custseg_models ORDER BY name, version;

-- Roll back to version 1, then forward to 3.
SELECT version, active FROM custseg_activate('mall', 1);
SELECT version, active FROM custseg_activate('mall', 3);
SELECT version, active FROM custseg_models WHERE name = 'mall' ORDER BY version;

-- Same options, same rows: byte-identical models across versions.
SELECT (SELECT model::text FROM custseg_train('mall', 'train_src', options => '{"seed": 1}'))
     = (SELECT model::text FROM custseg_models WHERE name = 'mall' AND version = 1) AS same_model;

-- The database allows one active version per name, whatever writes the table.
UPDATE custseg_models SET active = true WHERE name = 'mall';

-- A failed training writes nothing and leaves the active version alone.
SELECT count(*) AS versions_before FROM custseg_models WHERE name = 'mall';
SELECT custseg_train('mall', 'train_src', options => '{"k": 3, "bogus": 1}');
SELECT custseg_train('mall', 'train_src', k => 500);
SELECT count(*) AS versions_after, max(version) FILTER (WHERE active) AS active_version
FROM custseg_models WHERE name = 'mall';

-- Errors: unknown version, empty name, empty table.
SELECT custseg_activate('mall', 99);
SELECT custseg_activate('nope', 1);
SELECT custseg_train('', 'train_src');
CREATE TABLE train_empty (x int);
SELECT custseg_train('empty', 'train_empty');
-- k => NULL: custseg_evaluate_k (k = 2..8) chooses k.
SELECT version, options -> 'k' AS k FROM custseg_train('mall', 'train_src', k => NULL, options => '{"seed": 42}');
SELECT custseg_train('mall', 'no_such_table');

-- Identifiers with spaces, quotes and capitals are quoted.
CREATE TABLE "Odd ""Name"" Table" ("Customer Id" int PRIMARY KEY, "Spend $" float8, "Kind" text);
INSERT INTO "Odd ""Name"" Table" SELECT i, (i % 3) * 10 + i % 2, (ARRAY['a', 'b'])[1 + i % 2] FROM generate_series(1, 30) i;
SELECT name, version, source, options->'exclude' AS exclude
FROM custseg_train('odd', '"Odd ""Name"" Table"', k => 3, n_components => NULL);

-- custseg_train reads a table as its feature columns' values (custseg_fit_values; arrays of them,
-- custseg_fit_columns, beyond 97 features) wherever they read every value as the record form does:
-- its model is then custseg_fit(t)'s, byte for byte, and so is the arrays form's. Where they would
-- not (a bool or character(n) category, a text column forced numeric), it reads whole rows. (Each
-- model is a first version: a later one renumbers its segments.)
CREATE TYPE train_tier AS ENUM ('bronze', 'silver', 'gold');
CREATE DOMAIN train_count AS int CHECK (VALUE >= 0);
CREATE TABLE train_kinds (id int PRIMARY KEY, a int2, b int8, c float4, d numeric, e bool, f train_tier,
                          g varchar(10), h train_count, i text, j int, dropped int, "T" float8);
ALTER TABLE train_kinds DROP COLUMN dropped;
INSERT INTO train_kinds
SELECT n, n % 7, n * 1000, n / 3.0, n % 11 + 0.25, n % 2 = 0, (ARRAY['bronze', 'silver', 'gold'])[1 + n % 3]::train_tier,
       'v' || n % 4, n % 5, CASE WHEN n % 9 = 0 THEN NULL ELSE 'x' || n % 3 END, CASE WHEN n % 13 = 0 THEN NULL ELSE n % 6 END,
       CASE WHEN n % 17 = 0 THEN NULL ELSE sqrt(n) END
FROM generate_series(1, 300) n;
CREATE FUNCTION train_same(name text, src regclass, opts jsonb)
RETURNS TABLE (column_arrays boolean, separate_values boolean, same_model boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
    m custseg_models;
    ref custseg_model;
    arrays custseg_model;
    arrays_args text;
BEGIN
    SELECT * INTO m FROM custseg_train(name, src, options => opts);
    arrays_args := custseg_fit_columns_args(src, m.options, true);
    EXECUTE format('SELECT custseg_fit(t.*, $1) FROM %s t', src) INTO ref USING m.options - 'stage';
    IF arrays_args IS NOT NULL THEN
        EXECUTE format('SELECT custseg_fit_columns(%s, $1) FROM %s t', arrays_args, src) INTO arrays USING m.options - 'stage';
    END IF;
    RETURN QUERY SELECT arrays_args IS NOT NULL, custseg_fit_columns_args(src, m.options, true, true) IS NOT NULL,
                        m.model::text = ref::text AND coalesce(arrays::text = ref::text, true);
END
$fn$;
SELECT * FROM train_same('kinds', 'train_kinds', '{"seed": 1}');
SELECT * FROM train_same('kinds2', 'train_kinds', '{"seed": 1, "n_components": null, "categorical": ["j", "a"],
                                                   "transform": {"c": "log1p", "T": {"clip": [1, 15]}}}');
SELECT * FROM train_same('kinds3', 'train_kinds', '{"seed": 1, "categorical": ["e"]}');
CREATE TABLE train_padded (id int PRIMARY KEY, x float8, code char(4), score text);
INSERT INTO train_padded SELECT n, n % 10, (ARRAY['ab', 'abc', 'a'])[1 + n % 3], (n % 8)::text FROM generate_series(1, 60) n;
SELECT * FROM train_same('padded', 'train_padded', '{"seed": 1}');
SELECT * FROM train_same('padded2', 'train_padded', '{"seed": 1, "numeric": ["score"], "exclude": ["code"]}');
-- A numeric reads as the record form reads it (custseg_float8, below); a type is known by its OID
-- (an enum named int4 is a category), a domain over a domain by its base.
CREATE TYPE int4 AS ENUM ('lo', 'hi');
CREATE DOMAIN train_count2 AS train_count CHECK (VALUE < 1000);
CREATE TABLE train_more (id int PRIMARY KEY, tiny numeric, lvl public.int4, cnt train_count2, x float8);
INSERT INTO train_more SELECT n, CASE WHEN n % 5 = 0 THEN 1e-300 ELSE n / 7.0 END, (ARRAY['lo', 'hi'])[1 + n % 2]::public.int4,
       n % 9, n % 4 FROM generate_series(1, 90) n;
SELECT * FROM train_same('more', 'train_more', '{"seed": 1}');
DROP TABLE train_more;
-- Long categories arrive compressed, or out of line (storage external), and are read as in the
-- record form.
CREATE TABLE train_long (id int PRIMARY KEY, x float8, squeezed text, outside text);
ALTER TABLE train_long ALTER COLUMN outside SET STORAGE EXTERNAL;
INSERT INTO train_long SELECT n, n % 6, repeat(chr(65 + n % 3), 3000), repeat(chr(97 + n % 2), 3000) || n % 4
FROM generate_series(1, 60) n;
SELECT pg_column_compression(squeezed) AS squeezed, pg_column_size(outside) > 3000 AS outside_whole
FROM train_long WHERE id = 1;
SELECT * FROM train_same('long', 'train_long', '{"seed": 1}');
DROP TABLE train_long;
-- Beyond 97 features a call has no room for every value: arrays.
DO $$
BEGIN
    EXECUTE 'CREATE TABLE train_wide (id int PRIMARY KEY, '
            || (SELECT string_agg(format('x%s float8', i), ', ') FROM generate_series(1, 98) i) || ')';
    EXECUTE 'INSERT INTO train_wide SELECT n, '
            || (SELECT string_agg(format('(n * %s) %% 7', i), ', ') FROM generate_series(1, 98) i)
            || ' FROM generate_series(1, 40) n';
END
$$;
SELECT * FROM train_same('wide', 'train_wide', '{"seed": 1, "k": 2}');
DROP TABLE train_wide;
-- custseg_fit_values takes float8 numbers, then text categories.
SELECT custseg_fit_values('{}', '{a,b}', x::int, 'q'::text) FROM (VALUES (1.5::float8)) v(x);
SELECT custseg_fit_values('{}', '{a,b}', 'q'::text, x) FROM (VALUES (1.5::float8)) v(x);
SELECT custseg_fit_values('{}', '{a}', x, 'q'::text) FROM (VALUES (1.5::float8)) v(x);
SELECT custseg_fit_values('{}', NULL, x) FROM (VALUES (1.5::float8)) v(x);
DROP DOMAIN train_count2;
DROP TYPE public.int4;
-- 1e-400 is 0 and 1e400 an infinity, not an error of the cast.
SELECT custseg_float8(1e-400) AS underflow, custseg_float8(-1e400) AS overflow, custseg_float8('NaN') AS nan;
SELECT custseg_fit_state_query('train_kinds', '{"exclude": ["id"]}') LIKE 'SELECT custseg_fit_values_state(%' AS evaluate_k_separate_values;
SELECT e.k, e.chosen FROM custseg_evaluate_k('train_kinds', 2, 3, options => '{"seed": 1}') e ORDER BY e.k;
-- Errors read the same through either form: a non-finite number and a value log1p cannot take
-- name their column.
UPDATE train_kinds SET "T" = 'Infinity' WHERE id = 250;
SELECT custseg_train('kinds', 'train_kinds', options => '{"seed": 1}');
UPDATE train_kinds SET "T" = -3 WHERE id = 250;
SELECT custseg_train('kinds', 'train_kinds', options => '{"seed": 1, "transform": {"T": "log1p"}}');
UPDATE train_kinds SET d = 1e400 WHERE id = 1;
SELECT custseg_train('kinds', 'train_kinds', options => '{"seed": 1}');
-- A bad transform is reported before any value, as in the record form.
SELECT custseg_train('kinds', 'train_kinds', options => '{"seed": 1, "transform": {"g": "log1p"}}');
SELECT max(version) AS kinds_versions FROM custseg_models WHERE name = 'kinds';

-- On one node the planner's row estimate bounds the sample (custseg_sample_threshold: a row whose
-- content hash lies above the bound for half the estimated rows is not a candidate), so that the
-- scan and each parallel worker keep about the sample. Rows deleted since ANALYZE make the bound
-- too low: the fit says so (CS001) and custseg_train runs again without it. Either way the model is
-- the aggregate's, byte for byte.
CREATE TABLE train_bound (id int PRIMARY KEY, x float8, y float8, g text) WITH (autovacuum_enabled = false);
INSERT INTO train_bound SELECT i, (i * 37 % 1000) / 10.0, sin(i), (ARRAY['a', 'b', 'c'])[i % 3 + 1]
FROM generate_series(1, 20000) i;
SELECT custseg_estimated_rows('train_bound') IS NULL AS no_estimate_before_analyze;
ANALYZE train_bound;
SELECT custseg_estimated_rows('train_bound') AS estimated_rows,
       custseg_sample_threshold('train_bound', '{"sample_size": 1000}') ? '_sample_threshold' AS bounded,
       custseg_sample_threshold('train_bound', '{"sample_size": 8000}') ? '_sample_threshold' AS large_sample_unbounded,
       custseg_sample_threshold('train_bound', '{"sample_size": 1000, "dedupe": true}') ? '_sample_threshold' AS dedupe_unbounded;
-- The bounded fit is the unbounded one, byte for byte.
SELECT (SELECT custseg_fit(t, b) FROM train_bound t) = (SELECT custseg_fit(t, o) FROM train_bound t) AS bounded_fit_exact
FROM (SELECT o, custseg_sample_threshold('train_bound', o) AS b
      FROM (SELECT '{"k": 3, "n_components": 2, "sample_size": 1000, "seed": 3, "exclude": ["id"]}'::jsonb AS o) o OFFSET 0) x;  -- OFFSET 0: the bound computed once
-- Rows whose features repeat: the sample holds distinct rows, so the bound is for at most the
-- product of the feature columns' distinct values (50 x 3 here): too few to bound a sample of
-- 1,000 (which would keep too few and scan twice), enough for one of 10, still exact.
CREATE TABLE train_repeat (id int PRIMARY KEY, x float8, g text) WITH (autovacuum_enabled = false);
INSERT INTO train_repeat SELECT i, i % 50, (ARRAY['a', 'b', 'c'])[i % 3 + 1] FROM generate_series(1, 20000) i;
ANALYZE train_repeat;
SELECT custseg_sample_threshold('train_repeat', '{"sample_size": 1000, "exclude": ["id"]}') ? '_sample_threshold' AS repeats_bound_1000,
       custseg_sample_threshold('train_repeat', '{"sample_size": 10, "exclude": ["id"]}') ? '_sample_threshold' AS repeats_bound_10,
       (SELECT custseg_fit(t, b) FROM train_repeat t) = (SELECT custseg_fit(t, o) FROM train_repeat t) AS repeats_bounded_fit_exact
FROM (SELECT o, custseg_sample_threshold('train_repeat', o) AS b
      FROM (SELECT '{"k": 3, "n_components": null, "sample_size": 10, "seed": 3, "exclude": ["id"]}'::jsonb AS o) o OFFSET 0) x;  -- OFFSET 0: the bound computed once
DROP TABLE train_repeat;
CREATE VIEW train_bound_v AS SELECT * FROM train_bound;
SELECT custseg_estimated_rows('train_bound_v') IS NULL AS view_has_no_estimate;
SET client_min_messages = warning;
SELECT (SELECT model FROM custseg_train('bound', 'train_bound', 3, 2, options => '{"sample_size": 1000, "seed": 3}'))
     = (SELECT custseg_fit(t, '{"k": 3, "n_components": 2, "sample_size": 1000, "seed": 3, "exclude": ["id"]}')
        FROM train_bound t) AS same_model;
DELETE FROM train_bound WHERE id % 10 <> 0;  -- the estimate still counts 20,000 rows
SELECT err(format('SELECT custseg_fit(t, %L) FROM train_bound t',
                  custseg_sample_threshold('train_bound', '{"k": 3, "n_components": 2, "sample_size": 1000, "seed": 3, "exclude": ["id"]}'))) AS bound_too_low;
SELECT (SELECT model FROM custseg_train('bound_after', 'train_bound', 3, 2, options => '{"sample_size": 1000, "seed": 3}'))
     = (SELECT custseg_fit(t, '{"k": 3, "n_components": 2, "sample_size": 1000, "seed": 3, "exclude": ["id"]}')
        FROM train_bound t) AS same_model_after_delete,
       (SELECT count(*) FROM custseg_evaluate_k('train_bound', 2, 4, options => '{"sample_size": 1000, "seed": 3}')) AS evaluated;
-- With row security a role may see fewer rows than the table holds: no estimate.
ALTER TABLE train_bound ENABLE ROW LEVEL SECURITY;
SELECT custseg_estimated_rows('train_bound') IS NULL AS row_security_has_no_estimate;
RESET client_min_messages;
DROP VIEW train_bound_v;
DROP TABLE train_bound;

DELETE FROM custseg_models;
