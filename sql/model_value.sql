-- Model-as-value scoring (the forms Citus ships to its workers) and the Citus helpers on a
-- PostgreSQL without Citus.
\set VERBOSITY terse

CREATE TABLE mv_shop AS SELECT * FROM mall;
SELECT version FROM custseg_train('mv', 'mv_shop', exclude => '{customer_id}', options => '{"seed": 1}');

-- custseg_predict(model, jsonb) and custseg_score(model, record | jsonb) agree with the named forms;
-- the value forms have no label (labels live in custseg_segments), the named one has.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE custseg_predict(m.model, to_jsonb(c)) = custseg_predict(c, 'mv')) AS predict_jsonb,
       count(*) FILTER (WHERE (custseg_score(m.model, c)).segment = custseg_predict(c, 'mv')) AS score_record,
       count(*) FILTER (WHERE (custseg_score(m.model, to_jsonb(c))).segment = custseg_predict(c, 'mv')) AS score_jsonb,
       count(*) FILTER (WHERE custseg_score(m.model, c) IS NOT DISTINCT FROM custseg_score(m.model, to_jsonb(c))) AS same_scores,
       count(*) FILTER (WHERE (custseg_score(m.model, c)).distance = (custseg_score(c, 'mv')).distance
                          AND (custseg_score(m.model, c)).confidence = (custseg_score(c, 'mv')).confidence
                          AND (custseg_score(m.model, c)).coordinates = (custseg_score(c, 'mv')).coordinates) AS same_explanations,
       count(*) FILTER (WHERE (custseg_score(m.model, c)).label IS NULL) AS value_without_label,
       count(*) FILTER (WHERE (custseg_score(c, 'mv')).label IS NOT NULL) AS named_with_label
FROM mv_shop c, custseg_models m WHERE m.name = 'mv' AND m.active;

-- Columns are matched by key, extra keys ignored; a missing key reads as NULL (imputed, as
-- custseg_predict(jsonb, name) does); not an object is an error; NULL in, NULL out.
SELECT custseg_predict(m.model, '{"spending_score": 80, "annual_income_thousands": 90, "age": 30, "gender": "Female", "extra": 1}'::jsonb)
       = custseg_predict(m.model, '{"gender": "Female", "age": 30, "annual_income_thousands": 90, "spending_score": 80}'::jsonb) AS key_order
FROM custseg_models m WHERE m.name = 'mv' AND m.active;
SELECT custseg_predict(m.model, '{"age": 30}'::jsonb) = custseg_predict(c, 'mv') AS imputed
FROM custseg_models m, (SELECT NULL::text AS customer_id, NULL::text AS gender, 30 AS age,
                               NULL::int AS annual_income_thousands, NULL::int AS spending_score) c
WHERE m.name = 'mv' AND m.active;
SELECT (custseg_score(m.model, '[1, 2]'::jsonb)).segment FROM custseg_models m WHERE m.name = 'mv' AND m.active;
SELECT custseg_predict(NULL::custseg_model, '{}'::jsonb) IS NULL AS null_model,
       (custseg_score(m.model, NULL::jsonb)).segment IS NULL AS null_row
FROM custseg_models m WHERE m.name = 'mv' AND m.active;
-- A model without k-means assigns no segment.
SELECT (custseg_score(custseg_scaler_fit(c), c)).segment FROM mv_shop c GROUP BY c LIMIT 1;

-- Without Citus no table is a Citus table, and training reads whole rows as before.
SELECT custseg_citus_table('mv_shop') AS citus, custseg_citus_table(NULL) AS citus_null;
-- The jsonb training state gives custseg_evaluate_k's numbers from to_jsonb rows.
SELECT e.k, round(e.inertia::numeric, 6) = round((x ->> 'inertia')::numeric, 6) AS same_inertia
FROM custseg_evaluate_k('mv_shop', 2, 4, options => '{"seed": 1}') e
JOIN (SELECT jsonb_array_elements(custseg_evaluate_state(custseg_fit_state(to_jsonb(c),
             (SELECT custseg_training_options('mv_shop', 2, NULL, '{"seed": 1, "k": 4}') - '_excluded')), 2, 4)) x FROM mv_shop c) s
  ON (x ->> 'k')::int = e.k
ORDER BY e.k;

-- The views score the rows in a subquery of the source: the same segments and labels as the named form.
SELECT * FROM custseg_create_views('mv_shop', 'mv');
SELECT count(*) AS rows,
       count(*) FILTER (WHERE v.segment = custseg_predict(c, 'mv')) AS same_segment,
       count(*) FILTER (WHERE v.label = (custseg_score(c, 'mv')).label) AS same_label
FROM mv_shop_segments v JOIN mv_shop c USING (customer_id);
SELECT column_name FROM information_schema.columns WHERE table_name = 'mv_shop_segments' ORDER BY ordinal_position;
