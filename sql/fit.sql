-- custseg_fit: the whole pipeline in one aggregate; options and their effects.
\set VERBOSITY terse

CREATE TABLE models AS
SELECT 'mall_default' AS name, custseg_fit(c, '{"exclude": ["customer_id"], "seed": 42}') AS model FROM mall c
UNION ALL
SELECT 'mall_notebook', custseg_fit(c, '{"exclude": ["customer_id"], "seed": 42, "scale_categoricals": true}') FROM mall c;

-- The feature spec: numeric columns first, then the one-hot columns in sorted byte order.
SELECT name, custseg_model_json(model)->'columns' AS columns,
       custseg_model_json(model)->'features'->3->'levels' AS gender_levels
FROM models ORDER BY name;

-- Scaler: population statistics; one-hot columns stay 0/1 unless scale_categoricals.
SELECT name, (SELECT array_agg(round(x::numeric, 6)) FROM jsonb_array_elements_text(custseg_model_json(model)->'scaler'->'mean') x) AS mean,
       (SELECT array_agg(round(x::numeric, 6)) FROM jsonb_array_elements_text(custseg_model_json(model)->'scaler'->'scale') x) AS scale
FROM models ORDER BY name;
-- The same numbers from PostgreSQL's own aggregates.
SELECT round(avg(age), 6) AS age_mean, round(stddev_pop(age), 6) AS age_std,
       round(avg(CASE WHEN gender = 'Female' THEN 1.0 ELSE 0 END), 6) AS female_share,
       round(stddev_pop(CASE WHEN gender = 'Female' THEN 1.0 ELSE 0 END), 6) AS female_std
FROM mall;

-- PCA and k-means summaries, and training metadata.
SELECT name, custseg_model_json(model)->'pca'->'n_components' AS n_components,
       (SELECT array_agg(round(x::numeric, 6)) FROM jsonb_array_elements_text(custseg_model_json(model)->'pca'->'explained_variance_ratio') x) AS evr,
       custseg_model_json(model)->'kmeans'->'k' AS k,
       custseg_model_json(model)->'kmeans'->'segments' AS segments,
       round((custseg_model_json(model)->'training'->>'inertia')::numeric, 4) AS inertia,
       round((custseg_model_json(model)->'training'->>'silhouette')::numeric, 6) AS silhouette,
       custseg_model_json(model)->'training'->'rows_used' AS rows_used,
       custseg_model_json(model)->'training'->'rows_clustered' AS rows_clustered
FROM models ORDER BY name;

-- PCA components are unit vectors with their largest loading positive (of loadings equal in
-- magnitude, the first, as scikit-learn's svd_flip takes it).
SELECT name, i, round(sqrt(sum(v * v))::numeric, 9) AS norm,
       (array_agg(v ORDER BY abs(v) DESC, j))[1] > 0 AS largest_positive
FROM models, LATERAL jsonb_array_elements(custseg_model_json(model)->'pca'->'components') WITH ORDINALITY AS c(comp, i),
     LATERAL (SELECT x::float8 AS v, j FROM jsonb_array_elements_text(comp) WITH ORDINALITY x(x, j)) t
GROUP BY name, i ORDER BY name, i;

-- The same seed gives a byte-identical model; another seed may not, but is still valid.
SELECT (SELECT custseg_fit(c, '{"exclude": ["customer_id"], "seed": 42}')::text FROM mall c)
     = (SELECT model::text FROM models WHERE name = 'mall_default') AS same_model;

-- The normalized options are stored in the model.
SELECT custseg_model_json(model)->'options' FROM models WHERE name = 'mall_default';

-- n_components as a variance fraction; no PCA; scaler only.
SELECT custseg_model_json(custseg_fit(c, '{"exclude": ["customer_id"], "n_components": 0.6}'))->'pca'->'n_components' AS n_for_60pct,
       custseg_model_json(custseg_fit(c, '{"exclude": ["customer_id"], "n_components": 0.9}'))->'pca'->'n_components' AS n_for_90pct
FROM mall c;
SELECT jsonb_array_length(custseg_model_json(m)->'kmeans'->'centroids'->0) AS centroid_width,
       custseg_model_json(m)->'pca' AS pca
FROM (SELECT custseg_fit(c, '{"exclude": ["customer_id"], "n_components": null, "k": 4}') AS m FROM mall c) s;
SELECT custseg_model_json(m)->'kmeans' AS kmeans, custseg_model_json(m)->'pca' IS NULL AS no_pca_key,
       custseg_model_json(m)->'pca' = 'null' AS pca_null
FROM (SELECT custseg_fit(c, '{"exclude": ["customer_id"], "k": null, "n_components": null}') AS m FROM mall c) s;

-- Forcing kinds: a numeric column as categorical, by its text form.
SELECT custseg_model_json(custseg_fit(r, '{"exclude": ["CustomerID"], "categorical": ["Number of Children"], "k": 2}'))->'features'
FROM retail r;

-- Column names with spaces and parentheses travel unchanged into the model.
SELECT custseg_model_json(custseg_fit(r, '{"exclude": ["CustomerID"], "k": 4}'))->'columns' FROM retail r;

-- Numeric NULLs are imputed with the mean of the present values; a row with no feature is skipped.
CREATE TABLE holes (id int, x float8, y float8, tag text);
INSERT INTO holes VALUES (1, 1, 10, 'a'), (2, NULL, 20, 'b'), (3, 3, NULL, NULL), (4, 5, 40, 'a'),
                         (5, NULL, NULL, NULL), (6, 7, 50, 'b'), (7, 9, 60, 'a');
SELECT custseg_model_json(m)->'features' AS features,
       custseg_model_json(m)->'training'->'rows_seen' AS seen,
       custseg_model_json(m)->'training'->'rows_skipped' AS skipped,
       (SELECT array_agg(round(x::numeric, 6)) FROM jsonb_array_elements_text(custseg_model_json(m)->'scaler'->'scale') x) AS scale
FROM (SELECT custseg_fit(h, '{"exclude": ["id"], "k": 2, "n_components": null}') AS m FROM holes h) s;
-- Population std of x after imputing its mean (5) for the two NULLs: sqrt(40/6).
SELECT round(sqrt(40.0 / 6), 6) AS expected_x_scale;

-- verbose reports progress as NOTICE lines.
SELECT custseg_fit(h, '{"exclude": ["id"], "k": 2, "n_components": 1, "n_init": 2, "verbose": true}') IS NOT NULL
FROM holes h;

-- An empty input gives NULL, as SQL aggregates do.
SELECT custseg_fit(c) IS NULL AS null_on_empty FROM mall c WHERE false;
