// Mergeable first and second moments of feature vectors that may have missing entries (NaN).
//
// For every pair (i, j) of columns it keeps, over the rows where both are present:
//   N[i,j]  the count, A[i,j] the mean of column i, M[i,j] = sum (x_i - A[i,j]) (x_j - A[j,i]).
// The diagonal is each column's count, mean and sum of squared deviations. Two sets merge exactly
// (Chan et al.), so a parallel or distributed scan gives the statistics of one pass. From them the
// statistics of the mean-imputed data follow exactly:
//   var_i = M[i,i] / n,   cov_ij = (M[i,j] + N[i,j] (A[i,j] - m_i)(A[j,i] - m_j)) / (n - 1),
// where n counts every row and m_i = A[i,i].
#pragma once

#include "linalg.h"

namespace custseg::core {

class Moments {
 public:
  Moments() = default;
  explicit Moments(int dim);

  int dim() const { return int(N_.rows()); }
  double count() const { return n_; }

  // Adds rows (one per row of X; NaN marks a missing entry). Blocks are folded with a two-pass
  // update, so the result is as accurate as a two-pass computation over each block.
  void add(const Eigen::Ref<const RowMatrix>& X);
  // The same for raw rows (`stride` doubles apart): `n_numeric` values (NaN missing), then
  // `width - n_numeric` category ids (-1 for none), id c meaning one-hot column n_numeric + c. The
  // one-hot columns are never read densely: a row costs its numeric pairs and its active levels,
  // and the block's merge one pass over the dim x dim moments.
  void add_raw(const double* rows, size_t count, size_t stride, int width, int n_numeric);
  // add_raw on moments held elsewhere (a flat state): n, then N, A, M (dim x dim, column-major with
  // leading dimension ld >= dim), updated in place.
  static void add_raw_into(double* n, double* N, double* A, double* M, int dim, int ld, const double* rows,
                           size_t count, size_t stride, int width, int n_numeric);
  void merge(const Moments& other);
  // Appends `extra` columns that are zero and present in every row seen so far.
  void extend(int extra);
  // Reorders columns: new column c is old column perm[c].
  void permute(const std::vector<int>& perm);

  // Per-column mean over present values, population variance of the mean-imputed column.
  Vector mean() const;
  Vector variance() const;
  // Sample (n-1) covariance of the mean-imputed data.
  Eigen::MatrixXd covariance() const;
  // Present-value count of each column.
  Vector present() const;

  // Raw access for flat serialization: n, then N, A, M (dim x dim each, column-major).
  const Eigen::MatrixXd& N() const { return N_; }
  const Eigen::MatrixXd& A() const { return A_; }
  const Eigen::MatrixXd& M() const { return M_; }
  // From N, A, M stored column-major with leading dimension ld (dim when omitted).
  static Moments from_raw(double n, const double* N, const double* A, const double* M, int dim, int ld = -1);

 private:
  void add_complete(const Eigen::Ref<const RowMatrix>& X);

  double n_ = 0;
  Eigen::MatrixXd N_, A_, M_;
};

}  // namespace custseg::core
