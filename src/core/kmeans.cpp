// k-means: greedy k-means++ seeding and Lloyd iterations, following scikit-learn's algorithm.
#include "kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "rng.h"

namespace custseg::core {

namespace {

double sqdist(const double* a, const double* b, Eigen::Index p) {
  double s = 0;
  for (Eigen::Index j = 0; j < p; ++j) {
    double t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

RowMatrix kmeans_plusplus(const Eigen::Ref<const RowMatrix>& X, int k, Rng& rng) {
  const Eigen::Index n = X.rows(), p = X.cols();
  const int trials = 2 + int(std::log(double(k)));
  RowMatrix centers(k, p);
  Eigen::Index first = Eigen::Index(rng.below(uint64_t(n)));
  centers.row(0) = X.row(first);
  const size_t un = static_cast<size_t>(n);
  std::vector<double> closest(un), cumsum(un), best_dist(un), cand_dist(un);
  double pot = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    closest[size_t(i)] = sqdist(X.row(i).data(), X.row(first).data(), p);
    pot += closest[size_t(i)];
  }
  for (int c = 1; c < k; ++c) {
    std::partial_sum(closest.begin(), closest.end(), cumsum.begin());
    double best_pot = std::numeric_limits<double>::infinity();
    Eigen::Index best_id = 0;
    for (int t = 0; t < trials; ++t) {
      double r = rng.uniform() * pot;
      Eigen::Index id = std::lower_bound(cumsum.begin(), cumsum.end(), r) - cumsum.begin();
      id = std::min(id, n - 1);
      double cand_pot = 0;
      for (Eigen::Index i = 0; i < n; ++i) {
        double d = std::min(closest[size_t(i)], sqdist(X.row(i).data(), X.row(id).data(), p));
        cand_dist[size_t(i)] = d;
        cand_pot += d;
      }
      if (cand_pot < best_pot) {
        best_pot = cand_pot;
        best_id = id;
        best_dist.swap(cand_dist);
      }
    }
    pot = best_pot;
    closest.swap(best_dist);
    best_dist.resize(un);
    centers.row(c) = X.row(best_id);
  }
  return centers;
}

// One Lloyd run from the given centres; returns (inertia, iterations).
std::pair<double, int> lloyd(const Eigen::Ref<const RowMatrix>& X, RowMatrix& centers, std::vector<int>& labels,
                             int max_iter, double tol, InterruptCheck check) {
  const Eigen::Index n = X.rows(), p = X.cols();
  const int k = int(centers.rows());
  std::vector<int> old(size_t(n), -1);
  RowMatrix sums(k, p);
  std::vector<double> weight(static_cast<size_t>(k));
  std::vector<double> dist(static_cast<size_t>(n));
  int it = 0;
  for (; it < max_iter; ++it) {
    if (check) check();
    // E-step and accumulation of the new centres.
    sums.setZero();
    std::fill(weight.begin(), weight.end(), 0.0);
    for (Eigen::Index i = 0; i < n; ++i) {
      const double* x = X.row(i).data();
      int best = 0;
      double bd = sqdist(x, centers.row(0).data(), p);
      for (int c = 1; c < k; ++c) {
        double d = sqdist(x, centers.row(c).data(), p);
        if (d < bd) {
          bd = d;
          best = c;
        }
      }
      labels[size_t(i)] = best;
      dist[size_t(i)] = bd;
      sums.row(best) += X.row(i);
      weight[size_t(best)] += 1;
    }
    // Empty clusters take the points farthest from their centres (scikit-learn's relocation).
    std::vector<int> empty;
    for (int c = 0; c < k; ++c)
      if (weight[size_t(c)] == 0) empty.push_back(c);
    if (!empty.empty()) {
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
        sums.row(from) -= X.row(far);
        weight[size_t(from)] -= 1;
        sums.row(empty[e]) = X.row(far);
        weight[size_t(empty[e])] = 1;
      }
    }
    RowMatrix next = centers;
    for (int c = 0; c < k; ++c)
      if (weight[size_t(c)] > 0) next.row(c) = sums.row(c) / weight[size_t(c)];
    double shift = (next - centers).squaredNorm();
    centers = next;
    if (labels == old) {
      ++it;
      break;
    }
    if (shift <= tol) {
      ++it;
      break;
    }
    old = labels;
  }
  // The final E-step makes the labels match the returned centres (a no-op after strict convergence).
  double inertia = kmeans_assign(X, centers, labels);
  return {inertia, it};
}

}  // namespace

double kmeans_assign(const Eigen::Ref<const RowMatrix>& X, const Eigen::Ref<const RowMatrix>& centers,
                     std::vector<int>& labels) {
  const Eigen::Index n = X.rows(), p = X.cols();
  const int k = int(centers.rows());
  labels.resize(size_t(n));
  double inertia = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    const double* x = X.row(i).data();
    int best = 0;
    double bd = sqdist(x, centers.row(0).data(), p);
    for (int c = 1; c < k; ++c) {
      double d = sqdist(x, centers.row(c).data(), p);
      if (d < bd) {
        bd = d;
        best = c;
      }
    }
    labels[size_t(i)] = best;
    inertia += bd;
  }
  return inertia;
}

KMeansResult kmeans_fit(const Eigen::Ref<const RowMatrix>& X, const KMeansOptions& opt, InterruptCheck check,
                        const KMeansProgress& progress) {
  const Eigen::Index n = X.rows();
  if (opt.k < 1) throw Error(ErrorCode::kInvalidArgument, "k must be at least 1");
  if (n < opt.k)
    throw Error(ErrorCode::kDataException,
                "k = " + std::to_string(opt.k) + " exceeds the " + std::to_string(n) + " rows to cluster",
                "lower \"k\" or train on more rows");
  // scikit-learn's tolerance: relative to the mean of the feature variances.
  double tol = 0;
  if (n > 0 && X.cols() > 0) {
    Eigen::RowVectorXd mu = X.colwise().mean();
    tol = ((X.rowwise() - mu).array().square().colwise().sum() / double(n)).mean() * opt.tol;
  }
  Rng rng(opt.seed);
  KMeansResult best;
  best.inertia = std::numeric_limits<double>::infinity();
  std::vector<int> labels(static_cast<size_t>(n));
  for (int init = 0; init < opt.n_init; ++init) {
    if (check) check();
    RowMatrix centers = kmeans_plusplus(X, opt.k, rng);
    auto [inertia, iters] = lloyd(X, centers, labels, opt.max_iter, tol, check);
    if (progress) progress(init, inertia, iters);
    if (inertia < best.inertia) {
      best.inertia = inertia;
      best.centers = centers;
      best.labels = labels;
      best.n_iter = iters;
      best.best_init = init;
    }
  }
  return best;
}

}  // namespace custseg::core
