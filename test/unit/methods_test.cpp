// The clustering methods through the whole pipeline (FitAccumulator -> Model): each method's model
// survives the binary and text forms byte for byte, scores its training rows as training labelled
// them, and a corrupted method section is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <cstring>
#include <string>
#include <vector>

#include "fit.h"
#include "method.h"
#include "model.h"
#include "test_util.h"

namespace custseg::core {
namespace {

// Three well-separated blobs of 60 rows in two columns (a far-away row is scored, not trained on).
FitAccumulator trained(const std::string& options) {
  FitAccumulator acc({"x", "y"}, 2, options);
  const RowMatrix X = testing::blobs({{0, 0}, {8, 0}, {0, 8}}, 60, 0.7, 11);
  for (Eigen::Index r = 0; r < X.rows(); ++r) acc.add_row(X.row(r).data(), nullptr);
  return acc;
}

struct Bytes {
  std::vector<double> store;
  size_t len = 0;
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(store.data()); }
};

Bytes bytes_of(const Model& m) {
  const std::vector<uint8_t> b = serialize(m);
  Bytes out;
  out.store.assign((b.size() + 7) / 8, 0.0);
  std::memcpy(out.store.data(), b.data(), b.size());
  out.len = b.size();
  return out;
}

Score score_row(const ModelView& v, double x, double y, double* dist = nullptr, double* prob = nullptr) {
  const double num[2] = {x, y};
  double scratch[8], point[8];
  v.transform(num, nullptr, scratch, point);
  return v.assign(point, dist, prob);
}

class Methods : public ::testing::TestWithParam<const char*> {};

TEST_P(Methods, RoundTripsAndScores) {
  const Model m = trained(GetParam()).finish();
  EXPECT_EQ(m.format_version(), 2);
  const Bytes b = bytes_of(m);
  const Model back = deserialize(b.data(), b.len);
  const Bytes again = bytes_of(back);
  ASSERT_EQ(again.len, b.len);
  EXPECT_EQ(std::memcmp(again.data(), b.data(), b.len), 0);
  const std::string text = to_json_text(m);
  EXPECT_EQ(to_json_text(from_json_text(text)), text);
  const Bytes from_text = bytes_of(from_json_text(text));
  EXPECT_EQ(std::memcmp(from_text.data(), b.data(), b.len), 0);

  const ModelView v(b.data(), b.len);
  EXPECT_TRUE(v.has_outliers());
  // The blobs' centres land in three different segments; the far row is an outlier (or noise).
  const Score a = score_row(v, 0, 0), c = score_row(v, 8, 0), d = score_row(v, 0, 8);
  EXPECT_GE(a.index, 0);
  EXPECT_NE(a.segment, c.segment);
  EXPECT_NE(a.segment, d.segment);
  EXPECT_NE(c.segment, d.segment);
  EXPECT_EQ(a.outlier, 0);
  const Score far = score_row(v, 40, 40);
  EXPECT_EQ(far.outlier, 1);
  EXPECT_NE(far.why, nullptr);
  if (v.has_distances()) {
    double dist[8];
    const Score s = score_row(v, 0.3, -0.2, dist);
    EXPECT_NEAR(dist[s.index], s.distance, 1e-12);
  }
  if (v.has_probabilities()) {
    double prob[8];
    const Score s = score_row(v, 0.3, -0.2, nullptr, prob);
    double sum = 0;
    for (int i = 0; i < v.k(); ++i) sum += prob[i];
    EXPECT_NEAR(sum, 1.0, 1e-12);
    EXPECT_DOUBLE_EQ(prob[s.index], s.probability);
  }
}

INSTANTIATE_TEST_SUITE_P(All, Methods,
                         ::testing::Values(R"({"k": 3, "n_components": null, "seed": 1})",
                                           R"({"k": 3, "n_components": null, "method": "gmm", "seed": 1})",
                                           R"({"k": 3, "n_components": null, "method": "gmm", "covariance_type": "diag"})",
                                           R"({"k": 3, "n_components": null, "method": "hierarchical"})",
                                           R"({"n_components": null, "method": "dbscan", "eps": 0.6, "min_samples": 4})"));

TEST(Methods, HierarchicalCutsItsTree) {
  const Model m = trained(R"({"k": 3, "n_components": null, "method": "hierarchical"})").finish();
  EXPECT_EQ(m.tree_leaves(), 180);
  for (int k = 1; k <= 6; ++k) {
    const Model c = m.cut(k);
    EXPECT_EQ(c.k, k);
    EXPECT_EQ(int(c.outlier_threshold.size()), k);
  }
  // Cutting at the model's own k gives its segments back.
  const Model same = m.cut(3);
  EXPECT_EQ(same.centroids, m.centroids);
  EXPECT_EQ(same.tree_segment, m.tree_segment);
  EXPECT_THROW(m.cut(0), Error);
  EXPECT_THROW(m.cut(181), Error);
  // Every training row (a leaf) scores as its tree segment.
  const Bytes b = bytes_of(m);
  const ModelView v(b.data(), b.len);
  for (int leaf = 0; leaf < m.tree_leaves(); ++leaf) {
    const double* p = m.tree_centroids.data() + size_t(leaf) * 2;
    EXPECT_EQ(v.assign(p).index, m.tree_segment[size_t(leaf)]) << leaf;
  }
}

TEST(Methods, DbscanNoiseHasNoSegment) {
  const Model m = trained(R"({"n_components": null, "method": "dbscan", "eps": 0.6, "min_samples": 4})").finish();
  EXPECT_EQ(m.k, 3);
  const Bytes b = bytes_of(m);
  const ModelView v(b.data(), b.len);
  const Score s = score_row(v, 40, 40);
  EXPECT_EQ(s.index, -1);
  EXPECT_EQ(s.segment, -1);
  EXPECT_FALSE(v.has_distances());
}

// numpy.quantile's default (linear) interpolation of sorted values: the reference.
double quantile_of_sorted(const std::vector<double>& v, double q) {
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

// The outlier thresholds' quantile by selection equals numpy's linear interpolation of the sorted
// values, at the ends, between values, with repeats and for one value.
TEST(Methods, QuantileBySelectionEqualsSorted) {
  std::mt19937_64 gen(5);
  for (size_t n : {1, 2, 3, 10, 101, 1000}) {
    std::vector<double> v(n);
    for (double& x : v) x = double(gen() % 50) / 7.0;  // repeats
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (double q : {0.0, 0.01, 0.25, 0.5, 0.95, 0.99, 1.0}) {
      std::vector<double> w = v;
      EXPECT_EQ(quantile_of(w, q), quantile_of_sorted(sorted, q)) << "n = " << n << ", q = " << q;
    }
  }
  std::vector<double> none;
  EXPECT_TRUE(std::isnan(quantile_of(none, 0.5)));
}

TEST(Methods, CorruptMethodSectionIsRefused) {
  for (const char* o : {R"({"k": 3, "method": "gmm"})", R"({"k": 3, "method": "hierarchical"})",
                        R"({"method": "dbscan", "eps": 0.3, "min_samples": 4})"}) {
    const Model m = trained(o).finish();
    const Bytes b = bytes_of(m);
    auto refused = [&](size_t at, double value) {
      Bytes c = b;
      std::memcpy(reinterpret_cast<uint8_t*>(c.store.data()) + at, &value, sizeof value);
      try {
        ModelView(c.data(), c.len);
      } catch (const Error& e) {
        return e.code() == ErrorCode::kInvalidBinary;
      }
      return false;
    };
    // Every double of the section, set to NaN or an absurd value, is either harmless or refused:
    // never a crash. The head's method, flags and counts must be refused.
    const size_t n = b.len / 8;
    size_t refused_count = 0;
    for (size_t i = n - 1; i > n - 40 && i > 8; --i) {
      refused_count += refused(i * 8, std::nan("")) ? 1 : 0;
      refused(i * 8, 1e300);
      refused(i * 8, -3);
    }
    EXPECT_GT(refused_count, 0u) << o;
    // A truncated model is refused.
    Bytes t = b;
    EXPECT_THROW(ModelView(t.data(), t.len - 8), Error) << o;
  }
}

}  // namespace
}  // namespace custseg::core
