-- Everything a lifecycle step must keep, one line per item: models byte for byte (binary and text
-- forms), registry rows, segments, offers, every row's prediction under every stored model and
-- through the views, the saved models. Diffed between two databases or two moments.
SELECT 'model ' || name || ' v' || version || ' ' || active || ' ' || source || ' ' || created_at || ' '
       || md5(custseg_model_send(model)) || ' ' || md5(model::text) || ' ' || md5(options::text) || ' ' || md5(metrics::text)
FROM custseg_models ORDER BY name, version;
SELECT 'segment ' || s::text FROM custseg_segments s ORDER BY model, segment;
SELECT 'offer ' || o::text FROM custseg_offers o ORDER BY offer_id;
SELECT 'segment_offers ' || so::text FROM custseg_segment_offers so ORDER BY model, segment, offer_id;
SELECT 'predictions ' || m.name || ' v' || m.version || ' '
       || md5(string_agg(c.customer_id || '=' || coalesce(custseg_predict(m.model, c)::text, '-'), ',' ORDER BY c.customer_id))
FROM custseg_models m, mall c GROUP BY m.name, m.version ORDER BY m.name, m.version;
SELECT 'by name ' || md5(string_agg(c.customer_id || '=' || custseg_predict(c, 'mall') || '/' || custseg_predict(c, 'mall_young')
                                    || '/' || (custseg_score(c, 'mall')).confidence, ',' ORDER BY c.customer_id))
FROM mall c;
SELECT 'view ' || md5(string_agg(v::text, ',' ORDER BY v.customer_id)) FROM mall_segments v;
SELECT 'view ' || md5(string_agg(v::text, ',' ORDER BY v.customer_id, v.offer_id)) FROM mall_segments_offers v;
SELECT 'view ' || md5(string_agg(v::text, ',' ORDER BY v.customer_id)) FROM young v;
SELECT 'saved ' || id || ' ' || note || ' ' || md5(custseg_model_send(model)) || ' ' || md5(model::text) FROM saved ORDER BY id;
SELECT 'offer id sequence ' || last_value || ' ' || is_called FROM custseg_offers_offer_id_seq;
-- The user's own views over custseg_score: kind, population, privileges, comment, indexes, content.
SELECT 'user view ' || c.relname || ' ' || c.relkind::text || ' ' || c.relispopulated::text || ' ' || coalesce(c.relacl::text, '-')
       || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '-') || ' '
       || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ') FROM pg_index i WHERE i.indrelid = c.oid), '-')
FROM pg_class c WHERE c.relname IN ('mall_scores', 'mall_score_summary', 'mall_scores_mv') ORDER BY c.relname;
SELECT 'user view content ' || md5(string_agg(v::text, ',' ORDER BY v.segment)) FROM mall_score_summary v;
