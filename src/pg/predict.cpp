// Scoring in place: custseg_predict and custseg_transform. The model is validated and the row's
// columns are mapped once per query (cached in fn_extra); each row is then read, encoded and assigned
// without allocating anything that outlives it.
#include <cmath>

#include "registry.h"
#include "rows.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
}

using namespace custseg;

namespace custseg::pg {
const uint8_t* model_arg(FunctionCallInfo fcinfo, int n, size_t* len);
}

namespace {

// ---- models prepared for scoring, kept across queries ----
//
// Validating a model and building its view (its level index), and mapping a row type's columns to
// its features, cost more than scoring one row: a one-row query would pay them every time. So the
// backend keeps the last few models it scored with, by their bytes, each with its view and its
// readers. A model's bytes say everything its view depends on, so a view never goes stale; a
// reader depends on its row type, which DDL can change: any relcache invalidation retires every
// entry (invalidations are rare next to queries; see registry.cpp). An entry in use by a query is
// pinned: retiring it only unlists it, and the query's last unpin frees it.
struct Prepared {
  MemoryContext cxt;  // holds the bytes, readers and buffers
  uint8_t* model;
  size_t len;
  core::ModelView* view;  // owned
  static constexpr int kMaxReaders = 8;
  pg::RowReader* readers[kMaxReaders];  // by row type; the oldest is replaced
  int n_readers;
  int next_reader;
  // custseg_predict_columns' readers, by their call's column names and types (key: the names
  // array's bytes, then each column's type and typmod); the oldest is replaced.
  pg::RowReader* column_readers[kMaxReaders];
  uint8_t* column_keys[kMaxReaders];
  size_t column_key_lens[kMaxReaders];
  int n_column_readers;
  int next_column_reader;
  pg::FeatureBuffers* vector_buffers;  // float8[] input (all features numeric)
  pg::FeatureBuffers* json_buffers;    // jsonb input
  int pins;
  bool listed;
  Prepared* next;
};

constexpr int kMaxPrepared = 8;
constexpr size_t kMaxPreparedBytes = size_t(64) << 20;  // models larger than this are not kept
Prepared* prepared_list = nullptr;
int n_prepared = 0;
bool prepared_callback_registered = false;

void free_prepared(Prepared* p) {
  delete p->view;
  MemoryContextDelete(p->cxt);
  std::free(p);
}

void unlist(Prepared* p) {
  for (Prepared** q = &prepared_list; *q; q = &(*q)->next)
    if (*q == p) {
      *q = p->next;
      --n_prepared;
      break;
    }
  p->listed = false;
  p->next = nullptr;
  if (p->pins == 0) free_prepared(p);
}

void retire_all_prepared(Datum, Oid) {
  while (prepared_list) unlist(prepared_list);
}

void unpin(Prepared* p) {
  if (--p->pins == 0 && !p->listed) free_prepared(p);
}

// The prepared entry for a model's bytes, pinned: found, or made (validating the model).
Prepared* pin_prepared(const uint8_t* bytes, size_t len) {
  for (Prepared* p = prepared_list; p; p = p->next)
    if (p->len == len && std::memcmp(p->model, bytes, len) == 0) {
      ++p->pins;
      return p;
    }
  if (!prepared_callback_registered) {
    pg::guard([] { CacheRegisterRelcacheCallback(retire_all_prepared, (Datum)0); });
    prepared_callback_registered = true;
  }
  auto* p = static_cast<Prepared*>(std::calloc(1, sizeof(Prepared)));
  if (!p) throw std::bad_alloc();
  pg::guard([&] {
    p->cxt = AllocSetContextCreate(TopMemoryContext, "custseg prepared model", ALLOCSET_SMALL_SIZES);
  });
  if (!p->cxt) {
    std::free(p);
    throw std::bad_alloc();
  }
  try {
    p->model = static_cast<uint8_t*>(pg::alloc(p->cxt, len));
    std::memcpy(p->model, bytes, len);
    p->len = len;
    p->view = new core::ModelView(p->model, len);
  } catch (...) {
    free_prepared(p);
    throw;
  }
  p->pins = 1;
  if (len <= kMaxPreparedBytes) {
    // The list keeps the newest first; the oldest entry makes room (freed when no query uses it).
    if (n_prepared >= kMaxPrepared) {
      Prepared* last = prepared_list;
      while (last->next) last = last->next;
      unlist(last);
    }
    p->listed = true;
    p->next = prepared_list;
    prepared_list = p;
    ++n_prepared;
  }
  return p;
}

// The model's feature names, in order (numeric first), for the readers.
std::vector<std::string> feature_names(const core::ModelView& view) {
  std::vector<std::string> names;
  for (int i = 0; i < view.n_features(); ++i) names.push_back(view.feature_name(i));
  return names;
}

struct ScoreCache {
  MemoryContextCallback callback;
  Prepared* prepared;  // pinned while this cache holds it
  uint8_t* raw;  // the model argument as it last arrived (possibly compressed or a TOAST pointer)
  size_t raw_len;
  core::ModelView* view;        // the prepared entry's
  pg::RowReader* reader;        // record input: the prepared entry's, for the last row type
  pg::FeatureBuffers* buffers;  // vector or jsonb input: the prepared entry's
  double* scratch;
  double* point;
  // For models looked up in custseg_models: what the lookup was keyed by, and what it found.
  char* key_name;
  size_t key_name_len;
  Oid key_relid;
  Oid key_type;  // the row type whose table is key_relid (custseg_predict(row))
  pg::StoredModel* stored;
  TupleDesc result_desc;  // custseg_score's result row
};

void release_cache(void* arg) {
  auto* cache = static_cast<ScoreCache*>(arg);
  if (cache->prepared) unpin(cache->prepared);
  cache->prepared = nullptr;
  cache->view = nullptr;
}

ScoreCache* new_cache(FunctionCallInfo fcinfo) {
  MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
  auto* cache = static_cast<ScoreCache*>(fcinfo->flinfo->fn_extra);
  if (!cache) {
    cache = static_cast<ScoreCache*>(pg::alloc(cxt, sizeof(ScoreCache)));
    std::memset(cache, 0, sizeof *cache);
    cache->callback.func = release_cache;
    cache->callback.arg = cache;
    MemoryContextRegisterResetCallback(cxt, &cache->callback);
    fcinfo->flinfo->fn_extra = cache;
  }
  return cache;
}

// Makes `bytes` the cache's model unless it already is; a model is validated once per backend
// (while it stays prepared).
void set_model(FunctionCallInfo fcinfo, ScoreCache* cache, const uint8_t* bytes, size_t len) {
  Prepared* old = cache->prepared;
  if (old && old->len == len && std::memcmp(old->model, bytes, len) == 0) return;
  cache->raw_len = 0;  // no raw argument matches until score_cache records one
  Prepared* p = pin_prepared(bytes, len);
  cache->prepared = p;
  if (old) unpin(old);
  MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
  cache->view = p->view;
  cache->reader = nullptr;
  cache->buffers = nullptr;
  cache->scratch = static_cast<double*>(pg::alloc(cxt, sizeof(double) * size_t(p->view->encoded_dim())));
  cache->point = static_cast<double*>(pg::alloc(cxt, sizeof(double) * size_t(p->view->output_dim())));
}

// The cache for a model argument, rebuilt when the model changes. The argument as it arrives
// (compressed inline, or a TOAST pointer, when it was read from a table) is compared with the last
// one first, so a stored model is not decompressed or fetched again for every row.
ScoreCache* score_cache(FunctionCallInfo fcinfo, int model_arg) {
  ScoreCache* cache = new_cache(fcinfo);
  const auto* raw = reinterpret_cast<const uint8_t*>(DatumGetPointer(PG_GETARG_DATUM(model_arg)));
  const size_t raw_len = VARSIZE_ANY(raw);
  if (cache->view && cache->raw && cache->raw_len == raw_len && std::memcmp(cache->raw, raw, raw_len) == 0)
    return cache;
  size_t len;
  const uint8_t* bytes = pg::model_arg(fcinfo, model_arg, &len);
  set_model(fcinfo, cache, bytes, len);
  if (cache->raw) pfree(cache->raw);
  cache->raw = static_cast<uint8_t*>(pg::alloc(fcinfo->flinfo->fn_mcxt, raw_len));
  std::memcpy(cache->raw, raw, raw_len);
  cache->raw_len = raw_len;
  return cache;
}

// The cache for the active model of a name, looked up once per query (per statement for a trigger).
ScoreCache* named_cache(FunctionCallInfo fcinfo, const char* name) {
  ScoreCache* cache = new_cache(fcinfo);
  if (!cache->stored || !cache->key_name || std::strcmp(cache->key_name, name) != 0) {
    MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
    cache->stored = pg::load_active_model(cxt, name, InvalidOid);
    cache->key_name_len = std::strlen(name);
    cache->key_name = static_cast<char*>(pg::alloc(cxt, cache->key_name_len + 1));
    std::strcpy(cache->key_name, name);
    cache->key_relid = InvalidOid;
    cache->key_type = InvalidOid;
    set_model(fcinfo, cache, cache->stored->bytes, cache->stored->len);
  }
  return cache;
}

// The same for a name given as a text argument. A plain or short text equal to the last name's
// bytes is that name: no C string is made per row.
ScoreCache* named_cache(FunctionCallInfo fcinfo, int name_arg) {
  Datum d = PG_GETARG_DATUM(name_arg);
  auto* cache = static_cast<ScoreCache*>(fcinfo->flinfo->fn_extra);
  const struct varlena* v = reinterpret_cast<const struct varlena*>(DatumGetPointer(d));
  if (cache && cache->stored && cache->key_name && !VARATT_IS_COMPRESSED(v) && !VARATT_IS_EXTERNAL(v) &&
      VARSIZE_ANY_EXHDR(v) == cache->key_name_len && std::memcmp(VARDATA_ANY(v), cache->key_name, cache->key_name_len) == 0)
    return cache;
  char* name = nullptr;
  pg::guard([&] { name = TextDatumGetCString(d); });
  return named_cache(fcinfo, name);
}

// A record argument's header (detoasted if it must be).
HeapTupleHeader record_arg(FunctionCallInfo fcinfo, int arg) { return pg::row_header(PG_GETARG_DATUM(arg)); }

// The cache for the active model trained on the table `relid`, looked up once per query.
ScoreCache* table_cache(FunctionCallInfo fcinfo, Oid relid) {
  ScoreCache* cache = new_cache(fcinfo);
  if (!cache->stored || cache->key_relid != relid) {
    cache->stored = pg::load_active_model(fcinfo->flinfo->fn_mcxt, nullptr, relid);
    cache->key_relid = relid;
    cache->key_name = nullptr;
    cache->key_type = InvalidOid;
    set_model(fcinfo, cache, cache->stored->bytes, cache->stored->len);
  }
  return cache;
}

// The same for a row's table; the row type's table is looked up once per row type (a table's row
// type names that table for as long as the scan holds its lock).
ScoreCache* table_cache(FunctionCallInfo fcinfo, HeapTupleHeader row) {
  ScoreCache* cache = new_cache(fcinfo);
  const Oid type_id = HeapTupleHeaderGetTypeId(row);
  if (cache->stored && cache->key_type == type_id && type_id != InvalidOid) return cache;
  Oid relid = InvalidOid;
  pg::guard([&] { relid = get_typ_typrelid(type_id); });
  if (relid == InvalidOid)
    throw core::Error(core::ErrorCode::kInvalidArgument, "cannot tell which table this row comes from",
                      "pass a table's row (custseg_predict(t) FROM t), or name the model: custseg_predict(row, 'name')");
  cache = table_cache(fcinfo, relid);
  cache->key_type = type_id;
  return cache;
}

// Reads a row (a composite datum's header) with the cache's reader (built for its row type on first use).
void read_row(FunctionCallInfo fcinfo, ScoreCache* cache, HeapTupleHeader row, double** numeric,
              core::StrRef** categorical) {
  const Oid type_id = HeapTupleHeaderGetTypeId(row);
  const int32 typmod = HeapTupleHeaderGetTypMod(row);
  if (!cache->reader || cache->reader->type_id != type_id || cache->reader->typmod != typmod) {
    Prepared* p = cache->prepared;
    cache->reader = nullptr;
    for (int i = 0; i < p->n_readers; ++i)
      if (p->readers[i]->type_id == type_id && p->readers[i]->typmod == typmod) cache->reader = p->readers[i];
    if (!cache->reader) {
      const std::vector<std::string> names = feature_names(*p->view);
      std::vector<core::Kind> kinds;
      for (int i = 0; i < p->view->n_features(); ++i) kinds.push_back(p->view->feature_kind(i));
      // A reader replaced in the entry stays allocated (in its context) for a query that holds it.
      pg::RowReader* r = pg::build_reader(p->cxt, pg::row_desc(row, p->cxt), type_id, typmod, names, kinds);
      if (p->n_readers < Prepared::kMaxReaders) {
        p->readers[p->n_readers++] = r;
      } else {
        p->readers[p->next_reader] = r;
        p->next_reader = (p->next_reader + 1) % Prepared::kMaxReaders;
      }
      cache->reader = r;
    }
  }
  pg::RowReader* reader = cache->reader;
  if (!pg::read_row_quick(reader, row)) pg::guard([&] { pg::read_row(reader, row); });
  *numeric = reader->numeric;
  *categorical = reader->categorical;
}

// Reads custseg_predict_columns' columns: arguments `first` on, named by the text[] argument
// before them. They are mapped to the model's features once per query, as a row type of those
// names and the arguments' types would be.
void read_columns(FunctionCallInfo fcinfo, ScoreCache* cache, int first, double** numeric,
                  core::StrRef** categorical) {
  if (!cache->reader) {
    FmgrInfo* fl = fcinfo->flinfo;
    if (!fl->fn_expr || !IsA(fl->fn_expr, FuncExpr) || get_fn_expr_variadic(fl))
      throw core::Error(core::ErrorCode::kInvalidArgument,
                        "custseg_predict_columns takes the columns as separate arguments",
                        "call custseg_predict(model, row) or custseg_predict(row, name): the planner passes the columns");
    const int n = PG_NARGS() - first;
    List* args = reinterpret_cast<FuncExpr*>(fl->fn_expr)->args;
    auto* names_arr = reinterpret_cast<struct varlena*>(DatumGetPointer(PG_GETARG_DATUM(first - 1)));
    if (VARATT_IS_EXTENDED(names_arr)) pg::guard([&] { names_arr = PG_DETOAST_DATUM(PG_GETARG_DATUM(first - 1)); });
    // The key this call's reader is kept under in the prepared model (readers outlive the query,
    // as the record form's do, so a one-row query does not map its columns every time).
    const size_t names_len = VARSIZE(names_arr);
    const size_t key_len = names_len + size_t(n) * (sizeof(Oid) + sizeof(int32));
    uint8_t key_room[1024];
    auto* key = key_len <= sizeof key_room ? key_room : static_cast<uint8_t*>(pg::alloc(fl->fn_mcxt, key_len));
    std::memcpy(key, names_arr, names_len);
    for (int i = 0; i < n; ++i) {
      Node* arg = static_cast<Node*>(list_nth(args, first + i));
      const Oid type = exprType(arg);
      const int32 typmod = exprTypmod(arg);
      std::memcpy(key + names_len + size_t(i) * 8, &type, sizeof type);
      std::memcpy(key + names_len + size_t(i) * 8 + 4, &typmod, sizeof typmod);
    }
    Prepared* p = cache->prepared;
    for (int i = 0; i < p->n_column_readers && !cache->reader; ++i)
      if (p->column_key_lens[i] == key_len && std::memcmp(p->column_keys[i], key, key_len) == 0)
        cache->reader = p->column_readers[i];
    if (!cache->reader) {
      Datum* names = nullptr;
      bool* nulls = nullptr;
      int n_names = 0;
      ArrayType* arr = reinterpret_cast<ArrayType*>(names_arr);
      pg::guard([&] { deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n_names); });
      if (ARR_NDIM(arr) > 1 || n_names != n)
        throw core::Error(core::ErrorCode::kInvalidArgument,
                          "custseg_predict_columns needs one column name for each column (" +
                              std::to_string(n_names) + " names, " + std::to_string(n) + " columns)");
      TupleDesc desc = nullptr;
      pg::guard([&] {
        desc = CreateTemplateTupleDesc(n);
        for (int i = 0; i < n; ++i) {
          if (nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("custseg_predict_columns: a column name is NULL")));
          Node* arg = static_cast<Node*>(list_nth(args, first + i));
          TupleDescInitEntry(desc, AttrNumber(i + 1), TextDatumGetCString(names[i]), exprType(arg), exprTypmod(arg), 0);
        }
      });
      std::vector<core::Kind> kinds;
      for (int i = 0; i < p->view->n_features(); ++i) kinds.push_back(p->view->feature_kind(i));
      // A reader replaced in the entry stays allocated (in its context) for a query that holds it.
      pg::RowReader* r = pg::build_reader(p->cxt, desc, InvalidOid, -1, feature_names(*p->view), kinds);
      auto* kept = static_cast<uint8_t*>(pg::alloc(p->cxt, key_len));
      std::memcpy(kept, key, key_len);
      int at = p->n_column_readers;
      if (at < Prepared::kMaxReaders) {
        ++p->n_column_readers;
      } else {
        at = p->next_column_reader;
        p->next_column_reader = (p->next_column_reader + 1) % Prepared::kMaxReaders;
      }
      p->column_readers[at] = r;
      p->column_keys[at] = kept;
      p->column_key_lens[at] = key_len;
      cache->reader = r;
    }
  }
  pg::RowReader* reader = cache->reader;
  const NullableDatum* values = fcinfo->args + first;
  if (!pg::read_datums_quick(reader, values)) pg::guard([&] { pg::read_datums(reader, values); });
  *numeric = reader->numeric;
  *categorical = reader->categorical;
}

// Whether every column argument (from `first`) is NULL: the row of the whole-row form was NULL
// (the nullable side of an outer join), so the call is NULL, as the strict whole-row form's is.
bool columns_all_null(FunctionCallInfo fcinfo, int first) {
  for (int i = first; i < PG_NARGS(); ++i)
    if (!PG_ARGISNULL(i)) return false;
  return true;
}

// Reads a record argument.
void read_record(FunctionCallInfo fcinfo, ScoreCache* cache, int arg, double** numeric, core::StrRef** categorical) {
  read_row(fcinfo, cache, record_arg(fcinfo, arg), numeric, categorical);
}

// Reads a float8[] argument by position; the model's features must all be numeric.
void read_vector(FunctionCallInfo fcinfo, ScoreCache* cache, int arg, double** numeric, core::StrRef** categorical) {
  if (!cache->buffers) {
    Prepared* p = cache->prepared;
    if (p->view->n_numeric() != p->view->n_features())
      throw core::Error(core::ErrorCode::kDatatypeMismatch,
                        "the model has categorical features, so it cannot read a float8[] vector",
                        "pass the row itself");
    if (!p->vector_buffers) p->vector_buffers = pg::build_buffers(p->cxt, feature_names(*p->view), p->view->n_features());
    cache->buffers = p->vector_buffers;
  }
  pg::FeatureBuffers* b = cache->buffers;
  Datum d = PG_GETARG_DATUM(arg);
  pg::guard([&] { pg::read_array_row(b, DatumGetArrayTypeP(d)); });
  *numeric = b->numeric;
  *categorical = b->categorical;
}

// Reads a jsonb argument by key with the model's feature names.
void read_json(FunctionCallInfo fcinfo, ScoreCache* cache, int arg, double** numeric, core::StrRef** categorical) {
  if (!cache->buffers) {
    Prepared* p = cache->prepared;
    if (!p->json_buffers) p->json_buffers = pg::build_buffers(p->cxt, feature_names(*p->view), p->view->n_numeric());
    cache->buffers = p->json_buffers;
  }
  pg::FeatureBuffers* b = cache->buffers;
  Datum d = PG_GETARG_DATUM(arg);
  pg::guard([&] { pg::read_jsonb_row(b, DatumGetJsonbP(d)); });
  *numeric = b->numeric;
  *categorical = b->categorical;
}

// Whether a row has a feature to score: training skips a row whose features are all NULL (or
// absent from a JSON object), so scoring gives such a row no segment either.
bool has_feature(const ScoreCache* cache, const double* numeric, const core::StrRef* categorical) {
  const int nn = cache->view->n_numeric(), nc = cache->view->n_features() - nn;
  for (int j = 0; j < nn; ++j)
    if (!std::isnan(numeric[j])) return true;
  for (int c = 0; c < nc; ++c)
    if (!categorical[c].is_null) return true;
  return false;
}

// The segment of a row, or kNoSegment for a row with no feature present.
constexpr int32 kNoSegment = -1;

int32 predict(ScoreCache* cache, const double* numeric, const core::StrRef* categorical) {
  if (cache->view->k() == 0)
    throw core::Error(core::ErrorCode::kNotFitted, "model has no k-means stage",
                      "train it with a \"k\" option to assign segments");
  if (!has_feature(cache, numeric, categorical)) return kNoSegment;
  cache->view->transform(numeric, categorical, cache->scratch, cache->point);
  // k-means' nearest centroid directly (the hot path); other methods assign as their model says,
  // dbscan's noise with no segment.
  if (cache->view->method() == core::Method::kKMeans) return cache->view->nearest_segment(cache->point);
  const core::Score sc = cache->view->assign(cache->point);
  return sc.index < 0 ? kNoSegment : sc.segment;
}

Datum segment_datum(FunctionCallInfo fcinfo, int32 segment) {
  if (segment == kNoSegment) PG_RETURN_NULL();
  PG_RETURN_INT32(segment);
}

Datum transform(ScoreCache* cache, const double* numeric, const core::StrRef* categorical) {
  cache->view->transform(numeric, categorical, cache->scratch, cache->point);
  const int p = cache->view->output_dim();
  ArrayType* result = nullptr;
  const double* point = cache->point;
  pg::guard([&] {
    Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * size_t(p)));
    for (int i = 0; i < p; ++i) elems[i] = Float8GetDatum(point[i]);
    result = construct_array(elems, p, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
  });
  return PointerGetDatum(result);
}

}  // namespace

// custseg_predict(model custseg_model, row record) -> int: the segment of one row.
CUSTSEG_FUNCTION(custseg_predict_model_record) {
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_record(fcinfo, cache, 1, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_predict(model custseg_model, x float8[]) -> int: the segment of one vector.
CUSTSEG_FUNCTION(custseg_predict_model_vector) {
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_vector(fcinfo, cache, 1, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_transform(model custseg_model, row record) -> float8[]: the row encoded, scaled and projected.
CUSTSEG_FUNCTION(custseg_transform_record) {
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_record(fcinfo, cache, 1, &numeric, &categorical);
  return transform(cache, numeric, categorical);
}

// custseg_transform(model custseg_model, x float8[]) -> float8[]: a vector scaled and projected.
CUSTSEG_FUNCTION(custseg_transform_vector) {
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_vector(fcinfo, cache, 1, &numeric, &categorical);
  return transform(cache, numeric, categorical);
}

// custseg_predict(row record) -> int: the segment under the active model trained on the row's table.
CUSTSEG_FUNCTION(custseg_predict_record) {
  const HeapTupleHeader row = record_arg(fcinfo, 0);
  ScoreCache* cache = table_cache(fcinfo, row);
  double* numeric;
  core::StrRef* categorical;
  read_row(fcinfo, cache, row, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_predict(row record, model text) -> int: the segment under the named model's active version.
CUSTSEG_FUNCTION(custseg_predict_record_name) {
  ScoreCache* cache = named_cache(fcinfo, 1);
  double* numeric;
  core::StrRef* categorical;
  read_record(fcinfo, cache, 0, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_predict_columns(model custseg_model, columns text[], VARIADIC "any") -> int: what
// custseg_predict(model, row) gives for a row of those columns (the planner's rewrite of it).
CUSTSEG_FUNCTION(custseg_predict_model_columns) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || columns_all_null(fcinfo, 2)) PG_RETURN_NULL();
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_columns(fcinfo, cache, 2, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_predict_columns(source regclass, columns text[], VARIADIC "any") -> int: the same for
// custseg_predict(row) on a row of `source` (the active model trained on it).
CUSTSEG_FUNCTION(custseg_predict_table_columns) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || columns_all_null(fcinfo, 2)) PG_RETURN_NULL();
  ScoreCache* cache = table_cache(fcinfo, PG_GETARG_OID(0));
  double* numeric;
  core::StrRef* categorical;
  read_columns(fcinfo, cache, 2, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_predict_columns(model text, columns text[], VARIADIC "any") -> int: the same for
// custseg_predict(row, name).
CUSTSEG_FUNCTION(custseg_predict_name_columns) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || columns_all_null(fcinfo, 2)) PG_RETURN_NULL();
  ScoreCache* cache = named_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_columns(fcinfo, cache, 2, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_predict(row jsonb, model text) -> int: the segment of a JSON object's attributes.
CUSTSEG_FUNCTION(custseg_predict_jsonb_name) {
  ScoreCache* cache = named_cache(fcinfo, 1);
  double* numeric;
  core::StrRef* categorical;
  read_json(fcinfo, cache, 0, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

namespace {

// One assignment explained: (segment, label, distance, runner_up_distance, confidence,
// coordinates, distances, probabilities, outlier, reason); NULL for a row with no feature present.
// confidence = 1 - distance / runner_up_distance, for gmm the segment's posterior probability.
Datum score(FunctionCallInfo fcinfo, ScoreCache* cache, const double* numeric, const core::StrRef* categorical) {
  const core::ModelView& view = *cache->view;
  if (view.k() == 0)
    throw core::Error(core::ErrorCode::kNotFitted, "model has no k-means stage",
                      "train it with a \"k\" option to assign segments");
  if (!has_feature(cache, numeric, categorical)) PG_RETURN_NULL();
  view.transform(numeric, categorical, cache->scratch, cache->point);
  const int k = view.k();
  double distances[core::kMaxK], probabilities[core::kMaxK];
  const core::Score sc = view.assign(cache->point, view.has_distances() ? distances : nullptr,
                                     view.has_probabilities() ? probabilities : nullptr);
  const bool noise = sc.index < 0;
  double confidence = 1.0;
  if (view.method() == core::Method::kGmm)
    confidence = sc.probability;
  else if (std::isfinite(sc.runner_up))
    confidence = sc.runner_up > 0 ? 1.0 - sc.distance / sc.runner_up : 0.0;
  // A model passed by value has no registry row, so no label.
  const char* label = cache->stored && !noise ? pg::segment_label(cache->stored, sc.segment) : nullptr;
  const int p = view.output_dim();
  const double* point = cache->point;
  HeapTuple tuple = nullptr;
  MemoryContext fn_cxt = fcinfo->flinfo->fn_mcxt;
  pg::guard([&] {
    if (!cache->result_desc) {
      TupleDesc desc;
      if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "custseg_score must return a composite type");
      MemoryContext old = MemoryContextSwitchTo(fn_cxt);
      cache->result_desc = BlessTupleDesc(CreateTupleDescCopy(desc));
      MemoryContextSwitchTo(old);
    }
    auto float_array = [](const double* v, int n) {
      Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * size_t(n)));
      for (int i = 0; i < n; ++i) elems[i] = Float8GetDatum(v[i]);
      return PointerGetDatum(construct_array(elems, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
    };
    constexpr int kColumns = 10;
    Datum values[kColumns] = {};
    bool nulls[kColumns] = {noise,
                            label == nullptr,
                            false,
                            noise || !std::isfinite(sc.runner_up),
                            noise || !std::isfinite(confidence),
                            false,
                            !view.has_distances(),
                            !view.has_probabilities(),
                            sc.outlier < 0,
                            sc.why == nullptr};
    if (!noise) values[0] = Int32GetDatum(sc.segment);
    if (label) values[1] = CStringGetTextDatum(label);
    values[2] = Float8GetDatum(sc.distance);
    if (!nulls[3]) values[3] = Float8GetDatum(sc.runner_up);
    if (!nulls[4]) values[4] = Float8GetDatum(confidence);
    values[5] = float_array(point, p);
    if (!nulls[6]) values[6] = float_array(distances, k);
    if (!nulls[7]) values[7] = float_array(probabilities, k);
    if (!nulls[8]) values[8] = BoolGetDatum(sc.outlier == 1);
    if (!nulls[9]) values[9] = CStringGetTextDatum(sc.why);
    tuple = heap_form_tuple(cache->result_desc, values, nulls);
  });
  return HeapTupleGetDatum(tuple);
}

}  // namespace

// custseg_score(row record, model text): one assignment of a row explained.
CUSTSEG_FUNCTION(custseg_score) {
  ScoreCache* cache = named_cache(fcinfo, 1);
  double* numeric;
  core::StrRef* categorical;
  read_record(fcinfo, cache, 0, &numeric, &categorical);
  return score(fcinfo, cache, numeric, categorical);
}

// custseg_score(row jsonb, model text): custseg_score for a JSON object of attributes.
CUSTSEG_FUNCTION(custseg_score_jsonb_name) {
  ScoreCache* cache = named_cache(fcinfo, 1);
  double* numeric;
  core::StrRef* categorical;
  read_json(fcinfo, cache, 0, &numeric, &categorical);
  return score(fcinfo, cache, numeric, categorical);
}

// custseg_predict(model custseg_model, row jsonb) -> int: the segment of a JSON object under a model.
CUSTSEG_FUNCTION(custseg_predict_model_jsonb) {
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_json(fcinfo, cache, 1, &numeric, &categorical);
  return segment_datum(fcinfo, predict(cache, numeric, categorical));
}

// custseg_score(model custseg_model, row record): one assignment explained under a model value
// (label NULL: labels belong to a named model's rows in custseg_segments).
CUSTSEG_FUNCTION(custseg_score_model_record) {
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_record(fcinfo, cache, 1, &numeric, &categorical);
  return score(fcinfo, cache, numeric, categorical);
}

// custseg_score(model custseg_model, row jsonb): one assignment of a JSON object under a model value.
CUSTSEG_FUNCTION(custseg_score_model_jsonb) {
  ScoreCache* cache = score_cache(fcinfo, 0);
  double* numeric;
  core::StrRef* categorical;
  read_json(fcinfo, cache, 1, &numeric, &categorical);
  return score(fcinfo, cache, numeric, categorical);
}

// custseg_keep_segment_trigger(): BEFORE INSERT OR UPDATE row trigger of a kept table (arguments:
// model name, column): sets the column to the row's segment under the model's active version, as
// custseg_predict(row, model) gives it. The model is looked up once per statement.
CUSTSEG_FUNCTION(custseg_keep_segment_trigger) {
  if (!CALLED_AS_TRIGGER(fcinfo))
    throw core::Error(core::ErrorCode::kInvalidArgument, "custseg_keep_segment_trigger must be called as a trigger",
                      "custseg_keep_segment creates the trigger");
  auto* td = reinterpret_cast<TriggerData*>(fcinfo->context);
  const TriggerEvent ev = td->tg_event;
  if (!TRIGGER_FIRED_FOR_ROW(ev) || !TRIGGER_FIRED_BEFORE(ev) ||
      !(TRIGGER_FIRED_BY_INSERT(ev) || TRIGGER_FIRED_BY_UPDATE(ev)) || td->tg_trigger->tgnargs != 2)
    throw core::Error(core::ErrorCode::kInvalidArgument,
                      "custseg_keep_segment_trigger must be a BEFORE INSERT OR UPDATE row trigger with a model and a column",
                      "custseg_keep_segment creates the trigger");
  HeapTuple tuple = TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newtuple : td->tg_trigtuple;
  TupleDesc desc = RelationGetDescr(td->tg_relation);
  const char* model = td->tg_trigger->tgargs[0];
  const char* column = td->tg_trigger->tgargs[1];
  int attnum = SPI_fnumber(desc, column);
  if (attnum <= 0)
    throw core::Error(core::ErrorCode::kUndefinedColumn,
                      std::string("kept segment column \"") + column + "\" does not exist",
                      "custseg_keep_segment adds it; custseg_unkeep_segment removes the trigger");
  const Oid type = TupleDescAttr(desc, attnum - 1)->atttypid;
  if (type != INT4OID && type != INT8OID)
    throw core::Error(core::ErrorCode::kDatatypeMismatch,
                      std::string("kept segment column \"") + column + "\" is not an integer column");
  ScoreCache* cache = named_cache(fcinfo, model);
  // Why a copy: a stored tuple's header carries no row type; the reader needs a composite datum.
  HeapTupleHeader row = nullptr;
  pg::guard([&] { row = DatumGetHeapTupleHeader(heap_copy_tuple_as_datum(tuple, desc)); });
  double* numeric;
  core::StrRef* categorical;
  read_row(fcinfo, cache, row, &numeric, &categorical);
  const int32 segment = predict(cache, numeric, categorical);
  // A row with no feature present has no segment, as custseg_predict gives it.
  bool isnull = segment == kNoSegment;
  Datum value = isnull ? Datum(0) : type == INT4OID ? Int32GetDatum(segment) : Int64GetDatum(int64(segment));
  HeapTuple result = nullptr;
  pg::guard([&] {
    bool old_null;
    Datum old = heap_getattr(tuple, attnum, desc, &old_null);
    if (isnull ? old_null : !old_null && (type == INT4OID ? DatumGetInt32(old) == segment : DatumGetInt64(old) == int64(segment)))
      result = tuple;  // unchanged: no copy
    else
      result = heap_modify_tuple_by_cols(tuple, desc, 1, &attnum, &value, &isnull);
  });
  return PointerGetDatum(result);
}
