-- Bad training input: custseg_fit (record and jsonb), the stage aggregates and every option key.
-- Each bad input gets an error with its SQLSTATE and a message naming the culprit; valid but odd
-- input (one row, a constant column, options as SQL NULL) shows that it works.
-- opt(options) trains on a small valid table with the given options and shows the error or the result.
CREATE TABLE ef (id int PRIMARY KEY, x float8, y int, c text);
INSERT INTO ef SELECT i, i % 7 + i / 10.0, (i * 3) % 5, (ARRAY['a', 'b', 'c'])[1 + i % 3] FROM generate_series(1, 30) i;
CREATE FUNCTION opt(options text) RETURNS text LANGUAGE sql AS $$
  SELECT err(format('SELECT custseg_fit(t, %L) FROM (SELECT x, y, c FROM ef) t', options))
$$;

-- ---- Empty input ----
CREATE TABLE ef_empty (id int, x float8);
SELECT custseg_fit(t) IS NULL AS fit_is_null, custseg_fit(to_jsonb(t)) IS NULL AS jsonb_fit_is_null,
       custseg_scaler_fit(t) IS NULL AS scaler_is_null FROM ef_empty t;
SELECT custseg_pca_fit(ARRAY[x], 1) IS NULL AS pca_is_null, custseg_kmeans_fit(ARRAY[x], 1) IS NULL AS kmeans_is_null
FROM ef_empty;
-- Only NULL rows: nothing to build a state from, so NULL as well.
SELECT custseg_fit(NULL::ef) IS NULL AS null_rows FROM generate_series(1, 3);

-- ---- One row ----
-- k = 1 without PCA works: one segment, the row in it.
SELECT custseg_predict(m, t) AS segment, custseg_model_json(m) -> 'training' ->> 'rows_used' AS rows_used
FROM (SELECT custseg_fit(t, '{"k": 1, "n_components": null}') AS m FROM (SELECT 1.5 AS x, 'a' AS c) t) s,
     (SELECT 1.5 AS x, 'a' AS c) t;
SELECT err($q$SELECT custseg_fit(t, '{"k": 1}') FROM (SELECT 1.5 AS x) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2, "n_components": null}') FROM (SELECT 1.5 AS x) t$q$);
-- Fewer distinct rows than k, however many rows.
SELECT err($q$SELECT custseg_fit(t, '{"k": 3, "n_components": null}') FROM (SELECT i % 2 AS x FROM generate_series(1, 100) i) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 1000, "n_components": null}') FROM ef t$q$);

-- ---- k and n_components out of range ----
SELECT opt('{"k": 0}');
SELECT opt('{"k": -3}');
SELECT opt('{"k": 1001}');
SELECT opt('{"k": 1e12}');
SELECT opt('{"k": 1e400}');
SELECT opt('{"k": 3.0}');
SELECT opt('{"n_components": 0}');
SELECT opt('{"n_components": -2}');
SELECT opt('{"n_components": 1001}');
SELECT opt('{"n_components": 6}');
SELECT opt('{"n_components": 1.0}');
SELECT opt('{"n_components": 0.0}');
SELECT opt('{"n_components": -0.5}');
-- A fraction keeps enough components: valid.
SELECT custseg_model_json(custseg_fit(t, '{"n_components": 0.999}')) #> '{pca,n_components}' AS components
FROM (SELECT x, y, c FROM ef) t;

-- ---- Unknown and misspelled keys ----
SELECT opt('{"K": 3}');
SELECT opt('{"n_component": 2}');
SELECT opt('{"sample-size": 10}');
SELECT opt('{"": 1}');
SELECT opt('{"k": 3, "kmeans": {"k": 3}}');

-- ---- Every key with a wrong type ----
SELECT opt('{"k": "3"}');
SELECT opt('{"k": true}');
SELECT opt('{"k": [3]}');
SELECT opt('{"k": {"value": 3}}');
SELECT opt('{"n_components": "2"}');
SELECT opt('{"n_components": false}');
SELECT opt('{"n_components": [2]}');
SELECT opt('{"exclude": "id"}');
SELECT opt('{"exclude": [1]}');
SELECT opt('{"exclude": [null]}');
SELECT opt('{"exclude": {"id": true}}');
SELECT opt('{"exclude": null}');
SELECT opt('{"categorical": "y"}');
SELECT opt('{"categorical": [true]}');
SELECT opt('{"numeric": 1}');
SELECT opt('{"numeric": [["c"]]}');
SELECT opt('{"seed": -1}');
SELECT opt('{"seed": 1.5}');
SELECT opt('{"seed": "42"}');
SELECT opt('{"seed": 1e20}');
SELECT opt('{"seed": null}');
SELECT opt('{"n_init": 0}');
SELECT opt('{"n_init": 1001}');
SELECT opt('{"n_init": "10"}');
SELECT opt('{"max_iter": 0}');
SELECT opt('{"max_iter": 100001}');
SELECT opt('{"max_iter": 2.5}');
SELECT opt('{"tol": -1}');
SELECT opt('{"tol": "0.1"}');
SELECT opt('{"tol": null}');
SELECT opt('{"sample_size": 0}');
SELECT opt('{"sample_size": 10000001}');
SELECT opt('{"sample_size": "all"}');
SELECT opt('{"dedupe": 1}');
SELECT opt('{"dedupe": "true"}');
SELECT opt('{"scale_categoricals": null}');
SELECT opt('{"verbose": "yes"}');
-- Options that are not an object, and options as SQL NULL (the defaults).
SELECT opt('[{"k": 3}]');
SELECT opt('"k=3"');
SELECT opt('null');
SELECT custseg_model_json(custseg_fit(t, NULL)) #> '{options,k}' AS k FROM (SELECT x, y, c FROM ef) t;
-- A column both excluded and forced categorical is excluded; a repeated name counts once. Names
-- that are not columns are errors.
SELECT opt('{"exclude": ["x"], "categorical": ["x"]}');
SELECT opt('{"categorical": ["y", "y"]}');
SELECT opt('{"exclude": ["X"]}');
SELECT opt('{"numeric": ["nope"]}');

-- ---- No usable feature column ----
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT 1 AS id) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["id"]}') FROM (SELECT 1 AS id) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT now()::date AS d, '{}'::jsonb AS j) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT ARRAY[1, 2] AS a) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT point(1, 2) AS p) t$q$);
SELECT err($q$SELECT custseg_fit(ROW()) FROM generate_series(1, 3)$q$);

-- ---- All-NULL and constant columns ----
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT x, NULL::int AS z FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT x, NULL::varchar AS z FROM ef) t$q$);
-- A constant column is valid: its scale is 1 and it changes no distance.
SELECT j #> '{scaler,scale}' AS scale, j #> '{features,1,impute}' AS impute, j #> '{kmeans,k}' AS k
FROM (SELECT custseg_model_json(custseg_fit(t, '{"n_components": null, "seed": 1}')) AS j
      FROM (SELECT x, 7 AS const FROM ef) t) s;
SELECT count(DISTINCT custseg_predict(m, t)) AS segments_used
FROM (SELECT custseg_fit(t, '{"n_components": null, "seed": 1}') AS m FROM (SELECT x, 7 AS const FROM ef) t) s,
     (SELECT x, 7 AS const FROM ef) t;
-- Only constant columns: one distinct row.
SELECT err($q$SELECT custseg_fit(t, '{"k": 2}') FROM (SELECT 7 AS a, 'same'::text AS b FROM ef) t$q$);

-- ---- Non-finite and huge numbers ----
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT CASE WHEN id = 5 THEN 'NaN' ELSE x END::float4 AS x FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT CASE WHEN id = 5 THEN '-Infinity' ELSE x END::float4 AS x FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT CASE WHEN id = 5 THEN '-Infinity' ELSE x END::float8 AS x FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT CASE WHEN id = 5 THEN 'Infinity' ELSE x END::numeric AS x FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT CASE WHEN id = 5 THEN '-Infinity' ELSE x END::numeric AS x FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT CASE WHEN id = 5 THEN 1e400 ELSE x::numeric END AS x FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t) FROM (SELECT CASE WHEN id = 5 THEN -1e400 ELSE x::numeric END AS x FROM ef) t$q$);
-- Huge precision that fits a double is valid: 1000 significant digits, 1e150, 1e-400 (rounds to 0).
SELECT round((j #> '{scaler,mean,0}')::numeric, 6) AS mean_x
FROM (SELECT custseg_model_json(custseg_fit(t, '{"n_components": null}')) AS j
      FROM (SELECT CASE WHEN id = 5 THEN ('1.' || repeat('3', 1000))::numeric ELSE x::numeric END AS x,
                   CASE WHEN id = 6 THEN 1e-400 ELSE 0 END AS tiny FROM ef) t) s;
SELECT (j #> '{scaler,mean,0}')::float8 > 1e148 AS huge_mean_kept
FROM (SELECT custseg_model_json(custseg_fit(t, '{"n_components": null, "k": 2}')) AS j
      FROM (SELECT CASE WHEN id = 5 THEN 1e150 ELSE x::numeric END AS x FROM ef) t) s;
-- Values whose squares overflow a double: the variance is not finite.
SELECT err($q$SELECT custseg_fit(t, '{"n_components": null}') FROM (SELECT CASE WHEN id = 5 THEN 1e300 ELSE -1e300 END::float8 AS x FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"n_components": null}') FROM (SELECT CASE WHEN id = 5 THEN 1e300 ELSE x::numeric END AS x FROM ef) t$q$);

-- ---- Text forced numeric ----
SELECT err($q$SELECT custseg_fit(t, '{"numeric": ["c"]}') FROM (SELECT x, c FROM ef) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"numeric": ["v"]}') FROM (VALUES ('1'), (''), ('3')) t(v)$q$);
SELECT err($q$SELECT custseg_fit(t, '{"numeric": ["v"]}') FROM (VALUES ('1'), ('NaN'), ('3')) t(v)$q$);
SELECT err($q$SELECT custseg_fit(t, '{"numeric": ["v"]}') FROM (VALUES ('1'), ('1e999'), ('3')) t(v)$q$);
SELECT err($q$SELECT custseg_fit(t, '{"numeric": ["v"]}') FROM (VALUES ('1'), ('2 apples'), ('3')) t(v)$q$);
-- Numbers with spaces and exponents parse.
SELECT custseg_model_json(custseg_fit(t, '{"numeric": ["v"], "k": 2, "n_components": null}')) #> '{scaler,mean}' AS mean
FROM (VALUES (' 1'), ('2e0'), ('3.0 ')) t(v);
-- Forced categorical: a date column encodes by its text.
SELECT custseg_model_json(custseg_fit(t, '{"categorical": ["d"], "k": 2, "n_components": null}')) #> '{features,0,levels}' AS levels
FROM (VALUES ('2024-01-01'::date), ('2024-02-01')) t(d);

-- ---- Too many encoded columns: 1001 numeric columns fail on the first row ----
SELECT err(format('SELECT custseg_fit(t) FROM (SELECT %s) t',
                  (SELECT string_agg(format('%s.0 AS c%s', i, i), ', ') FROM generate_series(1, 1001) i)));

-- ---- NULL rows in the middle ----
SELECT j #> '{training,rows_seen}' AS seen, j #> '{training,rows_skipped}' AS skipped
FROM (SELECT custseg_model_json(custseg_fit(CASE WHEN t.id % 3 = 0 THEN NULL ELSE t END, '{"k": 2}' ORDER BY t.id)) AS j
      FROM (SELECT id, x, y FROM ef) t) s;

-- ---- The jsonb form ----
SELECT err($q$SELECT custseg_fit(j) FROM (VALUES ('[1, 2]'::jsonb), ('[3, 4]')) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j) FROM (VALUES ('3'::jsonb)) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j) FROM (VALUES ('{}'::jsonb), ('{}')) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j) FROM (VALUES ('{"x": 1, "a": [1]}'::jsonb)) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j) FROM (VALUES ('{"x": 1, "o": {"k": 1}}'::jsonb)) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j, '{"k": 2}') FROM (VALUES ('{"x": 1}'::jsonb), ('{"x": "two"}'), ('{"x": 3}')) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j, '{"k": 2}') FROM (VALUES ('{"x": 1}'::jsonb), ('{"x": [2]}'), ('{"x": 3}')) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j, '{"k": 2}') FROM (VALUES ('{"x": 1}'::jsonb), ('{"x": 1e400}')) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j, '{"k": 2}') FROM (VALUES ('{"x": 1}'::jsonb), ('[1]'), ('{"x": 3}')) t(j)$q$);
SELECT err($q$SELECT custseg_fit(j, '{"kk": 2}') FROM (VALUES ('{"x": 1}'::jsonb)) t(j)$q$);
-- A later row that lacks a key or has extra keys is valid: the missing value is NULL, extras are ignored.
SELECT custseg_model_json(custseg_fit(j, '{"k": 2, "n_components": null}')) #> '{training,rows_used}' AS used
FROM (VALUES ('{"x": 1, "c": "a"}'::jsonb), ('{"x": 2}'), ('{"c": "b", "extra": 9}')) t(j);

-- ---- Stage aggregates ----
SELECT err($q$SELECT custseg_pca_fit(ARRAY[x, y], 0) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit(ARRAY[x, y], NULL) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit(ARRAY[x, y], 3) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit(ARRAY[x, y], 1001) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit(CASE WHEN id = 4 THEN ARRAY[x] ELSE ARRAY[x, y] END, 1) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit(CASE WHEN id = 4 THEN ARRAY[x, NULL] ELSE ARRAY[x, y] END, 1) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit(CASE WHEN id = 4 THEN ARRAY[x, 'NaN'] ELSE ARRAY[x, y] END, 1) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit('{}'::float8[], 1) FROM ef$q$);
SELECT err($q$SELECT custseg_pca_fit(ARRAY[[x, y]], 1) FROM ef$q$);
SELECT err($q$SELECT custseg_kmeans_fit(ARRAY[x, y], 0) FROM ef$q$);
SELECT err($q$SELECT custseg_kmeans_fit(ARRAY[x, y], NULL) FROM ef$q$);
SELECT err($q$SELECT custseg_kmeans_fit(ARRAY[x, y], 1001) FROM ef$q$);
SELECT err($q$SELECT custseg_kmeans_fit(ARRAY[x, y], 40) FROM ef$q$);
SELECT err($q$SELECT custseg_kmeans_fit(ARRAY[x, y], 2, '{"k": 3}') FROM ef$q$);
SELECT err($q$SELECT custseg_kmeans_fit(ARRAY[x, y], 2, '{"exclude": ["x1"]}') FROM ef$q$);
SELECT err($q$SELECT custseg_kmeans_fit(ARRAY[x, y], 2, '{"n_init": "many"}') FROM ef$q$);
SELECT err($q$SELECT custseg_scaler_fit(t, '{"k": 3}') FROM ef t$q$);
SELECT err($q$SELECT custseg_scaler_fit(t, '{"seed": 1}') FROM ef t$q$);
SELECT err($q$SELECT custseg_scaler_fit(to_jsonb(t), '{"n_components": 2}') FROM ef t$q$);

-- ---- custseg_transform and custseg_predict on vectors ----
CREATE TABLE ef_vec AS SELECT custseg_kmeans_fit(ARRAY[x, y], 2, '{"seed": 1}') AS m FROM ef;
SELECT err($q$SELECT custseg_transform(m, ARRAY[1.0]) FROM ef_vec$q$);
SELECT err($q$SELECT custseg_predict(m, ARRAY[1.0, 2.0, 3.0]) FROM ef_vec$q$);
SELECT err($q$SELECT custseg_predict(m, ARRAY[[1.0, 2.0]]) FROM ef_vec$q$);
SELECT err($q$SELECT custseg_predict(m, ARRAY['NaN', 2.0]::float8[]) FROM ef_vec$q$);
-- A NULL element is imputed like a NULL column; a NULL vector gives NULL.
SELECT custseg_predict(m, ARRAY[NULL, 2.0]::float8[]) IS NOT NULL AS imputed, custseg_predict(m, NULL::float8[]) IS NULL AS null_in
FROM ef_vec;
SELECT err($q$SELECT custseg_predict(custseg_fit(t), ARRAY[1.0, 2.0, 3.0]) FROM ef t$q$);

-- ---- The aggregate's support functions called by hand ----
SELECT err($q$SELECT custseg_fit_combinefn('\x00'::bytea, '\x00'::bytea)$q$);
SELECT err($q$SELECT custseg_fit_finalfn('\x00'::bytea)$q$);
SELECT err($q$SELECT custseg_fit_finalfn(decode(repeat('ff', 400), 'hex'))$q$);
SELECT err($q$SELECT custseg_evaluate_state('\x0102'::bytea, 2, 3)$q$);
SELECT err($q$SELECT custseg_evaluate_state(decode(repeat('00', 4000), 'hex'), 2, 3)$q$);
SELECT err($q$SELECT custseg_evaluate_state(s, 2, 3) FROM (SELECT substr(custseg_fit_state(t, '{"k": 3}'), 1, 200) AS s FROM ef t) x$q$);
SELECT err($q$SELECT custseg_evaluate_state(s, 1, 3) FROM (SELECT custseg_fit_state(t, '{"k": 3}') AS s FROM ef t) x$q$);
SELECT err($q$SELECT custseg_evaluate_state(s, 2, 40) FROM (SELECT custseg_fit_state(t, '{"k": 40}') AS s FROM (SELECT x, y FROM ef) t) x$q$);
-- A state with one byte changed, every 13th byte in turn: rejected (22P03), trained, or a changed
-- statistic too large to standardize (22003), never a crash or an internal error.
CREATE TABLE ef_state AS SELECT custseg_fit_state(t, '{"k": 3}') AS s FROM (SELECT x, y, c FROM ef) t;
SELECT count(*) > 500 AS many_corruptions, bool_and(r = 'no error' OR r LIKE '22P03:%' OR r LIKE '22003:%') AS each_rejected_or_trained
FROM ef_state, LATERAL (
  SELECT err(format('SELECT custseg_fit_finalfn(%L::bytea)', set_byte(s, p, get_byte(s, p) # 90))) AS r
  FROM generate_series(4, length(s) - 1, 13) p) x;
-- A user aggregate over the transition function with a crafted initial state: the state's reservoir
-- is moved onto its header (bytes 236..243 of the bytea), where rows would rewrite the offsets.
DO $$
DECLARE s bytea;
BEGIN
  SELECT ef_state.s INTO s FROM ef_state;
  s := set_byte(s, 236, 16);
  FOR i IN 237 .. 243 LOOP s := set_byte(s, i, 0); END LOOP;
  EXECUTE format('CREATE AGGREGATE ef_crafted(record) (SFUNC = custseg_fit_transfn, STYPE = bytea, INITCOND = %L)',
                 '\x' || encode(s, 'hex'));
END $$;
SELECT err($q$SELECT length(ef_crafted(t)) FROM (SELECT x, y, c FROM ef) t$q$);
DROP AGGREGATE ef_crafted(record);
-- The same with a sample entry's category id (the state's last 8 bytes) past the levels: the rows
-- repeat that entry's numbers, so a compaction would compare the two by their category texts.
CREATE TABLE ef_same AS SELECT 12345.678::float8 AS x, 'a'::text AS c FROM generate_series(1, 37);
DO $$
DECLARE s bytea;
BEGIN
  SELECT custseg_fit_state(t, '{"k": 1, "sample_size": 1}') INTO s FROM (SELECT * FROM ef_same LIMIT 17) t;
  s := overlay(s placing float8send(1e9) from length(s) - 7 for 8);
  EXECUTE format('CREATE AGGREGATE ef_crafted(record, jsonb) (SFUNC = custseg_fit_transfn, STYPE = bytea, INITCOND = %L)',
                 '\x' || encode(s, 'hex'));
END $$;
SELECT err($q$SELECT length(ef_crafted(t, '{"k": 1, "sample_size": 1}')) FROM ef_same t$q$);
DROP AGGREGATE ef_crafted(record, jsonb);
DROP TABLE ef_same;
-- Crafted initial states for the other transitions, each an error and never a crash or a hang:
-- custseg_fit_values given values of other types than its state's features (a number read as a
-- text pointer) ...
DO $$
DECLARE s bytea;
BEGIN
  SELECT custseg_fit_values_state('{}'::jsonb, ARRAY['c'], 'a'::text) INTO s;
  EXECUTE format('CREATE AGGREGATE ef_values(jsonb, text[], VARIADIC "any") (SFUNC = custseg_fit_values_transfn, STYPE = bytea, INITCOND = %L)',
                 '\x' || encode(s, 'hex'));
END $$;
SELECT err($q$SELECT length(ef_values('{}'::jsonb, ARRAY['c'], 42::bigint))$q$);
SELECT err($q$SELECT length(ef_values('{}'::jsonb, ARRAY['c'], 1.5::float8))$q$);
SELECT err($q$SELECT length(ef_values('{}'::jsonb, ARRAY['c'], 'b'::text)) > 0$q$);
DROP AGGREGATE ef_values(jsonb, text[], "any");
-- ... a level hash index whose every slot holds level 0 (no empty slot to end a probe): rebuilt
-- from the levels, so a new level is added ...
DO $$
DECLARE s bytea; o int;
BEGIN
  SELECT custseg_fit_values_state('{}'::jsonb, ARRAY['c'], 'a'::text) INTO s;
  o := get_byte(s, 212) + 256 * get_byte(s, 213) + 65536 * get_byte(s, 214);  -- the index's offset
  s := overlay(s placing decode(repeat('01000000', 16), 'hex') from o - 3 for 64);
  EXECUTE format('CREATE AGGREGATE ef_values(jsonb, text[], VARIADIC "any") (SFUNC = custseg_fit_values_transfn, STYPE = bytea, INITCOND = %L)',
                 '\x' || encode(s, 'hex'));
END $$;
SELECT err($q$SELECT custseg_features(custseg_fit_finalfn(ef_values('{}'::jsonb, ARRAY['c'], c)))::text
              FROM (VALUES ('b'::text), ('a')) v(c)$q$);
DROP AGGREGATE ef_values(jsonb, text[], "any");
-- ... a sample size far beyond what the state's width allows (the final step's matrices would
-- hold 2^33 rows) ...
DO $$
DECLARE s bytea; n bytea := '\x0000000002000000';
BEGIN
  SELECT custseg_fit_values_state('{"k": 1, "n_components": null}'::jsonb, ARRAY['x'], 1.0::float8) INTO s;
  s := overlay(s placing n from 77 for 8);  -- sample_size
  s := overlay(s placing n from 85 for 8);  -- rows seen
  CREATE TEMP TABLE ef_big AS SELECT s;
END $$;
SELECT err($q$SELECT custseg_fit_finalfn(s) IS NOT NULL FROM ef_big$q$);
DROP TABLE ef_big;
-- ... and a state with a category given to the float8[] stages, which read numbers only.
DO $$
DECLARE s bytea;
BEGIN
  SELECT custseg_fit_values_state('{}'::jsonb, ARRAY['x', 'c'], 1.0::float8, 'a'::text) INTO s;
  EXECUTE format('CREATE AGGREGATE ef_vector(float8[], integer) (SFUNC = custseg_pca_fit_transfn, STYPE = bytea, INITCOND = %L)',
                 '\x' || encode(s, 'hex'));
END $$;
SELECT err($q$SELECT length(ef_vector(ARRAY[1.0, 2.0]::float8[], 1))$q$);
DROP AGGREGATE ef_vector(float8[], integer);
-- A real state as INITCOND, continued over the rest of a table: the same segments as one training
-- over the whole table. The state is of 50 numbers and a category over 256 rows, so that its
-- compact form holds 256 pending rows in room for 256 (its running room was larger): the next row
-- folds them before it is written, not past them.
DO $$
BEGIN
  EXECUTE 'CREATE TABLE ef_wide AS SELECT i, '
    || (SELECT string_agg(format('((i * %s) %% 97)::float8 + (i %% 3) * 200 AS x%s', j, j), ', ') FROM generate_series(1, 50) j)
    || ', (ARRAY[''a'', ''b'', ''c''])[1 + i % 3] AS c FROM generate_series(1, 300) i';
END $$;
CREATE TABLE ef_wide_state AS
SELECT custseg_fit_state(t, '{"k": 3, "exclude": ["i"]}') AS s FROM (SELECT * FROM ef_wide WHERE i <= 256) t;
SELECT get_byte(s, 32) + 256 * get_byte(s, 33) AS pending_rows FROM ef_wide_state;
DO $$
BEGIN
  EXECUTE format('CREATE AGGREGATE ef_continue(record, jsonb) (SFUNC = custseg_fit_transfn, STYPE = bytea, '
                 'FINALFUNC = custseg_fit_finalfn, INITCOND = %L)', (SELECT '\x' || encode(s, 'hex') FROM ef_wide_state));
END $$;
WITH continued AS (SELECT ef_continue(t, '{"k": 3, "exclude": ["i"]}') AS m FROM (SELECT * FROM ef_wide WHERE i > 256) t),
     whole AS (SELECT custseg_fit(t, '{"k": 3, "exclude": ["i"]}') AS m FROM ef_wide t)
SELECT count(*) AS rows, count(*) FILTER (WHERE custseg_predict(continued.m, w) IS DISTINCT FROM custseg_predict(whole.m, w)) AS other_segment
FROM continued, whole, ef_wide w;
DROP AGGREGATE ef_continue(record, jsonb);
DROP TABLE ef_wide, ef_wide_state;
