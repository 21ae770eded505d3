// The clustering methods behind method.h, chosen by the "method" option.
#include "method.h"

#include "method_internal.h"

namespace custseg::core {

namespace {

[[noreturn]] void not_built(Method method) {
  const char* name = method == Method::kGmm            ? "gmm"
                     : method == Method::kHierarchical ? "hierarchical"
                     : method == Method::kDbscan       ? "dbscan"
                                                       : "unknown";
  throw Error(ErrorCode::kInvalidArgument, std::string("method \"") + name + "\" is not built yet",
              "train with \"method\": \"kmeans\"");
}

}  // namespace

ClusterOutcome fit_method(const MethodContext& ctx, int k, Model& m) {
  switch (ctx.opt.method) {
    case Method::kKMeans: return fit_kmeans(ctx, k, m);
    case Method::kGmm:
    case Method::kHierarchical:
    case Method::kDbscan: break;
  }
  not_built(ctx.opt.method);
}

std::vector<ClusterOutcome> evaluate_method(const MethodContext& ctx, int k_min, int k_max,
                                            std::vector<Model>* models) {
  switch (ctx.opt.method) {
    case Method::kKMeans: return evaluate_kmeans(ctx, k_min, k_max, models);
    case Method::kGmm:
    case Method::kHierarchical:
    case Method::kDbscan: break;
  }
  not_built(ctx.opt.method);
}

}  // namespace custseg::core
