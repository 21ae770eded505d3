// Ward agglomerative clustering, as scikit-learn's AgglomerativeClustering(linkage="ward") builds
// it: a full merge tree over every row, in scikit-learn's children_ convention (nodes 0..n-1 are
// the rows, merge i creates node n + i), cut at k by undoing the k - 1 last merges.
#pragma once

#include <cstdint>
#include <vector>

#include "errors.h"
#include "linalg.h"

namespace custseg::core {

struct WardTree {
  int n = 0;                       // rows (leaves)
  std::vector<int> children;       // 2 * (n - 1): the two nodes merge i joins
  std::vector<double> distances;   // n - 1: the Ward distance of merge i, non-decreasing
};

// Memory the tree building needs for n rows of d values, in bytes (an upper bound, checked
// before any work; saturates at SIZE_MAX instead of overflowing).
size_t ward_memory_bytes(size_t n, size_t d);

// O(n^2 d) time (nearest-neighbour chain on cluster centroids and sizes), O(n d) memory. The
// merges are scipy.cluster.hierarchy.ward's, in its order and numbering (equal distances keep
// the order its chain found them in, so duplicate rows merge first, deterministically). Throws
// kDataException for no rows or a non-finite value; calls check every 256 chain steps.
WardTree ward_tree(const Eigen::Ref<const RowMatrix>& X, InterruptCheck check = nullptr);

// Labels 0..k-1 of every row when the tree is cut into k clusters (1 <= k <= n), numbered as
// scikit-learn's _hc_cut numbers them.
std::vector<int> ward_cut(const WardTree& tree, int k);

}  // namespace custseg::core
