// The training aggregates: custseg_fit and the stage aggregates custseg_scaler_fit, custseg_pca_fit
// and custseg_kmeans_fit, over whole rows, jsonb objects or float8[] vectors. One transition
// function serves them all: it adds a row to a flat bytea state in place (the executor keeps it in
// the aggregate context), one combine function merges partial states from parallel workers or
// Citus shards, and one final function runs the pipeline.
#include "rows.h"

extern "C" {
#include "utils/array.h"
}

using namespace custseg;

namespace {

enum class Input { kRecord, kJsonb, kArray };

// Per-call cache in fn_extra, plain data in fn_mcxt: how to read the current input into features.
struct FitCache {
  pg::RowReader* reader;      // kRecord: for reader->type_id / typmod
  pg::FeatureBuffers* buffers;  // kJsonb, kArray
};

uint8_t* bytes_of(bytea* state) { return reinterpret_cast<uint8_t*>(state); }

// A state encoded straight into palloc'd memory of the current context.
bytea* encode_varlena(const core::FitParts& parts) {
  bytea* out = nullptr;
  size_t size = 0;
  core::encode_state(parts, [&out, &size](size_t len) {
    out = static_cast<bytea*>(pg::alloc(CurrentMemoryContext, len));
    size = len;
    return reinterpret_cast<uint8_t*>(out);
  });
  SET_VARSIZE(out, size);
  return out;
}

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
    HeapTupleHeader td = nullptr;
    pg::guard([&] { td = DatumGetHeapTupleHeader(row); });
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
  std::vector<uint8_t> bytes = core::encode_state(core::FitParts(plan.names, plan.n_numeric, opts));
  return reinterpret_cast<bytea*>(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}

FitCache* fit_cache(FunctionCallInfo fcinfo) {
  auto* cache = static_cast<FitCache*>(fcinfo->flinfo->fn_extra);
  if (!cache) {
    cache = static_cast<FitCache*>(pg::alloc(fcinfo->flinfo->fn_mcxt, sizeof(FitCache)));
    cache->reader = nullptr;
    cache->buffers = nullptr;
    fcinfo->flinfo->fn_extra = cache;
  }
  return cache;
}

// Reads one input row into feature buffers; returns the numeric and categorical arrays.
void read_input(FunctionCallInfo fcinfo, Input input, Datum row, const uint8_t* state, size_t len, double** numeric,
                core::StrRef** categorical) {
  FitCache* cache = fit_cache(fcinfo);
  MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
  if (input == Input::kRecord) {
    HeapTupleHeader td = nullptr;
    pg::guard([&] { td = DatumGetHeapTupleHeader(row); });
    const Oid type_id = HeapTupleHeaderGetTypeId(td);
    const int32 typmod = HeapTupleHeaderGetTypMod(td);
    if (!cache->reader || cache->reader->type_id != type_id || cache->reader->typmod != typmod) {
      // Why only the header: Citus calls the transition with a fresh FmgrInfo for every row, so
      // this runs per row there; reading the names costs their length, not the state's size.
      std::vector<std::string> names;
      int n_numeric = 0;
      core::state_features(state, len, names, n_numeric);
      std::vector<core::Kind> kinds;
      for (int i = 0; i < int(names.size()); ++i)
        kinds.push_back(i < n_numeric ? core::Kind::kNumeric : core::Kind::kCategorical);
      cache->reader = pg::build_reader(cxt, pg::row_desc(td, cxt), type_id, typmod, names, kinds);
    }
    pg::RowReader* reader = cache->reader;
    pg::guard([&] { pg::read_row(reader, td); });
    *numeric = reader->numeric;
    *categorical = reader->categorical;
    return;
  }
  if (!cache->buffers) {
    std::vector<std::string> names;
    int n_numeric = 0;
    core::state_features(state, len, names, n_numeric);
    cache->buffers = pg::build_buffers(cxt, names, n_numeric);
  }
  pg::FeatureBuffers* b = cache->buffers;
  if (input == Input::kJsonb)
    pg::guard([&] { pg::read_jsonb_row(b, DatumGetJsonbP(row)); });
  else
    pg::guard([&] { pg::read_array_row(b, DatumGetArrayTypeP(row)); });
  *numeric = b->numeric;
  *categorical = b->categorical;
}

// The shared transition: (state, row, ...) -> state.
Datum fit_transition(FunctionCallInfo fcinfo, core::Stage stage, Input input) {
  MemoryContext aggcxt;
  if (!AggCheckCallContext(fcinfo, &aggcxt))
    throw core::Error(core::ErrorCode::kInvalidArgument, "custseg transition function called in non-aggregate context");
  bytea* state = PG_ARGISNULL(0) ? nullptr : PG_GETARG_BYTEA_P(0);
  if (PG_ARGISNULL(1)) {
    // A NULL row has no feature: counted as skipped once a state exists.
    if (!state) PG_RETURN_NULL();
    core::FitStateView(bytes_of(state), VARSIZE(state)).add_skipped();
    PG_RETURN_BYTEA_P(state);
  }
  const Datum row = PG_GETARG_DATUM(1);
  if (!state) state = new_state(fcinfo, stage, input, row);
  double* numeric = nullptr;
  core::StrRef* categorical = nullptr;
  read_input(fcinfo, input, row, bytes_of(state), VARSIZE(state), &numeric, &categorical);
  core::FitStateView view(bytes_of(state), VARSIZE(state));
  // Fast path: the state in the aggregate context is updated in place and returned as is.
  if (!view.add_row(numeric, categorical)) {
    // A new category or a full sample room: rebuild the state larger. Why per-row memory: the executor
    // copies a returned new pointer into the aggregate context and frees the old state itself.
    if (const size_t grown = view.grown_length(categorical)) {
      // Only more room: a copy keeps the peak at the old state plus the new one twice (ours and the
      // executor's), where decoding and encoding would add two more copies.
      auto* v = static_cast<uint8_t*>(pg::alloc(CurrentMemoryContext, grown));
      view.grow_into(v, grown);
      SET_VARSIZE(v, grown);
      state = reinterpret_cast<bytea*>(v);
    } else {
      core::FitParts parts = core::decode_state(bytes_of(state), VARSIZE(state));
      parts.prepare(categorical);
      state = encode_varlena(parts);
    }
    view = core::FitStateView(bytes_of(state), VARSIZE(state));
    if (!view.add_row(numeric, categorical))
      throw core::Error(core::ErrorCode::kInternal, "custseg state did not accept a prepared row");
  }
  if (view.verbose() && view.seen() % 1000000 == 0) {
    const uint64 seen = view.seen();
    pg::guard([&] { ereport(NOTICE, (errmsg("custseg: " UINT64_FORMAT " rows scanned", seen))); });
  }
  PG_RETURN_BYTEA_P(state);
}

}  // namespace

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
  size_t la, lb;
  struct varlena* va = nullptr;
  struct varlena* vb = nullptr;
  Datum da = PG_GETARG_DATUM(0), db = PG_GETARG_DATUM(1);
  pg::guard([&] {
    va = PG_DETOAST_DATUM(da);
    vb = PG_DETOAST_DATUM(db);
  });
  const uint8_t* a = pg::aligned_bytes(va, &la);
  const uint8_t* b = pg::aligned_bytes(vb, &lb);
  bytea* merged;
  {
    core::FitParts pa = core::decode_state(a, la);
    core::FitParts pb = core::decode_state(b, lb);
    pa.merge(pb);
    merged = encode_varlena(pa);
  }
  PG_RETURN_BYTEA_P(merged);
}

// custseg_fit_finalfn(state bytea) -> custseg_model: scaler, PCA, k-means and metrics.
CUSTSEG_FUNCTION(custseg_fit_finalfn) {
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  size_t len;
  struct varlena* v = nullptr;
  Datum d = PG_GETARG_DATUM(0);
  pg::guard([&] { v = PG_DETOAST_DATUM(d); });
  const uint8_t* data = pg::aligned_bytes(v, &len);
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
