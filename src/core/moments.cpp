// Pairwise-complete moments with exact merging (see moments.h for the formulas).
#include "moments.h"

#include "errors.h"

namespace custseg::core {

Moments::Moments(int dim)
    : N_(Eigen::MatrixXd::Zero(dim, dim)), A_(Eigen::MatrixXd::Zero(dim, dim)), M_(Eigen::MatrixXd::Zero(dim, dim)) {}

Moments Moments::from_raw(double n, const double* N, const double* A, const double* M, int dim) {
  Moments m(dim);
  m.n_ = n;
  m.N_ = Eigen::Map<const Eigen::MatrixXd>(N, dim, dim);
  m.A_ = Eigen::Map<const Eigen::MatrixXd>(A, dim, dim);
  m.M_ = Eigen::Map<const Eigen::MatrixXd>(M, dim, dim);
  return m;
}

void Moments::add(const Eigen::Ref<const RowMatrix>& X) {
  const Eigen::Index b = X.rows(), d = X.cols();
  if (d != dim()) throw Error(ErrorCode::kDimensionMismatch, "moments: row width does not match");
  if (b == 0) return;
  // Block statistics, two-pass: centre on the block's column means, then cross products.
  if (!X.hasNaN()) {
    add_complete(X);
    return;
  }
  Eigen::MatrixXd P = (X.array() == X.array()).cast<double>().matrix();  // 1 where present
  Vector cnt = P.colwise().sum().transpose();
  Vector mu(d);
  for (Eigen::Index j = 0; j < d; ++j) {
    double s = 0;
    for (Eigen::Index r = 0; r < b; ++r)
      if (P(r, j) != 0) s += X(r, j);
    mu(j) = cnt(j) > 0 ? s / cnt(j) : 0;
  }
  Eigen::MatrixXd Y(b, d);
  for (Eigen::Index r = 0; r < b; ++r)
    for (Eigen::Index j = 0; j < d; ++j) Y(r, j) = P(r, j) != 0 ? X(r, j) - mu(j) : 0.0;
  const Eigen::MatrixXd Nb = P.transpose() * P;
  const Eigen::MatrixXd S = Y.transpose() * P;  // S(i,j) = sum of y_i over rows where j is present
  Eigen::MatrixXd YtY = Y.transpose() * Y;
  Eigen::ArrayXXd safeN = (Nb.array() > 0).select(Nb.array(), 1.0);
  Eigen::ArrayXXd Ab = (Nb.array() > 0).select(mu.replicate(1, d).array() + S.array() / safeN, 0.0);
  Eigen::ArrayXXd Mb = (Nb.array() > 0).select(YtY.array() - S.array() * S.transpose().array() / safeN, 0.0);
  // Chan merge into the running moments.
  Eigen::ArrayXXd Nt = N_.array() + Nb.array();
  Eigen::ArrayXXd safeT = (Nt > 0).select(Nt, 1.0);
  Eigen::ArrayXXd delta = Ab - A_.array();
  Eigen::ArrayXXd newA = (Nb.array() > 0).select(A_.array() + delta * Nb.array() / safeT, A_.array());
  Eigen::ArrayXXd newM = (Nb.array() > 0)
                             .select(M_.array() + Mb + delta * delta.transpose() * N_.array() * Nb.array() / safeT,
                                     M_.array());
  A_ = newA.matrix();
  M_ = newM.matrix();
  N_ = Nt.matrix();
  n_ += double(b);
}

// A block without missing values: every pair of columns has all b rows, so the pairwise counts,
// means and co-moments are those of the whole block (the general path's complete case, without
// its presence matrix).
void Moments::add_complete(const Eigen::Ref<const RowMatrix>& X) {
  const Eigen::Index b = X.rows(), d = X.cols();
  const Vector mu = X.colwise().mean().transpose();
  const Eigen::MatrixXd Y = X.rowwise() - mu.transpose();
  const Vector colsum = Y.colwise().sum().transpose();
  const Eigen::MatrixXd YtY = Y.transpose() * Y;
  const double nb = double(b);
  // Chan merge into the running moments, with N_b = b everywhere.
  Eigen::ArrayXXd Nt = N_.array() + nb;
  Eigen::ArrayXXd Ab = (mu + colsum / nb).replicate(1, d).array();  // A_b(i, j): mean of column i
  Eigen::ArrayXXd Mb = YtY.array() - (colsum * colsum.transpose()).array() / nb;
  Eigen::ArrayXXd delta = Ab - A_.array();
  A_ = (A_.array() + delta * nb / Nt).matrix();
  M_ = (M_.array() + Mb + delta * delta.transpose() * N_.array() * nb / Nt).matrix();
  N_ = Nt.matrix();
  n_ += nb;
}

void Moments::merge(const Moments& o) {
  if (o.dim() != dim()) throw Error(ErrorCode::kDimensionMismatch, "moments: cannot merge different dimensions");
  Eigen::ArrayXXd Nt = N_.array() + o.N_.array();
  Eigen::ArrayXXd safeT = (Nt > 0).select(Nt, 1.0);
  Eigen::ArrayXXd delta = o.A_.array() - A_.array();
  Eigen::ArrayXXd newA = (o.N_.array() > 0).select(A_.array() + delta * o.N_.array() / safeT, A_.array());
  Eigen::ArrayXXd newM =
      (o.N_.array() > 0)
          .select(M_.array() + o.M_.array() + delta * delta.transpose() * N_.array() * o.N_.array() / safeT,
                  M_.array());
  A_ = newA.matrix();
  M_ = newM.matrix();
  N_ = Nt.matrix();
  n_ += o.n_;
}

void Moments::extend(int extra) {
  const int d = dim(), e = d + extra;
  Eigen::MatrixXd N = Eigen::MatrixXd::Constant(e, e, n_), A = Eigen::MatrixXd::Zero(e, e),
                  M = Eigen::MatrixXd::Zero(e, e);
  N.topLeftCorner(d, d) = N_;
  A.topLeftCorner(d, d) = A_;
  M.topLeftCorner(d, d) = M_;
  for (int i = 0; i < d; ++i)
    for (int j = d; j < e; ++j) {
      // New columns are present (and zero) in every row: the pair count is column i's count.
      N(i, j) = N(j, i) = N_(i, i);
      A(i, j) = A_(i, i);
      A(j, i) = 0;
    }
  N_ = N;
  A_ = A;
  M_ = M;
}

void Moments::permute(const std::vector<int>& perm) {
  const int d = dim();
  if (int(perm.size()) != d) throw Error(ErrorCode::kDimensionMismatch, "moments: bad permutation");
  Eigen::MatrixXd N(d, d), A(d, d), M(d, d);
  for (int c = 0; c < d; ++c)
    for (int r = 0; r < d; ++r) {
      N(r, c) = N_(perm[r], perm[c]);
      A(r, c) = A_(perm[r], perm[c]);
      M(r, c) = M_(perm[r], perm[c]);
    }
  N_ = N;
  A_ = A;
  M_ = M;
}

Vector Moments::mean() const { return A_.diagonal(); }
Vector Moments::present() const { return N_.diagonal(); }
Vector Moments::variance() const { return n_ > 0 ? Vector(M_.diagonal() / n_) : Vector::Zero(dim()); }

Eigen::MatrixXd Moments::covariance() const {
  const int d = dim();
  Vector m = mean();
  Eigen::ArrayXXd Dm = A_.array() - m.replicate(1, d).array();
  Eigen::MatrixXd C = ((M_.array() + N_.array() * Dm * Dm.transpose()) / (n_ - 1)).matrix();
  return (C + C.transpose()) / 2;
}

}  // namespace custseg::core
