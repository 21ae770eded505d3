// The entry points of each clustering method, which method.cpp dispatches to by FitOptions::method.
// A method adds its pair here and its case to the switch in method.cpp.
#pragma once

#include <vector>

#include "method.h"

namespace custseg::core {

// method_kmeans.cpp
ClusterOutcome fit_kmeans(const MethodContext& ctx, int k, Model& m);
std::vector<ClusterOutcome> evaluate_kmeans(const MethodContext& ctx, int k_min, int k_max,
                                            std::vector<Model>* models);
// method_gmm.cpp
ClusterOutcome fit_gmm(const MethodContext& ctx, int k, Model& m);
std::vector<ClusterOutcome> evaluate_gmm(const MethodContext& ctx, int k_min, int k_max);
// method_hierarchical.cpp
ClusterOutcome fit_hierarchical(const MethodContext& ctx, int k, Model& m);
std::vector<ClusterOutcome> evaluate_hierarchical(const MethodContext& ctx, int k_min, int k_max);
// method_dbscan.cpp (custseg_evaluate_k does not apply)
ClusterOutcome fit_dbscan(const MethodContext& ctx, int k, Model& m);

}  // namespace custseg::core
