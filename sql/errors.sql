-- Bad input: each gets a PostgreSQL error with the right SQLSTATE and a message naming the culprit.
-- err() (from setup) runs a statement and shows SQLSTATE, message and hint of the error it raises.

CREATE TABLE err_t (id int, x float8, y int, name text, born date);
INSERT INTO err_t VALUES (1, 1, 2, 'a', '2000-01-01'), (2, 2, 3, 'b', '2001-01-01'), (3, 5, 1, 'a', '2002-01-01'),
                         (4, 6, 8, 'c', '2003-01-01');

-- Options: unknown key, wrong types, out of range, contradictions.
SELECT err($q$SELECT custseg_fit(t, '{"kk": 3}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": "3", "exclude": ["born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2.5, "exclude": ["born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 0, "exclude": ["born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 100000, "exclude": ["born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"n_components": -1, "exclude": ["born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"n_components": 1.5, "exclude": ["born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"scale_categoricals": "yes", "exclude": ["born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": "born", "seed": -1}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["born"], "categorical": ["y"], "numeric": ["y"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '[1, 2]') FROM err_t t$q$);

-- Columns: unknown names in options, an unusable type, nothing left.
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["nope"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["id"], "categorical": ["Name"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["id"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["id", "x", "y", "name", "born"]}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["born"], "numeric": ["name"]}') FROM err_t t$q$);

-- Data: more clusters than rows, fewer distinct rows than k, too many components, all-NULL column.
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["born"], "k": 5}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 3}') FROM (SELECT 1.0 AS x, 'a' AS c FROM generate_series(1, 10)) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["born"], "n_components": 9}') FROM err_t t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2}') FROM (SELECT id, x, NULL::float8 AS z FROM err_t) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2}') FROM (SELECT id, x, NULL::text AS z FROM err_t) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2}') FROM (SELECT NULL::float8 AS x FROM generate_series(1, 5)) t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"n_components": 1, "k": null}') FROM (SELECT 1.0 AS x) t$q$);

-- The rows kept for k-means are bounded in bytes: an explicit sample_size above the bound fails at once.
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["born"], "sample_size": 10000000}') FROM err_t t$q$);

-- Non-finite values.
SELECT err($q$SELECT custseg_fit(t, '{"k": 2}') FROM (VALUES (1.0::float8), ('NaN'), (3)) t(x)$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2}') FROM (VALUES (1.0::float8), ('Infinity'), (3)) t(x)$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2}') FROM (VALUES (1.0::numeric), ('NaN'), (3)) t(x)$q$);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2, "numeric": ["x"]}') FROM (VALUES ('1'), ('two'), ('3')) t(x)$q$);

-- Malformed model text.
SELECT err($q$SELECT 'not json'::custseg_model$q$);
SELECT err($q$SELECT '{}'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 99}'::custseg_model$q$);
SELECT err($q$SELECT '[1]'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 1, "features": [{"name": "x", "kind": "numeric", "impute": 1}],
  "scaler": {"scale_categoricals": false, "mean": [0, 0], "scale": [1]}, "pca": null, "kmeans": null,
  "training": {"rows_seen": 0, "rows_skipped": 0, "rows_used": 0, "rows_clustered": 0, "inertia": null,
  "n_iter": null, "silhouette": null, "silhouette_rows": null, "calinski_harabasz": null, "davies_bouldin": null},
  "options": {}}'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 1, "features": [{"name": "x", "kind": "numeric", "impute": 1}],
  "scaler": {"scale_categoricals": false, "mean": [0], "scale": [0]}, "pca": null, "kmeans": null,
  "training": {"rows_seen": 0, "rows_skipped": 0, "rows_used": 0, "rows_clustered": 0, "inertia": null,
  "n_iter": null, "silhouette": null, "silhouette_rows": null, "calinski_harabasz": null, "davies_bouldin": null},
  "options": {}}'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 1, "features": [{"name": "x", "kind": "numeric", "impute": 1}],
  "scaler": {"scale_categoricals": false, "mean": [0], "scale": [1]}, "pca": null,
  "kmeans": {"k": 2, "centroids": [[1], [null]], "segments": [0, 1]},
  "training": {"rows_seen": 0, "rows_skipped": 0, "rows_used": 0, "rows_clustered": 0, "inertia": null,
  "n_iter": null, "silhouette": null, "silhouette_rows": null, "calinski_harabasz": null, "davies_bouldin": null},
  "options": {}}'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 1, "features": [{"name": "c", "kind": "categorical", "levels": ["b", "a"]}],
  "scaler": {"scale_categoricals": false, "mean": [0, 0], "scale": [1, 1]}, "pca": null, "kmeans": null,
  "training": {"rows_seen": 0, "rows_skipped": 0, "rows_used": 0, "rows_clustered": 0, "inertia": null,
  "n_iter": null, "silhouette": null, "silhouette_rows": null, "calinski_harabasz": null, "davies_bouldin": null},
  "options": {}}'::custseg_model$q$);

-- Scoring: a missing column, a wrong type, a model without k-means.
CREATE TABLE err_m AS SELECT custseg_fit(t, '{"exclude": ["id", "born"], "k": 2, "seed": 1}') AS m FROM err_t t;
SELECT err($q$SELECT custseg_predict(m, r) FROM err_m, (SELECT 1.0 AS x, 'a' AS name) r$q$);
SELECT err($q$SELECT custseg_predict(m, r) FROM err_m, (SELECT 1.0 AS x, now()::date AS y, 'a' AS name) r$q$);
SELECT err($q$WITH s AS (SELECT custseg_fit(t, '{"exclude": ["id", "born"], "k": null}') AS m FROM err_t t)
SELECT custseg_predict(s.m, t) FROM err_t t, s$q$);
-- A NULL row is counted as skipped once training has started, never an error.
SELECT custseg_model_json(custseg_fit(s.t, '{"exclude": ["id", "born"], "k": 2, "n_components": null}' ORDER BY s.x DESC))->'training'
FROM (SELECT e.x, CASE WHEN e.x > 2 THEN e END AS t FROM err_t e) s;
SELECT err($q$SELECT custseg_predict(m, r) FROM err_m, (SELECT 'Infinity'::float8 AS x, 1 AS y, 'a' AS name) r$q$);

-- The transition function is not callable outside an aggregate.
SELECT err($q$SELECT custseg_fit_transfn(NULL, ROW(1))$q$);
