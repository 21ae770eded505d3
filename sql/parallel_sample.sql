-- Above sample_size, k-means runs on a bottom-k sample (the rows of smallest seeded content hash),
-- which depends on the set of rows alone: a serial plan, a parallel plan (rows split among
-- workers in whatever way the scan hands them out), a shuffled scan and the jsonb form give the
-- same sample, so the same centroids and every row the same segment.
\set VERBOSITY terse
SELECT setseed(0.29);
CREATE TABLE ps AS
SELECT i AS id, (i % 3) * 10 + random() * 6 AS a, (i % 3) * -4 + random() * 5 AS b,
       CASE WHEN i % 11 = 0 THEN NULL ELSE round(random() * 20) END AS c,
       (ARRAY['x', 'y', 'z'])[1 + (i / 7) % 3] AS cat
FROM generate_series(1, 30000) i;
ANALYZE ps;
CREATE FUNCTION ps_rel_diff(a jsonb, b jsonb) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT max(abs(x::float8 - y::float8) / greatest(abs(x::float8), abs(y::float8), 1e-300))
  FROM jsonb_array_elements_text(jsonb_path_query_array(a, 'strict $.** ? (@.type() == "number")'))
         WITH ORDINALITY AS p(x, i)
  JOIN jsonb_array_elements_text(jsonb_path_query_array(b, 'strict $.** ? (@.type() == "number")'))
         WITH ORDINALITY AS q(y, j) ON i = j
$$;

SET max_parallel_workers_per_gather = 0;
CREATE TABLE ps_models AS
SELECT 'serial' AS plan, custseg_fit(t, '{"exclude": ["id"], "k": 3, "seed": 8, "sample_size": 1500}') AS m FROM ps t
UNION ALL
SELECT 'shuffled', custseg_fit(t, '{"exclude": ["id"], "k": 3, "seed": 8, "sample_size": 1500}')
FROM (SELECT * FROM ps ORDER BY md5(id::text)) t
UNION ALL
SELECT 'jsonb', custseg_fit(to_jsonb(t), '{"exclude": ["id"], "k": 3, "seed": 8, "sample_size": 1500}') FROM ps t;

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
-- force_parallel_mode is called debug_parallel_query from PostgreSQL 16 on.
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query'
            ELSE 'force_parallel_mode' END AS force_parallel \gset
SET :force_parallel = on;
EXPLAIN (COSTS OFF) SELECT custseg_fit(t, '{"exclude": ["id"], "k": 3, "seed": 8, "sample_size": 1500}') FROM ps t;
INSERT INTO ps_models
SELECT 'parallel', custseg_fit(t, '{"exclude": ["id"], "k": 3, "seed": 8, "sample_size": 1500}') FROM ps t;
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- k-means saw 1,500 of the 30,000 rows in every plan; the same statistics and centroids.
SELECT o.plan,
       custseg_model_json(o.m)->'training'->>'rows_used' AS rows_used,
       custseg_model_json(o.m)->'training'->>'rows_clustered' AS rows_clustered,
       ps_rel_diff(custseg_model_json(s.m)->'scaler', custseg_model_json(o.m)->'scaler') < 1e-9 AS scaler_same,
       ps_rel_diff(custseg_model_json(s.m)->'pca', custseg_model_json(o.m)->'pca') < 1e-9 AS pca_same,
       ps_rel_diff(custseg_model_json(s.m)->'kmeans'->'centroids',
                   custseg_model_json(o.m)->'kmeans'->'centroids') < 1e-9 AS centroids_same
FROM ps_models s, ps_models o
WHERE s.plan = 'serial'
ORDER BY o.plan;

-- Every row gets the same segment from every model.
SELECT o.plan, count(*) FILTER (WHERE custseg_predict(s.m, t) <> custseg_predict(o.m, t)) AS rows_differing
FROM ps_models s, ps_models o, ps t
WHERE s.plan = 'serial' AND o.plan <> 'serial'
GROUP BY o.plan
ORDER BY o.plan;

-- Another seed draws another sample (the hash is seeded), still of 1,500 rows.
SELECT custseg_model_json(m)->'training'->>'rows_clustered' AS rows_clustered,
       ps_rel_diff(custseg_model_json(m)->'kmeans'->'centroids',
                   custseg_model_json((SELECT m FROM ps_models WHERE plan = 'serial'))->'kmeans'->'centroids') > 0
         AS other_centroids
FROM (SELECT custseg_fit(t, '{"exclude": ["id"], "k": 3, "seed": 9, "sample_size": 1500}') AS m FROM ps t) x;

-- A state as it leaves a scan (a parallel worker's or a Citus shard's partial, here read back as
-- bytea) carries no unused sample room: one more row adds exactly one sample entry, 8 bytes per
-- feature column plus 16 (hash and count); the rows are also counted.
SELECT (SELECT length(custseg_fit_state(t, '{"k": 3}')) FROM (SELECT a, b, cat FROM ps WHERE id <= 101) t)
     - (SELECT length(custseg_fit_state(t, '{"k": 3}')) FROM (SELECT a, b, cat FROM ps WHERE id <= 100) t)
       AS bytes_per_row;

DROP TABLE ps, ps_models;
DROP FUNCTION ps_rel_diff(jsonb, jsonb);
