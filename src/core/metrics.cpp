// Silhouette, Calinski-Harabasz and Davies-Bouldin scores with scikit-learn's definitions.
#include "metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace custseg::core {

namespace {

std::vector<double> cluster_sizes(const std::vector<int>& labels, int k) {
  std::vector<double> n(size_t(k), 0.0);
  for (int l : labels) {
    if (l < 0 || l >= k) throw Error(ErrorCode::kInvalidArgument, "label out of range");
    n[size_t(l)] += 1;
  }
  return n;
}

int used_labels(const std::vector<double>& sizes) {
  int u = 0;
  for (double s : sizes) u += s > 0;
  return u;
}

RowMatrix cluster_means(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels,
                        const std::vector<double>& sizes) {
  RowMatrix c = RowMatrix::Zero(Eigen::Index(sizes.size()), X.cols());
  for (Eigen::Index i = 0; i < X.rows(); ++i) c.row(labels[size_t(i)]) += X.row(i);
  for (size_t j = 0; j < sizes.size(); ++j)
    if (sizes[j] > 0) c.row(Eigen::Index(j)) /= sizes[j];
  return c;
}

// For rows j in [a, b) of column-stored data: d_j = |x_j - xi|, added to to[j]; returns the sum of
// the d_j. The hot loop of the silhouette, built for AVX2 too where the processor has it.
__attribute__((target_clones("avx2", "default"))) double distance_sums(const double* const* cols, Eigen::Index p,
                                                                      const double* xi, Eigen::Index a,
                                                                      Eigen::Index b, double* to) {
  double acc = 0;
  if (p == 2) {
    const double* c0 = cols[0];
    const double* c1 = cols[1];
    const double x0 = xi[0], x1 = xi[1];
#pragma omp simd reduction(+ : acc)
    for (Eigen::Index j = a; j < b; ++j) {
      const double u = c0[j] - x0, v = c1[j] - x1;
      const double d = std::sqrt(u * u + v * v);
      to[j] += d;
      acc += d;
    }
    return acc;
  }
#pragma omp simd reduction(+ : acc)
  for (Eigen::Index j = a; j < b; ++j) {
    double s = 0;
    for (Eigen::Index t = 0; t < p; ++t) {
      const double u = cols[t][j] - xi[t];
      s += u * u;
    }
    const double d = std::sqrt(s);
    to[j] += d;
    acc += d;
  }
  return acc;
}

// The silhouette's pair sums when many columns are sparse (one-hot columns clustered without PCA):
// the dense columns are read as distance_sums does, the sparse ones as per-row lists of nonzero
// entries in column order, merged per pair, so a pair costs its dense columns and its two rows'
// nonzero entries instead of every column. The same distances as the dense loop up to the order of
// summation (dense columns first; an absent entry adds nothing).
void silhouette_pair_sums_sparse(const Eigen::MatrixXd& G, const std::vector<Eigen::Index>& dense,
                                 const std::vector<Eigen::Index>& sparse, const std::vector<int>& lab,
                                 const std::vector<Eigen::Index>& start, int k, Eigen::MatrixXd& S,
                                 const InterruptCheck& check) {
  const Eigen::Index n = G.rows();
  std::vector<Eigen::Index> ptr(size_t(n) + 1, 0);
  std::vector<int> col;
  std::vector<double> val;
  for (Eigen::Index r = 0; r < n; ++r) {
    for (size_t t = 0; t < sparse.size(); ++t) {
      const double v = G(r, sparse[t]);
      if (v != 0) col.push_back(int(t)), val.push_back(v);
    }
    ptr[size_t(r) + 1] = Eigen::Index(col.size());
  }
  std::vector<const double*> cols(dense.size());
  for (size_t t = 0; t < dense.size(); ++t) cols[t] = G.col(dense[t]).data();
  std::vector<double> xi(dense.size());
  const size_t nd = dense.size();
  for (Eigen::Index i = 0; i + 1 < n; ++i) {
    if (check && i % 64 == 0) check();
    const int li = lab[size_t(i)];
    for (size_t t = 0; t < nd; ++t) xi[t] = G(i, dense[t]);
    const Eigen::Index bi = ptr[size_t(i)], ei = ptr[size_t(i) + 1];
    double* to_i = S.col(li).data();
    for (int c = li; c < k; ++c) {
      const Eigen::Index a = std::max(start[size_t(c)], i + 1), b = start[size_t(c) + 1];
      double acc = 0;
      for (Eigen::Index j = a; j < b; ++j) {
        double s = 0;
        for (size_t t = 0; t < nd; ++t) {
          const double u = cols[t][j] - xi[t];
          s += u * u;
        }
        Eigen::Index pi = bi, pj = ptr[size_t(j)];
        const Eigen::Index ej = ptr[size_t(j) + 1];
        while (pi < ei && pj < ej) {
          if (col[size_t(pi)] == col[size_t(pj)]) {
            const double u = val[size_t(pi)] - val[size_t(pj)];
            s += u * u;
            ++pi, ++pj;
          } else if (col[size_t(pi)] < col[size_t(pj)]) {
            s += val[size_t(pi)] * val[size_t(pi)];
            ++pi;
          } else {
            s += val[size_t(pj)] * val[size_t(pj)];
            ++pj;
          }
        }
        for (; pi < ei; ++pi) s += val[size_t(pi)] * val[size_t(pi)];
        for (; pj < ej; ++pj) s += val[size_t(pj)] * val[size_t(pj)];
        const double d = std::sqrt(s);
        to_i[j] += d;
        acc += d;
      }
      S(i, c) += acc;
    }
  }
}

}  // namespace

double silhouette_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                        InterruptCheck check) {
  const Eigen::Index n = X.rows(), p = X.cols();
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return std::numeric_limits<double>::quiet_NaN();
  // Rows grouped by cluster, stored by column: cluster c holds positions [start[c], start[c+1]).
  std::vector<Eigen::Index> start(size_t(k) + 1, 0);
  for (int l : labels) ++start[size_t(l) + 1];
  for (int c = 0; c < k; ++c) start[size_t(c) + 1] += start[size_t(c)];
  Eigen::MatrixXd G(n, p);  // column-major: one contiguous array per feature
  std::vector<int> lab(static_cast<size_t>(n));
  {
    std::vector<Eigen::Index> next(start.begin(), start.end() - 1);
    for (Eigen::Index i = 0; i < n; ++i) {
      const int l = labels[size_t(i)];
      const Eigen::Index at = next[size_t(l)]++;
      G.row(at) = X.row(i);
      lab[size_t(at)] = l;
    }
  }
  // S(i, c): the sum of the distances from row i to the rows of cluster c. Each pair's distance is
  // computed once and added to both rows' sums.
  Eigen::MatrixXd S = Eigen::MatrixXd::Zero(n, k);
  // Columns zero in at least 3/4 of the rows are sparse; with 8 or more of them, pairs merge lists.
  std::vector<Eigen::Index> dense, sparse;
  for (Eigen::Index t = 0; t < p; ++t) (4 * (G.col(t).array() != 0).count() <= n ? sparse : dense).push_back(t);
  if (sparse.size() >= 8) {
    silhouette_pair_sums_sparse(G, dense, sparse, lab, start, k, S, check);
  } else {
    std::vector<const double*> cols(static_cast<size_t>(p));
    for (Eigen::Index t = 0; t < p; ++t) cols[size_t(t)] = G.col(t).data();
    std::vector<double> xi(static_cast<size_t>(p));
    for (Eigen::Index i = 0; i + 1 < n; ++i) {
      if (check && i % 64 == 0) check();
      const int li = lab[size_t(i)];
      for (Eigen::Index t = 0; t < p; ++t) xi[size_t(t)] = G(i, t);
      double* to_i = S.col(li).data();  // S(j, li) for the rows j after i
      for (int c = li; c < k; ++c) {
        const Eigen::Index a = std::max(start[size_t(c)], i + 1), b = start[size_t(c) + 1];
        if (b > a) S(i, c) += distance_sums(cols.data(), p, xi.data(), a, b, to_i);
      }
    }
  }
  double total = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    const int own = lab[size_t(i)];
    if (sizes[size_t(own)] <= 1) continue;  // a singleton's silhouette is 0
    double a = S(i, own) / (sizes[size_t(own)] - 1);
    double b = std::numeric_limits<double>::infinity();
    for (int c = 0; c < k; ++c)
      if (c != own && sizes[size_t(c)] > 0) b = std::min(b, S(i, c) / sizes[size_t(c)]);
    double mx = std::max(a, b);
    if (mx > 0) total += (b - a) / mx;
  }
  return total / double(n);
}

double calinski_harabasz_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k) {
  const Eigen::Index n = X.rows();
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return std::numeric_limits<double>::quiet_NaN();
  RowMatrix means = cluster_means(X, labels, sizes);
  Eigen::RowVectorXd mean = column_means(X);
  double extra = 0, intra = 0;
  for (int c = 0; c < k; ++c)
    if (sizes[size_t(c)] > 0) extra += sizes[size_t(c)] * (means.row(c) - mean).squaredNorm();
  for (Eigen::Index i = 0; i < n; ++i) intra += (X.row(i) - means.row(labels[size_t(i)])).squaredNorm();
  if (intra == 0) return 1.0;
  return extra * double(n - used) / (intra * double(used - 1));
}

double davies_bouldin_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k) {
  const Eigen::Index n = X.rows();
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return std::numeric_limits<double>::quiet_NaN();
  RowMatrix means = cluster_means(X, labels, sizes);
  std::vector<int> ids;
  for (int c = 0; c < k; ++c)
    if (sizes[size_t(c)] > 0) ids.push_back(c);
  std::vector<double> intra(size_t(k), 0.0);
  for (Eigen::Index i = 0; i < n; ++i)
    intra[size_t(labels[size_t(i)])] += (X.row(i) - means.row(labels[size_t(i)])).norm();
  bool intra_zero = true, centres_zero = true;
  for (int c : ids) {
    intra[size_t(c)] /= sizes[size_t(c)];
    intra_zero = intra_zero && std::abs(intra[size_t(c)]) <= 1e-8;
  }
  const size_t u = ids.size();
  std::vector<double> cd(u * u);
  for (size_t a = 0; a < u; ++a)
    for (size_t b = 0; b < u; ++b) {
      cd[a * u + b] = (means.row(ids[a]) - means.row(ids[b])).norm();
      centres_zero = centres_zero && cd[a * u + b] <= 1e-8;
    }
  if (intra_zero || centres_zero) return 0.0;
  double total = 0;
  for (size_t a = 0; a < u; ++a) {
    double worst = 0;
    for (size_t b = 0; b < u; ++b) {
      double d = cd[a * u + b];
      if (d == 0) continue;  // scikit-learn treats a zero centroid distance as infinite
      worst = std::max(worst, (intra[size_t(ids[a])] + intra[size_t(ids[b])]) / d);
    }
    total += worst;
  }
  return total / double(u);
}

}  // namespace custseg::core
