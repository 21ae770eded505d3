#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "errors.h"
#include "metrics.h"
#include "sparse_rows.h"
#include "test_util.h"

namespace custseg::core {
namespace {

// The silhouettes of the first m rows, each against the first m rows, straight from the
// definition: every pair, no blocks (unused labels allowed).
std::vector<double> direct_silhouettes(const RowMatrix& X, const std::vector<int>& labels, int k, int m) {
  std::vector<double> s;
  for (int i = 0; i < m; ++i) {
    std::vector<double> sum(size_t(k), 0);
    std::vector<int> cnt(size_t(k), 0);
    for (int j = 0; j < m; ++j) {
      sum[size_t(labels[size_t(j)])] += (X.row(i) - X.row(j)).norm();
      cnt[size_t(labels[size_t(j)])]++;
    }
    const int own = labels[size_t(i)];
    const double a = sum[size_t(own)] / (cnt[size_t(own)] - 1);
    double b = INFINITY;
    for (int c = 0; c < k; ++c)
      if (c != own && cnt[size_t(c)] > 0) b = std::min(b, sum[size_t(c)] / cnt[size_t(c)]);
    s.push_back((b - a) / std::max(a, b));
  }
  return s;
}

// The mean silhouette of every row, from the definition.
double direct_silhouette(const RowMatrix& X, const std::vector<int>& labels, int k) {
  double total = 0;
  for (double v : direct_silhouettes(X, labels, k, int(X.rows()))) total += v;
  return total / double(X.rows());
}

// Four points on a line, two tight pairs: every metric by hand.
//   silhouette: a = 1 for each point; b = 10.5, 9.5, 9.5, 10.5 -> mean of (b - a) / b
//   Calinski-Harabasz: between = 4 * 5^2 = 100, within = 4 * 0.25 = 1 -> (100 / 1) / (1 / 2) = 200
//   Davies-Bouldin: scatter 0.5 each, centres 10 apart -> (0.5 + 0.5) / 10 = 0.1
TEST(Metrics, HandComputedValues) {
  RowMatrix X(4, 1);
  X << 0, 1, 10, 11;
  std::vector<int> labels = {0, 0, 1, 1};
  const double s = (2 * (9.5 / 10.5) + 2 * (8.5 / 9.5)) / 4;
  EXPECT_NEAR(silhouette_score(X, labels, 2), s, 1e-15);
  EXPECT_NEAR(calinski_harabasz_score(X, labels, 2), 200, 1e-12);
  EXPECT_NEAR(davies_bouldin_score(X, labels, 2), 0.1, 1e-15);
}

// One-hot rows without PCA take the silhouette's sparse pair path: the same value as the definition.
TEST(Metrics, SilhouetteOfOneHotRowsEqualsTheDefinition) {
  const RowMatrix X = testing::one_hot_rows(3, 80, 2, {40, 7}, 8);
  std::vector<int> labels;
  for (Eigen::Index i = 0; i < X.rows(); ++i) labels.push_back(int(i / 80 + (i % 11 == 0)) % 3);
  const double s = silhouette_score(X, labels, 3), direct = direct_silhouette(X, labels, 3);
  EXPECT_NEAR(s, direct, 1e-12 * std::abs(direct));
}

TEST(Metrics, SingletonClusterHasSilhouetteZero) {
  // scikit-learn: a point alone in its cluster scores 0.
  RowMatrix X(3, 1);
  X << 0, 1, 10;
  std::vector<int> labels = {0, 0, 1};
  // Points 0 and 1: a = 1, b = 10 and 9.
  const double s = ((9.0 / 10) + (8.0 / 9) + 0) / 3;
  EXPECT_NEAR(silhouette_score(X, labels, 2), s, 1e-15);
}

TEST(Metrics, SilhouetteUndefinedForOneCluster) {
  RowMatrix X(3, 1);
  X << 0, 1, 2;
  EXPECT_TRUE(std::isnan(silhouette_score(X, {0, 0, 0}, 1)));
}

// The blocked silhouette equals a direct O(n^2) computation on a set larger than one block.
TEST(Metrics, BlockedSilhouetteEqualsDirect) {
  std::vector<int> labels;
  RowMatrix X = testing::blobs({{0, 0}, {3, 1}, {1, 4}}, 700, 1.3, 4, &labels);
  EXPECT_NEAR(silhouette_score(X, labels, 3), direct_silhouette(X, labels, 3), 1e-12);
}

// The generic width (not 2) takes the other kernel; an unused label is allowed.
TEST(Metrics, SilhouetteOfThreeColumnsEqualsDirect) {
  std::vector<int> labels;
  RowMatrix X = testing::blobs({{0, 0, 0}, {3, 1, 2}, {1, 4, -1}}, 300, 1.1, 6, &labels);
  EXPECT_NEAR(silhouette_score(X, labels, 4), direct_silhouette(X, labels, 4), 1e-12);
}

// The rows and labels of X in a shuffled order (blobs come grouped by cluster).
void shuffle_rows(RowMatrix& X, std::vector<int>& labels, uint64_t seed) {
  std::mt19937_64 gen(seed);
  for (Eigen::Index i = X.rows() - 1; i > 0; --i) {
    const Eigen::Index j = Eigen::Index(gen() % uint64_t(i + 1));
    X.row(i).swap(X.row(j));
    std::swap(labels[size_t(i)], labels[size_t(j)]);
  }
}

// The standard error of the mean silhouette of the first m rows, from the definition.
double direct_standard_error(const RowMatrix& X, const std::vector<int>& labels, int k, int m) {
  const std::vector<double> s = direct_silhouettes(X, labels, k, m);
  double mean = 0, var = 0;
  for (double v : s) mean += v / m;
  for (double v : s) var += (v - mean) * (v - mean) / (m - 1);
  return std::sqrt(var / m);
}

// A growing silhouette that never stops early is the exact score on every row: the stages' pairs
// (within a stage, and against every earlier stage) are each pair exactly once.
TEST(Metrics, GrowingSilhouetteRunToTheEndIsExact) {
  std::vector<int> labels;
  RowMatrix X = testing::blobs({{0, 0}, {3, 1}, {1, 4}}, 300, 1.3, 5, &labels);
  shuffle_rows(X, labels, 7);
  const SilhouetteEstimate e = silhouette_growing(X, labels, 3, 100, -1);
  EXPECT_EQ(e.rows, X.rows());
  EXPECT_NEAR(e.score, direct_silhouette(X, labels, 3), 1e-12);
  EXPECT_NEAR(e.standard_error, direct_standard_error(X, labels, 3, int(X.rows())), 1e-12);
  // Three columns take the generic kernel.
  std::vector<int> l3;
  RowMatrix Y = testing::blobs({{0, 0, 0}, {3, 1, 2}, {1, 4, -1}}, 150, 1.1, 6, &l3);
  shuffle_rows(Y, l3, 8);
  EXPECT_NEAR(silhouette_growing(Y, l3, 3, 64, -1).score, direct_silhouette(Y, l3, 3), 1e-12);
}

// It stops at the first stage whose standard error is within the tolerance, with that stage's
// exact score.
TEST(Metrics, GrowingSilhouetteStopsAtTheFirstPreciseStage) {
  std::vector<int> labels;
  RowMatrix X = testing::blobs({{0, 0}, {2, 1}, {1, 2.5}}, 400, 1.0, 9, &labels);
  shuffle_rows(X, labels, 10);
  const double se100 = direct_standard_error(X, labels, 3, 100), se200 = direct_standard_error(X, labels, 3, 200),
               se400 = direct_standard_error(X, labels, 3, 400);
  ASSERT_GT(se100, se200);
  ASSERT_GT(se200, se400);
  const auto prefix = [&](int m) {
    return direct_silhouette(X.topRows(m), std::vector<int>(labels.begin(), labels.begin() + m), 3);
  };
  SilhouetteEstimate e = silhouette_growing(X, labels, 3, 100, 1.0);
  EXPECT_EQ(e.rows, 100);
  EXPECT_NEAR(e.score, prefix(100), 1e-12);
  e = silhouette_growing(X, labels, 3, 100, (se200 + se400) / 2);
  EXPECT_EQ(e.rows, 400);
  EXPECT_NEAR(e.score, prefix(400), 1e-12);
  EXPECT_NEAR(e.standard_error, se400, 1e-12);
  e = silhouette_growing(X, labels, 3, 100, (se100 + se200) / 2);
  EXPECT_EQ(e.rows, 200);
  EXPECT_NEAR(e.score, prefix(200), 1e-12);
}

// One-hot rows take the sparse pair path in stages too.
TEST(Metrics, GrowingSilhouetteOfOneHotRowsIsExact) {
  RowMatrix X = testing::one_hot_rows(3, 80, 2, {40, 7}, 8);
  std::vector<int> labels;
  for (Eigen::Index i = 0; i < X.rows(); ++i) labels.push_back(int(i / 80 + (i % 11 == 0)) % 3);
  shuffle_rows(X, labels, 12);
  const double direct = direct_silhouette(X, labels, 3);
  EXPECT_NEAR(silhouette_growing(X, labels, 3, 30, -1).score, direct, 1e-12 * std::abs(direct));
}

// A stage that holds a single cluster has no silhouette: the next stage is taken.
TEST(Metrics, GrowingSilhouetteSkipsAStageOfOneCluster) {
  RowMatrix X(8, 1);
  X << 0, 1, 2, 3, 10, 11, 12, 0.5;
  std::vector<int> labels = {0, 0, 0, 0, 1, 1, 1, 0};
  const SilhouetteEstimate e = silhouette_growing(X, labels, 2, 4, 1.0);
  EXPECT_EQ(e.rows, 8);
  EXPECT_NEAR(e.score, direct_silhouette(X, labels, 2), 1e-12);
  EXPECT_TRUE(std::isnan(silhouette_growing(X, std::vector<int>(8, 1), 2, 4, 1.0).score));
}

// Several labellings scored together (custseg_evaluate_k's k's) give each labelling's own
// silhouette bit for bit, whatever the other labellings cut the rows into and wherever each one
// stops: the sums are integers, so the cells' order does not change them.
TEST(Metrics, SilhouettesTogetherEqualEachAlone) {
  std::vector<int> planted;
  RowMatrix X = testing::blobs({{0, 0}, {3, 1}, {1, 4}, {5, 5}}, 250, 1.2, 21, &planted);
  shuffle_rows(X, planted, 22);
  std::vector<std::vector<int>> labellings;
  std::vector<int> ks;
  for (int k = 2; k <= 9; ++k) {
    std::vector<int> l(planted.size());
    for (size_t i = 0; i < l.size(); ++i)  // clusters that cut across each other's
      l[i] = int((planted[i] * 7 + int(X(Eigen::Index(i), 0) * k) + 100 * k) % k);
    labellings.push_back(l);
    ks.push_back(k);
  }
  labellings.push_back(std::vector<int>(planted.size(), 1));  // one cluster: no silhouette
  ks.push_back(3);
  std::vector<const std::vector<int>*> of;
  for (const std::vector<int>& l : labellings) of.push_back(&l);
  for (const double tolerance : {-1.0, 0.01, 0.03}) {
    const std::vector<SilhouetteEstimate> together = silhouettes_growing(X, of, ks, 100, tolerance);
    ASSERT_EQ(together.size(), of.size());
    for (size_t m = 0; m < of.size(); ++m) {
      const SilhouetteEstimate alone = silhouette_growing(X, labellings[m], ks[m], 100, tolerance);
      EXPECT_EQ(together[m].rows, alone.rows) << m;
      if (std::isnan(alone.score)) {
        EXPECT_TRUE(std::isnan(together[m].score)) << m;
        continue;
      }
      EXPECT_EQ(together[m].score, alone.score) << m;  // bit for bit
      EXPECT_EQ(together[m].standard_error, alone.standard_error) << m;
      if (tolerance < 0) {
        EXPECT_NEAR(alone.score, direct_silhouette(X, labellings[m], ks[m]), 1e-12) << m;
      }
    }
  }
  // Labellings made from the planted groups: few joint cells, so all of them form one group.
  std::vector<std::vector<int>> coarse;
  std::vector<int> kc;
  for (int k = 2; k <= 9; ++k) {
    std::vector<int> l(planted.size());
    for (size_t i = 0; i < l.size(); ++i) l[i] = (planted[i] + int(i % 13 == 0) * (k - 1)) % k;
    coarse.push_back(l);
    kc.push_back(k);
  }
  std::vector<const std::vector<int>*> of_coarse;
  for (const std::vector<int>& l : coarse) of_coarse.push_back(&l);
  for (const double tolerance : {-1.0, 0.02}) {
    const std::vector<SilhouetteEstimate> together = silhouettes_growing(X, of_coarse, kc, 100, tolerance);
    for (size_t m = 0; m < coarse.size(); ++m) {
      const SilhouetteEstimate alone = silhouette_growing(X, coarse[m], kc[m], 100, tolerance);
      EXPECT_EQ(together[m].rows, alone.rows) << m;
      EXPECT_EQ(together[m].score, alone.score) << m;
      EXPECT_EQ(together[m].standard_error, alone.standard_error) << m;
    }
  }
  // One-hot rows (the sparse pair path), and more cells than one group holds: the labellings are
  // split into several groups.
  RowMatrix H = testing::one_hot_rows(3, 120, 2, {40, 7}, 8);
  std::vector<std::vector<int>> many;
  std::vector<int> kk;
  for (int k = 20; k <= 26; ++k) {
    std::vector<int> l;
    for (Eigen::Index i = 0; i < H.rows(); ++i) l.push_back(int((i * 31 + i / k) % k));
    many.push_back(l);
    kk.push_back(k);
  }
  std::vector<const std::vector<int>*> of_many;
  for (const std::vector<int>& l : many) of_many.push_back(&l);
  const std::vector<SilhouetteEstimate> together = silhouettes_growing(H, of_many, kk, 50, -1);
  for (size_t m = 0; m < many.size(); ++m) {
    EXPECT_EQ(together[m].score, silhouette_growing(H, many[m], kk[m], 50, -1).score) << m;
    EXPECT_NEAR(together[m].score, direct_silhouette(H, many[m], kk[m]), 1e-12) << m;
  }
}

// The same on rows in their sparse form (k-means without PCA on one-hot columns), with and without
// numeric columns: one group of labellings, each equal to its own silhouette and to the definition.
TEST(Metrics, SilhouettesTogetherOfSparseRows) {
  for (const int numeric : {2, 0}) {
    const RowMatrix H = testing::one_hot_rows(3, 120, numeric, {40, 7}, 8);
    SparseRows S;
    ASSERT_TRUE(sparse_rows_of(H.data(), H.cols(), H.rows(), H.cols(), S));
    ASSERT_EQ(S.D.cols(), numeric);
    std::vector<std::vector<int>> labellings;
    std::vector<int> ks;
    for (int k = 2; k <= 6; ++k) {
      std::vector<int> l;
      for (Eigen::Index i = 0; i < H.rows(); ++i) l.push_back(int(i / 120 + (i % 7 == 0) * (k - 1)) % k);
      labellings.push_back(l);
      ks.push_back(k);
    }
    std::vector<const std::vector<int>*> of;
    for (const std::vector<int>& l : labellings) of.push_back(&l);
    for (const double tolerance : {-1.0, 0.05}) {
      const std::vector<SilhouetteEstimate> together = silhouettes_growing(S, of, ks, 40, tolerance);
      for (size_t m = 0; m < of.size(); ++m) {
        const SilhouetteEstimate alone = silhouette_growing(S, labellings[m], ks[m], 40, tolerance);
        EXPECT_EQ(together[m].rows, alone.rows) << numeric << " " << m;
        EXPECT_EQ(together[m].score, alone.score) << numeric << " " << m;
        if (tolerance < 0) {
          EXPECT_NEAR(alone.score, direct_silhouette(H, labellings[m], ks[m]), 1e-12) << numeric << " " << m;
        }
      }
    }
  }
}

// The mean silhouette of rows on a line, exactly: each row's sums of distances to each cluster from
// sorted prefix sums, in long double.
double line_silhouette(const std::vector<double>& x, const std::vector<int>& labels, int k) {
  const size_t n = x.size();
  std::vector<std::vector<long double>> sorted(static_cast<size_t>(k)), prefix(static_cast<size_t>(k));
  for (size_t i = 0; i < n; ++i) sorted[size_t(labels[i])].push_back(x[i]);
  for (int c = 0; c < k; ++c) {
    std::sort(sorted[size_t(c)].begin(), sorted[size_t(c)].end());
    prefix[size_t(c)].assign(1, 0);
    for (long double v : sorted[size_t(c)]) prefix[size_t(c)].push_back(prefix[size_t(c)].back() + v);
  }
  long double total = 0;
  for (size_t i = 0; i < n; ++i) {
    long double a = 0, b = INFINITY;
    for (int c = 0; c < k; ++c) {
      const auto& v = sorted[size_t(c)];
      const size_t below = size_t(std::lower_bound(v.begin(), v.end(), (long double)x[i]) - v.begin());
      const long double sum = (long double)x[i] * below - prefix[size_t(c)][below] +
                              (prefix[size_t(c)].back() - prefix[size_t(c)][below]) - (long double)x[i] * (v.size() - below);
      if (c == labels[i])
        a = sum / (v.size() - 1);
      else
        b = std::min(b, sum / v.size());
    }
    total += (b - a) / std::max(a, b);
  }
  return double(total / n);
}

// The scale leaves room for the sum of n distances: 9,000 rows near 0 and 100 near 1 (each of the
// 100 sums 9,000 distances close to the diameter, past 2^63 with a step of 2^-50 of it).
TEST(Metrics, FixedPointSumsOfManyFarRowsDoNotOverflow) {
  RowMatrix X(9100, 1);
  std::vector<int> labels(9100);
  std::vector<double> x(9100);
  for (int i = 0; i < 9100; ++i) {
    x[size_t(i)] = X(i, 0) = (i < 9000 ? 0.0 : 0.999) + 1e-3 * ((i * 7919) % 1000) / 1000.0;
    labels[size_t(i)] = i >= 9000;
  }
  EXPECT_NEAR(silhouette_score(X, labels, 2), line_silhouette(x, labels, 2), 1e-12);
}

// The sums in fixed point: a step of at most 2^-47 of the rows' extent. Standardized rows with an
// outlier 1,000 standard deviations out keep the silhouette to 1e-12; rows whose distances span
// nine orders of magnitude (blobs 1e-3 apart, an outlier at 1e6) still to 1e-4, without overflow.
TEST(Metrics, FixedPointSumsKeepTheSilhouetteExact) {
  std::vector<int> labels;
  RowMatrix X = testing::blobs({{0, 0}, {2, 0}, {0, 2}}, 100, 0.5, 23, &labels);
  X.row(0) << 1000, -700;
  EXPECT_NEAR(silhouette_score(X, labels, 3), direct_silhouette(X, labels, 3), 1e-12);
  std::vector<int> ly;
  RowMatrix Y = testing::blobs({{0, 0}, {1e-3, 0}, {0, 1e-3}}, 100, 2e-4, 23, &ly);
  Y.row(0) << 1e6, 1e6;
  EXPECT_NEAR(silhouette_score(Y, ly, 3), direct_silhouette(Y, ly, 3), 1e-8);
  // Three columns whose widths' squares overflow together: a pair's squared distance does too, so
  // there is no silhouette (as with sums of doubles).
  RowMatrix W(4, 3);
  W << 0, 0, 0, 1e-3, 0, 0, 1.1e154, 1.1e154, 1.1e154, 1.1e154, 1.1e154, 1.1e154 - 1e140;
  EXPECT_TRUE(std::isnan(silhouette_score(W, {0, 0, 1, 1}, 2)));
  // A value that is not finite gives no silhouette (and no undefined integer sums).
  RowMatrix V = X;
  V(5, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(silhouette_score(V, labels, 3)));
  // Rows whose distances overflow a double have no silhouette, as before the sums were integers.
  RowMatrix Z(4, 1);
  Z << -1e308, -1e308, 1e308, 1e308;
  EXPECT_TRUE(std::isnan(silhouette_score(Z, {0, 0, 1, 1}, 2)));
}

TEST(Metrics, LabelOutOfRangeIsAnError) {
  RowMatrix X(2, 1);
  X << 0, 1;
  EXPECT_THROW(silhouette_score(X, {0, 5}, 2), Error);
}

}  // namespace
}  // namespace custseg::core
