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
