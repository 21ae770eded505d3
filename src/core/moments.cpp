// Pairwise-complete moments with exact merging (see moments.h for the formulas).
#include "moments.h"

#include "errors.h"
#include "options.h"

namespace custseg::core {

Moments::Moments(int dim)
    : N_(Eigen::MatrixXd::Zero(dim, dim)), A_(Eigen::MatrixXd::Zero(dim, dim)), M_(Eigen::MatrixXd::Zero(dim, dim)) {}

Moments Moments::from_raw(double n, const double* N, const double* A, const double* M, int dim, int ld) {
  if (ld < 0) ld = dim;
  using Strided = Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>>;
  Moments m(dim);
  m.n_ = n;
  if (dim == 0) return m;
  m.N_ = Strided(N, dim, dim, Eigen::OuterStride<>(ld));
  m.A_ = Strided(A, dim, dim, Eigen::OuterStride<>(ld));
  m.M_ = Strided(M, dim, dim, Eigen::OuterStride<>(ld));
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

void Moments::add_raw(const double* rows, size_t count, size_t stride, int width, int nn) {
  add_raw_into(&n_, N_.data(), A_.data(), M_.data(), dim(), dim(), rows, count, stride, width, nn);
}

namespace {

constexpr int kMaxActive = 1024;  // categorical columns of a row (features are fewer)

// A row's active levels (category ids; a NULL category has none), checked against the L levels.
inline int active_levels(const double* ids, int nc, Eigen::Index L, int* active) {
  int na = 0;
  for (int c = 0; c < nc; ++c) {
    const double id = ids[c];
    if (id >= 0) {
      if (Eigen::Index(id) >= L) throw Error(ErrorCode::kDimensionMismatch, "moments: category id out of range");
      active[na++] = int(id);
    }
  }
  return na;
}

// Where complete_block_sums adds (zeroed by the caller): the centred numbers' cross
// products yty (nn x nn column-major, upper triangle) and sums, and per level its rows' sums of
// the centred numbers (sy, nn x L column-major) and the level pair counts (clm, L x L).
struct BlockSums {
  double* yty;
  double* sum_y;
  double* sy;
  double* clm;
  Eigen::Index L;
};

// The sums of a block without a missing number: a pass for the column means (false, and nothing
// added, when a number is missing), then one for the rest, row by row; each sum runs over the rows
// in order. NN is the number of numeric columns when known at compile time (0: nn_rt).
template <int NN>
bool complete_block_sums(const double* rows, Eigen::Index b, size_t stride, int nn_rt, int nc, double* mu,
                         const BlockSums& o) {
  const int nn = NN > 0 ? NN : nn_rt;
  double y[NN > 0 ? NN : kMaxFeatures];
  for (int j = 0; j < nn; ++j) y[j] = 0;
  bool ok = true;
  for (Eigen::Index r = 0; r < b; ++r) {
    const double* row = rows + size_t(r) * stride;
#pragma GCC unroll 8
    for (int j = 0; j < nn; ++j) {
      ok &= row[j] == row[j];
      y[j] += row[j];
    }
  }
  if (!ok) return false;
  for (int j = 0; j < nn; ++j) mu[j] = y[j] / double(b);
  int active[kMaxActive];
  // The sums of the centred numbers are compensated (Kahan): they are the rounding left in the
  // means, which they correct, so their own rounding must stay below it.
  double carry[NN > 0 ? NN : kMaxFeatures];
  for (int j = 0; j < nn; ++j) carry[j] = 0;
  for (Eigen::Index r = 0; r < b; ++r) {
    const double* row = rows + size_t(r) * stride;
#pragma GCC unroll 8
    for (int j = 0; j < nn; ++j) y[j] = row[j] - mu[j];
#pragma GCC unroll 8
    for (int j = 0; j < nn; ++j) {
      const double yk = y[j] - carry[j], t = o.sum_y[j] + yk;
      carry[j] = (t - o.sum_y[j]) - yk;
      o.sum_y[j] = t;
      double* col = o.yty + size_t(j) * size_t(nn);
#pragma GCC unroll 8
      for (int i = 0; i <= j; ++i) col[i] += y[i] * y[j];
    }
    if (nc == 0) continue;
    const int na = active_levels(row + nn, nc, o.L, active);
    for (int a = 0; a < na; ++a) {
      const int l = active[a];
      double* cl = o.clm + size_t(l) * size_t(o.L);
      for (int a2 = 0; a2 < na; ++a2) cl[active[a2]] += 1;
      double* syl = o.sy + size_t(l) * size_t(nn);
#pragma GCC unroll 8
      for (int i = 0; i < nn; ++i) syl[i] += y[i];
    }
  }
  return true;
}

}  // namespace

void Moments::add_raw_into(double* n_rows, double* N, double* A, double* M, int dim, int ld, const double* rows,
                           size_t count, size_t stride, int width, int nn) {
  const Eigen::Index b = Eigen::Index(count), d = dim;
  if (nn > d || width < nn || ld < dim) throw Error(ErrorCode::kDimensionMismatch, "moments: row width does not match");
  if (b == 0) return;
  const int nc = width - nn;
  const Eigen::Index L = d - nn;
  // A block without a missing number (the common case): complete_block_sums. Otherwise the
  // general path below, with presence.
  Vector cnt, mu = Vector::Zero(nn), Sy = Vector::Zero(nn);
  Eigen::MatrixXd YtY = Eigen::MatrixXd::Zero(nn, nn), Nn, S;
  Eigen::MatrixXd cp = Eigen::MatrixXd::Zero(nn, L), sy = Eigen::MatrixXd::Zero(nn, L);
  Eigen::MatrixXd clm = Eigen::MatrixXd::Zero(L, L);
  bool complete = false;
  if (nn <= kMaxFeatures) {
    const BlockSums out{YtY.data(), Sy.data(), sy.data(), clm.data(), L};
    switch (nn) {
      case 1: complete = complete_block_sums<1>(rows, b, stride, nn, nc, mu.data(), out); break;
      case 2: complete = complete_block_sums<2>(rows, b, stride, nn, nc, mu.data(), out); break;
      case 3: complete = complete_block_sums<3>(rows, b, stride, nn, nc, mu.data(), out); break;
      case 4: complete = complete_block_sums<4>(rows, b, stride, nn, nc, mu.data(), out); break;
      case 5: complete = complete_block_sums<5>(rows, b, stride, nn, nc, mu.data(), out); break;
      case 6: complete = complete_block_sums<6>(rows, b, stride, nn, nc, mu.data(), out); break;
      case 7: complete = complete_block_sums<7>(rows, b, stride, nn, nc, mu.data(), out); break;
      case 8: complete = complete_block_sums<8>(rows, b, stride, nn, nc, mu.data(), out); break;
      default: complete = complete_block_sums<0>(rows, b, stride, nn, nc, mu.data(), out); break;
    }
  }
  if (complete) {
    cnt = Vector::Constant(nn, double(b));
    for (int j = 0; j < nn; ++j)
      for (int i = j + 1; i < nn; ++i) YtY(i, j) = YtY(j, i);
    Nn = Eigen::MatrixXd::Constant(nn, nn, double(b));
    S = Sy.rowwise().replicate(nn);
  } else {
    // The numeric block, two-pass over present values (as add()), column by column (P and Y are
    // column-major); each column's sums run over the rows in order.
    Eigen::MatrixXd P(b, nn), Y(b, nn);
    cnt = Vector::Zero(nn);
    mu = Vector::Zero(nn);
    for (int j = 0; j < nn; ++j) {
      const double* src = rows + j;
      double* pj = P.col(j).data();
      double c = 0, sum = 0;
      for (Eigen::Index r = 0; r < b; ++r) {
        const double v = src[size_t(r) * stride];
        const bool present = v == v;
        pj[r] = present ? 1.0 : 0.0;
        if (present) c += 1, sum += v;
      }
      cnt(j) = c;
      mu(j) = c > 0 ? sum / c : 0;
    }
    // Y row by row too, for the one-hot columns' sums below (a row's numbers side by side).
    RowMatrix Yr(nc > 0 ? b : 0, nn);
    for (int j = 0; j < nn; ++j) {
      const double* __restrict src = rows + j;
      const double* __restrict pj = P.col(j).data();
      double* __restrict yj = Y.col(j).data();
      const double m = mu(j);
      for (Eigen::Index r = 0; r < b; ++r) yj[r] = pj[r] != 0 ? src[size_t(r) * stride] - m : 0.0;
      if (nc > 0) {
        double* __restrict yr = Yr.data() + j;
        for (Eigen::Index r = 0; r < b; ++r) yr[size_t(r) * size_t(nn)] = yj[r];
      }
    }
    YtY = Y.transpose() * Y;
    Sy = Y.colwise().sum().transpose();  // sum of y_i over present rows
    Nn = P.transpose() * P;
    S = Y.transpose() * P;  // S(i,j) = sum of y_i over rows where j is present
    // One-hot columns: present in every row. Per row, only its active levels are touched: c_lm
    // (rows with both l and m; c_ll rows with l), and per numeric i present in the row, cp_il (rows
    // with l and i present) and sy_il (the sum of y_i over them).
    int active[kMaxActive];
    for (Eigen::Index r = 0; r < b && nc > 0; ++r) {
      const double* row = rows + size_t(r) * stride;
      const int na = active_levels(row + nn, nc, L, active);
      const double* __restrict y = Yr.row(r).data();
      for (int a = 0; a < na; ++a) {
        const int l = active[a];
        for (int a2 = 0; a2 < na; ++a2) clm(active[a2], l) += 1;
        double* __restrict syl = sy.col(l).data();
        for (int i = 0; i < nn; ++i)
          if (P(r, i) != 0) cp(i, l) += 1, syl[i] += y[i];
      }
    }
  }
  // In a complete block cp_il is c_ll.
  if (complete)
    for (Eigen::Index l = 0; l < L; ++l) cp.col(l).setConstant(clm(l, l));
  const double bb = double(b);
  // The block's count, the two means and the co-moment of pair (i, j), i <= j.
  auto block = [&](Eigen::Index i, Eigen::Index j, double& nb, double& aij, double& aji, double& mb) {
    if (j < nn) {
      nb = Nn(i, j);
      if (nb > 0) {
        aij = mu(i) + S(i, j) / nb;
        aji = mu(j) + S(j, i) / nb;
        mb = YtY(i, j) - S(i, j) * S(j, i) / nb;
      }
    } else if (i < nn) {
      const Eigen::Index l = j - nn;
      nb = cnt(i);
      if (nb > 0) {
        aij = mu(i) + Sy(i) / nb;
        aji = cp(i, l) / nb;
        mb = sy(i, l) - Sy(i) * cp(i, l) / nb;
      }
    } else {
      const Eigen::Index l = i - nn, m = j - nn;
      nb = bb;
      aij = clm(l, l) / bb;
      aji = clm(m, m) / bb;
      mb = clm(l, m) - clm(l, l) * clm(m, m) / bb;
    }
  };
  // Chan merge, pairs (i, j) and (j, i) together: both deltas are taken before either mean moves.
  for (Eigen::Index j = 0; j < d; ++j)
    for (Eigen::Index i = 0; i <= j; ++i) {
      double nb = 0, aij = 0, aji = 0, mb = 0;
      block(i, j, nb, aij, aji, mb);
      const Eigen::Index ij = i + j * ld, ji = j + i * ld;
      if (nb <= 0) continue;
      const double n = N[ij], nt = n + nb;
      const double dij = aij - A[ij], dji = aji - A[ji];
      const double cross = dij * dji * n * nb / nt;
      A[ij] += dij * nb / nt;
      M[ij] += mb + cross;
      N[ij] = nt;
      if (ij != ji) {
        A[ji] += dji * nb / nt;
        M[ji] += mb + cross;
        N[ji] = nt;
      }
    }
  *n_rows += bb;
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
