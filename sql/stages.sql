-- Stage aggregates chained by custseg_transform, the jsonb form, dedupe, and cancellation.
\set VERBOSITY terse

CREATE FUNCTION max_abs_diff(a jsonb, b jsonb) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT max(abs(x::float8 - y::float8))
  FROM jsonb_array_elements_text(jsonb_path_query_array(a, 'strict $.** ? (@.type() == "number")'))
         WITH ORDINALITY AS p(x, i)
  JOIN jsonb_array_elements_text(jsonb_path_query_array(b, 'strict $.** ? (@.type() == "number")'))
         WITH ORDINALITY AS q(y, j) ON i = j
$$;

-- scaler -> transform -> PCA -> transform -> k-means equals the one-shot pipeline.
CREATE TABLE chain AS
WITH s AS (SELECT custseg_scaler_fit(p, '{"exclude": ["id", "truth"]}') AS m FROM planted p),
     c AS (SELECT custseg_pca_fit(custseg_transform(s.m, p), 2) AS m FROM planted p, s),
     k AS (SELECT custseg_kmeans_fit(custseg_transform(c.m, custseg_transform(s.m, p)), 3, '{"seed": 9}') AS m
           FROM planted p, s, c),
     f AS (SELECT custseg_fit(p, '{"exclude": ["id", "truth"], "seed": 9}') AS m FROM planted p)
SELECT s.m AS scaler, c.m AS pca, k.m AS kmeans, f.m AS whole FROM s, c, k, f;

SELECT custseg_model_json(scaler)->'pca' AS scaler_pca, custseg_model_json(scaler)->'kmeans' AS scaler_kmeans,
       max_abs_diff(custseg_model_json(scaler)->'scaler', custseg_model_json(whole)->'scaler') < 1e-12 AS same_scaler,
       max_abs_diff(custseg_model_json(pca)->'pca'->'explained_variance',
                    custseg_model_json(whole)->'pca'->'explained_variance') < 1e-9 AS same_variance,
       max_abs_diff(custseg_model_json(kmeans)->'kmeans'->'centroids',
                    custseg_model_json(whole)->'kmeans'->'centroids') < 1e-9 AS same_centroids,
       abs((custseg_model_json(kmeans)->'training'->>'inertia')::float8
           - (custseg_model_json(whole)->'training'->>'inertia')::float8) < 1e-9 AS same_inertia
FROM chain;
SELECT custseg_model_json(pca)->'columns' AS pca_inputs, custseg_model_json(kmeans)->'columns' AS kmeans_inputs FROM chain;

-- Every row lands in the same segment either way.
SELECT count(*) AS disagreements FROM planted p, chain
WHERE custseg_predict(whole, p) <> custseg_predict(kmeans, custseg_transform(pca, custseg_transform(scaler, p)));

-- The PCA stage does not standardize its input: its scaler is the identity.
SELECT custseg_model_json(pca)->'scaler'->'scale' AS pca_scale FROM chain;

-- The jsonb form: the object's keys are the columns (in jsonb's key order), same model otherwise.
CREATE TABLE jb AS SELECT custseg_fit(to_jsonb(p), '{"exclude": ["id", "truth"], "seed": 9}') AS m FROM planted p;
SELECT custseg_model_json(m)->'columns' AS columns FROM jb;
SELECT max_abs_diff(custseg_model_json(jb.m)->'kmeans'->'centroids', custseg_model_json(whole)->'kmeans'->'centroids') < 1e-9
         AS same_centroids,
       (SELECT count(*) FROM planted p WHERE custseg_predict(jb.m, p) <> custseg_predict(chain.whole, p)) AS disagreements
FROM jb, chain;
SELECT custseg_model_json(custseg_scaler_fit(to_jsonb(p), '{"exclude": ["id", "truth"]}'))->'features'->0 FROM planted p;
-- Keys missing from a row are NULL; a null in the first row is numeric unless forced categorical.
SELECT custseg_model_json(custseg_fit(j, '{"k": 2, "n_components": null}'))->'features'
FROM (VALUES ('{"a": 1, "b": null}'::jsonb), ('{"a": 2, "b": 5}'), ('{"a": 7, "b": 1}'), ('{"b": 3}')) v(j);
SELECT custseg_model_json(custseg_fit(j, '{"k": 2, "n_components": null, "categorical": ["b"]}'))->'features'
FROM (VALUES ('{"a": 1, "b": null}'::jsonb), ('{"a": 2, "b": "x"}'), ('{"a": 7, "b": "y"}'), ('{"a": 3}')) v(j);
SELECT custseg_fit(j, '{"k": 2}') FROM (VALUES ('{"a": 1, "b": [1]}'::jsonb), ('{"a": 2, "b": [2]}')) v(j);
SELECT custseg_fit(j, '{"k": 2}') FROM (VALUES ('[1, 2]'::jsonb)) v(j);

-- dedupe: repeated feature rows count once.
CREATE TABLE dup AS SELECT p.* FROM planted p, generate_series(1, 3);
SELECT custseg_model_json(m)->'training'->'rows_seen' AS seen, custseg_model_json(m)->'training'->'rows_used' AS used,
       max_abs_diff(custseg_model_json(m)->'scaler', custseg_model_json(whole)->'scaler') < 1e-9 AS scaler_of_distinct_rows
FROM (SELECT custseg_fit(d, '{"dedupe": true, "seed": 9}') AS m
      FROM (SELECT age, income, score, region FROM dup) d) s,
     (SELECT custseg_fit(p, '{"exclude": ["truth"], "seed": 9}') AS whole
      FROM (SELECT DISTINCT age, income, score, region, 0 AS truth FROM planted) p) f;
-- Without dedupe, the repeated rows are all used.
SELECT custseg_model_json(custseg_fit(d, '{"exclude": ["id", "truth"]}'))->'training'->'rows_used' FROM dup d;
-- dedupe keeps every distinct row: more than sample_size of them is an error, not a silent sample.
SELECT custseg_fit(d, '{"exclude": ["id", "truth"], "dedupe": true, "sample_size": 100}') FROM dup d;

-- sample_size: k-means on a uniform sample; the statistics still cover every row.
SELECT custseg_model_json(m)->'training'->'rows_used' AS used, custseg_model_json(m)->'training'->'rows_clustered' AS clustered,
       max_abs_diff(custseg_model_json(m)->'scaler', custseg_model_json(whole)->'scaler') < 1e-9 AS exact_scaler
FROM (SELECT custseg_fit(p, '{"exclude": ["id", "truth"], "sample_size": 120, "seed": 9}') AS m FROM planted p) s, chain;

-- Stage options are checked: k-means options do not belong to the scaler, and vice versa.
SELECT custseg_scaler_fit(p, '{"k": 3}') FROM planted p;
SELECT custseg_kmeans_fit(ARRAY[age::float8], 2, '{"exclude": ["x"]}') FROM planted p;
SELECT custseg_kmeans_fit(ARRAY[age::float8], 0) FROM planted p;
SELECT custseg_pca_fit(ARRAY[age::float8, score], NULL) FROM planted p;
SELECT custseg_kmeans_fit(CASE WHEN id < 5 THEN ARRAY[1.0::float8, 2] ELSE ARRAY[1.0::float8] END, 2) FROM planted p;
SELECT custseg_predict(whole, ARRAY[1.0::float8, 2, 3]) FROM chain;
SELECT custseg_transform(kmeans, ARRAY[1.0::float8]) FROM chain;

-- A long training stops at statement_timeout, and the backend stays up.
SET statement_timeout = '300ms';
SELECT custseg_fit(t, '{"k": 8, "n_init": 1000}')
FROM (SELECT i % 1000 AS a, (i * 7) % 997 AS b, i % 13 AS c FROM generate_series(1, 200000) i) t;
RESET statement_timeout;
SELECT 'still here' AS backend;
