// The row operations of sparse_rows.h.
#include "sparse_rows.h"

namespace custseg::core {

bool sparse_layout(const std::vector<Eigen::Index>& nz, Eigen::Index n, SparseRows& S) {
  const Eigen::Index p = Eigen::Index(nz.size());
  if (p < 16 || n < 1) return false;
  std::vector<Eigen::Index> dense;
  std::vector<int> sparse;
  for (Eigen::Index j = 0; j < p; ++j) {
    if (4 * nz[size_t(j)] <= n)
      sparse.push_back(int(j));
    else
      dense.push_back(j);
  }
  if (sparse.size() < 16 || 2 * sparse.size() < size_t(p)) return false;
  S.n = n;
  S.p = p;
  S.dense = std::move(dense);
  S.sparse = std::move(sparse);
  return true;
}

bool sparse_rows_of(const double* base, Eigen::Index stride, Eigen::Index n, Eigen::Index p, SparseRows& S) {
  if (p < 16 || n < 1) return false;
  std::vector<Eigen::Index> nz(size_t(p), 0);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < p; ++j) nz[size_t(j)] += base[i * stride + j] != 0;
  if (!sparse_layout(nz, n, S)) return false;
  const Eigen::Index nd = Eigen::Index(S.dense.size());
  S.D.resize(n, nd);
  S.ptr.assign(size_t(n) + 1, 0);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double* x = base + i * stride;
    for (Eigen::Index t = 0; t < nd; ++t) S.D(i, t) = x[S.dense[size_t(t)]];
    for (int j : S.sparse)
      if (x[j] != 0) S.col.push_back(j), S.val.push_back(x[j]);
    S.ptr[size_t(i) + 1] = Eigen::Index(S.col.size());
  }
  return true;
}

double sparse_rr(const SparseRows& S, Eigen::Index i, Eigen::Index j) {
  double s = 0;
  const double* a = S.D.row(i).data();
  const double* b = S.D.row(j).data();
  for (Eigen::Index t = 0; t < S.D.cols(); ++t) {
    const double u = a[t] - b[t];
    s += u * u;
  }
  Eigen::Index pi = S.ptr[size_t(i)], pj = S.ptr[size_t(j)];
  const Eigen::Index ei = S.ptr[size_t(i) + 1], ej = S.ptr[size_t(j) + 1];
  while (pi < ei && pj < ej) {
    const int ci = S.col[size_t(pi)], cj = S.col[size_t(pj)];
    if (ci == cj) {
      const double u = S.val[size_t(pi)] - S.val[size_t(pj)];
      s += u * u;
      ++pi, ++pj;
    } else if (ci < cj) {
      s += S.val[size_t(pi)] * S.val[size_t(pi)], ++pi;
    } else {
      s += S.val[size_t(pj)] * S.val[size_t(pj)], ++pj;
    }
  }
  for (; pi < ei; ++pi) s += S.val[size_t(pi)] * S.val[size_t(pi)];
  for (; pj < ej; ++pj) s += S.val[size_t(pj)] * S.val[size_t(pj)];
  return s;
}

SparseRows select_rows(const SparseRows& S, const std::vector<Eigen::Index>& idx) {
  SparseRows out;
  out.n = Eigen::Index(idx.size());
  out.p = S.p;
  out.dense = S.dense;
  out.sparse = S.sparse;
  out.D.resize(out.n, S.D.cols());
  out.ptr.assign(idx.size() + 1, 0);
  size_t entries = 0;
  for (Eigen::Index i : idx) entries += size_t(S.ptr[size_t(i) + 1] - S.ptr[size_t(i)]);
  out.col.reserve(entries);
  out.val.reserve(entries);
  for (size_t r = 0; r < idx.size(); ++r) {
    const Eigen::Index i = idx[r];
    out.D.row(Eigen::Index(r)) = S.D.row(i);
    for (Eigen::Index q = S.ptr[size_t(i)]; q < S.ptr[size_t(i) + 1]; ++q) {
      out.col.push_back(S.col[size_t(q)]);
      out.val.push_back(S.val[size_t(q)]);
    }
    out.ptr[r + 1] = Eigen::Index(out.col.size());
  }
  return out;
}

RowMatrix densify(const SparseRows& S) {
  RowMatrix X(S.n, S.p);
  for (Eigen::Index i = 0; i < S.n; ++i) S.row_into(i, X.row(i).data());
  return X;
}

Eigen::RowVectorXd column_means(const SparseRows& S) {
  Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(S.p);
  if (S.n == 0) return sum;
  for (Eigen::Index i = 0; i < S.n; ++i) S.add_row_to(i, sum.data());
  return sum / double(S.n);
}

double total_squares(const SparseRows& S, Eigen::RowVectorXd* per_column) {
  const Eigen::RowVectorXd mu = column_means(S);
  Eigen::RowVectorXd ss = Eigen::RowVectorXd::Zero(S.p);
  // The sparse columns: their entries' squares about the mean, then the absent (zero) entries'.
  std::vector<Eigen::Index> present(size_t(S.p), 0);
  for (Eigen::Index i = 0; i < S.n; ++i) {
    for (size_t t = 0; t < S.dense.size(); ++t) {
      const double u = S.D(i, Eigen::Index(t)) - mu(S.dense[t]);
      ss(S.dense[t]) += u * u;
    }
    for (Eigen::Index q = S.ptr[size_t(i)]; q < S.ptr[size_t(i) + 1]; ++q) {
      const int j = S.col[size_t(q)];
      const double u = S.val[size_t(q)] - mu(j);
      ss(j) += u * u;
      ++present[size_t(j)];
    }
  }
  for (int j : S.sparse) ss(j) += double(S.n - present[size_t(j)]) * mu(j) * mu(j);
  if (per_column) *per_column = ss;
  return ss.sum();
}

int compare_rows(const SparseRows& S, Eigen::Index a, Eigen::Index b) {
  // The columns where a or b can be nonzero, in ascending order: the dense ones and each row's
  // entries, merged.
  const size_t nd = S.dense.size();
  size_t t = 0;
  Eigen::Index qa = S.ptr[size_t(a)], qb = S.ptr[size_t(b)];
  const Eigen::Index ea = S.ptr[size_t(a) + 1], eb = S.ptr[size_t(b) + 1];
  const Eigen::Index none = S.p;
  for (;;) {
    const Eigen::Index jd = t < nd ? S.dense[t] : none;
    const Eigen::Index ja = qa < ea ? S.col[size_t(qa)] : none;
    const Eigen::Index jb = qb < eb ? S.col[size_t(qb)] : none;
    const Eigen::Index j = std::min({jd, ja, jb});
    if (j == none) return 0;
    double va = 0, vb = 0;
    if (j == jd) {
      va = S.D(a, Eigen::Index(t));
      vb = S.D(b, Eigen::Index(t));
      ++t;
    } else {
      if (j == ja) va = S.val[size_t(qa++)];
      if (j == jb) vb = S.val[size_t(qb++)];
    }
    if (va != vb) return va < vb ? -1 : 1;
  }
}

}  // namespace custseg::core
