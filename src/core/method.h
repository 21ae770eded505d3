// One clustering method of the pipeline: what runs after the shared preprocessing (scaler, PCA,
// the rows in canonical order) and before the shared steps (outlier thresholds, metrics, segment
// identity). Adding a method means one file implementing these two functions, its options in
// options.cpp, and its part of the model (model.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "errors.h"
#include "linalg.h"
#include "model.h"
#include "options.h"
#include "sparse_rows.h"

namespace custseg::core {

using Say = std::function<void(const std::string&)>;

// What a method leaves for the shared steps.
struct ClusterOutcome {
  std::vector<int> labels;      // per row of X: segment index 0..k-1, or -1 (noise)
  double inertia = std::numeric_limits<double>::quiet_NaN();  // sum of squared distances to own centroid
  double n_iter = std::numeric_limits<double>::quiet_NaN();
  double log_likelihood = std::numeric_limits<double>::quiet_NaN();  // gmm: total over the rows
  std::vector<double> row_log_likelihood;  // gmm: per row (for the outlier thresholds)
};

struct MethodContext {
  const RowMatrix& X;       // the clustered rows (k-means space), canonical order
  const FitOptions& opt;
  InterruptCheck check;
  const Say& say;
  const SparseRows* S = nullptr;  // k-means only: the rows as sparse rows instead (X is then empty)
};

// Fits the method with k segments (dbscan finds its own k) and fills the model's clustering part:
// m.k, m.centroids (k x P: the method's centres, or the mean of each segment's rows),
// m.segment_ids (0..k-1) and the method's own fields. Returns the per-row labels.
ClusterOutcome fit_method(const MethodContext& ctx, int k, Model& m);

// custseg_evaluate_k: the labels (and log-likelihood) of every k in [k_min, k_max], each as
// fit_method would give them; hierarchical builds one tree and cuts it at each k.
std::vector<ClusterOutcome> evaluate_method(const MethodContext& ctx, int k_min, int k_max,
                                            std::vector<Model>* models = nullptr);

}  // namespace custseg::core

namespace custseg::core {

// Shared steps after any method: the per-segment outlier thresholds at m.outlier_quantile's
// quantile (outliers.cpp): of the rows' distance to their centroid (k-means, hierarchical), of
// their log-likelihood from below (gmm); dbscan's outliers are its noise and store none.
void set_outlier_thresholds(const RowMatrix& X, const ClusterOutcome& outcome, double quantile, Model& m);
// The same for k-means on sparse rows.
void set_outlier_thresholds(const SparseRows& S, const ClusterOutcome& outcome, double quantile, Model& m);
// numpy.quantile's default (linear) interpolation of the values, by selection (O(n); reorders v);
// NaN for none.
double quantile_of(std::vector<double>& v, double q);
// Per segment, the mean of its rows (k x P); a segment without rows keeps NaN.
RowMatrix segment_means(const RowMatrix& X, const std::vector<int>& labels, int k);
// Sum of squared distances of the rows to their segment's centre (noise rows left out).
double inertia_of(const RowMatrix& X, const std::vector<int>& labels, const RowMatrix& centers);

}  // namespace custseg::core
