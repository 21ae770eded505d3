-- custseg 0.2.0 -> 0.3.0 (ALTER EXTENSION custseg UPDATE TO '0.3.0').
-- Every change made to sql/custseg--0.3.0.sql since 0.2.0 is repeated here, so that an updated
-- installation and a fresh one have the same objects (test/lifecycle checks this).
\echo Use "ALTER EXTENSION custseg UPDATE TO '0.3.0'" to load this file. \quit

-- ---- 0.3.0: an analyst's own data (features, labels, transforms, model equality) ----

-- ---- 0.3.0: PostgreSQL 17 and 18 ----

-- ---- 0.3.0: speed (input forms, sparse one-hot) ----

-- ---- 0.3.0: Citus (distributed training and scoring, model-as-value forms) ----

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

-- Whether the current role may write (INSERT or UPDATE) a table named as format('%I.%I') stores it.
CREATE FUNCTION custseg_source_writable(source text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce((
        SELECT has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'INSERT, UPDATE')
        FROM (SELECT parse_ident(CASE WHEN source ~ '^("([^"]|"")+"|[a-z_][a-z0-9_]*)\.("([^"]|"")+"|[a-z_][a-z0-9_]*)$'
                                      THEN source END) AS p) i
        JOIN pg_namespace n ON n.nspname = i.p[1]
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = i.p[2]), false)
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
        FROM (SELECT parse_ident(CASE WHEN source ~ '^("([^"]|"")+"|[a-z_][a-z0-9_]*)\.("([^"]|"")+"|[a-z_][a-z0-9_]*)$'
                                      THEN source END) AS p) i
        JOIN pg_namespace n ON n.nspname = i.p[1]
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = i.p[2]), false)
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
AS $fn$
#variable_conflict use_variable
DECLARE
    opts jsonb := coalesce(options, '{}'::jsonb);
    excl text[];
    kept jsonb;
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
    SELECT jsonb_agg(k.column_name ORDER BY k.column_name) INTO kept
    FROM custseg_kept_segments k WHERE to_regclass(k.source) = source;
    IF kept IS NOT NULL AND jsonb_typeof(opts -> 'exclude') IN ('array', 'null') THEN
        opts := jsonb_set(opts, '{exclude}', coalesce(nullif(opts -> 'exclude', 'null'), '[]') ||
                          coalesce((SELECT jsonb_agg(c) FROM jsonb_array_elements(kept) c
                                    WHERE NOT coalesce(nullif(opts -> 'exclude', 'null'), '[]') @> jsonb_build_array(c)), '[]'));
    END IF;
    RETURN opts;
END
$fn$;
COMMENT ON FUNCTION custseg_training_options(regclass, integer, text[], jsonb) IS
    'the options custseg_train and custseg_evaluate_k use: arguments over options, primary key excluded by default, kept segment columns always';


-- Views of the source rows with their segment and label, and one row per row x current offer. A kept
-- segment column of the source (custseg_keep_segment) is left out: the view's segment replaces it.
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
    cols text := 't.*';
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
    IF EXISTS (SELECT 1 FROM custseg_kept_segments k WHERE to_regclass(k.source) = source) THEN
        SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY a.attnum) INTO cols
        FROM pg_attribute a
        WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname::text NOT IN (SELECT k.column_name FROM custseg_kept_segments k WHERE to_regclass(k.source) = source);
    END IF;
    v2 := v1 || '_offers';
    EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS
                    SELECT %s, p.segment, s.label
                    FROM %s t
                    CROSS JOIN LATERAL (SELECT %I.custseg_predict(t, %L) AS segment) p
                    LEFT JOIN %I.custseg_segments s ON s.model = %L AND s.segment = p.segment',
                   nsp, v1, cols, source, '@extschema@', model, '@extschema@', model);
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


-- ---- 0.3.0: resilience ----
