-- Customers in motion: RFM features from orders, a segment kept current on write, re-scoring,
-- transitions and their matrix.
SET extra_float_digits = 0;

-- ---- custseg_rfm: every documented case on a small orders table ----
CREATE TABLE motion_orders (order_id int PRIMARY KEY, customer text, ordered_at timestamptz, amount numeric(10, 2), units int);
INSERT INTO motion_orders VALUES
    (1, 'a', '2024-01-01 10:00+00', 10.00, 1),
    (2, 'a', '2024-01-11 10:00+00', 30.00, 3),
    (3, 'a', '2024-01-21 10:00+00', -5.00, -1),   -- a refund: lowers monetary, not an order
    (4, 'a', '2024-03-01 10:00+00', 100.00, 9),   -- after as_of: left out
    (5, 'b', '2024-01-05 22:00+00', NULL, 2),     -- unknown amount: an order, not in monetary
    (6, 'b', '2024-01-25 22:00+00', 0.00, 1),     -- free order: an order worth 0
    (7, 'c', '2024-01-30 10:00+00', -20.00, NULL), -- only a refund: c is no customer yet
    (8, 'd', '2024-01-15 10:00+00', NULL, NULL),   -- unknown amount only: monetary NULL
    (9, NULL, '2024-01-15 10:00+00', 50.00, 5),   -- no customer: left out
    (10, 'e', NULL, 50.00, 5),                    -- no time: left out
    (11, 'e', '2024-02-01 10:00+00', 40.00, 4);   -- exactly at as_of: counted, recency 0
SET TimeZone = 'UTC';
SELECT customer_key, round(recency_days::numeric, 4) AS recency_days, frequency, monetary, monetary_avg,
       round(tenure_days::numeric, 4) AS tenure_days
FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount', '2024-02-01 10:00+00');
-- The same over the last 15 days, with units.
SELECT customer_key, frequency, quantity, recent_frequency, recent_monetary, recent_quantity
FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount', '2024-02-01 10:00+00', 15, 'units');
SELECT customer_key, recent_frequency, recent_monetary
FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount', '2024-02-01 10:00+00', window_days => 15);
SELECT customer_key, quantity
FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount', '2024-02-01 10:00+00', quantity_column => 'units');
-- A date column counts whole days, and an order on the as_of day.
CREATE VIEW motion_orders_by_day AS SELECT customer, ordered_at::date AS day, amount FROM motion_orders;
SELECT customer_key, recency_days, frequency, tenure_days
FROM custseg_rfm('motion_orders_by_day', 'customer', 'day', 'amount', '2024-02-01');
-- A timestamp column (no time zone), and column names that need quoting.
CREATE VIEW motion_orders_local AS
SELECT customer AS "Customer ID", ordered_at AT TIME ZONE 'UTC' AS "Order Time", amount AS "Amount ($)" FROM motion_orders;
SELECT customer_key, recency_days, frequency, monetary, tenure_days, recent_frequency, recent_monetary
FROM custseg_rfm('motion_orders_local', 'Customer ID', 'Order Time', 'Amount ($)', '2024-02-01 10:00+00', 10);
-- Without as_of: now(); every order is in the past.
SELECT count(*), sum(frequency) FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount');
-- Bad input.
SELECT err($$SELECT * FROM custseg_rfm('motion_orders', 'nobody', 'ordered_at', 'amount')$$);
SELECT err($$SELECT * FROM custseg_rfm('motion_orders', 'customer', 'amount', 'amount')$$);
SELECT err($$SELECT * FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'customer')$$);
SELECT err($$SELECT * FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount', now(), 0)$$);
SELECT err($$SELECT * FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount', NULL)$$);
SELECT err($$SELECT * FROM custseg_rfm('motion_orders', 'customer', 'ordered_at', 'amount', now(), 'customer')$$);
SELECT err($$SELECT * FROM custseg_rfm('motion_orders', NULL, 'ordered_at', 'amount')$$);

-- ---- CDNOW: the real purchase history, against the same numbers computed directly ----
CREATE TABLE cdnow_orders (customer_id text, sample_id text, order_date date, cds int, amount numeric(10, 2));
\copy cdnow_orders FROM '../shared/data/cdnow_transactions.csv' WITH (FORMAT csv, HEADER true)
SELECT count(*) AS customers, sum(frequency) AS orders, round(sum(monetary)::numeric, 2) AS revenue
FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1998-07-01');
SELECT count(*) AS mismatches
FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1998-07-01', 90, 'cds') r
FULL JOIN (SELECT customer_id, '1998-07-01'::date - max(order_date) AS recency, count(*) AS n, sum(amount) AS total,
                  avg(amount) AS mean, '1998-07-01'::date - min(order_date) AS tenure, sum(cds) AS cds,
                  count(*) FILTER (WHERE order_date > '1998-04-02') AS n90,
                  coalesce(sum(amount) FILTER (WHERE order_date > '1998-04-02'), 0) AS total90
           FROM cdnow_orders GROUP BY 1) d ON d.customer_id = r.customer_key
WHERE r.customer_key IS NULL OR d.customer_id IS NULL OR r.recency_days <> d.recency OR r.frequency <> d.n
   OR abs(r.monetary - d.total::float8) > 1e-9 OR abs(r.monetary_avg - d.mean::float8) > 1e-9
   OR r.tenure_days <> d.tenure OR r.quantity <> d.cds OR r.recent_frequency <> d.n90
   OR abs(r.recent_monetary - d.total90::float8) > 1e-9;
-- Orders after as_of are left out: as of the end of 1997.
SELECT count(*) AS customers, sum(frequency) AS orders, max(recency_days) AS max_recency
FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1997-12-31');

-- ---- A kept segment: customers' RFM as of the end of 1997, segmented ----
CREATE TABLE cdnow_customers AS
SELECT * FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1997-12-31');
ALTER TABLE cdnow_customers ADD PRIMARY KEY (customer_key);
SELECT version FROM custseg_train('cdnow', 'cdnow_customers', k => 4, options => '{"seed": 42}');
SELECT segment, split_part(label, ':', 1) AS archetype, size FROM custseg_segments WHERE model = 'cdnow' ORDER BY segment;
SELECT custseg_keep_segment('cdnow_customers', 'cdnow') AS filled;
SELECT column_name, data_type FROM information_schema.columns
WHERE table_name = 'cdnow_customers' AND column_name = 'segment';
SELECT model, key_columns, version FROM custseg_kept_segments;
-- Filling is not a change: nothing recorded.
SELECT count(*) AS changes FROM custseg_segment_changes;
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'cdnow')) AS differ FROM cdnow_customers c;
-- Inserts and updates: the column follows the row; a value written into it is overwritten.
INSERT INTO cdnow_customers (customer_key, recency_days, frequency, monetary, monetary_avg, tenure_days, segment)
VALUES ('new1', 1, 20, 2000, 100, 300, 99), ('new2', 360, 1, 5, 5, 360, NULL);
UPDATE cdnow_customers c SET recency_days = r.recency_days, frequency = r.frequency, monetary = r.monetary,
                             monetary_avg = r.monetary_avg, tenure_days = r.tenure_days
FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1998-06-30') r
WHERE r.customer_key = c.customer_key;
UPDATE cdnow_customers SET segment = 42 WHERE customer_key = 'new2';
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'cdnow')) AS differ, count(*) AS customers
FROM cdnow_customers c;
-- Every change was recorded once, as an update, with the version that gave it.
SELECT reason, version, count(*) AS changes, count(DISTINCT customer_key) AS customers
FROM custseg_segment_changes GROUP BY 1, 2;
SELECT count(*) AS wrong FROM custseg_segment_changes ch JOIN cdnow_customers c ON c.customer_key = ch.customer_key
WHERE ch.to_segment <> c.segment OR ch.from_segment = ch.to_segment OR ch.source <> 'public.cdnow_customers';

-- Retraining excludes the kept column (never a feature), and the views still work.
SELECT version, options -> 'exclude' AS exclude FROM custseg_train('cdnow', 'cdnow_customers', k => 4, options => '{"seed": 7}');
SELECT custseg_model_json(model) -> 'features' @> '[{"name": "segment"}]' AS segment_is_feature
FROM custseg_models WHERE name = 'cdnow' AND active;
SELECT * FROM custseg_create_views('cdnow_customers', 'cdnow');
SELECT count(*) AS rows, count(*) FILTER (WHERE segment IS NOT NULL AND label IS NOT NULL) AS labelled
FROM cdnow_customers_segments;
-- Until re-scored, rows keep the segment of version 1.
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'cdnow')) > 0 AS stale FROM cdnow_customers c;

-- ---- custseg_rescore: in batches, restartable ----
-- One batch, as if the run were stopped after it: progress says where it is.
SELECT custseg_rescore_batch('cdnow_customers', 'cdnow', 300, NULL) AS finished;
SELECT rescore_version, rescore_done, rescore_total, rescore_last_key IS NOT NULL AS has_position,
       rescore_finished_at IS NULL AS running, version
FROM custseg_kept_segments;
CREATE TEMP TABLE first_start AS SELECT rescore_started_at FROM custseg_kept_segments;
SET client_min_messages = warning;
CALL custseg_rescore('cdnow_customers', 'cdnow', batch_size => 300);
RESET client_min_messages;
-- Resumed, not restarted: same start, every row counted once.
SELECT k.rescore_done, k.rescore_total, k.rescore_started_at = f.rescore_started_at AS resumed,
       k.rescore_finished_at IS NOT NULL AS finished, k.version, k.rescore_last_key
FROM custseg_kept_segments k, first_start f;
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'cdnow')) AS differ FROM cdnow_customers c;
-- A second run for the same version has nothing to do.
CALL custseg_rescore('cdnow_customers', 'cdnow');

-- ---- Transitions: the matrix equals a direct count, and the log's re-scoring agrees ----
CREATE TEMP TABLE matrix AS SELECT * FROM custseg_transitions('cdnow', 1, 2);
SELECT sum(customers) AS customers, round(sum(share)::numeric, 6) AS shares_sum FROM matrix;
-- Version 1's segments vanished from custseg_segments with version 2, and keep their names here.
SELECT DISTINCT from_segment, split_part(from_label, ':', 1) AS from_label FROM matrix ORDER BY 1;
SELECT count(*) AS mismatches
FROM matrix m
FULL JOIN (SELECT custseg_predict(a.model, c) AS f, custseg_predict(b.model, c) AS t, count(*) AS n
           FROM cdnow_customers c, custseg_models a, custseg_models b
           WHERE a.name = 'cdnow' AND a.version = 1 AND b.name = 'cdnow' AND b.version = 2 GROUP BY 1, 2) d
  ON d.f = m.from_segment AND d.t = m.to_segment
WHERE m.customers IS DISTINCT FROM d.n;
-- The rows re-scoring changed are the matrix's off-diagonal cells (no row changed meanwhile).
SELECT (SELECT sum(customers) FROM matrix WHERE from_segment <> to_segment) =
       (SELECT count(*) FROM custseg_segment_changes WHERE reason = 'rescore') AS log_matches_matrix;
SELECT count(*) AS mismatches FROM (
    SELECT from_segment, to_segment, count(*) AS n FROM custseg_segment_changes WHERE reason = 'rescore' GROUP BY 1, 2) l
FULL JOIN (SELECT * FROM matrix WHERE from_segment <> to_segment) m USING (from_segment, to_segment)
WHERE l.n IS DISTINCT FROM m.customers;
-- Rolling back is one more activation and one more re-scoring; the way back is the transpose.
SELECT version FROM custseg_activate('cdnow', 1);
SET client_min_messages = warning;
CALL custseg_rescore('cdnow_customers');
RESET client_min_messages;
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'cdnow')) AS differ FROM cdnow_customers c;
SELECT count(*) AS not_transposed FROM custseg_transitions('cdnow', 2, 1) b
FULL JOIN matrix a ON a.from_segment = b.to_segment AND a.to_segment = b.from_segment
WHERE a.customers IS DISTINCT FROM b.customers;
-- Outside a transaction's control: commit => false runs in the caller's transaction.
BEGIN;
SELECT version FROM custseg_activate('cdnow', 2);
SET LOCAL client_min_messages = warning;
CALL custseg_rescore('cdnow_customers', 'cdnow', "commit" => false);
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'cdnow')) AS differ FROM cdnow_customers c;
ROLLBACK;

-- ---- Bad input ----
CREATE TABLE motion_nokey (a int, b int);
SELECT err($$SELECT custseg_keep_segment('motion_nokey', 'cdnow')$$);
SELECT err($$SELECT custseg_keep_segment('cdnow_customers_segments', 'cdnow')$$);
SELECT err($$SELECT custseg_keep_segment('cdnow_customers', 'nosuchmodel')$$);
SELECT err($$SELECT custseg_keep_segment('cdnow_customers', 'cdnow', 'frequency')$$);
SELECT err($$SELECT custseg_keep_segment('cdnow_customers', 'cdnow', 'customer_key')$$);
ALTER TABLE cdnow_customers ADD COLUMN note text;
SELECT err($$SELECT custseg_keep_segment('cdnow_customers', 'cdnow', 'note')$$);
SELECT err($$SELECT custseg_keep_segment('cdnow_customers', NULL)$$);
SELECT err($$CALL custseg_rescore('motion_orders')$$);
SELECT err($$CALL custseg_rescore('cdnow_customers', batch_size => 0)$$);
SELECT err($$SELECT * FROM custseg_transitions('cdnow', 1, 9)$$);
SELECT err($$SELECT * FROM custseg_transitions('nosuchmodel', 1, 2)$$);
SELECT err($$SELECT * FROM custseg_transitions('cdnow', NULL, 2)$$);
SELECT err($$SELECT custseg_keep_segment_trigger()$$);
-- A column kept on a key of two columns: the customer key is a JSON array.
CREATE TABLE motion_two (region text, id int, recency_days float8, frequency bigint, monetary float8,
                         monetary_avg float8, tenure_days float8, PRIMARY KEY (region, id));
INSERT INTO motion_two SELECT 'r' || (i % 2), i, recency_days, frequency, monetary, monetary_avg, tenure_days
FROM (SELECT row_number() OVER (ORDER BY customer_key) AS i, * FROM cdnow_customers) c;
SELECT custseg_keep_segment('motion_two', 'cdnow', 'seg') AS filled;
SELECT version FROM custseg_activate('cdnow', 2);
SET client_min_messages = warning;
CALL custseg_rescore('motion_two', batch_size => 128);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE seg IS DISTINCT FROM custseg_predict(t, 'cdnow')) AS differ FROM motion_two t;
SELECT count(*) > 0 AS changed, bool_and(customer_key ~ '^\["r[01]", [0-9]+\]$') AS json_keys
FROM custseg_segment_changes WHERE source = 'public.motion_two';
SELECT custseg_unkeep_segment('motion_two', 'seg');
UPDATE motion_two SET seg = NULL WHERE id = 1;
SELECT seg FROM motion_two WHERE id = 1;
-- A partitioned table: the partitions' rows are kept, and their changes name the partitioned table.
CREATE TABLE motion_parts (id int, region text, recency_days float8, frequency bigint, monetary float8,
                           monetary_avg float8, tenure_days float8, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE motion_parts_a PARTITION OF motion_parts FOR VALUES IN ('a');
CREATE TABLE motion_parts_b PARTITION OF motion_parts FOR VALUES IN ('b');
INSERT INTO motion_parts SELECT i, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, recency_days, frequency, monetary, monetary_avg, tenure_days
FROM (SELECT row_number() OVER (ORDER BY customer_key) AS i, * FROM cdnow_customers) c;
SELECT custseg_keep_segment('motion_parts', 'cdnow') AS filled;
UPDATE motion_parts SET recency_days = recency_days + 200;
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(t, 'cdnow')) AS differ FROM motion_parts t;
SELECT source, count(*) > 0 AS changed FROM custseg_segment_changes WHERE source LIKE 'public.motion_parts%' GROUP BY 1;
SELECT version FROM custseg_activate('cdnow', 1);
SET client_min_messages = warning;
CALL custseg_rescore('motion_parts', batch_size => 300);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(t, 'cdnow')) AS differ, count(*) AS rows FROM motion_parts t;
-- fill => false: the column is filled by custseg_rescore in batches, and filling records no change.
CREATE TABLE motion_big AS SELECT customer_key, recency_days, frequency, monetary, monetary_avg, tenure_days FROM cdnow_customers;
ALTER TABLE motion_big ADD PRIMARY KEY (customer_key);
SELECT custseg_keep_segment('motion_big', 'cdnow', fill => false) AS filled;
SELECT count(segment) AS filled_rows FROM motion_big;
SET client_min_messages = warning;
CALL custseg_rescore('motion_big', batch_size => 400);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(t, 'cdnow')) AS differ, count(segment) AS filled_rows
FROM motion_big t;
SELECT count(*) AS changes FROM custseg_segment_changes WHERE source = 'public.motion_big';
