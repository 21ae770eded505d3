// Sparse rows (one-hot columns without PCA) against their dense form: the same rows, order,
// k-means, metrics and outlier thresholds.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "kmeans.h"
#include "method.h"
#include "metrics.h"
#include "sparse_rows.h"
#include "state_internal.h"
#include "test_util.h"

namespace custseg::core {
namespace {

// One-hot rows with some rows repeated (a sample's copies) and a numeric column that is often 0.
RowMatrix wide_rows() {
  RowMatrix X = testing::one_hot_rows(3, 120, 2, {40, 7}, 11);
  for (Eigen::Index i = 0; i < X.rows(); i += 9) X(i, 1) = 0;
  RowMatrix out(X.rows() + 30, X.cols());
  out.topRows(X.rows()) = X;
  for (Eigen::Index i = 0; i < 30; ++i) out.row(X.rows() + i) = X.row(i * 7);
  return out;
}

SparseRows sparse_of(const RowMatrix& X) {
  SparseRows S;
  EXPECT_TRUE(sparse_rows_of(X.data(), X.cols(), X.rows(), X.cols(), S));
  return S;
}

TEST(SparseRows, HoldTheDenseRows) {
  const RowMatrix X = wide_rows();
  const SparseRows S = sparse_of(X);
  EXPECT_EQ(S.n, X.rows());
  EXPECT_EQ(S.p, X.cols());
  EXPECT_EQ(S.dense.size(), 2u);  // the numeric columns; every level is rare
  EXPECT_TRUE(densify(S) == X);
  for (Eigen::Index i = 0; i < X.rows(); i += 17) EXPECT_TRUE(S.row(i) == X.row(i)) << i;
  std::vector<Eigen::Index> idx = {5, 0, 5, 99};
  const RowMatrix picked = densify(select_rows(S, idx));
  for (size_t r = 0; r < idx.size(); ++r) EXPECT_TRUE(picked.row(Eigen::Index(r)) == X.row(idx[r]));
  // Narrow or mostly dense rows keep the dense form.
  SparseRows none;
  const RowMatrix narrow = testing::one_hot_rows(2, 20, 2, {5}, 1);
  EXPECT_FALSE(sparse_rows_of(narrow.data(), narrow.cols(), narrow.rows(), narrow.cols(), none));
  const RowMatrix full = RowMatrix::Constant(40, 30, 1.0);
  EXPECT_FALSE(sparse_rows_of(full.data(), full.cols(), full.rows(), full.cols(), none));
}

TEST(SparseRows, CompareAndOrderAsDenseRows) {
  const RowMatrix X = wide_rows();
  const SparseRows S = sparse_of(X);
  for (Eigen::Index a = 0; a < X.rows(); a += 7)
    for (Eigen::Index b = 0; b < X.rows(); b += 11) {
      const auto ra = X.row(a), rb = X.row(b);
      const bool less = std::lexicographical_compare(ra.begin(), ra.end(), rb.begin(), rb.end());
      const bool greater = std::lexicographical_compare(rb.begin(), rb.end(), ra.begin(), ra.end());
      EXPECT_EQ(compare_rows(S, a, b), less ? -1 : greater ? 1 : 0) << a << " " << b;
    }
  EXPECT_EQ(canonical_order(S), canonical_order(X));
  // A first column that is sparse too.
  RowMatrix Y = X.rightCols(X.cols() - 2);
  SparseRows T = sparse_of(Y);
  ASSERT_TRUE(T.dense.empty());
  EXPECT_EQ(canonical_order(T), canonical_order(Y));
}

TEST(SparseRows, KMeansAsOnDenseRows) {
  const RowMatrix X = wide_rows();
  const SparseRows S = sparse_of(X);
  KMeansOptions opt;
  opt.k = 3;
  opt.seed = 4;
  const KMeansResult d = kmeans_fit(X, opt), s = kmeans_fit(S, opt);
  EXPECT_EQ(d.labels, s.labels);
  EXPECT_EQ(d.n_iter, s.n_iter);
  EXPECT_LE((d.centers - s.centers).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_NEAR(d.inertia, s.inertia, 1e-12 * d.inertia);
}

TEST(SparseRows, MetricsAsOnDenseRows) {
  const RowMatrix X = wide_rows();
  const SparseRows S = sparse_of(X);
  KMeansOptions opt;
  opt.k = 3;
  const KMeansResult r = kmeans_fit(X, opt);
  const ClusterScores d = cluster_scores(X, r.labels, 3), s = cluster_scores(S, r.labels, 3);
  EXPECT_NEAR(d.calinski_harabasz, s.calinski_harabasz, 1e-12 * d.calinski_harabasz);
  EXPECT_NEAR(d.davies_bouldin, s.davies_bouldin, 1e-12);
  for (Eigen::Index first : {Eigen::Index(50), X.rows()}) {
    const SilhouetteEstimate a = silhouette_growing(X, r.labels, 3, first, 0.05);
    const SilhouetteEstimate b = silhouette_growing(S, r.labels, 3, first, 0.05);
    EXPECT_EQ(a.rows, b.rows);
    EXPECT_NEAR(a.score, b.score, 1e-12);
    EXPECT_NEAR(a.standard_error, b.standard_error, 1e-12);
  }
  const Eigen::RowVectorXd mu = column_means(X);
  EXPECT_LE((column_means(S) - mu).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_NEAR(total_squares(S), (X.rowwise() - mu).squaredNorm(), 1e-12 * (X.rowwise() - mu).squaredNorm());
  Model m;
  m.method = Method::kKMeans;
  m.k = 3;
  m.centroids.assign(r.centers.data(), r.centers.data() + r.centers.size());
  ClusterOutcome out;
  out.labels = r.labels;
  Model md = m, ms = m;
  set_outlier_thresholds(X, out, 0.9, md);
  set_outlier_thresholds(S, out, 0.9, ms);
  ASSERT_EQ(md.outlier_threshold.size(), 3u);
  ASSERT_EQ(ms.outlier_threshold.size(), 3u);
  for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(md.outlier_threshold[c], ms.outlier_threshold[c], 1e-12) << c;
}

}  // namespace
}  // namespace custseg::core
