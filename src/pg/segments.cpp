// Choosing k and keeping segment identity across versions: custseg_evaluate_state (every k of one
// fit state), custseg_match_segments and custseg_model_renumber.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "custseg_pg.h"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
}

#include "../core/fit.h"
#include "../core/json.h"
#include "../core/model.h"

namespace custseg::pg {
const uint8_t* model_arg(FunctionCallInfo fcinfo, int n, size_t* len);
}  // namespace custseg::pg

using namespace custseg;
using core::json::Value;

namespace {

Datum jsonb_from(const Value& v) {
  const std::string text = core::json::write(v);
  const char* cstr = text.c_str();
  Datum result = 0;
  pg::guard([&] { result = DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr)); });
  return result;
}

Value number_or_null(double d) { return std::isfinite(d) ? Value::number(d) : Value::null(); }

}  // namespace

// custseg_evaluate_state(state bytea, k_min int, k_max int) -> jsonb: an array with one object per k
// (k, inertia, silhouette, silhouette_rows, calinski_harabasz, davies_bouldin, n_iter, rows,
// is_elbow, chosen), from the state of custseg_fit_state.
CUSTSEG_FUNCTION(custseg_evaluate_state) {
  const int k_min = PG_GETARG_INT32(1), k_max = PG_GETARG_INT32(2);
  size_t len;
  const uint8_t* data = pg::fit_state_bytes(PG_GETARG_DATUM(0), &len);
  core::FitParts parts = core::decode_state(data, len, /*borrow=*/true);
  std::vector<core::KEvaluation> rows = parts.evaluate_k(k_min, k_max, pg::check_interrupts, [](const std::string& line) {
    const char* msg = line.c_str();
    pg::guard([&] { ereport(NOTICE, (errmsg("%s", msg))); });
  });
  Value out = Value::array();
  for (const auto& e : rows) {
    Value o = Value::object();
    o.set("k", Value::number(e.k));
    o.set("inertia", number_or_null(e.inertia));
    o.set("silhouette", number_or_null(e.silhouette));
    o.set("silhouette_rows", Value::number(e.silhouette_rows));
    o.set("calinski_harabasz", number_or_null(e.calinski_harabasz));
    o.set("davies_bouldin", number_or_null(e.davies_bouldin));
    o.set("n_iter", Value::number(e.n_iter));
    o.set("rows", Value::number(e.rows));
    o.set("is_elbow", Value::boolean(e.is_elbow));
    o.set("chosen", Value::boolean(e.chosen));
    o.set("bic", number_or_null(e.bic));
    o.set("aic", number_or_null(e.aic));
    out.push(std::move(o));
  }
  return jsonb_from(out);
}

// custseg_kdistance_state(state bytea, min_samples int) -> jsonb: {"curve": [101 values: the
// k-distance curve at every percentile], "knee": eps at the knee, "knee_quantile", "rows"}.
CUSTSEG_FUNCTION(custseg_kdistance_state) {
  const int min_samples = PG_GETARG_INT32(1);
  size_t len;
  const uint8_t* data = pg::fit_state_bytes(PG_GETARG_DATUM(0), &len);
  core::FitParts parts = core::decode_state(data, len, /*borrow=*/true);
  double knee = 0;
  const std::vector<double> curve = parts.k_distance_curve(min_samples, &knee, pg::check_interrupts);
  Value pts = Value::array();
  const size_t n = curve.size();
  for (int q = 0; q <= 100; ++q) pts.push(Value::number(curve[size_t(std::llround(double(q) / 100.0 * double(n - 1)))]));
  size_t at = size_t(std::lower_bound(curve.begin(), curve.end(), knee) - curve.begin());
  Value out = Value::object();
  out.set("curve", std::move(pts));
  out.set("knee", Value::number(knee));
  out.set("knee_quantile", Value::number(n > 1 ? double(std::min(at, n - 1)) / double(n - 1) : 0.0));
  out.set("rows", Value::number(double(n)));
  return jsonb_from(out);
}

// custseg_match_segments(next custseg_model, previous custseg_model) -> jsonb:
// {"previous_of": [index or null per new centroid], "distance": [...]}.
CUSTSEG_FUNCTION(custseg_match_segments) {
  size_t la, lb;
  const uint8_t* a = pg::model_arg(fcinfo, 0, &la);
  const uint8_t* b = pg::model_arg(fcinfo, 1, &lb);
  const core::Model next = core::deserialize(a, la);
  const core::Model previous = core::deserialize(b, lb);
  const core::SegmentMatch m = core::match_segments(next, previous);
  Value of = Value::array(), dist = Value::array();
  for (size_t i = 0; i < m.previous_of.size(); ++i) {
    of.push(m.previous_of[i] < 0 ? Value::null() : Value::number(m.previous_of[i]));
    dist.push(number_or_null(m.distance[i]));
  }
  Value out = Value::object();
  out.set("previous_of", std::move(of));
  out.set("distance", std::move(dist));
  return jsonb_from(out);
}

// custseg_model_renumber(model custseg_model, segments int[]) -> custseg_model: the same model with
// new segment numbers for its centroids (distinct, non-negative, one per centroid).
CUSTSEG_FUNCTION(custseg_model_renumber) {
  size_t len;
  const uint8_t* data = pg::model_arg(fcinfo, 0, &len);
  core::Model m = core::deserialize(data, len);
  ArrayType* arr = nullptr;
  Datum* elems = nullptr;
  bool* nulls = nullptr;
  int n = 0;
  Datum ad = PG_GETARG_DATUM(1);
  pg::guard([&] {
    arr = DatumGetArrayTypeP(ad);
    if (ARR_NDIM(arr) > 1)
      ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("segments must be a one-dimensional array")));
    deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
  });
  if (m.k == 0) throw core::Error(core::ErrorCode::kNotFitted, "model has no k-means stage");
  if (n != m.k)
    throw core::Error(core::ErrorCode::kInvalidArgument,
                      "expected " + std::to_string(m.k) + " segment numbers, got " + std::to_string(n));
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) {
    if (nulls[i]) throw core::Error(core::ErrorCode::kInvalidArgument, "segment numbers must not be NULL");
    const int32_t id = DatumGetInt32(elems[i]);
    if (id < 0) throw core::Error(core::ErrorCode::kInvalidArgument, "segment numbers must not be negative");
    for (int32_t seen : ids)
      if (seen == id)
        throw core::Error(core::ErrorCode::kInvalidArgument, "segment number " + std::to_string(id) + " appears twice");
    ids.push_back(id);
  }
  m.segment_ids = ids;
  m.validate();
  std::vector<uint8_t> bytes = core::serialize(m);
  PG_RETURN_POINTER(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}

// custseg_cut(model custseg_model, k int) -> custseg_model: a hierarchical model cut into k
// segments from its stored merge tree, without a scan (segments numbered 0..k-1 in tree order).
CUSTSEG_FUNCTION(custseg_model_cut) {
  size_t len;
  const uint8_t* data = pg::model_arg(fcinfo, 0, &len);
  const int k = PG_GETARG_INT32(1);
  const core::Model m = core::deserialize(data, len).cut(k);
  std::vector<uint8_t> bytes = core::serialize(m);
  PG_RETURN_POINTER(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}

// custseg_model_tree(model custseg_model) -> jsonb: the stored merge tree of a hierarchical model,
// one object per node (node, parent, height, size, segment index at the model's k, children).
CUSTSEG_FUNCTION(custseg_model_tree) {
  size_t len;
  const uint8_t* data = pg::model_arg(fcinfo, 0, &len);
  const core::Model m = core::deserialize(data, len);
  if (m.method != core::Method::kHierarchical)
    throw core::Error(core::ErrorCode::kInvalidArgument, "only a hierarchical model has a merge tree",
                      "train it with {\"method\": \"hierarchical\"}");
  const int leaves = m.tree_leaves(), nodes = 2 * leaves - 1;
  std::vector<int> parent(size_t(nodes), -1);
  std::vector<double> height(size_t(nodes), 0.0);
  for (int i = 0; i < leaves - 1; ++i) {
    parent[size_t(m.tree_children[size_t(2 * i)])] = leaves + i;
    parent[size_t(m.tree_children[size_t(2 * i + 1)])] = leaves + i;
    height[size_t(leaves + i)] = m.tree_height[size_t(i)];
  }
  Value out = Value::array();
  for (int node = 0; node < nodes; ++node) {
    Value o = Value::object();
    o.set("node", Value::number(node));
    o.set("parent", parent[size_t(node)] < 0 ? Value::null() : Value::number(parent[size_t(node)]));
    o.set("height", Value::number(height[size_t(node)]));
    o.set("size", Value::number(m.tree_size[size_t(node)]));
    const int seg = m.tree_segment[size_t(node)];
    o.set("segment", seg < 0 ? Value::null() : Value::number(m.segment_ids[size_t(seg)]));
    if (node >= leaves) {
      Value ch = Value::array();
      ch.push(Value::number(m.tree_children[size_t(2 * (node - leaves))]));
      ch.push(Value::number(m.tree_children[size_t(2 * (node - leaves) + 1)]));
      o.set("children", std::move(ch));
    } else {
      o.set("children", Value::null());
    }
    out.push(std::move(o));
  }
  return jsonb_from(out);
}
