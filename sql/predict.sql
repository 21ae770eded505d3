-- custseg_predict(model, row): scoring in place, columns matched by name.
\set VERBOSITY terse

CREATE TABLE pm AS SELECT custseg_fit(c, '{"exclude": ["customer_id"], "seed": 42}') AS model FROM mall c;

-- Every row gets a segment; the segments are the model's.
SELECT custseg_predict(pm.model, c) AS segment, count(*),
       round(avg(annual_income_thousands), 1) AS income, round(avg(spending_score), 1) AS score
FROM mall c, pm GROUP BY 1 ORDER BY 1;

-- Columns are matched by name: reordered columns and extra columns give the same answers.
CREATE VIEW mall_shuffled AS
SELECT spending_score, 'extra' AS note, gender, customer_id, annual_income_thousands, age, 42 AS other FROM mall;
SELECT count(*) AS disagreements
FROM mall c JOIN mall_shuffled s USING (customer_id), pm
WHERE custseg_predict(pm.model, c) <> custseg_predict(pm.model, s);

-- Anonymous records work too.
SELECT custseg_predict(pm.model, r) FROM pm,
  LATERAL (SELECT 'Female'::text AS gender, 30 AS age, 90 AS annual_income_thousands, 90 AS spending_score) r;

-- NULL numeric is imputed; NULL or unseen categories encode as all zeros.
SELECT custseg_predict(pm.model, r) IS NOT NULL AS scored FROM pm,
  LATERAL (SELECT NULL::text AS gender, NULL::int AS age, 90 AS annual_income_thousands, 90 AS spending_score) r;
SELECT custseg_predict(pm.model, r) IS NOT NULL AS scored FROM pm,
  LATERAL (SELECT 'Nonbinary'::text AS gender, 35 AS age, 60 AS annual_income_thousands, 50 AS spending_score) r;

-- Numeric columns may arrive as another numeric type.
SELECT count(*) AS disagreements FROM mall c, pm,
  LATERAL (SELECT c.gender, c.age::numeric AS age, c.annual_income_thousands::float4 AS annual_income_thousands,
                  c.spending_score::bigint AS spending_score) r
WHERE custseg_predict(pm.model, c) <> custseg_predict(pm.model, r);

-- NULL arguments give NULL.
SELECT custseg_predict(NULL::custseg_model, c) FROM mall c LIMIT 1;
SELECT custseg_predict(pm.model, NULL::mall) FROM pm;

-- The planted segments are recovered: each true segment maps to one predicted segment.
CREATE TABLE pp AS SELECT custseg_fit(p, '{"exclude": ["id", "truth"], "seed": 1}') AS model FROM planted p;
SELECT truth, count(DISTINCT custseg_predict(pp.model, p)) AS predicted_segments, count(*)
FROM planted p, pp GROUP BY truth ORDER BY truth;
SELECT count(DISTINCT custseg_predict(pp.model, p)) AS segments_used FROM planted p, pp;

-- Training rows are assigned the labels k-means ended with: the inertia recomputed from
-- predictions equals the model's (checked through the segment sizes summing to all rows).
SELECT sum(n) AS rows FROM (SELECT count(*) AS n FROM planted p, pp GROUP BY custseg_predict(pp.model, p)) s;
