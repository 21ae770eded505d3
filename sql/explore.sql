-- Understanding the data and the segments: describe, correlations, profile.
\set VERBOSITY terse
SELECT column_name, kind, count, nulls, distinct_count, round(mean::numeric, 4) AS mean,
       round(stddev::numeric, 4) AS stddev, min, q1, median, q3, max, outliers, top
FROM custseg_describe('mall');
SELECT column_name, kind, count, nulls, distinct_count, round(mean::numeric, 3) AS mean, q1, median, q3, outliers
FROM custseg_describe('retail');
-- NULLs are counted, not described.
CREATE TABLE with_nulls (a int, b text, c float8);
INSERT INTO with_nulls VALUES (1, 'x', 2), (NULL, 'x', 5), (3, NULL, NULL), (100, 'y', 7), (7, 'z', 1);
SELECT * FROM custseg_describe('with_nulls');

SELECT column_a, column_b, round(r::numeric, 6) AS r, n FROM custseg_correlations('mall');
SELECT count(*) AS pairs FROM custseg_correlations('retail');
-- The same as PostgreSQL's corr over pairwise-complete rows.
SELECT column_a, column_b, n, r = (SELECT corr(a, c) FROM with_nulls) AS same
FROM custseg_correlations('with_nulls');

SELECT version FROM custseg_train('mall_profile', 'mall', k => 3, options => '{"seed": 42}');
SELECT segment, split_part(label, ':', 1) AS label, feature, kind, n, round(mean::numeric, 2) AS mean,
       round(stddev::numeric, 2) AS stddev, min, q1, median, q3, max, shares
FROM custseg_profile('mall_profile');
-- Box-plot numbers equal PostgreSQL's own aggregates over the segment's rows.
SELECT bool_and(p.q1 = x.q1 AND p.median = x.med AND p.q3 = x.q3 AND p.n = x.n) AS quartiles_match
FROM custseg_profile('mall_profile') p
JOIN (SELECT custseg_predict(t, 'mall_profile') AS segment, count(*) AS n,
             percentile_cont(0.25) WITHIN GROUP (ORDER BY age) AS q1,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY age) AS med,
             percentile_cont(0.75) WITHIN GROUP (ORDER BY age) AS q3
      FROM mall t GROUP BY 1) x USING (segment)
WHERE p.feature = 'age';
SELECT * FROM custseg_profile('nope');
