// The custseg_fit aggregate: transition (rows into a flat bytea state, in place), combine (merging
// partial states from parallel workers or Citus shards) and final (the whole pipeline).
#include <cstring>
#include <string>

#include "rows.h"

extern "C" {
#include "utils/jsonb.h"
}

using namespace custseg;

namespace {

// Per-call cache in fn_extra: the row reader of the current row type. Plain data in fn_mcxt.
struct FitCache {
  pg::RowReader* reader;
};

uint8_t* state_bytes(bytea* state) { return reinterpret_cast<uint8_t*>(state); }

// The options argument as JSON text ("" when absent or NULL).
std::string options_text(FunctionCallInfo fcinfo) {
  if (PG_NARGS() < 3 || PG_ARGISNULL(2)) return {};
  Jsonb* jb = nullptr;
  char* text = nullptr;
  Datum d = PG_GETARG_DATUM(2);
  pg::guard([&] {
    jb = DatumGetJsonbP(d);
    text = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
  });
  return text;
}

// Builds a fresh state for the first row: plans the features from the row type and the options.
bytea* new_state(FunctionCallInfo fcinfo, TupleDesc desc) {
  std::string opts = options_text(fcinfo);
  core::FitOptions o = core::parse_fit_options(opts);
  std::vector<int> attnos;
  core::FeaturePlan plan = core::plan_features(pg::describe_columns(desc, attnos), o);
  std::vector<uint8_t> bytes = core::encode_state(core::FitParts(plan.names, plan.n_numeric, opts));
  return reinterpret_cast<bytea*>(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}

// The reader for this row's type, mapped by the state's feature names.
pg::RowReader* reader_for(FunctionCallInfo fcinfo, HeapTupleHeader row, const uint8_t* state, size_t len) {
  auto* cache = static_cast<FitCache*>(fcinfo->flinfo->fn_extra);
  const Oid type_id = HeapTupleHeaderGetTypeId(row);
  const int32 typmod = HeapTupleHeaderGetTypMod(row);
  if (cache && cache->reader && cache->reader->type_id == type_id && cache->reader->typmod == typmod)
    return cache->reader;
  MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
  if (!cache) {
    cache = static_cast<FitCache*>(pg::alloc(cxt, sizeof(FitCache)));
    cache->reader = nullptr;
    fcinfo->flinfo->fn_extra = cache;
  }
  core::FitParts parts = core::decode_state(state, len);
  std::vector<core::Kind> kinds;
  for (int i = 0; i < parts.row_width(); ++i)
    kinds.push_back(i < parts.n_numeric ? core::Kind::kNumeric : core::Kind::kCategorical);
  TupleDesc desc = pg::row_desc(row, cxt);
  cache->reader = pg::build_reader(cxt, desc, type_id, typmod, parts.names, kinds);
  return cache->reader;
}

}  // namespace

// custseg_fit_transfn(state bytea, row record [, options jsonb]): adds one row to the state.
CUSTSEG_FUNCTION(custseg_fit_transfn) {
  MemoryContext aggcxt;
  if (!AggCheckCallContext(fcinfo, &aggcxt))
    throw core::Error(core::ErrorCode::kInvalidArgument, "custseg_fit_transfn called in non-aggregate context");
  bytea* state = PG_ARGISNULL(0) ? nullptr : PG_GETARG_BYTEA_P(0);
  if (PG_ARGISNULL(1)) {
    // A NULL row has no feature: counted as skipped once a state exists.
    if (state) core::FitStateView(state_bytes(state), VARSIZE(state)).add_skipped();
    if (!state) PG_RETURN_NULL();
    PG_RETURN_BYTEA_P(state);
  }
  HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(1);
  if (!state) state = new_state(fcinfo, pg::row_desc(row, CurrentMemoryContext));
  pg::RowReader* reader = reader_for(fcinfo, row, state_bytes(state), VARSIZE(state));
  pg::guard([&] { pg::read_row(reader, row); });
  // Fast path: the state in the aggregate context is updated in place and returned as is.
  if (core::FitStateView(state_bytes(state), VARSIZE(state)).add_row(reader->numeric, reader->categorical))
    PG_RETURN_BYTEA_P(state);
  // A new category or a full reservoir: rebuild the state larger. Why per-row memory: the executor
  // copies a returned new pointer into the aggregate context and frees the old state itself.
  bytea* grown;
  {
    core::FitParts parts = core::decode_state(state_bytes(state), VARSIZE(state));
    parts.prepare(reader->categorical);
    std::vector<uint8_t> bytes = core::encode_state(parts);
    grown = reinterpret_cast<bytea*>(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
  }
  if (!core::FitStateView(state_bytes(grown), VARSIZE(grown)).add_row(reader->numeric, reader->categorical))
    throw core::Error(core::ErrorCode::kInternal, "custseg_fit state did not accept a prepared row");
  PG_RETURN_BYTEA_P(grown);
}

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
    std::vector<uint8_t> bytes = core::encode_state(pa);
    merged = reinterpret_cast<bytea*>(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
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
    core::FitParts parts = core::decode_state(data, len);
    core::Model model = parts.finish(pg::check_interrupts, [](const std::string& line) {
      const char* msg = line.c_str();
      pg::guard([&] { ereport(NOTICE, (errmsg("%s", msg))); });
    });
    std::vector<uint8_t> bytes = core::serialize(model);
    result = pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size());
  }
  PG_RETURN_POINTER(result);
}
