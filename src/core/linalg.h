// Eigen types shared by the core. Eigen's assertions throw instead of aborting the backend.
#pragma once

#include <stdexcept>
#include <vector>

#ifndef eigen_assert
#define eigen_assert(x) \
  do {                  \
    if (!(x)) throw std::logic_error("Eigen assertion failed: " #x); \
  } while (0)
#endif

// Why: GCC 12 reports a false maybe-uninitialized inside Eigen's self-adjoint product kernels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#pragma GCC diagnostic pop

namespace custseg::core {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using IndexVector = Eigen::VectorXi;

// The mean of each column of row-major rows, summed row by row (Eigen's column-wise reduction of a
// row-major matrix strides through every row once per column: slow for wide rows).
inline Eigen::RowVectorXd column_means(const Eigen::Ref<const RowMatrix>& X) {
  Eigen::RowVectorXd mu = Eigen::RowVectorXd::Zero(X.cols());
  for (Eigen::Index i = 0; i < X.rows(); ++i) mu += X.row(i);
  return X.rows() > 0 ? Eigen::RowVectorXd(mu / double(X.rows())) : mu;
}

// Sum over the rows of the squared distance to the column means (the total sum of squares).
inline double total_squares(const Eigen::Ref<const RowMatrix>& X) {
  return (X.rowwise() - column_means(X)).squaredNorm();
}

// The rows, and rows idx[0], idx[1], ... in that order; sparse_rows.h has the same for sparse rows,
// so that code over either form is written once.
inline Eigen::Index rows_in(const Eigen::Ref<const RowMatrix>& X) { return X.rows(); }
inline RowMatrix select_rows(const Eigen::Ref<const RowMatrix>& X, const std::vector<Eigen::Index>& idx) {
  RowMatrix out(Eigen::Index(idx.size()), X.cols());
  for (size_t r = 0; r < idx.size(); ++r) out.row(Eigen::Index(r)) = X.row(idx[r]);
  return out;
}

}  // namespace custseg::core
