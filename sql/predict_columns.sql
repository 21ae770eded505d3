-- custseg_predict(model, row), custseg_predict(row, name) and custseg_predict(row) on a table's
-- whole-row reference are rewritten by the planner into custseg_predict_columns, which reads the
-- columns the scan already has instead of a row formed for the call. Every case compares it with the whole-row form, kept
-- by scoring the rows of a subquery (OFFSET 0), whose whole-row reference is not a table's.
SET extra_float_digits = 0;
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;  -- the plans below are serial on every version

CREATE TYPE pc_tier AS ENUM ('bronze', 'silver', 'gold');
CREATE DOMAIN pc_score AS float8 CHECK (VALUE >= 0);
CREATE TABLE pc_typed (
  id int,
  gone_first text,
  i2 int2,
  i4 int4,
  i8 int8,
  f4 float4,
  gone_mid float8,
  f8 float8,
  num numeric,
  flag bool,
  dom pc_score,
  parsed text,
  region varchar(10),
  code char(4),
  tier pc_tier,
  "Mixed Case" text
);
INSERT INTO pc_typed
SELECT i, 'x',
       NULLIF(i % 17, 3)::int2,
       CASE WHEN i % 11 = 4 THEN NULL ELSE i * 7 % 101 END,
       CASE WHEN i % 13 = 6 THEN NULL ELSE (i * 31 % 1000)::int8 * 1000000000 END,
       CASE WHEN i % 7 = 2 THEN NULL ELSE (i % 23) / 4.0 END,
       i * 0.5,
       CASE WHEN i % 9 = 5 THEN NULL ELSE sqrt(i) END,
       CASE WHEN i % 8 = 1 THEN NULL ELSE round(i / 3.0, 4) END,
       CASE WHEN i % 10 = 7 THEN NULL ELSE i % 3 = 0 END,
       CASE WHEN i % 12 = 0 THEN NULL ELSE (i % 19)::float8 END,
       CASE WHEN i % 14 = 3 THEN NULL ELSE ((i % 29) * 2)::text END,
       CASE WHEN i % 6 = 5 THEN NULL ELSE (ARRAY['north', 'south', 'east'])[1 + i % 3] END,
       CASE WHEN i % 15 = 8 THEN NULL ELSE (ARRAY['ab', 'abc', 'a'])[1 + i % 3] END,
       CASE WHEN i % 16 = 9 THEN NULL ELSE (ARRAY['bronze', 'silver', 'gold'])[1 + i % 3]::pc_tier END,
       -- a long category, kept out of line (TOAST) and not compressed
       CASE WHEN i % 4 = 0 THEN (SELECT string_agg(md5((i * 100 + j)::text), '') FROM generate_series(1, 80) j)
            ELSE 'short ' || (i % 2) END
FROM generate_series(1, 240) i;
ALTER TABLE pc_typed DROP COLUMN gone_first, DROP COLUMN gone_mid;
INSERT INTO pc_typed (id) VALUES (241);  -- every feature NULL: no segment
INSERT INTO pc_typed (id, i4, region, tier) VALUES (242, 5, 'east', 'gold');
SELECT count(*) FILTER (WHERE pg_column_size("Mixed Case") > 2000) AS long_categories FROM pc_typed;

CREATE TABLE pc_models AS
SELECT custseg_fit(t, '{"exclude": ["id"], "numeric": ["parsed"], "k": 3, "seed": 1}') AS m,
       custseg_fit(t, '{"exclude": ["id"], "numeric": ["parsed"], "k": 3, "seed": 1, "n_components": null}') AS flat
FROM pc_typed t;
SELECT custseg_train('pc_model', 'pc_typed', 3, options => '{"exclude": ["id"], "numeric": ["parsed"], "seed": 1}') IS NOT NULL AS trained;

-- The plans: the table's rows are scored from their columns; a subquery's keep the whole row.
EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_predict(m.m, t) FROM pc_typed t, pc_models m;
EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_predict(t, 'pc_model') FROM pc_typed t;
EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_predict(t) FROM pc_typed t;
EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_predict(m.m, s) FROM (SELECT * FROM pc_typed OFFSET 0) s, pc_models m;

-- Grouping by the segment keeps the whole-row call: the planner estimates an expression's groups
-- from the columns it reads, and would take a call on every column (an id among them) for one
-- group per row. Aggregating the segments does not group by the call, and reads the columns.
EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_predict(t, 'pc_model') AS segment, count(*) FROM pc_typed t GROUP BY 1;
EXPLAIN (VERBOSE, COSTS OFF) SELECT DISTINCT custseg_predict(t, 'pc_model') FROM pc_typed t;
EXPLAIN (VERBOSE, COSTS OFF) SELECT region, count(custseg_predict(t, 'pc_model')) FROM pc_typed t GROUP BY region;

-- The same segments as the whole-row form, row by row, for both models and the named one.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE custseg_predict(m.m, t) IS NOT DISTINCT FROM
                              (SELECT custseg_predict(m.m, s) FROM (SELECT * FROM pc_typed OFFSET 0) s WHERE s.id = t.id)) AS same_pca,
       count(*) FILTER (WHERE custseg_predict(m.flat, t) IS NOT DISTINCT FROM
                              (SELECT custseg_predict(m.flat, s) FROM (SELECT * FROM pc_typed OFFSET 0) s WHERE s.id = t.id)) AS same_flat,
       count(*) FILTER (WHERE custseg_predict(t, 'pc_model') IS NOT DISTINCT FROM
                              (SELECT custseg_predict(s, 'pc_model') FROM (SELECT * FROM pc_typed OFFSET 0) s WHERE s.id = t.id)) AS same_named,
       count(*) FILTER (WHERE custseg_predict(t) IS NOT DISTINCT FROM custseg_predict(t, 'pc_model')) AS same_by_table,
       count(*) FILTER (WHERE custseg_predict(m.m, t) IS NULL) AS no_segment
FROM pc_typed t, pc_models m;

-- The nullable side of an outer join: a missing row has no segment, as under the whole-row form.
CREATE TABLE pc_ids AS SELECT i AS id FROM generate_series(230, 250) i;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT i.id, custseg_predict(m.m, t) FROM pc_ids i LEFT JOIN pc_typed t ON t.id = i.id, pc_models m;
SELECT i.id, custseg_predict(m.m, t) AS segment,
       custseg_predict(m.m, t) IS NOT DISTINCT FROM
         (SELECT custseg_predict(m.m, s) FROM (SELECT * FROM pc_typed OFFSET 0) s WHERE s.id = i.id) AS same
FROM pc_ids i LEFT JOIN pc_typed t ON t.id = i.id, pc_models m
ORDER BY i.id;

-- A partitioned table, each partition's columns in its own order, one with a dropped column.
CREATE TABLE pc_parts (id int, region varchar(10), f8 float8, i4 int4) PARTITION BY RANGE (id);
CREATE TABLE pc_part_a (i4 int4, gone int, f8 float8, id int, region varchar(10));
ALTER TABLE pc_part_a DROP COLUMN gone;
ALTER TABLE pc_parts ATTACH PARTITION pc_part_a FOR VALUES FROM (1) TO (121);
CREATE TABLE pc_part_b PARTITION OF pc_parts FOR VALUES FROM (121) TO (1000);
INSERT INTO pc_parts SELECT id, region, f8, i4 FROM pc_typed;
CREATE TABLE pc_small_model AS SELECT custseg_fit(t, '{"exclude": ["id"], "k": 2, "seed": 2}') AS m FROM pc_parts t;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE custseg_predict(m.m, t) IS NOT DISTINCT FROM
                              (SELECT custseg_predict(m.m, s) FROM (SELECT * FROM pc_parts OFFSET 0) s WHERE s.id = t.id)) AS same
FROM pc_parts t, pc_small_model m;

-- A prepared query after the table's columns change is planned again and reads the new columns.
PREPARE pc_q AS SELECT count(custseg_predict(m.m, t)) AS scored FROM pc_parts t, pc_small_model m;
EXECUTE pc_q;
ALTER TABLE pc_parts ADD COLUMN extra int;
EXECUTE pc_q;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE pc_q;
DEALLOCATE pc_q;

-- The errors are the whole-row form's.
SELECT custseg_predict(p) FROM pc_parts p LIMIT 1;  -- no model trained on the table
CREATE TABLE pc_bad (id int, f8 float8, region varchar(10), i4 int);
INSERT INTO pc_bad VALUES (1, 'Infinity', 'east', 3);
SELECT custseg_predict(m.m, b) FROM pc_bad b, pc_small_model m;
SELECT custseg_predict(m.m, s) FROM (SELECT * FROM pc_bad OFFSET 0) s, pc_small_model m;
CREATE TABLE pc_short (id int, region varchar(10));
INSERT INTO pc_short VALUES (1, 'east');
SELECT custseg_predict(m.m, b) FROM pc_short b, pc_small_model m;
CREATE TABLE pc_text (id int, f8 text, region text, i4 text);
INSERT INTO pc_text VALUES (1, 'lots', 'east', '3');
SELECT custseg_predict(m.m, b) FROM pc_text b, pc_small_model m;
SELECT custseg_predict(m.m, s) FROM (SELECT * FROM pc_text OFFSET 0) s, pc_small_model m;

-- Wider than a call's arguments: the whole-row form stays, with the same segments.
SELECT format('CREATE TABLE pc_wide (%s)', string_agg(format('c%s float8', i), ', ')) FROM generate_series(1, 120) i \gexec
INSERT INTO pc_wide (c1, c2) SELECT i % 7, i % 3 FROM generate_series(1, 50) i;
CREATE TABLE pc_wide_model AS SELECT custseg_fit(w, '{"k": 2, "seed": 1}') AS m
FROM (SELECT c1, c2 FROM pc_wide) w;
EXPLAIN (VERBOSE, COSTS OFF) SELECT custseg_predict(m.m, w) FROM pc_wide w, pc_wide_model m;
SELECT count(custseg_predict(m.m, w)) AS scored FROM pc_wide w, pc_wide_model m;

-- Called directly, the column form wants one name per column and the columns as arguments.
SELECT custseg_predict_columns(m.m, '{f8, region, i4}', 1.5::float8, 'east'::text, 3) AS direct FROM pc_small_model m;
SELECT custseg_predict_columns(m.m, '{f8, region}', 1.5::float8, 'east'::text, 3) FROM pc_small_model m;
SELECT custseg_predict_columns(m.m, '{f8}', VARIADIC ARRAY[1.5::float8]) FROM pc_small_model m;
SELECT custseg_predict_columns(NULL::custseg_model, '{f8}', 1.5::float8) IS NULL AS null_model;

-- A condition on the call over an outer join's nullable side keeps the whole-row (strict) call, so
-- the planner still makes the join an inner one; in the select list the call is rewritten.
CREATE FUNCTION pc_plan(q text, OUT outer_join boolean, OUT whole_row boolean, OUT columns boolean)
LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  outer_join := false; whole_row := false; columns := false;
  FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
    outer_join := outer_join OR l ~ '(Left|Right|Full|Anti) Join';
    whole_row := whole_row OR l ~ 'custseg_predict\(';
    columns := columns OR l ~ 'custseg_predict_columns\(';
  END LOOP;
END $$;
SELECT * FROM pc_plan('SELECT i.id FROM pc_ids i LEFT JOIN pc_typed t ON t.id = i.id, pc_small_model m
                       WHERE custseg_predict(m.m, t) = 0');
SELECT * FROM pc_plan('SELECT i.id FROM pc_ids i LEFT JOIN pc_parts t ON t.id = i.id, pc_small_model m
                       WHERE custseg_predict(m.m, t) = 0');
SELECT * FROM pc_plan('SELECT i.id, custseg_predict(m.m, t) FROM pc_ids i LEFT JOIN pc_parts t ON t.id = i.id, pc_small_model m');
SELECT count(*) AS rows FROM pc_ids i LEFT JOIN pc_parts t ON t.id = i.id, pc_small_model m
WHERE custseg_predict(m.m, t) IS NOT NULL;

-- An index on the column form's expression serves the rewritten call (the same expression,
-- collations included).
CREATE TABLE pc_ix AS SELECT i AS id, (i % 10)::float8 AS x, 'r' || (i % 3) AS r FROM generate_series(1, 2000) i;
CREATE TABLE pc_ix_model AS SELECT custseg_fit(t, '{"exclude": ["id"], "k": 3, "seed": 1}') AS m FROM pc_ix t;
\set ECHO none
SELECT format('CREATE INDEX pc_ix_seg ON pc_ix ((custseg_predict_columns(%L::custseg_model, ''{id,x,r}''::text[], id, x, r)))', m)
FROM pc_ix_model \gexec
\set ECHO all
ANALYZE pc_ix;
CREATE FUNCTION pc_uses_index(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE l text; found boolean := false;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    found := found OR l ~ 'Index Scan';
  END LOOP;
  RETURN found;
END $$;
SET enable_seqscan = off;
-- (the statements built below hold the model's text, which is not shown)
\set ECHO none
SELECT format('SELECT pc_uses_index(%L) AS uses_index', format('SELECT count(*) FROM pc_ix t WHERE custseg_predict(%L::custseg_model, t) = 1', m))
FROM pc_ix_model \gexec
\set ECHO all
SELECT count(*) FILTER (WHERE custseg_predict(m.m, t) = 1) AS indexed_rows FROM pc_ix t, pc_ix_model m;
RESET enable_seqscan;

-- EXECUTE on custseg_predict is what a call needs, rewritten or not: revoked, the call is refused
-- (also by a plan prepared before); revoked on the column form alone, the whole-row call runs.
CREATE ROLE regress_pc_user;
GRANT SELECT ON pc_parts, pc_small_model TO regress_pc_user;
PREPARE pc_priv AS SELECT count(custseg_predict(m.m, t)) AS scored FROM pc_parts t, pc_small_model m;
EXECUTE pc_priv;
REVOKE EXECUTE ON FUNCTION custseg_predict(custseg_model, record) FROM PUBLIC;
SET ROLE regress_pc_user;
EXECUTE pc_priv;
SELECT count(custseg_predict(m.m, t)) FROM pc_parts t, pc_small_model m;
RESET ROLE;
GRANT EXECUTE ON FUNCTION custseg_predict(custseg_model, record) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION custseg_predict_columns(custseg_model, text[], "any") FROM PUBLIC;
SET ROLE regress_pc_user;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE pc_priv;
EXECUTE pc_priv;
SELECT custseg_predict_columns(m.m, '{f8}', 1.5::float8) FROM pc_small_model m;
RESET ROLE;
GRANT EXECUTE ON FUNCTION custseg_predict_columns(custseg_model, text[], "any") TO PUBLIC;
DEALLOCATE pc_priv;
DROP OWNED BY regress_pc_user;
DROP ROLE regress_pc_user;
