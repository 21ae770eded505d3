// k-means: greedy k-means++ seeding and Lloyd iterations, following scikit-learn's algorithm.
//
// The loops run over raw row pointers with the row width P fixed at compile time for the common
// small widths (1 to 4: PCA output), so the distance kernels unroll; other widths take the same
// code with a runtime width. Rows of width 2 take vectorized kernels: their per-row arithmetic is
// the scalar code's, but the sums of k-means++ potentials are grouped by the vector width.
#include "kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

#include "rng.h"
#include "sparse_rows.h"

namespace custseg::core {

namespace {

// A row-major matrix seen as raw rows: row i starts at base + i * stride.
// Sparse rows (sparse_rows.h) have no base: their kernels read them through `sparse`.
struct Rows {
  const double* base;
  Eigen::Index stride, n, p;
  const SparseRows* sparse = nullptr;
  const double* operator[](Eigen::Index i) const { return base + i * stride; }
  Eigen::RowVectorXd row(Eigen::Index i) const {
    return sparse ? sparse->row(i) : Eigen::RowVectorXd(Eigen::Map<const Eigen::RowVectorXd>((*this)[i], p));
  }
};

Rows rows_of(const Eigen::Ref<const RowMatrix>& X) { return {X.data(), X.outerStride(), X.rows(), X.cols()}; }
Rows rows_of(const SparseRows& S) { return {nullptr, 0, S.n, S.p, &S}; }

template <int P>
inline double sqdist(const double* a, const double* b, Eigen::Index p) {
  double s = 0;
  if constexpr (P > 0) {
    for (int j = 0; j < P; ++j) {
      double t = a[j] - b[j];
      s += t * t;
    }
  } else {
    for (Eigen::Index j = 0; j < p; ++j) {
      double t = a[j] - b[j];
      s += t * t;
    }
  }
  return s;
}

// Nearest of k centres (rows of c, contiguous, width p): ties to the lowest index.
template <int P>
inline int nearest(const double* x, const double* c, int k, Eigen::Index p, double& best_d) {
  int best = 0;
  double bd = sqdist<P>(x, c, p);
  for (int j = 1; j < k; ++j) {
    double d = sqdist<P>(x, c + j * p, p);
    if (d < bd) {
      bd = d;
      best = j;
    }
  }
  best_d = bd;
  return best;
}

// Rows of width 2 (the default PCA output), contiguous: vectorized kernels, built for AVX2 too
// where the processor has it. Each row's arithmetic is the scalar code's, in the same order, so
// labels and distances are bit-identical to it; only sums over rows are reassociated.

// labels[i], dist[i]: the nearest of k centres (ties to the lowest index) and its squared distance.
__attribute__((target_clones("avx2", "default"))) void nearest_p2(const double* X, Eigen::Index n,
                                                                  const double* C, int k, int* labels,
                                                                  double* dist) {
#pragma omp simd
  for (Eigen::Index i = 0; i < n; ++i) {
    const double x0 = X[2 * i], x1 = X[2 * i + 1];
    double u = x0 - C[0], v = x1 - C[1];
    double bd = u * u + v * v;
    int best = 0;
    for (int c = 1; c < k; ++c) {
      u = x0 - C[2 * c];
      v = x1 - C[2 * c + 1];
      const double d = u * u + v * v;
      best = d < bd ? c : best;
      bd = d < bd ? d : bd;
    }
    labels[i] = best;
    dist[i] = bd;
  }
}

// Up to four k-means++ candidates scored in one pass over the rows: pot[t] = sum over rows of
// min(closest[i], |x_i - cand[t]|^2).
__attribute__((target_clones("avx2", "default"))) void trial_pots4_p2(const double* X, Eigen::Index n,
                                                                      const double* closest,
                                                                      const double* const* cand, int count,
                                                                      double* pot) {
  const double* c3 = cand[count > 3 ? 3 : count - 1];
  const double* c2 = cand[count > 2 ? 2 : count - 1];
  const double* c1 = cand[count > 1 ? 1 : 0];
  const double a0 = cand[0][0], b0 = cand[0][1], a1 = c1[0], b1 = c1[1], a2 = c2[0], b2 = c2[1], a3 = c3[0],
               b3 = c3[1];
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
  for (Eigen::Index i = 0; i < n; ++i) {
    const double x = X[2 * i], y = X[2 * i + 1], cl = closest[i];
    double u = x - a0, v = y - b0, d = u * u + v * v;
    s0 += cl < d ? cl : d;
    u = x - a1, v = y - b1, d = u * u + v * v;
    s1 += cl < d ? cl : d;
    u = x - a2, v = y - b2, d = u * u + v * v;
    s2 += cl < d ? cl : d;
    u = x - a3, v = y - b3, d = u * u + v * v;
    s3 += cl < d ? cl : d;
  }
  const double s[4] = {s0, s1, s2, s3};
  for (int t = 0; t < count; ++t) pot[t] = s[t];
}

// closest[i] = min(closest[i], |x_i - c|^2).
__attribute__((target_clones("avx2", "default"))) void take_min_p2(const double* X, Eigen::Index n, double* closest,
                                                                   const double* cand) {
  const double c0 = cand[0], c1 = cand[1];
#pragma omp simd
  for (Eigen::Index i = 0; i < n; ++i) {
    const double u = X[2 * i] - c0, v = X[2 * i + 1] - c1;
    const double d = u * u + v * v;
    closest[i] = closest[i] < d ? closest[i] : d;
  }
}

constexpr int kMaxTrials = 2 + 7;  // 2 + ln(1000), rounded down
// Restarts run on a subsample of max(kRestartRows, n / 10) rows once n is at least twice that; the
// kRefined best are refined on every row (kmeans_fit).
constexpr Eigen::Index kRestartRows = 10000;
constexpr size_t kRefined = 2;

// Per-row work arrays, allocated once for all restarts.
struct Workspace {
  explicit Workspace(Eigen::Index n)
      : closest(size_t(n)), cumsum(size_t(n)), dist(size_t(n)), old(size_t(n)), labels(size_t(n)) {}
  std::vector<double> closest, cumsum, dist;
  std::vector<int> old, labels;
};

// The potential of each candidate centre: sum over rows of min(closest, distance to it)^2. With the
// candidate count T fixed at compile time the sums live in registers.
template <int P, int T>
void score_trials(const Rows& X, const double* closest, const Eigen::Index* ids, double* pot, int trials = T) {
  const int nt = T > 0 ? T : trials;
  if (P == 2 && X.stride == 2) {
    for (int t0 = 0; t0 < nt; t0 += 4) {
      const double* cand[4];
      const int count = std::min(4, nt - t0);
      for (int t = 0; t < count; ++t) cand[t] = X[ids[t0 + t]];
      trial_pots4_p2(X.base, X.n, closest, cand, count, pot + t0);
    }
    return;
  }
  double acc[kMaxTrials] = {};
  const double* cand[kMaxTrials] = {};
  for (int t = 0; t < nt; ++t) cand[t] = X[ids[t]];
  for (Eigen::Index i = 0; i < X.n; ++i) {
    const double* x = X[i];
    const double cl = closest[i];
    if constexpr (T > 0) {
      for (int t = 0; t < T; ++t) acc[t] += std::min(cl, sqdist<P>(x, cand[t], X.p));
    } else {
      for (int t = 0; t < nt; ++t) acc[t] += std::min(cl, sqdist<P>(x, cand[t], X.p));
    }
  }
  for (int t = 0; t < nt; ++t) pot[t] = acc[t];
}

// k-means++'s candidates of one step: rows drawn with probability proportional to their squared
// distance to the nearest chosen centre (cumsum: the running sum of those distances, pot its total).
void draw_trials(Rng& rng, const std::vector<double>& cumsum, double pot, int trials, Eigen::Index* ids) {
  const Eigen::Index n = Eigen::Index(cumsum.size());
  for (int t = 0; t < trials; ++t) {
    double r = rng.uniform() * pot;
    Eigen::Index id = std::lower_bound(cumsum.begin(), cumsum.end(), r) - cumsum.begin();
    ids[t] = std::min(id, n - 1);
  }
}

// Empty clusters take the points farthest from their centres (scikit-learn's relocation): the
// sums and weights of the next centres are changed, never emptying another cluster.
void relocate_empty(const Rows& X, const std::vector<int>& labels, const std::vector<double>& dist, RowMatrix& sums,
                    std::vector<double>& weight) {
  const Eigen::Index n = X.n;
  const int k = int(sums.rows());
  std::vector<int> empty;
  for (int c = 0; c < k; ++c)
    if (weight[size_t(c)] == 0) empty.push_back(c);
  if (empty.empty()) return;
  std::vector<Eigen::Index> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const size_t m = std::min(empty.size(), size_t(n));
  std::partial_sort(order.begin(), order.begin() + long(m), order.end(), [&](Eigen::Index a, Eigen::Index b) {
    return dist[size_t(a)] > dist[size_t(b)] || (dist[size_t(a)] == dist[size_t(b)] && a < b);
  });
  for (size_t e = 0; e < m; ++e) {
    Eigen::Index far = order[e];
    int from = labels[size_t(far)];
    if (weight[size_t(from)] <= 1) continue;  // never empty another cluster
    const Eigen::RowVectorXd xf = X.row(far);
    sums.row(from) -= xf;
    weight[size_t(from)] -= 1;
    sums.row(empty[e]) = xf;
    weight[size_t(empty[e])] = 1;
  }
}

// The end of a Lloyd iteration, after the E-step filled labels, dist, sums and weight: empty
// clusters relocated, the centres moved to their means; true when the labels stopped changing or
// the squared shift fell under tol (else the labels become the old ones).
bool end_iteration(const Rows& X, std::vector<int>& labels, std::vector<int>& old, const std::vector<double>& dist,
                   RowMatrix& sums, std::vector<double>& weight, RowMatrix& centers, double tol) {
  relocate_empty(X, labels, dist, sums, weight);
  RowMatrix next = centers;
  for (int c = 0; c < int(centers.rows()); ++c)
    if (weight[size_t(c)] > 0) next.row(c) = sums.row(c) / weight[size_t(c)];
  const double shift = (next - centers).squaredNorm();
  centers = next;
  if (labels == old || shift <= tol) return true;
  old.swap(labels);
  return false;
}

// Greedy k-means++: each new centre is the best of `trials` candidates drawn with probability
// proportional to the squared distance to the nearest chosen centre. The candidates of one step are
// drawn first and scored together in one pass over the rows; the result is the same as scoring
// them one after another.
template <int P>
RowMatrix kmeans_plusplus(const Rows& X, int k, Rng& rng, Workspace& ws) {
  const Eigen::Index n = X.n, p = X.p;
  const int trials = std::min(kMaxTrials, 2 + int(std::log(double(k))));
  RowMatrix centers(k, p);
  Eigen::Index first = Eigen::Index(rng.below(uint64_t(n)));
  centers.row(0) = Eigen::Map<const Eigen::RowVectorXd>(X[first], p);
  std::vector<double>& closest = ws.closest;
  std::vector<double>& cumsum = ws.cumsum;
  double pot = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    double d = sqdist<P>(X[i], X[first], p);
    closest[size_t(i)] = d;
    pot += d;
    cumsum[size_t(i)] = pot;
  }
  for (int c = 1; c < k; ++c) {
    Eigen::Index ids[kMaxTrials] = {};
    double cand_pot[kMaxTrials] = {};
    draw_trials(rng, cumsum, pot, trials, ids);
    switch (trials) {
      case 2: score_trials<P, 2>(X, closest.data(), ids, cand_pot); break;
      case 3: score_trials<P, 3>(X, closest.data(), ids, cand_pot); break;
      case 4: score_trials<P, 4>(X, closest.data(), ids, cand_pot); break;
      default: score_trials<P, 0>(X, closest.data(), ids, cand_pot, trials); break;
    }
    int best = 0;
    for (int t = 1; t < trials; ++t)
      if (cand_pot[t] < cand_pot[best]) best = t;
    // Take the winner: update the distances and, for the next step, their running sum.
    const double* chosen = X[ids[best]];
    double run = 0;
    if (P == 2 && X.stride == 2) {
      take_min_p2(X.base, n, closest.data(), chosen);
      for (Eigen::Index i = 0; i < n; ++i) {
        run += closest[size_t(i)];
        cumsum[size_t(i)] = run;
      }
    } else {
      for (Eigen::Index i = 0; i < n; ++i) {
        double d = std::min(closest[size_t(i)], sqdist<P>(X[i], chosen, p));
        closest[size_t(i)] = d;
        run += d;
        cumsum[size_t(i)] = run;
      }
    }
    pot = cand_pot[best];
    centers.row(c) = Eigen::Map<const Eigen::RowVectorXd>(chosen, p);
  }
  return centers;
}

template <int P>
double assign(const Rows& X, const RowMatrix& centers, std::vector<int>& labels) {
  const Eigen::Index n = X.n, p = X.p;
  const int k = int(centers.rows());
  labels.resize(size_t(n));
  double inertia = 0;
  if (P == 2 && X.stride == 2) {
    std::vector<double> dist(static_cast<size_t>(n));
    nearest_p2(X.base, n, centers.data(), k, labels.data(), dist.data());
    for (double d : dist) inertia += d;
    return inertia;
  }
  for (Eigen::Index i = 0; i < n; ++i) {
    double bd;
    labels[size_t(i)] = nearest<P>(X[i], centers.data(), k, p, bd);
    inertia += bd;
  }
  return inertia;
}

// Lloyd iterations from the given centres, the E-step given: estep(labels, dist, sums, weight) sets
// each row's nearest centre and squared distance and adds the row to its centre's sums and weight.
// The final E-step (assign_all, returning the inertia) makes the labels match the returned centres
// (a no-op after strict convergence). Returns (inertia, iterations).
template <class EStep, class AssignAll>
std::pair<double, int> lloyd_loop(const Rows& X, RowMatrix& centers, Workspace& ws, int max_iter, double tol,
                                  InterruptCheck check, EStep&& estep, AssignAll&& assign_all) {
  const int k = int(centers.rows());
  std::fill(ws.old.begin(), ws.old.end(), -1);
  RowMatrix sums(k, X.p);
  std::vector<double> weight(static_cast<size_t>(k));
  int it = 0;
  for (; it < max_iter; ++it) {
    if (check) check();
    sums.setZero();
    std::fill(weight.begin(), weight.end(), 0.0);
    estep(ws.labels, ws.dist, sums, weight);
    if (end_iteration(X, ws.labels, ws.old, ws.dist, sums, weight, centers, tol)) {
      ++it;
      break;
    }
  }
  return {assign_all(ws.labels), it};
}

// One Lloyd run on dense rows.
template <int P>
std::pair<double, int> lloyd(const Rows& X, RowMatrix& centers, Workspace& ws, int max_iter, double tol,
                             InterruptCheck check) {
  const Eigen::Index n = X.n, p = X.p;
  const int k = int(centers.rows());
  auto estep = [&](std::vector<int>& labels, std::vector<double>& dist, RowMatrix& sums, std::vector<double>& weight) {
    double* s = sums.data();
    const bool fast = P == 2 && X.stride == 2;
    if (fast) nearest_p2(X.base, n, centers.data(), k, labels.data(), dist.data());
    for (Eigen::Index i = 0; i < n; ++i) {
      const double* x = X[i];
      int best;
      if (fast) {
        best = labels[size_t(i)];
      } else {
        double bd;
        best = nearest<P>(x, centers.data(), k, p, bd);
        labels[size_t(i)] = best;
        dist[size_t(i)] = bd;
      }
      double* sb = s + best * p;
      if constexpr (P > 0) {
        for (int j = 0; j < P; ++j) sb[j] += x[j];
      } else {
        for (Eigen::Index j = 0; j < p; ++j) sb[j] += x[j];
      }
      weight[size_t(best)] += 1;
    }
  };
  return lloyd_loop(X, centers, ws, max_iter, tol, check, estep,
                    [&](std::vector<int>& labels) { return assign<P>(X, centers, labels); });
}

// One restart's outcome, kept when restarts run on a subsample (kmeans_fit).
struct Restart {
  double inertia;
  RowMatrix centers;
};

// ---- rows with many sparse columns (one-hot columns clustered without PCA; sparse_rows.h) ----

RowMatrix kmeans_plusplus_sparse(const Rows& X, const SparseRows& S, int k, Rng& rng, Workspace& ws) {
  const Eigen::Index n = X.n, p = X.p;
  const int trials = std::min(kMaxTrials, 2 + int(std::log(double(k))));
  RowMatrix centers(k, p);
  Eigen::Index first = Eigen::Index(rng.below(uint64_t(n)));
  centers.row(0) = S.row(first);
  std::vector<double>& closest = ws.closest;
  std::vector<double>& cumsum = ws.cumsum;
  double pot = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    const double d = sparse_rr(S, i, first);
    closest[size_t(i)] = d;
    pot += d;
    cumsum[size_t(i)] = pot;
  }
  for (int c = 1; c < k; ++c) {
    Eigen::Index ids[kMaxTrials] = {};
    double cand_pot[kMaxTrials] = {};
    draw_trials(rng, cumsum, pot, trials, ids);
    for (Eigen::Index i = 0; i < n; ++i)
      for (int t = 0; t < trials; ++t) cand_pot[t] += std::min(closest[size_t(i)], sparse_rr(S, i, ids[t]));
    int best = 0;
    for (int t = 1; t < trials; ++t)
      if (cand_pot[t] < cand_pot[best]) best = t;
    double run = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double d = std::min(closest[size_t(i)], sparse_rr(S, i, ids[best]));
      closest[size_t(i)] = d;
      run += d;
      cumsum[size_t(i)] = run;
    }
    pot = cand_pot[best];
    centers.row(c) = S.row(ids[best]);
  }
  return centers;
}

double assign_sparse(const SparseRows& S, const RowMatrix& centers, std::vector<int>& labels,
                     std::vector<double>* dist = nullptr) {
  SparseCentres sc;
  sc.set(S, centers);
  const Eigen::Index n = S.D.rows();
  labels.resize(size_t(n));
  double inertia = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    double bd;
    labels[size_t(i)] = sc.nearest(S, i, bd);
    if (dist) (*dist)[size_t(i)] = bd;
    inertia += bd;
  }
  return inertia;
}

// One Lloyd run on sparse rows.
std::pair<double, int> lloyd_sparse(const Rows& X, const SparseRows& S, RowMatrix& centers, Workspace& ws,
                                    int max_iter, double tol, InterruptCheck check) {
  auto estep = [&](std::vector<int>& labels, std::vector<double>& dist, RowMatrix& sums, std::vector<double>& weight) {
    assign_sparse(S, centers, labels, &dist);
    for (Eigen::Index i = 0; i < X.n; ++i) {
      const int best = labels[size_t(i)];
      double* sb = sums.row(best).data();
      const double* di = S.D.row(i).data();
      for (size_t t = 0; t < S.dense.size(); ++t) sb[S.dense[t]] += di[t];
      for (Eigen::Index q = S.ptr[size_t(i)]; q < S.ptr[size_t(i) + 1]; ++q) sb[S.col[size_t(q)]] += S.val[size_t(q)];
      weight[size_t(best)] += 1;
    }
  };
  return lloyd_loop(X, centers, ws, max_iter, tol, check, estep,
                    [&](std::vector<int>& labels) { return assign_sparse(S, centers, labels); });
}

// The seeding and the Lloyd run of one kind of rows: dense rows of width P (0: any), or sparse rows.
template <int P>
struct DenseKernel {
  const Rows& X;
  RowMatrix seed(int k, Rng& rng, Workspace& ws) const { return kmeans_plusplus<P>(X, k, rng, ws); }
  std::pair<double, int> lloyd(RowMatrix& c, Workspace& ws, int max_iter, double tol, InterruptCheck check) const {
    return core::lloyd<P>(X, c, ws, max_iter, tol, check);
  }
};

struct SparseKernel {
  const Rows& X;
  const SparseRows& S;
  RowMatrix seed(int k, Rng& rng, Workspace& ws) const { return kmeans_plusplus_sparse(X, S, k, rng, ws); }
  std::pair<double, int> lloyd(RowMatrix& c, Workspace& ws, int max_iter, double tol, InterruptCheck check) const {
    return lloyd_sparse(X, S, c, ws, max_iter, tol, check);
  }
};

// n_init restarts (seeding, then Lloyd), keeping the lowest inertia (the earliest on a tie); with
// `all`, every restart's outcome too.
template <class Kernel>
KMeansResult restarts(const Kernel& kern, Eigen::Index n, const KMeansOptions& opt, double tol, InterruptCheck check,
                      const KMeansProgress& progress, std::vector<Restart>* all) {
  Rng rng(opt.seed);
  KMeansResult best;
  best.inertia = std::numeric_limits<double>::infinity();
  Workspace ws(n);
  for (int init = 0; init < opt.n_init; ++init) {
    if (check) check();
    RowMatrix centers = kern.seed(opt.k, rng, ws);
    auto [inertia, iters] = kern.lloyd(centers, ws, opt.max_iter, tol, check);
    if (progress) progress(init, inertia, iters);
    if (all) all->push_back({inertia, centers});
    if (inertia < best.inertia) {
      best.inertia = inertia;
      best.centers = centers;
      best.labels = ws.labels;
      best.n_iter = iters;
      best.best_init = init;
    }
  }
  return best;
}

// Lloyd iterations from the given centres.
template <class Kernel>
KMeansResult refine_with(const Kernel& kern, Eigen::Index n, RowMatrix centers, const KMeansOptions& opt, double tol,
                         InterruptCheck check) {
  Workspace ws(n);
  KMeansResult out;
  std::tie(out.inertia, out.n_iter) = kern.lloyd(centers, ws, opt.max_iter, tol, check);
  out.centers = std::move(centers);
  out.labels = ws.labels;
  return out;
}

// f(kernel) with the kernel for X's rows: sparse when many columns are sparse, else dense of its width.
template <class F>
auto with_kernel(const Rows& r, F&& f) {
  if (r.sparse) return f(SparseKernel{r, *r.sparse});
  SparseRows sparse;
  if (sparse_rows_of(r.base, r.stride, r.n, r.p, sparse)) return f(SparseKernel{r, sparse});
  switch (r.p) {
    case 1: return f(DenseKernel<1>{r});
    case 2: return f(DenseKernel<2>{r});
    case 3: return f(DenseKernel<3>{r});
    case 4: return f(DenseKernel<4>{r});
    default: return f(DenseKernel<0>{r});
  }
}

}  // namespace

double kmeans_assign(const Eigen::Ref<const RowMatrix>& X, const Eigen::Ref<const RowMatrix>& centers,
                     std::vector<int>& labels) {
  if (centers.cols() != X.cols()) throw Error(ErrorCode::kDimensionMismatch, "k-means: centre width does not match");
  const RowMatrix c = centers;  // contiguous
  const Rows r = rows_of(X);
  switch (X.cols()) {
    case 1: return assign<1>(r, c, labels);
    case 2: return assign<2>(r, c, labels);
    case 3: return assign<3>(r, c, labels);
    case 4: return assign<4>(r, c, labels);
    default: return assign<0>(r, c, labels);
  }
}

RowMatrix kmeans_plusplus_centers(const Eigen::Ref<const RowMatrix>& X, int k, uint64_t seed) {
  if (k < 1) throw Error(ErrorCode::kInvalidArgument, "k must be at least 1");
  if (X.rows() < k)
    throw Error(ErrorCode::kDataException,
                "k = " + std::to_string(k) + " exceeds the " + std::to_string(X.rows()) + " rows to cluster",
                "lower \"k\" or train on more rows");
  Rng rng(seed);
  Workspace ws(X.rows());
  const Rows r = rows_of(X);
  switch (X.cols()) {
    case 1: return kmeans_plusplus<1>(r, k, rng, ws);
    case 2: return kmeans_plusplus<2>(r, k, rng, ws);
    case 3: return kmeans_plusplus<3>(r, k, rng, ws);
    case 4: return kmeans_plusplus<4>(r, k, rng, ws);
    default: return kmeans_plusplus<0>(r, k, rng, ws);
  }
}

namespace {

// scikit-learn's tolerance: relative to the mean of the feature variances.
double kmeans_tol(const Eigen::Ref<const RowMatrix>& X, double rel) {
  const Eigen::Index n = X.rows();
  if (n == 0 || X.cols() == 0) return 0;
  // Row by row (X is row-major: a column-wise reduction would stride through every row per column).
  const Eigen::RowVectorXd mu = column_means(X);
  Eigen::RowVectorXd ss = Eigen::RowVectorXd::Zero(X.cols());
  for (Eigen::Index i = 0; i < n; ++i) ss.array() += (X.row(i) - mu).array().square();
  return (ss / double(n)).mean() * rel;
}

double kmeans_tol(const SparseRows& S, double rel) {
  if (S.n == 0 || S.p == 0) return 0;
  Eigen::RowVectorXd ss;
  total_squares(S, &ss);
  return (ss / double(S.n)).mean() * rel;
}

// The rows i * n / m of X, i = 0..m-1.
template <class Source>
auto spaced_rows(const Source& X, Eigen::Index m) {
  std::vector<Eigen::Index> idx(static_cast<size_t>(m));
  for (Eigen::Index i = 0; i < m; ++i) idx[size_t(i)] = i * rows_in(X) / m;
  return select_rows(X, idx);
}

// Every restart on X (a dense matrix or sparse rows).
template <class Source>
KMeansResult run_restarts(const Source& X, const KMeansOptions& opt, InterruptCheck check,
                          const KMeansProgress& progress, std::vector<Restart>* all) {
  const double tol = kmeans_tol(X, opt.tol);
  const Rows r = rows_of(X);
  return with_kernel(r, [&](const auto& kern) { return restarts(kern, r.n, opt, tol, check, progress, all); });
}

// Each start refined by Lloyd iterations on every row of X, with one tolerance and one kernel (the
// sparse rows of a wide X are built once for all of them).
template <class Source>
std::vector<KMeansResult> refine(const Source& X, const std::vector<const RowMatrix*>& starts,
                                 const KMeansOptions& opt, InterruptCheck check) {
  const double tol = kmeans_tol(X, opt.tol);
  const Rows r = rows_of(X);
  return with_kernel(r, [&](const auto& kern) {
    std::vector<KMeansResult> out;
    for (const RowMatrix* c : starts) out.push_back(refine_with(kern, r.n, *c, opt, tol, check));
    return out;
  });
}

template <class Source>
KMeansResult fit_rows(const Source& X, const KMeansOptions& opt, InterruptCheck check, const KMeansProgress& progress) {
  const Eigen::Index n = rows_in(X);
  if (opt.k < 1) throw Error(ErrorCode::kInvalidArgument, "k must be at least 1");
  if (n < opt.k)
    throw Error(ErrorCode::kDataException,
                "k = " + std::to_string(opt.k) + " exceeds the " + std::to_string(n) + " rows to cluster",
                "lower \"k\" or train on more rows");
  const Eigen::Index m = std::max(kRestartRows, n / 10);
  if (opt.n_init <= 1 || n < 2 * m || m < Eigen::Index(20) * opt.k) return run_restarts(X, opt, check, progress, nullptr);
  // Many rows: the restarts run on an evenly spaced tenth of the rows (at least kRestartRows; X is
  // in canonical order, so which rows does not depend on the plan), and the two best of them are
  // refined by Lloyd iterations on every row; the lower inertia wins (the earlier restart on a tie).
  const auto sub = spaced_rows(X, m);
  std::vector<Restart> all;
  run_restarts(sub, opt, check, progress, &all);
  std::vector<int> order(all.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return all[size_t(a)].inertia < all[size_t(b)].inertia; });
  KMeansResult best;
  best.inertia = std::numeric_limits<double>::infinity();
  std::vector<const RowMatrix*> starts;
  for (size_t t = 0; t < std::min<size_t>(kRefined, order.size()); ++t) starts.push_back(&all[size_t(order[t])].centers);
  std::vector<KMeansResult> refined = refine(X, starts, opt, check);
  for (size_t t = 0; t < refined.size(); ++t) {
    KMeansResult& r = refined[t];
    if (r.inertia < best.inertia) {
      best = std::move(r);
      best.best_init = order[t];
    }
  }
  return best;
}

}  // namespace

KMeansResult kmeans_fit(const Eigen::Ref<const RowMatrix>& X, const KMeansOptions& opt, InterruptCheck check,
                        const KMeansProgress& progress) {
  return fit_rows(X, opt, check, progress);
}

KMeansResult kmeans_fit(const SparseRows& S, const KMeansOptions& opt, InterruptCheck check,
                        const KMeansProgress& progress) {
  return fit_rows(S, opt, check, progress);
}

}  // namespace custseg::core
