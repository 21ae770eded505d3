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

void Moments::merge_block(double nb_rows, const double* Nb, const double* Ab, const double* Mb) {
  const Eigen::Index d = dim();
  double* N = N_.data();
  double* A = A_.data();
  double* M = M_.data();
  // Pairs (i, j) and (j, i) together: both deltas are taken before either mean moves.
  for (Eigen::Index j = 0; j < d; ++j)
    for (Eigen::Index i = 0; i <= j; ++i) {
      const Eigen::Index ij = i + j * d, ji = j + i * d;
      const double nb = Nb[ij];  // the pair count is symmetric
      if (nb <= 0) {
        N[ij] += nb;
        if (ij != ji) N[ji] += nb;
        continue;
      }
      const double n = N[ij], nt = n + nb;
      const double dij = Ab[ij] - A[ij], dji = Ab[ji] - A[ji];
      const double cross = dij * dji * n * nb / nt;
      A[ij] += dij * nb / nt;
      M[ij] += Mb[ij] + cross;
      N[ij] = nt;
      if (ij != ji) {
        A[ji] += dji * nb / nt;
        M[ji] += Mb[ji] + cross;
        N[ji] = nt;
      }
    }
  n_ += nb_rows;
}

void Moments::add_raw(const double* rows, size_t count, size_t stride, int width, int nn) {
  const Eigen::Index b = Eigen::Index(count), d = dim();
  if (nn > d || width < nn) throw Error(ErrorCode::kDimensionMismatch, "moments: row width does not match");
  if (b == 0) return;
  const int nc = width - nn;
  // The numeric block, two-pass over present values (as add()).
  Eigen::MatrixXd P(b, nn), Y(b, nn);
  Vector cnt = Vector::Zero(nn), mu = Vector::Zero(nn);
  for (Eigen::Index r = 0; r < b; ++r)
    for (int j = 0; j < nn; ++j) {
      const double v = rows[size_t(r) * stride + size_t(j)];
      const bool present = v == v;
      P(r, j) = present ? 1.0 : 0.0;
      if (present) cnt(j) += 1, mu(j) += v;
    }
  for (int j = 0; j < nn; ++j) mu(j) = cnt(j) > 0 ? mu(j) / cnt(j) : 0;
  for (Eigen::Index r = 0; r < b; ++r)
    for (int j = 0; j < nn; ++j) {
      const double v = rows[size_t(r) * stride + size_t(j)];
      Y(r, j) = P(r, j) != 0 ? v - mu(j) : 0.0;
    }
  Eigen::MatrixXd Nb = Eigen::MatrixXd::Zero(d, d), Ab = Eigen::MatrixXd::Zero(d, d), Mb = Eigen::MatrixXd::Zero(d, d);
  if (nn > 0) {
    const Eigen::MatrixXd Nn = P.transpose() * P;
    const Eigen::MatrixXd S = Y.transpose() * P;  // S(i,j) = sum of y_i over rows where j is present
    const Eigen::MatrixXd YtY = Y.transpose() * Y;
    for (int j = 0; j < nn; ++j)
      for (int i = 0; i < nn; ++i) {
        const double n = Nn(i, j);
        Nb(i, j) = n;
        if (n > 0) {
          Ab(i, j) = mu(i) + S(i, j) / n;
          Mb(i, j) = YtY(i, j) - S(i, j) * S(j, i) / n;
        }
      }
  }
  if (nc > 0) {
    // One-hot columns: present in every row. Per row, only its active levels are touched:
    //   c_l (rows with level l), c_lm (rows with both), and per numeric i present in the row,
    //   cp_il (rows with l and i present) and s_il (sum of y_i over them).
    const Eigen::Index L = d - nn;
    Eigen::MatrixXd cp = Eigen::MatrixXd::Zero(nn, L), sy = Eigen::MatrixXd::Zero(nn, L);
    Eigen::MatrixXd clm = Eigen::MatrixXd::Zero(L, L);
    Vector Sy = Y.colwise().sum().transpose();  // sum of y_i over present rows
    int active[1024];
    for (Eigen::Index r = 0; r < b; ++r) {
      const double* row = rows + size_t(r) * stride;
      int na = 0;
      for (int c = 0; c < nc; ++c) {
        const double id = row[nn + c];
        if (id >= 0) {
          if (Eigen::Index(id) >= L) throw Error(ErrorCode::kDimensionMismatch, "moments: category id out of range");
          active[na++] = int(id);
        }
      }
      for (int a = 0; a < na; ++a) {
        const int l = active[a];
        for (int a2 = 0; a2 < na; ++a2) clm(active[a2], l) += 1;
        for (int i = 0; i < nn; ++i)
          if (P(r, i) != 0) cp(i, l) += 1, sy(i, l) += Y(r, i);
      }
    }
    const double bb = double(b);
    for (Eigen::Index l = 0; l < L; ++l) {
      const Eigen::Index cl = nn + l;
      const double c_l = clm(l, l);
      for (int i = 0; i < nn; ++i) {
        const double n = cnt(i);
        Nb(i, cl) = Nb(cl, i) = n;
        if (n <= 0) continue;
        Ab(i, cl) = mu(i) + Sy(i) / n;
        Ab(cl, i) = cp(i, l) / n;
        const double m = sy(i, l) - Sy(i) * cp(i, l) / n;
        Mb(i, cl) = Mb(cl, i) = m;
      }
      for (Eigen::Index m2 = 0; m2 < L; ++m2) {
        const Eigen::Index cm = nn + m2;
        Nb(cl, cm) = bb;
        Ab(cl, cm) = c_l / bb;
        Mb(cl, cm) = clm(l, m2) - c_l * clm(m2, m2) / bb;
      }
    }
  }
  merge_block(double(b), Nb.data(), Ab.data(), Mb.data());
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
