// Clustering quality metrics, computed as scikit-learn defines them.
#pragma once

#include <vector>

#include "errors.h"
#include "linalg.h"

namespace custseg::core {

// Mean silhouette coefficient with Euclidean distances: exact, O(n^2) time, O(n k) memory, in row
// blocks. NaN when fewer than 2 or more than n-1 labels are used.
double silhouette_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                        InterruptCheck check = nullptr);
double calinski_harabasz_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k);
double davies_bouldin_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k);

}  // namespace custseg::core
