// Silhouette, Calinski-Harabasz and Davies-Bouldin scores with scikit-learn's definitions.
#include "metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

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

// The silhouette's pair sums over rows stored by column in G (one contiguous array per feature):
// each pair's distance is computed once and added to both rows' sums in S (S(i, c): the sum of the
// distances from row i to the rows of cluster c).
class PairSums {
 public:
  PairSums(Eigen::MatrixXd G, Eigen::MatrixXd& S) : G_(std::move(G)), S_(S) { init(G_); }
  // Rows already split (sparse_rows.h): dense columns in Gd (by column), the others as lists of
  // nonzero entries in column order.
  PairSums(Eigen::MatrixXd Gd, std::vector<Eigen::Index> ptr, std::vector<int> col, std::vector<double> val,
           Eigen::MatrixXd& S)
      : G_(std::move(Gd)), S_(S), sparse_(true), ptr_(std::move(ptr)), col_(std::move(col)), val_(std::move(val)) {
    for (Eigen::Index t = 0; t < G_.cols(); ++t) {
      dense_.push_back(t);
      cols_.push_back(G_.col(t).data());
    }
    xi_.resize(dense_.size());
  }
  PairSums(const PairSums&) = delete;
  PairSums& operator=(const PairSums&) = delete;

 private:
  void init(const Eigen::MatrixXd& G) {
    // Columns zero in at least 3/4 of the rows are sparse; with 8 or more of them, pairs merge lists
    // of each row's nonzero entries in column order (one-hot columns clustered without PCA), so a
    // pair costs its dense columns and its two rows' nonzero entries instead of every column. The
    // same distances as the dense loop up to the order of summation (dense columns first; an absent
    // entry adds nothing).
    const Eigen::Index n = G.rows(), p = G.cols();
    std::vector<Eigen::Index> sparse;
    for (Eigen::Index t = 0; t < p; ++t) (4 * (G.col(t).array() != 0).count() <= n ? sparse : dense_).push_back(t);
    if (sparse.size() < 8) {
      dense_.resize(size_t(p));
      std::iota(dense_.begin(), dense_.end(), Eigen::Index(0));
      sparse.clear();
    }
    for (Eigen::Index t : dense_) cols_.push_back(G.col(t).data());
    xi_.resize(dense_.size());
    sparse_ = !sparse.empty();
    if (!sparse_) return;
    ptr_.assign(size_t(n) + 1, 0);
    for (Eigen::Index r = 0; r < n; ++r) {
      for (size_t t = 0; t < sparse.size(); ++t) {
        const double v = G(r, sparse[t]);
        if (v != 0) col_.push_back(int(t)), val_.push_back(v);
      }
      ptr_[size_t(r) + 1] = Eigen::Index(col_.size());
    }
  }

 public:
  // Row i (labelled li) against the rows [a, b), all of cluster c.
  void add(Eigen::Index i, int li, int c, Eigen::Index a, Eigen::Index b) {
    if (b <= a) return;
    if (at_ != i) {
      for (size_t t = 0; t < dense_.size(); ++t) xi_[t] = G_(i, dense_[t]);
      at_ = i;
    }
    double* to_i = S_.col(li).data();  // S(j, li) for the rows j of the range
    if (!sparse_) {
      S_(i, c) += distance_sums(cols_.data(), Eigen::Index(cols_.size()), xi_.data(), a, b, to_i);
      return;
    }
    const size_t nd = dense_.size();
    const Eigen::Index bi = ptr_[size_t(i)], ei = ptr_[size_t(i) + 1];
    double acc = 0;
    for (Eigen::Index j = a; j < b; ++j) {
      double s = 0;
      for (size_t t = 0; t < nd; ++t) {
        const double u = cols_[t][j] - xi_[t];
        s += u * u;
      }
      Eigen::Index pi = bi, pj = ptr_[size_t(j)];
      const Eigen::Index ej = ptr_[size_t(j) + 1];
      while (pi < ei && pj < ej) {
        if (col_[size_t(pi)] == col_[size_t(pj)]) {
          const double u = val_[size_t(pi)] - val_[size_t(pj)];
          s += u * u;
          ++pi, ++pj;
        } else if (col_[size_t(pi)] < col_[size_t(pj)]) {
          s += val_[size_t(pi)] * val_[size_t(pi)];
          ++pi;
        } else {
          s += val_[size_t(pj)] * val_[size_t(pj)];
          ++pj;
        }
      }
      for (; pi < ei; ++pi) s += val_[size_t(pi)] * val_[size_t(pi)];
      for (; pj < ej; ++pj) s += val_[size_t(pj)] * val_[size_t(pj)];
      const double d = std::sqrt(s);
      to_i[j] += d;
      acc += d;
    }
    S_(i, c) += acc;
  }

 private:
  const Eigen::MatrixXd G_;
  Eigen::MatrixXd& S_;
  std::vector<Eigen::Index> dense_;
  std::vector<const double*> cols_;
  std::vector<double> xi_;
  bool sparse_ = false;
  std::vector<Eigen::Index> ptr_;
  std::vector<int> col_;
  std::vector<double> val_;
  Eigen::Index at_ = -1;
};

}  // namespace

namespace {

// silhouette_growing's stages over n rows whose pair sums make_pairs(row_at, S) sets up: the rows
// placed as row_at gives (position -> row).
template <class MakePairs>
SilhouetteEstimate silhouette_stages(Eigen::Index n, const std::vector<int>& labels, int k, Eigen::Index first,
                                     double tolerance, InterruptCheck check, const MakePairs& make_pairs) {
  const std::vector<double> all_sizes = cluster_sizes(labels, k);
  SilhouetteEstimate out;
  out.rows = n;
  const int used_all = used_labels(all_sizes);
  if (used_all < 2 || used_all > n - 1) return out;
  // The stages' ends: first, 2 first, 4 first, ..., n.
  std::vector<Eigen::Index> ends;
  for (Eigen::Index e = std::max<Eigen::Index>(1, std::min(first, n));; e = std::min(n, 2 * e)) {
    ends.push_back(e);
    if (e == n) break;
  }
  // Each stage's rows grouped by cluster, stored by column: stage q holds positions [ends[q-1],
  // ends[q]), its cluster c the positions [start[q][c], start[q][c+1]).
  std::vector<std::vector<Eigen::Index>> start(ends.size(), std::vector<Eigen::Index>(size_t(k) + 1, 0));
  std::vector<Eigen::Index> row_at(static_cast<size_t>(n));
  std::vector<int> lab(static_cast<size_t>(n));
  for (size_t q = 0; q < ends.size(); ++q) {
    const Eigen::Index lo = q ? ends[q - 1] : 0, hi = ends[q];
    std::vector<Eigen::Index>& st = start[q];
    for (Eigen::Index i = lo; i < hi; ++i) ++st[size_t(labels[size_t(i)]) + 1];
    st[0] = lo;
    for (int c = 0; c < k; ++c) st[size_t(c) + 1] += st[size_t(c)];
    std::vector<Eigen::Index> next(st.begin(), st.end() - 1);
    for (Eigen::Index i = lo; i < hi; ++i) {
      const int l = labels[size_t(i)];
      const Eigen::Index at = next[size_t(l)]++;
      row_at[size_t(at)] = i;
      lab[size_t(at)] = l;
    }
  }
  Eigen::MatrixXd S = Eigen::MatrixXd::Zero(n, k);
  const std::unique_ptr<PairSums> pairs_of = make_pairs(row_at, S);
  PairSums& pairs = *pairs_of;
  std::vector<double> sizes(size_t(k), 0.0);
  for (size_t q = 0; q < ends.size(); ++q) {
    const Eigen::Index lo = q ? ends[q - 1] : 0, hi = ends[q];
    const std::vector<Eigen::Index>& st = start[q];
    for (Eigen::Index i = lo; i < hi; ++i) {
      if (check && i % 64 == 0) check();
      const int li = lab[size_t(i)];
      // The rows after i in its own stage, then every row of the earlier stages.
      for (int c = li; c < k; ++c) pairs.add(i, li, c, std::max(st[size_t(c)], i + 1), st[size_t(c) + 1]);
      for (size_t r = 0; r < q; ++r)
        for (int c = 0; c < k; ++c) pairs.add(i, li, c, start[r][size_t(c)], start[r][size_t(c) + 1]);
    }
    for (Eigen::Index i = lo; i < hi; ++i) sizes[size_t(lab[size_t(i)])] += 1;
    out.rows = hi;
    const int used = used_labels(sizes);
    if (used < 2 || used > hi - 1) continue;  // a later stage holds a second cluster
    double total = 0, squares = 0;
    for (Eigen::Index i = 0; i < hi; ++i) {
      const int own = lab[size_t(i)];
      if (sizes[size_t(own)] <= 1) continue;  // a singleton's silhouette is 0
      double a = S(i, own) / (sizes[size_t(own)] - 1);
      double b = std::numeric_limits<double>::infinity();
      for (int c = 0; c < k; ++c)
        if (c != own && sizes[size_t(c)] > 0) b = std::min(b, S(i, c) / sizes[size_t(c)]);
      double mx = std::max(a, b);
      if (mx > 0) {
        const double s = (b - a) / mx;
        total += s;
        squares += s * s;
      }
    }
    const double m = double(hi);
    out.score = total / m;
    out.standard_error = std::sqrt(std::max(0.0, squares - m * out.score * out.score) / (m * (m - 1)));
    if (out.standard_error <= tolerance) break;
  }
  return out;
}

}  // namespace

SilhouetteEstimate silhouette_growing(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                                      Eigen::Index first, double tolerance, InterruptCheck check) {
  return silhouette_stages(X.rows(), labels, k, first, tolerance, check,
                           [&](const std::vector<Eigen::Index>& row_at, Eigen::MatrixXd& S) {
                             Eigen::MatrixXd G(X.rows(), X.cols());
                             for (size_t at = 0; at < row_at.size(); ++at) G.row(Eigen::Index(at)) = X.row(row_at[at]);
                             return std::make_unique<PairSums>(std::move(G), S);
                           });
}

SilhouetteEstimate silhouette_growing(const SparseRows& R, const std::vector<int>& labels, int k, Eigen::Index first,
                                      double tolerance, InterruptCheck check) {
  return silhouette_stages(R.n, labels, k, first, tolerance, check,
                           [&](const std::vector<Eigen::Index>& row_at, Eigen::MatrixXd& S) {
                             Eigen::MatrixXd Gd(R.n, R.D.cols());
                             std::vector<Eigen::Index> ptr(row_at.size() + 1, 0);
                             std::vector<int> col;
                             std::vector<double> val;
                             col.reserve(R.col.size());
                             val.reserve(R.val.size());
                             for (size_t at = 0; at < row_at.size(); ++at) {
                               const Eigen::Index i = row_at[at];
                               Gd.row(Eigen::Index(at)) = R.D.row(i);
                               for (Eigen::Index q = R.ptr[size_t(i)]; q < R.ptr[size_t(i) + 1]; ++q) {
                                 col.push_back(R.col[size_t(q)]);
                                 val.push_back(R.val[size_t(q)]);
                               }
                               ptr[at + 1] = Eigen::Index(col.size());
                             }
                             return std::make_unique<PairSums>(std::move(Gd), std::move(ptr), std::move(col),
                                                               std::move(val), S);
                           });
}

double silhouette_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                        InterruptCheck check) {
  return silhouette_growing(X, labels, k, X.rows(), -1, check).score;
}

namespace {

// Calinski-Harabasz and Davies-Bouldin from the clusters' sizes, means and the overall mean, the sum
// of the rows' squared distances to their cluster's mean (intra_ch) and, per cluster, the sum of
// those distances (intra).
ClusterScores scores_from(Eigen::Index n, int used, const std::vector<double>& sizes, const RowMatrix& means,
                          const Eigen::RowVectorXd& mean, double intra_ch, std::vector<double>& intra) {
  const int k = int(sizes.size());
  ClusterScores out;
  // Calinski-Harabasz.
  double extra = 0;
  for (int c = 0; c < k; ++c)
    if (sizes[size_t(c)] > 0) extra += sizes[size_t(c)] * (means.row(c) - mean).squaredNorm();
  out.calinski_harabasz = intra_ch == 0 ? 1.0 : extra * double(n - used) / (intra_ch * double(used - 1));
  // Davies-Bouldin.
  std::vector<int> ids;
  for (int c = 0; c < k; ++c)
    if (sizes[size_t(c)] > 0) ids.push_back(c);
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
  if (intra_zero || centres_zero) {
    out.davies_bouldin = 0.0;
    return out;
  }
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
  out.davies_bouldin = total / double(u);
  return out;
}

}  // namespace

ClusterScores cluster_scores(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k) {
  const Eigen::Index n = X.rows();
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return ClusterScores();
  // One pass over the rows for both: a row's squared distance to its cluster's mean is
  // Calinski-Harabasz's within-cluster sum, its root Davies-Bouldin's scatter.
  RowMatrix means = cluster_means(X, labels, sizes);
  Eigen::RowVectorXd mean = column_means(X);
  double intra_ch = 0;
  std::vector<double> intra(size_t(k), 0.0);
  for (Eigen::Index i = 0; i < n; ++i) {
    const int l = labels[size_t(i)];
    const double d2 = (X.row(i) - means.row(l)).squaredNorm();
    intra_ch += d2;
    intra[size_t(l)] += std::sqrt(d2);
  }
  return scores_from(n, used, sizes, means, mean, intra_ch, intra);
}

ClusterScores cluster_scores(const SparseRows& S, const std::vector<int>& labels, int k) {
  const Eigen::Index n = S.n;
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return ClusterScores();
  RowMatrix means = RowMatrix::Zero(k, S.p);
  for (Eigen::Index i = 0; i < n; ++i) S.add_row_to(i, means.row(labels[size_t(i)]).data());
  for (int c = 0; c < k; ++c)
    if (sizes[size_t(c)] > 0) means.row(c) /= sizes[size_t(c)];
  const Eigen::RowVectorXd mean = column_means(S);
  SparseCentres sc;
  sc.set(S, means);
  double intra_ch = 0;
  std::vector<double> intra(size_t(k), 0.0);
  for (Eigen::Index i = 0; i < n; ++i) {
    const int l = labels[size_t(i)];
    const double d2 = sc.distance(S, i, l);
    intra_ch += d2;
    intra[size_t(l)] += std::sqrt(d2);
  }
  return scores_from(n, used, sizes, means, mean, intra_ch, intra);
}

double calinski_harabasz_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k) {
  return cluster_scores(X, labels, k).calinski_harabasz;
}

double davies_bouldin_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k) {
  return cluster_scores(X, labels, k).davies_bouldin;
}

}  // namespace custseg::core
