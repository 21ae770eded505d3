// PCA from a covariance matrix: eigenvectors by decreasing eigenvalue, each with its
// largest-magnitude loading made positive (a deterministic sign), explained variance and ratio.
#pragma once

#include "linalg.h"

namespace custseg::core {

struct PcaResult {
  RowMatrix components;           // n_components x d
  Vector explained_variance;      // eigenvalues of the (n-1) covariance
  Vector explained_variance_ratio;
};

// n_components > 0 keeps that many; otherwise keeps the fewest components whose cumulative ratio
// exceeds variance_fraction (scikit-learn's rule for a fraction).
PcaResult pca_from_covariance(const Eigen::MatrixXd& cov, int n_components, double variance_fraction);

}  // namespace custseg::core
