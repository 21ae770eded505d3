-- custseg 0.1.0 -> 0.2.0 (ALTER EXTENSION custseg UPDATE TO '0.2.0').
-- Every change made to sql/custseg--0.2.0.sql since 0.1.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.2.0'" to load this file. \quit

-- Backends cache the lookups of custseg_predict(row, name) and custseg_predict(row); any change to
-- the registry tables tells every backend to drop them (see README: scoring by name).
CREATE FUNCTION custseg_registry_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'custseg_registry_changed' LANGUAGE C;
CREATE TRIGGER custseg_models_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custseg_models
    FOR EACH STATEMENT EXECUTE FUNCTION custseg_registry_changed();
CREATE TRIGGER custseg_segments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custseg_segments
    FOR EACH STATEMENT EXECUTE FUNCTION custseg_registry_changed();
