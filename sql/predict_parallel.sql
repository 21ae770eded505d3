-- Scoring a million rows: a parallel plan gives the same counts per segment as a serial one.
\set VERBOSITY terse
SELECT setseed(0.5);
CREATE TABLE million (id bigint PRIMARY KEY, age int, income float8, spending float8, channel text);
INSERT INTO million
SELECT i, 20 + (i % 3) * 20 + (random() * 10)::int, 20 + (i % 3) * 40 + random() * 15,
       CASE WHEN i % 101 = 0 THEN NULL ELSE 90 - (i % 3) * 30 + random() * 10 END,
       (ARRAY['web', 'store', 'app', NULL])[1 + i % 4]
FROM generate_series(1, 1000000) i;
ANALYZE million;
SELECT name, version, (metrics ->> 'rows_used')::bigint AS rows_used
FROM custseg_train('million', 'million', k => 3, options => '{"seed": 1, "n_init": 2, "sample_size": 50000}');

-- Serial.
SET max_parallel_workers_per_gather = 0;
EXPLAIN (COSTS OFF) SELECT count(*) FROM million c WHERE custseg_predict(c) IS NOT NULL;
CREATE TEMP TABLE serial_counts AS
SELECT custseg_predict(c) AS segment, count(*) AS n FROM million c GROUP BY 1;

-- Parallel, whenever the planner is allowed to.
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT count(*) FROM million c WHERE custseg_predict(c) IS NOT NULL;
SELECT count(*) FROM million c WHERE custseg_predict(c) IS NOT NULL;
-- The workers really ran, and scored rows.
CREATE FUNCTION workers_launched(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO plan;
    RETURN (jsonb_path_query_first(plan, 'strict $.**."Workers Launched"'))::int;
END $$;
SELECT workers_launched('SELECT count(*) FROM million c WHERE custseg_predict(c) IS NOT NULL') > 0 AS workers_ran;
EXPLAIN (COSTS OFF) SELECT custseg_predict(c) AS segment, count(*) AS n FROM million c GROUP BY 1;
CREATE TEMP TABLE parallel_counts AS
SELECT custseg_predict(c) AS segment, count(*) AS n FROM million c GROUP BY 1;
-- By name, and through the jsonb form, in parallel too.
CREATE TEMP TABLE parallel_named AS
SELECT custseg_predict(c, 'million') AS segment, count(*) AS n FROM million c GROUP BY 1;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

SELECT segment, n FROM serial_counts ORDER BY segment;
SELECT (SELECT count(*) FROM (SELECT * FROM serial_counts EXCEPT SELECT * FROM parallel_counts) d) = 0
       AND (SELECT count(*) FROM (SELECT * FROM parallel_counts EXCEPT SELECT * FROM serial_counts) d) = 0
       AND (SELECT count(*) FROM (SELECT * FROM parallel_named EXCEPT SELECT * FROM serial_counts) d) = 0
       AS parallel_equals_serial,
       (SELECT sum(n) FROM parallel_counts) AS rows_scored;
DROP TABLE million CASCADE;
DROP FUNCTION workers_launched(text);
DELETE FROM custseg_segments WHERE model = 'million';
DELETE FROM custseg_models WHERE name = 'million';
