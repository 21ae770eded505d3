// libFuzzer target: the custseg_model binary reader, as custseg_model_recv calls it (the received
// bytes after 8 reserved header bytes, in an 8-byte aligned buffer), and scoring straight from the
// validated bytes as custseg_predict does. A corrupt value must be rejected with a core Error, never a
// crash or another exception; an accepted one must score any row without reading out of bounds and
// survive the binary and text round trips.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "errors.h"
#include "model.h"

using namespace custseg::core;

namespace {
[[noreturn]] void property_failed(const char* what) {
  std::fprintf(stderr, "fuzz_model_binary: property failed: %s\n", what);
  std::abort();
}

// Scores a few rows through the view: NULLs, zeros, and every categorical feature at each of its
// levels' neighbours (a miss and, when the view holds one, a hit).
void score_rows(const ModelView& v, const Model& m) {
  const int nn = v.n_numeric(), nc = v.n_features() - v.n_numeric();
  std::vector<double> num(size_t(nn) + 1), scratch(size_t(v.encoded_dim())), out(size_t(v.output_dim()));
  std::vector<StrRef> cat(size_t(nc) + 1);
  for (int row = 0; row < 3; ++row) {
    for (int j = 0; j < nn; ++j) num[size_t(j)] = row == 0 ? std::numeric_limits<double>::quiet_NaN() : row * 1.5;
    for (int c = 0; c < nc; ++c) {
      const Feature& f = m.features[size_t(nn + c)];
      if (row == 0 || f.levels.empty()) {
        cat[size_t(c)] = StrRef{};
      } else {
        const std::string& l = row == 1 ? f.levels.front() : f.levels.back();
        cat[size_t(c)] = StrRef{l.data(), l.size(), false};
      }
    }
    try {
      v.transform(num.data(), cat.data(), scratch.data(), out.data());
    } catch (const Error& e) {
      // A log1p transform refuses values at or below -1.
      if (e.code() != ErrorCode::kOutOfRange) property_failed("transform failed with a code other than out of range");
      continue;
    }
    if (v.k() > 0) {
      Score s;
      try {
        s = v.nearest(out.data());
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kOutOfRange) property_failed("scoring failed with a code other than out of range");
        continue;
      }
      if (s.index < 0 || s.index >= v.k()) property_failed("nearest centroid out of range");
      if (s.segment != m.segment_ids[size_t(s.index)]) property_failed("segment number differs from the model");
      // The method's own assignment (gmm posteriors, the nearest leaf, dbscan's core rows).
      std::vector<double> dist(size_t(v.k())), prob(size_t(v.k()));
      try {
        s = v.assign(out.data(), dist.data(), prob.data());
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kOutOfRange) property_failed("assignment failed with a code other than out of range");
        continue;
      }
      if (s.index < -1 || s.index >= v.k() || (s.index < 0 && v.method() != Method::kDbscan))
        property_failed("assigned segment out of range");
      if (s.index >= 0 && s.segment != m.segment_ids[size_t(s.index)]) property_failed("assigned segment number differs");
    }
  }
  for (int i = 0; i < v.n_features(); ++i)
    if (v.feature_name(i) != m.features[size_t(i)].name) property_failed("feature name differs from the model");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As custseg_model_recv: 8 reserved bytes (the varlena header and padding), then the received bytes.
  std::vector<double> storage((size + 8 + 7) / 8 + 1);
  uint8_t* buf = reinterpret_cast<uint8_t*>(storage.data());
  std::memset(buf, 0, 8);
  if (size) std::memcpy(buf + 8, data, size);
  const size_t len = size + 8;
  Model m;
  try {
    m = deserialize(buf, len);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidBinary) property_failed("rejected with a code other than invalid binary");
    return 0;
  }
  ModelView view(buf, len);  // accepted by deserialize, so the view must accept it too
  score_rows(view, m);
  std::vector<uint8_t> bytes = serialize(m);
  Model back = deserialize(bytes.data(), bytes.size());
  if (serialize(back) != bytes) property_failed("binary round trip changed the model");
  const std::string text = to_json_text(m);
  if (serialize(from_json_text(text)) != bytes) property_failed("text round trip changed the model");
  return 0;
}
