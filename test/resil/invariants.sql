-- What must hold in the resilience database after a crash, a restart or a day of mixed load;
-- raises an error naming the first violation. psql variable :expect_fingerprint, when not empty, is
-- the registry's fingerprint (resil.fingerprint()) that must be found; :check_labels = off skips
-- the user's label (a day of retraining may let its segment vanish, which removes it, as documented).
--   * no half-written version: every stored model reads back (text form and JSON), versions of a
--     name are 1..n;
--   * exactly one active version per name;
--   * the segments of every k-means model are those of its active version: the same numbers, the
--     active version's number in `version`, and sizes equal to what the active version scores on
--     its source now;
--   * every model scores its source (mall_old, whose source lost a column, fails with 42703, as
--     before; the scaler-only model transforms);
--   * labels and offers: the user's label is kept (label_generated false).
CREATE SCHEMA IF NOT EXISTS resil;
CREATE OR REPLACE FUNCTION resil.fingerprint() RETURNS text LANGUAGE sql AS $$
SELECT md5(coalesce((SELECT string_agg(format('%s/%s/%s/%s', name, version, active, md5(model::text)), ',' ORDER BY name, version)
                     FROM custseg_models), '') || '|' ||
           coalesce((SELECT string_agg(format('%s/%s/%s/%s/%s/%s', model, segment, label, label_generated, version, size), ','
                                       ORDER BY model, segment) FROM custseg_segments), '') || '|' ||
           coalesce((SELECT string_agg(format('%s/%s/%s/%s/%s', offer_id, model, segment, title, enabled), ',' ORDER BY offer_id)
                     FROM custseg_offers), ''))
$$;
SELECT set_config('resil.check_labels', coalesce(nullif(:'check_labels', ''), 'on'), false) \g /dev/null
DO $check$
DECLARE
    r record;
    n bigint;
    scored bigint;
BEGIN
    -- Stored models read back, text and JSON.
    SELECT count(*) INTO n FROM custseg_models WHERE custseg_model_json(model) IS NULL OR model::text::custseg_model IS NULL;
    IF n > 0 THEN RAISE EXCEPTION 'invariant: % stored models do not read back', n; END IF;
    FOR r IN SELECT name, count(*) AS versions, max(version) AS top, count(*) FILTER (WHERE active) AS active
             FROM custseg_models GROUP BY name LOOP
        IF r.versions <> r.top THEN
            RAISE EXCEPTION 'invariant: model "%" has % versions numbered up to %', r.name, r.versions, r.top;
        END IF;
        IF r.active <> 1 THEN
            RAISE EXCEPTION 'invariant: model "%" has % active versions', r.name, r.active;
        END IF;
    END LOOP;
    FOR r IN SELECT m.name, m.version, m.source, custseg_model_json(m.model) AS j FROM custseg_models m WHERE m.active LOOP
        IF r.j -> 'kmeans' = 'null' THEN
            EXECUTE format('SELECT count(*) FROM %s t WHERE custseg_transform($1, t) IS NULL', r.source) INTO n
                USING (SELECT model FROM custseg_models WHERE name = r.name AND active);
            IF n > 0 THEN RAISE EXCEPTION 'invariant: model "%" does not transform % rows', r.name, n; END IF;
            CONTINUE;
        END IF;
        IF (SELECT array_agg(segment ORDER BY segment) FROM custseg_segments WHERE model = r.name) IS DISTINCT FROM
           (SELECT array_agg(s::integer ORDER BY s::integer) FROM jsonb_array_elements_text(r.j #> '{kmeans,segments}') s) THEN
            RAISE EXCEPTION 'invariant: the segments of "%" are not those of its active version %', r.name, r.version;
        END IF;
        IF EXISTS (SELECT 1 FROM custseg_segments WHERE model = r.name AND version IS DISTINCT FROM r.version) THEN
            RAISE EXCEPTION 'invariant: segments of "%" describe another version than the active %', r.name, r.version;
        END IF;
        BEGIN
            EXECUTE format('SELECT count(*) FROM %s t WHERE custseg_predict(t, $1) IS NULL', r.source) INTO n USING r.name;
        EXCEPTION WHEN undefined_column THEN
            IF r.name = 'mall_old' THEN CONTINUE; END IF;
            RAISE;
        END;
        IF r.name = 'mall_old' THEN
            RAISE EXCEPTION 'invariant: mall_old scores although its source lost a column';
        END IF;
        IF n > 0 THEN RAISE EXCEPTION 'invariant: model "%" leaves % rows unscored', r.name, n; END IF;
        -- Sizes: what the active version scores on its source now.
        EXECUTE format('SELECT count(*) FROM (SELECT custseg_predict(t, $1) AS segment, count(*) AS n FROM %s t GROUP BY 1) p
                        FULL JOIN (SELECT segment, size FROM custseg_segments WHERE model = $1 AND size > 0) s USING (segment)
                        WHERE p.n IS DISTINCT FROM s.size', r.source) INTO n USING r.name;
        IF n > 0 THEN RAISE EXCEPTION 'invariant: % segment sizes of "%" differ from its active version''s scores', n, r.name; END IF;
    END LOOP;
    IF current_setting('resil.check_labels') = 'on' AND
       NOT EXISTS (SELECT 1 FROM custseg_segments WHERE model = 'mall' AND label = 'VIP "gold" customers' AND NOT label_generated) THEN
        RAISE EXCEPTION 'invariant: the user''s label of mall segment 1 is lost';
    END IF;
    IF (SELECT count(*) FROM custseg_offers) < 3 THEN
        RAISE EXCEPTION 'invariant: offers are lost';
    END IF;
END
$check$;
SELECT CASE WHEN :'expect_fingerprint' = '' OR resil.fingerprint() = :'expect_fingerprint' THEN 'invariants: ok'
            ELSE 'invariants: the registry changed: ' || resil.fingerprint() || ' instead of ' || :'expect_fingerprint' END AS result;
