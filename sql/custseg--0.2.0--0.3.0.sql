-- custseg 0.2.0 -> 0.3.0 (ALTER EXTENSION custseg UPDATE TO '0.3.0').
-- Every change made to sql/custseg--0.3.0.sql since 0.2.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.3.0'" to load this file. \quit

-- ---- 0.3.0: an analyst's own data (features, labels, transforms, model equality) ----

-- ---- 0.3.0: PostgreSQL 17 and 18 ----

-- ---- 0.3.0: speed (input forms, sparse one-hot) ----

-- ---- 0.3.0: Citus (distributed training and scoring, model-as-value forms) ----

-- ---- 0.3.0: customers in motion (RFM, kept segments, transitions) ----

-- ---- 0.3.0: resilience ----
