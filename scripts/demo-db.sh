# The demo database, shared by scripts/demo.sh, scripts/serve.sh and test/api/run.sh (source it from
# the repository root): the mall customers, the CDNOW orders, and the wholesale and retail customers
# from the shared data folder beside this repository, then scripts/demo.sql (models, segments,
# labels, offers, RFM segments kept current, the labels of three real tables).
#   demo_data_present   fails, saying where it looked, when the shared data is missing
#   load_demo_db [LOG]  loads the demo into the current PG* database (output to LOG, default this
#                       shell's stdout and stderr as they are: a log file the caller redirected to is
#                       appended to, never reopened and truncated as /dev/stdout would be)

DEMO_DATA=$(cd .. && pwd)/shared/data/mall_customers.csv
DEMO_ORDERS=$(cd .. && pwd)/shared/data/cdnow_transactions.csv

demo_data_present() {
  [[ -r $DEMO_DATA && -r $DEMO_ORDERS ]] && return 0
  echo "custseg: $DEMO_DATA or $DEMO_ORDERS not found (the shared data folder must sit beside this repository)" >&2
  return 1
}

load_demo_db() {
  demo_data_present || return 1
  if (($#)); then
    load_demo_db >"$1" 2>&1
    return
  fi
  psql -X -q -v ON_ERROR_STOP=1 --pset=footer=off 2>&1 <<SQL
CREATE EXTENSION custseg;
CREATE TABLE mall_customers (customer_id text PRIMARY KEY, gender text, age int,
                             annual_income_thousands int, spending_score int);
\copy mall_customers FROM '$DEMO_DATA' WITH (FORMAT csv, HEADER true)
CREATE TABLE cdnow_orders (customer_id text, sample_id text, order_date date, cds int, amount numeric(10, 2));
\copy cdnow_orders FROM '$DEMO_ORDERS' WITH (FORMAT csv, HEADER true)
-- Two more real tables for the labels section: UCI wholesale (annual spend per category) and a
-- retail table with categorical columns.
CREATE TABLE wholesale_customers ("Customer ID" int PRIMARY KEY, "Channel" int, "Region" int, "Fresh" int,
                                  "Milk" int, "Grocery" int, "Frozen" int, "Detergents_Paper" int, "Delicassen" int);
\copy wholesale_customers FROM '$(dirname "$DEMO_DATA")/wholesale_customers.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE retail_customers ("CustomerID" int PRIMARY KEY, "Gender" text, "Age" int, "Annual Income (k\$)" int,
                               "Spending Score (1-100)" int, "Marital Status" text, "Employment Status" text,
                               "Number of Children" int, "Education Level" text, "Membership Level" text,
                               "Years as Customer" int);
\copy retail_customers FROM '$(dirname "$DEMO_DATA")/retail_customers_mixed.csv' WITH (FORMAT csv, HEADER true)
\i scripts/demo.sql
SQL
}
