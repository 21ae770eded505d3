#include "dbscan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "errors.h"
#include "test_util.h"

namespace custseg::core {
namespace {

using testing::blobs;

// scikit-learn's DBSCAN spelled out: stored neighbour lists (rows within eps,
// inclusive, the row itself included) and the depth-first expansion of
// _dbscan_inner.pyx, label when popped.
DbscanResult reference_dbscan(const RowMatrix &X, double eps, int min_samples) {
  const int n = int(X.rows());
  std::vector<std::vector<int>> nb(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (Eigen::Index c = 0; c < X.cols(); ++c) {
        const double t = X(i, c) - X(j, c);
        s += t * t;
      }
      if (s <= eps * eps) nb[size_t(i)].push_back(j);
    }
  DbscanResult r;
  r.labels.assign(size_t(n), -1);
  r.core.assign(size_t(n), 0);
  for (int i = 0; i < n; ++i) r.core[size_t(i)] = int(nb[size_t(i)].size()) >= min_samples;
  int label = 0;
  std::vector<int> stack;
  for (int i0 = 0; i0 < n; ++i0) {
    if (r.labels[size_t(i0)] != -1 || !r.core[size_t(i0)]) continue;
    int i = i0;
    while (true) {
      if (r.labels[size_t(i)] == -1) {
        r.labels[size_t(i)] = label;
        if (r.core[size_t(i)])
          for (int v : nb[size_t(i)])
            if (r.labels[size_t(v)] == -1) stack.push_back(v);
      }
      if (stack.empty()) break;
      i = stack.back();
      stack.pop_back();
    }
    ++label;
  }
  r.n_clusters = label;
  return r;
}

RowMatrix uniform(int n, int d, double lo, double hi, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  RowMatrix X(n, d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) X(i, j) = u(gen);
  return X;
}

// Four planted blobs of 150 rows, then 60 rows of uniform noise over a wider
// square.
RowMatrix blobs_with_noise(std::vector<int> &truth) {
  RowMatrix B = blobs({{0, 0}, {10, 0}, {0, 10}, {10, 10}}, 150, 0.6, 21, &truth);
  RowMatrix N = uniform(60, 2, -5, 15, 22);
  RowMatrix X(B.rows() + N.rows(), 2);
  X << B, N;
  truth.resize(size_t(X.rows()), -1);
  return X;
}

// Each planted blob lies (but for a few rows) in one cluster of its own.
void expect_planted(const DbscanResult &r, const std::vector<int> &truth, int n_blobs) {
  ASSERT_EQ(r.n_clusters, n_blobs);
  std::set<int> used;
  for (int t = 0; t < n_blobs; ++t) {
    std::map<int, int> votes;
    int size = 0;
    for (size_t i = 0; i < truth.size(); ++i)
      if (truth[i] == t) ++votes[r.labels[i]], ++size;
    auto top =
        std::max_element(votes.begin(), votes.end(), [](const auto &a, const auto &b) { return a.second < b.second; });
    EXPECT_NE(top->first, -1) << "blob " << t;
    EXPECT_GE(top->second, size * 95 / 100) << "blob " << t;
    used.insert(top->first);
  }
  EXPECT_EQ(int(used.size()), n_blobs);
}

TEST(Dbscan, FindsPlantedBlobsInNoise) {
  std::vector<int> truth;
  RowMatrix X = blobs_with_noise(truth);
  DbscanResult r = dbscan_fit(X, 0.8, 5);
  expect_planted(r, truth, 4);
  // Most of the scattered rows are noise.
  int noise = 0;
  for (size_t i = 600; i < truth.size(); ++i) noise += r.labels[i] == -1;
  EXPECT_GE(noise, 45);
}

TEST(Dbscan, KneeOfTheKDistanceCurveFindsThePlantedBlobs) {
  std::vector<int> truth;
  RowMatrix X = blobs_with_noise(truth);
  const double eps = knee_of(k_distances(X, 5));
  EXPECT_GT(eps, 0.2);
  EXPECT_LT(eps, 3.0);
  expect_planted(dbscan_fit(X, eps, 5), truth, 4);
}

TEST(Dbscan, MatchesTheReferenceAlgorithmExactly) {
  for (int d : {1, 2, 3, 4, 6})
    for (double eps : {0.05, 0.12, 0.3}) {
      RowMatrix X = uniform(400, d, 0, 1, uint64_t(100 + d));
      for (int ms : {1, 4, 10}) {
        DbscanResult got = dbscan_fit(X, eps * std::sqrt(double(d)), ms);
        DbscanResult want = reference_dbscan(X, eps * std::sqrt(double(d)), ms);
        EXPECT_EQ(got.core, want.core) << "d " << d << " eps " << eps << " ms " << ms;
        EXPECT_EQ(got.labels, want.labels) << "d " << d << " eps " << eps << " ms " << ms;
        EXPECT_EQ(got.n_clusters, want.n_clusters);
      }
    }
}

TEST(Dbscan, TinyEpsIsAllNoise) {
  RowMatrix X = uniform(300, 2, 0, 1, 5);
  DbscanResult r = dbscan_fit(X, 1e-9, 2);
  EXPECT_EQ(r.n_clusters, 0);
  EXPECT_EQ(std::count(r.labels.begin(), r.labels.end(), -1), 300);
  EXPECT_EQ(std::count(r.core.begin(), r.core.end(), 1), 0);
}

TEST(Dbscan, MinSamplesOneMakesEveryRowCore) {
  RowMatrix X = uniform(200, 3, 0, 1, 6);
  DbscanResult r = dbscan_fit(X, 1e-9, 1);
  EXPECT_EQ(std::count(r.core.begin(), r.core.end(), 1), 200);
  // Distinct rows, none within eps of another: each its own cluster, numbered
  // in row order.
  ASSERT_EQ(r.n_clusters, 200);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(r.labels[size_t(i)], i);
  DbscanResult wide = dbscan_fit(X, 10, 1);
  EXPECT_EQ(wide.n_clusters, 1);
  EXPECT_EQ(std::count(wide.labels.begin(), wide.labels.end(), 0), 200);
}

TEST(Dbscan, DuplicatesCountAsNeighbours) {
  RowMatrix X(7, 2);
  X << 5, 5,  //
      0, 0,   //
      9, 9,   //
      0, 0,   //
      9, 9,   //
      0, 0,   //
      5, 5.5;
  DbscanResult r = dbscan_fit(X, 1e-6, 3);
  // Three copies of (0, 0) reach min_samples = 3; two copies of (9, 9) do not.
  EXPECT_EQ(r.core, (std::vector<char>{0, 1, 0, 1, 0, 1, 0}));
  EXPECT_EQ(r.labels, (std::vector<int>{-1, 0, -1, 0, -1, 0, -1}));
  EXPECT_EQ(r.n_clusters, 1);
}

// Two runs of five core rows on a line and a border row exactly eps from one
// end of each (all values binary fractions, so the distances are exact): the
// border row joins the cluster whose smallest row comes first, and the
// comparison with eps is inclusive.
TEST(Dbscan, BorderRowJoinsTheFirstClusterToReachIt) {
  const std::vector<double> a = {0, 0.125, 0.25, 0.375, 0.5}, b = {2.0, 2.125, 2.25, 2.375, 2.5};
  const double border = 1.25, eps = 0.75;
  auto fit_in_order = [&](const std::vector<double> &first, const std::vector<double> &second) {
    RowMatrix X(11, 1);
    int i = 0;
    X(i++, 0) = border;
    for (double v : first) X(i++, 0) = v;
    for (double v : second) X(i++, 0) = v;
    return X;
  };
  for (bool a_first : {true, false}) {
    RowMatrix X = a_first ? fit_in_order(a, b) : fit_in_order(b, a);
    DbscanResult r = dbscan_fit(X, eps, 4);
    ASSERT_EQ(r.n_clusters, 2);
    EXPECT_EQ(r.core[0], 0);
    EXPECT_EQ(r.labels[0], 0) << (a_first ? "a first" : "b first");
    for (int k = 1; k <= 5; ++k) EXPECT_EQ(r.labels[size_t(k)], 0);
    for (int k = 6; k <= 10; ++k) EXPECT_EQ(r.labels[size_t(k)], 1);
    EXPECT_EQ(r.labels, reference_dbscan(X, eps, 4).labels);
    // Just below eps, the border row is out of reach of both.
    EXPECT_EQ(dbscan_fit(X, std::nextafter(eps, 0.0), 4).labels[0], -1);
  }
}

TEST(Dbscan, RejectsBadArguments) {
  RowMatrix X = uniform(10, 2, 0, 1, 7);
  EXPECT_THROW(dbscan_fit(X, 0, 5), Error);
  EXPECT_THROW(dbscan_fit(X, -1, 5), Error);
  EXPECT_THROW(dbscan_fit(X, std::nan(""), 5), Error);
  EXPECT_THROW(dbscan_fit(X, 0.5, 0), Error);
  X(3, 1) = std::nan("");
  try {
    dbscan_fit(X, 0.5, 5);
    FAIL() << "a NaN was accepted";
  } catch (const Error &e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_THROW(k_distances(uniform(3, 2, 0, 1, 8), 4), Error);
  EXPECT_EQ(dbscan_fit(RowMatrix(0, 2), 0.5, 5).n_clusters, 0);
}

int g_checks = 0;
void counting_check() { ++g_checks; }
void cancelling_check() { throw Error(ErrorCode::kCancelled, "canceling statement due to user request"); }

TEST(Dbscan, PollsTheInterruptCheck) {
  RowMatrix X = uniform(2000, 2, 0, 1, 9);
  g_checks = 0;
  dbscan_fit(X, 0.05, 5, counting_check);
  EXPECT_GT(g_checks, 2000 / 64);
  EXPECT_THROW(dbscan_fit(X, 0.05, 5, cancelling_check), Error);
  EXPECT_THROW(k_distances(X, 5, cancelling_check), Error);
}

// Brute force: every pairwise squared distance, the k-th smallest per row.
std::vector<double> brute_k_squared(const RowMatrix &X, int k) {
  const int n = int(X.rows());
  std::vector<double> out, row(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (Eigen::Index c = 0; c < X.cols(); ++c) {
        const double t = X(i, c) - X(j, c);
        s += t * t;
      }
      row[size_t(j)] = s;
    }
    std::nth_element(row.begin(), row.begin() + (k - 1), row.end());
    out.push_back(row[size_t(k - 1)]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(KDistances, EqualBruteForce) {
  for (int d : {1, 2, 3, 6})
    for (int k : {1, 2, 5, 17}) {
      RowMatrix X = uniform(350, d, 0, 1, uint64_t(40 + d));
      X.row(7) = X.row(8);  // a duplicate pair
      const std::vector<double> got = k_distances(X, k), want = brute_k_squared(X, k);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        // The value is sqrt of the squared distance, raised to the first v with
        // v * v >= it.
        EXPECT_GE(got[i] * got[i], want[i]);
        EXPECT_NEAR(got[i], std::sqrt(want[i]), 4e-16 * std::sqrt(want[i])) << "d " << d << " k " << k;
      }
      if (k == 1) {
        EXPECT_EQ(got.back(), 0.0);
      }
    }
}

TEST(KDistances, EachValueIsTheEpsAtWhichItsRowBecomesCore) {
  RowMatrix X = uniform(300, 2, 0, 1, 12);
  const int ms = 6;
  const std::vector<double> kd = k_distances(X, ms);
  for (size_t j : {size_t(0), size_t(40), size_t(150), size_t(299)}) {
    const DbscanResult r = dbscan_fit(X, kd[j], ms);
    const auto at_most = std::upper_bound(kd.begin(), kd.end(), kd[j]) - kd.begin();
    EXPECT_EQ(std::count(r.core.begin(), r.core.end(), 1), at_most) << "position " << j;
  }
}

TEST(Knee, FarthestBelowTheChord) {
  // x = 0, 0.25, 0.5, 0.75, 1; y' = 0, 0.1, 0.2, 0.3, 1; x - y' peaks at 0.45
  // at the fourth point.
  EXPECT_DOUBLE_EQ(knee_of({0, 0.1, 0.2, 0.3, 1.0}), 0.3);
  EXPECT_DOUBLE_EQ(knee_of({1, 1.1, 1.2, 1.3, 2.0}), 1.3);
  // A straight line has no knee: the largest value.
  EXPECT_DOUBLE_EQ(knee_of({1, 2, 3, 4}), 4);
  EXPECT_DOUBLE_EQ(knee_of({0.5}), 0.5);
  // Past zeros (duplicate rows) to the first positive value.
  EXPECT_DOUBLE_EQ(knee_of({0, 0, 0, 0, 0, 5, 9, 10}),
                   5);  // the knee is the last 0
  EXPECT_THROW(knee_of({}), Error);
  EXPECT_THROW(knee_of({2, 1}), Error);
}

}  // namespace
}  // namespace custseg::core
