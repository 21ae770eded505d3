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
// Wide matrices keeping few components take pca_few_vectors' path, the others pca_full_solver's.
PcaResult pca_from_covariance(const Eigen::MatrixXd& cov, int n_components, double variance_fraction);

// Every eigenvector by the self-adjoint eigensolver.
PcaResult pca_full_solver(const Eigen::MatrixXd& cov, int n_components, double variance_fraction);

// Only the kept components' eigenvectors, through the tridiagonal form (see pca.cpp). False, with
// `out` untouched, when the matrix is narrow (under 64 columns), keeps more than a quarter of its
// columns, is zero or not finite, or a vector fails its residual or orthogonality check.
bool pca_few_vectors(const Eigen::MatrixXd& cov, int n_components, double variance_fraction, PcaResult& out);

}  // namespace custseg::core
