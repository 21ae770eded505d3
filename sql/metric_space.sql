-- The space of the metrics: by default the k-means space (the PCA components when there is a PCA
-- stage); "metric_space": "features" puts every run on the standardized encoded features, so a
-- run with PCA and one without are compared in one space.
CREATE TABLE ms_pca AS
SELECT k, silhouette, calinski_harabasz, davies_bouldin, chosen
FROM custseg_evaluate_k('mall', 2, 6, 2, options => '{"seed": 1}');
CREATE TABLE ms_pca_f AS
SELECT k, inertia, silhouette, calinski_harabasz, davies_bouldin, chosen
FROM custseg_evaluate_k('mall', 2, 6, 2, options => '{"seed": 1, "metric_space": "features"}');
CREATE TABLE ms_raw AS
SELECT k, inertia, silhouette, calinski_harabasz, davies_bouldin, chosen
FROM custseg_evaluate_k('mall', 2, 6, NULL, options => '{"seed": 1}');
CREATE TABLE ms_raw_f AS
SELECT k, inertia, silhouette, calinski_harabasz, davies_bouldin, chosen
FROM custseg_evaluate_k('mall', 2, 6, NULL, options => '{"seed": 1, "metric_space": "features"}');
-- With PCA, the two spaces differ: silhouette on 2 components flatters the PCA run.
SELECT bool_and(a.silhouette > b.silhouette) AS pca_space_flatters
FROM ms_pca a JOIN ms_pca_f b USING (k);
-- Without PCA, the k-means space is the feature space: the same numbers.
SELECT bool_and(a.silhouette = b.silhouette AND a.calinski_harabasz = b.calinski_harabasz
                AND a.davies_bouldin = b.davies_bouldin AND a.inertia = b.inertia) AS same_without_pca
FROM ms_raw a JOIN ms_raw_f b USING (k);
-- The fair comparison, k by k, in one space.
SELECT k, round(p.silhouette::numeric, 4) AS with_pca, round(r.silhouette::numeric, 4) AS without_pca
FROM ms_pca_f p JOIN ms_raw_f r USING (k) ORDER BY k;
-- Training records its metrics in the space asked for.
SELECT abs((custseg_model_json(custseg_fit(m, '{"k": 4, "seed": 1, "exclude": ["customer_id"], "metric_space": "features"}'))
            #>> '{training,silhouette}')::float8 - (SELECT silhouette FROM ms_pca_f WHERE k = 4)) < 1e-12 AS train_equals_evaluate
FROM mall m;
SELECT (custseg_model_json(custseg_fit(m, '{"k": 4, "seed": 1, "exclude": ["customer_id"], "metric_space": "features"}')) -> 'options') ->> 'metric_space'
FROM mall m;
SELECT err($q$SELECT custseg_fit(m, '{"metric_space": "pca"}') FROM mall m$q$);
DROP TABLE ms_pca, ms_pca_f, ms_raw, ms_raw_f;
