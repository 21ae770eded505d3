-- Reading a row's features walks its attributes directly (as heap_deform_tuple does): every
-- layout a row may have must read the same values. Each case compares the typed row with the same
-- values in a plain float8 and text table of another column order, through custseg_transform
-- (equal arrays: equal inputs) and custseg_predict.
SET extra_float_digits = 0;

CREATE TYPE rl_tier AS ENUM ('bronze', 'silver', 'gold');
CREATE DOMAIN rl_score AS float8 CHECK (VALUE >= 0);
-- Every supported type, a dropped column before and among the features, a long compressible text
-- before them, NULLs in every position.
CREATE TABLE rl_typed (
  id int,
  gone_first text,
  note text,
  i2 int2,
  i4 int4,
  gone_mid float8,
  i8 int8,
  f4 float4,
  f8 float8,
  num numeric,
  flag bool,
  dom rl_score,
  parsed text,
  region varchar(10),
  code char(4),
  tier rl_tier
);
INSERT INTO rl_typed
SELECT i,
       'x',
       CASE WHEN i % 5 = 0 THEN repeat('long note ', 400 + i) WHEN i % 5 = 1 THEN NULL ELSE 'n' || i END,
       NULLIF(i % 17, 3)::int2,
       CASE WHEN i % 11 = 4 THEN NULL ELSE i * 7 % 101 END,
       i * 0.5,
       CASE WHEN i % 13 = 6 THEN NULL ELSE (i * 31 % 1000)::int8 * 1000000000 END,
       CASE WHEN i % 7 = 2 THEN NULL ELSE (i % 23) / 4.0 END,
       CASE WHEN i % 9 = 5 THEN NULL ELSE sqrt(i) END,
       CASE WHEN i % 8 = 1 THEN NULL ELSE round(i / 3.0, 4) END,
       CASE WHEN i % 10 = 7 THEN NULL ELSE i % 3 = 0 END,
       CASE WHEN i % 12 = 0 THEN NULL ELSE (i % 19)::float8 END,
       CASE WHEN i % 14 = 3 THEN NULL ELSE ((i % 29) * 2)::text END,
       CASE WHEN i % 6 = 5 THEN NULL ELSE (ARRAY['north', 'south', 'east'])[1 + i % 3] END,
       CASE WHEN i % 15 = 8 THEN NULL ELSE (ARRAY['ab', 'abc', 'a'])[1 + i % 3] END,
       CASE WHEN i % 16 = 9 THEN NULL ELSE (ARRAY['bronze', 'silver', 'gold'])[1 + i % 3]::rl_tier END
FROM generate_series(1, 240) i;
ALTER TABLE rl_typed DROP COLUMN gone_first, DROP COLUMN gone_mid;
-- A row with every feature NULL (no segment), and rows formed after the drops.
INSERT INTO rl_typed (id) VALUES (241);
INSERT INTO rl_typed (id, note, i4, region, tier) VALUES (242, repeat('z', 5000), 5, 'east', 'gold');

-- The same values, as float8 and text, in reversed order (char(n) keeps its padding, as the
-- typed reader reads it).
CREATE TABLE rl_plain AS
SELECT tier::text AS tier, rpad(code::text, 4) AS code, region::text AS region, parsed::float8 AS parsed,
       dom::float8 AS dom, flag::int::float8 AS flag, num::float8 AS num, f8, f4::float8 AS f4, i8::float8 AS i8,
       i4::float8 AS i4, i2::float8 AS i2, id
FROM rl_typed;

CREATE TABLE rl_models AS
SELECT custseg_fit(t, '{"exclude": ["id", "note"], "numeric": ["parsed"], "k": 3, "seed": 1}') AS with_pca,
       custseg_fit(t, '{"exclude": ["id", "note"], "numeric": ["parsed"], "k": 3, "seed": 1, "n_components": null}') AS without_pca
FROM rl_typed t;

SELECT count(*) AS rows,
       count(*) FILTER (WHERE custseg_transform(m.with_pca, t) = custseg_transform(m.with_pca, p)) AS same_projection,
       count(*) FILTER (WHERE custseg_transform(m.without_pca, t) = custseg_transform(m.without_pca, p)) AS same_encoding,
       count(*) FILTER (WHERE custseg_predict(m.with_pca, t) IS NOT DISTINCT FROM custseg_predict(m.with_pca, p)) AS same_segment,
       count(*) FILTER (WHERE custseg_predict(m.with_pca, t) IS NULL) AS no_segment
FROM rl_typed t JOIN rl_plain p USING (id), rl_models m;

-- The encoded row shows which values were read: a NULL number is imputed, an unseen level is all zeros.
SELECT id, custseg_transform(m.without_pca, t) = custseg_transform(m.without_pca, p) AS same,
       array_length(custseg_transform(m.without_pca, t), 1) AS width
FROM rl_typed t JOIN rl_plain p USING (id), rl_models m
WHERE id IN (1, 5, 241, 242)
ORDER BY id;

-- A compressed text feature is read (detoasted) like any other.
CREATE TABLE rl_long (id int, label text, x float8);
ALTER TABLE rl_long ALTER COLUMN label SET STORAGE main;
INSERT INTO rl_long SELECT i, CASE WHEN i % 2 = 0 THEN repeat('even', 1000) ELSE repeat('odd', 1000) END, i % 4
FROM generate_series(1, 40) i;
SELECT count(*) FILTER (WHERE pg_column_compression(label) IS NOT NULL) AS compressed, count(*) AS rows FROM rl_long;
SELECT count(*) FILTER (WHERE custseg_predict(m, l) = custseg_predict(m, jsonb_build_object('label', l.label, 'x', l.x)))
       AS same_as_jsonb, count(*) AS rows
FROM rl_long l, (SELECT custseg_fit(l, '{"exclude": ["id"], "k": 2, "seed": 1}') AS m FROM rl_long l) f;

-- A stored composite value older than its type's last attribute: the missing attribute is NULL.
CREATE TYPE rl_pair AS (a float8, b text);
CREATE TABLE rl_store (id int, v rl_pair);
INSERT INTO rl_store SELECT i, ROW(i % 5, (ARRAY['p', 'q'])[1 + i % 2])::rl_pair FROM generate_series(1, 30) i;
ALTER TYPE rl_pair ADD ATTRIBUTE c float8;
INSERT INTO rl_store SELECT i, ROW(i % 5, (ARRAY['p', 'q'])[1 + i % 2], i)::rl_pair FROM generate_series(31, 60) i;
CREATE TABLE rl_pair_model AS SELECT custseg_fit(s.v, '{"k": 2, "seed": 1}') AS m FROM rl_store s;
SELECT count(*) FILTER (WHERE custseg_transform(m, s.v) = custseg_transform(m, ROW((s.v).a, (s.v).b, (s.v).c)::rl_pair))
       AS same_as_formed, count(*) AS rows
FROM rl_store s, rl_pair_model;
