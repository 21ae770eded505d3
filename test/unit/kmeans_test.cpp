#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <set>

#include "errors.h"
#include "kmeans.h"
#include "test_util.h"

namespace custseg::core {
namespace {

using testing::blobs;

// Every centre is the mean of the rows labelled with it (each of the k has rows), within tol.
void expect_centres_are_means(const RowMatrix& X, const KMeansResult& r, int k, double tol) {
  for (int c = 0; c < k; ++c) {
    Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(X.cols());
    int n = 0;
    for (Eigen::Index i = 0; i < X.rows(); ++i)
      if (r.labels[size_t(i)] == c) sum += X.row(i), ++n;
    ASSERT_GT(n, 0) << "centre " << c;
    EXPECT_LT((sum / n - r.centers.row(c)).cwiseAbs().maxCoeff(), tol) << "centre " << c;
  }
}

TEST(KMeans, RecoversSeparatedBlobs) {
  const std::vector<std::vector<double>> centres = {{0, 0}, {10, 0}, {0, 10}, {10, 10}};
  std::vector<int> truth;
  RowMatrix X = blobs(centres, 200, 0.7, 11, &truth);
  KMeansOptions o;
  o.k = 4;
  o.seed = 3;
  KMeansResult r = kmeans_fit(X, o);
  ASSERT_EQ(r.centers.rows(), 4);
  // Each true blob maps to exactly one cluster, and each centre sits close to a true centre.
  std::map<int, std::set<int>> seen;
  for (size_t i = 0; i < truth.size(); ++i) seen[truth[i]].insert(r.labels[i]);
  std::set<int> used;
  for (auto& [t, ls] : seen) {
    ASSERT_EQ(ls.size(), 1u) << "blob " << t << " was split";
    used.insert(*ls.begin());
    Eigen::RowVector2d c = r.centers.row(*ls.begin());
    EXPECT_NEAR(c(0), centres[size_t(t)][0], 0.2);
    EXPECT_NEAR(c(1), centres[size_t(t)][1], 0.2);
  }
  EXPECT_EQ(used.size(), 4u);
  // The inertia is the labelled sum of squared distances.
  std::vector<int> labels;
  EXPECT_NEAR(kmeans_assign(X, r.centers, labels), r.inertia, 1e-9 * r.inertia);
  EXPECT_EQ(labels, r.labels);
}

// From 20,000 rows on the restarts run on a tenth of the rows; the result is still a local optimum
// of every row (labels the nearest centres, centres the means of their rows) and here, with
// separated blobs, the one all restarts on every row find.
TEST(KMeans, RestartsOnASubsampleOfManyRows) {
  const std::vector<std::vector<double>> centres = {{0, 0}, {6, 0}, {0, 6}, {6, 6}, {3, 12}};
  std::vector<int> truth;
  const RowMatrix X = blobs(centres, 6000, 1.0, 21, &truth);  // 30,000 rows
  KMeansOptions o;
  o.k = 5;
  o.seed = 4;
  const KMeansResult r = kmeans_fit(X, o);
  std::vector<int> labels;
  EXPECT_NEAR(kmeans_assign(X, r.centers, labels), r.inertia, 1e-9 * r.inertia);
  EXPECT_EQ(labels, r.labels);
  expect_centres_are_means(X, r, o.k, 1e-9);
  std::map<int, std::set<int>> seen;
  for (size_t i = 0; i < truth.size(); ++i) seen[truth[i]].insert(r.labels[i]);
  int split = 0;
  for (auto& [t, ls] : seen) split += ls.size() > 1;
  EXPECT_LE(split, 5);  // overlapping tails: blobs 6 apart with unit spread share a few rows
  std::set<int> used(r.labels.begin(), r.labels.end());
  EXPECT_EQ(used.size(), 5u);
  // The same optimum as a single full restart from each of several seeds, at best.
  double full_best = std::numeric_limits<double>::infinity();
  for (uint64_t seed = 0; seed < 4; ++seed) {
    KMeansOptions one = o;
    one.n_init = 1;
    one.seed = seed;
    full_best = std::min(full_best, kmeans_fit(X, one).inertia);
  }
  EXPECT_LE(r.inertia, full_best * (1 + 1e-9));
}

TEST(KMeans, SameSeedSameResult) {
  RowMatrix X = blobs({{0, 0, 0}, {3, 3, 3}, {6, 0, 3}}, 150, 1.5, 5);
  KMeansOptions o;
  o.k = 5;
  o.seed = 123;
  o.n_init = 4;
  KMeansResult a = kmeans_fit(X, o), b = kmeans_fit(X, o);
  EXPECT_EQ(a.centers, b.centers);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.inertia, b.inertia);
}

TEST(KMeans, MoreRestartsNeverWorse) {
  RowMatrix X = blobs({{0, 0}, {2, 0}, {4, 0}, {6, 0}, {8, 0}}, 60, 1.2, 8);
  KMeansOptions o;
  o.k = 5;
  o.seed = 1;
  o.n_init = 1;
  const double one = kmeans_fit(X, o).inertia;
  o.n_init = 10;  // the first restart is the same draw, so the best of ten cannot be worse
  EXPECT_LE(kmeans_fit(X, o).inertia, one);
}

TEST(KMeans, KEqualsRowsGivesZeroInertia) {
  RowMatrix X(3, 2);
  X << 0, 0, 1, 1, 5, 5;
  KMeansOptions o;
  o.k = 3;
  KMeansResult r = kmeans_fit(X, o);
  EXPECT_NEAR(r.inertia, 0, 1e-12);
  std::set<int> distinct(r.labels.begin(), r.labels.end());
  EXPECT_EQ(distinct.size(), 3u);
}

TEST(KMeans, DuplicateRowsDoNotLeaveEmptyClusters) {
  // Only two distinct points but k = 3: a centre must still be a real point, and no label is out of range.
  RowMatrix X(10, 1);
  X << 0, 0, 0, 0, 0, 1, 1, 1, 1, 1;
  KMeansOptions o;
  o.k = 3;
  KMeansResult r = kmeans_fit(X, o);
  EXPECT_NEAR(r.inertia, 0, 1e-12);
  for (int l : r.labels) EXPECT_TRUE(l >= 0 && l < 3);
  EXPECT_TRUE(r.centers.allFinite());
}

// Rows with many sparse (one-hot) columns take the sparse distance path: every label is the nearest
// centre by the plain dense distance, the centres are the means of their rows, and the inertia is
// the dense one.
TEST(KMeans, OneHotRowsWithoutPcaMatchDenseDefinitions) {
  const RowMatrix X = testing::one_hot_rows(4, 150, 2, {60, 7}, 3);
  KMeansOptions opt;
  opt.k = 4;
  opt.seed = 5;
  KMeansResult r = kmeans_fit(X, opt);
  double inertia = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    int best = 0;
    double bd = (X.row(i) - r.centers.row(0)).squaredNorm();
    for (int c = 1; c < opt.k; ++c) {
      const double d = (X.row(i) - r.centers.row(c)).squaredNorm();
      if (d < bd) bd = d, best = c;
    }
    EXPECT_EQ(r.labels[size_t(i)], best) << "row " << i;
    inertia += bd;
  }
  EXPECT_NEAR(r.inertia, inertia, 1e-9 * inertia);
  expect_centres_are_means(X, r, opt.k, 1e-12);
  // The planted groups: numeric centres 3 apart and mostly their own levels.
  std::set<int> seen(r.labels.begin(), r.labels.end());
  EXPECT_EQ(seen.size(), 4u);
}

TEST(KMeans, TooFewRowsIsAnError) {
  RowMatrix X(2, 2);
  X << 0, 0, 1, 1;
  KMeansOptions o;
  o.k = 3;
  try {
    kmeans_fit(X, o);
    FAIL() << "accepted k > n";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataException);
  }
}

int interrupts = 0;
void count_then_cancel() {
  if (++interrupts > 3) throw Error(ErrorCode::kCancelled, "canceling statement due to user request");
}

TEST(KMeans, InterruptCheckCancels) {
  RowMatrix X = blobs({{0, 0}, {5, 5}}, 500, 2, 2);
  KMeansOptions o;
  o.k = 2;
  o.n_init = 50;
  interrupts = 0;
  try {
    kmeans_fit(X, o, count_then_cancel);
    FAIL() << "not cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
  }
}

}  // namespace
}  // namespace custseg::core
