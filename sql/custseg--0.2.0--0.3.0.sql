-- custseg 0.2.0 -> 0.3.0 (ALTER EXTENSION custseg UPDATE TO '0.3.0').
-- Every change made to sql/custseg--0.3.0.sql since 0.2.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.3.0'" to load this file. \quit

-- ---- 0.3.0: functions whose result gains columns ----
-- custseg_score(record, text), custseg_evaluate_k and custseg_profile return more columns in 0.3.0
-- (the methods' distances, probabilities, outlier flag, BIC and AIC, outlier counts). A function's result type cannot change in
-- place, so they are dropped and created again. The views that read them (custseg_create_views'
-- views, and a user's own) are kept: each is saved here with its owner, options, privileges and
-- comments, dropped, and created again at the end of this script from its saved definition, as a
-- view of the user (not a member of the extension).
DO $do$
DECLARE
    saved jsonb := '[]';
    v record;
BEGIN
    FOR v IN
        WITH RECURSIVE deps(view_oid, depth) AS (
            SELECT DISTINCT r.ev_class, 1
            FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
            WHERE d.refclassid = 'pg_proc'::regclass
              AND d.refobjid IN (SELECT p.oid FROM pg_proc p
                                 WHERE p.pronamespace = '@extschema@'::regnamespace
                                   AND p.proname IN ('custseg_score', 'custseg_evaluate_k', 'custseg_profile'))
            UNION ALL
            SELECT r.ev_class, deps.depth + 1
            FROM deps JOIN pg_depend d ON d.refobjid = deps.view_oid AND d.refclassid = 'pg_class'::regclass
            JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
            WHERE r.ev_class <> deps.view_oid AND deps.depth < 100
        )
        SELECT c.oid, n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner) AS owner, c.reloptions,
               c.relacl::text[] AS acl, pg_get_viewdef(c.oid) AS def, obj_description(c.oid, 'pg_class') AS comment,
               (SELECT jsonb_object_agg(a.attname, col_description(c.oid, a.attnum)) FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NOT NULL) AS col_comments,
               max(deps.depth) AS depth
        FROM deps JOIN pg_class c ON c.oid = deps.view_oid JOIN pg_namespace n ON n.oid = c.relnamespace
        GROUP BY c.oid, n.nspname, c.relname, c.relkind, c.relowner, c.reloptions, c.relacl
        ORDER BY max(deps.depth), c.oid
    LOOP
        -- What cannot be saved here is refused rather than lost.
        IF EXISTS (SELECT 1 FROM pg_trigger tg WHERE tg.tgrelid = v.oid)
           OR EXISTS (SELECT 1 FROM pg_rewrite rw WHERE rw.ev_class = v.oid AND rw.rulename <> '_RETURN')
           OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = v.oid AND a.attacl IS NOT NULL)
           OR EXISTS (SELECT 1 FROM pg_attrdef ad WHERE ad.adrelid = v.oid) THEN
            RAISE EXCEPTION 'view %.% reads custseg_score, custseg_evaluate_k or custseg_profile, whose results change in 0.3.0, and has triggers, rules, column privileges or column defaults',
                v.nspname, v.relname USING ERRCODE = '0A000',
                HINT = 'drop it (keep its definition), run ALTER EXTENSION custseg UPDATE, then create it again';
        END IF;
        saved := saved || jsonb_build_array(jsonb_build_object(
            'schema', v.nspname, 'name', v.relname, 'kind', v.relkind, 'owner', v.owner,
            'populated', (SELECT c3.relispopulated FROM pg_class c3 WHERE c3.oid = v.oid),
            'indexes', (SELECT jsonb_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid)
                        FROM pg_index i WHERE i.indrelid = v.oid),
            'options', to_jsonb(v.reloptions), 'acl', to_jsonb(v.acl), 'def', v.def,
            'comment', v.comment, 'col_comments', v.col_comments,
            'grants', (SELECT jsonb_agg(jsonb_build_object('grantee', a.grantee, 'privilege', a.privilege_type,
                                                           'grantable', a.is_grantable))
                       FROM pg_class c2, aclexplode(c2.relacl) a WHERE c2.oid = v.oid)));
    END LOOP;
    -- Dependents first (the deepest level first).
    FOR v IN SELECT e FROM jsonb_array_elements(saved) WITH ORDINALITY AS x(e, i) ORDER BY i DESC LOOP
        EXECUTE format('DROP %s %I.%I', CASE WHEN v.e ->> 'kind' = 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END,
                       v.e ->> 'schema', v.e ->> 'name');
    END LOOP;
    PERFORM set_config('custseg_upgrade.saved_views', saved::text, true);
END
$do$;
DROP FUNCTION custseg_score(record, text);
DROP FUNCTION custseg_evaluate_k(regclass, integer, integer, integer, text[], jsonb);
DROP FUNCTION custseg_profile(text);
CREATE FUNCTION custseg_score("row" record, model text,
                              OUT segment integer, OUT label text, OUT distance float8,
                              OUT runner_up_distance float8, OUT confidence float8, OUT coordinates float8[],
                              OUT distances float8[], OUT probabilities float8[], OUT outlier boolean,
                              OUT reason text)
    AS 'MODULE_PATHNAME', 'custseg_score' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_score(record, text) IS
    'one assignment explained: segment, label, distance to its centroid and to the runner-up, confidence (1 - distance / runner_up_distance; gmm: the posterior), coordinates, distances to every centroid, gmm probabilities, outlier flag and the reason for noise or an outlier';

-- ---- 0.3.0: an analyst's own data (features, labels, transforms, model equality) ----

-- How training reads each column of a table: its kind (numeric: numbers and booleans as 0/1;
-- categorical: text, varchar, char and enums; unsupported: anything else, which training rejects),
-- the SQL expression of its value over the alias t, and whether it is in the primary key.
CREATE FUNCTION custseg_column_kinds(source regclass)
RETURNS TABLE (name text, attnum integer, kind text, value text, type_name text, is_key boolean)
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT a.attname::text, a.attnum::integer,
           CASE WHEN b.base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                                'float8'::regtype, 'numeric'::regtype, 'bool'::regtype) THEN 'numeric'
                WHEN b.base IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
                     OR (SELECT bt.typtype = 'e' FROM pg_type bt WHERE bt.oid = b.base) THEN 'categorical'
                ELSE 'unsupported' END,
           CASE WHEN b.base = 'bool'::regtype THEN format('t.%I::integer', a.attname) ELSE format('t.%I', a.attname) END,
           format_type(a.atttypid, a.atttypmod),
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey))
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END::regtype AS base) b
    WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
$fn$;
COMMENT ON FUNCTION custseg_column_kinds(regclass) IS
    'per column of a table: its kind as training reads it (numeric, categorical, unsupported), its value as SQL, whether it is in the primary key';

-- The value of a model's feature over the alias t as SQL, as the model reads it: a boolean as 0/1, a
-- text column forced numeric as a number, a categorical one as text.
CREATE FUNCTION custseg_feature_sql(source regclass, feature text, kind text) RETURNS text
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN kind = 'categorical' THEN format('t.%I::text', feature)
                WHEN t.oid = 'bool'::regtype OR t.typbasetype = 'bool'::regtype THEN format('t.%I::integer', feature)
                WHEN t.typcategory = 'N' OR t.typbasetype IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                                           'float4'::regtype, 'float8'::regtype, 'numeric'::regtype)
                    THEN format('t.%I', feature)
                ELSE format('t.%I::float8', feature) END
    FROM (SELECT 1) one
    LEFT JOIN pg_attribute a ON a.attrelid = source AND a.attname = feature AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_type t ON t.oid = a.atttypid
$fn$;
COMMENT ON FUNCTION custseg_feature_sql(regclass, text, text) IS
    'the SQL expression (over alias t) of a feature''s value as a model reads it: booleans as 0/1';

-- The identifier rule of custseg_train and custseg_describe: in at least 10 rows, a value in every
-- row and a different one in each, and either text (or a uuid) or whole numbers that are named like
-- an id or run without gaps (max - min + 1 = rows).
CREATE FUNCTION custseg_looks_like_identifier(name text, kind text, n bigint, distinct_count bigint,
                                              integral boolean, span numeric, total bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce(total >= 10 AND n = total AND distinct_count = total
                    AND (kind IN ('text', 'uuid')
                         OR (kind = 'number' AND integral
                             AND (name ~* '(^|[^a-z])(id|ident|identifier|key|uuid|guid)$' OR name ~ '[a-z](ID|Id)$'
                                  OR name ~* '^id([^a-z]|$)' OR span = total))), false)
$fn$;
COMMENT ON FUNCTION custseg_looks_like_identifier(text, text, bigint, bigint, boolean, numeric, bigint) IS
    'whether a column''s statistics look like an identifier''s (unique per row): such columns are not features by default';

-- The features a model uses, in encoding order, and (by name) the columns its training left out.
CREATE FUNCTION custseg_features(model custseg_model)
RETURNS TABLE (feature text, kind text, levels integer, encoded_columns integer)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
    SELECT f ->> 'name', f ->> 'kind', CASE WHEN f ->> 'kind' = 'categorical' THEN jsonb_array_length(f -> 'levels') END,
           CASE WHEN f ->> 'kind' = 'categorical' THEN jsonb_array_length(f -> 'levels') ELSE 1 END
    FROM jsonb_array_elements(custseg_model_json(model) -> 'features') WITH ORDINALITY AS x(f, i)
    ORDER BY x.i
$fn$;
COMMENT ON FUNCTION custseg_features(custseg_model) IS
    'the features of a model in encoding order: kind, number of levels, encoded columns';

CREATE FUNCTION custseg_features(model text, version integer DEFAULT NULL)
RETURNS TABLE (column_name text, used boolean, kind text, levels integer, encoded_columns integer, reason text)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    m custseg_models;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model name must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO m FROM custseg_models cm
    WHERE cm.name = custseg_features.model
      AND (cm.version = custseg_features.version OR (custseg_features.version IS NULL AND cm.active));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'custseg model "%" has no %', model,
            CASE WHEN version IS NULL THEN 'active version' ELSE 'version ' || version END USING ERRCODE = '42704',
            HINT = 'see SELECT name, version, active FROM custseg_models';
    END IF;
    RETURN QUERY
    SELECT f.feature, true, f.kind, f.levels, f.encoded_columns, NULL::text FROM custseg_features(m.model) f;
    RETURN QUERY
    SELECT e.key, false, NULL::text, NULL::integer, 0, e.value #>> '{}'
    FROM jsonb_each(coalesce(m.metrics -> 'excluded', '{}')) e ORDER BY e.key;
END
$fn$;
COMMENT ON FUNCTION custseg_features(text, integer) IS
    'the columns a version of a model (the active one by default) uses as features, and those its training left out with why';

-- custseg_score for a customer held as JSON (keys = column names, as custseg_predict(jsonb, text)).
CREATE FUNCTION custseg_score("row" jsonb, model text,
                              OUT segment integer, OUT label text, OUT distance float8,
                              OUT runner_up_distance float8, OUT confidence float8, OUT coordinates float8[],
                              OUT distances float8[], OUT probabilities float8[], OUT outlier boolean,
                              OUT reason text)
    AS 'MODULE_PATHNAME', 'custseg_score_jsonb_name' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_score(jsonb, text) IS
    'one assignment of a JSON object of attributes explained: segment, label, distances, confidence, k-means coordinates';

-- Equality, order and hashing of models (the same fitted pipeline = the same bytes), so that =,
-- DISTINCT, GROUP BY, count(DISTINCT), UNION, ORDER BY and hash joins work on custseg_model.
CREATE FUNCTION custseg_model_eq(custseg_model, custseg_model) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_ne(custseg_model, custseg_model) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_lt(custseg_model, custseg_model) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_le(custseg_model, custseg_model) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_gt(custseg_model, custseg_model) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_ge(custseg_model, custseg_model) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_cmp(custseg_model, custseg_model) RETURNS integer
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_hash(custseg_model) RETURNS integer
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_hash_extended(custseg_model, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_model_eq(custseg_model, custseg_model) IS 'the same fitted pipeline, byte for byte';
COMMENT ON FUNCTION custseg_model_ne(custseg_model, custseg_model) IS 'not the same fitted pipeline';
COMMENT ON FUNCTION custseg_model_lt(custseg_model, custseg_model) IS 'sorts before, in the byte order of the stored form';
COMMENT ON FUNCTION custseg_model_le(custseg_model, custseg_model) IS 'sorts before or equals, in the byte order of the stored form';
COMMENT ON FUNCTION custseg_model_gt(custseg_model, custseg_model) IS 'sorts after, in the byte order of the stored form';
COMMENT ON FUNCTION custseg_model_ge(custseg_model, custseg_model) IS 'sorts after or equals, in the byte order of the stored form';
COMMENT ON FUNCTION custseg_model_cmp(custseg_model, custseg_model) IS 'btree support: -1, 0 or 1 in the byte order of the stored form';
COMMENT ON FUNCTION custseg_model_hash(custseg_model) IS 'hash support: a hash of the stored form, consistent with =';
COMMENT ON FUNCTION custseg_model_hash_extended(custseg_model, bigint) IS 'hash support: the seeded 64-bit hash of the stored form';

CREATE OPERATOR = (LEFTARG = custseg_model, RIGHTARG = custseg_model, FUNCTION = custseg_model_eq,
                   COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR <> (LEFTARG = custseg_model, RIGHTARG = custseg_model, FUNCTION = custseg_model_ne,
                    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR < (LEFTARG = custseg_model, RIGHTARG = custseg_model, FUNCTION = custseg_model_lt,
                   COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = custseg_model, RIGHTARG = custseg_model, FUNCTION = custseg_model_le,
                    COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (LEFTARG = custseg_model, RIGHTARG = custseg_model, FUNCTION = custseg_model_gt,
                   COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (LEFTARG = custseg_model, RIGHTARG = custseg_model, FUNCTION = custseg_model_ge,
                    COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
COMMENT ON OPERATOR = (custseg_model, custseg_model) IS 'the same fitted pipeline, byte for byte';
COMMENT ON OPERATOR <> (custseg_model, custseg_model) IS 'not the same fitted pipeline';
COMMENT ON OPERATOR < (custseg_model, custseg_model) IS 'sorts before (byte order of the stored form)';
COMMENT ON OPERATOR <= (custseg_model, custseg_model) IS 'sorts before or equals (byte order of the stored form)';
COMMENT ON OPERATOR > (custseg_model, custseg_model) IS 'sorts after (byte order of the stored form)';
COMMENT ON OPERATOR >= (custseg_model, custseg_model) IS 'sorts after or equals (byte order of the stored form)';

CREATE OPERATOR CLASS custseg_model_ops DEFAULT FOR TYPE custseg_model USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 custseg_model_cmp(custseg_model, custseg_model);
CREATE OPERATOR CLASS custseg_model_ops DEFAULT FOR TYPE custseg_model USING hash AS
    OPERATOR 1 =,
    FUNCTION 1 custseg_model_hash(custseg_model),
    FUNCTION 2 custseg_model_hash_extended(custseg_model, bigint);
COMMENT ON OPERATOR CLASS custseg_model_ops USING btree IS 'models in the byte order of their stored form (ORDER BY, DISTINCT, GROUP BY)';
COMMENT ON OPERATOR CLASS custseg_model_ops USING hash IS 'models hashed by their stored form (hash DISTINCT, GROUP BY and joins)';

-- Objects of 0.2.0 changed by this part (the install script changes them in place).




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
    excluded jsonb;
    used text;
    result custseg_models;
    q text;
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
    excluded := opts -> '_excluded';
    opts := opts - '_excluded';
    -- k: "k" in options, unless the argument says otherwise (an argument left at its default, 3,
    -- gives way to the option; a different one is an error); NULL is chosen by custseg_evaluate_k.
    IF opts ->> 'method' = 'dbscan' THEN
        -- dbscan finds its own number of segments: k is not given (an argument left at 3 is ignored).
        IF opts ? 'k' OR (k IS NOT NULL AND k <> 3) THEN
            RAISE EXCEPTION 'method "dbscan" takes no k' USING ERRCODE = '22023',
                HINT = 'dbscan finds its own number of segments from "eps" and "min_samples"';
        END IF;
    ELSIF opts ? 'k' THEN
        IF k IS NOT NULL AND k <> 3 AND opts -> 'k' IS DISTINCT FROM to_jsonb(k) THEN
            RAISE EXCEPTION 'k is given twice: % as an argument and % in options', k, opts -> 'k' USING ERRCODE = '22023',
                HINT = 'give it once; an argument left at its default (3) gives way to "k" in options';
        END IF;
    ELSE
        opts := opts || jsonb_build_object('k', k);
    END IF;
    IF opts -> 'k' = 'null' THEN
        -- Why the setting: custseg_evaluate_k then uses these options as they are, without a second scan.
        PERFORM set_config('custseg.features_resolved', 'on', true);
        SELECT e.k INTO chosen_k FROM custseg_evaluate_k(source, 2, 8, NULL, NULL, opts - 'k') e WHERE e.chosen;
        PERFORM set_config('custseg.features_resolved', 'off', true);
        RAISE NOTICE 'custseg_train: k = % chosen by custseg_evaluate_k', chosen_k;
        opts := opts || jsonb_build_object('k', chosen_k);
    END IF;

    -- t.* rather than t: a column named t would take the place of the row. Citus cannot run an
    -- aggregate over whole rows in its workers: a Citus table is read as arrays of its columns (as
    -- jsonb where a column has a type of its own).
    IF custseg_citus_table(source) THEN
        -- Each shard ships only its likely part of the sample (custseg_sample_threshold); in the
        -- rare case that keeps too few rows the fit says so (CS001) and runs again without it.
        q := format('SELECT %s FROM %s AS t',
                    coalesce('custseg_fit_columns(' || custseg_fit_columns_args(source, opts) || ', $1)',
                             'custseg_fit(to_jsonb(t.*), $1)'), source);
        BEGIN
            EXECUTE q INTO m USING custseg_sample_threshold(source, opts);
        EXCEPTION WHEN SQLSTATE 'CS001' THEN
            EXECUTE q INTO m USING opts;
        END;
    ELSE
        -- On one node as well the column arrays are read faster than whole rows (no row value is
        -- formed and read back), wherever they read every value as the record form does: the model
        -- is then the record form's, byte for byte.
        -- Separate values are read faster still (no array is built per row).
        -- The planner's row estimate bounds the sample as the count does on Citus (with room for
        -- half the rows to have gone since it was taken), and CS001 runs again without the bound.
        q := format('SELECT %s FROM %s AS t',
                    coalesce('custseg_fit_values($1, ' || custseg_fit_columns_args(source, opts, true, true) || ')',
                             'custseg_fit_columns(' || custseg_fit_columns_args(source, opts, true) || ', $1)',
                             'custseg_fit(t.*, $1)'), source);
        BEGIN
            EXECUTE q INTO m USING custseg_sample_threshold(source, opts);
        EXCEPTION WHEN SQLSTATE 'CS001' THEN
            EXECUTE q INTO m USING opts;
        END;
    END IF;
    IF m IS NULL THEN
        RAISE EXCEPTION 'cannot train model "%": % has no rows', name, source USING ERRCODE = '22000';
    END IF;
    j := custseg_model_json(m);
    SELECT string_agg(f ->> 'name' || CASE WHEN f ->> 'kind' = 'numeric' THEN ''
                                           ELSE format(' (%s levels)', jsonb_array_length(f -> 'levels')) END, ', ')
    INTO used FROM jsonb_array_elements(j -> 'features') f;
    RAISE NOTICE 'custseg_train: % features: %', jsonb_array_length(j -> 'features'), used
        USING DETAIL = coalesce('Not features: ' || (SELECT string_agg(format('%s (%s)', e.key, e.value #>> '{}'), ', ')
                                                     FROM jsonb_each(excluded) e) || '.', 'Every column is a feature.');

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
            EXECUTE format('SELECT count(*) FILTER (WHERE custseg_predict($1, t.*) IS DISTINCT FROM custseg_predict($2, t.*)),
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
                    'duration_ms', round(extract(epoch FROM clock_timestamp() - started)::numeric * 1000, 1),
                    'features', (SELECT jsonb_agg(f -> 'name') FROM jsonb_array_elements(j -> 'features') f),
                    'excluded', excluded) || lineage,
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
    e text;
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
            -- The column's value as the model reads it (a boolean as 0/1).
            e := custseg_feature_sql(m.source::regclass, f ->> 'name', 'numeric');
            -- One small object per feature, joined by ||: a function takes at most 100 arguments.
            num_cols := num_cols || format(' || jsonb_build_object(%L, jsonb_build_object(''mean'', avg(%s)::float8, ''stddev'', '
                                           'stddev_pop(%s)::float8, ''min'', min(%s)::float8, ''max'', max(%s)::float8))',
                                           f ->> 'name', e, e, e, e);
        ELSE
            cat_cols := cat_cols || format(', (%L, t.%I::text)', f ->> 'name', f ->> 'name');
        END IF;
    END LOOP;
    IF value_col IS NOT NULL AND NOT value_col = ANY (features) THEN
        e := custseg_feature_sql(m.source::regclass, value_col, 'numeric');
        num_cols := num_cols || format(' || jsonb_build_object(%L, jsonb_build_object(''mean'', avg(%s)::float8, ''stddev'', '
                                       'stddev_pop(%s)::float8, ''min'', min(%s)::float8, ''max'', max(%s)::float8))',
                                       value_col, e, e, e, e);
    END IF;
    -- Numeric statistics per segment and over all rows, in one scan; Citus distributes no GROUPING
    -- SETS, so on a Citus table they are two scans, both aggregated in the workers. A row with no
    -- feature has no segment, and counts in neither.
    IF custseg_citus_table(to_regclass(m.source)) THEN
        EXECUTE format('SELECT count(*), (''{}''::jsonb%s) FROM %s t WHERE @extschema@.custseg_predict($1, t.*) IS NOT NULL',
                       num_cols, m.source) INTO total, overall USING m.model;
        q := format('SELECT @extschema@.custseg_predict($1, t.*) AS segment, count(*) AS n, (''{}''::jsonb%s) AS numeric,
                            false AS all_rows
                     FROM %s t GROUP BY 1 HAVING @extschema@.custseg_predict($1, t.*) IS NOT NULL',
                    num_cols, m.source);
    ELSE
        q := format('SELECT s.segment, count(*) AS n, (''{}''::jsonb%s) AS numeric, GROUPING(s.segment) = 1 AS all_rows
                     FROM %s t CROSS JOIN LATERAL (SELECT @extschema@.custseg_predict($1, t.*) AS segment) s
                     WHERE s.segment IS NOT NULL  -- a row with no feature has no segment
                     GROUP BY GROUPING SETS ((s.segment), ())',
                    num_cols, m.source);
    END IF;
    FOR seg IN EXECUTE q USING m.model LOOP
        IF seg.all_rows THEN
            total := seg.n;
            overall := seg.numeric;
        ELSIF seg.segment IS NOT NULL THEN
            stats := stats || jsonb_build_object(seg.segment::text, jsonb_build_object('n', seg.n, 'numeric', seg.numeric));
        END IF;
    END LOOP;
    -- Category counts per segment, in one more scan; on a Citus table the counts are aggregated in
    -- the workers and gathered here (a nested aggregate would pull the rows to the coordinator).
    IF cat_cols <> '' AND custseg_citus_table(to_regclass(m.source)) THEN
        q := format('SELECT @extschema@.custseg_predict($1, t.*) AS segment, kv.feature, kv.value, count(*) AS n
                     FROM %s t CROSS JOIN LATERAL (VALUES %s) AS kv(feature, value)
                     GROUP BY 1, 2, 3', m.source, substr(cat_cols, 3));
        FOR seg IN EXECUTE q USING m.model LOOP
            CONTINUE WHEN seg.segment IS NULL;  -- a row with no feature has no segment
            cats := jsonb_set(cats, ARRAY[seg.segment::text], coalesce(cats -> seg.segment::text, '{}') ||
                              jsonb_build_object(seg.feature, coalesce(cats -> seg.segment::text -> seg.feature, '{}') ||
                                                              jsonb_build_object(coalesce(seg.value, 'NULL'), seg.n)));
        END LOOP;
    ELSIF cat_cols <> '' THEN
        q := format('SELECT c.segment, c.feature, jsonb_object_agg(coalesce(c.value, ''NULL''), c.n) AS counts
                     FROM (SELECT s.segment, kv.feature, kv.value, count(*) AS n
                           FROM %s t CROSS JOIN LATERAL (SELECT @extschema@.custseg_predict($1, t.*) AS segment) s
                           CROSS JOIN LATERAL (VALUES %s) AS kv(feature, value)
                           WHERE s.segment IS NOT NULL
                           GROUP BY 1, 2, 3) c
                     GROUP BY 1, 2', m.source, substr(cat_cols, 3));
        FOR seg IN EXECUTE q USING m.model LOOP
            cats := jsonb_set(cats, ARRAY[seg.segment::text], coalesce(cats -> seg.segment::text, '{}') ||
                              jsonb_build_object(seg.feature, seg.counts));
        END LOOP;
    END IF;
    IF cat_cols <> '' THEN
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

DROP FUNCTION custseg_create_views(regclass, text, text);
CREATE FUNCTION custseg_create_views(source regclass, model text, view_name text DEFAULT NULL,
                                     segment_column text DEFAULT 'segment', label_column text DEFAULT 'label')
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
    clash text;
    cols text := 't.*';
BEGIN
    IF source IS NULL OR model IS NULL OR segment_column IS NULL OR label_column IS NULL THEN
        RAISE EXCEPTION 'source, model, segment_column and label_column must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF view_name = '' THEN
        RAISE EXCEPTION 'view_name must not be empty' USING ERRCODE = '22023',
            HINT = 'pass NULL for the default name, <source>_segments';
    END IF;
    IF segment_column = '' OR label_column = '' OR segment_column = label_column THEN
        RAISE EXCEPTION 'segment_column and label_column must be two different non-empty names' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM custseg_models cm WHERE cm.name = model) THEN
        RAISE EXCEPTION 'no custseg model named "%"', model USING ERRCODE = '42704',
            HINT = 'train one first with custseg_train';
    END IF;
    -- A source column with the name of an added one would appear twice in the view (a kept segment
    -- column is left out of it).
    SELECT a.attname INTO clash FROM pg_attribute a
    WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND a.attname IN (segment_column, label_column)
      AND a.attname::text NOT IN (SELECT k.column_name FROM custseg_kept_segments k WHERE to_regclass(k.source) = source)
    ORDER BY a.attnum LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% already has a column named "%"', source, clash USING ERRCODE = '42701',
            HINT = 'name the added columns with segment_column => ... and label_column => ..., e.g. segment_column => ''custseg_segment''';
    END IF;
    SELECT a.attname INTO clash FROM pg_attribute a
    WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname IN ('offer_id', 'offer_title', 'offer_details', 'discount_pct', 'offer_priority', 'offer_rank')
    ORDER BY a.attnum LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% already has a column named "%", which the offers view adds', source, clash USING ERRCODE = '42701',
            HINT = 'create the views over a view of the source that renames that column';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    v1 := coalesce(view_name, rel || '_segments');
    IF EXISTS (SELECT 1 FROM custseg_kept_segments k WHERE to_regclass(k.source) = source) THEN
        SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY a.attnum) INTO cols
        FROM pg_attribute a
        WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname::text NOT IN (SELECT k.column_name FROM custseg_kept_segments k WHERE to_regclass(k.source) = source);
    END IF;
    v2 := v1 || '_offers';
    -- t.* rather than t: a column named t would take the place of the row. The segment and its
    -- label come from one lookup (custseg_score), so that a row never has the segment of one
    -- version and the label of another: scoring reads the latest committed version, while a join
    -- of custseg_segments would read the statement's snapshot. Citus cannot run that lateral
    -- lookup in its workers: on a Citus table the rows are scored in a subquery of the source
    -- alone, which it runs there, and the label is joined from the coordinator's custseg_segments.
    IF custseg_citus_table(source) THEN
        EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS
                        SELECT p.*, s.label AS %I
                        FROM (SELECT %s, %I.custseg_predict(t.*, %L) AS %I FROM %s t) p
                        LEFT JOIN %I.custseg_segments s ON s.model = %L AND s.segment = p.%I',
                       nsp, v1, label_column, cols, '@extschema@', model, segment_column, source, '@extschema@', model,
                       segment_column);
    ELSE
        EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS
                        SELECT %s, p.segment AS %I, p.label AS %I
                        FROM %s t
                        CROSS JOIN LATERAL (SELECT s.segment, s.label FROM %I.custseg_score(t.*, %L) s) p',
                       nsp, v1, cols, segment_column, label_column, source, '@extschema@', model);
    END IF;
    EXECUTE format('COMMENT ON VIEW %I.%I IS %L', nsp, v1,
                   format('rows of %s with their segment under custseg model %s', source, model));
    EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS
                    SELECT v.*, o.offer_id, o.title AS offer_title, o.details AS offer_details,
                           o.discount_pct, o.priority AS offer_priority, o.offer_rank
                    FROM %I.%I v
                    JOIN %I.custseg_segment_offers o ON o.model = %L AND o.segment = v.%I',
                   nsp, v2, nsp, v1, '@extschema@', model, segment_column);
    EXECUTE format('COMMENT ON VIEW %I.%I IS %L', nsp, v2,
                   format('rows of %s with each current offer of their segment under custseg model %s', source, model));
    RETURN NEXT format('%I.%I', nsp, v1)::regclass;
    RETURN NEXT format('%I.%I', nsp, v2)::regclass;
END
$fn$;
COMMENT ON FUNCTION custseg_create_views(regclass, text, text, text, text) IS
    'creates <view_name> (source rows + segment + label, named segment_column and label_column) and <view_name>_offers (one row per row x current offer)';

CREATE OR REPLACE FUNCTION custseg_evaluate_k(source regclass, k_min integer DEFAULT 2, k_max integer DEFAULT 8,
                                   n_components integer DEFAULT 2, exclude text[] DEFAULT NULL,
                                   options jsonb DEFAULT '{}')
RETURNS TABLE (k integer, inertia float8, silhouette float8, calinski_harabasz float8, davies_bouldin float8,
               is_elbow boolean, chosen boolean, silhouette_rows bigint, rows_clustered bigint,
               bic float8, aic float8)
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    opts jsonb;
    state bytea;
    res jsonb;
    q text;
BEGIN
    IF source IS NULL OR k_min IS NULL OR k_max IS NULL THEN
        RAISE EXCEPTION 'source, k_min and k_max must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF k_min < 2 OR k_max < k_min OR k_max > 1000 THEN
        RAISE EXCEPTION 'k range %..% is invalid', k_min, k_max USING ERRCODE = '22023',
            HINT = 'pass 2 <= k_min <= k_max <= 1000';
    END IF;
    opts := custseg_training_options(source, n_components, exclude, options) - '_excluded';
    IF opts ? 'k' THEN
        RAISE EXCEPTION 'option "k" cannot be given to custseg_evaluate_k' USING ERRCODE = '22023',
            HINT = 'use k_min and k_max';
    END IF;
    IF opts ->> 'method' = 'dbscan' THEN
        RAISE EXCEPTION 'custseg_evaluate_k does not apply to method "dbscan"' USING ERRCODE = '22023',
            HINT = 'dbscan finds its own number of segments; custseg_kdistance shows the k-distance curve to choose "eps" from';
    END IF;
    -- The state keeps the rows for k-means as training with k = k_max would.
    -- A Citus table is read as arrays of its columns (or as jsonb), as custseg_train reads it, with
    -- custseg_train's sample threshold (and its retry without one).
    q := custseg_fit_state_query(source, opts);
    opts := opts || jsonb_build_object('k', k_max);
    BEGIN
        EXECUTE q INTO state USING custseg_sample_threshold(source, opts);
        IF state IS NULL THEN
            RAISE EXCEPTION '% has no rows', source USING ERRCODE = '22000';
        END IF;
        res := custseg_evaluate_state(state, k_min, k_max);
    EXCEPTION WHEN SQLSTATE 'CS001' THEN
        EXECUTE q INTO state USING opts;
        res := custseg_evaluate_state(state, k_min, k_max);
    END;
    RETURN QUERY
    SELECT (e ->> 'k')::integer, (e ->> 'inertia')::float8, (e ->> 'silhouette')::float8,
           (e ->> 'calinski_harabasz')::float8, (e ->> 'davies_bouldin')::float8,
           (e ->> 'is_elbow')::boolean, (e ->> 'chosen')::boolean,
           (e ->> 'silhouette_rows')::bigint, (e ->> 'rows')::bigint,
           (e ->> 'bic')::float8, (e ->> 'aic')::float8
    FROM jsonb_array_elements(res) e;
END
$fn$;
COMMENT ON FUNCTION custseg_evaluate_k(regclass, integer, integer, integer, text[], jsonb) IS
    'fits every k of a range in one scan: inertia, silhouette, Calinski-Harabasz, Davies-Bouldin, the elbow and the chosen k; BIC and AIC for gmm';

DROP FUNCTION custseg_describe(regclass);
CREATE FUNCTION custseg_describe(source regclass)
RETURNS TABLE (column_name text, kind text, count bigint, nulls bigint, distinct_count bigint,
               mean float8, stddev float8, min float8, q1 float8, median float8, q3 float8, max float8,
               outliers bigint, top jsonb, feature boolean, note text)
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
    col record;
    stats text := '';
    second text := '';
    s jsonb;
    total bigint;
    counts jsonb := '{}';
    r record;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22004';
    END IF;
    FOR col IN SELECT c.name, c.kind, c.value FROM custseg_column_kinds(source) c LOOP
        IF col.kind = 'numeric' THEN
            -- One small object per column, joined by ||: a function takes at most 100 arguments.
            stats := stats || format(' || jsonb_build_object(%L, jsonb_build_object(''count'', count(%s), ''nulls'', count(*) - count(%s), '
                '''distinct'', count(DISTINCT %s), ''mean'', avg(%s)::float8, ''stddev'', stddev_samp(%s)::float8, '
                '''min'', min(%s)::float8, ''q'', percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY (%s)::float8), '
                '''max'', max(%s)::float8, ''integral'', bool_and((%s)::numeric = trunc((%s)::numeric))))',
                col.name, col.value, col.value, col.value, col.value, col.value, col.value, col.value, col.value,
                col.value, col.value);
        ELSE
            stats := stats || format(' || jsonb_build_object(%L, jsonb_build_object(''count'', count(t.%I), ''nulls'', count(*) - count(t.%I), '
                '''distinct'', count(DISTINCT t.%I::text)))', col.name, col.name, col.name, col.name);
        END IF;
    END LOOP;
    IF stats = '' THEN
        RETURN;
    END IF;
    -- Scan 1: PostgreSQL's aggregates for every column at once.
    EXECUTE format('SELECT count(*), ''{}''::jsonb%s FROM %s AS t', stats, source) INTO total, s;
    -- Scan 2: outliers of numeric columns and value counts of categorical ones, unpivoted.
    FOR col IN SELECT c.name, c.kind, c.value FROM custseg_column_kinds(source) c LOOP
        IF col.kind = 'numeric' THEN
            IF s -> col.name -> 'q' <> 'null' THEN
                second := second || format(', (%L, CASE WHEN (%s)::float8 < %s OR (%s)::float8 > %s THEN ''outlier'' END)',
                    col.name, col.value,
                    (s -> col.name -> 'q' ->> 0)::float8 - 1.5 * ((s -> col.name -> 'q' ->> 2)::float8 - (s -> col.name -> 'q' ->> 0)::float8),
                    col.value,
                    (s -> col.name -> 'q' ->> 2)::float8 + 1.5 * ((s -> col.name -> 'q' ->> 2)::float8 - (s -> col.name -> 'q' ->> 0)::float8));
            END IF;
        ELSIF col.kind = 'categorical' THEN
            second := second || format(', (%L, t.%I::text)', col.name, col.name);
        END IF;
    END LOOP;
    IF second <> '' THEN
        FOR r IN EXECUTE format('SELECT kv.c, kv.v, count(*) AS n FROM %s AS t CROSS JOIN LATERAL (VALUES %s) AS kv(c, v)
                                 WHERE kv.v IS NOT NULL GROUP BY 1, 2', source, substr(second, 3))
        LOOP
            counts := jsonb_set(counts, ARRAY[r.c], coalesce(counts -> r.c, '[]') || jsonb_build_array(jsonb_build_array(r.v, r.n)));
        END LOOP;
    END IF;
    RETURN QUERY
    SELECT c.name, c.kind,
           (s -> c.name ->> 'count')::bigint, (s -> c.name ->> 'nulls')::bigint,
           (s -> c.name ->> 'distinct')::bigint, (s -> c.name ->> 'mean')::float8,
           (s -> c.name ->> 'stddev')::float8, (s -> c.name ->> 'min')::float8,
           (s -> c.name -> 'q' ->> 0)::float8, (s -> c.name -> 'q' ->> 1)::float8,
           (s -> c.name -> 'q' ->> 2)::float8, (s -> c.name ->> 'max')::float8,
           CASE WHEN c.kind = 'numeric' THEN
               coalesce((SELECT (x ->> 1)::bigint FROM jsonb_array_elements(counts -> c.name) x), 0) END,
           CASE WHEN c.kind = 'categorical' THEN
               (SELECT coalesce(jsonb_agg(jsonb_build_object('value', x.v, 'count', x.n) ORDER BY x.n DESC, x.v), '[]')
                FROM (SELECT x ->> 0 AS v, (x ->> 1)::bigint AS n
                      FROM jsonb_array_elements(counts -> c.name) x
                      ORDER BY 2 DESC, 1 LIMIT 5) x) END,
           NOT (c.is_key OR c.kind = 'unsupported' OR n.identifier),
           CASE WHEN c.is_key THEN 'primary key: not a feature unless named in "include"'
                WHEN c.kind = 'unsupported' THEN format('type %s: not a feature type (exclude it, or cast it in a view)', c.type_name)
                WHEN n.identifier THEN 'a different value in every row: looks like an identifier, not a feature unless named in "include"'
                WHEN c.kind = 'numeric' AND (s -> c.name ->> 'integral')::boolean
                     AND (s -> c.name ->> 'distinct')::bigint BETWEEN 2 AND 3
                     AND NOT ((s -> c.name ->> 'min')::float8 = 0 AND (s -> c.name ->> 'max')::float8 = 1)
                    THEN format('whole numbers with %s distinct values: a code? name it in "categorical" to one-hot encode it',
                                s -> c.name ->> 'distinct')
                WHEN c.kind = 'categorical' AND (s -> c.name ->> 'distinct')::bigint > 50
                    THEN format('%s distinct values: as many one-hot columns', s -> c.name ->> 'distinct') END
    FROM custseg_column_kinds(source) c
    CROSS JOIN LATERAL (SELECT custseg_looks_like_identifier(
        c.name, CASE WHEN c.kind = 'numeric' AND c.type_name <> 'boolean' THEN 'number'
                     WHEN c.kind = 'categorical' THEN 'text' WHEN c.type_name = 'uuid' THEN 'uuid' END,
        (s -> c.name ->> 'count')::bigint, (s -> c.name ->> 'distinct')::bigint,
        (s -> c.name ->> 'integral')::boolean,
        (s -> c.name ->> 'max')::numeric - (s -> c.name ->> 'min')::numeric + 1, total) AS identifier) n
    ORDER BY c.attnum;
END
$fn$;
COMMENT ON FUNCTION custseg_describe(regclass) IS
    'per column: kind as training treats it, count, nulls, distinct, mean, stddev, min, quartiles, max, IQR outliers, top categories, whether it is a feature by default and why not';

CREATE OR REPLACE FUNCTION custseg_profile(model text)
RETURNS TABLE (segment integer, label text, feature text, kind text, n bigint, mean float8, stddev float8,
               min float8, q1 float8, median float8, q3 float8, max float8, shares jsonb, outliers bigint)
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
    m custseg_models;
    vals text := '';
    f jsonb;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model name must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO m FROM custseg_models cm WHERE cm.name = custseg_profile.model AND cm.active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active custseg model named "%"', model USING ERRCODE = '42704',
            HINT = 'see SELECT name, version, active FROM custseg_models';
    END IF;
    IF custseg_model_json(m.model) -> 'kmeans' = 'null' THEN
        RAISE EXCEPTION 'model "%" has no k-means stage', model USING ERRCODE = '55000';
    END IF;
    FOR f IN SELECT * FROM jsonb_array_elements(custseg_model_json(m.model) -> 'features') LOOP
        IF f ->> 'kind' = 'numeric' THEN
            vals := vals || format(', (%L, ''numeric'', (%s)::float8, NULL::text)', f ->> 'name',
                                   custseg_feature_sql(m.source::regclass, f ->> 'name', 'numeric'));
        ELSE
            vals := vals || format(', (%L, ''categorical'', NULL::float8, t.%I::text)', f ->> 'name', f ->> 'name');
        END IF;
    END LOOP;
    RETURN QUERY EXECUTE format($q$
        WITH u AS MATERIALIZED (
            SELECT s.segment, s.outlier, kv.feature, kv.kind, kv.num, kv.txt
            FROM %s AS t
            CROSS JOIN LATERAL (SELECT sc.segment, sc.outlier FROM @extschema@.custseg_score($1, t.*) sc) s
            CROSS JOIN LATERAL (VALUES %s) AS kv(feature, kind, num, txt)
            -- a row with no feature has no segment, nor has dbscan's noise: not profiled
            WHERE s.segment IS NOT NULL
        ),
        stats AS (
            SELECT u.segment, u.feature, min(u.kind) AS kind, count(*) AS n, avg(u.num) AS mean,
                   stddev_samp(u.num) AS stddev, min(u.num) AS min,
                   percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY u.num) AS q, max(u.num) AS max,
                   GROUPING(u.segment) AS all_rows, count(*) FILTER (WHERE u.outlier) AS outliers
            FROM u GROUP BY GROUPING SETS ((u.segment, u.feature), (u.feature))
        ),
        shares AS (
            SELECT c.segment, c.feature, c.all_rows, jsonb_object_agg(coalesce(c.txt, 'NULL'), round(c.share, 4)) AS shares
            FROM (SELECT g.*, g.k::numeric / sum(g.k) OVER (PARTITION BY g.segment, g.feature, g.all_rows) AS share
                  FROM (SELECT u.segment, u.feature, u.txt, count(*) AS k, GROUPING(u.segment) AS all_rows
                        FROM u WHERE u.kind = 'categorical'
                        GROUP BY GROUPING SETS ((u.segment, u.feature, u.txt), (u.feature, u.txt))) g) c
            GROUP BY c.segment, c.feature, c.all_rows
        )
        SELECT st.segment, cs.label, st.feature, st.kind, st.n,
               CASE WHEN st.kind = 'numeric' THEN st.mean END, st.stddev, st.min, st.q[1], st.q[2], st.q[3], st.max,
               sh.shares, st.outliers
        FROM stats st
        LEFT JOIN shares sh ON sh.feature = st.feature AND sh.all_rows = st.all_rows
                           AND sh.segment IS NOT DISTINCT FROM st.segment
        LEFT JOIN @extschema@.custseg_segments cs ON cs.model = $2 AND cs.segment = st.segment
        ORDER BY st.segment NULLS LAST, st.feature
    $q$, m.source, substr(vals, 3)) USING m.model, model;
END
$fn$;
COMMENT ON FUNCTION custseg_profile(text) IS
    'per segment and feature of the active model, over its source: n, mean, stddev, min, quartiles, max, category shares, and the segment''s outliers';

CREATE OR REPLACE FUNCTION custseg_correlations(source regclass)
RETURNS TABLE (column_a text, column_b text, r float8, n bigint)
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
    cols text[];
    parts text := '';
    pairs integer := 0;
    res jsonb;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT array_agg(c.name ORDER BY c.attnum) INTO cols FROM custseg_columns(source) c WHERE c.is_num;
    IF coalesce(cardinality(cols), 0) < 2 THEN
        RETURN;
    END IF;
    -- Pairs in groups of 90: a function takes at most 100 arguments, so the groups are concatenated.
    FOR i IN 1 .. cardinality(cols) - 1 LOOP
        FOR j IN i + 1 .. cardinality(cols) LOOP
            pairs := pairs + 1;
            parts := parts || CASE WHEN pairs = 1 THEN 'jsonb_build_array(' WHEN pairs % 90 = 1 THEN ') || jsonb_build_array(' ELSE ', ' END
                     || format('jsonb_build_array(%L, %L, corr(t.%I::float8, t.%I::float8), regr_count(t.%I::float8, t.%I::float8))',
                               cols[i], cols[j], cols[i], cols[j], cols[i], cols[j]);
        END LOOP;
    END LOOP;
    EXECUTE format('SELECT %s) FROM %s AS t', parts, source) INTO res;
    RETURN QUERY SELECT x ->> 0, x ->> 1, (x ->> 2)::float8, (x ->> 3)::bigint FROM jsonb_array_elements(res) x;
END
$fn$;
COMMENT ON FUNCTION custseg_correlations(regclass) IS 'Pearson r (and the row count) of every pair of numeric columns';

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
    'whether a table is a Citus table (training then reads it as column arrays, which Citus aggregates in its workers)';

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

-- custseg_fit over rows given as separate values: float8 numbers, then text categories, in the
-- order of names (names beyond them are only named, for the "exclude" option). Nothing is built
-- per row; the transition reads the values' types from the call, so Citus (which calls it without
-- one) runs custseg_fit_columns instead. custseg_train uses it on one node
-- (custseg_fit_columns_args(source, options, true, true) writes names and values).
CREATE FUNCTION custseg_fit_values_transfn(bytea, jsonb, text[], VARIADIC "any") RETURNS bytea
    AS 'MODULE_PATHNAME', 'custseg_fit_values_transfn' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_fit_values_transfn(bytea, jsonb, text[], "any") IS 'custseg_fit_values transition';
CREATE AGGREGATE custseg_fit_values(options jsonb, names text[], VARIADIC feature_values "any") (
    SFUNC = custseg_fit_values_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_fit_values_state(options jsonb, names text[], VARIADIC feature_values "any") (
    SFUNC = custseg_fit_values_transfn, STYPE = bytea, COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
COMMENT ON AGGREGATE custseg_fit_values(jsonb, text[], "any") IS
    'custseg_fit over rows given as separate values: float8 numbers, then text categories, in the order of names';
COMMENT ON AGGREGATE custseg_fit_values_state(jsonb, text[], "any") IS
    'the training state of custseg_fit_values, for custseg_evaluate_state';

-- A numeric as training reads it (numeric_float8_no_overflow): a magnitude beyond a double's range
-- becomes an infinity (which training then reports, naming the column) or 0, not an error of the
-- cast. custseg_fit_columns_args writes it for numeric columns.
CREATE FUNCTION custseg_float8(numeric) RETURNS float8
    AS 'MODULE_PATHNAME', 'custseg_numeric_float8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_float8(numeric) IS
    'a numeric as a float8 the way training reads it: out-of-range magnitudes become infinities or 0 instead of an error';

-- The arguments of custseg_fit_columns that read a table's rows (alias t) as custseg_fit(t, options)
-- would: number-typed and boolean columns as numbers, text-like ones as categories, each as the
-- options force it, excluded ones only named. NULL when a column of another type would be a feature;
-- with same_as_record, also where a value would be read otherwise than the record form reads it.
CREATE FUNCTION custseg_fit_columns_args(source regclass, options jsonb, same_as_record boolean DEFAULT false,
                                         separate boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c record;
    base oid;
    is_enum boolean;
    nums text[] := '{}';
    num_names text[] := '{}';
    cats text[] := '{}';
    cat_names text[] := '{}';
    named text[] := '{}';
    opts jsonb := coalesce(options, '{}');
    numbers constant regtype[] := ARRAY['int2', 'int4', 'int8', 'float4', 'float8', 'numeric']::regtype[];
BEGIN
    FOR c IN
        SELECT a.attname::text AS name, a.atttypid AS typid
        FROM pg_attribute a
        WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
    LOOP
        -- A domain counts as its base type (through domains over domains), as in training; types
        -- are compared by OID, so that a user's type named like a built-in one is not taken for it.
        base := c.typid;
        WHILE (SELECT y.typtype FROM pg_type y WHERE y.oid = base) = 'd' LOOP
            SELECT y.typbasetype INTO base FROM pg_type y WHERE y.oid = base;
        END LOOP;
        is_enum := (SELECT y.typtype FROM pg_type y WHERE y.oid = base) = 'e';
        IF coalesce(opts -> 'exclude', '[]') ? c.name THEN
            named := named || c.name;
        ELSIF coalesce(opts -> 'categorical', '[]') ? c.name THEN
            -- The record form writes a forced category with the type's output function, which
            -- ::text equals except for booleans (t/f) and character(n) (padding).
            IF same_as_record AND NOT (base = ANY (numbers || ARRAY['text', 'varchar']::regtype[]) OR is_enum) THEN
                RETURN NULL;
            END IF;
            cats := cats || format('t.%I::text', c.name);
            cat_names := cat_names || c.name;
        ELSIF base = 'numeric'::regtype THEN
            nums := nums || format('%I.custseg_float8(t.%I)', '@extschema@', c.name);
            num_names := num_names || c.name;
        ELSIF base = ANY (numbers) THEN
            nums := nums || format('t.%I::float8', c.name);
            num_names := num_names || c.name;
        ELSIF base = 'bool'::regtype THEN
            nums := nums || format('t.%I::integer::float8', c.name);
            num_names := num_names || c.name;
        ELSIF coalesce(opts -> 'numeric', '[]') ? c.name THEN
            -- A text column forced numeric: the record form parses it with its own messages.
            IF same_as_record THEN
                RETURN NULL;
            END IF;
            nums := nums || format('t.%I::float8', c.name);
            num_names := num_names || c.name;
        ELSIF base IN ('text'::regtype, 'varchar'::regtype) OR is_enum THEN
            cats := cats || format('t.%I::text', c.name);
            cat_names := cat_names || c.name;
        ELSIF base IN ('bpchar'::regtype, 'name'::regtype) AND NOT same_as_record THEN
            -- The record form keeps character(n)'s padding (::text drops it) and refuses name.
            cats := cats || format('t.%I::text', c.name);
            cat_names := cat_names || c.name;
        ELSE
            RETURN NULL;
        END IF;
    END LOOP;
    IF separate THEN
        -- custseg_fit_values' names and values: at least one value, and room in a call's 100
        -- arguments beside the state, the options and the names.
        IF cardinality(nums || cats) NOT BETWEEN 1 AND 97 THEN
            RETURN NULL;
        END IF;
        RETURN format('%L::text[], %s', (num_names || cat_names || named)::text, array_to_string(nums || cats, ', '));
    END IF;
    RETURN format('%L::text[], %s, %s', (num_names || cat_names || named)::text,
                  CASE WHEN cardinality(nums) = 0 THEN '''{}''::float8[]' ELSE 'ARRAY[' || array_to_string(nums, ', ') || ']' END,
                  CASE WHEN cardinality(cats) = 0 THEN '''{}''::text[]' ELSE 'ARRAY[' || array_to_string(cats, ', ') || ']' END);
END
$fn$;
COMMENT ON FUNCTION custseg_fit_columns_args(regclass, jsonb, boolean, boolean) IS
    'the custseg_fit_columns arguments that read a table''s rows (alias t) as custseg_fit(t, options) does, or NULL; with same_as_record, NULL unless every value is read exactly as the record form reads it; with separate, custseg_fit_values'' arguments after the options (NULL beyond 97 values)';

-- custseg_evaluate_k over jsonb objects: the form Citus runs in its workers.
CREATE AGGREGATE custseg_fit_state(jsonb, jsonb) (
    SFUNC = custseg_fit_jsonb_transfn, STYPE = bytea, COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
COMMENT ON AGGREGATE custseg_fit_state(jsonb, jsonb) IS
    'the training state of custseg_fit over jsonb objects, for custseg_evaluate_state';

-- Model-as-value scoring: the model travels with the query (Citus ships it to its workers).
-- The column form of custseg_predict(model, row), custseg_predict(row, name) and
-- custseg_predict(row): the planner rewrites a call on a table's whole-row reference
-- (custseg_predict(m, c) FROM t c) into one of these, passing the table's columns and their names
-- (and the table itself for the last), so the row is not formed as a composite value only to be
-- taken apart again. Same segments, same errors.
CREATE FUNCTION custseg_predict_columns(model custseg_model, columns text[], VARIADIC "values" "any") RETURNS integer
    AS 'MODULE_PATHNAME', 'custseg_predict_model_columns' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION custseg_predict_columns(custseg_model, text[], "any") IS
    'custseg_predict(model, row) for a row given as its columns (the planner''s rewrite of a whole-row call)';
CREATE FUNCTION custseg_predict_columns(model text, columns text[], VARIADIC "values" "any") RETURNS integer
    AS 'MODULE_PATHNAME', 'custseg_predict_name_columns' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION custseg_predict_columns(text, text[], "any") IS
    'custseg_predict(row, name) for a row given as its columns (the planner''s rewrite of a whole-row call)';
CREATE FUNCTION custseg_predict_columns(source regclass, columns text[], VARIADIC "values" "any") RETURNS integer
    AS 'MODULE_PATHNAME', 'custseg_predict_table_columns' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION custseg_predict_columns(regclass, text[], "any") IS
    'custseg_predict(row) for a row of the table given as its columns (the planner''s rewrite of a whole-row call)';
CREATE FUNCTION custseg_predict_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'custseg_predict_support' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
ALTER FUNCTION custseg_predict(custseg_model, record) SUPPORT custseg_predict_support;
ALTER FUNCTION custseg_predict(record, text) SUPPORT custseg_predict_support;
ALTER FUNCTION custseg_predict(record) SUPPORT custseg_predict_support;

CREATE FUNCTION custseg_predict(model custseg_model, "row" jsonb) RETURNS integer
    AS 'MODULE_PATHNAME', 'custseg_predict_model_jsonb' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_predict(custseg_model, jsonb) IS
    'the segment of a JSON object of attributes (keys = column names) under a model';
CREATE FUNCTION custseg_score(model custseg_model, "row" record,
                              OUT segment integer, OUT label text, OUT distance float8,
                              OUT runner_up_distance float8, OUT confidence float8, OUT coordinates float8[],
                              OUT distances float8[], OUT probabilities float8[], OUT outlier boolean,
                              OUT reason text)
    AS 'MODULE_PATHNAME', 'custseg_score_model_record' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_score(custseg_model, record) IS
    'one assignment explained under a model value (label is NULL: labels live in custseg_segments)';
CREATE FUNCTION custseg_score(model custseg_model, "row" jsonb,
                              OUT segment integer, OUT label text, OUT distance float8,
                              OUT runner_up_distance float8, OUT confidence float8, OUT coordinates float8[],
                              OUT distances float8[], OUT probabilities float8[], OUT outlier boolean,
                              OUT reason text)
    AS 'MODULE_PATHNAME', 'custseg_score_model_jsonb' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_score(custseg_model, jsonb) IS
    'one assignment of a JSON object explained under a model value (label is NULL)';

-- The Citus paths of custseg_train, custseg_evaluate_k, custseg_refresh_segments and
-- custseg_create_views are in their definitions above.

-- ---- 0.3.0: customers in motion (RFM, kept segments, transitions) ----

-- RFM features from an orders table: the query behind every form of custseg_rfm. One GROUP BY scan.
-- An order is a purchase unless its amount is negative (a refund); orders after as_of, and orders
-- with a NULL customer or time, are left out. See README: Features from orders.
CREATE FUNCTION custseg_rfm_query(orders regclass, customer_column text, time_column text, amount_column text,
                                  window_days integer, quantity_column text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
DECLARE
    t_type regtype;
    a_type regtype;
    q_type regtype;
    numeric_types regtype[] := ARRAY['int2', 'int4', 'int8', 'float4', 'float8', 'numeric']::regtype[];
    asof text;
    days text;
    purchase text;
    win text;
    cols text;
BEGIN
    IF orders IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'orders, customer_column, time_column and amount_column must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF window_days IS NOT NULL AND window_days <= 0 THEN
        RAISE EXCEPTION 'window_days must be positive (got %)', window_days USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = orders AND a.attname = customer_column
                   AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of % does not exist', customer_column, orders USING ERRCODE = '42703';
    END IF;
    SELECT a.atttypid INTO t_type FROM pg_attribute a
    WHERE a.attrelid = orders AND a.attname = time_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF t_type IS NULL THEN
        RAISE EXCEPTION 'column "%" of % does not exist', time_column, orders USING ERRCODE = '42703';
    END IF;
    IF t_type NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) THEN
        RAISE EXCEPTION 'time column "%" is of type %, not a date or timestamp', time_column, t_type
            USING ERRCODE = '42804', HINT = 'pass a date, timestamp or timestamptz column, or a view that casts it';
    END IF;
    SELECT a.atttypid INTO a_type FROM pg_attribute a
    WHERE a.attrelid = orders AND a.attname = amount_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF a_type IS NULL THEN
        RAISE EXCEPTION 'column "%" of % does not exist', amount_column, orders USING ERRCODE = '42703';
    END IF;
    IF NOT a_type = ANY (numeric_types) THEN
        RAISE EXCEPTION 'amount column "%" is of type %, not a number', amount_column, a_type USING ERRCODE = '42804';
    END IF;
    IF quantity_column IS NOT NULL THEN
        SELECT a.atttypid INTO q_type FROM pg_attribute a
        WHERE a.attrelid = orders AND a.attname = quantity_column AND a.attnum > 0 AND NOT a.attisdropped;
        IF q_type IS NULL THEN
            RAISE EXCEPTION 'column "%" of % does not exist', quantity_column, orders USING ERRCODE = '42703';
        END IF;
        IF NOT q_type = ANY (numeric_types) THEN
            RAISE EXCEPTION 'quantity column "%" is of type %, not a number', quantity_column, q_type USING ERRCODE = '42804';
        END IF;
    END IF;
    -- as_of ($1, timestamptz) in the time column's type; days between two such values.
    IF t_type = 'date'::regtype THEN
        asof := '$1::date';
        days := '(%s - %s)::float8';
    ELSE
        asof := format('$1::%s', t_type);
        days := '(extract(epoch FROM (%s - %s)) / 86400)::float8';
    END IF;
    purchase := format('(o.a IS NULL OR o.a >= 0)');
    cols := format('o.c::text AS customer_key, %s AS recency_days, count(*) FILTER (WHERE %s) AS frequency, '
                   'sum(o.a)::float8 AS monetary, (avg(o.a) FILTER (WHERE o.a >= 0))::float8 AS monetary_avg, %s AS tenure_days',
                   format(days, asof, format('max(o.t) FILTER (WHERE %s)', purchase)), purchase,
                   format(days, asof, format('min(o.t) FILTER (WHERE %s)', purchase)));
    IF quantity_column IS NOT NULL THEN
        cols := cols || ', sum(o.q)::float8 AS quantity';
    END IF;
    IF window_days IS NOT NULL THEN
        -- The recent window is (as_of - window_days days, as_of].
        win := format('o.t > %s - %s', asof,
                      CASE WHEN t_type = 'date'::regtype THEN '$2' ELSE 'make_interval(days => $2)' END);
        cols := cols || format(', count(*) FILTER (WHERE %s AND %s) AS recent_frequency, '
                               'coalesce(sum(o.a) FILTER (WHERE %s), 0)::float8 AS recent_monetary', purchase, win, win);
        IF quantity_column IS NOT NULL THEN
            cols := cols || format(', coalesce(sum(o.q) FILTER (WHERE %s), 0)::float8 AS recent_quantity', win);
        END IF;
    END IF;
    RETURN format('SELECT %s FROM (SELECT t.%I AS c, t.%I AS t, t.%I AS a, %s AS q FROM %s AS t) o '
                  'WHERE o.c IS NOT NULL AND o.t IS NOT NULL AND o.t <= %s '
                  'GROUP BY o.c HAVING count(*) FILTER (WHERE %s) > 0 ORDER BY o.c',
                  cols, customer_column, time_column, amount_column,
                  CASE WHEN quantity_column IS NULL THEN 'NULL::int' ELSE format('t.%I', quantity_column) END,
                  orders, asof, purchase);
END
$fn$;
COMMENT ON FUNCTION custseg_rfm_query(regclass, text, text, text, integer, text) IS
    'the query custseg_rfm runs: one row per customer with a purchase up to $1 (as_of), window $2 days';

CREATE FUNCTION custseg_rfm(orders regclass, customer_column text, time_column text, amount_column text,
                            as_of timestamptz DEFAULT now())
RETURNS TABLE (customer_key text, recency_days float8, frequency bigint, monetary float8, monetary_avg float8,
               tenure_days float8)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = '22004', HINT = 'omit it for now()';
    END IF;
    RETURN QUERY EXECUTE custseg_rfm_query(orders, customer_column, time_column, amount_column, NULL, NULL) USING as_of;
END
$fn$;
COMMENT ON FUNCTION custseg_rfm(regclass, text, text, text, timestamptz) IS
    'RFM features per customer from an orders table as of a time: recency_days, frequency, monetary (net), monetary_avg, tenure_days';

CREATE FUNCTION custseg_rfm(orders regclass, customer_column text, time_column text, amount_column text,
                            as_of timestamptz, window_days integer)
RETURNS TABLE (customer_key text, recency_days float8, frequency bigint, monetary float8, monetary_avg float8,
               tenure_days float8, recent_frequency bigint, recent_monetary float8)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
BEGIN
    IF as_of IS NULL OR window_days IS NULL THEN
        RAISE EXCEPTION 'as_of and window_days must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY EXECUTE custseg_rfm_query(orders, customer_column, time_column, amount_column, window_days, NULL)
        USING as_of, window_days;
END
$fn$;
COMMENT ON FUNCTION custseg_rfm(regclass, text, text, text, timestamptz, integer) IS
    'RFM features per customer, and purchases and net amount over the last window_days days';

CREATE FUNCTION custseg_rfm(orders regclass, customer_column text, time_column text, amount_column text,
                            as_of timestamptz, quantity_column text)
RETURNS TABLE (customer_key text, recency_days float8, frequency bigint, monetary float8, monetary_avg float8,
               tenure_days float8, quantity float8)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
BEGIN
    IF as_of IS NULL OR quantity_column IS NULL THEN
        RAISE EXCEPTION 'as_of and quantity_column must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY EXECUTE custseg_rfm_query(orders, customer_column, time_column, amount_column, NULL, quantity_column)
        USING as_of;
END
$fn$;
COMMENT ON FUNCTION custseg_rfm(regclass, text, text, text, timestamptz, text) IS
    'RFM features per customer with the net quantity (units) bought';

CREATE FUNCTION custseg_rfm(orders regclass, customer_column text, time_column text, amount_column text,
                            as_of timestamptz, window_days integer, quantity_column text)
RETURNS TABLE (customer_key text, recency_days float8, frequency bigint, monetary float8, monetary_avg float8,
               tenure_days float8, quantity float8, recent_frequency bigint, recent_monetary float8,
               recent_quantity float8)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
BEGIN
    IF as_of IS NULL OR window_days IS NULL OR quantity_column IS NULL THEN
        RAISE EXCEPTION 'as_of, window_days and quantity_column must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY EXECUTE custseg_rfm_query(orders, customer_column, time_column, amount_column, window_days, quantity_column)
        USING as_of, window_days;
END
$fn$;
COMMENT ON FUNCTION custseg_rfm(regclass, text, text, text, timestamptz, integer, text) IS
    'RFM features per customer with quantity, and purchases, net amount and quantity over the last window_days days';

-- Kept segments: tables whose segment column custseg keeps current for a model (custseg_keep_segment).
CREATE TABLE custseg_kept_segments (
    source text NOT NULL,
    column_name text NOT NULL,
    model text NOT NULL,
    key_columns text[] NOT NULL,
    version integer,
    rescore_version integer,
    rescore_last_key text[],
    rescore_done bigint NOT NULL DEFAULT 0,
    rescore_changed bigint NOT NULL DEFAULT 0,
    rescore_total bigint,
    rescore_started_at timestamptz,
    rescore_updated_at timestamptz,
    rescore_finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, column_name)
);
SELECT pg_catalog.pg_extension_config_dump('custseg_kept_segments', '');
COMMENT ON TABLE custseg_kept_segments IS
    'tables whose segment column is kept current for a model, and the progress of their re-scoring';
COMMENT ON COLUMN custseg_kept_segments.source IS 'the table, as a qualified name';
COMMENT ON COLUMN custseg_kept_segments.key_columns IS 'its primary key: the customer key of the transitions';
COMMENT ON COLUMN custseg_kept_segments.version IS 'the model version every stored segment was last brought in line with';
COMMENT ON COLUMN custseg_kept_segments.rescore_version IS 'the version the last (or running) custseg_rescore scores with';
COMMENT ON COLUMN custseg_kept_segments.rescore_last_key IS 'the primary key of the last row re-scored (a restart resumes after it)';
COMMENT ON COLUMN custseg_kept_segments.rescore_done IS 'rows re-scored so far (of rescore_total)';
COMMENT ON COLUMN custseg_kept_segments.rescore_changed IS 'rows whose segment changed so far';

-- Every change of a stored segment: one row per customer and change, announced on the channel
-- custseg_segment_changed.
CREATE TABLE custseg_segment_changes (
    change_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    model text NOT NULL,
    source text NOT NULL,
    customer_key text NOT NULL,
    from_segment integer,
    to_segment integer,
    version integer,
    reason text NOT NULL CHECK (reason IN ('update', 'rescore')),
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by name NOT NULL DEFAULT current_user
);
CREATE INDEX custseg_segment_changes_model ON custseg_segment_changes (model, changed_at);
CREATE INDEX custseg_segment_changes_customer ON custseg_segment_changes (model, customer_key);
SELECT pg_catalog.pg_extension_config_dump('custseg_segment_changes', '');
SELECT pg_catalog.pg_extension_config_dump('custseg_segment_changes_change_id_seq', '');
COMMENT ON TABLE custseg_segment_changes IS
    'every change of a kept segment (model, customer key, from, to, version, when), on write or on re-scoring';
COMMENT ON COLUMN custseg_segment_changes.customer_key IS 'the primary key of the row (a JSON array of the values for a key of several columns)';
COMMENT ON COLUMN custseg_segment_changes.version IS 'the model version that gave the new segment';
COMMENT ON COLUMN custseg_segment_changes.reason IS 'update: a write to the row; rescore: custseg_rescore after a retrain or activation';

-- The table named as custseg_models.source stores it (format('%I.%I')), or NULL: never an error,
-- whatever the text (a row any role inserted is read by every role's queries), so that the row
-- security checks below can call it on any row.
CREATE FUNCTION custseg_source_class(source text) RETURNS oid
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT c.oid
    FROM (SELECT parse_ident(CASE WHEN source ~ '^("([^"]|"")+"|[a-z_][a-z0-9_]*)\.("([^"]|"")+"|[a-z_][a-z0-9_]*)$'
                                  THEN source END) AS p) i
    JOIN pg_namespace n ON n.nspname = i.p[1]
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = i.p[2]
$fn$;
COMMENT ON FUNCTION custseg_source_class(text) IS
    'the table a stored source name (format(''%I.%I'')) names, or NULL for any other text';
CREATE OR REPLACE FUNCTION custseg_source_readable(source text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce((
        SELECT has_schema_privilege(c.relnamespace, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')
        FROM pg_class c WHERE c.oid = @extschema@.custseg_source_class(source)), false)
$fn$;

-- Whether the current role may write (INSERT or UPDATE) a table named as format('%I.%I') stores it.
CREATE FUNCTION custseg_source_writable(source text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce((
        SELECT has_schema_privilege(c.relnamespace, 'USAGE') AND has_table_privilege(c.oid, 'INSERT, UPDATE')
        FROM pg_class c WHERE c.oid = @extschema@.custseg_source_class(source)), false)
$fn$;
COMMENT ON FUNCTION custseg_source_writable(text) IS
    'whether the current role may write the table a kept segment or a transition belongs to (row security)';
-- Whether the current role is a member of the owner of a table named as format('%I.%I') stores it.
CREATE FUNCTION custseg_source_owned(source text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce((
        SELECT pg_has_role(c.relowner, 'USAGE')
        FROM pg_class c WHERE c.oid = @extschema@.custseg_source_class(source)), false)
$fn$;
COMMENT ON FUNCTION custseg_source_owned(text) IS
    'whether the current role owns (is a member of the owner of) the table a kept segment belongs to';

ALTER TABLE custseg_kept_segments ENABLE ROW LEVEL SECURITY;
ALTER TABLE custseg_segment_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY custseg_kept_segments_read ON custseg_kept_segments FOR SELECT
    USING (custseg_source_readable(source) OR custseg_source_owned(source));
CREATE POLICY custseg_kept_segments_write ON custseg_kept_segments FOR INSERT
    WITH CHECK (custseg_source_owned(source));
CREATE POLICY custseg_kept_segments_delete ON custseg_kept_segments FOR DELETE
    USING (custseg_source_owned(source));
CREATE POLICY custseg_kept_segments_progress ON custseg_kept_segments FOR UPDATE
    USING (custseg_source_writable(source) OR custseg_source_owned(source))
    WITH CHECK (custseg_source_writable(source) OR custseg_source_owned(source));
COMMENT ON POLICY custseg_kept_segments_read ON custseg_kept_segments IS 'roles that may read the table see its kept segments';
COMMENT ON POLICY custseg_kept_segments_write ON custseg_kept_segments IS 'the owner of a table keeps a segment on it';
COMMENT ON POLICY custseg_kept_segments_delete ON custseg_kept_segments IS 'the owner of a table stops keeping a segment on it';
COMMENT ON POLICY custseg_kept_segments_progress ON custseg_kept_segments IS 'roles that may write the table re-score it';
CREATE POLICY custseg_segment_changes_read ON custseg_segment_changes FOR SELECT
    USING (EXISTS (SELECT 1 FROM custseg_models m WHERE m.name = custseg_segment_changes.model));
CREATE POLICY custseg_segment_changes_record ON custseg_segment_changes FOR INSERT
    WITH CHECK (custseg_source_writable(source)
                AND EXISTS (SELECT 1 FROM custseg_models m WHERE m.name = custseg_segment_changes.model));
CREATE POLICY custseg_segment_changes_change ON custseg_segment_changes FOR UPDATE
    USING (EXISTS (SELECT 1 FROM custseg_model_names n WHERE n.name = custseg_segment_changes.model
                   AND pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(n.owner)), 'USAGE')))
    WITH CHECK (EXISTS (SELECT 1 FROM custseg_model_names n WHERE n.name = custseg_segment_changes.model
                        AND pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(n.owner)), 'USAGE')));
CREATE POLICY custseg_segment_changes_prune ON custseg_segment_changes FOR DELETE
    USING (EXISTS (SELECT 1 FROM custseg_model_names n WHERE n.name = custseg_segment_changes.model
                   AND pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(n.owner)), 'USAGE')));
COMMENT ON POLICY custseg_segment_changes_read ON custseg_segment_changes IS 'transitions are visible with their model';
COMMENT ON POLICY custseg_segment_changes_record ON custseg_segment_changes IS
    'a write to a kept table records its transitions (the writer may write the table and see the model)';
COMMENT ON POLICY custseg_segment_changes_change ON custseg_segment_changes IS 'members of the model''s owner role change its transitions';
COMMENT ON POLICY custseg_segment_changes_prune ON custseg_segment_changes IS 'members of the model''s owner role prune its transitions';
GRANT SELECT, INSERT, UPDATE, DELETE ON custseg_kept_segments, custseg_segment_changes TO PUBLIC;
GRANT USAGE, SELECT ON SEQUENCE custseg_segment_changes_change_id_seq TO PUBLIC;

-- BEFORE INSERT OR UPDATE trigger of a kept table: the row's segment under the active version of
-- the model, as custseg_predict(row, model) gives it. Arguments: model, column.
CREATE FUNCTION custseg_keep_segment_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION custseg_keep_segment_trigger() IS
    'trigger: sets a kept segment column to custseg_predict(row, model) on INSERT and UPDATE';

-- AFTER UPDATE trigger of a kept table, for rows whose stored segment changed (its WHEN clause):
-- records the transition and announces it. TG_ARGV: model, column, the kept table (its qualified
-- name, also for rows of its partitions), then the primary-key columns. custseg_rescore records its
-- own changes, in one statement per batch.
CREATE FUNCTION custseg_segment_changed_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
DECLARE
    o jsonb := to_jsonb(OLD);
    n jsonb := to_jsonb(NEW);
    k text;
    src text;
    v integer;
    lbl text;
    ch custseg_segment_changes;
BEGIN
    IF current_setting('custseg.filling', true) = 'on' OR current_setting('custseg.rescoring', true) = 'on' THEN
        RETURN NULL;  -- filling the column is a starting point, not a change; re-scoring logs its own
    END IF;
    src := TG_ARGV[2];
    IF TG_NARGS = 4 THEN
        k := n ->> TG_ARGV[3];
    ELSE
        SELECT jsonb_agg(n -> a)::text INTO k FROM unnest(TG_ARGV[3:]) a;
    END IF;
    SELECT m.version INTO v FROM custseg_models m WHERE m.name = TG_ARGV[0] AND m.active;
    SELECT s.label INTO lbl FROM custseg_segments s WHERE s.model = TG_ARGV[0] AND s.segment = (n ->> TG_ARGV[1])::integer;
    INSERT INTO custseg_segment_changes (model, source, customer_key, from_segment, to_segment, version, reason)
    VALUES (TG_ARGV[0], src, k, (o ->> TG_ARGV[1])::integer, (n ->> TG_ARGV[1])::integer, v,
            'update')
    RETURNING * INTO ch;
    PERFORM pg_notify('custseg_segment_changed', json_build_object(
        'change_id', ch.change_id, 'model', ch.model, 'source', ch.source, 'customer_key', ch.customer_key,
        'from_segment', ch.from_segment, 'to_segment', ch.to_segment, 'label', lbl, 'version', ch.version,
        'reason', ch.reason, 'changed_at', ch.changed_at)::text);
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION custseg_segment_changed_trigger() IS
    'trigger: records a change of a kept segment in custseg_segment_changes and announces it on custseg_segment_changed';

-- Makes a table keep a segment column current for a model: the column (added when missing), a
-- trigger that scores every inserted and updated row, a trigger that records and announces changes,
-- and the existing rows filled in (one statement; fill => false leaves that to custseg_rescore).
CREATE FUNCTION custseg_keep_segment(source regclass, model text, column_name text DEFAULT 'segment',
                                     fill boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    src text;
    kind "char";
    keys text[];
    col_type regtype;
    m custseg_models;
    feats text[];
    filled bigint := 0;
    keylist text;
BEGIN
    IF source IS NULL OR model IS NULL OR column_name IS NULL THEN
        RAISE EXCEPTION 'source, model and column_name must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF column_name = '' THEN
        RAISE EXCEPTION 'column_name must not be empty' USING ERRCODE = '22023';
    END IF;
    SELECT format('%I.%I', n.nspname, c.relname), c.relkind INTO src, kind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', source USING ERRCODE = '42809',
            HINT = 'a kept segment needs a table (its rows are written); a view can be scored with custseg_create_views';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) INTO keys
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = source AND i.indisprimary;
    IF keys IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key', source USING ERRCODE = '55000',
            HINT = 'the primary key is the customer key of the transitions: ALTER TABLE ... ADD PRIMARY KEY (...)';
    END IF;
    SELECT * INTO m FROM custseg_models cm WHERE cm.name = model AND cm.active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active custseg model named "%"', model USING ERRCODE = '42704',
            HINT = 'train one first with custseg_train';
    END IF;
    SELECT array_agg(f ->> 'name') INTO feats FROM jsonb_array_elements(custseg_model_json(m.model) -> 'features') f;
    IF column_name = ANY (feats) THEN
        RAISE EXCEPTION 'column "%" is a feature of model "%"', column_name, model USING ERRCODE = '22023',
            HINT = 'a kept segment is never a feature: choose another column name';
    END IF;
    IF column_name = ANY (keys) THEN
        RAISE EXCEPTION 'column "%" is part of the primary key of %', column_name, source USING ERRCODE = '22023';
    END IF;
    SELECT a.atttypid INTO col_type FROM pg_attribute a
    WHERE a.attrelid = source AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped;
    IF col_type IS NULL THEN
        EXECUTE format('ALTER TABLE %s ADD COLUMN %I integer', source, column_name);
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', source, column_name,
                       format('segment under custseg model %s, kept current by custseg_keep_segment', model));
    ELSIF col_type NOT IN ('int4'::regtype, 'int8'::regtype) THEN
        RAISE EXCEPTION 'column "%" of % is of type %, not integer', column_name, source, col_type
            USING ERRCODE = '42804', HINT = 'drop it, or keep the segment in another column';
    END IF;
    SELECT string_agg(quote_literal(k), ', ') INTO keylist FROM unnest(keys) k;
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT OR UPDATE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION %I.custseg_keep_segment_trigger(%L, %L)',
                   left('custseg_keep_' || column_name, 63), source, '@extschema@', model, column_name);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s FOR EACH ROW '
                   'WHEN (OLD.%I IS NOT NULL AND OLD.%I IS DISTINCT FROM NEW.%I) '
                   'EXECUTE FUNCTION %I.custseg_segment_changed_trigger(%L, %L, %L, %s)',
                   left('custseg_changed_' || column_name, 63), source, column_name, column_name, column_name,
                   '@extschema@', model, column_name, src, keylist);
    INSERT INTO custseg_kept_segments AS k (source, column_name, model, key_columns)
    VALUES (src, column_name, model, keys)
    ON CONFLICT ON CONSTRAINT custseg_kept_segments_pkey DO UPDATE
        SET model = EXCLUDED.model, key_columns = EXCLUDED.key_columns, version = NULL, rescore_version = NULL,
            rescore_last_key = NULL, rescore_done = 0, rescore_changed = 0, rescore_total = NULL,
            rescore_started_at = NULL, rescore_updated_at = NULL, rescore_finished_at = NULL;
    IF fill THEN
        -- Filling the rows is not a change of their segments: nothing is recorded or announced.
        PERFORM set_config('custseg.filling', 'on', true);
        EXECUTE format('UPDATE %s SET %I = NULL', source, column_name);
        GET DIAGNOSTICS filled = ROW_COUNT;
        PERFORM set_config('custseg.filling', 'off', true);
        UPDATE custseg_kept_segments k SET version = m.version WHERE k.source = src AND k.column_name = column_name;
    END IF;
    RETURN filled;
END
$fn$;
COMMENT ON FUNCTION custseg_keep_segment(regclass, text, text, boolean) IS
    'makes a table keep a segment column current for a model: scored on INSERT and UPDATE, changes recorded and announced';

-- Stops keeping a segment column (the column and its values stay).
CREATE FUNCTION custseg_unkeep_segment(source regclass, column_name text DEFAULT 'segment') RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    src text;
BEGIN
    IF source IS NULL OR column_name IS NULL THEN
        RAISE EXCEPTION 'source and column_name must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT format('%I.%I', n.nspname, c.relname) INTO src
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', left('custseg_keep_' || column_name, 63), source);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', left('custseg_changed_' || column_name, 63), source);
    DELETE FROM custseg_kept_segments k WHERE k.source = src AND k.column_name = column_name;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION custseg_unkeep_segment(regclass, text) IS
    'stops keeping a segment column current (drops the triggers; the column and its values stay)';

-- The label each segment had under each version: custseg_transitions names the segments of versions
-- that are no longer active (custseg_segments holds the active version's). Appended by a trigger on
-- custseg_segments whenever a refresh or a rename writes a label; the latest row counts. (No key:
-- restoring a dump loads custseg_segments, which appends through the trigger, and this table's own
-- rows, in either order.)
CREATE TABLE custseg_segment_labels (
    model text NOT NULL,
    version integer NOT NULL,
    segment integer NOT NULL,
    label text,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX custseg_segment_labels_lookup ON custseg_segment_labels (model, version, segment, recorded_at);
SELECT pg_catalog.pg_extension_config_dump('custseg_segment_labels', '');
COMMENT ON TABLE custseg_segment_labels IS 'the labels each segment had under each version of a model (the latest counts)';
INSERT INTO custseg_segment_labels (model, version, segment, label)
SELECT s.model, s.version, s.segment, s.label FROM custseg_segments s WHERE s.version IS NOT NULL;
CREATE FUNCTION custseg_segment_labels_record() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
BEGIN
    IF NEW.version IS NOT NULL THEN
        INSERT INTO custseg_segment_labels (model, version, segment, label)
        VALUES (NEW.model, NEW.version, NEW.segment, NEW.label);
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION custseg_segment_labels_record() IS
    'trigger: records a segment''s label under the version it describes (custseg_segment_labels)';
-- On updates only when the label or the version changes (a refresh rewrites every row).
CREATE TRIGGER custseg_segments_record_labels AFTER INSERT ON custseg_segments
    FOR EACH ROW WHEN (NEW.version IS NOT NULL) EXECUTE FUNCTION custseg_segment_labels_record();
CREATE TRIGGER custseg_segments_record_relabels AFTER UPDATE OF label, version ON custseg_segments
    FOR EACH ROW WHEN (NEW.version IS NOT NULL AND (OLD.label IS DISTINCT FROM NEW.label OR OLD.version IS DISTINCT FROM NEW.version))
    EXECUTE FUNCTION custseg_segment_labels_record();
ALTER TABLE custseg_segment_labels ENABLE ROW LEVEL SECURITY;
CREATE POLICY custseg_segment_labels_read ON custseg_segment_labels FOR SELECT
    USING (EXISTS (SELECT 1 FROM custseg_models m WHERE m.name = custseg_segment_labels.model));
CREATE POLICY custseg_segment_labels_write ON custseg_segment_labels FOR ALL
    USING (EXISTS (SELECT 1 FROM custseg_model_names n WHERE n.name = custseg_segment_labels.model
                   AND pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(n.owner)), 'USAGE')))
    WITH CHECK (EXISTS (SELECT 1 FROM custseg_model_names n WHERE n.name = custseg_segment_labels.model
                        AND pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(n.owner)), 'USAGE')));
COMMENT ON POLICY custseg_segment_labels_read ON custseg_segment_labels IS 'labels are visible with their model';
COMMENT ON POLICY custseg_segment_labels_write ON custseg_segment_labels IS 'members of the model''s owner role write its labels';
GRANT SELECT, INSERT, UPDATE, DELETE ON custseg_segment_labels TO PUBLIC;

-- One batch of custseg_rescore: the next batch_size rows in primary-key order after the last one
-- done, scored with the active version; true when the table is in line with it.
CREATE FUNCTION custseg_rescore_batch(source regclass, model text, batch_size integer, column_name text)
RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    src text;
    kept custseg_kept_segments;
    v integer;
    keys text[];
    keycols text;
    keyvals text;
    q text;
    n bigint;
    changed bigint;
    announced bigint;
    last_key text[];
    total bigint;
    done bigint;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be a positive integer (got %)', batch_size USING ERRCODE = '22023';
    END IF;
    SELECT format('%I.%I', ns.nspname, c.relname) INTO src
    FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = source;
    SELECT count(*) INTO n FROM custseg_kept_segments k
    WHERE k.source = src AND (model IS NULL OR k.model = model) AND (column_name IS NULL OR k.column_name = column_name);
    IF n = 0 THEN
        RAISE EXCEPTION 'table % keeps no segment%', source,
            coalesce(' of model "' || model || '"', '') || coalesce(' in column "' || column_name || '"', '')
            USING ERRCODE = '42704', HINT = 'see custseg_keep_segment';
    ELSIF n > 1 THEN
        RAISE EXCEPTION 'table % keeps % segment columns', source, n USING ERRCODE = '21000',
            HINT = 'name one with column_name';
    END IF;
    SELECT k.column_name INTO column_name FROM custseg_kept_segments k
    WHERE k.source = src AND (model IS NULL OR k.model = model) AND (column_name IS NULL OR k.column_name = column_name);
    -- The progress row is locked for this batch's transaction: a second run of the same rescore
    -- waits for the batch, then goes on from where it ended.
    SELECT * INTO kept FROM custseg_kept_segments k WHERE k.source = src AND k.column_name = column_name FOR UPDATE;
    SELECT cm.version INTO v FROM custseg_models cm WHERE cm.name = kept.model AND cm.active;
    IF v IS NULL THEN
        RAISE EXCEPTION 'no active custseg model named "%"', kept.model USING ERRCODE = '42704';
    END IF;
    keys := kept.key_columns;
    SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY array_position(keys, a.attname::text)),
           string_agg(format('$1[%s]::%s', array_position(keys, a.attname::text), format_type(a.atttypid, a.atttypmod)),
                      ', ' ORDER BY array_position(keys, a.attname::text))
    INTO keycols, keyvals
    FROM pg_attribute a WHERE a.attrelid = source AND a.attname::text = ANY (keys) AND NOT a.attisdropped;
    IF kept.rescore_version IS DISTINCT FROM v THEN
        -- A new run (for a version not yet run to): start from the first row. A run stopped
        -- before its end for this version resumes after its last key.
        EXECUTE format('SELECT count(*) FROM %s', source) INTO total;
        UPDATE custseg_kept_segments k
        SET rescore_version = v, rescore_last_key = NULL, rescore_done = 0, rescore_changed = 0,
            rescore_total = total, rescore_started_at = clock_timestamp(), rescore_updated_at = clock_timestamp(),
            rescore_finished_at = NULL
        WHERE k.source = src AND k.column_name = column_name
        RETURNING * INTO kept;
        RAISE NOTICE 'custseg_rescore: % to version % of model "%": % rows', source, v, kept.model, total;
    END IF;
    IF kept.rescore_finished_at IS NOT NULL THEN
        RAISE NOTICE 'custseg_rescore: % is in line with version % of model "%"', source, v, kept.model;
        RETURN true;
    END IF;
    PERFORM set_config('custseg.rescoring', 'on', true);
    -- Score a batch in key order; write only the rows whose segment changes, and record and
    -- announce the changes in the same statement (set-based: the row trigger leaves them to it).
    q := format($q$
        WITH b AS (
            SELECT %1$s, t.%2$I AS old_segment, %3$I.custseg_predict(t, $2) AS new_segment
            FROM %4$s AS t %5$s
            ORDER BY %1$s LIMIT $3),
        u AS (
            UPDATE %4$s AS t SET %2$I = b.new_segment FROM b
            WHERE (%1$s) = (%6$s) AND t.%2$I IS DISTINCT FROM b.new_segment %9$s
            RETURNING %10$s AS customer_key, b.old_segment, t.%2$I AS new_segment),
        l AS (
            INSERT INTO %3$I.custseg_segment_changes (model, source, customer_key, from_segment, to_segment, version, reason)
            SELECT $2, $4, u.customer_key, u.old_segment, u.new_segment, $5, 'rescore' FROM u
            WHERE u.old_segment IS NOT NULL AND u.old_segment IS DISTINCT FROM u.new_segment
            ORDER BY u.customer_key
            RETURNING *),
        n AS (
            SELECT count(pg_notify('custseg_segment_changed', json_build_object(
                       'change_id', l.change_id, 'model', l.model, 'source', l.source, 'customer_key', l.customer_key,
                       'from_segment', l.from_segment, 'to_segment', l.to_segment, 'label', s.label,
                       'version', l.version, 'reason', l.reason, 'changed_at', l.changed_at)::text)) AS announced
            FROM l LEFT JOIN %3$I.custseg_segments s ON s.model = l.model AND s.segment = l.to_segment)
        SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM u), (SELECT announced FROM n),
               (SELECT ARRAY[%7$s] FROM b ORDER BY %8$s LIMIT 1)$q$,
        keycols, column_name, '@extschema@', source,
        CASE WHEN kept.rescore_last_key IS NOT NULL THEN format('WHERE (%s) > (%s)', keycols, keyvals) ELSE '' END,
        (SELECT string_agg(format('b.%I', k), ', ') FROM unnest(keys) k),
        (SELECT string_agg(format('b.%I::text', k), ', ') FROM unnest(keys) k),
        (SELECT string_agg(format('b.%I DESC', k), ', ') FROM unnest(keys) k),
        -- Why the key range again: so that the join with the batch starts at the batch's first key.
        CASE WHEN kept.rescore_last_key IS NOT NULL THEN format('AND (%s) > (%s)', keycols, keyvals) ELSE '' END,
        -- The customer key as the row trigger writes it: the value's JSON text, or a JSON array.
        CASE WHEN cardinality(keys) = 1 THEN format('to_jsonb(t.%I) #>> ''{}''', keys[1])
             ELSE format('jsonb_build_array(%s)::text', keycols) END);
    EXECUTE q INTO n, changed, announced, last_key USING kept.rescore_last_key, kept.model, batch_size, src, v;
    PERFORM set_config('custseg.rescoring', 'off', true);
    done := kept.rescore_done + n;
    UPDATE custseg_kept_segments k
    SET rescore_last_key = CASE WHEN n < batch_size THEN NULL ELSE last_key END,
        rescore_done = done, rescore_changed = k.rescore_changed + changed,
        rescore_updated_at = clock_timestamp(),
        rescore_finished_at = CASE WHEN n < batch_size THEN clock_timestamp() END,
        version = CASE WHEN n < batch_size THEN v ELSE k.version END
    WHERE k.source = src AND k.column_name = column_name
    RETURNING * INTO kept;
    IF n > 0 THEN
        RAISE NOTICE 'custseg_rescore: % rows of % (%), % changed', done, kept.rescore_total,
            round(100.0 * done / greatest(kept.rescore_total, 1), 1) || '%', kept.rescore_changed;
    END IF;
    RETURN n < batch_size;
END
$fn$;
COMMENT ON FUNCTION custseg_rescore_batch(regclass, text, integer, text) IS
    'one batch of custseg_rescore; true when every stored segment is in line with the active version';

-- Brings every stored segment of a kept table in line with the model's active version, in batches
-- of batch_size rows in primary-key order, each its own transaction (commit => true): row locks
-- are held for one batch only, progress is in custseg_kept_segments (and NOTICE lines), and a
-- stopped run resumes after its last committed batch when called again for the same version.
-- Why no SET search_path: PostgreSQL refuses COMMIT in a procedure with SET clauses. The body
-- therefore only calls custseg_rescore_batch (pinned, schema-qualified) and commits; it evaluates
-- no operator or unqualified function that a caller's search_path could replace.
CREATE PROCEDURE custseg_rescore(source regclass, model text DEFAULT NULL, batch_size integer DEFAULT 10000,
                                 "commit" boolean DEFAULT true, column_name text DEFAULT NULL)
LANGUAGE plpgsql SECURITY INVOKER
AS $fn$
BEGIN
    LOOP
        IF @extschema@.custseg_rescore_batch(source, model, batch_size, column_name) THEN
            EXIT;
        END IF;
        IF "commit" THEN
            COMMIT;
        END IF;
    END LOOP;
END
$fn$;
COMMENT ON PROCEDURE custseg_rescore(regclass, text, integer, boolean, text) IS
    'brings every kept segment of a table in line with the active model version, in committed batches, restartable';

-- The transition matrix between two versions of a model: how many rows of a table (by default the
-- later version's source) each version puts in each segment. One scan.
CREATE FUNCTION custseg_transitions(model text, from_version integer, to_version integer, source regclass DEFAULT NULL)
RETURNS TABLE (from_segment integer, to_segment integer, customers bigint, share float8, from_label text, to_label text)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
    a custseg_models;
    b custseg_models;
BEGIN
    IF model IS NULL OR from_version IS NULL OR to_version IS NULL THEN
        RAISE EXCEPTION 'model, from_version and to_version must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO a FROM custseg_models cm WHERE cm.name = custseg_transitions.model AND cm.version = from_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'custseg model "%" has no version %', model, from_version USING ERRCODE = '42704',
            HINT = 'see SELECT * FROM custseg_drift(...)';
    END IF;
    SELECT * INTO b FROM custseg_models cm WHERE cm.name = custseg_transitions.model AND cm.version = to_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'custseg model "%" has no version %', model, to_version USING ERRCODE = '42704',
            HINT = 'see SELECT * FROM custseg_drift(...)';
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT p.f, p.t, count(*), count(*)::float8 / sum(count(*)) OVER (PARTITION BY p.f),
               coalesce((SELECT l.label FROM @extschema@.custseg_segment_labels l
                         WHERE l.model = $3 AND l.version = $4 AND l.segment = p.f
                         ORDER BY l.recorded_at DESC LIMIT 1),
                        (SELECT s.label FROM @extschema@.custseg_segments s WHERE s.model = $3 AND s.segment = p.f)),
               coalesce((SELECT l.label FROM @extschema@.custseg_segment_labels l
                         WHERE l.model = $3 AND l.version = $5 AND l.segment = p.t
                         ORDER BY l.recorded_at DESC LIMIT 1),
                        (SELECT s.label FROM @extschema@.custseg_segments s WHERE s.model = $3 AND s.segment = p.t))
        FROM (SELECT @extschema@.custseg_predict($1, t) AS f, @extschema@.custseg_predict($2, t) AS t FROM %s AS t) p
        GROUP BY p.f, p.t ORDER BY p.f, p.t$q$, coalesce(source::text, b.source::regclass::text))
        USING a.model, b.model, model, from_version, to_version;
END
$fn$;
COMMENT ON FUNCTION custseg_transitions(text, integer, integer, regclass) IS
    'transition matrix between two versions of a model: rows per (segment under from_version, segment under to_version)';

-- Changed in place in the install script: training excludes kept segment columns; the views leave them out.
-- The options custseg_train and custseg_evaluate_k run with: arguments override the same keys in
-- options (a NULL argument defers to them); exclude defaults to the source's primary-key columns, and
-- always holds the source's kept segment columns (custseg_keep_segment), which are never features.
CREATE OR REPLACE FUNCTION custseg_training_options(source regclass, n_components integer, exclude text[], options jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $fn$
#variable_conflict use_variable
DECLARE
    opts jsonb := coalesce(options, '{}'::jsonb);
    excl text[] := '{}';
    keep text[] := '{}';
    why jsonb := '{}';
    col record;
    parts text := '';
    res jsonb;
    total bigint;
    st jsonb;
    key text;
BEGIN
    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = '22023';
    END IF;
    -- custseg_train has resolved the columns already when it calls custseg_evaluate_k to choose k.
    IF coalesce(current_setting('custseg.features_resolved', true), '') = 'on' THEN
        RETURN opts || '{"_excluded": {}}';
    END IF;
    IF opts ? 'n_components' THEN
        IF n_components IS NOT NULL AND n_components <> 2 AND opts -> 'n_components' IS DISTINCT FROM to_jsonb(n_components) THEN
            RAISE EXCEPTION 'n_components is given twice: % as an argument and % in options', n_components, opts -> 'n_components'
                USING ERRCODE = '22023',
                HINT = 'give it once; an argument left at its default (2) gives way to "n_components" in options';
        END IF;
    ELSE
        opts := opts || jsonb_build_object('n_components', n_components);
    END IF;
    -- The column lists, read as the core reads them (a wrong type is its error, or ours for "include").
    FOREACH key IN ARRAY ARRAY['exclude', 'categorical', 'numeric', 'include'] LOOP
        IF opts ? key AND opts -> key <> 'null' AND (jsonb_typeof(opts -> key) <> 'array' OR EXISTS (
                SELECT 1 FROM jsonb_array_elements(opts -> key) e WHERE jsonb_typeof(e) <> 'string')) THEN
            IF jsonb_typeof(opts -> key) = 'string' THEN
                RAISE EXCEPTION 'option "%" must be an array of column names', key USING ERRCODE = '22023',
                    HINT = format('write [%s], not %s', opts -> key, opts -> key);
            END IF;
            RAISE EXCEPTION 'option "%" must be an array of column names', key USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF jsonb_typeof(opts -> 'exclude') = 'array' THEN
        excl := ARRAY(SELECT jsonb_array_elements_text(opts -> 'exclude'));
    END IF;
    excl := ARRAY(SELECT u.e FROM unnest(excl || coalesce(exclude, '{}')) WITH ORDINALITY u(e, o)
                  GROUP BY u.e ORDER BY min(u.o));
    SELECT coalesce(jsonb_object_agg(e, 'excluded'), '{}') INTO why FROM unnest(excl) e;
    FOREACH key IN ARRAY ARRAY['include', 'categorical', 'numeric'] LOOP
        IF jsonb_typeof(opts -> key) = 'array' THEN
            keep := keep || ARRAY(SELECT jsonb_array_elements_text(opts -> key));
        END IF;
    END LOOP;
    FOR key IN SELECT k FROM unnest(ARRAY(SELECT jsonb_array_elements_text(coalesce(nullif(opts -> 'include', 'null'), '[]')))) k LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key
                       AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'column "%" named in option "include" does not exist', key USING ERRCODE = '42703',
                HINT = 'column names are case-sensitive and must match the table''s exactly';
        END IF;
    END LOOP;
    opts := opts - 'include';
    -- The primary key is never a feature unless asked for.
    FOR col IN SELECT a.attname::text AS name
               FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
               WHERE i.indrelid = source AND i.indisprimary ORDER BY a.attnum LOOP
        IF NOT col.name = ANY (excl) AND NOT col.name = ANY (keep) THEN
            excl := excl || col.name;
            why := why || jsonb_build_object(col.name, 'primary key');
        END IF;
    END LOOP;
    -- A kept segment column (custseg_keep_segment) is the model's output, never a feature.
    FOR col IN SELECT k.column_name AS name FROM custseg_kept_segments k
               WHERE to_regclass(k.source) = source ORDER BY k.column_name LOOP
        IF NOT col.name = ANY (excl) THEN
            excl := excl || col.name;
            why := why || jsonb_build_object(col.name, 'kept segment');
        END IF;
    END LOOP;
    -- One scan of at most 100,000 rows: distinct values of the candidate columns.
    FOR col IN SELECT a.attname::text AS name, a.attnum,
                      CASE WHEN b.base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype) THEN 'number'
                           WHEN b.base IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) OR (SELECT bt.typtype = 'e' FROM pg_type bt WHERE bt.oid = b.base) THEN 'text'
                           WHEN b.base = 'uuid'::regtype THEN 'uuid' END AS kind,
                      b.base = 'numeric'::regtype AS is_decimal
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
               -- A domain counts as its base type, as in training.
               CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END::regtype AS base) b
               WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND NOT a.attname::text = ANY (excl)
               ORDER BY a.attnum LOOP
        IF col.kind IS NULL AND NOT col.name = ANY (keep) THEN
            CONTINUE;
        END IF;
        -- Whole numbers, text and uuids can be identifiers (floats are measurements); a column of
        -- another type is here only when forced categorical, and compared as text.
        -- One small object per column, joined by ||: a function takes at most 100 arguments.
        parts := parts || format(' || jsonb_build_object(%L, jsonb_build_object(''n'', count(t.%I), ''distinct'', count(DISTINCT t.%I%s)%s))',
                                 col.name, col.name, col.name, CASE WHEN col.kind IS NULL THEN '::text' ELSE '' END,
                                 CASE WHEN col.kind = 'number' AND col.is_decimal THEN format(
                                     ', ''integral'', bool_and(t.%I = trunc(t.%I)), ''span'', max(t.%I) - min(t.%I) + 1',
                                     col.name, col.name, col.name, col.name)
                                      WHEN col.kind = 'number' THEN format(
                                     ', ''integral'', true, ''span'', max(t.%I)::numeric - min(t.%I)::numeric + 1', col.name, col.name)
                                      ELSE '' END);
    END LOOP;
    IF parts <> '' THEN
        EXECUTE format('SELECT count(*), ''{}''::jsonb%s FROM (SELECT * FROM %s LIMIT 100000) AS t',
                       parts, source) INTO total, res;
        FOR col IN SELECT a.attname::text AS name,
                          CASE WHEN b.base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype) THEN 'number'
                               WHEN b.base IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) OR (SELECT bt.typtype = 'e' FROM pg_type bt WHERE bt.oid = b.base) THEN 'text'
                               WHEN b.base = 'uuid'::regtype THEN 'uuid' END AS kind
                   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                   CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END::regtype AS base) b
                   WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND res ? a.attname::text
                   ORDER BY a.attnum LOOP
            st := res -> col.name;
            -- An identifier: a value in every row, a different one in each, and text (or a uuid), or
            -- whole numbers that are named like an id or run without gaps (1, 2, ..., n).
            IF NOT col.name = ANY (keep) AND custseg_looks_like_identifier(col.name, col.kind, (st ->> 'n')::bigint,
                   (st ->> 'distinct')::bigint, (st ->> 'integral')::boolean, (st ->> 'span')::numeric, total) THEN
                excl := excl || col.name;
                why := why || jsonb_build_object(col.name, 'identifier');
                RAISE NOTICE 'column "%" looks like an identifier (a different value in each of % rows) and is not a feature', col.name, total
                    USING HINT = format('name it in "include" to use it anyway: {"include": [%s]}', to_jsonb(col.name));
            ELSIF (col.kind = 'text' AND NOT col.name = ANY (ARRAY(SELECT jsonb_array_elements_text(coalesce(nullif(opts -> 'numeric', 'null'), '[]')))))
                  OR col.name = ANY (ARRAY(SELECT jsonb_array_elements_text(coalesce(nullif(opts -> 'categorical', 'null'), '[]')))) THEN
                IF (st ->> 'distinct')::bigint > 50 THEN
                    RAISE NOTICE 'categorical column "%" has % distinct values%: it becomes as many one-hot columns', col.name,
                                 st ->> 'distinct', CASE WHEN total = 100000 THEN ' in the first 100000 rows' ELSE '' END
                        USING HINT = 'exclude it, or group its values into fewer categories in a view';
                END IF;
            END IF;
        END LOOP;
    END IF;
    -- The value column is checked and quantile clipping resolved (a first pass) here too.
    RETURN custseg_resolve_options(source, opts || jsonb_build_object('exclude', to_jsonb(excl), '_excluded', why));
END
$fn$;
COMMENT ON FUNCTION custseg_training_options(regclass, integer, text[], jsonb) IS
    'the options custseg_train and custseg_evaluate_k use, and the columns they leave out: primary key, identifiers, exclude';


-- Views of the source rows with their segment and label, and one row per row x current offer. A kept
-- segment column of the source (custseg_keep_segment) is left out: the view's segment replaces it.




-- ---- 0.3.0: resilience ----
-- custseg_create_views: its new definition is in the section above that first changed it.

-- ---- 0.3.0: more ways to segment (gmm, hierarchical, dbscan), the merge tree and outliers ----

CREATE FUNCTION custseg_cut(model custseg_model, k integer) RETURNS custseg_model
    AS 'MODULE_PATHNAME', 'custseg_model_cut' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_cut(custseg_model, integer) IS
    'a hierarchical model cut into k segments from its stored merge tree, without a scan';
CREATE FUNCTION custseg_model_tree(model custseg_model) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'custseg_model_tree' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_model_tree(custseg_model) IS
    'the stored merge tree of a hierarchical model as a JSON array of nodes';
CREATE FUNCTION custseg_tree(model custseg_model)
RETURNS TABLE (node integer, parent integer, height float8, size bigint, segment integer, children integer[])
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
    SELECT (n ->> 'node')::integer, (n ->> 'parent')::integer, (n ->> 'height')::float8, (n ->> 'size')::bigint,
           (n ->> 'segment')::integer,
           CASE WHEN n -> 'children' <> 'null' THEN
               ARRAY[(n -> 'children' ->> 0)::integer, (n -> 'children' ->> 1)::integer] END
    FROM jsonb_array_elements(custseg_model_tree(model)) n
$fn$;
COMMENT ON FUNCTION custseg_tree(custseg_model) IS
    'the merge tree of a hierarchical model: per node its parent, Ward height, rows, and segment at the model''s k';
CREATE FUNCTION custseg_kdistance_state(state bytea, min_samples integer) RETURNS jsonb
    AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_kdistance_state(bytea, integer) IS
    'dbscan''s k-distance curve (at every percentile) and its knee, from the state of custseg_fit_state';
CREATE FUNCTION custseg_kdistance(source regclass, min_samples integer DEFAULT 5, n_components integer DEFAULT 2,
                                  exclude text[] DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS TABLE (percentile integer, distance float8, is_knee boolean)
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    opts jsonb;
    state bytea;
    res jsonb;
BEGIN
    IF source IS NULL OR min_samples IS NULL THEN
        RAISE EXCEPTION 'source and min_samples must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- The rows dbscan would cluster with these options: the same preprocessing and sample.
    opts := custseg_training_options(source, n_components, exclude, coalesce(options, '{}'))
            - '_excluded' - 'eps' - 'min_samples' - 'k';
    IF coalesce(opts ->> 'method', 'dbscan') <> 'dbscan' THEN
        RAISE EXCEPTION 'custseg_kdistance is for method "dbscan", not "%"', opts ->> 'method' USING ERRCODE = '22023';
    END IF;
    opts := opts || '{"method": "dbscan"}';
    EXECUTE custseg_fit_state_query(source, opts) INTO state USING opts;
    IF state IS NULL THEN
        RAISE EXCEPTION '% has no rows', source USING ERRCODE = '22000';
    END IF;
    res := custseg_kdistance_state(state, min_samples);
    RETURN QUERY
    SELECT q.p::integer, (res -> 'curve' ->> q.p::integer)::float8, false
    FROM generate_series(0, 100) q(p)
    UNION ALL
    SELECT round(100 * (res ->> 'knee_quantile')::float8)::integer, (res ->> 'knee')::float8, true
    ORDER BY 1, 3;
END
$fn$;
COMMENT ON FUNCTION custseg_kdistance(regclass, integer, integer, text[], jsonb) IS
    'dbscan''s k-distance curve of a table (each clustered row''s distance to its min_samples-th nearest row, by percentile) and its knee, the eps training takes by default';
-- The rows the planner expects a scan of the table to read: the rows per page of its last VACUUM
-- or ANALYZE times its pages now (so the rows added since count), summed over a partitioned
-- table's partitions; partitions never analyzed count none. NULL for a table that was never
-- analyzed, a view, a foreign table, and a table with row security (a role may see fewer rows).
CREATE FUNCTION custseg_estimated_rows(source regclass) RETURNS float8
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT sum(c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::float8))
    FROM pg_class c
    WHERE c.oid IN (SELECT source UNION SELECT t.relid FROM pg_partition_tree(source) t WHERE t.isleaf)
      AND c.relkind IN ('r', 'm') AND c.reltuples >= 0 AND c.relpages > 0
      AND NOT (SELECT relrowsecurity FROM pg_class WHERE oid = source)
$fn$;
COMMENT ON FUNCTION custseg_estimated_rows(regclass) IS
    'the rows the planner expects a scan of the table to read (NULL when it has no estimate)';
CREATE FUNCTION custseg_sample_threshold(source regclass, options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
DECLARE
    n numeric;
    s numeric;
    distinct_rows float8;
BEGIN
    -- Options of the wrong type are left to the fit, whose message names them.
    IF options -> 'dedupe' = 'true' OR options -> 'k' = 'null'
       OR (options ? 'sample_size' AND jsonb_typeof(options -> 'sample_size') <> 'number') THEN
        RETURN options;
    END IF;
    s := coalesce((options ->> 'sample_size')::numeric,
                  CASE WHEN options ->> 'method' IN ('hierarchical', 'dbscan') THEN 10000 ELSE 100000 END);
    IF s < 1 THEN
        RETURN options;
    END IF;
    IF custseg_citus_table(source) THEN
        EXECUTE format('SELECT count(*) FROM %s', source) INTO n;
    ELSE
        -- The planner's estimate, which may be stale: a bound for half the rows it counts. The
        -- sample holds distinct feature rows, no more of them than the product of the columns'
        -- numbers of distinct values (ANALYZE's n_distinct, NULL counted as one more): rows that
        -- repeat bound it by that product instead, and a column without statistics leaves the
        -- table unbounded (the bound would otherwise keep too few distinct rows, and every
        -- training would scan twice).
        n := custseg_estimated_rows(source);
        IF n IS NULL THEN
            RETURN options;
        END IF;
        SELECT CASE WHEN bool_and(st.attname IS NOT NULL)
                    THEN exp(least(700, sum(ln(greatest(1, CASE WHEN st.n_distinct >= 0 THEN st.n_distinct::float8
                                                                 ELSE -st.n_distinct * n::float8 END)
                                               + CASE WHEN st.null_frac > 0 THEN 1 ELSE 0 END)))) END
        INTO distinct_rows
        FROM pg_class c
        JOIN pg_namespace ns ON ns.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_stats st ON st.schemaname = ns.nspname AND st.tablename = c.relname
                             AND st.attname = a.attname AND st.inherited = (c.relkind = 'p')
        WHERE c.oid = source AND NOT coalesce((options -> 'exclude') ? a.attname::text, false);
        IF distinct_rows IS NULL THEN
            RETURN options;
        END IF;
        n := least(n, distinct_rows::numeric) / 2;
    END IF;
    IF n IS NULL OR n < 2 * s THEN
        RETURN options;
    END IF;
    RETURN options || jsonb_build_object('_sample_threshold',
        floor(least(1, (1.1 * s + 10 * sqrt(s)) / n) * 18446744073709551615::numeric)::text);
END
$fn$;
COMMENT ON FUNCTION custseg_sample_threshold(regclass, jsonb) IS
    'training options with the sample threshold that keeps each Citus shard, parallel worker or scan to about its share of the sample';
CREATE FUNCTION custseg_fit_state_query(source regclass, options jsonb) RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
BEGIN
    RETURN format('SELECT %s FROM %s AS t',
                  CASE WHEN NOT custseg_citus_table(source)
                       THEN coalesce('custseg_fit_values_state($1, ' || custseg_fit_columns_args(source, options, true, true) || ')',
                                     'custseg_fit_columns_state(' || custseg_fit_columns_args(source, options, true) || ', $1)',
                                     'custseg_fit_state(t.*, $1)')
                       ELSE coalesce('custseg_fit_columns_state(' || custseg_fit_columns_args(source, options) || ', $1)',
                                     'custseg_fit_state(to_jsonb(t.*), $1)') END, source);
END
$fn$;
COMMENT ON FUNCTION custseg_fit_state_query(regclass, jsonb) IS
    'the statement that scans a table into a training state, as custseg_train reads it';
CREATE FUNCTION custseg_outliers(source regclass, model text)
RETURNS TABLE ("row" jsonb, segment integer, label text, distance float8, confidence float8, reason text)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
    IF source IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'source and model must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- custseg_score looks the model up (42704 when there is none) and flags each row.
    RETURN QUERY EXECUTE format($q$
        SELECT to_jsonb(t.*), s.segment, s.label, s.distance, s.confidence, s.reason
        FROM %s AS t CROSS JOIN LATERAL @extschema@.custseg_score(t.*, $1) s
        WHERE s.outlier
        ORDER BY s.segment NULLS FIRST, s.distance DESC
    $q$, source) USING model;
END
$fn$;
COMMENT ON FUNCTION custseg_outliers(regclass, text) IS
    'the rows of a table that the named model flags as outliers (dbscan: noise), with their scores';

-- The views saved at the top of this script, created again as they were.
DO $do$
DECLARE
    v jsonb;
    g jsonb;
    c record;
    kind text;
BEGIN
    FOR v IN SELECT e FROM jsonb_array_elements(coalesce(nullif(current_setting('custseg_upgrade.saved_views', true), ''),
                                                          '[]')::jsonb) e LOOP
        kind := CASE WHEN v ->> 'kind' = 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END;
        EXECUTE format('CREATE %s %I.%I%s AS %s%s', kind, v ->> 'schema', v ->> 'name',
                       CASE WHEN jsonb_typeof(v -> 'options') = 'array'
                            THEN format(' WITH (%s)', (SELECT string_agg(o, ', ') FROM jsonb_array_elements_text(v -> 'options') o))
                            ELSE '' END,
                       rtrim(v ->> 'def', '; '),
                       CASE WHEN v ->> 'kind' = 'm' AND NOT (v ->> 'populated')::boolean THEN ' WITH NO DATA' ELSE '' END);
        -- A user's view, not a member of the extension (DROP EXTENSION must not take it silently).
        EXECUTE format('ALTER EXTENSION custseg DROP %s %I.%I', kind, v ->> 'schema', v ->> 'name');
        FOR g IN SELECT * FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v -> 'indexes') = 'array' THEN v -> 'indexes' ELSE '[]' END) LOOP
            EXECUTE g #>> '{}';
        END LOOP;
        EXECUTE format('ALTER %s %I.%I OWNER TO %I', kind, v ->> 'schema', v ->> 'name', v ->> 'owner');
        IF jsonb_typeof(v -> 'acl') = 'array' THEN
            EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC, %I', v ->> 'schema', v ->> 'name', v ->> 'owner');
            FOR g IN SELECT * FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v -> 'grants') = 'array' THEN v -> 'grants' ELSE '[]' END) LOOP
                EXECUTE format('GRANT %s ON %I.%I TO %s%s', g ->> 'privilege', v ->> 'schema', v ->> 'name',
                               CASE WHEN (g ->> 'grantee')::oid = 0 THEN 'PUBLIC'
                                    ELSE quote_ident(pg_get_userbyid((g ->> 'grantee')::oid)) END,
                               CASE WHEN (g ->> 'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
            END LOOP;
        END IF;
        IF v ->> 'comment' IS NOT NULL THEN
            EXECUTE format('COMMENT ON %s %I.%I IS %L', kind, v ->> 'schema', v ->> 'name', v ->> 'comment');
        END IF;
        FOR c IN SELECT * FROM jsonb_each_text(CASE WHEN jsonb_typeof(v -> 'col_comments') = 'object' THEN v -> 'col_comments' ELSE '{}' END) LOOP
            EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', v ->> 'schema', v ->> 'name', c.key, c.value);
        END LOOP;
    END LOOP;
END
$do$;
