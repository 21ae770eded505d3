// DBSCAN over a sweep of the rows sorted along one column, with neighbourhoods
// recomputed rather than stored, giving the labels of scikit-learn's DBSCAN
// exactly.
//
// Exactness. scikit-learn's tree searches (kd_tree, ball_tree: what algorithm
// "auto" picks below 16 columns) admit row y into x's neighbourhood when s(x,
// y) <= eps * eps, where s = sum_j (x_j - y_j)^2 is summed in column order in
// doubles; this file makes the same test with the same arithmetic, so core rows
// agree to the last bit. The sweep skips y only when fl((x_c - y_c)^2) > eps^2
// on the sweep column c; a sum of non-negative terms never rounds below one of
// its terms, so every skipped row would have failed the test too.
//
// Labels. scikit-learn visits rows in order and grows a new cluster from each
// unlabelled core row; a cluster is the connected component of core rows
// (linked when within eps) plus the unlabelled rows within eps of them. So
// cluster numbers follow the smallest core row of each component and a border
// row joins the lowest-numbered cluster within its reach, whatever order the
// neighbours of one cluster are visited in: labelling a row when it is first
// reached (instead of when popped) gives the same labels and bounds the stack
// by the core rows.
//
// Cost: O(n) memory beyond X (the sort order, one key per row, counts, labels,
// the stack); time is d times the number of pairs of rows within eps along the
// sweep column, O(n^2 d) at worst, once to count and once to expand.
#include "dbscan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

namespace custseg::core {

namespace {

// How many sweep positions pass between interrupt checks.
constexpr int kCheckEvery = 64;

// A row-major matrix seen as raw rows: row i starts at base + i * stride.
struct Rows {
  const double *base;
  Eigen::Index stride, p;
  const double *operator[](int i) const { return base + Eigen::Index(i) * stride; }
};

// s(x, y) = sum_j (x_j - y_j)^2 in column order, as scikit-learn's
// euclidean_rdist.
template <int P>
inline double sqdist(const double *x, const double *y, Eigen::Index p) {
  double s = 0;
  const Eigen::Index m = P > 0 ? P : p;
  for (Eigen::Index j = 0; j < m; ++j) {
    const double t = x[j] - y[j];
    s += t * t;
  }
  return s;
}

// The rows in ascending order of one column (the widest spread, ties to the
// lower column; ties of value to the lower row), with that column's values in
// that order.
struct Sweep {
  Rows rows;
  std::vector<int> order;   // position -> row
  std::vector<double> key;  // key[a] = X(order[a], column)

  // The positions b > a (or b < a) that the sweep column leaves within eps2 of
  // position a form a run next to a, because fl((key[b] - key[a])^2) grows with
  // |b - a|.
  bool near(int a, int b, double eps2) const {
    const double t = key[size_t(b)] - key[size_t(a)];
    return t * t <= eps2;
  }
};

void validate(const Eigen::Ref<const RowMatrix> &X, const char *what) {
  if (X.rows() > Eigen::Index(std::numeric_limits<int>::max() / 2))
    throw Error(ErrorCode::kProgramLimit, std::string(what) + ": too many rows (" + std::to_string(X.rows()) + ")");
  for (Eigen::Index i = 0; i < X.rows(); ++i)
    for (Eigen::Index j = 0; j < X.cols(); ++j)
      if (!std::isfinite(X(i, j)))
        throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": row " + std::to_string(i) + " column " +
                                                     std::to_string(j) + " is not a finite number");
}

Sweep make_sweep(const Eigen::Ref<const RowMatrix> &X) {
  const int n = int(X.rows());
  Sweep s{{X.data(), X.outerStride(), X.cols()}, std::vector<int>(size_t(n)), std::vector<double>(size_t(n), 0.0)};
  std::iota(s.order.begin(), s.order.end(), 0);
  if (n == 0 || X.cols() == 0) return s;
  Eigen::Index column = 0;
  double widest = -1;
  for (Eigen::Index j = 0; j < X.cols(); ++j) {
    const double mean = X.col(j).mean();
    const double spread = (X.col(j).array() - mean).square().sum();
    if (spread > widest) widest = spread, column = j;
  }
  std::stable_sort(s.order.begin(), s.order.end(), [&](int a, int b) { return X(a, column) < X(b, column); });
  for (int a = 0; a < n; ++a) s.key[size_t(a)] = X(s.order[size_t(a)], column);
  return s;
}

// counts[a] += the rows at positions (a, hi) within eps2 of position a; returns
// how many.
template <int P>
int count_run(const Sweep &s, int a, int hi, double eps2, int *counts) {
  const double *x = s.rows[s.order[size_t(a)]];
  const int *order = s.order.data();
  const Eigen::Index p = s.rows.p;
  int c = 0;
#pragma omp simd reduction(+ : c)
  for (int b = a + 1; b < hi; ++b) {
    const int in = sqdist<P>(x, s.rows[order[b]], p) <= eps2;
    counts[b] += in;
    c += in;
  }
  return c;
}

// How many rows (itself included) lie within eps2 of each position: each pair
// is tested once.
template <int P>
std::vector<int> neighbour_counts(const Sweep &s, double eps2, InterruptCheck check) {
  const int n = int(s.order.size());
  std::vector<int> counts(static_cast<size_t>(n), 1);
  int hi = 0;  // one past the last position near a; never decreases as a grows
  for (int a = 0; a < n; ++a) {
    if (check && a % kCheckEvery == 0) check();
    hi = std::max(hi, a + 1);
    while (hi < n && s.near(a, hi, eps2)) ++hi;
    counts[size_t(a)] += count_run<P>(s, a, hi, eps2, counts.data());
  }
  return counts;
}

template <int P>
DbscanResult fit(const Sweep &s, double eps2, int min_samples, InterruptCheck check) {
  const int n = int(s.order.size());
  DbscanResult r;
  r.labels.assign(size_t(n), -1);
  r.core.assign(size_t(n), 0);
  std::vector<int> position(static_cast<size_t>(n));
  {
    const std::vector<int> counts = neighbour_counts<P>(s, eps2, check);
    for (int a = 0; a < n; ++a) {
      const int row = s.order[size_t(a)];
      position[size_t(row)] = a;
      r.core[size_t(row)] = counts[size_t(a)] >= min_samples;
    }
  }
  const Eigen::Index p = s.rows.p;
  std::vector<int> stack;  // core rows labelled but not yet expanded; each enters once
  stack.reserve(64);
  int label = 0, popped = 0;
  for (int i = 0; i < n; ++i) {
    if (r.labels[size_t(i)] != -1 || !r.core[size_t(i)]) continue;
    r.labels[size_t(i)] = label;
    stack.push_back(i);
    while (!stack.empty()) {
      if (check && ++popped % kCheckEvery == 0) check();
      const int a = position[size_t(stack.back())];
      stack.pop_back();
      const double *x = s.rows[s.order[size_t(a)]];
      auto visit = [&](int b) {
        const int q = s.order[size_t(b)];
        if (r.labels[size_t(q)] != -1 || sqdist<P>(x, s.rows[q], p) > eps2) return;
        r.labels[size_t(q)] = label;
        if (r.core[size_t(q)]) stack.push_back(q);
      };
      for (int b = a - 1; b >= 0 && s.near(a, b, eps2); --b) visit(b);
      for (int b = a + 1; b < n && s.near(a, b, eps2); ++b) visit(b);
    }
    ++label;
  }
  r.n_clusters = label;
  return r;
}

// The k-th smallest s(x, y) over all rows y (x itself included, at 0), for the
// row at position a; heap holds at most k values (a max-heap).
template <int P>
double kth_sqdist(const Sweep &s, int a, int k, std::vector<double> &heap) {
  const int n = int(s.order.size());
  const double *x = s.rows[s.order[size_t(a)]];
  const Eigen::Index p = s.rows.p;
  heap.assign(1, 0.0);
  auto offer = [&](int b) {
    const double d = sqdist<P>(x, s.rows[s.order[size_t(b)]], p);
    if (int(heap.size()) < k) {
      heap.push_back(d);
      std::push_heap(heap.begin(), heap.end());
    } else if (d < heap.front()) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = d;
      std::push_heap(heap.begin(), heap.end());
    }
  };
  // A position whose sweep-column term alone reaches the current k-th value
  // cannot lower it.
  auto open = [&](int b) {
    if (int(heap.size()) < k) return true;
    const double t = s.key[size_t(b)] - s.key[size_t(a)];
    return t * t < heap.front();
  };
  for (int b = a + 1; b < n && open(b); ++b) offer(b);
  for (int b = a - 1; b >= 0 && open(b); --b) offer(b);
  return heap.front();
}

// The smallest double v found from sqrt(d) with v * v >= d, so that eps = v
// makes d <= eps * eps.
double eps_for(double d) {
  double v = std::sqrt(d);
  while (v * v < d) v = std::nextafter(v, std::numeric_limits<double>::infinity());
  return v;
}

template <int P>
std::vector<double> kdist(const Sweep &s, int k, InterruptCheck check) {
  const int n = int(s.order.size());
  std::vector<double> out(static_cast<size_t>(n));
  std::vector<double> heap;
  heap.reserve(size_t(k));
  for (int a = 0; a < n; ++a) {
    if (check && a % kCheckEvery == 0) check();
    out[size_t(a)] = eps_for(kth_sqdist<P>(s, a, k, heap));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

DbscanResult dbscan_fit(const Eigen::Ref<const RowMatrix> &X, double eps, int min_samples, InterruptCheck check) {
  if (!(eps > 0) || !std::isfinite(eps))
    throw Error(ErrorCode::kInvalidArgument, "dbscan: eps must be a positive number, not " + std::to_string(eps));
  if (min_samples < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "dbscan: min_samples must be at least 1, not " + std::to_string(min_samples));
  validate(X, "dbscan");
  const Sweep s = make_sweep(X);
  const double eps2 = eps * eps;
  switch (X.cols()) {
    case 1:
      return fit<1>(s, eps2, min_samples, check);
    case 2:
      return fit<2>(s, eps2, min_samples, check);
    case 3:
      return fit<3>(s, eps2, min_samples, check);
    case 4:
      return fit<4>(s, eps2, min_samples, check);
    default:
      return fit<0>(s, eps2, min_samples, check);
  }
}

std::vector<double> k_distances(const Eigen::Ref<const RowMatrix> &X, int min_samples, InterruptCheck check) {
  if (min_samples < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "k-distances: min_samples must be at least 1, not " + std::to_string(min_samples));
  if (X.rows() < min_samples)
    throw Error(ErrorCode::kDataException,
                "k-distances: min_samples = " + std::to_string(min_samples) + " exceeds the " +
                    std::to_string(X.rows()) + " rows",
                "lower \"min_samples\" or use more rows");
  validate(X, "k-distances");
  const Sweep s = make_sweep(X);
  switch (X.cols()) {
    case 1:
      return kdist<1>(s, min_samples, check);
    case 2:
      return kdist<2>(s, min_samples, check);
    case 3:
      return kdist<3>(s, min_samples, check);
    case 4:
      return kdist<4>(s, min_samples, check);
    default:
      return kdist<0>(s, min_samples, check);
  }
}

double knee_of(const std::vector<double> &y) {
  if (y.empty()) throw Error(ErrorCode::kInvalidArgument, "knee: the k-distance curve is empty");
  if (!std::is_sorted(y.begin(), y.end()))
    throw Error(ErrorCode::kInvalidArgument, "knee: the k-distance curve is not sorted ascending");
  const size_t m = y.size();
  const double lo = y.front(), span = y.back() - lo;
  // Scaled to [0, 1]: x_i = i / (m - 1), y_i' = (y_i - y_0) / (y_{m-1} - y_0);
  // the chord is y' = x, and the knee is the point farthest below it (x_i -
  // y_i' largest; the first of equals). With no point below (a straight or
  // concave curve), the largest distance.
  size_t knee = m - 1;
  double best_gap = 0;
  if (m > 2 && span > 0)
    for (size_t i = 1; i + 1 < m; ++i) {
      const double gap = double(i) / double(m - 1) - (y[i] - lo) / span;
      if (gap > best_gap + 1e-12) best_gap = gap, knee = i;
    }
  // eps must be positive: past a run of zeros (duplicate rows), the first
  // positive distance.
  while (knee + 1 < m && !(y[knee] > 0)) ++knee;
  return y[knee];
}

}  // namespace custseg::core
