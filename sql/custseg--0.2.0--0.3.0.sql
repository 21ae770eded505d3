-- custseg 0.2.0 -> 0.3.0 (ALTER EXTENSION custseg UPDATE TO '0.3.0').
-- Every change made to sql/custseg--0.3.0.sql since 0.2.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.3.0'" to load this file. \quit

-- ---- 0.3.0: an analyst's own data (features, labels, transforms, model equality) ----

-- -- labels and transforms (labels branch)
-- A number for a label's description: whole above 100 with thousands separators, else one decimal.
CREATE OR REPLACE FUNCTION custseg_format_number(x float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN x IS NULL OR x <> x THEN 'n/a'
                WHEN abs(x) >= 100 THEN to_char(round(x::numeric), 'FM999,999,999,999,990')
                ELSE round(x::numeric, 1)::text END
$fn$;
COMMENT ON FUNCTION custseg_format_number(float8) IS 'a number as segment descriptions print it';

-- What the options need from the source before training: the value column is checked, and (since
-- quantile clipping needs the quantiles before the moments) a first pass over the source computes
-- every "clip_quantiles" of the "transform" option at once (percentile_cont, the same linear
-- interpolation as pandas' quantile), and writes them as the "clip" bounds the aggregate applies.
CREATE OR REPLACE FUNCTION custseg_resolve_options(source regclass, options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $fn$
#variable_conflict use_variable
DECLARE
    t jsonb := options -> 'transform';
    col text;
    spec jsonb;
    parts text := '';
    q jsonb;
BEGIN
    -- The value column the labels read must be a numeric column of the source.
    IF jsonb_typeof(options -> 'value_column') = 'string'
       AND NOT EXISTS (SELECT 1 FROM custseg_columns(source) c WHERE c.name = options ->> 'value_column' AND c.is_num) THEN
        RAISE EXCEPTION 'value_column "%" is not a numeric column of %', options ->> 'value_column', source
            USING ERRCODE = '42703', HINT = 'name a numeric column that measures customer value, or pass "value_column": null';
    END IF;
    IF t IS NULL OR jsonb_typeof(t) <> 'object' THEN
        RETURN options;  -- a wrong type is reported by the aggregate's option parser
    END IF;
    FOR col, spec IN SELECT e.key, e.value FROM jsonb_each(t) e LOOP
        IF jsonb_typeof(spec) = 'object' AND spec ? 'clip_quantiles' THEN
            IF jsonb_typeof(spec -> 'clip_quantiles') <> 'array' OR jsonb_array_length(spec -> 'clip_quantiles') <> 2
               OR jsonb_typeof(spec -> 'clip_quantiles' -> 0) <> 'number' OR jsonb_typeof(spec -> 'clip_quantiles' -> 1) <> 'number'
               OR NOT (spec #>> '{clip_quantiles,0}')::float8 BETWEEN 0 AND 1
               OR NOT (spec #>> '{clip_quantiles,1}')::float8 BETWEEN 0 AND 1 THEN
                RAISE EXCEPTION 'option "transform" of column "%": "clip_quantiles" must be two quantiles between 0 and 1', col
                    USING ERRCODE = '22023', HINT = 'pass {"clip_quantiles": [0.01, 0.99]}';
            END IF;
            IF NOT EXISTS (SELECT 1 FROM custseg_columns(source) c WHERE c.name = col) THEN
                RAISE EXCEPTION 'column "%" named in option "transform" does not exist', col USING ERRCODE = '42703',
                    HINT = 'column names are case-sensitive and must match the table''s exactly';
            END IF;
            IF NOT EXISTS (SELECT 1 FROM custseg_columns(source) c WHERE c.name = col AND c.is_num) THEN
                RAISE EXCEPTION 'column "%" named in option "transform" is not numeric', col USING ERRCODE = '22023',
                    HINT = 'only numeric features can be transformed';
            END IF;
            parts := parts || format(', %L, percentile_cont(ARRAY[%s, %s]::float8[]) WITHIN GROUP (ORDER BY t.%I::float8)',
                                     col, (spec #>> '{clip_quantiles,0}')::float8, (spec #>> '{clip_quantiles,1}')::float8, col);
        END IF;
    END LOOP;
    IF parts = '' THEN
        RETURN options;
    END IF;
    EXECUTE format('SELECT jsonb_build_object(%s) FROM %s AS t', substr(parts, 3), source) INTO q;
    FOR col IN SELECT jsonb_object_keys(q) LOOP
        IF q -> col = 'null' THEN
            RAISE EXCEPTION 'column "%" has only NULL values: its quantiles cannot be computed', col USING ERRCODE = '22000';
        END IF;
        t := jsonb_set(t, ARRAY[col, 'clip'], q -> col);
    END LOOP;
    RETURN options || jsonb_build_object('transform', t);
END
$fn$;
COMMENT ON FUNCTION custseg_resolve_options(regclass, jsonb) IS
    'the options checked against the source, each "clip_quantiles" of the "transform" option computed as "clip" bounds';

-- Changed in place in the install script: the options resolve transforms and the value column,
-- training regenerates generated labels, the segments get traits from categories and value.
-- The options custseg_train and custseg_evaluate_k run with: arguments override the same keys in
-- options (a NULL argument defers to them); exclude defaults to the source's primary-key columns.
CREATE OR REPLACE FUNCTION custseg_training_options(source regclass, n_components integer, exclude text[], options jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    opts jsonb := coalesce(options, '{}'::jsonb);
    excl text[];
BEGIN
    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF n_components IS NOT NULL THEN
        opts := opts || jsonb_build_object('n_components', n_components);
    ELSIF NOT opts ? 'n_components' THEN
        opts := opts || '{"n_components": null}';
    END IF;
    IF exclude IS NOT NULL THEN
        opts := opts || jsonb_build_object('exclude', to_jsonb(exclude));
    ELSIF NOT opts ? 'exclude' THEN
        SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}') INTO excl
        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = source AND i.indisprimary;
        opts := opts || jsonb_build_object('exclude', to_jsonb(excl));
    END IF;
    RETURN custseg_resolve_options(source, opts);
END
$fn$;
COMMENT ON FUNCTION custseg_training_options(regclass, integer, text[], jsonb) IS
    'the options custseg_train and custseg_evaluate_k use: arguments over options, primary key excluded by default';

-- Trains a new version of a named model on a table, registers it, and (by default) activates it.
CREATE OR REPLACE FUNCTION custseg_train(name text, source regclass, k integer DEFAULT 3, n_components integer DEFAULT 2,
                              exclude text[] DEFAULT NULL, options jsonb DEFAULT '{}', activate boolean DEFAULT true)
RETURNS custseg_models
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    opts jsonb := coalesce(options, '{}'::jsonb);
    started timestamptz := clock_timestamp();
    m custseg_model;
    j jsonb;
    v integer;
    chosen_k integer;
    prev custseg_models;
    ids integer[];
    next_id integer;
    match jsonb;
    seg_prev jsonb;
    new_segs integer[] := '{}';
    vanished integer[] := '{}';
    drift bigint;
    scored bigint;
    lineage jsonb := '{}';
    owner_role name;
    result custseg_models;
BEGIN
    IF name IS NULL OR source IS NULL THEN
        RAISE EXCEPTION 'model name and source must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION 'model name must not be empty' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = '22023';
    END IF;
    opts := custseg_training_options(source, n_components, exclude, opts);
    -- k: the argument, else "k" in options, else chosen by custseg_evaluate_k (k = 2..8).
    IF k IS NOT NULL THEN
        opts := opts || jsonb_build_object('k', k);
    ELSIF NOT opts ? 'k' OR opts -> 'k' = 'null' THEN
        SELECT e.k INTO chosen_k FROM custseg_evaluate_k(source, 2, 8, NULL, NULL, opts - 'k') e WHERE e.chosen;
        RAISE NOTICE 'custseg_train: k = % chosen by custseg_evaluate_k', chosen_k;
        opts := opts || jsonb_build_object('k', chosen_k);
    END IF;

    EXECUTE format('SELECT custseg_fit(t, $1) FROM %s AS t', source) INTO m USING opts;
    IF m IS NULL THEN
        RAISE EXCEPTION 'cannot train model "%": % has no rows', name, source USING ERRCODE = '22000';
    END IF;
    j := custseg_model_json(m);

    -- Versions of one name are numbered and activated one at a time; training itself runs unlocked.
    PERFORM pg_advisory_xact_lock(hashtextextended('custseg_models:' || name, 0));
    SELECT coalesce(max(cm.version), 0) + 1 INTO v FROM custseg_models cm WHERE cm.name = custseg_train.name;
    -- A name belongs to the role that trained it first; its members train new versions for it.
    SELECT n.owner INTO owner_role FROM custseg_model_names n WHERE n.name = custseg_train.name;
    IF owner_role IS NULL THEN
        owner_role := current_user;
    ELSIF NOT coalesce(pg_has_role(to_regrole(quote_ident(owner_role)), 'USAGE'), false) THEN
        RAISE EXCEPTION 'permission denied for custseg model "%"', name USING ERRCODE = '42501',
            DETAIL = format('The model belongs to role %s.', quote_ident(owner_role)),
            HINT = format('A member of that role can train it (GRANT %s TO %s), or choose another name.',
                          quote_ident(owner_role), quote_ident(current_user));
    END IF;

    -- Segment identity: the new centroids take over the numbers of the active version's centroids
    -- they match (optimal assignment); the others get numbers never used by this name.
    SELECT * INTO prev FROM custseg_models cm WHERE cm.name = custseg_train.name AND cm.active;
    IF FOUND THEN
        seg_prev := custseg_model_json(prev.model) #> '{kmeans,segments}';  -- NULL without k-means
    END IF;
    IF seg_prev IS NOT NULL AND j -> 'kmeans' <> 'null' THEN
        match := custseg_match_segments(m, prev.model);
        -- Versions without k-means have no segments array and add no rows here.
        SELECT coalesce(max(s::integer), -1) + 1 INTO next_id
        FROM custseg_models cm, jsonb_array_elements_text(custseg_model_json(cm.model) #> '{kmeans,segments}') s
        WHERE cm.name = custseg_train.name;
        next_id := greatest(next_id, (SELECT coalesce(max(cs.segment), -1) + 1 FROM custseg_segments cs
                                      WHERE cs.model = custseg_train.name));
        ids := '{}';
        FOR i IN 0 .. jsonb_array_length(match -> 'previous_of') - 1 LOOP
            IF match -> 'previous_of' -> i = 'null' THEN
                ids := ids || next_id;
                new_segs := new_segs || next_id;
                next_id := next_id + 1;
            ELSE
                ids := ids || (seg_prev ->> (match -> 'previous_of' ->> i)::integer)::integer;
            END IF;
        END LOOP;
        SELECT coalesce(array_agg(s::integer ORDER BY s::integer), '{}') INTO vanished
        FROM jsonb_array_elements_text(seg_prev) s WHERE NOT s::integer = ANY (ids);
        m := custseg_model_renumber(m, ids);
        j := custseg_model_json(m);
        -- Drift: training rows whose segment differs between the two versions.
        BEGIN
            EXECUTE format('SELECT count(*) FILTER (WHERE custseg_predict($1, t) IS DISTINCT FROM custseg_predict($2, t)),
                                   count(*) FROM %s AS t', source) INTO drift, scored USING m, prev.model;
        EXCEPTION WHEN undefined_column OR datatype_mismatch OR invalid_text_representation THEN
            drift := NULL;  -- the previous version cannot score these rows (its columns changed)
        END;
        lineage := jsonb_build_object(
            'previous_version', prev.version,
            'matched_segments', jsonb_array_length(match -> 'previous_of') - cardinality(new_segs),
            'new_segments', to_jsonb(new_segs), 'vanished_segments', to_jsonb(vanished),
            'drift_rows', drift, 'drift_share', round((drift::numeric / nullif(scored, 0)), 6));
        IF cardinality(new_segs) > 0 THEN
            RAISE NOTICE 'custseg_train: model "%" version % has new segments %', name, v, new_segs;
        END IF;
        IF cardinality(vanished) > 0 THEN
            RAISE NOTICE 'custseg_train: segments % of model "%" have no match in version %', vanished, name, v;
        END IF;
    END IF;
    IF activate THEN
        UPDATE custseg_models cm SET active = false WHERE cm.name = custseg_train.name AND cm.active;
    END IF;
    BEGIN
        INSERT INTO custseg_models (name, version, source, options, metrics, model, active, owner)
        VALUES (name, v,
                (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.oid = source),
                j -> 'options',
                (j -> 'training') || jsonb_build_object(
                    'explained_variance_ratio', j #> '{pca,explained_variance_ratio}',
                    'duration_ms', round(extract(epoch FROM clock_timestamp() - started)::numeric * 1000, 1)) || lineage,
                m, activate, owner_role)
        RETURNING * INTO result;
    EXCEPTION WHEN unique_violation THEN
        -- The name has versions this role cannot see: it belongs to a role this one has no access to.
        RAISE EXCEPTION 'permission denied for custseg model "%"', name USING ERRCODE = '42501',
            DETAIL = 'The model name belongs to another role.',
            HINT = 'Choose another name, or ask its owner to grant you membership in their role.';
    END;
    IF activate THEN
        -- Generated labels describe the new centroids; labels users set are kept (label_generated).
        PERFORM custseg_refresh_segments(name);
    END IF;
    RETURN result;
END
$fn$;
COMMENT ON FUNCTION custseg_train(text, regclass, integer, integer, text[], jsonb, boolean) IS
    'trains a new version of a named model on a table, stores it in custseg_models and activates it';

-- Recomputes the segments of a model's active version: size, share, profile, generated labels.
-- A label is made of the segment's traits, strongest first: a numeric feature whose segment mean
-- sits at least half a standard deviation from the mean of all rows ("high Milk"), and a category
-- level that holds at least 60% of the segment and stands out against its overall share by at least
-- half the standard deviation of its indicator ("92% Married", "mostly Channel 1"). With a customer
-- value column (option "value_column", or one named like monetary/revenue/clv), the segment with
-- the highest mean value is "High Value" and the lowest "Low Value", each only when at least half a
-- standard deviation from the mean. Segments whose leading traits are the same take more traits
-- until they differ. Generated labels follow the profile at every refresh; a user's label is kept.
CREATE OR REPLACE FUNCTION custseg_refresh_segments(model text, keep_labels boolean DEFAULT false) RETURNS SETOF custseg_segments
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
-- Why: the planner's estimates for these small queries cross jit_above_cost; compiling costs ~1 s.
SET jit = off
AS $fn$
#variable_conflict use_variable
DECLARE
    m custseg_models;
    j jsonb;
    f jsonb;
    num_cols text := '';
    cat_cols text := '';
    q text;
    total bigint;
    value_col text;
    seg record;
    stats jsonb := '{}';
    overall jsonb;
    cats jsonb := '{}';
    overall_cats jsonb := '{}';
    features text[] := '{}';
    tr jsonb;
    bump jsonb;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model name must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO m FROM custseg_models cm WHERE cm.name = model AND cm.active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active custseg model named "%"', model USING ERRCODE = '42704',
            HINT = 'see SELECT name, version, active FROM custseg_models';
    END IF;
    j := custseg_model_json(m.model);
    IF j -> 'kmeans' = 'null' THEN
        RETURN;
    END IF;
    -- The customer value column: the option, else a numeric feature named unmistakably so.
    value_col := j #>> '{options,value_column}';
    IF value_col IS NULL THEN
        SELECT f2 ->> 'name' INTO value_col FROM jsonb_array_elements(j -> 'features') WITH ORDINALITY AS x(f2, i)
        WHERE f2 ->> 'kind' = 'numeric'
          AND lower(f2 ->> 'name') IN ('monetary', 'revenue', 'total_revenue', 'spend', 'spending', 'total_spend',
                                       'total_spending', 'amount', 'total_amount', 'sales', 'total_sales',
                                       'customer_value', 'lifetime_value', 'clv', 'ltv')
        ORDER BY i LIMIT 1;
    ELSIF NOT EXISTS (SELECT 1 FROM custseg_columns(to_regclass(m.source)) c WHERE c.name = value_col AND c.is_num) THEN
        RAISE EXCEPTION 'value_column "%" is not a numeric column of %', value_col, m.source USING ERRCODE = '42703',
            HINT = 'name a numeric column that measures customer value, or pass "value_column": null';
    END IF;
    FOR f IN SELECT * FROM jsonb_array_elements(j -> 'features') LOOP
        features := features || (f ->> 'name');
        IF f ->> 'kind' = 'numeric' THEN
            num_cols := num_cols || format(', %L, jsonb_build_object(''mean'', avg(t.%I)::float8, ''stddev'', '
                                           'stddev_pop(t.%I)::float8, ''min'', min(t.%I)::float8, ''max'', max(t.%I)::float8)',
                                           f ->> 'name', f ->> 'name', f ->> 'name', f ->> 'name', f ->> 'name');
        ELSE
            cat_cols := cat_cols || format(', (%L, t.%I::text)', f ->> 'name', f ->> 'name');
        END IF;
    END LOOP;
    IF value_col IS NOT NULL AND NOT value_col = ANY (features) THEN
        num_cols := num_cols || format(', %L, jsonb_build_object(''mean'', avg(t.%I)::float8, ''stddev'', '
                                       'stddev_pop(t.%I)::float8, ''min'', min(t.%I)::float8, ''max'', max(t.%I)::float8)',
                                       value_col, value_col, value_col, value_col, value_col);
    END IF;
    -- Numeric statistics per segment and over all rows, in one scan.
    q := format('SELECT s.segment, count(*) AS n, jsonb_build_object(%s) AS numeric, GROUPING(s.segment) = 1 AS all_rows
                 FROM %s t CROSS JOIN LATERAL (SELECT @extschema@.custseg_predict($1, t) AS segment) s
                 GROUP BY GROUPING SETS ((s.segment), ())',
                CASE WHEN num_cols = '' THEN '' ELSE substr(num_cols, 3) END, m.source);
    FOR seg IN EXECUTE q USING m.model LOOP
        IF seg.all_rows THEN
            total := seg.n;
            overall := seg.numeric;
        ELSIF seg.segment IS NOT NULL THEN
            stats := stats || jsonb_build_object(seg.segment::text, jsonb_build_object('n', seg.n, 'numeric', seg.numeric));
        END IF;
    END LOOP;
    -- Category counts per segment, in one more scan.
    IF cat_cols <> '' THEN
        q := format('SELECT c.segment, c.feature, jsonb_object_agg(coalesce(c.value, ''NULL''), c.n) AS counts
                     FROM (SELECT s.segment, kv.feature, kv.value, count(*) AS n
                           FROM %s t CROSS JOIN LATERAL (SELECT @extschema@.custseg_predict($1, t) AS segment) s
                           CROSS JOIN LATERAL (VALUES %s) AS kv(feature, value)
                           WHERE s.segment IS NOT NULL
                           GROUP BY 1, 2, 3) c
                     GROUP BY 1, 2', m.source, substr(cat_cols, 3));
        FOR seg IN EXECUTE q USING m.model LOOP
            cats := jsonb_set(cats, ARRAY[seg.segment::text], coalesce(cats -> seg.segment::text, '{}') ||
                              jsonb_build_object(seg.feature, seg.counts));
        END LOOP;
        -- Shares over all scored rows, per feature and level.
        SELECT coalesce(jsonb_object_agg(c.feature, c.shares), '{}') INTO overall_cats
        FROM (SELECT z.feature, jsonb_object_agg(z.level, z.n / z.tot) AS shares
              FROM (SELECT fc.key AS feature, l.key AS level, sum(l.value::float8) AS n,
                           sum(sum(l.value::float8)) OVER (PARTITION BY fc.key) AS tot
                    FROM jsonb_each(cats) sc, jsonb_each(sc.value) fc, jsonb_each(fc.value) l
                    GROUP BY 1, 2) z
              GROUP BY z.feature) c;
    END IF;

    -- Traits per segment, strongest first: {sid: {"a": archetype, "t": [trait, ...], "f": [fact, ...], "n": used}}.
    WITH segs AS (
        SELECT sid, coalesce((stats -> sid ->> 'n')::bigint, 0) AS n,
               coalesce(stats -> sid -> 'numeric', '{}') AS numeric, coalesce(cats -> sid, '{}') AS categorical
        FROM jsonb_array_elements_text(j #> '{kmeans,segments}') AS sid
    ),
    traits AS (
        SELECT s.sid, nf.key AS feature, CASE WHEN x.z > 0 THEN 'high ' ELSE 'low ' END || nf.key AS trait, abs(x.z) AS score,
               format('%s %s vs %s overall', nf.key, custseg_format_number((nf.value ->> 'mean')::float8),
                      custseg_format_number((overall -> nf.key ->> 'mean')::float8)) AS fact
        FROM segs s, jsonb_each(s.numeric) nf,
             LATERAL (SELECT CASE WHEN (overall -> nf.key ->> 'stddev')::float8 > 0
                                  THEN ((nf.value ->> 'mean')::float8 - (overall -> nf.key ->> 'mean')::float8)
                                       / (overall -> nf.key ->> 'stddev')::float8 END AS z) x
        WHERE nf.key = ANY (features) AND abs(x.z) >= 0.5
        UNION ALL
        SELECT s.sid, cf.key,
               CASE WHEN y.share >= 0.9 THEN round(100 * y.share)::text || '% ' ELSE 'mostly ' END || y.phrase,
               (y.share - y.p) / sqrt(y.p * (1 - y.p)),
               format('%s %s%% vs %s%% overall', y.phrase, round(100 * y.share), round(100 * y.p))
        FROM segs s, jsonb_each(s.categorical) cf, jsonb_each(cf.value) l,
             LATERAL (SELECT l.value::float8 / nullif(s.n, 0) AS share, (overall_cats -> cf.key ->> l.key)::float8 AS p,
                             -- A bare number or yes/no says nothing without its column: "Channel 1".
                             CASE WHEN l.key ~ '^[-+]?[0-9.]+$' OR lower(l.key) IN ('true', 'false', 't', 'f', 'yes', 'no', 'y', 'n')
                                  THEN cf.key || ' ' || l.key ELSE l.key END AS phrase) y
        WHERE l.key <> 'NULL' AND y.share >= 0.6 AND y.p < 1 AND (y.share - y.p) / sqrt(y.p * (1 - y.p)) >= 0.5
    ),
    value_rank AS (
        SELECT s.sid, x.z,
               rank() OVER (ORDER BY (s.numeric -> value_col ->> 'mean')::float8 DESC NULLS LAST) AS top,
               rank() OVER (ORDER BY (s.numeric -> value_col ->> 'mean')::float8 ASC NULLS LAST) AS bottom
        FROM segs s,
             LATERAL (SELECT ((s.numeric -> value_col ->> 'mean')::float8 - (overall -> value_col ->> 'mean')::float8)
                             / nullif((overall -> value_col ->> 'stddev')::float8, 0) AS z) x
        WHERE value_col IS NOT NULL AND s.n > 0
    )
    SELECT coalesce(jsonb_object_agg(s.sid, jsonb_build_object(
               'a', CASE WHEN v.top = 1 AND v.z >= 0.5 THEN 'High Value' WHEN v.bottom = 1 AND v.z <= -0.5 THEN 'Low Value' END,
               'vf', CASE WHEN v.sid IS NOT NULL
                          THEN format('%s (customer value) %s vs %s overall', value_col,
                                      custseg_format_number((s.numeric -> value_col ->> 'mean')::float8),
                                      custseg_format_number((overall -> value_col ->> 'mean')::float8)) END,
               't', coalesce((SELECT jsonb_agg(t.trait ORDER BY t.score DESC, t.trait) FROM traits t WHERE t.sid = s.sid), '[]'),
               -- The value column's own fact comes first ('vf'), so it is not repeated among the traits'.
               'f', coalesce((SELECT jsonb_agg(CASE WHEN t.feature = value_col THEN NULL ELSE t.fact END ORDER BY t.score DESC, t.trait)
                              FROM traits t WHERE t.sid = s.sid), '[]'),
               'n', least(3, (SELECT count(*) FROM traits t WHERE t.sid = s.sid)))), '{}')
    INTO tr
    FROM segs s LEFT JOIN value_rank v USING (sid);
    -- No two segments share a label: those whose leading traits are the same set take one more
    -- trait each, until they differ or run out.
    LOOP
        WITH keys AS (
            SELECT e.key AS sid, e.value ->> 'a' AS a, (e.value ->> 'n')::integer AS n,
                   jsonb_array_length(e.value -> 't') AS avail,
                   ARRAY(SELECT x.t FROM jsonb_array_elements_text(e.value -> 't') WITH ORDINALITY AS x(t, i)
                         WHERE x.i <= (e.value ->> 'n')::integer ORDER BY x.t) AS keyset
            FROM jsonb_each(tr) e
        )
        SELECT coalesce(jsonb_object_agg(k.sid, (tr -> k.sid) || jsonb_build_object('n', k.n + 1)), '{}') INTO bump
        FROM keys k
        WHERE k.n < k.avail
          AND EXISTS (SELECT 1 FROM keys o WHERE o.sid <> k.sid AND o.keyset = k.keyset AND o.a IS NOT DISTINCT FROM k.a);
        EXIT WHEN bump = '{}';
        tr := tr || bump;
    END LOOP;

    PERFORM set_config('custseg.refreshing', 'on', true);
    DELETE FROM custseg_segments cs
    WHERE cs.model = model
      AND cs.segment <> ALL (ARRAY(SELECT jsonb_array_elements_text(j #> '{kmeans,segments}')::integer));
    RETURN QUERY
    WITH segs AS (
        SELECT sid::integer AS segment, sid, coalesce((stats -> sid ->> 'n')::bigint, 0) AS n,
               coalesce(stats -> sid -> 'numeric', '{}') AS numeric, coalesce(cats -> sid, '{}') AS categorical,
               tr -> sid AS t
        FROM jsonb_array_elements_text(j #> '{kmeans,segments}') AS sid
    ),
    z AS (
        -- How far each segment's mean sits from the mean of all rows, in standard deviations.
        SELECT s.segment, nf.key AS feature,
               CASE WHEN (overall -> nf.key ->> 'stddev')::float8 > 0
                    THEN ((nf.value ->> 'mean')::float8 - (overall -> nf.key ->> 'mean')::float8)
                         / (overall -> nf.key ->> 'stddev')::float8 END AS z
        FROM segs s, jsonb_each(s.numeric) nf
    ),
    named AS (
        SELECT s.*,
               coalesce(s.t ->> 'a' || CASE WHEN (s.t ->> 'n')::integer > 0 THEN ': ' ELSE '' END, '') ||
               coalesce((SELECT string_agg(x.t, ', ' ORDER BY x.i) FROM jsonb_array_elements_text(s.t -> 't') WITH ORDINALITY AS x(t, i)
                         WHERE x.i <= (s.t ->> 'n')::integer),
                        CASE WHEN s.t ->> 'a' IS NULL THEN 'No standout traits' ELSE '' END) AS generated,
               concat_ws('; ', s.t ->> 'vf',
                         (SELECT string_agg(x.f, '; ' ORDER BY x.i) FROM jsonb_array_elements_text(s.t -> 'f') WITH ORDINALITY AS x(f, i)
                          WHERE x.i <= greatest((s.t ->> 'n')::integer, 3) AND x.f IS NOT NULL)) AS facts
        FROM segs s
    ),
    unique_named AS (
        -- Segments with nothing to tell them apart are told apart by number.
        SELECT n.*, CASE WHEN count(*) OVER (PARTITION BY n.generated) > 1
                         THEN n.generated || ' (segment ' || n.segment || ')' ELSE n.generated END AS label
        FROM named n
    )
    INSERT INTO custseg_segments AS cs (model, segment, label, description, size, share, profile, version,
                                        label_generated, updated_at)
    SELECT model, n.segment, n.label,
           format('%s rows (%s%%)', n.n, round(100.0 * n.n / nullif(total, 0), 1)) || coalesce('; ' || nullif(n.facts, ''), ''),
           n.n, coalesce(n.n::float8 / nullif(total, 0), 0),
           jsonb_build_object('numeric', (SELECT coalesce(jsonb_object_agg(nf.key, nf.value ||
                                                  jsonb_build_object('z', (SELECT z.z FROM z WHERE z.segment = n.segment AND z.feature = nf.key))), '{}')
                                          FROM jsonb_each(n.numeric) nf),
                              'categorical', (SELECT coalesce(jsonb_object_agg(c.key,
                                                  (SELECT jsonb_object_agg(l.key, round((l.value::numeric / n.n), 4)) FROM jsonb_each(c.value) l)), '{}')
                                              FROM jsonb_each(n.categorical) c),
                              'traits', n.t -> 't',
                              'value_column', value_col),
           m.version, true, now()
    FROM unique_named n
    ON CONFLICT ON CONSTRAINT custseg_segments_pkey DO UPDATE
        SET size = EXCLUDED.size, share = EXCLUDED.share, profile = EXCLUDED.profile,
            description = EXCLUDED.description, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
            label = CASE WHEN cs.label_generated AND NOT keep_labels THEN EXCLUDED.label ELSE cs.label END
    RETURNING cs.*;
    PERFORM set_config('custseg.refreshing', 'off', true);
END
$fn$;
COMMENT ON FUNCTION custseg_refresh_segments(text, boolean) IS
    'recomputes size, share, profile, description and generated labels of a model''s segments; a user''s label is kept, and keep_labels keeps generated ones too';

-- ---- 0.3.0: PostgreSQL 17 and 18 ----

-- ---- 0.3.0: speed (input forms, sparse one-hot) ----

-- ---- 0.3.0: Citus (distributed training and scoring, model-as-value forms) ----

-- ---- 0.3.0: customers in motion (RFM, kept segments, transitions) ----

-- ---- 0.3.0: resilience ----
