#include <gtest/gtest.h>

#include <cmath>
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

TEST(Pca, TooManyComponentsIsAnError) {
  Eigen::MatrixXd cov = Eigen::Matrix2d::Identity();
  EXPECT_THROW(pca_from_covariance(cov, 3, 0), Error);
}

}  // namespace
}  // namespace custseg::core
