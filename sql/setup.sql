-- Setup shared by the regression tests: the extension and small real and synthetic tables.
CREATE EXTENSION IF NOT EXISTS custseg;

-- err(q) runs a statement and shows the SQLSTATE, message and hint of the error it raises (the
-- errors* tests).
CREATE OR REPLACE FUNCTION err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || CASE WHEN hint <> '' THEN E'\nHINT: ' || hint ELSE '' END;
END $$;

-- The classic mall customers table (customer_id keeps its leading zeros as text).
CREATE TABLE mall (customer_id text PRIMARY KEY, gender text, age int,
                   annual_income_thousands int, spending_score int);
\copy mall FROM '../shared/data/mall_customers.csv' WITH (FORMAT csv, HEADER true)

-- A real table with spaces, parentheses and capitals in its column names.
CREATE TABLE retail ("CustomerID" int, "Gender" text, "Age" int, "Annual Income (k$)" int,
                     "Spending Score (1-100)" int, "Marital Status" text, "Employment Status" text,
                     "Number of Children" int, "Education Level" text, "Membership Level" text,
                     "Years as Customer" int);
\copy retail FROM '../shared/data/retail_customers_mixed.csv' WITH (FORMAT csv, HEADER true)

-- Synthetic customers with three planted segments, deterministic.
SELECT setseed(0.42);
CREATE TABLE planted AS
SELECT i AS id,
       s AS truth,
       round((ARRAY[25, 45, 65])[s + 1] + 4 * (random() - 0.5) * 2)::int AS age,
       round(((ARRAY[20, 60, 110])[s + 1] + 10 * (random() - 0.5) * 2)::numeric, 2) AS income,
       ((ARRAY[80, 20, 50])[s + 1] + 8 * (random() - 0.5) * 2)::float8 AS score,
       (ARRAY['north', 'south', 'east'])[s + 1 + CASE WHEN random() < 0.2 THEN 1 ELSE 0 END % 3] AS region
FROM generate_series(1, 300) i, LATERAL (SELECT i % 3 AS s) z;
SELECT count(*), count(DISTINCT truth) FROM planted;
