// DBSCAN as scikit-learn's DBSCAN runs it (Euclidean; its tree algorithms, which "auto" picks for
// fewer than 16 columns): a row is a core row when at least min_samples rows (itself included) lie
// within eps, sum_j (x_j - y_j)^2 <= eps * eps; clusters are the connected core rows plus the
// non-core rows within eps of them (a border row joins the first cluster that reaches it in
// scikit-learn's order, so the labels are scikit-learn's, numbers included); the rest is noise (-1).
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

// O(n^2 d) time at worst, O(n) memory beyond X (neighbours are recomputed rather than stored).
// Throws kInvalidArgument for eps <= 0, min_samples < 1 or a value that is not finite.
DbscanResult dbscan_fit(const Eigen::Ref<const RowMatrix>& X, double eps, int min_samples,
                        InterruptCheck check = nullptr);

// The k-distance curve: each row's distance to its min_samples-th nearest row (the row itself
// counts as the first, as min_samples counts it), sorted ascending. The row whose value is v is a
// core row of dbscan_fit(X, v, min_samples). Throws kDataException for fewer rows than min_samples.
std::vector<double> k_distances(const Eigen::Ref<const RowMatrix>& X, int min_samples, InterruptCheck check = nullptr);

// The eps the curve suggests: its knee (the Kneedle rule on the sorted curve, as the elbow of
// custseg_evaluate_k: the point farthest below the chord from the first to the last point, both
// axes scaled to [0, 1]); positive unless every distance is 0.
double knee_of(const std::vector<double>& sorted_distances);

}  // namespace custseg::core
