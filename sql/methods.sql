-- More ways to segment: gmm, hierarchical and dbscan through every SQL function, soft assignment,
-- distances and outlier customers. (The agreement with scikit-learn is test/diff/test_methods.py.)
\set VERBOSITY terse

CREATE TABLE mt AS SELECT * FROM mall;
ALTER TABLE mt ADD PRIMARY KEY (customer_id);

-- Each method through custseg_train: the registry, segments, labels and the method in the model.
SET client_min_messages = warning;
SELECT name, version FROM custseg_train('mt_km', 'mt', options => '{"seed": 1}');
SELECT name, version FROM custseg_train('mt_gmm', 'mt', options => '{"method": "gmm", "seed": 1}');
SELECT name, version FROM custseg_train('mt_hier', 'mt', k => 4, options => '{"method": "hierarchical"}');
SELECT name, version FROM custseg_train('mt_db', 'mt', options => '{"method": "dbscan", "eps": 0.3, "min_samples": 4}');
SELECT name, custseg_model_json(model) -> 'method' ->> 'name' AS method,
       jsonb_array_length(custseg_model_json(model) #> '{kmeans,segments}') AS k,
       custseg_model_json(model) ->> 'version' AS format
FROM custseg_models WHERE name LIKE 'mt\_%' ORDER BY name;
SELECT model, segment, size, label IS NOT NULL AS labelled FROM custseg_segments WHERE model LIKE 'mt\_%' ORDER BY model, segment;

-- The method's options are stored, a k-means model's read as before.
SELECT name, options - 'exclude' - 'categorical' - 'numeric' - 'stage' - 'verbose' - 'dedupe' - 'scale_categoricals' AS options
FROM custseg_models WHERE name LIKE 'mt\_%' ORDER BY name;

-- custseg_score: distances to every centroid, probabilities for gmm, the outlier flag and reason.
SELECT name, count(*) AS rows, count(s.segment) AS with_segment,
       bool_and(cardinality(s.distances) = jsonb_array_length(custseg_model_json(m.model) #> '{kmeans,segments}')) AS distances_k,
       bool_and(abs(s.distance - s.distances[array_position(
           ARRAY(SELECT jsonb_array_elements_text(custseg_model_json(m.model) #> '{kmeans,segments}')::int), s.segment)]) < 1e-9)
           FILTER (WHERE name <> 'mt_hier') AS own_distance,
       bool_and(abs((SELECT sum(p) FROM unnest(s.probabilities) p) - 1) < 1e-9) AS probabilities_sum_1,
       count(*) FILTER (WHERE s.outlier) AS outliers, count(DISTINCT s.reason) AS reasons
FROM custseg_models m, mt t, custseg_score(t.*, m.name) s
WHERE m.name LIKE 'mt\_%' AND m.active GROUP BY name ORDER BY name;
-- gmm: confidence is the segment's posterior, the largest probability.
SELECT bool_and(s.confidence = (SELECT max(p) FROM unnest(s.probabilities) p)) AS confidence_is_posterior
FROM mt t, custseg_score(t.*, 'mt_gmm') s;
-- dbscan: noise has no segment, and says why.
SELECT s.segment, s.label, s.runner_up_distance, s.confidence, s.distances, s.outlier, s.reason
FROM mt t, custseg_score(t.*, 'mt_db') s WHERE s.segment IS NULL LIMIT 1;
SELECT count(*) FILTER (WHERE custseg_predict(t.*, 'mt_db') IS NULL) AS noise FROM mt t;

-- custseg_outliers lists exactly the rows custseg_score flags.
SELECT name, (SELECT count(*) FROM custseg_outliers('mt', name)) =
             (SELECT count(*) FROM mt t, custseg_score(t.*, name) s WHERE s.outlier) AS same
FROM custseg_models WHERE name LIKE 'mt\_%' AND active ORDER BY name;
SELECT "row" ->> 'customer_id' AS customer, segment, reason FROM custseg_outliers('mt', 'mt_km') LIMIT 3;
-- The profile counts each segment's outliers.
SELECT segment, n, outliers FROM custseg_profile('mt_km') WHERE feature = 'age' ORDER BY segment NULLS LAST;

-- hierarchical: one tree, cut at another k without a scan; every row keeps its tree segment.
SELECT k, (SELECT count(DISTINCT custseg_predict(c, t.*)) FROM mt t) AS segments,
       jsonb_array_length(custseg_model_json(c) #> '{method,outlier_thresholds}') AS thresholds
FROM (SELECT k, custseg_cut(model, k) AS c FROM custseg_models, generate_series(1, 6) k WHERE name = 'mt_hier' AND active) x
ORDER BY k;
-- Cutting at k - 1 merges two segments of the cut at k: nested segments.
SELECT count(DISTINCT (a, b)) AS pairs, count(DISTINCT b) AS parents
FROM (SELECT custseg_predict(custseg_cut(m.model, 4), t.*) AS a, custseg_predict(custseg_cut(m.model, 3), t.*) AS b
      FROM custseg_models m, mt t WHERE m.name = 'mt_hier' AND m.active) x;
SELECT count(*) AS nodes, count(*) FILTER (WHERE children IS NULL) AS leaves, count(*) FILTER (WHERE parent IS NULL) AS roots,
       max(size) AS root_size
FROM custseg_models m, custseg_tree(m.model) WHERE m.name = 'mt_hier' AND m.active;
-- The same tree trained at another k cuts into the same segments.
SELECT name, version FROM custseg_train('mt_hier6', 'mt', k => 6, options => '{"method": "hierarchical"}');
SELECT custseg_model_json(custseg_cut(a.model, 4)) -> 'kmeans' = custseg_model_json(custseg_cut(b.model, 4)) -> 'kmeans'
       AS same_cut,
       custseg_model_json(a.model) #> '{method,tree,heights}' = custseg_model_json(b.model) #> '{method,tree,heights}'
       AS same_tree
FROM custseg_models a, custseg_models b
WHERE a.name = 'mt_hier' AND a.active AND b.name = 'mt_hier6' AND b.active;

-- custseg_evaluate_k: BIC and AIC for gmm (chosen by the lowest BIC), one tree for hierarchical.
SELECT k, bic IS NOT NULL AS has_bic, aic < bic AS aic_below_bic, chosen = (bic = min(bic) OVER ()) AS chosen_by_bic
FROM custseg_evaluate_k('mt', 2, 5, options => '{"method": "gmm", "seed": 1}') ORDER BY k;
SELECT k, bic, silhouette > 0 AS positive FROM custseg_evaluate_k('mt', 2, 4, options => '{"method": "hierarchical"}') ORDER BY k;
SELECT err($q$SELECT custseg_evaluate_k('mt', options => '{"method": "dbscan"}')$q$);
-- custseg_kdistance: the curve by percentile and its knee, which training takes when eps is left out.
SELECT count(*) FILTER (WHERE NOT is_knee) AS percentiles, count(*) FILTER (WHERE is_knee) AS knees,
       bool_and(distance >= 0) AS non_negative FROM custseg_kdistance('mt', 4);
SELECT abs((SELECT distance FROM custseg_kdistance('mt', 4) WHERE is_knee) -
           (custseg_model_json(custseg_fit(t.*, '{"method": "dbscan", "min_samples": 4, "exclude": ["customer_id"]}')) #>> '{method,eps}')::float8) < 1e-12 AS knee_is_eps
FROM mt t;

-- Models of every method survive the text form byte for byte (binary reads: errors_model's recv).
SELECT name, custseg_model_send(custseg_model_in(custseg_model_out(model)::cstring)) = custseg_model_send(model) AS text_round_trip
FROM custseg_models WHERE name LIKE 'mt\_%' AND active ORDER BY name;

-- Retraining keeps segment numbers for every method (matched by centroid).
SELECT name, version, metrics -> 'matched_segments' AS matched FROM custseg_train('mt_gmm', 'mt', options => '{"method": "gmm", "seed": 2}');
SELECT name, version, metrics -> 'matched_segments' AS matched FROM custseg_train('mt_hier', 'mt', k => 4, options => '{"method": "hierarchical", "outlier_quantile": 0.95}');
-- Views and offers work for every method.
INSERT INTO custseg_offers (model, segment, title) VALUES ('mt_db', 0, 'welcome back');
SELECT * FROM custseg_create_views('mt', 'mt_db');
SELECT segment IS NULL AS noise, count(*) AS rows FROM mt_segments GROUP BY 1 ORDER BY 1;
SELECT segment, count(*) AS rows, min(offer_title) AS offer FROM mt_segments_offers GROUP BY 1 ORDER BY 1;

-- Bad options: another method's key, dbscan with k, too many rows for the pairwise methods, a
-- means_init of the wrong shape.
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "gmm", "eps": 1}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"covariance_type": "diag"}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "dbscan", "k": 3}') FROM mt t$q$);
SELECT err($q$SELECT custseg_train('x', 'mt', k => 4, options => '{"method": "dbscan"}')$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "hierarchical", "sample_size": 60000}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "hierarchical", "n_init": 3}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "kmeans_plus"}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "gmm", "k": 2, "means_init": [[0, 0]]}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "gmm", "covariance_type": "spherical"}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"method": "dbscan", "eps": 0.0001}') FROM mt t$q$);
SELECT err($q$SELECT custseg_fit(t.*, '{"outlier_quantile": 0}') FROM mt t$q$);
SELECT err($q$SELECT custseg_cut((SELECT model FROM custseg_models WHERE name = 'mt_km' AND active), 2)$q$);
SELECT err($q$SELECT custseg_cut((SELECT model FROM custseg_models WHERE name = 'mt_hier' AND active), 500)$q$);

RESET client_min_messages;
DROP VIEW mt_segments_offers, mt_segments;
DELETE FROM custseg_offers WHERE model LIKE 'mt\_%';
DELETE FROM custseg_models WHERE name LIKE 'mt\_%';
DROP TABLE mt;
