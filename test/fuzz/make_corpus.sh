#!/usr/bin/env bash
# Regenerates the seed corpus of the fuzz targets from real models: trains a few pipelines (numeric
# and categorical features, with and without PCA and k-means, scaled one-hot columns, many segments)
# on the shared tables in a throwaway cluster, and writes each model's text form to
# corpus/model_text/ and its binary form (custseg_model_send) to corpus/model_binary/. Needs the
# extension installed (make install). The malformed seeds (bad-*) and the inputs that fuzzing found
# crashing before their fixes (found-*) are kept as they are.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source scripts/pgcluster.sh
pgcluster_start
trap pgcluster_stop EXIT
data=$(cd .. && pwd)/shared/data
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
q <<SQL
CREATE EXTENSION custseg;
CREATE TABLE mall (customer_id text PRIMARY KEY, gender text, age int, annual_income_thousands int, spending_score int);
\copy mall FROM '$data/mall_customers.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE retail ("CustomerID" int, "Gender" text, "Age" int, "Annual Income (k\$)" int,
                     "Spending Score (1-100)" int, "Marital Status" text, "Employment Status" text,
                     "Number of Children" int, "Education Level" text, "Membership Level" text,
                     "Years as Customer" int);
\copy retail FROM '$data/retail_customers_mixed.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE seeds (name text PRIMARY KEY, model custseg_model);
INSERT INTO seeds SELECT 'mall_default', custseg_fit(c, '{"exclude": ["customer_id"], "seed": 1}') FROM mall c;
INSERT INTO seeds SELECT 'mall_nopca_k5', custseg_fit(c, '{"exclude": ["customer_id"], "n_components": null, "k": 5, "seed": 2}') FROM mall c;
INSERT INTO seeds SELECT 'mall_scaler_only', custseg_scaler_fit(c, '{"exclude": ["customer_id"]}') FROM mall c;
INSERT INTO seeds SELECT 'mall_pca_only', custseg_fit(c, '{"exclude": ["customer_id"], "k": null, "n_components": 3}') FROM mall c;
INSERT INTO seeds SELECT 'mall_notebook', custseg_fit(c, '{"exclude": ["customer_id"], "scale_categoricals": true, "n_components": 0.9, "seed": 3}') FROM mall c;
INSERT INTO seeds SELECT 'retail_k8', custseg_fit(c, '{"exclude": ["CustomerID"], "k": 8, "seed": 4, "n_init": 2}') FROM retail c;
INSERT INTO seeds SELECT 'retail_jsonb', custseg_fit(to_jsonb(c) - 'CustomerID', '{"k": 1}') FROM retail c;
INSERT INTO seeds SELECT 'vectors_kmeans', custseg_kmeans_fit(ARRAY[c.age, c.spending_score]::float8[], 4, '{"seed": 5}') FROM mall c;
INSERT INTO seeds SELECT 'mall_renumbered', custseg_model_renumber(model, '{7, 0, 2147483647}') FROM seeds WHERE name = 'mall_default';
-- Format 2: transforms (log1p, clipping, both).
INSERT INTO seeds SELECT 'mall_transforms', custseg_fit(c, '{"exclude": ["customer_id"], "seed": 6, "transform": {"annual_income_thousands": "log1p", "age": {"clip": [20, 60]}, "spending_score": {"clip": [1, 90], "log1p": true}}}') FROM mall c;
INSERT INTO seeds SELECT 'retail_transforms_nopca', custseg_fit(c, '{"exclude": ["CustomerID"], "n_components": null, "k": 4, "seed": 7, "transform": {"Age": {"clip": [18.5, 70]}}}') FROM retail c;
SQL
for name in $(q -c "SELECT name FROM seeds ORDER BY name"); do
  q -c "SELECT model::text FROM seeds WHERE name = '$name'" | tr -d '\n' >"test/fuzz/corpus/model_text/$name.json"
  q -c "SELECT encode(custseg_model_send(model), 'hex') FROM seeds WHERE name = '$name'" |
    /usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' \
      >"test/fuzz/corpus/model_binary/$name.bin"
done
ls -l test/fuzz/corpus/model_text test/fuzz/corpus/model_binary
