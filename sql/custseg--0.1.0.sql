-- custseg 0.1.0: the model type, the custseg_fit aggregate and scoring.
\echo Use "CREATE EXTENSION custseg" to load this file. \quit

-- The fitted pipeline. Text form: JSON that round-trips exactly; binary form: a versioned flat layout.
CREATE TYPE custseg_model;

CREATE FUNCTION custseg_model_in(cstring) RETURNS custseg_model
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_out(custseg_model) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_recv(internal) RETURNS custseg_model
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_model_send(custseg_model) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE custseg_model (
    INPUT = custseg_model_in,
    OUTPUT = custseg_model_out,
    RECEIVE = custseg_model_recv,
    SEND = custseg_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE custseg_model IS
    'a fitted custseg pipeline: feature spec, scaler, optional PCA, optional k-means, training metadata';

CREATE FUNCTION custseg_model_json(custseg_model) RETURNS jsonb
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_model_json(custseg_model) IS
    'the model as jsonb: features, scaler, PCA, centroids, training metrics and options';

-- Training: custseg_fit(row, options) runs the whole pipeline in one scan. The state is a bytea
-- (not internal) so that partial aggregation works in parallel plans and on Citus workers.
CREATE FUNCTION custseg_fit_transfn(bytea, record, jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_fit_transfn(bytea, record) RETURNS bytea
    AS 'MODULE_PATHNAME', 'custseg_fit_transfn' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_fit_combinefn(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION custseg_fit_finalfn(bytea) RETURNS custseg_model
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_fit_transfn(bytea, record, jsonb) IS 'custseg_fit transition: adds one row to the state';
COMMENT ON FUNCTION custseg_fit_transfn(bytea, record) IS 'custseg_fit transition: adds one row to the state';
COMMENT ON FUNCTION custseg_fit_combinefn(bytea, bytea) IS 'custseg_fit combine: merges two partial states';
COMMENT ON FUNCTION custseg_fit_finalfn(bytea) IS 'custseg_fit final: scaler, PCA, k-means and metrics';

CREATE AGGREGATE custseg_fit(record, jsonb) (
    SFUNC = custseg_fit_transfn,
    STYPE = bytea,
    FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE custseg_fit(record, jsonb) IS
    'fits scaler + one-hot encoding, optional PCA and optional k-means over the rows, in one scan';

CREATE AGGREGATE custseg_fit(record) (
    SFUNC = custseg_fit_transfn,
    STYPE = bytea,
    FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE custseg_fit(record) IS
    'fits the default pipeline (k = 3, n_components = 2) over the rows, in one scan';

-- Scoring in place.
CREATE FUNCTION custseg_predict(model custseg_model, "row" record) RETURNS integer
    AS 'MODULE_PATHNAME', 'custseg_predict_model_record' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_predict(custseg_model, record) IS
    'the segment of a row under a model; columns are matched by name';
CREATE FUNCTION custseg_predict(model custseg_model, x float8[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'custseg_predict_model_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_predict(custseg_model, float8[]) IS
    'the segment of a vector under a model whose features are all numeric (e.g. from custseg_kmeans_fit)';

CREATE FUNCTION custseg_transform(model custseg_model, "row" record) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'custseg_transform_record' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_transform(custseg_model, record) IS
    'a row encoded, imputed, scaled and (with PCA) projected: the input of the next stage';
CREATE FUNCTION custseg_transform(model custseg_model, x float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'custseg_transform_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_transform(custseg_model, float8[]) IS
    'a vector scaled and (with PCA) projected by a model whose features are all numeric';

-- The jsonb forms of custseg_fit: for rows that cannot travel as a whole-row value (Citus workers
-- see shard row types). Columns are the object's keys.
CREATE FUNCTION custseg_fit_jsonb_transfn(bytea, jsonb, jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_fit_jsonb_transfn(bytea, jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME', 'custseg_fit_jsonb_transfn' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_fit_jsonb_transfn(bytea, jsonb, jsonb) IS 'custseg_fit(jsonb) transition';
COMMENT ON FUNCTION custseg_fit_jsonb_transfn(bytea, jsonb) IS 'custseg_fit(jsonb) transition';
CREATE AGGREGATE custseg_fit(jsonb, jsonb) (
    SFUNC = custseg_fit_jsonb_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_fit(jsonb) (
    SFUNC = custseg_fit_jsonb_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
COMMENT ON AGGREGATE custseg_fit(jsonb, jsonb) IS 'custseg_fit over jsonb objects (e.g. to_jsonb(t))';
COMMENT ON AGGREGATE custseg_fit(jsonb) IS 'custseg_fit over jsonb objects with default options';

-- Stage aggregates that compose with custseg_transform.
CREATE FUNCTION custseg_scaler_fit_transfn(bytea, record, jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_scaler_fit_transfn(bytea, record) RETURNS bytea
    AS 'MODULE_PATHNAME', 'custseg_scaler_fit_transfn' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_scaler_fit_jsonb_transfn(bytea, jsonb, jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_scaler_fit_jsonb_transfn(bytea, jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME', 'custseg_scaler_fit_jsonb_transfn' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_pca_fit_transfn(bytea, float8[], integer) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_kmeans_fit_transfn(bytea, float8[], integer, jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION custseg_kmeans_fit_transfn(bytea, float8[], integer) RETURNS bytea
    AS 'MODULE_PATHNAME', 'custseg_kmeans_fit_transfn' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION custseg_scaler_fit_transfn(bytea, record, jsonb) IS 'custseg_scaler_fit transition';
COMMENT ON FUNCTION custseg_scaler_fit_transfn(bytea, record) IS 'custseg_scaler_fit transition';
COMMENT ON FUNCTION custseg_scaler_fit_jsonb_transfn(bytea, jsonb, jsonb) IS 'custseg_scaler_fit(jsonb) transition';
COMMENT ON FUNCTION custseg_scaler_fit_jsonb_transfn(bytea, jsonb) IS 'custseg_scaler_fit(jsonb) transition';
COMMENT ON FUNCTION custseg_pca_fit_transfn(bytea, float8[], integer) IS 'custseg_pca_fit transition';
COMMENT ON FUNCTION custseg_kmeans_fit_transfn(bytea, float8[], integer, jsonb) IS 'custseg_kmeans_fit transition';
COMMENT ON FUNCTION custseg_kmeans_fit_transfn(bytea, float8[], integer) IS 'custseg_kmeans_fit transition';

CREATE AGGREGATE custseg_scaler_fit(record, jsonb) (
    SFUNC = custseg_scaler_fit_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_scaler_fit(record) (
    SFUNC = custseg_scaler_fit_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_scaler_fit(jsonb, jsonb) (
    SFUNC = custseg_scaler_fit_jsonb_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_scaler_fit(jsonb) (
    SFUNC = custseg_scaler_fit_jsonb_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_pca_fit(float8[], integer) (
    SFUNC = custseg_pca_fit_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_kmeans_fit(float8[], integer, jsonb) (
    SFUNC = custseg_kmeans_fit_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
CREATE AGGREGATE custseg_kmeans_fit(float8[], integer) (
    SFUNC = custseg_kmeans_fit_transfn, STYPE = bytea, FINALFUNC = custseg_fit_finalfn,
    COMBINEFUNC = custseg_fit_combinefn, PARALLEL = SAFE);
COMMENT ON AGGREGATE custseg_scaler_fit(record, jsonb) IS 'preprocessing only: one-hot encoding, imputation, scaling';
COMMENT ON AGGREGATE custseg_scaler_fit(record) IS 'preprocessing only, default options';
COMMENT ON AGGREGATE custseg_scaler_fit(jsonb, jsonb) IS 'preprocessing only, over jsonb objects';
COMMENT ON AGGREGATE custseg_scaler_fit(jsonb) IS 'preprocessing only, over jsonb objects, default options';
COMMENT ON AGGREGATE custseg_pca_fit(float8[], integer) IS 'PCA of vectors (unscaled), n_components kept';
COMMENT ON AGGREGATE custseg_kmeans_fit(float8[], integer, jsonb) IS 'k-means of vectors (unscaled) with k segments';
COMMENT ON AGGREGATE custseg_kmeans_fit(float8[], integer) IS 'k-means of vectors (unscaled), default options';

-- The model registry: every trained version, at most one active per name (enforced by an index).
CREATE TABLE custseg_models (
    name text NOT NULL CHECK (name <> ''),
    version integer NOT NULL CHECK (version > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    source text NOT NULL,
    options jsonb NOT NULL DEFAULT '{}',
    metrics jsonb NOT NULL DEFAULT '{}',
    model custseg_model NOT NULL,
    active boolean NOT NULL DEFAULT false,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX custseg_models_one_active ON custseg_models (name) WHERE active;
SELECT pg_catalog.pg_extension_config_dump('custseg_models', '');
COMMENT ON TABLE custseg_models IS 'trained custseg models: every version, at most one active per name';
COMMENT ON COLUMN custseg_models.source IS 'the table or view trained on, as a qualified name';
COMMENT ON COLUMN custseg_models.options IS 'the normalized options used';
COMMENT ON COLUMN custseg_models.metrics IS 'rows seen, skipped, used and clustered, inertia, silhouette, explained variance, iterations, duration';
COMMENT ON COLUMN custseg_models.active IS 'the version custseg_predict uses for this name';

-- Trains a new version of a named model on a table, registers it, and (by default) activates it.
CREATE FUNCTION custseg_train(name text, source regclass, k integer DEFAULT 3, n_components integer DEFAULT 2,
                              exclude text[] DEFAULT NULL, options jsonb DEFAULT '{}', activate boolean DEFAULT true)
RETURNS custseg_models
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = @extschema@, pg_catalog
AS $fn$
#variable_conflict use_variable
DECLARE
    opts jsonb := coalesce(options, '{}'::jsonb);
    started timestamptz := clock_timestamp();
    excl text[];
    m custseg_model;
    j jsonb;
    v integer;
    result custseg_models;
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'model name must not be empty' USING ERRCODE = '22023';
    END IF;
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = '22023';
    END IF;
    -- Arguments override the same keys in options; a NULL argument defers to options.
    IF k IS NOT NULL THEN
        opts := opts || jsonb_build_object('k', k);
    ELSIF NOT opts ? 'k' THEN
        RAISE EXCEPTION 'choosing k automatically is not available in this version'
            USING ERRCODE = '0A000', HINT = 'pass k => 3, or "k" in options';
    END IF;
    IF n_components IS NOT NULL THEN
        opts := opts || jsonb_build_object('n_components', n_components);
    ELSIF NOT opts ? 'n_components' THEN
        opts := opts || '{"n_components": null}';
    END IF;
    IF exclude IS NOT NULL THEN
        opts := opts || jsonb_build_object('exclude', to_jsonb(exclude));
    ELSIF NOT opts ? 'exclude' THEN
        -- By default the primary key columns are not features.
        SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}') INTO excl
        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = source AND i.indisprimary;
        opts := opts || jsonb_build_object('exclude', to_jsonb(excl));
    END IF;

    EXECUTE format('SELECT custseg_fit(t, $1) FROM %s AS t', source) INTO m USING opts;
    IF m IS NULL THEN
        RAISE EXCEPTION 'cannot train model "%": % has no rows', name, source USING ERRCODE = '22000';
    END IF;
    j := custseg_model_json(m);

    -- Versions of one name are numbered and activated one at a time; training itself runs unlocked.
    PERFORM pg_advisory_xact_lock(hashtextextended('custseg_models:' || name, 0));
    SELECT coalesce(max(cm.version), 0) + 1 INTO v FROM custseg_models cm WHERE cm.name = custseg_train.name;
    IF activate THEN
        UPDATE custseg_models cm SET active = false WHERE cm.name = custseg_train.name AND cm.active;
    END IF;
    INSERT INTO custseg_models (name, version, source, options, metrics, model, active)
    VALUES (name, v,
            (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = source),
            j -> 'options',
            (j -> 'training') || jsonb_build_object(
                'explained_variance_ratio', j #> '{pca,explained_variance_ratio}',
                'duration_ms', round(extract(epoch FROM clock_timestamp() - started)::numeric * 1000, 1)),
            m, activate)
    RETURNING * INTO result;
    RETURN result;
END
$fn$;
COMMENT ON FUNCTION custseg_train(text, regclass, integer, integer, text[], jsonb, boolean) IS
    'trains a new version of a named model on a table, stores it in custseg_models and activates it';

-- Makes one version the active one (roll back or forward).
CREATE FUNCTION custseg_activate(name text, version integer) RETURNS custseg_models
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = @extschema@, pg_catalog
AS $fn$
#variable_conflict use_variable
DECLARE
    result custseg_models;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('custseg_models:' || name, 0));
    IF NOT EXISTS (SELECT 1 FROM custseg_models cm WHERE cm.name = custseg_activate.name AND cm.version = custseg_activate.version) THEN
        RAISE EXCEPTION 'custseg model "%" has no version %', name, version USING ERRCODE = '42704',
            HINT = 'see SELECT name, version, active FROM custseg_models';
    END IF;
    UPDATE custseg_models cm SET active = false
    WHERE cm.name = custseg_activate.name AND cm.active AND cm.version <> custseg_activate.version;
    UPDATE custseg_models cm SET active = true
    WHERE cm.name = custseg_activate.name AND cm.version = custseg_activate.version
    RETURNING * INTO result;
    RETURN result;
END
$fn$;
COMMENT ON FUNCTION custseg_activate(text, integer) IS 'makes one stored version of a model the active one';
