#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "moments.h"

namespace custseg::core {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

RowMatrix random_rows(int n, int d, uint64_t seed, double missing) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> z(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  RowMatrix X(n, d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) X(i, j) = u(gen) < missing ? kNaN : 1000 + 50 * j + (j + 1) * z(gen);
  return X;
}

// The statistics of the mean-imputed matrix, computed the plain two-pass way.
void reference(const RowMatrix& X, Vector& mean, Vector& var, Eigen::MatrixXd& cov) {
  const int n = int(X.rows()), d = int(X.cols());
  mean = Vector::Zero(d);
  for (int j = 0; j < d; ++j) {
    double s = 0;
    int c = 0;
    for (int i = 0; i < n; ++i)
      if (!std::isnan(X(i, j))) s += X(i, j), ++c;
    mean(j) = s / c;
  }
  Eigen::MatrixXd F(n, d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) F(i, j) = std::isnan(X(i, j)) ? mean(j) : X(i, j);
  Eigen::MatrixXd C = F.rowwise() - mean.transpose();
  cov = C.transpose() * C / double(n - 1);
  var = cov.diagonal() * double(n - 1) / double(n);
}

TEST(Moments, MatchesTwoPassReferenceWithMissingValues) {
  RowMatrix X = random_rows(1000, 4, 1, 0.1);
  Moments m(4);
  m.add(X);
  Vector mean, var;
  Eigen::MatrixXd cov;
  reference(X, mean, var, cov);
  EXPECT_EQ(m.count(), 1000);
  EXPECT_LT((m.mean() - mean).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT(((m.variance() - var).array() / var.array()).abs().maxCoeff(), 1e-10);
  EXPECT_LT((m.covariance() - cov).cwiseAbs().maxCoeff() / cov.cwiseAbs().maxCoeff(), 1e-10);
}

TEST(Moments, MergingPartsEqualsOnePass) {
  RowMatrix X = random_rows(999, 3, 2, 0.05);
  Moments whole(3);
  whole.add(X);
  // Uneven parts, one of them empty, merged in a tree.
  Moments a(3), b(3), c(3), empty(3);
  a.add(X.topRows(1));
  b.add(X.middleRows(1, 600));
  c.add(X.bottomRows(398));
  b.merge(empty);
  a.merge(b);
  a.merge(c);
  EXPECT_EQ(a.count(), whole.count());
  EXPECT_LT((a.mean() - whole.mean()).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_LT((a.covariance() - whole.covariance()).cwiseAbs().maxCoeff(), 1e-8);
  EXPECT_EQ(a.present(), whole.present());
}

TEST(Moments, RowByRowEqualsBlock) {
  RowMatrix X = random_rows(300, 2, 3, 0.2);
  Moments block(2), rows(2);
  block.add(X);
  for (int i = 0; i < X.rows(); ++i) rows.add(X.row(i));
  EXPECT_LT((rows.covariance() - block.covariance()).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT((rows.mean() - block.mean()).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(Moments, ExtendAddsZeroColumns) {
  RowMatrix X = random_rows(50, 2, 4, 0);
  Moments m(2);
  m.add(X);
  m.extend(1);
  ASSERT_EQ(m.dim(), 3);
  RowMatrix Y(50, 3);
  Y << X, RowMatrix::Zero(50, 1);
  Moments ref(3);
  ref.add(Y);
  EXPECT_LT((m.covariance() - ref.covariance()).cwiseAbs().maxCoeff(), 1e-9);
}

TEST(Moments, PermuteReordersColumns) {
  RowMatrix X = random_rows(80, 3, 5, 0.1);
  Moments m(3);
  m.add(X);
  m.permute({2, 0, 1});
  RowMatrix Y(80, 3);
  Y.col(0) = X.col(2);
  Y.col(1) = X.col(0);
  Y.col(2) = X.col(1);
  Moments ref(3);
  ref.add(Y);
  EXPECT_LT((m.covariance() - ref.covariance()).cwiseAbs().maxCoeff(), 1e-9);
}

TEST(Moments, RawRoundTrip) {
  RowMatrix X = random_rows(40, 2, 6, 0.1);
  Moments m(2);
  m.add(X);
  Moments back = Moments::from_raw(m.count(), m.N().data(), m.A().data(), m.M().data(), 2);
  EXPECT_EQ(back.covariance(), m.covariance());
}

}  // namespace
}  // namespace custseg::core

namespace custseg::core {
namespace {

// The sparse path over raw rows (nn numbers, then nc category ids, -1 for NULL) equals the dense
// path over the one-hot encoded rows: every pair's count, mean and co-moment, with missing numbers
// and NULL categories, in blocks merged into running moments. Even blocks have no missing number
// (the complete path), odd blocks some.
void expect_raw_rows_equal_dense(int nn, int nc) {
  const int levels0 = 4, levels1 = 3;
  const int d = nn + (nc > 0 ? levels0 : 0) + (nc > 1 ? levels1 : 0), w = nn + nc;
  std::mt19937_64 gen(17 + uint64_t(nn) * 31 + uint64_t(nc));
  std::normal_distribution<double> z(0, 1);
  std::uniform_int_distribution<int> pick(0, 9);
  Moments dense(d), sparse(d);
  for (int block = 0; block < 4; ++block) {
    const int b = 50 + 40 * block;
    std::vector<double> raw(size_t(b) * size_t(w));
    RowMatrix X = RowMatrix::Zero(b, d);
    for (int r = 0; r < b; ++r) {
      double* row = raw.data() + size_t(r) * size_t(w);
      for (int j = 0; j < nn; ++j) {
        row[j] = block % 2 == 1 && pick(gen) == 0 ? std::numeric_limits<double>::quiet_NaN() : 1000 * j + 50 * z(gen);
        X(r, j) = row[j];
      }
      if (nc > 0) {
        const int a = pick(gen) == 0 ? -1 : pick(gen) % levels0;
        row[nn] = a;
        if (a >= 0) X(r, nn + a) = 1;
      }
      if (nc > 1) {
        const int c = pick(gen) == 0 ? -1 : levels0 + pick(gen) % levels1;
        row[nn + 1] = c;
        if (c >= 0) X(r, nn + c) = 1;
      }
    }
    dense.add(X);
    sparse.add_raw(raw.data(), size_t(b), size_t(w), w, nn);
  }
  EXPECT_EQ(dense.count(), sparse.count());
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      EXPECT_EQ(dense.N()(i, j), sparse.N()(i, j)) << nn << " numbers: " << i << "," << j;
      EXPECT_NEAR(dense.A()(i, j), sparse.A()(i, j), 1e-12 * std::max(1.0, std::abs(dense.A()(i, j))))
          << nn << " numbers: " << i << "," << j;
      EXPECT_NEAR(dense.M()(i, j), sparse.M()(i, j), 1e-10 * std::max(1.0, std::abs(dense.M()(i, j))))
          << nn << " numbers: " << i << "," << j;
    }
  const Eigen::MatrixXd c1 = dense.covariance(), c2 = sparse.covariance();
  EXPECT_LT((c1 - c2).cwiseAbs().maxCoeff(), 1e-9 * c1.cwiseAbs().maxCoeff()) << nn << " numbers";
}

TEST(Moments, RawRowsEqualDenseOneHot) { expect_raw_rows_equal_dense(3, 2); }

// Every width the complete path compiles for (1 to 8 numbers), the general width beyond, and rows
// of categories only or numbers only.
TEST(Moments, RawRowsEqualDenseOneHotAtEveryWidth) {
  for (int nn : {0, 1, 2, 4, 5, 6, 7, 8, 9, 13})
    for (int nc : {0, 1, 2})
      if (nn + nc > 0) expect_raw_rows_equal_dense(nn, nc);
}

}  // namespace
}  // namespace custseg::core
