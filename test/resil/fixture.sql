-- The database the resilience tests work on (random SQL, crashes, load): the mall table (psql's
-- standard input is mall_customers.csv) and a larger generated one, and every kind of thing custseg
-- keeps in it:
--   mall        k-means on 2 principal components, trained twice (segments matched, v2 active),
--               a user's label, offers
--   mall_raw    k-means without PCA (n_components => NULL), and a stored inactive version
--   mall_json   trained by the jsonb aggregate (custseg_fit(to_jsonb(c))) and stored by hand
--   mall_scaler a scaler-only pipeline in the registry (no k-means: no segments)
--   leftovers of failed trainings: a training rolled back after it had stored its version (dead
--   tuples, a consumed version number), one failed on a bad option, and a model whose source
--   column was dropped afterwards (it can no longer score its table)
--   views from custseg_create_views, and a plain table of model values.
-- Run as the role that owns it (not a superuser: what SQLsmith then calls runs with a user's rights).
\set ON_ERROR_STOP on
CREATE TABLE mall (customer_id text PRIMARY KEY, gender text, age int, annual_income_thousands int, spending_score int);
\copy mall FROM pstdin WITH (FORMAT csv, HEADER true)
-- 4,000 rows in three planted groups, with NULLs to impute and a category with a rare level.
CREATE TABLE shoppers AS
SELECT g AS id, (ARRAY['north', 'south', 'east', 'west'])[1 + g % 4] AS region,
       CASE WHEN g % 37 = 0 THEN 'partner' WHEN g % 3 = 0 THEN 'online' ELSE 'store' END AS channel,
       20 + (g % 3) * 20 + (g * 7919 % 100) / 10.0 AS age,
       CASE WHEN g % 50 = 0 THEN NULL ELSE 30 + (g % 3) * 40 + (g * 104729 % 1000) / 50.0 END AS income,
       (g % 3) * 30 + (g * 31 % 17)::float8 AS spending_score
FROM generate_series(1, 4000) g;
ALTER TABLE shoppers ADD PRIMARY KEY (id);

SELECT version FROM custseg_train('mall', 'mall', k => 3, options => '{"seed": 42}') \g /dev/null
SELECT version FROM custseg_train('mall', 'mall', k => 4, options => '{"seed": 7}') \g /dev/null
UPDATE custseg_segments SET label = 'VIP "gold" customers' WHERE model = 'mall' AND segment = 1;
SELECT version FROM custseg_train('mall_raw', 'shoppers', k => 3, n_components => NULL, options => '{"seed": 3}') \g /dev/null
SELECT version FROM custseg_train('mall_raw', 'shoppers', k => 5, n_components => NULL, options => '{"seed": 4}',
                                  activate => false) \g /dev/null
INSERT INTO custseg_models (name, version, source, options, metrics, model, active)
SELECT 'mall_json', 1, 'public.mall', custseg_model_json(m) -> 'options', custseg_model_json(m) -> 'training', m, true
FROM (SELECT custseg_fit(to_jsonb(c), '{"k": 3, "exclude": ["customer_id"], "seed": 5}') AS m FROM mall c) f;
SELECT count(*) FROM custseg_refresh_segments('mall_json') \g /dev/null
INSERT INTO custseg_models (name, version, source, options, metrics, model, active)
SELECT 'mall_scaler', 1, 'public.mall', custseg_model_json(m) -> 'options', custseg_model_json(m) -> 'training', m, true
FROM (SELECT custseg_scaler_fit(c, '{"exclude": ["customer_id"]}') AS m FROM mall c) f;

-- Leftovers. A training whose transaction is rolled back after it stored and activated its version:
BEGIN;
SELECT version FROM custseg_train('mall', 'mall', k => 2, options => '{"seed": 1}') \g /dev/null
ROLLBACK;
-- a training that fails on its options (writes nothing):
\set ON_ERROR_STOP off
SELECT custseg_train('mall', 'mall', options => '{"no_such_option": 1}');
\set ON_ERROR_STOP on
-- a model whose source lost a feature column after training:
CREATE TABLE mall_old AS SELECT * FROM mall;
SELECT version FROM custseg_train('mall_old', 'mall_old', k => 3, options => '{"seed": 2}') \g /dev/null
ALTER TABLE mall_old DROP COLUMN age;

INSERT INTO custseg_offers (model, segment, title, details, discount_pct, priority, valid_from, channel)
SELECT model, segment, 'offer for ' || label, 'details ' || segment, 5 * segment, 10 + segment, '2024-01-01', 'email'
FROM custseg_segments WHERE model IN ('mall', 'mall_raw', 'mall_json');
INSERT INTO custseg_offers (model, segment, title, enabled) VALUES ('mall_raw', 0, 'hidden offer', false);
INSERT INTO custseg_offers (model, segment, title, valid_until) VALUES ('mall', 0, 'expired', '2020-01-01');
SELECT custseg_create_views('mall', 'mall') \g /dev/null
SELECT custseg_create_views('shoppers', 'mall_raw') \g /dev/null

CREATE TABLE saved_models (id serial PRIMARY KEY, note text, model custseg_model);
INSERT INTO saved_models (note, model) SELECT name || ' v' || version, model FROM custseg_models;
INSERT INTO saved_models (note, model)
SELECT 'vectors', custseg_kmeans_fit(ARRAY[c.age, c.spending_score]::float8[], 4, '{"seed": 5}') FROM mall c;
INSERT INTO saved_models (note, model)
SELECT 'pca of vectors', custseg_pca_fit(ARRAY[c.age, c.annual_income_thousands, c.spending_score]::float8[], 2) FROM mall c;
CREATE TABLE vectors AS SELECT customer_id, ARRAY[age, annual_income_thousands, spending_score]::float8[] AS x,
                               ARRAY[age, spending_score]::float8[] AS x2,
                               to_jsonb(m) AS doc FROM mall m;
-- Views that call custseg's functions, for random queries to join, filter, sample and aggregate.
CREATE VIEW mall_scores AS SELECT c.customer_id, s.* FROM mall c, custseg_score(c, 'mall') s;
CREATE VIEW shoppers_scores AS SELECT c.id, s.* FROM shoppers c, custseg_score(c, 'mall_raw') s;
CREATE VIEW mall_json_predictions AS SELECT v.customer_id, custseg_predict(v.doc, 'mall_json') AS segment FROM vectors v;
CREATE VIEW model_documents AS SELECT id, note, custseg_model_json(model) AS doc, model::text AS text FROM saved_models;
CREATE VIEW vector_transforms AS
SELECT v.customer_id, custseg_transform(p.model, v.x) AS coordinates, custseg_predict(k.model, v.x2) AS segment
FROM vectors v, saved_models p, saved_models k WHERE p.note = 'pca of vectors' AND k.note = 'vectors';
ANALYZE mall, shoppers, mall_old, saved_models, vectors, custseg_models, custseg_segments, custseg_offers;
