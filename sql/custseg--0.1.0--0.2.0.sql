-- custseg 0.1.0 -> 0.2.0 (ALTER EXTENSION custseg UPDATE TO '0.2.0').
-- Every change made to sql/custseg--0.2.0.sql since 0.1.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.2.0'" to load this file. \quit
