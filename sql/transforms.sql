-- Per-column transforms: log1p and clipping (at bounds or at quantiles), stored in the model,
-- replayed at scoring, profiles in original units; format 1 models without transforms unchanged.
CREATE TABLE wholesale_tf ("Customer ID" int PRIMARY KEY, "Channel" int, "Region" int, "Fresh" int, "Milk" int,
                        "Grocery" int, "Frozen" int, "Detergents_Paper" int, "Delicassen" int);
\copy wholesale_tf FROM '../shared/data/wholesale_customers.csv' WITH (FORMAT csv, HEADER true)

-- The transform is stored per feature; the imputation value is the mean of the transformed values.
CREATE TABLE tf_m AS
SELECT custseg_fit(w, '{"k": 3, "seed": 1, "exclude": ["Customer ID"],
                        "transform": {"Fresh": "log1p", "Milk": {"clip": [100, 20000], "log1p": true},
                                      "Grocery": {"clip": [0, 30000]}}}') AS m
FROM wholesale_tf w;
SELECT f ->> 'name' AS feature, f -> 'transform' AS transform, round((f ->> 'impute')::numeric, 6) AS impute
FROM tf_m, jsonb_array_elements(custseg_model_json(m) -> 'features') f;
SELECT round(avg(ln(1 + "Fresh"))::numeric, 6) AS fresh_log_mean,
       round(avg(ln(1 + least(greatest("Milk", 100), 20000)))::numeric, 6) AS milk_mean,
       round(avg(least(greatest("Grocery", 0), 30000))::numeric, 6) AS grocery_mean
FROM wholesale_tf;
SELECT custseg_model_json(m) ->> 'version' AS format_version FROM tf_m;

-- Scoring replays the transform: the encoded row equals the transform done by hand.
SELECT bool_and(abs((custseg_transform(custseg_fit_noPCA, w))[3] - (ln(1 + "Fresh") - sc.mean[3]) / sc.scale[3]) < 1e-12
                AND abs((custseg_transform(custseg_fit_noPCA, w))[4] - (ln(1 + least(greatest("Milk", 100), 20000)) - sc.mean[4]) / sc.scale[4]) < 1e-12
                AND abs((custseg_transform(custseg_fit_noPCA, w))[5] - (least("Grocery", 30000) - sc.mean[5]) / sc.scale[5]) < 1e-12)
       AS scoring_replays_transform
FROM wholesale_tf w,
     (SELECT custseg_fit(w2, '{"k": null, "n_components": null, "exclude": ["Customer ID"],
                               "transform": {"Fresh": "log1p", "Milk": {"clip": [100, 20000], "log1p": true},
                                             "Grocery": {"clip": [0, 30000]}}}') AS custseg_fit_noPCA
      FROM wholesale_tf w2) f,
     LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(custseg_model_json(custseg_fit_noPCA) #> '{scaler,mean}')::float8) AS mean,
                     ARRAY(SELECT jsonb_array_elements_text(custseg_model_json(custseg_fit_noPCA) #> '{scaler,scale}')::float8) AS scale) sc;
-- A value log1p cannot take is an error naming the column, in training and in scoring.
CREATE TABLE tf_neg (a float8, b float8);
INSERT INTO tf_neg VALUES (1, 2), (3, 4), (-1, 5);
SELECT err($q$SELECT custseg_fit(t, '{"k": 2, "transform": {"a": "log1p"}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_predict(m, t) FROM tf_m, (SELECT -2 AS "Channel", 1 AS "Region", -5 AS "Fresh", 1 AS "Milk", 1 AS "Grocery",
                                                      1 AS "Frozen", 1 AS "Detergents_Paper", 1 AS "Delicassen") t$q$);
-- Clipping first makes log1p safe.
SELECT custseg_model_json(custseg_fit(t, '{"k": 2, "transform": {"a": {"clip": [0, 10], "log1p": true}}}')) #> '{features,0,transform}'
FROM tf_neg t;

-- Bad transform options.
SELECT err($q$SELECT custseg_fit(t, '{"transform": ["a"]}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": "log"}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": {}}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": {"clip": [5, 1]}}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": {"clip": [0]}}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": {"clip_quantiles": [0.5, 0.1]}}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": {"log": true}}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"c": "log1p"}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"exclude": ["a"], "transform": {"a": "log1p"}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"categorical": ["a"], "transform": {"a": "log1p"}}') FROM tf_neg t$q$);
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": {"clip": [-2, 5], "log1p": true}}}') FROM tf_neg t$q$);
-- The aggregate alone cannot compute quantiles before the moments (one pass).
SELECT err($q$SELECT custseg_fit(t, '{"transform": {"a": {"clip_quantiles": [0.1, 0.9]}}}') FROM tf_neg t$q$);

-- custseg_train computes the quantiles in a first pass (percentile_cont, pandas' linear
-- interpolation) and stores them as the clip bounds; the options keep the quantiles asked for.
SELECT options -> 'transform' AS transform
FROM custseg_train('tf_w', 'wholesale_tf', 4, NULL,
                   options => '{"seed": 3, "transform": {"Fresh": {"clip_quantiles": [0.05, 0.95], "log1p": true},
                                                         "Milk": "log1p", "Grocery": "log1p", "Frozen": "log1p",
                                                         "Detergents_Paper": {"clip_quantiles": [0, 0.99], "log1p": true},
                                                         "Delicassen": "log1p"}}');
SELECT percentile_cont(ARRAY[0.05, 0.95]) WITHIN GROUP (ORDER BY "Fresh") AS fresh_quantiles FROM wholesale_tf;
SELECT custseg_model_json(model) #> '{features,2,transform}' AS fresh FROM custseg_models WHERE name = 'tf_w';
-- On log1p values no segment is a handful of outliers (raw values give a 3-customer segment below).
SELECT min(size) >= 40 AS no_tiny_segment FROM custseg_segments WHERE model = 'tf_w';
SELECT min(size) AS smallest_raw_segment
FROM (SELECT count(*) AS size FROM wholesale_tf w,
             (SELECT custseg_fit(w2, '{"k": 4, "seed": 3, "n_components": 2, "exclude": ["Customer ID"]}') AS m FROM wholesale_tf w2) f
      GROUP BY custseg_predict(f.m, w)) s;
-- Segment sizes agree with scoring (the transform is replayed row by row).
SELECT bool_and(s.size = c.n) AS sizes_match
FROM custseg_segments s
JOIN (SELECT custseg_predict(w, 'tf_w') AS segment, count(*) AS n FROM wholesale_tf w GROUP BY 1) c USING (segment)
WHERE s.model = 'tf_w';
-- Profiles are in original units: the mean of the raw spend, not of its log.
SELECT bool_and(abs(p.mean - r.mean) < 1e-6) AS profile_in_original_units
FROM custseg_profile('tf_w') p
JOIN (SELECT avg("Fresh")::float8 AS mean FROM wholesale_tf) r ON true
WHERE p.segment IS NULL AND p.feature = 'Fresh';
-- Retraining with the stored options recomputes the quantiles from the current rows.
UPDATE wholesale_tf SET "Fresh" = "Fresh" * 2;
SELECT (options #>> '{transform,Fresh,clip,1}')::float8 = 2 * 36818.5 AS quantiles_recomputed
FROM custseg_train('tf_w', 'wholesale_tf', 4, NULL, options => (SELECT jsonb_build_object('seed', 3, 'transform', options -> 'transform')
                                                         FROM custseg_models WHERE name = 'tf_w' AND version = 1));
UPDATE wholesale_tf SET "Fresh" = "Fresh" / 2;
-- custseg_evaluate_k resolves them too.
SELECT count(*) AS ks FROM custseg_evaluate_k('wholesale_tf', 2, 3, NULL,
                                              options => '{"transform": {"Fresh": {"clip_quantiles": [0.01, 0.99]}}}');
SELECT err($q$SELECT * FROM custseg_evaluate_k('wholesale_tf', 2, 3, NULL, options => '{"transform": {"Nope": {"clip_quantiles": [0.01, 0.99]}}}')$q$);
SELECT err($q$SELECT * FROM custseg_evaluate_k('wholesale_tf', 2, 3, NULL, options => '{"transform": {"Fresh": {"clip_quantiles": [0.01, 2]}}}')$q$);
SELECT err($q$SELECT * FROM custseg_evaluate_k('mall', 2, 3, NULL, options => '{"transform": {"gender": {"clip_quantiles": [0.01, 0.99]}}}')$q$);

-- The jsonb form and a parallel plan (partial states merged) transform the same way.
CREATE TABLE tf_forms AS
SELECT custseg_fit(w, '{"k": 3, "seed": 1, "exclude": ["Customer ID"], "transform": {"Fresh": "log1p", "Milk": {"clip": [100, 20000], "log1p": true}}}') AS serial,
       custseg_fit(to_jsonb(w) - 'Customer ID', '{"k": 3, "seed": 1, "transform": {"Fresh": "log1p", "Milk": {"clip": [100, 20000], "log1p": true}}}') AS jsonb_form
FROM wholesale_tf w;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
-- force_parallel_mode is called debug_parallel_query from PostgreSQL 16 on.
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query'
            ELSE 'force_parallel_mode' END AS force_parallel \gset
SET :force_parallel = on;
ALTER TABLE tf_forms ADD COLUMN parallel custseg_model;
UPDATE tf_forms SET parallel = (SELECT custseg_fit(w, '{"k": 3, "seed": 1, "exclude": ["Customer ID"], "transform": {"Fresh": "log1p", "Milk": {"clip": [100, 20000], "log1p": true}}}') FROM wholesale_tf w);
RESET :force_parallel;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- (The jsonb form orders its features by key, so its features are compared by name.)
SELECT custseg_model_json(serial) -> 'features' = custseg_model_json(parallel) -> 'features' AS parallel_same_features,
       (SELECT max(abs(x::float8 - y::float8)) FROM jsonb_array_elements_text(custseg_model_json(serial) #> '{scaler,mean}') WITH ORDINALITY a(x, i)
        JOIN jsonb_array_elements_text(custseg_model_json(parallel) #> '{scaler,mean}') WITH ORDINALITY b(y, j) ON i = j) < 1e-9 AS parallel_same_scaler,
       (SELECT jsonb_agg(f ORDER BY f ->> 'name') FROM jsonb_array_elements(custseg_model_json(serial) -> 'features') f) =
       (SELECT jsonb_agg(f ORDER BY f ->> 'name') FROM jsonb_array_elements(custseg_model_json(jsonb_form) -> 'features') f)
         AS jsonb_same_features
FROM tf_forms;
DROP TABLE tf_forms;

-- The text form round-trips exactly, and so does the binary form (send/recv).
SELECT m::text::custseg_model::text = m::text AS text_round_trip,
       custseg_model_send(m::text::custseg_model) = custseg_model_send(m) AS binary_equal
FROM tf_m;
-- A transform in a format 1 text is refused; so is a format 2 text without one, and a bad transform.
SELECT err(format('SELECT %L::custseg_model', jsonb_set(custseg_model_json(m), '{version}', '1')::text)) FROM tf_m;
SELECT err(format('SELECT %L::custseg_model', jsonb_set(custseg_model_json(m), '{features,2,transform}', '{"log1p": false}')::text)) FROM tf_m;
SELECT err(format('SELECT %L::custseg_model', jsonb_set(custseg_model_json(m), '{features,4,transform}', '{"clip": [5, 1]}')::text)) FROM tf_m;
SELECT err(format('SELECT %L::custseg_model', jsonb_set(custseg_model_json(m), '{features,4,transform}', '{"sqrt": true}')::text)) FROM tf_m;

-- A model without transforms and without segments (no outlier thresholds) is still format 1; one
-- with segments is format 2 since 0.3.0, for its outlier thresholds.
SELECT custseg_model_json(custseg_fit(m, '{"k": null}')) ->> 'version' AS format_1,
       custseg_model_json(custseg_fit(m, '{"k": 2}')) ->> 'version' AS format_2 FROM mall m;
DROP TABLE tf_m, tf_neg;
DELETE FROM custseg_segments WHERE model = 'tf_w';
DELETE FROM custseg_models WHERE name = 'tf_w';
DELETE FROM custseg_model_names WHERE name = 'tf_w';
