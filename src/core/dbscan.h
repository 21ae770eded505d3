// DBSCAN as scikit-learn's DBSCAN runs it (Euclidean, algorithm "brute"): a row is a core row
// when at least min_samples rows (itself included) lie within eps; clusters are the connected
// core rows plus the non-core rows within eps of one of them (a border row joins the first
// cluster that reaches it in scikit-learn's order); the rest is noise (label -1).
#pragma once

#include <cstdint>
#include <vector>

#include "errors.h"
#include "linalg.h"

namespace custseg::core {

struct DbscanResult {
  std::vector<int> labels;     // n: cluster 0..n_clusters-1, or -1 for noise
  std::vector<char> core;      // n: 1 for a core row
  int n_clusters = 0;
};

// O(n^2 d) time, O(n) memory beyond X (neighbours are recomputed rather than stored).
DbscanResult dbscan_fit(const Eigen::Ref<const RowMatrix>& X, double eps, int min_samples,
                        InterruptCheck check = nullptr);

// The k-distance curve: each row's distance to its min_samples-th nearest row (the row itself
// counts as the first, as min_samples counts it), sorted ascending.
std::vector<double> k_distances(const Eigen::Ref<const RowMatrix>& X, int min_samples, InterruptCheck check = nullptr);

// The eps the curve suggests: its knee (the Kneedle rule on the sorted curve, as the elbow of
// custseg_evaluate_k: the point farthest below the chord from the first to the last point).
double knee_of(const std::vector<double>& sorted_distances);

}  // namespace custseg::core
