-- Segment labels and descriptions: numeric and categorical traits, no two segments alike, the
-- customer value column behind the archetype names, labels regenerated at each refresh while a
-- user's label and the offers stay with their segment number.
CREATE TABLE lb_wholesale ("Customer ID" int PRIMARY KEY, "Channel" int, "Region" int, "Fresh" int, "Milk" int,
                           "Grocery" int, "Frozen" int, "Detergents_Paper" int, "Delicassen" int);
\copy lb_wholesale FROM '../shared/data/wholesale_customers.csv' WITH (FORMAT csv, HEADER true)

-- Categorical traits: a level's share that stands out ("100% Channel 1", "mostly Channel 2").
SELECT 1 FROM custseg_train('lb_w', 'lb_wholesale', 4, options => '{"seed": 1, "categorical": ["Channel", "Region"],
    "transform": {"Fresh": "log1p", "Milk": "log1p", "Grocery": "log1p", "Frozen": "log1p",
                  "Detergents_Paper": "log1p", "Delicassen": "log1p"}}');
SELECT segment, label, size, description FROM custseg_segments WHERE model = 'lb_w' ORDER BY segment;
-- The shares behind a trait are the profile's.
SELECT segment, profile #> '{categorical,Channel}' AS channel FROM custseg_segments WHERE model = 'lb_w' ORDER BY segment;
SELECT count(DISTINCT label) = count(*) AS labels_distinct FROM custseg_segments WHERE model = 'lb_w';
-- Profiles cover the categorical features: shares per segment and over all rows.
SELECT segment, feature, kind, shares FROM custseg_profile('lb_w') WHERE feature = 'Channel' ORDER BY segment NULLS LAST;

-- A categorical-only model: every label is made of category shares.
SELECT 1 FROM custseg_train('lb_r', 'retail', 4, NULL, options => '{"seed": 1, "exclude": ["CustomerID", "Age",
    "Annual Income (k$)", "Spending Score (1-100)", "Number of Children", "Years as Customer", "Education Level",
    "Employment Status"]}');
SELECT segment, label, description FROM custseg_segments WHERE model = 'lb_r' ORDER BY segment;

-- Two segments whose three strongest traits are the same set take more traits until they differ.
-- The segments are a model's own centroids (a hand-written model), the rows chosen around them:
-- A and B are high on a, b and x alike (z = 0.71) and differ only in d (z = +0.52 and -0.52).
CREATE TABLE lb_twins AS
SELECT i AS id, v.a, v.a AS b, v.a AS x, v.d
FROM generate_series(1, 300) i,
     LATERAL (SELECT CASE i % 3 WHEN 0 THEN 3 WHEN 1 THEN 3 ELSE -3 END::float8 AS a,
                     CASE i % 3 WHEN 0 THEN 1 WHEN 1 THEN -1 ELSE CASE WHEN i % 2 = 0 THEN 3 ELSE -3 END END::float8 AS d) v;
INSERT INTO custseg_models (name, version, source, model, active)
VALUES ('lb_t', 1, 'public.lb_twins', '{"format": "custseg_model", "version": 1,
  "features": [{"name": "a", "kind": "numeric", "impute": 0}, {"name": "b", "kind": "numeric", "impute": 0},
               {"name": "x", "kind": "numeric", "impute": 0}, {"name": "d", "kind": "numeric", "impute": 0}],
  "scaler": {"scale_categoricals": false, "mean": [0, 0, 0, 0], "scale": [1, 1, 1, 1]}, "pca": null,
  "kmeans": {"k": 3, "centroids": [[3, 3, 3, 1], [3, 3, 3, -1], [-3, -3, -3, 0]], "segments": [0, 1, 2]},
  "training": {"rows_seen": 300, "rows_skipped": 0, "rows_used": 300, "rows_clustered": 300, "inertia": null,
               "n_iter": null, "silhouette": null, "silhouette_rows": null, "calinski_harabasz": null,
               "davies_bouldin": null}, "options": {}}', true);
SELECT segment, label, profile -> 'traits' AS traits FROM custseg_refresh_segments('lb_t') ORDER BY segment;
SELECT count(DISTINCT label) = 3 AS labels_distinct FROM custseg_segments WHERE model = 'lb_t';
-- Segments with nothing to tell them apart are told apart by number.
UPDATE lb_twins SET d = 0, a = 0, b = 0, x = 0 WHERE id % 3 <> 2;
SELECT segment, label FROM custseg_refresh_segments('lb_t') ORDER BY segment;

-- No archetype without a value column: a column named like a score is not spend.
CREATE TABLE lb_churn AS
SELECT i AS id, (ARRAY[10, 50, 90])[1 + i % 3] + (i % 7) AS churn_risk_score,
       (ARRAY[70, 40, 20])[1 + i % 3] + (i % 5) AS purchases
FROM generate_series(1, 300) i;
SELECT 1 FROM custseg_train('lb_c', 'lb_churn', 3, NULL, exclude => '{id}', options => '{"seed": 1}');
SELECT label FROM custseg_segments WHERE model = 'lb_c' ORDER BY label;
SELECT bool_and(label NOT LIKE '%Value%' AND label NOT LIKE '%Spender%' AND label NOT LIKE '%Loyal%') AS traits_only
FROM custseg_segments WHERE model = 'lb_c';
-- With the value column named, the highest-value segment is "High Value", the lowest "Low Value".
SELECT options ->> 'value_column' AS value_column
FROM custseg_train('lb_c', 'lb_churn', 3, NULL, exclude => '{id}', options => '{"seed": 1, "value_column": "purchases"}');
SELECT s.label, round(avg(c.purchases), 1) AS purchases
FROM lb_churn c JOIN custseg_segments s ON s.model = 'lb_c' AND s.segment = custseg_predict(c, 'lb_c')
GROUP BY s.label ORDER BY 2 DESC;
-- The value column need not be a feature; it is read from the source for the labels.
SELECT 1 FROM custseg_train('lb_c', 'lb_churn', 3, NULL, exclude => '{id, purchases}',
                            options => '{"seed": 1, "value_column": "purchases"}');
SELECT label, description FROM custseg_segments WHERE model = 'lb_c' ORDER BY label;
-- A column named unmistakably for value is recognised.
CREATE TABLE lb_money AS SELECT id, churn_risk_score, purchases AS monetary FROM lb_churn;
SELECT 1 FROM custseg_train('lb_mo', 'lb_money', 3, NULL, exclude => '{id}', options => '{"seed": 1}');
SELECT label, profile ->> 'value_column' AS value_column FROM custseg_segments WHERE model = 'lb_mo' ORDER BY label;
-- Bad value columns.
SELECT err($q$SELECT custseg_train('lb_c', 'lb_churn', 3, NULL, exclude => '{id}', options => '{"value_column": "nope"}')$q$);
SELECT err($q$SELECT custseg_train('lb_c', 'lb_churn', 3, NULL, exclude => '{id}', options => '{"value_column": 3}')$q$);
SELECT err($q$SELECT custseg_fit(c, '{"value_column": ""}') FROM lb_churn c$q$);

-- Generated labels follow the new centroids at every retraining; a user's label is never touched;
-- offers stay with their segment number.
CREATE TABLE lb_planted AS SELECT * FROM planted;
SELECT 1 FROM custseg_train('lb_g', 'lb_planted', 3, exclude => '{id, truth}', options => '{"seed": 2}');
SELECT segment, label FROM custseg_segments WHERE model = 'lb_g' ORDER BY segment;
CREATE TABLE lb_before AS SELECT segment, label, description FROM custseg_segments WHERE model = 'lb_g';
UPDATE custseg_segments SET label = 'Our best customers'
WHERE model = 'lb_g' AND segment = (SELECT custseg_predict(p, 'lb_g') FROM lb_planted p WHERE truth = 2 LIMIT 1);
INSERT INTO custseg_offers (model, segment, title)
SELECT 'lb_g', s.segment, 'Offer for segment ' || s.segment FROM custseg_segments s WHERE s.model = 'lb_g';
-- The young customers' spending score drops from 80 to 50: their segment keeps its number (the
-- centroids still match), and its generated label no longer says high score.
UPDATE lb_planted SET score = score - 30 WHERE truth = 0;
SELECT version, metrics -> 'matched_segments' AS matched FROM custseg_train('lb_g', 'lb_planted', 3, exclude => '{id, truth}', options => '{"seed": 2}');
SELECT s.segment, b.label AS before, s.label AS after, s.label_generated
FROM custseg_segments s JOIN lb_before b USING (segment) WHERE s.model = 'lb_g' ORDER BY segment;
-- Each generated label is the one a refresh computes from the new profile, and the description too.
CREATE TABLE lb_after AS SELECT segment, label, description FROM custseg_segments WHERE model = 'lb_g';
SELECT bool_and(a.label = r.label AND a.description = r.description) AS labels_current
FROM lb_after a JOIN custseg_refresh_segments('lb_g') r USING (segment);
-- The offers stay with the segment numbers, under the new labels.
SELECT segment, label, title FROM custseg_segment_offers WHERE model = 'lb_g' ORDER BY segment;
-- keep_labels => true keeps generated labels as they are (here: the same profile, the same labels).
SELECT count(*) FILTER (WHERE r.label = a.label) = 3 AS kept
FROM custseg_refresh_segments('lb_g', keep_labels => true) r JOIN lb_after a USING (segment);

DROP TABLE lb_before, lb_after, lb_money, lb_churn, lb_twins, lb_planted;
DELETE FROM custseg_offers WHERE model LIKE 'lb\_%';
DELETE FROM custseg_segments WHERE model LIKE 'lb\_%';
DELETE FROM custseg_models WHERE name LIKE 'lb\_%';
DELETE FROM custseg_model_names WHERE name LIKE 'lb\_%';
DROP TABLE lb_wholesale;
