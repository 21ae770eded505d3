-- custseg 0.2.0 -> 0.3.0 (ALTER EXTENSION custseg UPDATE TO '0.3.0').
-- Every change made to sql/custseg--0.3.0.sql since 0.2.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.3.0'" to load this file. \quit

-- ---- 0.3.0: an analyst's own data (features, labels, transforms, model equality) ----

-- ---- 0.3.0: PostgreSQL 17 and 18 ----

-- ---- 0.3.0: speed (input forms, sparse one-hot) ----

-- ---- 0.3.0: Citus (distributed training and scoring, model-as-value forms) ----

-- ---- 0.3.0: customers in motion (RFM, kept segments, transitions) ----

-- ---- 0.3.0: resilience ----
-- Views of the source rows with their segment and label, and one row per row x current offer.
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
    -- The segment and its label come from one lookup (custseg_score), so that a row never has the
    -- segment of one version and the label of another: scoring reads the latest committed version,
    -- while a join of custseg_segments would read the statement's snapshot.
    EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS
                    SELECT t.*, p.segment, p.label
                    FROM %s t
                    CROSS JOIN LATERAL (SELECT s.segment, s.label FROM %I.custseg_score(t, %L) s) p',
                   nsp, v1, source, '@extschema@', model);
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
COMMENT ON FUNCTION custseg_create_views(regclass, text, text) IS
    'creates <view_name> (source rows + segment + label) and <view_name>_offers (one row per row x current offer)';
