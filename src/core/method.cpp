// The clustering methods behind method.h, chosen by the "method" option.
#include "method.h"

#include "method_internal.h"

namespace custseg::core {

ClusterOutcome fit_method(const MethodContext& ctx, int k, Model& m) {
  switch (ctx.opt.method) {
    case Method::kKMeans: return fit_kmeans(ctx, k, m);
    case Method::kGmm: return fit_gmm(ctx, k, m);
    case Method::kHierarchical: return fit_hierarchical(ctx, k, m);
    case Method::kDbscan: return fit_dbscan(ctx, k, m);
  }
  throw Error(ErrorCode::kInternal, "unknown clustering method");
}

std::vector<ClusterOutcome> evaluate_method(const MethodContext& ctx, int k_min, int k_max,
                                            std::vector<Model>* models) {
  switch (ctx.opt.method) {
    case Method::kKMeans: return evaluate_kmeans(ctx, k_min, k_max, models);
    case Method::kGmm: return evaluate_gmm(ctx, k_min, k_max);
    case Method::kHierarchical: return evaluate_hierarchical(ctx, k_min, k_max);
    case Method::kDbscan:
      throw Error(ErrorCode::kInvalidArgument, "custseg_evaluate_k does not apply to method \"dbscan\"",
                  "dbscan finds its own number of segments: train it, and choose \"eps\" from the k-distance curve (see README)");
  }
  throw Error(ErrorCode::kInternal, "unknown clustering method");
}

}  // namespace custseg::core
