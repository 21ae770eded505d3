-- Choosing k: every k of a range from one scan, the elbow, and the chosen k.
\set VERBOSITY terse
-- Planted segments: K centres on a circle in (income, spending), with a little noise.
CREATE FUNCTION make_planted(tbl text, k int, per int, seed float8) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, income float8, spending float8)', tbl);
    EXECUTE format($q$INSERT INTO %I
        SELECT i, 60 + 30 * cos(2 * pi() * (i %% %s) / %s + pi() / 4) + 3 * (random() + random() + random() - 1.5),
                  50 + 30 * sin(2 * pi() * (i %% %s) / %s + pi() / 4) + 3 * (random() + random() + random() - 1.5)
        FROM generate_series(1, %s) i$q$, tbl, k, k, k, k, per * k);
END $$;
SELECT make_planted('planted_' || k, k, 150, 0.1 * k) FROM generate_series(2, 6) k;

-- The test matrix: the chosen k is the planted k in every case.
SELECT p AS planted,
       (SELECT e.k FROM custseg_evaluate_k(('planted_' || p)::regclass, 2, 8, options => '{"seed": 1}') e WHERE e.chosen) AS chosen,
       (SELECT e.k FROM custseg_evaluate_k(('planted_' || p)::regclass, 2, 8, options => '{"seed": 1}') e WHERE e.is_elbow) AS elbow
FROM generate_series(2, 6) p;

-- One row per k, exactly one elbow and one chosen; silhouette on every row here.
SELECT count(*) AS ks, count(*) FILTER (WHERE is_elbow) AS elbows, count(*) FILTER (WHERE chosen) AS chosen,
       bool_and(silhouette_rows = 600 AND rows_clustered = 600) AS every_row,
       bool_and(inertia > 0 AND silhouette BETWEEN -1 AND 1 AND calinski_harabasz > 0 AND davies_bouldin > 0) AS sane
FROM custseg_evaluate_k('planted_4', 2, 8, options => '{"seed": 1}');

-- Each k's numbers are those of training with that k: the same preprocessing, seed and rows.
SELECT e.k, e.inertia = (j -> 'training' ->> 'inertia')::float8 AS inertia_same,
       e.silhouette = (j -> 'training' ->> 'silhouette')::float8 AS silhouette_same,
       e.calinski_harabasz = (j -> 'training' ->> 'calinski_harabasz')::float8 AS ch_same,
       e.davies_bouldin = (j -> 'training' ->> 'davies_bouldin')::float8 AS db_same
FROM custseg_evaluate_k('planted_3', 2, 5, options => '{"seed": 7}') e,
     LATERAL (SELECT custseg_model_json(custseg_fit(t, jsonb_build_object('k', e.k, 'seed', 7, 'exclude', '["id"]'::jsonb))) AS j
              FROM planted_3 t) f
ORDER BY e.k;

-- Without PCA, and with arguments overriding options, as custseg_train.
SELECT k, chosen FROM custseg_evaluate_k('planted_3', 3, 4, n_components => NULL, options => '{"seed": 1}') ORDER BY k;

-- custseg_train(k => NULL) trains with the chosen k.
SELECT name, version, jsonb_array_length(custseg_model_json(model) #> '{kmeans,segments}') AS k
FROM custseg_train('auto5', 'planted_5', k => NULL, options => '{"seed": 1}');

-- Bad calls.
SELECT * FROM custseg_evaluate_k('planted_2', 1, 4);
SELECT * FROM custseg_evaluate_k('planted_2', 5, 4);
SELECT * FROM custseg_evaluate_k('planted_2', 2, 4, options => '{"k": 3}');
SELECT * FROM custseg_evaluate_k('planted_2', 2, 4, options => '{"kk": 3}');
CREATE TABLE empty_t (a float8, b float8);
SELECT * FROM custseg_evaluate_k('empty_t');
SELECT * FROM custseg_evaluate_k('planted_2', 2, 400);
