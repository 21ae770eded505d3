-- Every object of the custseg extension and its definition, one line each, without OIDs: what an
-- updated installation and a fresh one must agree on (diffed by test_upgrade.sh).
\pset tuples_only on
\pset format unaligned
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'custseg'),
members AS (SELECT d.classid, d.objid FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass
            AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members ORDER BY 1;

-- Functions and aggregates: full definitions, attributes, privileges, comments.
SELECT 'function ' || p.oid::regprocedure || ' ' || concat_ws(' | ', p.prokind, p.provolatile, p.proparallel,
       p.proisstrict, p.prosecdef, p.proleakproof, p.procost, p.prorows, p.proconfig::text, p.proacl::text,
       obj_description(p.oid, 'pg_proc'),
       CASE WHEN p.prokind = 'f' THEN md5(pg_get_functiondef(p.oid)) END, p.prosrc, p.probin)
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg' ORDER BY 1;
SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' ' || concat_ws(' | ', a.aggkind, a.aggtransfn::regprocedure,
       a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn, a.aggtranstype::regtype, a.agginitval,
       a.aggfinalmodify)
FROM pg_aggregate a JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = a.aggfnoid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg' ORDER BY 1;

-- Types.
SELECT 'type ' || t.oid::regtype || ' ' || concat_ws(' | ', t.typtype, t.typlen, t.typalign, t.typstorage,
       t.typinput, t.typoutput, t.typreceive, t.typsend, t.typacl::text, obj_description(t.oid, 'pg_type'))
FROM pg_type t JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg' ORDER BY 1;

-- Relations: kind, options, row security, privileges, comments; columns; constraints; indexes;
-- triggers; policies; views; sequences.
WITH rels AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg')
SELECT line FROM (
    SELECT 'relation ' || r.relname || ' ' || concat_ws(' | ', c.relkind, c.relrowsecurity, c.relforcerowsecurity,
           c.reloptions::text, c.relacl::text, obj_description(c.oid, 'pg_class'), c.relpersistence) AS line
    FROM rels r JOIN pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT 'column ' || r.relname || '.' || a.attname || ' ' || concat_ws(' | ', a.attnum, format_type(a.atttypid, a.atttypmod),
           a.attnotnull, a.attidentity, a.attgenerated, pg_get_expr(ad.adbin, ad.adrelid), a.attacl::text,
           col_description(r.oid, a.attnum), a.attcollation)
    FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
    UNION ALL
    SELECT 'constraint ' || r.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
    UNION ALL
    SELECT 'index ' || r.relname || ' ' || pg_get_indexdef(i.indexrelid)
    FROM rels r JOIN pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT 'trigger ' || r.relname || ' ' || pg_get_triggerdef(t.oid) FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal  -- foreign keys are compared as constraints
    UNION ALL
    SELECT 'policy ' || r.relname || ' ' || concat_ws(' | ', p.polname, p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
           pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
           obj_description(p.oid, 'pg_policy'))
    FROM rels r JOIN pg_policy p ON p.polrelid = r.oid
    UNION ALL
    SELECT 'view ' || r.relname || ' ' || pg_get_viewdef(r.oid) FROM rels r WHERE r.relkind = 'v'
    UNION ALL
    SELECT 'sequence ' || r.relname || ' ' || concat_ws(' | ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax,
           s.seqmin, s.seqcache, s.seqcycle)
    FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid) x
ORDER BY 1;

-- Initial privileges recorded for the extension's objects (what pg_dump compares against).
SELECT 'init_privs ' || pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' ' || ip.privtype::text || ' ' || ip.initprivs::text
FROM pg_init_privs ip JOIN pg_depend d ON d.classid = ip.classoid AND d.objid = ip.objoid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'custseg' ORDER BY 1;

-- The extension itself: version, configuration tables (kept by pg_dump) and their filters.
SELECT 'extension ' || concat_ws(' | ', e.extversion, e.extrelocatable, n.nspname,
       (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM unnest(e.extconfig) c),
       array_to_string(e.extcondition, ','))
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'custseg';
