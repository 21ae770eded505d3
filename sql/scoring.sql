-- Scoring by model name and by table, explanations, segments, offers and the views.
\set VERBOSITY terse

CREATE TABLE shop (customer_id text PRIMARY KEY, gender text, age int,
                   annual_income_thousands int, spending_score int);
INSERT INTO shop SELECT * FROM mall;
SELECT version, active FROM custseg_train('shop', 'shop', options => '{"seed": 1}');

-- Training filled the segments: sizes add up, shares sum to 1, labels say what stands out.
SELECT segment, label, size, round(share::numeric, 3) AS share FROM custseg_segments WHERE model = 'shop' ORDER BY segment;
SELECT sum(size) AS rows, round(sum(share)::numeric, 6) AS total_share FROM custseg_segments WHERE model = 'shop';
SELECT segment, description FROM custseg_segments WHERE model = 'shop' ORDER BY segment;
-- Profiles are in original units and match PostgreSQL's own aggregates over each segment's rows.
SELECT s.segment,
       round((s.profile #>> '{numeric,annual_income_thousands,mean}')::numeric, 6) = round(avg(c.annual_income_thousands), 6) AS mean_ok,
       round((s.profile #>> '{numeric,age,stddev}')::numeric, 6) = round(stddev_pop(c.age), 6) AS stddev_ok,
       (s.profile #>> '{numeric,spending_score,max}')::int = max(c.spending_score) AS max_ok,
       (s.profile #>> '{categorical,gender,Female}')::numeric = round(avg((c.gender = 'Female')::int), 4) AS share_ok
FROM custseg_segments s JOIN shop c ON custseg_predict(c, 'shop') = s.segment
WHERE s.model = 'shop' GROUP BY s.segment, s.profile ORDER BY s.segment;

-- Every form of predict agrees with the explicit model.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE custseg_predict(c) = custseg_predict(m.model, c)) AS by_table,
       count(*) FILTER (WHERE custseg_predict(c, 'shop') = custseg_predict(m.model, c)) AS by_name,
       count(*) FILTER (WHERE custseg_predict(to_jsonb(c), 'shop') = custseg_predict(m.model, c)) AS by_jsonb,
       count(*) FILTER (WHERE (custseg_score(c, 'shop')).segment = custseg_predict(m.model, c)) AS by_score
FROM shop c, custseg_models m WHERE m.name = 'shop' AND m.active;

-- One row explained: confidence = 1 - distance / runner_up_distance, coordinates in the PCA space.
SELECT segment, label, round(distance::numeric, 6) AS distance, round(runner_up_distance::numeric, 6) AS runner_up,
       round(confidence::numeric, 6) AS confidence,
       round((1 - distance / runner_up_distance)::numeric, 6) = round(confidence::numeric, 6) AS formula,
       array_length(coordinates, 1) AS dims
FROM custseg_score((SELECT c FROM shop c WHERE customer_id = '0001'), 'shop');
SELECT bool_and(confidence BETWEEN 0 AND 1) AS in_range, bool_and(distance <= runner_up_distance) AS nearest
FROM shop c, custseg_score(c, 'shop');

-- A JSON object with missing keys is imputed; a string where a number belongs is an error.
SELECT custseg_predict('{"gender": "Female", "age": 25, "annual_income_thousands": 20, "spending_score": 80}'::jsonb, 'shop') AS young,
       custseg_predict('{"annual_income_thousands": 120}'::jsonb, 'shop') IS NOT NULL AS partial;
SELECT custseg_predict('{"age": "old"}'::jsonb, 'shop');
SELECT custseg_predict('{"age": [30]}'::jsonb, 'shop');

-- Offers: current ones by validity dates, ranked by priority.
INSERT INTO custseg_offers (model, segment, title, details, discount_pct, priority, valid_from, valid_until) VALUES
  ('shop', 0, 'Bundle deal', 'three for two', 33, 20, NULL, NULL),
  ('shop', 0, 'Loyalty points', 'double points', 0, 10, now() - interval '1 day', now() + interval '1 day'),
  ('shop', 0, 'Expired sale', 'gone', 50, 1, now() - interval '10 days', now() - interval '1 day'),
  ('shop', 2, 'Premium bundle', 'express shipping included', 5, 10, NULL, NULL),
  ('shop', 1, 'Future launch', 'not yet', 10, 10, now() + interval '1 day', NULL);
INSERT INTO custseg_offers (model, segment, title, enabled) VALUES ('shop', 1, 'Hidden', false);
SELECT segment, title, offer_rank FROM custseg_segment_offers WHERE model = 'shop' ORDER BY segment, offer_rank;
INSERT INTO custseg_offers (model, segment, title, discount_pct) VALUES ('shop', 0, 'Too much', 120);
INSERT INTO custseg_offers (model, segment, title, valid_from, valid_until) VALUES ('shop', 0, 'Backwards', now(), now() - interval '1 day');

-- The views: rows with segment and label, and one row per row x current offer.
SELECT custseg_create_views('shop', 'shop');
SELECT segment, label, count(*) FROM shop_segments GROUP BY 1, 2 ORDER BY 1;
SELECT count(*) AS offer_rows, count(DISTINCT customer_id) AS customers FROM shop_segments_offers;
SELECT segment, offer_title, offer_rank FROM shop_segments_offers
WHERE customer_id = (SELECT min(customer_id) FROM shop_segments WHERE segment = 0) ORDER BY offer_rank;
-- They can back a materialized view refreshed nightly.
CREATE MATERIALIZED VIEW shop_segments_nightly AS SELECT * FROM shop_segments;
SELECT count(*) FROM shop_segments_nightly;

-- A renamed label survives retraining; the views name the model, not a version.
UPDATE custseg_segments SET label = 'Weekend Treaters' WHERE model = 'shop' AND segment = 1;
SELECT segment, label, label_generated FROM custseg_segments WHERE model = 'shop' ORDER BY segment;
SELECT version, active FROM custseg_train('shop', 'shop', options => '{"seed": 1}');
SELECT segment, label, label_generated, version FROM custseg_segments WHERE model = 'shop' ORDER BY segment;
SELECT segment, label, count(*) FROM shop_segments GROUP BY 1, 2 ORDER BY 1;
REFRESH MATERIALIZED VIEW shop_segments_nightly;
SELECT count(*) FROM shop_segments_nightly;

-- Errors: no model on a table, several, an anonymous row, an unknown name, a missing column.
CREATE TABLE shop2 AS SELECT * FROM shop;
SELECT custseg_predict(c) FROM shop2 c LIMIT 1;
SELECT version FROM custseg_train('shop_b', 'shop', options => '{"seed": 2}');
SELECT custseg_predict(c) FROM shop c LIMIT 1;
SELECT custseg_predict(ROW(1, 2)) ;
SELECT custseg_predict(c, 'nope') FROM shop c LIMIT 1;
SELECT custseg_score(c, 'nope') FROM shop c LIMIT 1;
SELECT custseg_predict(r, 'shop') FROM (SELECT 'Male' AS gender, 30 AS age) r;
SELECT custseg_create_views('shop', 'nope');

-- A model and its column mapping are kept across queries (per backend). A change of the row type
-- between queries is seen: column a dropped and added again moves to a new attribute number.
CREATE TABLE keep_map (id int, a float8, b text, c float8);
INSERT INTO keep_map SELECT i, i % 7, CASE WHEN i % 3 = 0 THEN 'x' ELSE 'y' END, i % 5 FROM generate_series(1, 60) i;
SELECT version FROM custseg_train('keep_map', 'keep_map', k => 2, n_components => NULL, exclude => ARRAY['id'],
                                  options => '{"seed": 1}');
CREATE TABLE keep_map_before AS SELECT id, a, b, c, custseg_predict(t, 'keep_map') AS s FROM keep_map t;
ALTER TABLE keep_map RENAME COLUMN a TO a_old;
ALTER TABLE keep_map ADD COLUMN a float8;
UPDATE keep_map SET a = a_old;
ALTER TABLE keep_map DROP COLUMN a_old;
SELECT count(*) AS rows, count(*) FILTER (WHERE k.s IS DISTINCT FROM custseg_predict(t, 'keep_map')) AS differ
FROM keep_map t JOIN keep_map_before k USING (id);
-- The column gone: an error naming it, also after it scored before.
ALTER TABLE keep_map DROP COLUMN c;
SELECT custseg_predict(t, 'keep_map') FROM keep_map t LIMIT 1;
-- Invalidations in the middle of a query (each row creates a table) leave the query's model and
-- mapping intact.
CREATE FUNCTION keep_map_churn(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TEMP TABLE keep_map_churn_%s (x int)', i);
    RETURN i;
END $$;
SELECT count(*) AS rows, count(*) FILTER (WHERE k.s IS DISTINCT FROM custseg_predict(k, 'keep_map')) AS differ,
       sum(keep_map_churn(id)) > 0 AS churned
FROM keep_map_before k;
DROP FUNCTION keep_map_churn(int);
DROP TABLE keep_map, keep_map_before;
DELETE FROM custseg_segments WHERE model = 'keep_map';
DELETE FROM custseg_models WHERE name = 'keep_map';

-- A name that changes from row to row: each row is scored by its own name's model (a row type's
-- table, and the last name, are remembered between rows).
SELECT version FROM custseg_train('shop_k5', 'shop', k => 5, options => '{"seed": 1}');
SELECT count(*) AS rows,
       count(*) FILTER (WHERE custseg_predict(c, CASE WHEN c.age % 3 = 0 THEN 'shop' ELSE 'shop_k5' END)
                              = CASE WHEN c.age % 3 = 0 THEN custseg_predict(a.model, c) ELSE custseg_predict(b.model, c) END)
         AS by_row_name,
       count(*) FILTER (WHERE custseg_predict(c, 'shop_k5') <> custseg_predict(a.model, c)) > 0 AS models_differ
FROM shop c, custseg_models a, custseg_models b
WHERE a.name = 'shop' AND a.active AND b.name = 'shop_k5' AND b.active;
SELECT custseg_predict(c, CASE WHEN c.age > 60 THEN 'nope' ELSE 'shop' END) FROM shop c ORDER BY c.age DESC LIMIT 1;
DELETE FROM custseg_segments WHERE model = 'shop_k5';
DELETE FROM custseg_models WHERE name = 'shop_k5';

DROP MATERIALIZED VIEW shop_segments_nightly;
DROP VIEW shop_segments_offers, shop_segments;
DELETE FROM custseg_offers;
DELETE FROM custseg_segments;
DELETE FROM custseg_models;
