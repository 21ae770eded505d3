// Model lookup through SPI: custseg_models for the active version, custseg_segments for labels.
//
// Lookups are cached for the backend, per (name or table, current user), the way PostgreSQL caches
// catalog rows: a lookup reads the latest committed state (a fresh snapshot, as a catalog lookup
// does), and any change to custseg_models or custseg_segments (a statement trigger calls
// custseg_registry_changed) sends a relcache invalidation of that table to every backend, which
// drops its cached lookups before its next transaction or lock. So does any other relation's
// invalidation and any change of roles (what row security lets a role see may depend on them).
//
// On a Citus worker the registry tables are the extension's own, empty copies: the models live on
// the coordinator. A lookup there asks the coordinator (run_command_on_coordinator, as the same
// role, so the coordinator's row security decides what it sees) and is not cached: invalidations
// do not travel between nodes, so every query on a shard reads the coordinator's latest committed
// state. A row of a shard (customers_102008) is looked up by its distributed table's name.
#include "registry.h"

extern "C" {
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

namespace custseg::pg {

namespace {

// Runs inside guard(): plain C, may ereport. Copies what it returns into `cxt` before SPI_finish.
// The queries run under the caller's search_path, so every object and operator is schema-qualified:
// a function or operator a caller's schema shadows pg_catalog's with is never run.
// latest: read the latest committed state (for the cache) rather than the query's snapshot.
// Whether Citus is loaded in this backend (it must be preloaded to work): one of its settings exists.
// Costs a hash lookup, so that a PostgreSQL without Citus pays nothing more per lookup.
bool citus_loaded() { return GetConfigOption("citus.cluster_name", true, false) != nullptr; }

// Where this backend runs, for Citus: not a Citus node, its coordinator (or a single node), or a
// worker. Plain C inside SPI, may ereport. Without Citus loaded it costs a hash lookup.
enum class CitusNode { kNone, kCoordinator, kWorker };
CitusNode citus_node() {
  if (!citus_loaded() || !OidIsValid(get_extension_oid("citus", true))) return CitusNode::kNone;
  if (SPI_execute("SELECT groupid FROM pg_catalog.pg_dist_local_group", true, 1) != SPI_OK_SELECT ||
      SPI_processed != 1)
    return CitusNode::kCoordinator;
  bool isnull;
  const Datum g = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  return !isnull && DatumGetInt32(g) != 0 ? CitusNode::kWorker : CitusNode::kCoordinator;
}

// The qualified name of the table a relation's rows belong to: its own, or for a Citus shard
// (name_<shardid>), its distributed table's. Plain C inside SPI, may ereport.
char* source_name(Oid relid, CitusNode node) {
  char* rel = get_rel_name(relid);
  char* nsp = rel ? get_namespace_name(get_rel_namespace(relid)) : nullptr;
  if (!rel || !nsp) elog(ERROR, "relation %u not found", relid);
  if (node != CitusNode::kNone) {
    Oid argtypes[2] = {TEXTOID, OIDOID};
    Datum args[2] = {CStringGetTextDatum(rel), ObjectIdGetDatum(get_rel_namespace(relid))};
    if (SPI_execute_with_args(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_dist_shard s "
            "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.logicalrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
            "WHERE s.shardid OPERATOR(pg_catalog.=) pg_catalog.substring($1, '_([0-9]+)$')::pg_catalog.int8 "
            "AND c.relnamespace OPERATOR(pg_catalog.=) $2",
            2, argtypes, args, nullptr, true, 1) == SPI_OK_SELECT &&
        SPI_processed == 1)
      return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  }
  return psprintf("%s.%s", quote_identifier(nsp), quote_identifier(rel));
}

// On a Citus worker: the active models of a name or source as the coordinator's registry has them,
// as a JSON array of {name, version, model (text form), labels}. Plain C inside SPI, may ereport.
Datum fetch_from_coordinator(const char* schema, const char* name, const char* source) {
  StringInfoData cmd;
  initStringInfo(&cmd);
  appendStringInfo(&cmd,
                   "SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
                   "'name', m.name, 'version', m.version, 'model', m.model::pg_catalog.text, 'labels', "
                   "(SELECT COALESCE(pg_catalog.jsonb_object_agg(s.segment, s.label), '{}') "
                   "FROM %s.custseg_segments s WHERE s.model OPERATOR(pg_catalog.=) m.name AND s.label IS NOT NULL)) "
                   "ORDER BY m.name), '[]')::pg_catalog.text FROM %s.custseg_models m WHERE m.active AND ",
                   schema, schema);
  if (name)
    appendStringInfo(&cmd, "m.name OPERATOR(pg_catalog.=) %s", quote_literal_cstr(name));
  else
    appendStringInfo(&cmd, "m.source OPERATOR(pg_catalog.=) %s", quote_literal_cstr(source));
  Oid argtype = TEXTOID;
  Datum arg = CStringGetTextDatum(cmd.data);
  if (SPI_execute_with_args("SELECT success, result FROM pg_catalog.run_command_on_coordinator($1)", 1, &argtype,
                            &arg, nullptr, false, 0) != SPI_OK_SELECT ||
      SPI_processed != 1)
    ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
                    errmsg("could not read the custseg registry from the Citus coordinator")));
  bool isnull;
  const bool success = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  char* result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
  if (!success || !result)
    ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
                    errmsg("could not read the custseg registry from the Citus coordinator: %s",
                           result ? result : "no result"),
                    errhint("custseg scoring by name on a worker asks the coordinator for the model; "
                            "check that this worker can connect to it (citus_set_coordinator_host)")));
  return CStringGetTextDatum(result);
}

// Runs inside guard(): plain C, may ereport. Copies what it returns into `cxt` before SPI_finish.
// The queries run under the caller's search_path, so every object and operator is schema-qualified:
// a function or operator a caller's schema shadows pg_catalog's with is never run.
// latest: read the latest committed state (for the cache) rather than the query's snapshot.
void load(MemoryContext cxt, const char* name, Oid relid, StoredModel* out, bool latest) {
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  // The latest committed state, so that a cached lookup is never older than the last invalidation.
  if (latest) PushActiveSnapshot(GetLatestSnapshot());
  if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
                  "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'custseg'",
                  true, 1) != SPI_OK_SELECT ||
      SPI_processed != 1)
    elog(ERROR, "custseg extension schema not found");
  char* schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  const CitusNode node = citus_node();
  char* source = name ? nullptr : source_name(relid, node);
  StringInfoData q;
  initStringInfo(&q);
  Datum arg;
  Oid argtype = TEXTOID;
  Datum remote = 0;
  if (node == CitusNode::kWorker) {
    remote = fetch_from_coordinator(schema, name, source);
    appendStringInfo(&q, "SELECT e OPERATOR(pg_catalog.->>) 'name', (e OPERATOR(pg_catalog.->>) 'version')::pg_catalog.int4, "
                     "(e OPERATOR(pg_catalog.->>) 'model')::%s.custseg_model "
                     "FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) e",
                     schema);
    arg = remote;
  } else if (name) {
    appendStringInfo(&q, "SELECT name, version, model FROM %s.custseg_models WHERE active AND name OPERATOR(pg_catalog.=) $1", schema);
    arg = CStringGetTextDatum(name);
  } else {
    appendStringInfo(&q, "SELECT name, version, model FROM %s.custseg_models WHERE active AND source OPERATOR(pg_catalog.=) $1 "
                     "ORDER BY name",
                     schema);
    arg = CStringGetTextDatum(source);
  }
  if (SPI_execute_with_args(q.data, 1, &argtype, &arg, nullptr, true, 0) != SPI_OK_SELECT)
    elog(ERROR, "custseg model lookup failed");
  if (SPI_processed == 0) {
    if (name)
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no active custseg model named \"%s\"", name),
                      errhint("train one with custseg_train(%s, 'your_table'), or activate a version with "
                              "custseg_activate",
                              quote_literal_cstr(name))));
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no active custseg model was trained on %s", source),
                    errhint("train one with custseg_train('name', %s), or name a model: custseg_predict(row, 'name')",
                            quote_literal_cstr(source))));
  }
  if (SPI_processed > 1) {
    StringInfoData names;
    initStringInfo(&names);
    for (uint64 i = 0; i < SPI_processed; ++i)
      appendStringInfo(&names, "%s%s", i ? ", " : "", SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
    ereport(ERROR, (errcode(ERRCODE_CARDINALITY_VIOLATION),
                    errmsg("several active custseg models were trained on %s: %s", source, names.data),
                    errhint("name the one to use: custseg_predict(row, 'name')")));
  }
  bool isnull;
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  char* found_name = SPI_getvalue(tup, desc, 1);
  int32 version = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
  Datum model = SPI_getbinval(tup, desc, 3, &isnull);
  MemoryContext old = MemoryContextSwitchTo(cxt);
  struct varlena* copy = PG_DETOAST_DATUM_COPY(model);
  out->bytes = reinterpret_cast<uint8_t*>(copy);
  out->len = VARSIZE(copy);
  out->name = pstrdup(found_name);
  MemoryContextSwitchTo(old);
  out->version = version;
  // Labels of the model's segments (custseg_segments is keyed by model name).
  resetStringInfo(&q);
  if (remote) {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum args[2] = {remote, CStringGetTextDatum(found_name)};
    if (SPI_execute_with_args("SELECT l.key::pg_catalog.int4, l.value FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) e, "
                              "pg_catalog.jsonb_each_text(e OPERATOR(pg_catalog.->) 'labels') l "
                              "WHERE e OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) $2",
                              2, types, args, nullptr, true, 0) != SPI_OK_SELECT)
      elog(ERROR, "custseg label lookup failed");
  } else {
    appendStringInfo(&q, "SELECT segment, label FROM %s.custseg_segments WHERE model OPERATOR(pg_catalog.=) $1 "
                     "AND label IS NOT NULL", schema);
    arg = CStringGetTextDatum(found_name);
    if (SPI_execute_with_args(q.data, 1, &argtype, &arg, nullptr, true, 0) != SPI_OK_SELECT)
      elog(ERROR, "custseg label lookup failed");
  }
  old = MemoryContextSwitchTo(cxt);
  out->n_labels = int(SPI_processed);
  out->label_segments = static_cast<int32*>(palloc(sizeof(int32) * (SPI_processed + 1)));
  out->labels = static_cast<char**>(palloc(sizeof(char*) * (SPI_processed + 1)));
  for (uint64 i = 0; i < SPI_processed; ++i) {
    out->label_segments[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    out->labels[i] = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
  }
  MemoryContextSwitchTo(old);
  if (latest) PopActiveSnapshot();
  SPI_finish();
}

// ---- the backend's cache of lookups ----

struct Entry {
  char* name;  // null for a lookup by table
  Oid relid;
  Oid user;
  StoredModel* model;  // in the cache context
  Entry* next;
};

// At most this many lookups are kept (each holds a copy of its model); the next one starts afresh.
constexpr int kMaxEntries = 64;

MemoryContext cache_cxt = nullptr;
Entry* entries = nullptr;
int n_entries = 0;
uint64 generation = 0;  // counts invalidations
bool callbacks_registered = false;

void drop_all() {
  ++generation;
  entries = nullptr;
  n_entries = 0;
  if (cache_cxt) MemoryContextReset(cache_cxt);
}

// Any relation's invalidation drops the lookups, not only the registry tables': what a role may see
// of the registry can depend on its privileges on other tables (row security), and a GRANT or REVOKE
// reaches the backends as an invalidation of that table. Such invalidations are rare next to
// queries (DDL, ANALYZE), so the cache keeps nearly all its hits.
void relcache_changed(Datum, Oid) { drop_all(); }

void roles_changed(Datum, int, uint32) { drop_all(); }

// Plain C, may ereport: copies a stored model into cxt.
StoredModel* copy_model(MemoryContext cxt, const StoredModel* from) {
  MemoryContext old = MemoryContextSwitchTo(cxt);
  auto* m = static_cast<StoredModel*>(palloc(sizeof(StoredModel)));
  *m = *from;
  m->bytes = static_cast<uint8_t*>(palloc(from->len));
  std::memcpy(m->bytes, from->bytes, from->len);
  m->name = pstrdup(from->name);
  m->label_segments = static_cast<int32*>(palloc(sizeof(int32) * (size_t(from->n_labels) + 1)));
  m->labels = static_cast<char**>(palloc(sizeof(char*) * (size_t(from->n_labels) + 1)));
  for (int i = 0; i < from->n_labels; ++i) {
    m->label_segments[i] = from->label_segments[i];
    m->labels[i] = pstrdup(from->labels[i]);
  }
  MemoryContextSwitchTo(old);
  return m;
}

// Whether this backend runs on a Citus worker. Plain C, may ereport.
bool on_citus_worker() {
  if (!citus_loaded() || !OidIsValid(get_extension_oid("citus", true))) return false;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  const bool worker = citus_node() == CitusNode::kWorker;
  SPI_finish();
  return worker;
}

// Plain C, may ereport.
StoredModel* lookup(MemoryContext cxt, const char* name, Oid relid) {
  auto* m = static_cast<StoredModel*>(MemoryContextAllocZero(cxt, sizeof(StoredModel)));
  if (IsInParallelMode() || on_citus_worker()) {
    // A parallel query's leader and workers must agree: all read the query's snapshot, uncached.
    // A Citus worker hears of no change on the coordinator: it asks the coordinator every query.
    load(cxt, name, relid, m, false);
    return m;
  }
  if (!callbacks_registered) {
    CacheRegisterRelcacheCallback(relcache_changed, (Datum)0);
    CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, roles_changed, (Datum)0);
    CacheRegisterSyscacheCallback(AUTHOID, roles_changed, (Datum)0);
    callbacks_registered = true;
  }
  if (!cache_cxt) cache_cxt = AllocSetContextCreate(TopMemoryContext, "custseg registry cache", ALLOCSET_SMALL_SIZES);
  const Oid user = GetUserId();
  for (Entry* e = entries; e; e = e->next)
    if (e->user == user && e->relid == relid && ((!e->name && !name) || (e->name && name && strcmp(e->name, name) == 0)))
      return copy_model(cxt, e->model);
  const uint64 before = generation;
  load(cxt, name, relid, m, true);
  // Kept only if no invalidation arrived while loading: one that did may concern a change the
  // load's snapshot did not see.
  AcceptInvalidationMessages();
  if (generation == before) {
    if (n_entries >= kMaxEntries) drop_all();
    ++n_entries;
    auto* e = static_cast<Entry*>(MemoryContextAllocZero(cache_cxt, sizeof(Entry)));
    e->name = name ? MemoryContextStrdup(cache_cxt, name) : nullptr;
    e->relid = relid;
    e->user = user;
    e->model = copy_model(cache_cxt, m);
    e->next = entries;
    entries = e;
  }
  return m;
}

}  // namespace

StoredModel* load_active_model(MemoryContext cxt, const char* name, Oid relid) {
  StoredModel* m = nullptr;
  guard([&] { m = lookup(cxt, name, relid); });
  return m;
}

const char* segment_label(const StoredModel* m, int32 segment) {
  for (int i = 0; i < m->n_labels; ++i)
    if (m->label_segments[i] == segment) return m->labels[i];
  return nullptr;
}

}  // namespace custseg::pg

// custseg_registry_changed() RETURNS trigger: a statement trigger on custseg_models and
// custseg_segments; every backend drops its cached lookups (see the top of this file).
extern "C" {
PG_FUNCTION_INFO_V1(custseg_registry_changed);
Datum custseg_registry_changed(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "custseg_registry_changed: not called as a trigger");
  auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
  CacheInvalidateRelcacheByRelid(RelationGetRelid(data->tg_relation));
  return PointerGetDatum(nullptr);
}
}
