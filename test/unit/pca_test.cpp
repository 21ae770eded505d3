#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "errors.h"
#include "pca.h"

namespace custseg::core {
namespace {

TEST(Pca, RecoversRotatedEllipse) {
  // Standard deviations 3 and 0.5 along axes rotated by 30 degrees.
  const double t = M_PI / 6;
  Eigen::Matrix2d R;
  R << std::cos(t), -std::sin(t), std::sin(t), std::cos(t);
  Eigen::Matrix2d D = Eigen::Vector2d(9, 0.25).asDiagonal();
  Eigen::MatrixXd cov = R * D * R.transpose();
  PcaResult p = pca_from_covariance(cov, 2, 0);
  ASSERT_EQ(p.components.rows(), 2);
  EXPECT_NEAR(p.explained_variance(0), 9, 1e-12);
  EXPECT_NEAR(p.explained_variance(1), 0.25, 1e-12);
  EXPECT_NEAR(p.explained_variance_ratio.sum(), 1, 1e-12);
  // First component is the major axis, with its largest loading positive.
  EXPECT_NEAR(p.components(0, 0), std::cos(t), 1e-12);
  EXPECT_NEAR(p.components(0, 1), std::sin(t), 1e-12);
  EXPECT_NEAR(std::abs(p.components(1, 0)), std::sin(t), 1e-12);
  EXPECT_NEAR(std::abs(p.components(1, 1)), std::cos(t), 1e-12);
}

TEST(Pca, SignsAreDeterministic) {
  std::mt19937_64 gen(9);
  std::normal_distribution<double> z(0, 1);
  Eigen::MatrixXd A(5, 5);
  for (int i = 0; i < 25; ++i) A.data()[i] = z(gen);
  Eigen::MatrixXd cov = A * A.transpose();
  PcaResult p = pca_from_covariance(cov, 5, 0);
  for (int c = 0; c < 5; ++c) {
    Eigen::Index at;
    p.components.row(c).cwiseAbs().maxCoeff(&at);
    EXPECT_GT(p.components(c, at), 0) << "component " << c;
    EXPECT_NEAR(p.components.row(c).norm(), 1, 1e-12);
    if (c) {
      EXPECT_GE(p.explained_variance(c - 1), p.explained_variance(c));
    }
  }
  // Orthonormal rows.
  EXPECT_LT((p.components * p.components.transpose() - Eigen::MatrixXd::Identity(5, 5)).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(Pca, VarianceFractionKeepsFewestComponentsAbove) {
  Eigen::MatrixXd cov = Eigen::Vector4d(6, 2, 1.5, 0.5).asDiagonal();  // ratios .6 .2 .15 .05
  EXPECT_EQ(pca_from_covariance(cov, 0, 0.5).components.rows(), 1);
  EXPECT_EQ(pca_from_covariance(cov, 0, 0.7).components.rows(), 2);
  EXPECT_EQ(pca_from_covariance(cov, 0, 0.9).components.rows(), 3);
  EXPECT_EQ(pca_from_covariance(cov, 0, 0.99).components.rows(), 4);
}

// A symmetric d x d matrix with the given eigenvalues in a random orthonormal basis.
Eigen::MatrixXd with_eigenvalues(const Vector& values, uint64_t seed) {
  const Eigen::Index d = values.size();
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> z(0, 1);
  Eigen::MatrixXd g(d, d);
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = z(gen);
  const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(g).householderQ();
  return q * values.asDiagonal() * q.transpose();
}

// The kept vectors are eigenvectors of cov for their variances (within residual_tol) and orthonormal.
void expect_eigenvectors(const Eigen::MatrixXd& cov, const PcaResult& r, double residual_tol) {
  const Eigen::MatrixXd v = r.components.transpose();
  const Eigen::Index c = v.cols();
  EXPECT_LT((cov * v - v * r.explained_variance.asDiagonal()).cwiseAbs().maxCoeff(), residual_tol);
  EXPECT_LT((v.transpose() * v - Eigen::MatrixXd::Identity(c, c)).cwiseAbs().maxCoeff(), 1e-10);
}

// Both paths' components and variances agree.
void expect_same_components(const Eigen::MatrixXd& cov, int n_components, double fraction, double tol) {
  PcaResult few;
  ASSERT_TRUE(pca_few_vectors(cov, n_components, fraction, few));
  const PcaResult full = pca_full_solver(cov, n_components, fraction);
  ASSERT_EQ(few.components.rows(), full.components.rows());
  EXPECT_LT((few.explained_variance - full.explained_variance).cwiseAbs().maxCoeff(), 1e-12 * cov.norm());
  EXPECT_LT((few.explained_variance_ratio - full.explained_variance_ratio).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((few.components - full.components).cwiseAbs().maxCoeff(), tol);
}

TEST(Pca, FewVectorsOfAWideMatrixAreTheFullSolvers) {
  Vector values(120);
  for (int i = 0; i < 120; ++i) values(i) = 100.0 / (1 + i) + (i % 7) * 1e-3;
  const Eigen::MatrixXd cov = with_eigenvalues(values, 3);
  expect_same_components(cov, 2, 0, 1e-10);
  expect_same_components(cov, 30, 0, 1e-10);
  expect_same_components(cov, 0, 0.5, 1e-10);  // the fraction picks the same count
}

TEST(Pca, FewVectorsOfOneHotColumns) {
  // Two numeric columns and a 200-level category (one-hot, so the covariance is singular), as the
  // training's covariance of a table with a city column.
  std::mt19937_64 gen(11);
  std::normal_distribution<double> z(0, 1);
  std::uniform_int_distribution<int> level(0, 199);
  const int n = 5000, d = 202;
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(n, d);
  for (int i = 0; i < n; ++i) {
    const int l = level(gen);
    x(i, 0) = z(gen) + 0.02 * l;
    x(i, 1) = z(gen) - 0.5 * x(i, 0);
    x(i, 2 + l) = 1;
  }
  const Eigen::MatrixXd centred = x.rowwise() - x.colwise().mean();
  const Eigen::MatrixXd cov = centred.transpose() * centred / (n - 1);
  expect_same_components(cov, 2, 0, 1e-9);
  // Past the numeric directions the levels' eigenvalues crowd together (each level's variance is
  // about 1/200): single vectors there are not determined, so 20 are checked as eigenvectors.
  PcaResult few;
  ASSERT_TRUE(pca_few_vectors(cov, 20, 0, few));
  const PcaResult full = pca_full_solver(cov, 20, 0);
  expect_eigenvectors(cov, few, 1e-12);
  EXPECT_LT((few.explained_variance - full.explained_variance).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(Pca, FewVectorsOfARepeatedEigenvalueSpanItsSpace) {
  // The three leading eigenvalues are equal: any orthonormal basis of their space is right, so the
  // vectors are checked as eigenvectors, orthonormal, and spanning the full solver's space.
  Vector values = Vector::LinSpaced(100, 1, 0.01);
  values.head(3).setConstant(10);
  values(3) = 5;
  const Eigen::MatrixXd cov = with_eigenvalues(values, 5);
  PcaResult few;
  ASSERT_TRUE(pca_few_vectors(cov, 4, 0, few));
  expect_eigenvectors(cov, few, 1e-10);
  const Eigen::MatrixXd v = few.components.transpose();
  const PcaResult full = pca_full_solver(cov, 4, 0);
  const Eigen::MatrixXd f = full.components.topRows(3).transpose();
  EXPECT_LT((v.leftCols(3) * v.leftCols(3).transpose() - f * f.transpose()).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_LT((few.components.row(3) - full.components.row(3)).cwiseAbs().maxCoeff(), 1e-10);
}

TEST(Pca, FewVectorsOfManySpectraNeedNoFallback) {
  // Spectra of several shapes (decaying, clustered, rank-deficient, repeated at the cut): the
  // tridiagonal path answers each (no fallback), with the full solver's variances, and components
  // equal to its wherever the eigenvalue gap determines them.
  std::mt19937_64 gen(21);
  std::uniform_int_distribution<int> width(64, 160);
  for (int trial = 0; trial < 24; ++trial) {
    const int d = width(gen);
    Vector v(d);
    for (int i = 0; i < d; ++i) {
      switch (trial % 4) {
        case 0: v(i) = std::pow(0.8, i); break;                        // geometric decay
        case 1: v(i) = 10.0 / (1 + i / 3); break;                       // triples of equal values
        case 2: v(i) = i < d / 3 ? 5.0 / (1 + i) : 0.0; break;          // rank-deficient
        default: v(i) = i < 6 ? 4.0 - 0.5 * i : 1e-3 * (d - i); break;  // a gap, then a slow tail
      }
    }
    const Eigen::MatrixXd cov = with_eigenvalues(v, uint64_t(trial) + 100);
    const int c = 1 + trial % 5;
    PcaResult few;
    ASSERT_TRUE(pca_few_vectors(cov, c, 0, few)) << "trial " << trial << ", d = " << d;
    const PcaResult full = pca_full_solver(cov, c, 0);
    EXPECT_LT((few.explained_variance - full.explained_variance).cwiseAbs().maxCoeff(), 1e-12 * cov.norm());
    for (int i = 0; i < c; ++i) {
      const double gap = std::min(i > 0 ? v(i - 1) - v(i) : INFINITY, v(i) - v(i + 1));
      if (gap > 1e-3 * v(0)) {
        EXPECT_LT((few.components.row(i) - full.components.row(i)).cwiseAbs().maxCoeff(), 1e-9)
            << "trial " << trial << ", component " << i;
      }
    }
  }
}

TEST(Pca, FewVectorsOnlyWhereTheyPay) {
  PcaResult r;
  const Eigen::MatrixXd narrow = with_eigenvalues(Vector::LinSpaced(63, 10, 1), 7);
  EXPECT_FALSE(pca_few_vectors(narrow, 2, 0, r));  // under 64 columns
  const Eigen::MatrixXd wide = with_eigenvalues(Vector::LinSpaced(100, 10, 1), 7);
  EXPECT_FALSE(pca_few_vectors(wide, 26, 0, r));  // more than a quarter of the columns
  EXPECT_TRUE(pca_few_vectors(wide, 25, 0, r));
  EXPECT_FALSE(pca_few_vectors(Eigen::MatrixXd::Zero(100, 100), 2, 0, r));
  Eigen::MatrixXd bad = wide;
  bad(3, 4) = bad(4, 3) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(pca_few_vectors(bad, 2, 0, r));
  EXPECT_THROW(pca_from_covariance(bad, 2, 0), Error);  // the full solver's error, as before
  EXPECT_THROW(pca_few_vectors(wide, 101, 0, r), Error);
}

TEST(Pca, TooManyComponentsIsAnError) {
  Eigen::MatrixXd cov = Eigen::Matrix2d::Identity();
  EXPECT_THROW(pca_from_covariance(cov, 3, 0), Error);
}

}  // namespace
}  // namespace custseg::core
