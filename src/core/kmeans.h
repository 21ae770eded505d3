// k-means as scikit-learn runs it: greedy k-means++ seeding (2 + ln k local trials), Lloyd
// iterations stopping on unchanged labels or when the squared centre shift falls under
// tol * mean feature variance, empty clusters relocated to the farthest points, n_init restarts
// keeping the lowest inertia. One difference on many rows: from 20,000 rows on, the restarts run on
// an evenly spaced tenth of the rows (at least 10,000) and the two best are refined by Lloyd
// iterations on every row (the progress callback then reports the subsample's restarts).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "errors.h"
#include "linalg.h"
#include "sparse_rows.h"

namespace custseg::core {

struct KMeansOptions {
  int k = 3;
  int n_init = 10;
  int max_iter = 300;
  double tol = 1e-4;
  uint64_t seed = 0;
};

struct KMeansResult {
  RowMatrix centers;          // k x d
  std::vector<int> labels;    // n
  double inertia = 0;
  int n_iter = 0;
  int best_init = 0;
};

// Called after each restart with (restart, inertia, iterations); may be empty.
using KMeansProgress = std::function<void(int, double, int)>;

KMeansResult kmeans_fit(const Eigen::Ref<const RowMatrix>& X, const KMeansOptions& opt,
                        InterruptCheck check = nullptr, const KMeansProgress& progress = {});
// The same on sparse rows (sparse_rows.h), with the sparse kernels whatever the columns.
KMeansResult kmeans_fit(const SparseRows& S, const KMeansOptions& opt, InterruptCheck check = nullptr,
                        const KMeansProgress& progress = {});

// Index of the nearest centre of each row (ties to the lowest index) and the total inertia.
double kmeans_assign(const Eigen::Ref<const RowMatrix>& X, const Eigen::Ref<const RowMatrix>& centers,
                     std::vector<int>& labels);

// k centres seeded by the greedy k-means++ that kmeans_fit's restarts use, from an Rng(seed) of
// their own (rows of X; n >= k >= 1). Other methods (Gaussian mixtures) start from it.
RowMatrix kmeans_plusplus_centers(const Eigen::Ref<const RowMatrix>& X, int k, uint64_t seed);

}  // namespace custseg::core
