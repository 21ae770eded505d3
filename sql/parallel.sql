-- A parallel plan (partial aggregation with the combine function) gives the serial model.
\set VERBOSITY terse
SELECT setseed(0.17);
CREATE TABLE par AS
SELECT i AS id, (i % 4) * 10 + random() * 3 AS a, (i % 4) * -5 + random() * 2 AS b,
       CASE WHEN i % 13 = 0 THEN NULL ELSE random() * 100 END AS c,
       (ARRAY['x', 'y', 'z', 'w'])[1 + i % 4] AS cat,
       CASE WHEN i % 17 = 0 THEN NULL ELSE 'g' || (i % 5) END AS grp
FROM generate_series(1, 20000) i;
ANALYZE par;

SET max_parallel_workers_per_gather = 0;
CREATE TABLE par_serial AS SELECT custseg_fit(t, '{"exclude": ["id"], "k": 4, "seed": 3}') AS m FROM par t;

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
-- force_parallel_mode is called debug_parallel_query from PostgreSQL 16 on.
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query'
            ELSE 'force_parallel_mode' END AS force_parallel \gset
SET :force_parallel = on;
EXPLAIN (COSTS OFF) SELECT custseg_fit(t, '{"exclude": ["id"], "k": 4, "seed": 3}') FROM par t;
CREATE TABLE par_parallel AS SELECT custseg_fit(t, '{"exclude": ["id"], "k": 4, "seed": 3}') AS m FROM par t;
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- Statistics within 1e-9 (relative); every row seen once; same centroids.
CREATE FUNCTION max_rel_diff(a jsonb, b jsonb) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT max(abs(x::float8 - y::float8) / greatest(abs(x::float8), abs(y::float8), 1e-300))
  FROM jsonb_array_elements_text(jsonb_path_query_array(a, 'strict $.** ? (@.type() == "number")'))
         WITH ORDINALITY AS p(x, i)
  JOIN jsonb_array_elements_text(jsonb_path_query_array(b, 'strict $.** ? (@.type() == "number")'))
         WITH ORDINALITY AS q(y, j) ON i = j
$$;
SELECT custseg_model_json(s.m)->'training'->'rows_used' AS serial_rows,
       custseg_model_json(p.m)->'training'->'rows_used' AS parallel_rows,
       max_rel_diff(custseg_model_json(s.m)->'scaler', custseg_model_json(p.m)->'scaler') < 1e-9 AS scaler_same,
       max_rel_diff(custseg_model_json(s.m)->'pca', custseg_model_json(p.m)->'pca') < 1e-9 AS pca_same,
       max_rel_diff(custseg_model_json(s.m)->'kmeans'->'centroids', custseg_model_json(p.m)->'kmeans'->'centroids') < 1e-9 AS centroids_same,
       jsonb_path_query_array(custseg_model_json(s.m), '$.features[*].name') =
         jsonb_path_query_array(custseg_model_json(p.m), '$.features[*].name')
       AND jsonb_path_query_array(custseg_model_json(s.m), '$.features[*].levels') =
         jsonb_path_query_array(custseg_model_json(p.m), '$.features[*].levels')
       AND max_rel_diff(custseg_model_json(s.m)->'features', custseg_model_json(p.m)->'features') < 1e-9 AS features_same
FROM par_serial s, par_parallel p;

-- Rows in shuffled order give the same centroids as well: k-means sees the rows in a canonical order.
SET max_parallel_workers_per_gather = 0;
SELECT max_rel_diff(custseg_model_json(s.m)->'kmeans'->'centroids',
                    custseg_model_json((SELECT custseg_fit(t, '{"exclude": ["id"], "k": 4, "seed": 3}')
                                        FROM (SELECT * FROM par ORDER BY md5(id::text)) t))->'kmeans'->'centroids') < 1e-9
       AS shuffled_same
FROM par_serial s;
