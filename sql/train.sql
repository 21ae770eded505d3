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

DELETE FROM custseg_models;
