// Rows with many sparse columns: one-hot columns clustered without PCA.
//
// Dense columns as a matrix, the others as per-row lists of nonzero entries in column order. A
// distance between two rows costs the dense columns and a merge of the two lists; between a row and
// a dense vector (a centre, a mean), the dense columns, the vector's squared norm over the sparse
// columns (once per vector) and a correction per nonzero entry of the row. So a row of 2 numeric
// columns and 2 categories among 509 encoded columns costs a few columns, not 509, and a sample of
// 100,000 such rows takes a few MB instead of 400. Sums over rows are the dense code's (an absent
// entry adds nothing); distances differ from the dense code's only in rounding.
#pragma once

#include <algorithm>
#include <vector>

#include "linalg.h"

namespace custseg::core {

struct SparseRows {
  Eigen::Index n = 0, p = 0;        // rows, and columns in all
  std::vector<Eigen::Index> dense;  // the dense columns, ascending
  RowMatrix D;                      // n x dense.size()
  std::vector<Eigen::Index> ptr;    // row i's entries: [ptr[i], ptr[i + 1])
  std::vector<int> col;             // column of each entry, ascending within a row
  std::vector<double> val;
  std::vector<int> sparse;          // the sparse columns, ascending

  // Row i in full (p values).
  void row_into(Eigen::Index i, double* out) const {
    std::fill(out, out + p, 0.0);
    for (size_t t = 0; t < dense.size(); ++t) out[dense[t]] = D(i, Eigen::Index(t));
    for (Eigen::Index q = ptr[size_t(i)]; q < ptr[size_t(i) + 1]; ++q) out[col[size_t(q)]] = val[size_t(q)];
  }
  Eigen::RowVectorXd row(Eigen::Index i) const {
    Eigen::RowVectorXd r(p);
    row_into(i, r.data());
    return r;
  }
  // Adds row i to out (p values).
  void add_row_to(Eigen::Index i, double* out) const {
    const double* d = D.row(i).data();
    for (size_t t = 0; t < dense.size(); ++t) out[dense[t]] += d[t];
    for (Eigen::Index q = ptr[size_t(i)]; q < ptr[size_t(i) + 1]; ++q) out[col[size_t(q)]] += val[size_t(q)];
  }
};

// The parts of dense vectors (rows of a matrix: centres, means) that a row's squared distance to
// them needs: their dense columns and squared norm over the sparse columns.
struct SparseCentres {
  RowMatrix cd;
  std::vector<double> sq;
  const RowMatrix* full = nullptr;
  void set(const SparseRows& S, const RowMatrix& centers) {
    const int k = int(centers.rows());
    cd.resize(k, Eigen::Index(S.dense.size()));
    sq.assign(size_t(k), 0.0);
    full = &centers;
    for (int c = 0; c < k; ++c) {
      for (size_t t = 0; t < S.dense.size(); ++t) cd(c, Eigen::Index(t)) = centers(c, S.dense[t]);
      double q = 0;
      for (int j : S.sparse) q += centers(c, j) * centers(c, j);
      sq[size_t(c)] = q;
    }
  }
  // Squared distance of row i to vector c.
  double distance(const SparseRows& S, Eigen::Index i, int c) const {
    double s = 0;
    const double* a = S.D.row(i).data();
    const double* b = cd.row(c).data();
    for (Eigen::Index t = 0; t < S.D.cols(); ++t) {
      const double u = a[t] - b[t];
      s += u * u;
    }
    double e = sq[size_t(c)];
    const double* ctr = full->row(c).data();
    for (Eigen::Index q = S.ptr[size_t(i)]; q < S.ptr[size_t(i) + 1]; ++q) {
      const double cj = ctr[S.col[size_t(q)]], u = S.val[size_t(q)] - cj;
      e += u * u - cj * cj;
    }
    return s + std::max(e, 0.0);
  }
  int nearest(const SparseRows& S, Eigen::Index i, double& best_d) const {
    int best = 0;
    double bd = distance(S, i, 0);
    for (int c = 1; c < int(sq.size()); ++c) {
      const double d = distance(S, i, c);
      if (d < bd) bd = d, best = c;
    }
    best_d = bd;
    return best;
  }
};

// Whether n rows of p = nz.size() columns, nz[j] of them nonzero in column j, take the sparse form;
// if so, sets S's n, p and its dense and sparse columns. Columns zero in at least 3/4 of the rows are
// sparse; the form is taken when there are at least 16 of them and they are at least half the
// columns.
bool sparse_layout(const std::vector<Eigen::Index>& nz, Eigen::Index n, SparseRows& S);

// The sparse form of n dense rows of p columns (row i at base + i * stride), when sparse_layout
// takes it; false (S untouched) when not.
bool sparse_rows_of(const double* base, Eigen::Index stride, Eigen::Index n, Eigen::Index p, SparseRows& S);

// Squared distance between rows i and j.
double sparse_rr(const SparseRows& S, Eigen::Index i, Eigen::Index j);

// The rows idx[0], idx[1], ... of S, in that order; their number (as linalg.h's for a matrix).
SparseRows select_rows(const SparseRows& S, const std::vector<Eigen::Index>& idx);
inline Eigen::Index rows_in(const SparseRows& S) { return S.n; }

// The same rows as a dense matrix.
RowMatrix densify(const SparseRows& S);

// Column means (p values).
Eigen::RowVectorXd column_means(const SparseRows& S);

// Sum over the rows of the squared distance to the column means (the total sum of squares), and
// per column, that sum (ss, p values, when given).
double total_squares(const SparseRows& S, Eigen::RowVectorXd* ss = nullptr);

// Rows a and b compared column by column (the first column that differs decides; -1, 0 or 1),
// as two dense rows would be: only the dense columns and the two rows' entries can differ.
int compare_rows(const SparseRows& S, Eigen::Index a, Eigen::Index b);

}  // namespace custseg::core
