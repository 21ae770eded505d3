-- custseg 0.2.0 -> 0.3.0 (ALTER EXTENSION custseg UPDATE TO '0.3.0').
-- Every change made to sql/custseg--0.3.0.sql since 0.2.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.3.0'" to load this file. \quit

-- ---- 0.3.0: an analyst's own data (features, labels, transforms, model equality) ----

-- ---- 0.3.0: PostgreSQL 17 and 18 ----

-- ---- 0.3.0: speed (input forms, sparse one-hot) ----

-- ---- 0.3.0: Citus (distributed training and scoring, model-as-value forms) ----

-- Whether a table is managed by Citus (distributed, reference or Citus local). False, at the cost
-- of one catalog lookup, where Citus is not installed.
CREATE FUNCTION custseg_citus_table(source regclass) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    found boolean;
BEGIN
    IF source IS NULL OR to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)' INTO found USING source;
    RETURN found;
END
$fn$;
COMMENT ON FUNCTION custseg_citus_table(regclass) IS
    'whether a table is a Citus table (training then reads it as jsonb, which Citus aggregates in its workers)';

-- The column-array form of custseg_fit: each row as its numbers and its categories, in the order
-- of names (names after both only name columns, for "exclude"). Citus aggregates it in its workers
-- at the speed of a local scan; custseg_train uses it on Citus tables (custseg_fit_columns_args).
CREATE FUNCTION custseg_fit_columns_transfn(bytea, text[], float8[], text[], jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_fit_columns_transfn(bytea, text[], float8[], text[]) RETURNS bytea
    AS 'MODULE_PATHNAME', 'custseg_fit_columns_transfn' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_fit_columns_transfn(bytea, text[], float8[], text[], jsonb) IS 'custseg_fit_columns transition';
COMMENT ON FUNCTION custseg_fit_columns_transfn(bytea, text[], float8[], text[]) IS 'custseg_fit_columns transition';
CREATE AGGREGATE custseg_fit_columns(names text[], numbers float8[], categories text[], options jsonb) (
    SFUNC = custseg_fit_columns_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_fit_columns(names text[], numbers float8[], categories text[]) (
    SFUNC = custseg_fit_columns_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_fit_columns_state(names text[], numbers float8[], categories text[], options jsonb) (
    SFUNC = custseg_fit_columns_transfn, STYPE = bytea, COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
COMMENT ON AGGREGATE custseg_fit_columns(text[], float8[], text[], jsonb) IS
    'custseg_fit over rows given as arrays of numbers and categories (the form Citus runs fastest)';
COMMENT ON AGGREGATE custseg_fit_columns(text[], float8[], text[]) IS
    'custseg_fit over rows given as arrays of numbers and categories, default options';
COMMENT ON AGGREGATE custseg_fit_columns_state(text[], float8[], text[], jsonb) IS
    'the training state of custseg_fit_columns, for custseg_evaluate_state';

-- The arguments of custseg_fit_columns that read a table's rows (alias t) as custseg_fit(t, options)
-- would: number-typed and boolean columns as numbers, text-like ones as categories, each as the
-- options force it, excluded ones only named. NULL when a column of another type would be a feature.
CREATE FUNCTION custseg_fit_columns_args(source regclass, options jsonb) RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c record;
    nums text[] := '{}';
    num_names text[] := '{}';
    cats text[] := '{}';
    cat_names text[] := '{}';
    named text[] := '{}';
    opts jsonb := coalesce(options, '{}');
BEGIN
    FOR c IN
        SELECT a.attname::text AS name, t.typname::text AS typname, t.typtype
        FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
    LOOP
        IF coalesce(opts -> 'exclude', '[]') ? c.name THEN
            named := named || c.name;
        ELSIF coalesce(opts -> 'categorical', '[]') ? c.name THEN
            cats := cats || format('t.%I::text', c.name);
            cat_names := cat_names || c.name;
        ELSIF coalesce(opts -> 'numeric', '[]') ? c.name
              OR c.typname IN ('int2', 'int4', 'int8', 'float4', 'float8', 'numeric') THEN
            nums := nums || format('t.%I::float8', c.name);
            num_names := num_names || c.name;
        ELSIF c.typname = 'bool' THEN
            nums := nums || format('t.%I::integer::float8', c.name);
            num_names := num_names || c.name;
        ELSIF c.typname IN ('text', 'varchar', 'bpchar', 'name') OR c.typtype = 'e' THEN
            cats := cats || format('t.%I::text', c.name);
            cat_names := cat_names || c.name;
        ELSE
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN format('%L::text[], %s, %s', (num_names || cat_names || named)::text,
                  CASE WHEN cardinality(nums) = 0 THEN '''{}''::float8[]' ELSE 'ARRAY[' || array_to_string(nums, ', ') || ']' END,
                  CASE WHEN cardinality(cats) = 0 THEN '''{}''::text[]' ELSE 'ARRAY[' || array_to_string(cats, ', ') || ']' END);
END
$fn$;
COMMENT ON FUNCTION custseg_fit_columns_args(regclass, jsonb) IS
    'the custseg_fit_columns arguments that read a table''s rows (alias t) as custseg_fit(t, options) does, or NULL';

-- custseg_evaluate_k over jsonb objects: the form Citus runs in its workers.
CREATE AGGREGATE custseg_fit_state(jsonb, jsonb) (
    SFUNC = custseg_fit_jsonb_transfn, STYPE = bytea, COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
COMMENT ON AGGREGATE custseg_fit_state(jsonb, jsonb) IS
    'the training state of custseg_fit over jsonb objects, for custseg_evaluate_state';

-- Model-as-value scoring: the model travels with the query (Citus ships it to its workers).
CREATE FUNCTION custseg_predict(model custseg_model, "row" jsonb) RETURNS integer
    AS 'MODULE_PATHNAME', 'custseg_predict_model_jsonb' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_predict(custseg_model, jsonb) IS
    'the segment of a JSON object of attributes (keys = column names) under a model';
CREATE FUNCTION custseg_score(model custseg_model, "row" record,
                              OUT segment integer, OUT label text, OUT distance float8,
                              OUT runner_up_distance float8, OUT confidence float8, OUT coordinates float8[])
    AS 'MODULE_PATHNAME', 'custseg_score_model_record' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_score(custseg_model, record) IS
    'one assignment explained under a model value (label is NULL: labels live in custseg_segments)';
CREATE FUNCTION custseg_score(model custseg_model, "row" jsonb,
                              OUT segment integer, OUT label text, OUT distance float8,
                              OUT runner_up_distance float8, OUT confidence float8, OUT coordinates float8[])
    AS 'MODULE_PATHNAME', 'custseg_score_model_jsonb' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_score(custseg_model, jsonb) IS
    'one assignment of a JSON object explained under a model value (label is NULL)';

-- Citus tables are trained on as column arrays or jsonb (custseg_train, custseg_evaluate_k);
-- custseg_refresh_segments uses no GROUPING SETS on them; the views of custseg_create_views score
-- in a subquery of the source.
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

    -- Citus cannot run an aggregate over whole rows in its workers: a Citus table is read as
    -- arrays of its columns (as jsonb where a column has a type of its own).
    IF custseg_citus_table(source) THEN
        EXECUTE format('SELECT %s FROM %s AS t',
                       coalesce('custseg_fit_columns(' || custseg_fit_columns_args(source, opts) || ', $1)',
                                'custseg_fit(to_jsonb(t), $1)'), source) INTO m USING opts;
    ELSE
        EXECUTE format('SELECT custseg_fit(t, $1) FROM %s AS t', source) INTO m USING opts;
    END IF;
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
        -- Matched segments keep their labels; new ones get generated labels.
        PERFORM custseg_refresh_segments(name, keep_labels => lineage <> '{}');
    END IF;
    RETURN result;
END
$fn$;
CREATE OR REPLACE FUNCTION custseg_evaluate_k(source regclass, k_min integer DEFAULT 2, k_max integer DEFAULT 8,
                                   n_components integer DEFAULT 2, exclude text[] DEFAULT NULL,
                                   options jsonb DEFAULT '{}')
RETURNS TABLE (k integer, inertia float8, silhouette float8, calinski_harabasz float8, davies_bouldin float8,
               is_elbow boolean, chosen boolean, silhouette_rows bigint, rows_clustered bigint)
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    opts jsonb;
    state bytea;
    res jsonb;
BEGIN
    IF source IS NULL OR k_min IS NULL OR k_max IS NULL THEN
        RAISE EXCEPTION 'source, k_min and k_max must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF k_min < 2 OR k_max < k_min OR k_max > 1000 THEN
        RAISE EXCEPTION 'k range %..% is invalid', k_min, k_max USING ERRCODE = '22023',
            HINT = 'pass 2 <= k_min <= k_max <= 1000';
    END IF;
    opts := custseg_training_options(source, n_components, exclude, options);
    IF opts ? 'k' THEN
        RAISE EXCEPTION 'option "k" cannot be given to custseg_evaluate_k' USING ERRCODE = '22023',
            HINT = 'use k_min and k_max';
    END IF;
    -- The state keeps the rows for k-means as training with k = k_max would.
    -- A Citus table is read as arrays of its columns (or as jsonb), as custseg_train reads it.
    EXECUTE format('SELECT %s FROM %s AS t',
                   CASE WHEN NOT custseg_citus_table(source) THEN 'custseg_fit_state(t, $1)'
                        ELSE coalesce('custseg_fit_columns_state(' || custseg_fit_columns_args(source, opts) || ', $1)',
                                      'custseg_fit_state(to_jsonb(t), $1)') END, source) INTO state
        USING opts || jsonb_build_object('k', k_max);
    IF state IS NULL THEN
        RAISE EXCEPTION '% has no rows', source USING ERRCODE = '22000';
    END IF;
    res := custseg_evaluate_state(state, k_min, k_max);
    RETURN QUERY
    SELECT (e ->> 'k')::integer, (e ->> 'inertia')::float8, (e ->> 'silhouette')::float8,
           (e ->> 'calinski_harabasz')::float8, (e ->> 'davies_bouldin')::float8,
           (e ->> 'is_elbow')::boolean, (e ->> 'chosen')::boolean,
           (e ->> 'silhouette_rows')::bigint, (e ->> 'rows')::bigint
    FROM jsonb_array_elements(res) e;
END
$fn$;
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
    spend text;
    seg record;
    stats jsonb := '{}';
    overall jsonb;
    cats jsonb := '{}';
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
    FOR f IN SELECT * FROM jsonb_array_elements(j -> 'features') LOOP
        IF f ->> 'kind' = 'numeric' THEN
            num_cols := num_cols || format(', %L, jsonb_build_object(''mean'', avg(t.%I)::float8, ''stddev'', '
                                           'stddev_pop(t.%I)::float8, ''min'', min(t.%I)::float8, ''max'', max(t.%I)::float8)',
                                           f ->> 'name', f ->> 'name', f ->> 'name', f ->> 'name', f ->> 'name');
            IF spend IS NULL AND (f ->> 'name') ~* '(spend|score|amount|purchase|basket|monetary|revenue|sales)' THEN
                spend := f ->> 'name';
            END IF;
        ELSE
            cat_cols := cat_cols || format(', (%L, t.%I::text)', f ->> 'name', f ->> 'name');
        END IF;
    END LOOP;
    -- Numeric statistics per segment and over all rows, in one scan; Citus distributes no GROUPING
    -- SETS, so on a Citus table they are two scans, both aggregated in the workers.
    IF custseg_citus_table(to_regclass(m.source)) THEN
        EXECUTE format('SELECT count(*), jsonb_build_object(%s) FROM %s t',
                       CASE WHEN num_cols = '' THEN '' ELSE substr(num_cols, 3) END, m.source) INTO total, overall;
        q := format('SELECT @extschema@.custseg_predict($1, t) AS segment, count(*) AS n, jsonb_build_object(%s) AS numeric
                     FROM %s t GROUP BY 1',
                    CASE WHEN num_cols = '' THEN '' ELSE substr(num_cols, 3) END, m.source);
    ELSE
        q := format('SELECT s.segment, count(*) AS n, jsonb_build_object(%s) AS numeric
                     FROM %s t CROSS JOIN LATERAL (SELECT @extschema@.custseg_predict($1, t) AS segment) s
                     GROUP BY GROUPING SETS ((s.segment), ())',
                    CASE WHEN num_cols = '' THEN '' ELSE substr(num_cols, 3) END, m.source);
    END IF;
    FOR seg IN EXECUTE q USING m.model LOOP
        IF seg.segment IS NULL THEN
            total := seg.n;
            overall := seg.numeric;
        ELSE
            stats := stats || jsonb_build_object(seg.segment::text, jsonb_build_object('n', seg.n, 'numeric', seg.numeric));
        END IF;
    END LOOP;
    -- Category shares per segment, in one more scan; on a Citus table the counts are aggregated in
    -- the workers and gathered here (a nested aggregate would pull the rows to the coordinator).
    IF cat_cols <> '' AND custseg_citus_table(to_regclass(m.source)) THEN
        q := format('SELECT @extschema@.custseg_predict($1, t) AS segment, kv.feature, kv.value, count(*) AS n
                     FROM %s t CROSS JOIN LATERAL (VALUES %s) AS kv(feature, value)
                     GROUP BY 1, 2, 3', m.source, substr(cat_cols, 3));
        FOR seg IN EXECUTE q USING m.model LOOP
            cats := jsonb_set(cats, ARRAY[seg.segment::text], coalesce(cats -> seg.segment::text, '{}') ||
                              jsonb_build_object(seg.feature, coalesce(cats -> seg.segment::text -> seg.feature, '{}') ||
                                                              jsonb_build_object(coalesce(seg.value, 'NULL'), seg.n)));
        END LOOP;
    ELSIF cat_cols <> '' THEN
        q := format('SELECT c.segment, c.feature, jsonb_object_agg(coalesce(c.value, ''NULL''), c.n) AS counts
                     FROM (SELECT s.segment, kv.feature, kv.value, count(*) AS n
                           FROM %s t CROSS JOIN LATERAL (SELECT @extschema@.custseg_predict($1, t) AS segment) s
                           CROSS JOIN LATERAL (VALUES %s) AS kv(feature, value)
                           GROUP BY 1, 2, 3) c
                     GROUP BY 1, 2', m.source, substr(cat_cols, 3));
        FOR seg IN EXECUTE q USING m.model LOOP
            cats := jsonb_set(cats, ARRAY[seg.segment::text], coalesce(cats -> seg.segment::text, '{}') ||
                              jsonb_build_object(seg.feature, seg.counts));
        END LOOP;
    END IF;

    PERFORM set_config('custseg.refreshing', 'on', true);
    DELETE FROM custseg_segments cs
    WHERE cs.model = model
      AND cs.segment <> ALL (ARRAY(SELECT jsonb_array_elements_text(j #> '{kmeans,segments}')::integer));
    RETURN QUERY
    WITH segs AS (
        SELECT sid::integer AS segment, coalesce((stats -> sid ->> 'n')::bigint, 0) AS n,
               coalesce(stats -> sid -> 'numeric', '{}') AS numeric, coalesce(cats -> sid, '{}') AS categorical
        FROM jsonb_array_elements_text(j #> '{kmeans,segments}') AS sid
    ),
    z AS (
        -- How far each segment's mean sits from the mean of all rows, in standard deviations.
        SELECT s.segment, f.key AS feature,
               CASE WHEN (overall -> f.key ->> 'stddev')::float8 > 0
                    THEN ((f.value ->> 'mean')::float8 - (overall -> f.key ->> 'mean')::float8)
                         / (overall -> f.key ->> 'stddev')::float8 END AS z
        FROM segs s, jsonb_each(s.numeric) f
    ),
    traits AS (
        SELECT z.segment,
               string_agg(CASE WHEN z.z > 0 THEN 'high ' ELSE 'low ' END || z.feature, ', '
                          ORDER BY abs(z.z) DESC, z.feature) FILTER (WHERE r <= 3) AS traits,
               string_agg(format('%s %s vs %s overall', z.feature,
                                 round((segs.numeric -> z.feature ->> 'mean')::numeric, 1),
                                 round((overall -> z.feature ->> 'mean')::numeric, 1)), '; '
                          ORDER BY abs(z.z) DESC, z.feature) FILTER (WHERE r <= 3) AS facts
        FROM (SELECT z.*, row_number() OVER (PARTITION BY z.segment ORDER BY abs(z.z) DESC, z.feature) AS r
              FROM z WHERE abs(z.z) >= 0.5) z
        JOIN segs USING (segment)
        GROUP BY z.segment
    ),
    spend_rank AS (
        SELECT s.segment,
               rank() OVER (ORDER BY (s.numeric -> spend ->> 'mean')::float8 DESC, s.segment) AS top,
               rank() OVER (ORDER BY (s.numeric -> spend ->> 'mean')::float8 ASC, s.segment) AS bottom,
               rank() OVER (ORDER BY s.n DESC, s.segment) AS by_size
        FROM segs s
    ),
    named AS (
        SELECT s.*, t.traits, t.facts,
               CASE WHEN spend IS NULL OR (SELECT count(*) FROM segs) < 2 THEN 'Segment ' || s.segment
                    WHEN r.top = 1 THEN 'High Spender'
                    WHEN r.bottom = 1 THEN 'Value Seeker'
                    WHEN NOT EXISTS (SELECT 1 FROM spend_rank r2 JOIN segs s2 USING (segment)
                                     WHERE r2.top > 1 AND r2.bottom > 1 AND r2.by_size < r.by_size) THEN 'Loyal Regular'
                    ELSE 'Segment ' || s.segment END AS archetype
        FROM segs s LEFT JOIN traits t USING (segment) JOIN spend_rank r USING (segment)
    )
    INSERT INTO custseg_segments AS cs (model, segment, label, description, size, share, profile, version,
                                        label_generated, updated_at)
    SELECT model, n.segment,
           n.archetype || coalesce(': ' || n.traits, ''),
           format('%s rows (%s%%)', n.n, round(100.0 * n.n / nullif(total, 0), 1)) || coalesce('; ' || n.facts, ''),
           n.n, coalesce(n.n::float8 / nullif(total, 0), 0),
           jsonb_build_object('numeric', (SELECT coalesce(jsonb_object_agg(f.key, f.value ||
                                                  jsonb_build_object('z', (SELECT z.z FROM z WHERE z.segment = n.segment AND z.feature = f.key))), '{}')
                                          FROM jsonb_each(n.numeric) f),
                              'categorical', (SELECT coalesce(jsonb_object_agg(c.key,
                                                  (SELECT jsonb_object_agg(l.key, round((l.value::numeric / n.n), 4)) FROM jsonb_each(c.value) l)), '{}')
                                              FROM jsonb_each(n.categorical) c)),
           m.version, true, now()
    FROM named n
    ON CONFLICT ON CONSTRAINT custseg_segments_pkey DO UPDATE
        SET size = EXCLUDED.size, share = EXCLUDED.share, profile = EXCLUDED.profile,
            description = EXCLUDED.description, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
            label = CASE WHEN cs.label_generated AND NOT keep_labels THEN EXCLUDED.label ELSE cs.label END
    RETURNING cs.*;
    PERFORM set_config('custseg.refreshing', 'off', true);
END
$fn$;
CREATE OR REPLACE FUNCTION custseg_create_views(source regclass, model text, view_name text DEFAULT NULL)
RETURNS SETOF regclass
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    nsp text;
    rel text;
    v1 text;
    v2 text;
BEGIN
    IF source IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'source and model must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF view_name = '' THEN
        RAISE EXCEPTION 'view_name must not be empty' USING ERRCODE = '22023',
            HINT = 'pass NULL for the default name, <source>_segments';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM custseg_models cm WHERE cm.name = model) THEN
        RAISE EXCEPTION 'no custseg model named "%"', model USING ERRCODE = '42704',
            HINT = 'train one first with custseg_train';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    v1 := coalesce(view_name, rel || '_segments');
    v2 := v1 || '_offers';
    -- The rows are scored in a subquery of the source alone, which Citus runs in its workers.
    EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS
                    SELECT p.*, s.label
                    FROM (SELECT t.*, %I.custseg_predict(t, %L) AS segment FROM %s t) p
                    LEFT JOIN %I.custseg_segments s ON s.model = %L AND s.segment = p.segment',
                   nsp, v1, '@extschema@', model, source, '@extschema@', model);
    EXECUTE format('COMMENT ON VIEW %I.%I IS %L', nsp, v1,
                   format('rows of %s with their segment under custseg model %s', source, model));
    EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS
                    SELECT v.*, o.offer_id, o.title AS offer_title, o.details AS offer_details,
                           o.discount_pct, o.priority AS offer_priority, o.offer_rank
                    FROM %I.%I v
                    JOIN %I.custseg_segment_offers o ON o.model = %L AND o.segment = v.segment',
                   nsp, v2, nsp, v1, '@extschema@', model);
    EXECUTE format('COMMENT ON VIEW %I.%I IS %L', nsp, v2,
                   format('rows of %s with each current offer of their segment under custseg model %s', source, model));
    RETURN NEXT format('%I.%I', nsp, v1)::regclass;
    RETURN NEXT format('%I.%I', nsp, v2)::regclass;
END
$fn$;

-- ---- 0.3.0: customers in motion (RFM, kept segments, transitions) ----

-- ---- 0.3.0: resilience ----
