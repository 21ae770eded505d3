// Scoring in place: custseg_predict(model, row). The model is validated and the row's columns are
// mapped once per query (cached in fn_extra); each row is then read, encoded and assigned without
// allocating anything that outlives it.
#include <cstring>
#include <string>
#include <vector>

#include "rows.h"

using namespace custseg;

namespace custseg::pg {
const uint8_t* model_arg(FunctionCallInfo fcinfo, int n, size_t* len);
}

namespace {

struct PredictCache {
  MemoryContextCallback callback;
  uint8_t* model;  // our copy of the model bytes, in fn_mcxt
  size_t model_len;
  core::ModelView* view;  // owned; deleted by the memory context callback
  pg::RowReader* reader;
  double* scratch;
  double* point;
};

void delete_view(void* arg) {
  auto* cache = static_cast<PredictCache*>(arg);
  delete cache->view;
  cache->view = nullptr;
}

// The cache for this model and row type, rebuilt when either changes.
PredictCache* predict_cache(FunctionCallInfo fcinfo, int model_arg, HeapTupleHeader row) {
  MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
  auto* cache = static_cast<PredictCache*>(fcinfo->flinfo->fn_extra);
  if (!cache) {
    cache = static_cast<PredictCache*>(pg::alloc(cxt, sizeof(PredictCache)));
    std::memset(cache, 0, sizeof *cache);
    cache->callback.func = delete_view;
    cache->callback.arg = cache;
    MemoryContextRegisterResetCallback(cxt, &cache->callback);
    fcinfo->flinfo->fn_extra = cache;
  }
  size_t len;
  const uint8_t* bytes = pg::model_arg(fcinfo, model_arg, &len);
  if (!cache->view || cache->model_len != len || std::memcmp(cache->model, bytes, len) != 0) {
    delete cache->view;
    cache->view = nullptr;
    cache->reader = nullptr;
    if (cache->model) pfree(cache->model);
    cache->model = static_cast<uint8_t*>(pg::alloc(cxt, len));
    std::memcpy(cache->model, bytes, len);
    cache->model_len = len;
    cache->view = new core::ModelView(cache->model, len);
    if (cache->view->k() == 0)
      throw core::Error(core::ErrorCode::kNotFitted, "model has no k-means stage",
                        "train it with a \"k\" option to assign segments");
    cache->scratch = static_cast<double*>(pg::alloc(cxt, sizeof(double) * size_t(cache->view->encoded_dim())));
    cache->point = static_cast<double*>(pg::alloc(cxt, sizeof(double) * size_t(cache->view->output_dim())));
  }
  const Oid type_id = HeapTupleHeaderGetTypeId(row);
  const int32 typmod = HeapTupleHeaderGetTypMod(row);
  if (!cache->reader || cache->reader->type_id != type_id || cache->reader->typmod != typmod) {
    std::vector<std::string> names;
    std::vector<core::Kind> kinds;
    for (int i = 0; i < cache->view->n_features(); ++i) {
      names.push_back(cache->view->feature_name(i));
      kinds.push_back(cache->view->feature_kind(i));
    }
    cache->reader = pg::build_reader(cxt, pg::row_desc(row, cxt), type_id, typmod, names, kinds);
  }
  return cache;
}

}  // namespace

// custseg_predict(model custseg_model, row record) -> int: the segment of one row.
CUSTSEG_FUNCTION(custseg_predict_model_record) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(1);
  PredictCache* cache = predict_cache(fcinfo, 0, row);
  pg::RowReader* reader = cache->reader;
  pg::guard([&] { pg::read_row(reader, row); });
  cache->view->transform(reader->numeric, reader->categorical, cache->scratch, cache->point);
  PG_RETURN_INT32(cache->view->nearest(cache->point).segment);
}
