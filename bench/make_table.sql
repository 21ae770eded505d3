-- A customers table for the benchmarks: 6 numeric and 2 categorical columns with 3 planted
-- segments (normal noise by Box-Muller), deterministic for a given :rows (psql variables :name and :rows).
--   psql -v name=bench_1m -v rows=1000000 -f bench/make_table.sql
\set z '(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))'
SELECT setseed(0.42);
SET client_min_messages = warning;
DROP TABLE IF EXISTS :name;
CREATE UNLOGGED TABLE :name AS
SELECT i AS customer_id,
       round(c[1] + 3 * :z)::int AS age,
       round((c[2] + 6 * :z)::numeric, 2)::float8 AS annual_income,
       round((c[3] + 5 * :z)::numeric, 2)::float8 AS spending_score,
       greatest(0, round(c[4] + 1.2 * :z))::int AS visits_per_month,
       round((c[5] + 8 * :z)::numeric, 2)::float8 AS avg_basket,
       round((c[6] + 1.2 * :z)::numeric, 2)::float8 AS tenure_years,
       CASE WHEN random() < 0.7 THEN (ARRAY['north', 'south', 'east'])[s + 1]
            ELSE (ARRAY['north', 'south', 'east', 'west'])[1 + floor(random() * 4)::int] END AS region,
       CASE WHEN random() < 0.7 THEN (ARRAY['online', 'store', 'mobile'])[s + 1]
            ELSE (ARRAY['online', 'store', 'mobile'])[1 + floor(random() * 3)::int] END AS channel
FROM (SELECT i, s,
             CASE s WHEN 0 THEN ARRAY[28, 30, 80, 10, 25, 2]
                    WHEN 1 THEN ARRAY[45, 70, 25, 3, 60, 8]
                    ELSE ARRAY[62, 120, 55, 6, 140, 15] END AS c
      FROM (SELECT i, (i::bigint * 7919 % 3)::int AS s FROM generate_series(1, :rows) i) q) p;
ALTER TABLE :name ADD PRIMARY KEY (customer_id);
VACUUM ANALYZE :name;
