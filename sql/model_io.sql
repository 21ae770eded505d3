-- The custseg_model type: text form round-trips exactly, binary form too.
\set VERBOSITY terse

CREATE TABLE io AS SELECT custseg_fit(c, '{"exclude": ["customer_id"], "seed": 7}') AS model FROM mall c;

-- text -> model -> text is the identity, and so is model -> text -> model (bytes compared via send).
SELECT model::text::custseg_model::text = model::text AS text_round_trip,
       custseg_model_send(model::text::custseg_model) = custseg_model_send(model) AS binary_identical
FROM io;

-- Binary COPY round trip through recv.
-- The file lives in the cluster's data directory: removed with the cluster, private to it.
SELECT current_setting('data_directory') || '/custseg_regress_io.bin' AS io_file \gset
COPY io TO :'io_file' WITH (FORMAT binary);
CREATE TABLE io2 (model custseg_model);
COPY io2 FROM :'io_file' WITH (FORMAT binary);
SELECT custseg_model_send(io.model) = custseg_model_send(io2.model) AS recv_identical FROM io, io2;

-- A model read back from text predicts the same segments.
SELECT count(*) AS disagreements FROM mall c, io
WHERE custseg_predict(io.model, c) <> custseg_predict(io.model::text::custseg_model, c);

-- A small hand-written model: one numeric and one categorical feature, no PCA, two centroids.
CREATE TABLE tiny AS SELECT '{"format": "custseg_model", "version": 1,
  "features": [{"name": "x", "kind": "numeric", "impute": 1},
               {"name": "color", "kind": "categorical", "levels": ["blue", "red"]}],
  "scaler": {"scale_categoricals": false, "mean": [1, 0, 0], "scale": [2, 1, 1]},
  "pca": null,
  "kmeans": {"k": 2, "centroids": [[-1, 1, 0], [1, 0, 1]], "segments": [0, 1]},
  "training": {"rows_seen": 0, "rows_skipped": 0, "rows_used": 0, "rows_clustered": 0, "inertia": null,
               "n_iter": null, "silhouette": null, "silhouette_rows": null, "calinski_harabasz": null,
               "davies_bouldin": null},
  "options": {}}'::custseg_model AS model;
SELECT model FROM tiny;
-- x = -1 scales to -1, blue: nearest (-1, 1, 0) -> 0; x = 3 scales to 1, red -> 1.
SELECT r.x, r.color, custseg_predict(model, r) FROM tiny,
  (VALUES (-1.0, 'blue'), (3.0, 'red'), (NULL, 'red'), (-1.0, 'green')) AS r(x, color) ORDER BY r.x NULLS LAST, r.color;
