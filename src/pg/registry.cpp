// Model lookup through SPI: custseg_models for the active version, custseg_segments for labels.
#include "registry.h"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace custseg::pg {

namespace {

// Runs inside guard(): plain C, may ereport. Copies what it returns into `cxt` before SPI_finish.
// The queries run under the caller's search_path, so every object and operator is schema-qualified:
// a function or operator a caller's schema shadows pg_catalog's with is never run.
void load(MemoryContext cxt, const char* name, Oid relid, StoredModel* out) {
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
                  "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'custseg'",
                  true, 1) != SPI_OK_SELECT ||
      SPI_processed != 1)
    elog(ERROR, "custseg extension schema not found");
  char* schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  char* source = nullptr;
  StringInfoData q;
  initStringInfo(&q);
  Datum arg;
  Oid argtype = TEXTOID;
  if (name) {
    appendStringInfo(&q, "SELECT name, version, model FROM %s.custseg_models WHERE active AND name OPERATOR(pg_catalog.=) $1", schema);
    arg = CStringGetTextDatum(name);
  } else {
    char* rel = get_rel_name(relid);
    char* nsp = rel ? get_namespace_name(get_rel_namespace(relid)) : nullptr;
    if (!rel || !nsp) elog(ERROR, "relation %u not found", relid);
    source = psprintf("%s.%s", quote_identifier(nsp), quote_identifier(rel));
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
                      errhint("train one with custseg_train('%s', 'your_table'), or activate a version with "
                              "custseg_activate",
                              name)));
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no active custseg model was trained on %s", source),
                    errhint("train one with custseg_train('name', '%s'), or name a model: custseg_predict(row, 'name')",
                            source)));
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
  appendStringInfo(&q, "SELECT segment, label FROM %s.custseg_segments WHERE model OPERATOR(pg_catalog.=) $1 "
                   "AND label IS NOT NULL", schema);
  arg = CStringGetTextDatum(found_name);
  if (SPI_execute_with_args(q.data, 1, &argtype, &arg, nullptr, true, 0) != SPI_OK_SELECT)
    elog(ERROR, "custseg label lookup failed");
  old = MemoryContextSwitchTo(cxt);
  out->n_labels = int(SPI_processed);
  out->label_segments = static_cast<int32*>(palloc(sizeof(int32) * (SPI_processed + 1)));
  out->labels = static_cast<char**>(palloc(sizeof(char*) * (SPI_processed + 1)));
  for (uint64 i = 0; i < SPI_processed; ++i) {
    out->label_segments[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    out->labels[i] = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
  }
  MemoryContextSwitchTo(old);
  SPI_finish();
}

}  // namespace

StoredModel* load_active_model(MemoryContext cxt, const char* name, Oid relid) {
  auto* m = static_cast<StoredModel*>(alloc(cxt, sizeof(StoredModel)));
  std::memset(m, 0, sizeof *m);
  guard([&] { load(cxt, name, relid, m); });
  return m;
}

const char* segment_label(const StoredModel* m, int32 segment) {
  for (int i = 0; i < m->n_labels; ++i)
    if (m->label_segments[i] == segment) return m->labels[i];
  return nullptr;
}

}  // namespace custseg::pg
