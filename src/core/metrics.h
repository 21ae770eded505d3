// Clustering quality metrics, computed as scikit-learn defines them.
#pragma once

#include <limits>
#include <vector>

#include "errors.h"
#include "linalg.h"
#include "sparse_rows.h"

namespace custseg::core {

// Mean silhouette coefficient with Euclidean distances: exact, O(n^2) time, O(n k) memory, in row
// blocks. NaN when fewer than 2 or more than n-1 labels are used.
double silhouette_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                        InterruptCheck check = nullptr);
// The silhouette of rows given in a random order, on a prefix that grows only as needed: on the
// first `first` rows, then 2 first, 4 first, ... up to every row, stopping at the first stage
// whose mean has a standard error (the spread of its rows' silhouettes over the square root of
// their number) of at most `tolerance`. A stage extends the one before: each pair's distance is
// computed once, so stopping at m rows costs what the exact score on m rows costs, and running
// to the end costs what the exact score on every row costs. With first >= the rows it is the
// exact score. `rows` is the prefix the score was computed on; NaN as silhouette_score.
struct SilhouetteEstimate {
  double score = std::numeric_limits<double>::quiet_NaN();
  double standard_error = std::numeric_limits<double>::quiet_NaN();
  Eigen::Index rows = 0;
};
SilhouetteEstimate silhouette_growing(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                                      Eigen::Index first, double tolerance, InterruptCheck check = nullptr);
// The same on sparse rows (sparse_rows.h), without their dense form.
SilhouetteEstimate silhouette_growing(const SparseRows& R, const std::vector<int>& labels, int k, Eigen::Index first,
                                      double tolerance, InterruptCheck check = nullptr);
// The silhouettes of several labellings of the same rows (custseg_evaluate_k's k's) at once, each
// the one silhouette_growing gives for that labelling alone, bit for bit: a pair's distance is
// computed once for a group of labellings, over the cells their joint labels cut the rows into, and
// the sums of distances are integers in fixed point (a step of at most 2^-47 of the rows' extent at
// 10,000 rows), so their order does not change them. labels[m] has k = ks[m] clusters.
std::vector<SilhouetteEstimate> silhouettes_growing(const Eigen::Ref<const RowMatrix>& X,
                                                    const std::vector<const std::vector<int>*>& labels,
                                                    const std::vector<int>& ks, Eigen::Index first, double tolerance,
                                                    InterruptCheck check = nullptr);
std::vector<SilhouetteEstimate> silhouettes_growing(const SparseRows& R, const std::vector<const std::vector<int>*>& labels,
                                                    const std::vector<int>& ks, Eigen::Index first, double tolerance,
                                                    InterruptCheck check = nullptr);
// Calinski-Harabasz and Davies-Bouldin together, in one pass over the rows beside the means (each
// NaN when fewer than 2 or more than n-1 labels are used); the two functions below are its parts.
struct ClusterScores {
  double calinski_harabasz = std::numeric_limits<double>::quiet_NaN();
  double davies_bouldin = std::numeric_limits<double>::quiet_NaN();
};
ClusterScores cluster_scores(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k);
// The same on sparse rows (sparse_rows.h): distances differ in rounding only.
ClusterScores cluster_scores(const SparseRows& S, const std::vector<int>& labels, int k);
double calinski_harabasz_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k);
double davies_bouldin_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k);

}  // namespace custseg::core
