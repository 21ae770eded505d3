-- Segment identity across versions: numbers, labels and offers follow their segment.
\set VERBOSITY terse
SELECT make_planted('ident', 3, 200, 0.3);
SELECT version FROM custseg_train('ident', 'ident', k => 3, options => '{"seed": 1}');
UPDATE custseg_segments SET label = 'Northern stars' WHERE model = 'ident' AND segment = 1;
INSERT INTO custseg_offers (model, segment, title) SELECT 'ident', segment, 'offer for ' || segment
FROM custseg_segments WHERE model = 'ident';
CREATE TEMP TABLE v1 AS SELECT id, custseg_predict(t, 'ident') AS segment FROM ident t;
CREATE TEMP TABLE labels1 AS SELECT segment, label FROM custseg_segments WHERE model = 'ident';

-- Shuffled rows and another seed: k-means finds the same clusters in another order.
CREATE TABLE ident_shuffled AS SELECT * FROM ident ORDER BY md5(id::text);
ALTER TABLE ident_shuffled ADD PRIMARY KEY (id);
SELECT custseg_model_json(custseg_fit(t, '{"k": 3, "seed": 1, "exclude": ["id"]}')) #> '{kmeans,centroids}' =
       custseg_model_json(custseg_fit(t, '{"k": 3, "seed": 5, "exclude": ["id"]}')) #> '{kmeans,centroids}' AS same_order
FROM ident_shuffled t;
SELECT version, metrics -> 'matched_segments' AS matched, metrics -> 'new_segments' AS new,
       metrics -> 'vanished_segments' AS vanished, metrics -> 'drift_rows' AS drift
FROM custseg_train('ident', 'ident_shuffled', k => 3, options => '{"seed": 5}');
-- Every row keeps its segment; every segment its number, label and offers.
SELECT count(*) AS rows, count(*) FILTER (WHERE v1.segment = custseg_predict(t, 'ident')) AS same_segment
FROM ident t JOIN v1 USING (id);
SELECT s.segment, s.label = l.label AS label_kept, s.label_generated, s.version
FROM custseg_segments s JOIN labels1 l USING (segment) WHERE s.model = 'ident' ORDER BY s.segment;
SELECT segment, title FROM custseg_segment_offers WHERE model = 'ident' ORDER BY segment;

-- A new planted segment: exactly one new number; the old ones keep theirs.
CREATE TABLE ident4 AS SELECT * FROM ident;
ALTER TABLE ident4 ADD PRIMARY KEY (id);
INSERT INTO ident4 SELECT 10000 + i, 60 + 3 * (random() - 0.5), 50 + 3 * (random() - 0.5)
FROM generate_series(1, 200) i;
SELECT version, metrics -> 'matched_segments' AS matched, metrics -> 'new_segments' AS new,
       metrics -> 'vanished_segments' AS vanished, metrics -> 'drift_rows' AS drift
FROM custseg_train('ident', 'ident4', k => 4, options => '{"seed": 2}');
SELECT count(*) FILTER (WHERE v1.segment = custseg_predict(t, 'ident')) AS old_rows_same, count(*) AS old_rows
FROM ident4 t JOIN v1 USING (id);
SELECT custseg_predict(t, 'ident') AS segment, count(*) FROM ident4 t WHERE id > 10000 GROUP BY 1;
SELECT segment, label FROM custseg_segments WHERE model = 'ident' ORDER BY segment;

-- Back to three segments: the planted one vanishes and is reported.
SELECT version, metrics -> 'new_segments' AS new, metrics -> 'vanished_segments' AS vanished
FROM custseg_train('ident', 'ident', k => 3, options => '{"seed": 3}');
SELECT version, previous_version, active, matched_segments, new_segments, vanished_segments, drift_rows,
       round(drift_share::numeric, 4) AS drift_share
FROM custseg_drift('ident');
SELECT segment FROM custseg_segments WHERE model = 'ident' ORDER BY segment;

-- custseg_match_segments and custseg_model_renumber directly.
SELECT custseg_match_segments(a.model, a.model) -> 'previous_of' AS self_match
FROM custseg_models a WHERE a.name = 'ident' AND a.version = 1;
SELECT custseg_model_json(custseg_model_renumber(model, '{7, 8, 9}')) #> '{kmeans,segments}' AS renumbered
FROM custseg_models WHERE name = 'ident' AND version = 1;
SELECT custseg_model_renumber(model, '{1, 1, 2}') FROM custseg_models WHERE name = 'ident' AND version = 1;
SELECT custseg_model_renumber(model, '{1, 2}') FROM custseg_models WHERE name = 'ident' AND version = 1;
SELECT custseg_model_renumber(model, '{1, -2, 3}') FROM custseg_models WHERE name = 'ident' AND version = 1;
