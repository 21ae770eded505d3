-- The demo's SQL: run by scripts/demo.sh after loading mall_customers. Each step is what a user types.
\echo
\echo '== Explore: every column described, and the correlations of the numeric ones'
SELECT column_name, kind, count, nulls, distinct_count, round(mean::numeric, 2) AS mean, round(stddev::numeric, 2) AS stddev,
       min, q1, median, q3, max, outliers, top
FROM custseg_describe('mall_customers') WHERE column_name <> 'customer_id';
SELECT column_a, column_b, round(r::numeric, 3) AS r FROM custseg_correlations('mall_customers');

\echo
\echo '== Choose k: elbow and silhouette for k = 2..8, from one scan'
SELECT k, round(inertia::numeric, 2) AS inertia, round(silhouette::numeric, 4) AS silhouette,
       round(calinski_harabasz::numeric, 2) AS calinski_harabasz, round(davies_bouldin::numeric, 4) AS davies_bouldin,
       is_elbow, chosen
FROM custseg_evaluate_k('mall_customers', 2, 8, options => '{"seed": 42}');

\echo
\echo '== Train: one scan, the primary key left out, k = 3 segments on 2 principal components;'
\echo '   the spending score is what the labels call customer value (option value_column)'
SELECT name, version, source, metrics ->> 'rows_used' AS rows, round((metrics ->> 'silhouette')::numeric, 3) AS silhouette,
       round((metrics ->> 'inertia')::numeric, 2) AS inertia, metrics -> 'explained_variance_ratio' AS pca_variance_ratio
FROM custseg_train('mall', 'mall_customers', k => 3, n_components => 2,
                   options => '{"seed": 42, "value_column": "spending_score"}');

\echo
\echo '== Segments: size, share and a generated label that says what stands out'
SELECT segment, label, size, round(share::numeric, 3) AS share, description
FROM custseg_segments WHERE model = 'mall' ORDER BY segment;

\echo
\echo '== Segment profiles: box-plot numbers per segment in original units (segment empty = all customers)'
SELECT segment, split_part(label, ':', 1) AS label, feature, n, round(mean::numeric, 1) AS mean, round(stddev::numeric, 1) AS stddev,
       min, q1, median, q3, max, shares
FROM custseg_profile('mall');

\echo
\echo '== Offers: a curated set per archetype (High Value, Low Value, the others), joined to segments'
\echo '   through custseg_segment_offers; offers belong to the segment number, whatever its label becomes'
INSERT INTO custseg_offers (model, segment, title, details, discount_pct, priority, channel)
SELECT 'mall', s.segment, o.title, o.details, o.discount_pct, o.priority, o.channel
FROM custseg_segments s
JOIN (VALUES
    ('High Value', 'Premium bundle', 'curated premium bundle with early access to new collections', NULL, 10, 'email'),
    ('High Value', 'Free express shipping', 'express shipping on every order this quarter', NULL, 20, 'app'),
    ('Low Value', 'Weekday discount', '15% off on weekdays', 15.00, 10, 'email'),
    ('Low Value', 'Loyalty rewards', 'double loyalty points on essentials', NULL, 20, 'app'),
    ('other', 'Upgrade offer', 'upsell to the next tier at the price of the current one', 5.00, 10, 'store'),
    ('other', 'Referral incentive', 'a voucher for every friend who joins', NULL, 20, 'email')
) AS o(archetype, title, details, discount_pct, priority, channel)
  ON o.archetype = CASE WHEN s.label LIKE 'High Value%' THEN 'High Value' WHEN s.label LIKE 'Low Value%' THEN 'Low Value'
                        ELSE 'other' END
WHERE s.model = 'mall';
SELECT segment, split_part(label, ':', 1) AS segment_label, offer_rank, title, discount_pct, channel
FROM custseg_segment_offers WHERE model = 'mall' ORDER BY segment, offer_rank;

\echo
\echo '== Predictions in place: every customer scored by the active model of its table'
SELECT custseg_predict(c) AS segment, count(*) AS customers,
       round(avg(annual_income_thousands), 1) AS avg_income_k, round(avg(spending_score), 1) AS avg_spending_score
FROM mall_customers c GROUP BY 1 ORDER BY 1;

\echo
\echo '== One assignment explained: distance to its centroid and to the runner-up, confidence'
SELECT c.customer_id, c.gender, c.age, c.annual_income_thousands AS income_k, c.spending_score,
       s.segment, split_part(s.label, ':', 1) AS label, round(s.distance::numeric, 3) AS distance,
       round(s.runner_up_distance::numeric, 3) AS runner_up, round(s.confidence::numeric, 3) AS confidence
FROM mall_customers c, custseg_score(c, 'mall') s
WHERE c.customer_id IN ('0001', '0002', '0100', '0150', '0200') ORDER BY c.customer_id;

\echo
\echo '== A new customer, as JSON from an application'
SELECT custseg_predict('{"gender": "Female", "age": 31, "annual_income_thousands": 88, "spending_score": 91}'::jsonb,
                       'mall') AS segment;

\echo
\echo '== Views: customers with segment and label, and one row per customer x current offer'
SELECT custseg_create_views('mall_customers', 'mall');
SELECT customer_id, segment, split_part(label, ':', 1) AS label, offer_title, offer_rank
FROM mall_customers_segments_offers WHERE customer_id IN ('0001', '0200') ORDER BY customer_id, offer_rank;

\echo
\echo '== Nightly retraining: a new version keeps segment numbers, labels and offers; drift is recorded'
SELECT version, metrics -> 'matched_segments' AS matched,
       ARRAY(SELECT jsonb_array_elements_text(metrics -> 'new_segments')::int) AS new_segments,  -- {} as below
       metrics -> 'drift_rows' AS drift_rows
FROM custseg_train('mall', 'mall_customers', k => 3, options => '{"seed": 7, "value_column": "spending_score"}');
SELECT version, previous_version, active, matched_segments, new_segments, vanished_segments, drift_rows, drift_share
FROM custseg_drift('mall');
SELECT segment, split_part(label, ':', 1) AS label, count(*) AS offers
FROM custseg_segment_offers WHERE model = 'mall' GROUP BY 1, 2 ORDER BY 1;

\echo
\echo '== Customers in motion: RFM features of the CDNOW purchase history (2,891 orders of 1,000 customers)'
\echo '   recency and tenure in days as of a date, orders, net spend and average order, per customer'
SELECT * FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1997-12-31') LIMIT 5;
CREATE TABLE cdnow_customers AS
SELECT * FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1997-12-31');
ALTER TABLE cdnow_customers ADD PRIMARY KEY (customer_key);

\echo
\echo '== RFM segments: four segments of the customers as of the end of 1997'
SELECT version, round((metrics ->> 'silhouette')::numeric, 3) AS silhouette
FROM custseg_train('cdnow', 'cdnow_customers', k => 4, options => '{"seed": 42}');
SELECT p.segment, s.label, s.size, round((avg(p.mean) FILTER (WHERE p.feature = 'recency_days'))::numeric, 0) AS recency_days,
       round((avg(p.mean) FILTER (WHERE p.feature = 'frequency'))::numeric, 1) AS orders,
       round((avg(p.mean) FILTER (WHERE p.feature = 'monetary'))::numeric, 2) AS spend,
       round((avg(p.mean) FILTER (WHERE p.feature = 'monetary_avg'))::numeric, 2) AS avg_order,
       round((avg(p.mean) FILTER (WHERE p.feature = 'tenure_days'))::numeric, 0) AS tenure_days
FROM custseg_profile('cdnow') p JOIN custseg_segments s ON s.model = 'cdnow' AND s.segment = p.segment
GROUP BY 1, 2, 3 ORDER BY 1;

\echo
\echo '== A kept segment: cdnow_customers.segment follows every write (a trigger scores the row)'
SELECT custseg_keep_segment('cdnow_customers', 'cdnow') AS rows_filled;
SELECT segment, count(*) AS customers FROM cdnow_customers GROUP BY 1 ORDER BY 1;

\echo
\echo '== One customer orders again: the segment changes in the same transaction, and is announced'
LISTEN custseg_segment_changed;
UPDATE cdnow_customers SET recency_days = 0, frequency = frequency + 3, monetary = monetary + 180,
                           monetary_avg = (monetary + 180) / (frequency + 3)
WHERE customer_key = '00018';
UNLISTEN custseg_segment_changed;
SELECT customer_key, segment FROM cdnow_customers WHERE customer_key = '00018';

\echo
\echo '== Six months of orders arrive: every customer''s RFM as of 1998-06-30, in one statement'
UPDATE cdnow_customers c SET recency_days = r.recency_days, frequency = r.frequency, monetary = r.monetary,
                             monetary_avg = r.monetary_avg, tenure_days = r.tenure_days
FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1998-06-30') r
WHERE r.customer_key = c.customer_key;
SELECT split_part(f.label, ':', 1) AS from_label, split_part(t.label, ':', 1) AS to_label, count(*) AS customers
FROM custseg_segment_changes ch
JOIN custseg_segments f ON f.model = ch.model AND f.segment = ch.from_segment
JOIN custseg_segments t ON t.model = ch.model AND t.segment = ch.to_segment
WHERE ch.model = 'cdnow' GROUP BY 1, 2 ORDER BY 3 DESC;

\echo
\echo '== The nightly job: retrain on the new numbers, then re-score every stored segment in batches'
SELECT version, metrics -> 'matched_segments' AS matched, metrics -> 'drift_rows' AS drift_rows
FROM custseg_train('cdnow', 'cdnow_customers', k => 4, options => '{"seed": 42}');
CALL custseg_rescore('cdnow_customers', 'cdnow', batch_size => 250);
SELECT model, version, rescore_done, rescore_total, rescore_changed, rescore_finished_at IS NOT NULL AS finished
FROM custseg_kept_segments;

\echo
\echo '== Transitions: where the customers of version 1''s segments are under version 2'
\echo '   (both versions score today''s rows; each segment named as it was under its version)'
SELECT from_segment, split_part(from_label, ':', 1) AS from_label, to_segment, split_part(to_label, ':', 1) AS to_label,
       customers, round(share::numeric, 3) AS share
FROM custseg_transitions('cdnow', 1, 2);
SELECT reason, count(*) AS changes FROM custseg_segment_changes WHERE model = 'cdnow' GROUP BY 1 ORDER BY 1;

\echo
\echo '== Offers for the segments of the active version, by archetype'
INSERT INTO custseg_offers (model, segment, title, details, discount_pct, priority, channel)
SELECT 'cdnow', s.segment, o.title, o.details, o.discount_pct, 10, o.channel
FROM custseg_segments s
JOIN (VALUES ('High Value', 'Collector''s box set', 'early access to the box sets of the season', NULL, 'email'),
             ('Low Value', 'Come back: 20% off', 'a win-back discount on the next order', 20.00, 'email'),
             ('other', 'Recommended for you', 'picks from the genres bought most', NULL, 'app'))
  AS o(archetype, title, details, discount_pct, channel)
  -- monetary is recognised as the customer value column: High Value and Low Value, the others by traits.
  ON o.archetype = CASE WHEN s.label LIKE 'High Value%' THEN 'High Value' WHEN s.label LIKE 'Low Value%' THEN 'Low Value'
                        ELSE 'other' END
WHERE s.model = 'cdnow';
SELECT segment, split_part(label, ':', 1) AS label, title, discount_pct, channel
FROM custseg_segment_offers WHERE model = 'cdnow' ORDER BY segment, offer_rank;

\echo
\echo '== Labels on three real tables: what stands out in each segment, in words a marketing team can use'
\echo '   mall: 5 segments, the spending score as customer value'
SELECT 1 FROM custseg_train('mall_k5', 'mall_customers', k => 5, options => '{"seed": 42, "value_column": "spending_score"}') \g /dev/null
SELECT segment, label, size, description FROM custseg_segments WHERE model = 'mall_k5' ORDER BY segment;
\echo '   wholesale: spend per category on log1p (skewed), Channel and Region as categories, total spend'
\echo '   not a column, so no value archetype: the labels name traits only'
SELECT 1 FROM custseg_train('wholesale', 'wholesale_customers', k => 4,
    options => '{"seed": 42, "categorical": ["Channel", "Region"],
                 "transform": {"Fresh": "log1p", "Milk": "log1p", "Grocery": "log1p", "Frozen": "log1p",
                               "Detergents_Paper": "log1p", "Delicassen": "log1p"}}') \g /dev/null
SELECT segment, label, size, description FROM custseg_segments WHERE model = 'wholesale' ORDER BY segment;
\echo '   retail: the categorical columns that split the customers (marital status, gender)'
SELECT 1 FROM custseg_train('retail', 'retail_customers', k => 4, n_components => NULL,
    options => '{"seed": 42, "exclude": ["CustomerID", "Age", "Annual Income (k$)", "Spending Score (1-100)",
                 "Number of Children", "Years as Customer", "Education Level", "Employment Status"]}') \g /dev/null
SELECT segment, label, size, description FROM custseg_segments WHERE model = 'retail' ORDER BY segment;
