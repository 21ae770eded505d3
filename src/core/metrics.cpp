// Silhouette, Calinski-Harabasz and Davies-Bouldin scores with scikit-learn's definitions.
#include "metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

// The silhouette's sums of distances are kept in fixed point: each distance is rounded to a
// multiple of 1 / scale (a power of two set from the rows' diameter and number, so that no sum can
// overflow) and summed as a 64-bit integer. Integer sums do not depend on their order, so a row's
// sum over a cluster is the same whether the cluster's rows come as one range or as the ranges of
// the cells that several labellings cut it into (silhouettes_growing), and whatever the vector
// width the processor sums with.
using FixedMatrix = Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic>;

// x + kRound holds round(x) in its low bits for |x| < 2^51.
constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52
constexpr int64_t kRoundBits = 0x4338000000000000LL;

inline int64_t to_fixed(double scaled) {
  const double t = scaled + kRound;
  int64_t b;
  std::memcpy(&b, &t, sizeof b);
  return b - kRoundBits;
}

// The scale for n rows no two of which are farther apart than `diameter`: a distance times the
// scale is below 2^50 (to_fixed's range, with room), and a sum of n of them below 2^62. 0 when the
// diameter is not finite (a value that is not, or rows near the largest double): their distances
// cannot be summed.
double fixed_scale(Eigen::Index n, double diameter) {
  if (!std::isfinite(diameter)) return 0;
  if (!(diameter > 0)) return 1;  // every distance is 0
  int log_n = 1;
  while ((Eigen::Index(1) << log_n) < n) ++log_n;
  int e;
  std::frexp(diameter, &e);  // diameter < 2^e
  return std::ldexp(1.0, std::min(50, 62 - log_n) - e);
}

// The square of the diagonal of the box around the columns' values: no two rows' squared distance
// is larger, computed as the pair loop computes it (so it overflows whenever a pair's could);
// infinity for a value that is not finite.
double box_diagonal_squared(const Eigen::MatrixXd& G) {
  if (G.rows() == 0) return 0;
  if (!G.allFinite()) return std::numeric_limits<double>::infinity();
  double s = 0;
  for (Eigen::Index t = 0; t < G.cols(); ++t) {
    const double w = G.col(t).maxCoeff() - G.col(t).minCoeff();
    s += w * w;
  }
  return s;
}

// For rows j in [a, b) of column-stored data: d_j = |x_j - xi| in fixed point, added to to[j];
// returns the sum of the d_j. The hot loop of the silhouette, built for AVX2 too where the
// processor has it.
__attribute__((target_clones("avx2", "default"))) int64_t distance_sums(const double* const* cols, Eigen::Index p,
                                                                       const double* xi, double scale,
                                                                       Eigen::Index a, Eigen::Index b, int64_t* to) {
  int64_t acc = 0;
  if (p == 2) {
    const double* c0 = cols[0];
    const double* c1 = cols[1];
    const double x0 = xi[0], x1 = xi[1];
#pragma omp simd reduction(+ : acc)
    for (Eigen::Index j = a; j < b; ++j) {
      const double u = c0[j] - x0, v = c1[j] - x1;
      const int64_t d = to_fixed(std::sqrt(u * u + v * v) * scale);
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
    const int64_t d = to_fixed(std::sqrt(s) * scale);
    to[j] += d;
    acc += d;
  }
  return acc;
}

// The silhouette's pair sums over rows stored by column in G (one contiguous array per feature):
// each pair's distance is computed once and added to both rows' sums in T (T(i, c): the sum of the
// distances from row i to the rows of cell c, in fixed point with scale()).
class PairSums {
 public:
  PairSums(Eigen::MatrixXd G, FixedMatrix& T) : G_(std::move(G)), T_(T) {
    init(G_);
    scale_ = fixed_scale(G_.rows(), std::sqrt(box_diagonal_squared(G_)));
  }
  // Rows already split (sparse_rows.h): dense columns in Gd (by column), the others as lists of
  // nonzero entries in column order.
  PairSums(Eigen::MatrixXd Gd, std::vector<Eigen::Index> ptr, std::vector<int> col, std::vector<double> val,
           FixedMatrix& T)
      : G_(std::move(Gd)), T_(T), sparse_(true), ptr_(std::move(ptr)), col_(std::move(col)), val_(std::move(val)) {
    for (Eigen::Index t = 0; t < G_.cols(); ++t) {
      dense_.push_back(t);
      cols_.push_back(G_.col(t).data());
    }
    xi_.resize(dense_.size());
    // Two rows' sparse parts are at most the sum of their norms apart: a pair's squared distance is
    // at most the dense box's squared diagonal plus four times the largest squared norm.
    double widest = 0;
    for (size_t r = 0; r + 1 < ptr_.size(); ++r) {
      double s = 0;
      for (Eigen::Index q = ptr_[r]; q < ptr_[r + 1]; ++q) s += val_[size_t(q)] * val_[size_t(q)];
      widest = std::isnan(s) ? std::numeric_limits<double>::infinity() : std::max(widest, s);
    }
    scale_ = fixed_scale(G_.rows(), std::sqrt(box_diagonal_squared(G_) + 4 * widest));
  }
  PairSums(const PairSums&) = delete;
  PairSums& operator=(const PairSums&) = delete;
  double scale() const { return scale_; }

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
  // Row i (in cell li) against the rows [a, b), all of cell c.
  void add(Eigen::Index i, int li, int c, Eigen::Index a, Eigen::Index b) {
    if (b <= a) return;
    if (at_ != i) {
      for (size_t t = 0; t < dense_.size(); ++t) xi_[t] = G_(i, dense_[t]);
      at_ = i;
    }
    int64_t* to_i = T_.col(li).data();  // T(j, li) for the rows j of the range
    if (!sparse_) {
      T_(i, c) += distance_sums(cols_.data(), Eigen::Index(cols_.size()), xi_.data(), scale_, a, b, to_i);
      return;
    }
    const size_t nd = dense_.size();
    const Eigen::Index bi = ptr_[size_t(i)], ei = ptr_[size_t(i) + 1];
    int64_t acc = 0;
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
      const int64_t d = to_fixed(std::sqrt(s) * scale_);
      to_i[j] += d;
      acc += d;
    }
    T_(i, c) += acc;
  }

 private:
  const Eigen::MatrixXd G_;
  FixedMatrix& T_;
  std::vector<Eigen::Index> dense_;
  std::vector<const double*> cols_;
  std::vector<double> xi_;
  bool sparse_ = false;
  std::vector<Eigen::Index> ptr_;
  std::vector<int> col_;
  std::vector<double> val_;
  Eigen::Index at_ = -1;
  double scale_ = 1;
};

// Labellings scored together: the cells their joint labels cut the rows into, and each cell's label
// in each of them. A cell is a cluster of every member, so a member's sum over a cluster is the sum
// of its cells' sums.
struct CellGroup {
  std::vector<size_t> members;             // indices of the labellings
  std::vector<int> cell;                   // row -> cell
  int cells = 0;
  std::vector<std::vector<int>> label_of;  // per member: cell -> label
};

// At most this many cells in a group of several labellings: the pair loop visits every cell's range
// for each row, and the sums take rows x cells integers.
constexpr int kMaxCells = 128;

// The groups, in the labellings' order: each labelling joins the group before it while their joint
// cells stay within kMaxCells.
std::vector<CellGroup> group_labellings(Eigen::Index n, const std::vector<const std::vector<int>*>& labels,
                                        const std::vector<int>& ks, const std::vector<size_t>& active) {
  std::vector<CellGroup> groups;
  for (size_t m : active) {
    const std::vector<int>& lm = *labels[m];
    const int km = ks[m];
    if (!groups.empty() && groups.back().cells * km <= kMaxCells * kMaxCells) {
      CellGroup& g = groups.back();
      std::vector<int> id(size_t(g.cells) * size_t(km), -1), cell(static_cast<size_t>(n)), parent, label;
      bool fits = true;
      for (Eigen::Index i = 0; i < n && fits; ++i) {
        int& c = id[size_t(g.cell[size_t(i)]) * size_t(km) + size_t(lm[size_t(i)])];
        if (c < 0) {
          if (int(parent.size()) == kMaxCells) {
            fits = false;
            break;
          }
          c = int(parent.size());
          parent.push_back(g.cell[size_t(i)]);
          label.push_back(lm[size_t(i)]);
        }
        cell[size_t(i)] = c;
      }
      if (fits) {
        for (std::vector<int>& of : g.label_of) {
          std::vector<int> next(parent.size());
          for (size_t c = 0; c < parent.size(); ++c) next[c] = of[size_t(parent[c])];
          of = std::move(next);
        }
        g.label_of.push_back(std::move(label));
        g.cell = std::move(cell);
        g.cells = int(parent.size());
        g.members.push_back(m);
        continue;
      }
    }
    CellGroup g;
    g.members = {m};
    g.cell = lm;
    g.cells = km;
    g.label_of.emplace_back(size_t(km));
    std::iota(g.label_of[0].begin(), g.label_of[0].end(), 0);
    groups.push_back(std::move(g));
  }
  return groups;
}

// silhouettes_growing's stages for one group over n rows whose pair sums make_pairs(row_at, T) sets
// up: the rows placed as row_at gives (position -> row). Sets out[m] for the group's members.
template <class MakePairs>
void score_group(const CellGroup& g, Eigen::Index n, const std::vector<const std::vector<int>*>& labels,
                 const std::vector<int>& ks, const std::vector<Eigen::Index>& ends, double tolerance,
                 InterruptCheck check, const MakePairs& make_pairs, std::vector<SilhouetteEstimate>& out) {
  const int K = g.cells;
  // Each stage's rows grouped by cell, stored by column: stage q holds positions [ends[q-1],
  // ends[q]), its cell c the positions [start[q][c], start[q][c+1]).
  std::vector<std::vector<Eigen::Index>> start(ends.size(), std::vector<Eigen::Index>(size_t(K) + 1, 0));
  std::vector<Eigen::Index> row_at(static_cast<size_t>(n)), pos_of(static_cast<size_t>(n));
  std::vector<int> cell_at(static_cast<size_t>(n));
  for (size_t q = 0; q < ends.size(); ++q) {
    const Eigen::Index lo = q ? ends[q - 1] : 0, hi = ends[q];
    std::vector<Eigen::Index>& st = start[q];
    for (Eigen::Index i = lo; i < hi; ++i) ++st[size_t(g.cell[size_t(i)]) + 1];
    st[0] = lo;
    for (int c = 0; c < K; ++c) st[size_t(c) + 1] += st[size_t(c)];
    std::vector<Eigen::Index> next(st.begin(), st.end() - 1);
    for (Eigen::Index i = lo; i < hi; ++i) {
      const int c = g.cell[size_t(i)];
      const Eigen::Index at = next[size_t(c)]++;
      row_at[size_t(at)] = i;
      pos_of[size_t(i)] = at;
      cell_at[size_t(at)] = c;
    }
  }
  FixedMatrix T = FixedMatrix::Zero(n, K);
  const std::unique_ptr<PairSums> pairs_of = make_pairs(row_at, T);
  PairSums& pairs = *pairs_of;
  if (pairs.scale() == 0) {  // no silhouette, as with a distance of infinity
    for (size_t m : g.members) out[m].rows = n;
    return;
  }
  const double unit = 1 / pairs.scale();  // a power of two
  std::vector<double> cell_sizes(size_t(K), 0.0);
  std::vector<bool> done(g.members.size(), false);
  size_t left = g.members.size();
  FixedMatrix own_sums;  // a member's sums by cluster, when its clusters are not the cells
  for (size_t q = 0; q < ends.size() && left > 0; ++q) {
    const Eigen::Index lo = q ? ends[q - 1] : 0, hi = ends[q];
    const std::vector<Eigen::Index>& st = start[q];
    for (Eigen::Index i = lo; i < hi; ++i) {
      if (check && i % 64 == 0) check();
      const int li = cell_at[size_t(i)];
      // The rows after i in its own stage, then every row of the earlier stages.
      for (int c = li; c < K; ++c) pairs.add(i, li, c, std::max(st[size_t(c)], i + 1), st[size_t(c) + 1]);
      for (size_t r = 0; r < q; ++r)
        for (int c = 0; c < K; ++c) pairs.add(i, li, c, start[r][size_t(c)], start[r][size_t(c) + 1]);
    }
    for (Eigen::Index i = lo; i < hi; ++i) cell_sizes[size_t(cell_at[size_t(i)])] += 1;
    for (size_t w = 0; w < g.members.size(); ++w) {
      if (done[w]) continue;
      const size_t m = g.members[w];
      const int k = ks[m];
      const std::vector<int>& lab = *labels[m];
      const std::vector<int>& label_of = g.label_of[w];
      std::vector<double> sizes(size_t(k), 0.0);
      for (int c = 0; c < K; ++c) sizes[size_t(label_of[size_t(c)])] += cell_sizes[size_t(c)];
      SilhouetteEstimate& e = out[m];
      e.rows = hi;
      const int used = used_labels(sizes);
      if (used < 2 || used > hi - 1) continue;  // a later stage holds a second cluster
      // S(position, cluster): the cells' sums added up by the member's clusters.
      const FixedMatrix* S = &T;
      if (g.members.size() > 1) {
        own_sums.setZero(hi, k);
        for (int c = 0; c < K; ++c) own_sums.col(label_of[size_t(c)]) += T.col(c).head(hi);
        S = &own_sums;
      }
      // The rows in their given order, so the mean is the same whatever cells the group made.
      double total = 0, squares = 0;
      for (Eigen::Index i = 0; i < hi; ++i) {
        const int own = lab[size_t(i)];
        if (sizes[size_t(own)] <= 1) continue;  // a singleton's silhouette is 0
        const Eigen::Index at = pos_of[size_t(i)];
        const double a = double((*S)(at, own)) * unit / (sizes[size_t(own)] - 1);
        double b = std::numeric_limits<double>::infinity();
        for (int c = 0; c < k; ++c)
          if (c != own && sizes[size_t(c)] > 0) b = std::min(b, double((*S)(at, c)) * unit / sizes[size_t(c)]);
        const double mx = std::max(a, b);
        if (mx > 0) {
          const double s = (b - a) / mx;
          total += s;
          squares += s * s;
        }
      }
      const double mm = double(hi);
      e.score = total / mm;
      e.standard_error = std::sqrt(std::max(0.0, squares - mm * e.score * e.score) / (mm * (mm - 1)));
      if (e.standard_error <= tolerance) done[w] = true, --left;
    }
  }
}

// silhouettes_growing over n rows: the labellings checked, grouped and scored.
template <class MakePairs>
std::vector<SilhouetteEstimate> silhouette_stages(Eigen::Index n, const std::vector<const std::vector<int>*>& labels,
                                                  const std::vector<int>& ks, Eigen::Index first, double tolerance,
                                                  InterruptCheck check, const MakePairs& make_pairs) {
  std::vector<SilhouetteEstimate> out(labels.size());
  std::vector<size_t> active;
  for (size_t m = 0; m < labels.size(); ++m) {
    if (Eigen::Index(labels[m]->size()) != n)
      throw Error(ErrorCode::kInvalidArgument, "labels and rows differ in number");
    out[m].rows = n;
    const int used_all = used_labels(cluster_sizes(*labels[m], ks[m]));
    if (used_all >= 2 && used_all <= n - 1) active.push_back(m);
  }
  if (active.empty()) return out;
  // The stages' ends: first, 2 first, 4 first, ..., n.
  std::vector<Eigen::Index> ends;
  for (Eigen::Index e = std::max<Eigen::Index>(1, std::min(first, n));; e = std::min(n, 2 * e)) {
    ends.push_back(e);
    if (e == n) break;
  }
  for (const CellGroup& g : group_labellings(n, labels, ks, active))
    score_group(g, n, labels, ks, ends, tolerance, check, make_pairs, out);
  return out;
}

}  // namespace

std::vector<SilhouetteEstimate> silhouettes_growing(const Eigen::Ref<const RowMatrix>& X,
                                                    const std::vector<const std::vector<int>*>& labels,
                                                    const std::vector<int>& ks, Eigen::Index first, double tolerance,
                                                    InterruptCheck check) {
  return silhouette_stages(X.rows(), labels, ks, first, tolerance, check,
                           [&](const std::vector<Eigen::Index>& row_at, FixedMatrix& T) {
                             Eigen::MatrixXd G(X.rows(), X.cols());
                             for (size_t at = 0; at < row_at.size(); ++at) G.row(Eigen::Index(at)) = X.row(row_at[at]);
                             return std::make_unique<PairSums>(std::move(G), T);
                           });
}

std::vector<SilhouetteEstimate> silhouettes_growing(const SparseRows& R, const std::vector<const std::vector<int>*>& labels,
                                                    const std::vector<int>& ks, Eigen::Index first, double tolerance,
                                                    InterruptCheck check) {
  return silhouette_stages(R.n, labels, ks, first, tolerance, check,
                           [&](const std::vector<Eigen::Index>& row_at, FixedMatrix& T) {
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
                                                               std::move(val), T);
                           });
}

SilhouetteEstimate silhouette_growing(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                                      Eigen::Index first, double tolerance, InterruptCheck check) {
  return silhouettes_growing(X, {&labels}, {k}, first, tolerance, check)[0];
}

SilhouetteEstimate silhouette_growing(const SparseRows& R, const std::vector<int>& labels, int k, Eigen::Index first,
                                      double tolerance, InterruptCheck check) {
  return silhouettes_growing(R, {&labels}, {k}, first, tolerance, check)[0];
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
