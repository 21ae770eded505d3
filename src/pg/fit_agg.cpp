// The training aggregates: custseg_fit and the stage aggregates custseg_scaler_fit, custseg_pca_fit
// and custseg_kmeans_fit, over whole rows, jsonb objects or float8[] vectors. One transition
// function serves them all: it adds a row to a flat state in place, one combine function merges
// partial states from parallel workers or Citus shards, and one final function runs the pipeline.
//
// While a scan runs, the state is a read-write expanded object (a bytea in its expanded form): the
// flat buffer with its room for the sample lives in the object's own memory context, grows there
// without the executor copying it, and flattens (when a parallel worker or Citus ships it, or SQL
// reads it as bytea) to the state without its unused sample room.
#include "rows.h"

extern "C" {
#include "utils/array.h"
#include "utils/expandeddatum.h"
}

using namespace custseg;

namespace {

enum class Input { kRecord, kJsonb, kArray };

// How to read the current input into features: plain data in the state object's memory context.
// Why there and not in fn_extra: Citus calls the transition with a fresh FmgrInfo for every row, so
// a cache in fn_extra would be rebuilt per row; the expanded state lives as long as the scan.
struct FitCache {
  pg::RowReader* reader;      // kRecord: for reader->type_id / typmod
  pg::FeatureBuffers* buffers;  // kJsonb, kArray
  bool transforms_ready;
  int n_transforms;             // numeric features; 0 when the options transform nothing
  core::Transform* transforms;  // per numeric feature, from the state's options
  bool widths_ready;            // custseg_fit_columns: the state's feature counts
  int n_numeric;
  int n_categorical;
  char** column_names;          // custseg_fit_columns: the state's feature names, for transforms and messages
};



// A jsonb argument as JSON text ("" when absent or NULL).
std::string jsonb_text(FunctionCallInfo fcinfo, int arg) {
  if (PG_NARGS() <= arg || PG_ARGISNULL(arg)) return {};
  char* text = nullptr;
  Datum d = PG_GETARG_DATUM(arg);
  pg::guard([&] {
    Jsonb* jb = DatumGetJsonbP(d);
    text = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
  });
  return text;
}

int int_arg(FunctionCallInfo fcinfo, int arg, const char* what) {
  if (PG_ARGISNULL(arg))
    throw core::Error(core::ErrorCode::kInvalidArgument, std::string(what) + " must not be NULL");
  return PG_GETARG_INT32(arg);
}

// The internal options of a new state: the user's options for the stage plus its fixed keys.
std::string state_options(FunctionCallInfo fcinfo, core::Stage stage) {
  using core::json::Value;
  switch (stage) {
    case core::Stage::kFit: return core::stage_options(stage, jsonb_text(fcinfo, 2), {});
    case core::Stage::kScaler:
      return core::stage_options(stage, jsonb_text(fcinfo, 2), {{"k", Value::null()}, {"n_components", Value::null()}});
    case core::Stage::kPca: {
      const int n = int_arg(fcinfo, 2, "n_components");
      if (n < 1 || n > core::kMaxFeatures)
        throw core::Error(core::ErrorCode::kInvalidArgument,
                          "n_components must be between 1 and " + std::to_string(core::kMaxFeatures));
      return core::stage_options(stage, jsonb_text(fcinfo, 3), {{"k", Value::null()}, {"n_components", Value::number(n)}});
    }
    case core::Stage::kKMeans: {
      const int k = int_arg(fcinfo, 2, "k");
      if (k < 1 || k > core::kMaxK)
        throw core::Error(core::ErrorCode::kInvalidArgument, "k must be between 1 and " + std::to_string(core::kMaxK));
      return core::stage_options(stage, jsonb_text(fcinfo, 3), {{"k", Value::number(k)}, {"n_components", Value::null()}});
    }
  }
  return {};
}

// Builds a fresh state for the first row: plans the features from its columns, keys or length.
bytea* new_state(FunctionCallInfo fcinfo, core::Stage stage, Input input, Datum row) {
  const std::string opts = state_options(fcinfo, stage);
  const core::FitOptions o = core::parse_fit_options(opts);
  std::vector<core::ColumnInfo> columns;
  if (input == Input::kRecord) {
    std::vector<int> attnos;
    HeapTupleHeader td = pg::row_header(row);
    columns = pg::describe_columns(pg::row_desc(td, CurrentMemoryContext), attnos);
  } else if (input == Input::kJsonb) {
    Jsonb* jb = nullptr;
    pg::guard([&] { jb = DatumGetJsonbP(row); });
    columns = pg::describe_jsonb(jb);
  } else {
    ArrayType* a = nullptr;
    pg::guard([&] { a = DatumGetArrayTypeP(row); });
    const int n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
    if (ARR_NDIM(a) > 1 || n < 1)
      throw core::Error(core::ErrorCode::kInvalidArgument, "expected a non-empty one-dimensional float8[] vector");
    for (int i = 0; i < n; ++i) columns.push_back({"x" + std::to_string(i + 1), core::ColumnType::kNumber, "float8"});
  }
  core::FeaturePlan plan = core::plan_features(columns, o);
  core::resolve_transforms(o.transforms, plan.names, plan.n_numeric);  // a bad transform fails on the first row
  std::vector<uint8_t> bytes = core::encode_state(core::FitParts(plan.names, plan.n_numeric, opts));
  return reinterpret_cast<bytea*>(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}

// Applies the options' per-column transforms to a row's numeric values, where they are read (the
// same step as scoring's ModelView::transform). The transforms are resolved once per state object.
void transform_input(FitCache* cache, MemoryContext cxt, const uint8_t* state, size_t len, char** names,
                     double* numeric) {
  if (!cache->transforms_ready) {
    std::vector<std::string> feature_names;
    int n_numeric = 0;
    core::state_features(state, len, feature_names, n_numeric);
    std::vector<core::Transform> t = core::resolve_transforms(
        core::parse_fit_options(core::state_options(state, len)).transforms, feature_names, n_numeric);
    bool any = false;
    for (const auto& x : t) any = any || x.any();
    if (any) {
      cache->transforms = static_cast<core::Transform*>(pg::alloc(cxt, sizeof(core::Transform) * t.size()));
      std::copy(t.begin(), t.end(), cache->transforms);
      cache->n_transforms = int(t.size());
    }
    cache->transforms_ready = true;
  }
  if (cache->n_transforms) core::apply_transforms(cache->transforms, cache->n_transforms, names, numeric);
}

// Reads one input row into feature buffers; returns the numeric and categorical arrays.
void read_input(FitCache* cache, MemoryContext cxt, Input input, Datum row, const uint8_t* state, size_t len,
                double** numeric, core::StrRef** categorical) {
  if (input == Input::kRecord) {
    HeapTupleHeader td = pg::row_header(row);
    const Oid type_id = HeapTupleHeaderGetTypeId(td);
    const int32 typmod = HeapTupleHeaderGetTypMod(td);
    if (!cache->reader || cache->reader->type_id != type_id || cache->reader->typmod != typmod) {
      // Why only the header: reading the names costs their length, not the state's size.
      std::vector<std::string> names;
      int n_numeric = 0;
      core::state_features(state, len, names, n_numeric);
      std::vector<core::Kind> kinds;
      for (int i = 0; i < int(names.size()); ++i)
        kinds.push_back(i < n_numeric ? core::Kind::kNumeric : core::Kind::kCategorical);
      cache->reader = pg::build_reader(cxt, pg::row_desc(td, cxt), type_id, typmod, names, kinds);
    }
    pg::RowReader* reader = cache->reader;
    if (!pg::read_row_quick(reader, td)) pg::guard([&] { pg::read_row(reader, td); });
    *numeric = reader->numeric;
    *categorical = reader->categorical;
    transform_input(cache, cxt, state, len, reader->names, *numeric);
    return;
  }
  if (!cache->buffers) {
    std::vector<std::string> names;
    int n_numeric = 0;
    core::state_features(state, len, names, n_numeric);
    // A vector has numbers only: a state with categories (an INITCOND) would leave them unread.
    if (input == Input::kArray && n_numeric != int(names.size()))
      throw core::Error(core::ErrorCode::kInvalidBinary,
                        "invalid custseg_fit state: it has " + std::to_string(names.size() - size_t(n_numeric)) +
                            " categorical feature(s), and float8[] rows carry none");
    cache->buffers = pg::build_buffers(cxt, names, n_numeric);
  }
  pg::FeatureBuffers* b = cache->buffers;
  if (input == Input::kJsonb)
    pg::guard([&] { pg::read_jsonb_row(b, DatumGetJsonbP(row)); });
  else
    pg::guard([&] { pg::read_array_row(b, DatumGetArrayTypeP(row)); });
  *numeric = b->numeric;
  *categorical = b->categorical;
  transform_input(cache, cxt, state, len, b->names, *numeric);
}

}  // namespace

// ---- the state as an expanded object ----

struct custseg::pg::FitStateObject {
  ExpandedObjectHeader hdr;
  uint8_t* data;  // the flat state (8-byte aligned, first 8 bytes reserved), in hdr.eoh_context
  size_t len;
  FitCache cache;  // in hdr.eoh_context too
  core::LevelMemo memo;  // of `data`: cleared when the buffer is replaced
};

namespace {

using pg::FitStateObject;

Size fit_state_flat_size(ExpandedObjectHeader* eoh);
void fit_state_flatten(ExpandedObjectHeader* eoh, void* result, Size size);
const ExpandedObjectMethods kFitStateMethods = {fit_state_flat_size, fit_state_flatten};

// For the expanded objects' methods, which PostgreSQL calls (plain C callers): runs f so that no
// exception leaves, reporting a failure after the catch scope. Our own states are valid, so such
// errors would be internal ones.
template <typename F>
void without_exceptions(F&& f, const char* error) {
  bool failed = false;
  try {
    f();
  } catch (...) {
    failed = true;
  }
  if (failed) elog(ERROR, "%s", error);
}

Size fit_state_flat_size(ExpandedObjectHeader* eoh) {
  auto* o = reinterpret_cast<FitStateObject*>(eoh);
  size_t n = 0;
  // The state leaves the scan: its sample is cut to the bottom sample_size first (the same rows;
  // fit_state_flatten writes what this measured).
  without_exceptions([&] {
    core::FitStateView(o->data, o->len, /*validate=*/false).compact_sample();
    n = core::compact_state_length(o->data, o->len);
  },
                     "custseg: invalid expanded custseg_fit state");
  return n;
}

void fit_state_flatten(ExpandedObjectHeader* eoh, void* result, Size size) {
  auto* o = reinterpret_cast<FitStateObject*>(eoh);
  without_exceptions([&] { core::compact_state_into(o->data, o->len, static_cast<uint8_t*>(result), size); },
                     "custseg: invalid expanded custseg_fit state");
  SET_VARSIZE(result, size);
}

FitStateObject* as_fit_state(Datum d) {
  if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d))) return nullptr;
  ExpandedObjectHeader* eoh = DatumGetEOHP(d);
  return eoh->eoh_methods == &kFitStateMethods ? reinterpret_cast<FitStateObject*>(eoh) : nullptr;
}

// A new expanded state in a context under the aggregate context (so the executor keeps it as is),
// holding a copy of `len` bytes of a flat state.
FitStateObject* new_fit_state(MemoryContext aggcxt, const uint8_t* data, size_t len) {
  MemoryContext cxt = nullptr;
  pg::guard([&] { cxt = AllocSetContextCreate(aggcxt, "custseg_fit state", ALLOCSET_DEFAULT_SIZES); });
  auto* o = static_cast<FitStateObject*>(pg::alloc(cxt, sizeof(FitStateObject)));
  pg::guard([&] { EOH_init_header(&o->hdr, &kFitStateMethods, cxt); });
  o->data = static_cast<uint8_t*>(pg::alloc(cxt, len));
  o->len = len;
  o->cache.reader = nullptr;
  o->cache.buffers = nullptr;
  o->cache.transforms_ready = false;
  o->cache.n_transforms = 0;
  o->cache.transforms = nullptr;
  o->cache.widths_ready = false;
  o->cache.column_names = nullptr;
  o->memo.clear();
  std::memcpy(o->data, data, len);
  return o;
}

// Replaces the object's buffer by a new one of `len` bytes filled by `fill` (the old one is freed).
template <typename F>
void replace_buffer(FitStateObject* o, size_t len, F&& fill) {
  auto* next = static_cast<uint8_t*>(pg::alloc(o->hdr.eoh_context, len));
  fill(next);
  pfree(o->data);
  o->data = next;
  o->len = len;
  o->memo.clear();
}

// Arg 0 of a transition as the running state (see custseg_pg.h).
FitStateObject* running_state(FunctionCallInfo fcinfo, MemoryContext aggcxt) {
  if (PG_ARGISNULL(0)) return nullptr;
  FitStateObject* o = as_fit_state(PG_GETARG_DATUM(0));
  if (o) return o;
  // A flat state (an INITCOND, or one read back as bytea): expanded once, then updated in place.
  struct varlena* v = nullptr;
  Datum d = PG_GETARG_DATUM(0);
  pg::guard([&] { v = PG_DETOAST_DATUM(d); });
  size_t len;
  const uint8_t* data = pg::aligned_bytes(v, &len);
  // Validated whole and encoded afresh, not copied: decode_state checks the sections and every
  // count and category id of the pending rows and the sample (which the per-row path and the
  // compaction then use as indexes unchecked), and encode_state rebuilds the level hash index
  // (whose probe loops a crafted index with no empty slot would never leave) and the levels'
  // hashes from the levels' texts.
  std::vector<uint8_t> fresh = core::encode_state(core::decode_state(data, len));
  return new_fit_state(aggcxt, fresh.data(), fresh.size());
}

Datum add_skipped(FitStateObject* o) {
  core::FitStateView(o->data, o->len, /*validate=*/false).add_skipped();
  return EOHPGetRWDatum(&o->hdr);
}

// Adds a row to the running state: in place, or in a buffer grown or rebuilt in the object's context.
Datum add_row(FitStateObject* o, const double* numeric, const core::StrRef* categorical) {
  // Why unvalidated: the object's buffer was encoded here or validated when it was expanded.
  core::FitStateView view(o->data, o->len, /*validate=*/false);
  // Fast path: the state is updated in place and returned as is.
  if (!view.add_row(numeric, categorical, &o->memo)) {
    // A new category or a full sample room: the buffer is rebuilt larger in the object's context.
    if (const size_t grown = view.grown_length(categorical)) {
      // Only more room: a copy, so the peak is the old buffer and the new one.
      replace_buffer(o, grown, [&](uint8_t* next) { view.grow_into(next, grown); });
    } else {
      core::FitParts parts = core::decode_state(o->data, o->len);
      parts.prepare(categorical);
      uint8_t* next = nullptr;
      size_t n = 0;
      core::encode_state(parts, [&](size_t len) {
        next = static_cast<uint8_t*>(pg::alloc(o->hdr.eoh_context, len));
        n = len;
        return next;
      });
      pfree(o->data);
      o->data = next;
      o->len = n;
      o->memo.clear();
    }
    view = core::FitStateView(o->data, o->len, /*validate=*/false);
    if (!view.add_row(numeric, categorical, &o->memo))
      throw core::Error(core::ErrorCode::kInternal, "custseg state did not accept a prepared row");
  }
  if (view.verbose() && view.seen() % 1000000 == 0) {
    const uint64 seen = view.seen();
    pg::guard([&] { ereport(NOTICE, (errmsg("custseg: " UINT64_FORMAT " rows scanned", seen))); });
  }
  return EOHPGetRWDatum(&o->hdr);
}

// The shared transition: (state, row, ...) -> state.
Datum fit_transition(FunctionCallInfo fcinfo, core::Stage stage, Input input) {
  MemoryContext aggcxt;
  if (!AggCheckCallContext(fcinfo, &aggcxt))
    throw core::Error(core::ErrorCode::kInvalidArgument, "custseg transition function called in non-aggregate context");
  FitStateObject* o = running_state(fcinfo, aggcxt);
  if (PG_ARGISNULL(1)) {
    // A NULL row has no feature: counted as skipped once a state exists.
    if (!o) PG_RETURN_NULL();
    return add_skipped(o);
  }
  const Datum row = PG_GETARG_DATUM(1);
  if (!o) {
    bytea* fresh = new_state(fcinfo, stage, input, row);
    o = new_fit_state(aggcxt, reinterpret_cast<uint8_t*>(fresh), VARSIZE(fresh));
  }
  double* numeric = nullptr;
  core::StrRef* categorical = nullptr;
  read_input(&o->cache, o->hdr.eoh_context, input, row, o->data, o->len, &numeric, &categorical);
  return add_row(o, numeric, categorical);
}

// ---- the combine's running state: decoded parts, merged in place ----
//
// Combining decodes the running state and encodes the result at every step otherwise, so merging
// the partial states of many shards would copy the growing state once per shard. The running state
// of a combine is instead a second kind of expanded object that holds the decoded parts; each step
// merges the next partial state into them, and the state is encoded once, when it is read flat
// (by the final function, or when it is shipped).
struct FitMergeObject {
  ExpandedObjectHeader hdr;
  MemoryContextCallback callback;  // deletes parts with the object's context
  core::FitParts* parts;           // owned
  bytea* flat;                     // the encoded parts, made when first read flat (in hdr.eoh_context)
};

Size fit_merge_flat_size(ExpandedObjectHeader* eoh);
void fit_merge_flatten(ExpandedObjectHeader* eoh, void* result, Size size);
const ExpandedObjectMethods kFitMergeMethods = {fit_merge_flat_size, fit_merge_flatten};

FitMergeObject* as_merge_state(Datum d) {
  if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d))) return nullptr;
  ExpandedObjectHeader* eoh = DatumGetEOHP(d);
  return eoh->eoh_methods == &kFitMergeMethods ? reinterpret_cast<FitMergeObject*>(eoh) : nullptr;
}

void delete_merge_parts(void* arg) {
  auto* o = static_cast<FitMergeObject*>(arg);
  delete o->parts;
  o->parts = nullptr;
}

// The object's parts encoded (once, until they change), in the object's context.
bytea* merge_flat(FitMergeObject* o) {
  if (!o->flat) {
    uint8_t* out = nullptr;
    size_t size = 0;
    core::encode_state(*o->parts, [&](size_t len) {
      out = static_cast<uint8_t*>(pg::alloc(o->hdr.eoh_context, len));
      size = len;
      return out;
    });
    SET_VARSIZE(out, size);
    o->flat = reinterpret_cast<bytea*>(out);
  }
  return o->flat;
}

Size fit_merge_flat_size(ExpandedObjectHeader* eoh) {
  auto* o = reinterpret_cast<FitMergeObject*>(eoh);
  Size n = 0;
  without_exceptions([&] { n = VARSIZE(merge_flat(o)); }, "custseg: could not encode a combined custseg_fit state");
  return n;
}

void fit_merge_flatten(ExpandedObjectHeader* eoh, void* result, Size size) {
  auto* o = reinterpret_cast<FitMergeObject*>(eoh);
  // flat_size ran first and made the encoding.
  if (!o->flat || VARSIZE(o->flat) != size) elog(ERROR, "custseg: combined custseg_fit state changed while flattened");
  std::memcpy(result, o->flat, size);
}

// A new merge object under the aggregate context (so the executor keeps it as is), owning `parts`.
FitMergeObject* new_merge_state(MemoryContext aggcxt, core::FitParts&& parts) {
  MemoryContext cxt = nullptr;
  pg::guard([&] { cxt = AllocSetContextCreate(aggcxt, "custseg_fit combined state", ALLOCSET_DEFAULT_SIZES); });
  auto* o = static_cast<FitMergeObject*>(pg::alloc(cxt, sizeof(FitMergeObject)));
  pg::guard([&] { EOH_init_header(&o->hdr, &kFitMergeMethods, cxt); });
  o->flat = nullptr;
  o->parts = nullptr;
  o->callback.func = delete_merge_parts;
  o->callback.arg = o;
  MemoryContextRegisterResetCallback(cxt, &o->callback);
  o->parts = new core::FitParts(std::move(parts));
  return o;
}

}  // namespace

const uint8_t* pg::fit_state_bytes(Datum d, size_t* len) {
  // Why in place: flattening an expanded state would copy it (and drop room we do not read).
  if (FitStateObject* o = as_fit_state(d)) {
    *len = o->len;
    return o->data;
  }
  if (FitMergeObject* o = as_merge_state(d)) {
    bytea* flat = merge_flat(o);
    *len = VARSIZE(flat);
    return reinterpret_cast<const uint8_t*>(flat);
  }
  struct varlena* v = nullptr;
  pg::guard([&] { v = PG_DETOAST_DATUM(d); });
  return pg::aligned_bytes(v, len);
}

pg::FitStateObject* pg::running_fit_state(FunctionCallInfo fcinfo, MemoryContext aggcxt) {
  return running_state(fcinfo, aggcxt);
}

pg::FitStateObject* pg::new_running_fit_state(MemoryContext aggcxt, const bytea* fresh) {
  return new_fit_state(aggcxt, reinterpret_cast<const uint8_t*>(fresh), VARSIZE(fresh));
}

void pg::running_fit_widths(FitStateObject* o, int* n_numeric, int* n_categorical) {
  if (!o->cache.widths_ready) {
    int n_features = 0, nn = 0;
    core::state_widths(o->data, o->len, n_features, nn);
    o->cache.n_numeric = nn;
    o->cache.n_categorical = n_features - nn;
    o->cache.widths_ready = true;
  }
  *n_numeric = o->cache.n_numeric;
  *n_categorical = o->cache.n_categorical;
}

namespace {

// The state's feature names as C strings in its context, read from the header once.
char** column_names(FitStateObject* o) {
  if (!o->cache.column_names) {
    std::vector<std::string> names;
    int n_numeric = 0;
    core::state_features(o->data, o->len, names, n_numeric);
    auto** a = static_cast<char**>(pg::alloc(o->hdr.eoh_context, sizeof(char*) * (names.size() + 1)));
    for (size_t i = 0; i < names.size(); ++i) {
      a[i] = static_cast<char*>(pg::alloc(o->hdr.eoh_context, names[i].size() + 1));
      std::memcpy(a[i], names[i].c_str(), names[i].size() + 1);
    }
    a[names.size()] = nullptr;
    o->cache.column_names = a;
  }
  return o->cache.column_names;
}

}  // namespace

std::string pg::running_fit_feature_name(FitStateObject* o, int i) {
  return column_names(o)[i];
}

Datum pg::running_fit_add_row(FitStateObject* o, double* numeric, const core::StrRef* categorical) {
  // The options' transforms, applied where the record form applies them (as the row is read).
  transform_input(&o->cache, o->hdr.eoh_context, o->data, o->len, column_names(o), numeric);
  return add_row(o, numeric, categorical);
}

Datum pg::running_fit_add_skipped(FitStateObject* o) { return add_skipped(o); }

// custseg_fit_transfn(state, row record [, options jsonb])
CUSTSEG_FUNCTION(custseg_fit_transfn) { return fit_transition(fcinfo, core::Stage::kFit, Input::kRecord); }
// custseg_fit_jsonb_transfn(state, row jsonb [, options jsonb])
CUSTSEG_FUNCTION(custseg_fit_jsonb_transfn) { return fit_transition(fcinfo, core::Stage::kFit, Input::kJsonb); }
// custseg_scaler_fit_transfn(state, row record [, options jsonb])
CUSTSEG_FUNCTION(custseg_scaler_fit_transfn) { return fit_transition(fcinfo, core::Stage::kScaler, Input::kRecord); }
// custseg_scaler_fit_jsonb_transfn(state, row jsonb [, options jsonb])
CUSTSEG_FUNCTION(custseg_scaler_fit_jsonb_transfn) {
  return fit_transition(fcinfo, core::Stage::kScaler, Input::kJsonb);
}
// custseg_pca_fit_transfn(state, x float8[], n_components int [, options jsonb])
CUSTSEG_FUNCTION(custseg_pca_fit_transfn) { return fit_transition(fcinfo, core::Stage::kPca, Input::kArray); }
// custseg_kmeans_fit_transfn(state, x float8[], k int [, options jsonb])
CUSTSEG_FUNCTION(custseg_kmeans_fit_transfn) { return fit_transition(fcinfo, core::Stage::kKMeans, Input::kArray); }

// custseg_fit_combinefn(a bytea, b bytea): merges two partial states (strict: NULLs never reach it).
CUSTSEG_FUNCTION(custseg_fit_combinefn) {
  MemoryContext aggcxt;
  if (!AggCheckCallContext(fcinfo, &aggcxt))
    throw core::Error(core::ErrorCode::kInvalidArgument, "custseg_fit_combinefn called in non-aggregate context");
  // The running state: ours to merge into when it is already a merge object we may write;
  // otherwise (the first step: a flat partial state, or one we may only read) decoded into one.
  const Datum da = PG_GETARG_DATUM(0), db = PG_GETARG_DATUM(1);
  FitMergeObject* m = as_merge_state(da);
  if (m && !VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(da))) m = nullptr;
  size_t lb;
  const uint8_t* b = pg::fit_state_bytes(db, &lb);
  core::FitParts pb = core::decode_state(b, lb);
  if (!m) {
    size_t la;
    const uint8_t* a = pg::fit_state_bytes(da, &la);
    m = new_merge_state(aggcxt, core::decode_state(a, la));
  }
  if (m->flat) {  // the parts change: an encoding made meanwhile is stale
    pfree(m->flat);
    m->flat = nullptr;
  }
  m->parts->merge(pb);
  return EOHPGetRWDatum(&m->hdr);
}

// custseg_fit_finalfn(state bytea) -> custseg_model: scaler, PCA, k-means and metrics.
CUSTSEG_FUNCTION(custseg_fit_finalfn) {
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  size_t len;
  const uint8_t* data = pg::fit_state_bytes(PG_GETARG_DATUM(0), &len);
  struct varlena* result;
  {
    core::FitParts parts = core::decode_state(data, len, /*borrow=*/true);
    core::Model model = parts.finish(pg::check_interrupts, [](const std::string& line) {
      const char* msg = line.c_str();
      pg::guard([&] { ereport(NOTICE, (errmsg("%s", msg))); });
    });
    std::vector<uint8_t> bytes = core::serialize(model);
    result = pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size());
  }
  PG_RETURN_POINTER(result);
}
