-- Data for the lifecycle tests: a mall table, a model trained three times (segments matched across
-- versions, a user-renamed label, version 2 active), a second model, offers, views made by
-- custseg_create_views, and a plain table with a custseg_model column. psql's standard input is
-- mall_customers.csv.
CREATE TABLE mall (customer_id text PRIMARY KEY, gender text, age int, annual_income_thousands int, spending_score int);
\copy mall FROM pstdin WITH (FORMAT csv, HEADER true)
SELECT version FROM custseg_train('mall', 'mall', k => 3, options => '{"seed": 42}') \g /dev/null
SELECT version FROM custseg_train('mall', 'mall', k => 4, options => '{"seed": 7}') \g /dev/null
SELECT version FROM custseg_train('mall', 'mall', k => 3, n_components => NULL, options => '{"seed": 9, "scale_categoricals": true}') \g /dev/null
SELECT version FROM custseg_activate('mall', 2) \g /dev/null
UPDATE custseg_segments SET label = 'VIP "gold" customers' WHERE model = 'mall' AND segment = 1;
SELECT version FROM custseg_train('mall_young', 'mall', k => 2, exclude => '{customer_id, gender}', options => '{"seed": 1}') \g /dev/null
INSERT INTO custseg_offers (model, segment, title, details, discount_pct, priority, valid_from, channel)
SELECT 'mall', segment, 'offer for ' || label, 'details ' || segment, 5 * segment, 10 + segment, '2024-01-01', 'email'
FROM custseg_segments WHERE model = 'mall';
INSERT INTO custseg_offers (model, segment, title, enabled) VALUES ('mall_young', 0, 'hidden offer', false);
SELECT custseg_create_views('mall', 'mall') \g /dev/null
SELECT custseg_create_views('mall', 'mall_young', 'young') \g /dev/null
CREATE TABLE saved (id serial PRIMARY KEY, note text, model custseg_model);
INSERT INTO saved (note, model) SELECT 'default', custseg_fit(c, '{"exclude": ["customer_id"], "seed": 3}') FROM mall c;
INSERT INTO saved (note, model) SELECT 'scaler only', custseg_scaler_fit(c, '{"exclude": ["customer_id"]}') FROM mall c;
INSERT INTO saved (note, model) SELECT 'vectors', custseg_kmeans_fit(ARRAY[c.age, c.spending_score]::float8[], 4, '{"seed": 5}') FROM mall c;
-- A user's own views over custseg_score (whose result gains columns in 0.3.0): a view, a view of it,
-- and a materialized view not yet populated, with a unique index, a comment and a grant. The update
-- keeps them as they were.
CREATE VIEW mall_scores AS SELECT c.customer_id, s.segment, s.confidence FROM mall c, custseg_score(c, 'mall') s;
CREATE VIEW mall_score_summary AS SELECT segment, count(*) AS n FROM mall_scores GROUP BY segment;
COMMENT ON VIEW mall_scores IS 'scores of the mall customers';
GRANT SELECT ON mall_scores TO PUBLIC;
CREATE MATERIALIZED VIEW mall_scores_mv AS SELECT * FROM mall_scores WITH NO DATA;
CREATE UNIQUE INDEX mall_scores_mv_id ON mall_scores_mv (customer_id);
