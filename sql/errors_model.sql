-- Bad models: malformed, truncated, reordered and hostile text; corrupted binary values through recv
-- (COPY ... FORMAT binary); bad arguments to the functions that take a model. Malformed text is
-- 22P02, a corrupt binary value 22P03, never a crash.
CREATE TABLE em (id int PRIMARY KEY, x float8, y int, c text);
INSERT INTO em SELECT i, i % 7 + i / 10.0, (i * 3) % 5, (ARRAY['a', 'b', 'c'])[1 + i % 3] FROM generate_series(1, 30) i;
CREATE TABLE em_model AS SELECT custseg_fit(t, '{"k": 2, "seed": 1, "exclude": ["id"]}') AS m FROM em t;
-- bad_text(jsonb) casts a model's JSON to custseg_model and shows the error (a byte offset in the
-- text depends on how many digits the model's numbers print with, so it shows as N).
CREATE FUNCTION bad_text(j jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT regexp_replace(err(format('SELECT %L::custseg_model', j::text)), 'at offset \d+', 'at offset N') $$;
CREATE VIEW em_json AS SELECT custseg_model_json(m) AS j FROM em_model;

-- ---- Malformed and truncated text ----
SELECT err($q$SELECT ''::custseg_model$q$);
SELECT err($q$SELECT '   '::custseg_model$q$);
SELECT err($q$SELECT '{'::custseg_model$q$);
SELECT err($q$SELECT 'null'::custseg_model$q$);
SELECT err($q$SELECT '"custseg_model"'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 1} trailing'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 1, "features": NaN}'::custseg_model$q$);
SELECT err($q$SELECT '{"format": "custseg_model", "version": 1, "features": [{"name": "x\u0000", "kind": "numeric"}]}'::custseg_model$q$);
SELECT err(format('SELECT %L::custseg_model', repeat('[', 100) || repeat(']', 100)));
-- Every prefix of a valid model's text is rejected as malformed text (22P02).
SELECT count(*) > 100 AS many_prefixes, bool_and(r LIKE '22P02: %') AS all_rejected_22p02
FROM em_model, LATERAL (SELECT err(format('SELECT %L::custseg_model', left(m::text, n))) AS r
                        FROM generate_series(0, length(m::text) - 1, 7) n) s;

-- ---- Reordered keys are valid: the same model ----
-- jsonb orders keys by length, so its text has every object's keys in another order. Only the
-- options' text keeps that order; every number and name is the same.
SELECT left(j::text, 40) <> left(m::text, 40) AS key_order_differs,
       custseg_model_json(j::text::custseg_model) = j AS same_model,
       custseg_model_send(jsonb_set(j, '{options}', custseg_model_json(m) -> 'options')::text::custseg_model)
         IS NOT NULL AS reads,
       (SELECT count(*) FROM em e WHERE custseg_predict(j::text::custseg_model, e) <> custseg_predict(m, e)) AS predictions_differ
FROM em_model, em_json;

-- ---- Wrong format and versions ----
SELECT bad_text(j || '{"format": "sklearn"}') FROM em_json;
SELECT bad_text(j || '{"version": 3}') FROM em_json;
-- Format 2 is for models with transforms, another method than k-means or outlier thresholds (every
-- model with segments trained since 0.3.0); such a model cannot say format 1.
SELECT bad_text(j || '{"version": 1}') FROM em_json;
SELECT bad_text(j || '{"version": "1"}') FROM em_json;
SELECT bad_text(j || '{"version": 1.5}') FROM em_json;
SELECT bad_text(j || '{"version": -1}') FROM em_json;
SELECT bad_text(j - 'version') FROM em_json;
SELECT bad_text(j - 'training') FROM em_json;
SELECT bad_text(j - 'kmeans') FROM em_json;
SELECT bad_text(j || '{"extra": 1}') FROM em_json;

-- ---- Wrong dimensions ----
SELECT bad_text(jsonb_set(j, '{kmeans,centroids,0}', '[1]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,centroids}', '[[1, 2]]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,k}', '3')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,segments}', '[0]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{pca,n_components}', '3')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{pca,components,1}', '[1, 0]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{pca,mean}', '[0]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{pca,explained_variance}', '[1]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{scaler,scale}', '[1, 1]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,2,levels}', '["a", "b"]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features}', '[]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{pca}', 'null')) FROM em_json;

-- ---- Hostile values ----
SELECT bad_text(jsonb_set(j, '{kmeans,centroids,0,0}', '"NaN"')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,centroids,0,0}', '1e400')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,centroids,0,0}', 'null')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{scaler,scale,0}', '0')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{scaler,scale,0}', '-1')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{scaler,mean,0}', '-1e309')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,0,impute}', '"mean"')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,0,kind}', '"date"')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,0,name}', '""')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,1,name}', '"x"')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,2,levels}', '["c", "b", "a"]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,2,levels}', '["a", "a", "c"]')) FROM em_json;
SELECT err(format('SELECT %L::custseg_model', replace(m::text, '"levels": ["a"', '"levels": ["\u0000a"'))) FROM em_model;
SELECT bad_text(jsonb_set(j, '{features,2,levels,0}', '1')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features}', (j -> 'features' -> 2) || (j -> 'features' -> 0) || (j -> 'features' -> 1))) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,segments}', '[0, 0]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,segments}', '[-1, 1]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,segments}', '[0, 1.5]')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,segments}', '[0, 1e10]')) FROM em_json;

-- ---- Enormous sizes: rejected before anything that size is allocated ----
SELECT bad_text(jsonb_set(j, '{kmeans,k}', '1000000000')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{kmeans,k}', '1e300')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{pca,n_components}', '2147483648')) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,2,levels}', (SELECT jsonb_agg(lpad(i::text, 5, '0')) FROM generate_series(1, 1001) i))) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features}', (SELECT jsonb_agg(jsonb_build_object('name', 'f' || i, 'kind', 'numeric', 'impute', 0))
                                            FROM generate_series(1, 1001) i))) FROM em_json;
SELECT bad_text(jsonb_set(j, '{features,0,name}', to_jsonb(repeat('n', 100000)))) FROM em_json;

-- ---- Corrupted binary values through recv ----
-- The binary form is what custseg_model_send returns. recv_copy(body) writes a COPY binary file
-- holding one custseg_model field and loads it with COPY ... FROM PROGRAM, which calls recv.
CREATE TABLE em_recv (m custseg_model);
CREATE FUNCTION recv_copy(body bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE f bytea := '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea || '\x0001'::bytea
                   || int4send(length(body)) || body || '\xffff'::bytea;
BEGIN
  RETURN err(format('COPY em_recv FROM PROGRAM %L WITH (FORMAT binary)',
                    'echo ' || translate(encode(f, 'base64'), E'\n', '') || ' | base64 -d'));
END $$;
-- le(b, pos, n): the n-byte little-endian integer at byte pos; put(b, pos, n, v) writes one.
CREATE FUNCTION le(b bytea, pos int, n int) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
  SELECT sum(get_byte(b, pos + i)::numeric * 256::numeric ^ i) FROM generate_series(0, n - 1) i $$;
CREATE FUNCTION put(b bytea, pos int, n int, v numeric) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  FOR i IN 0 .. n - 1 LOOP
    b := set_byte(b, pos + i, (trunc(v / 256::numeric ^ i) % 256)::int);
  END LOOP;
  RETURN b;
END $$;
CREATE VIEW em_bin AS SELECT custseg_model_send(m) AS b FROM em_model;
-- Body offsets: magic 0, version 4, n_features 8, dim 16, k 24, section offsets from 32 (8 bytes each,
-- counted from the start of the stored value, which has 8 header bytes more), total length 160.
SELECT recv_copy(b) AS valid FROM em_bin;
SELECT r.m::text = s.m::text AS recv_round_trip FROM em_recv r, em_model s;
SELECT recv_copy('') FROM em_bin;
SELECT recv_copy(substr(b, 1, 100)) FROM em_bin;
SELECT recv_copy(substr(b, 1, length(b) - 1)) FROM em_bin;
SELECT recv_copy(b || '\x00'::bytea) FROM em_bin;
SELECT recv_copy(put(b, 0, 1, 0)) FROM em_bin;
SELECT recv_copy(put(b, 4, 2, 3)) FROM em_bin;
-- Format 1 followed by format 2's sections.
SELECT recv_copy(put(b, 4, 2, 1)) FROM em_bin;
SELECT recv_copy(put(b, 8, 4, 2147483647)) FROM em_bin;
SELECT recv_copy(put(b, 16, 4, 2147483647)) FROM em_bin;
SELECT recv_copy(put(b, 24, 4, 1000000)) FROM em_bin;
SELECT recv_copy(put(b, 88, 8, 9223372036854775807)) FROM em_bin;
SELECT recv_copy(put(b, 88, 8, le(b, 88, 8) + 4)) FROM em_bin;
SELECT recv_copy(put(b, 160, 8, 4294967296)) FROM em_bin;
SELECT recv_copy(put(b, 144, 4, 4294967295)) FROM em_bin;
-- A NaN centroid, an infinite scale, a zero scale, duplicate segment numbers.
SELECT recv_copy(put(b, le(b, 88, 8)::int - 8, 8, 9221120237041090560)) FROM em_bin;
SELECT recv_copy(put(b, le(b, 40, 8)::int - 8, 8, 9218868437227405312)) FROM em_bin;
SELECT recv_copy(put(b, le(b, 40, 8)::int - 8, 8, 0)) FROM em_bin;
SELECT recv_copy(put(b, le(b, 104, 8)::int - 8, 4, le(b, le(b, 104, 8)::int - 4, 4))) FROM em_bin;
SELECT recv_copy(decode(repeat('ff', length(b)), 'hex')) FROM em_bin;
-- Every byte changed in turn: each value is either rejected (22P03) or read as a valid model.
SELECT count(*) > 200 AS many_corruptions, bool_and(r = '22P03' OR r = 'ok') AS each_rejected_or_valid,
       count(*) FILTER (WHERE r = '22P03') > 0 AS some_rejected
FROM em_bin, LATERAL (
  SELECT CASE WHEN recv_copy(set_byte(b, p, get_byte(b, p) # 90)) = 'no error' THEN 'ok'
              ELSE left(recv_copy(set_byte(b, p, get_byte(b, p) # 90)), 5) END AS r
  FROM generate_series(0, length(b) - 1, 3) p) s;
-- Whatever recv accepted prints and scores.
SELECT count(*) FILTER (WHERE m::text::custseg_model::text = m::text) = count(*) AS accepted_round_trip,
       count(*) FILTER (WHERE left(err(format('SELECT custseg_predict(%L::custseg_model, e) FROM em e', m::text)), 2) = 'XX')
         AS internal_errors
FROM em_recv;

-- ---- Functions that take a model ----
SELECT err($q$SELECT custseg_model_renumber(m, ARRAY[0]) FROM em_model$q$);
SELECT err($q$SELECT custseg_model_renumber(m, ARRAY[0, 0]) FROM em_model$q$);
SELECT err($q$SELECT custseg_model_renumber(m, ARRAY[0, -1]) FROM em_model$q$);
SELECT err($q$SELECT custseg_model_renumber(m, ARRAY[0, NULL]) FROM em_model$q$);
SELECT err($q$SELECT custseg_model_renumber(m, ARRAY[[0, 1]]) FROM em_model$q$);
SELECT custseg_model_json(custseg_model_renumber(m, ARRAY[7, 3])) #> '{kmeans,segments}' AS renumbered FROM em_model;
SELECT err($q$SELECT custseg_model_renumber(custseg_fit(t, '{"k": null}'), ARRAY[0]) FROM em t$q$);
CREATE TABLE em_nokm AS SELECT custseg_fit(t, '{"k": null, "exclude": ["id"]}') AS m FROM em t;
SELECT err($q$SELECT custseg_match_segments(n.m, e.m) FROM em_nokm n, em_model e$q$);
SELECT err($q$SELECT custseg_match_segments(e.m, n.m) FROM em_nokm n, em_model e$q$);
SELECT err($q$SELECT custseg_predict(m, e) FROM em_nokm, em e$q$);
SELECT err($q$SELECT custseg_transform(m, e) IS NOT NULL FROM em_nokm, em e WHERE e.id = 1$q$);
-- Models with no encoded column in common: nothing matches.
SELECT custseg_match_segments(m, o) -> 'previous_of' AS previous_of
FROM em_model, (SELECT custseg_fit(t, '{"k": 2, "seed": 1, "n_components": null}') AS o FROM (SELECT id * 2.0 AS z FROM em) t) s;
-- Scoring with a model whose features the row lacks, has with other types, or has all NULL.
SELECT err($q$SELECT custseg_predict(m, t) FROM em_model, (SELECT 1 AS id) t$q$);
SELECT err($q$SELECT custseg_predict(m, t) FROM em_model, (SELECT 'one' AS x, 2 AS y, 'a' AS c) t$q$);
SELECT err($q$SELECT custseg_predict(m, t) FROM em_model, (SELECT 1 AS x, 2 AS y, 3 AS c) t$q$);
-- A row with no feature present gets no segment (training skips such rows).
SELECT custseg_predict(m, t) IS NULL AS all_null_row_is_null
FROM em_model, (SELECT NULL::float8 AS x, NULL::int AS y, NULL::text AS c) t;
SELECT custseg_predict(m, NULL::em) IS NULL AS null_row, custseg_predict(NULL::custseg_model, e) IS NULL AS null_model
FROM em_model, em e WHERE e.id = 1;
SELECT err($q$SELECT custseg_transform(m, ARRAY[1.0, 2.0]) FROM em_model$q$);
