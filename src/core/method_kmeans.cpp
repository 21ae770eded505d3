// k-means as a clustering method (method.h): kmeans.h's Lloyd iterations with n_init restarts on
// the clustered rows, its centroids the model's segments.
#include "method_internal.h"

#include "kmeans.h"
#include "state_internal.h"

namespace custseg::core {

namespace {

KMeansOptions kmeans_options(const FitOptions& opt, int k) {
  KMeansOptions ko;
  ko.k = k;
  ko.n_init = opt.n_init;
  ko.max_iter = opt.max_iter;
  ko.tol = opt.tol;
  ko.seed = opt.seed;
  return ko;
}

// The model's clustering part and the rows' labels, from one k-means result.
ClusterOutcome take_result(KMeansResult& km, int k, Model& m) {
  m.k = k;
  m.centroids.assign(km.centers.data(), km.centers.data() + km.centers.size());
  m.segment_ids.clear();
  for (int c = 0; c < k; ++c) m.segment_ids.push_back(c);
  ClusterOutcome out;
  out.labels = std::move(km.labels);
  out.inertia = km.inertia;
  out.n_iter = km.n_iter;
  return out;
}

}  // namespace

ClusterOutcome fit_kmeans(const MethodContext& ctx, int k, Model& m) {
  const KMeansProgress progress = [&](int init, double inertia, int iters) {
    ctx.say("k-means restart " + std::to_string(init + 1) + "/" + std::to_string(ctx.opt.n_init) + ": inertia " +
            fmt(inertia) + " after " + std::to_string(iters) + " iterations");
  };
  KMeansResult km = ctx.S ? kmeans_fit(*ctx.S, kmeans_options(ctx.opt, k), ctx.check, progress)
                          : kmeans_fit(ctx.X, kmeans_options(ctx.opt, k), ctx.check, progress);
  return take_result(km, k, m);
}

// models, when given, gets one entry per k (grown to that size if shorter) whose clustering part
// is set as fit_kmeans would set it; its other fields are left as the caller put them.
std::vector<ClusterOutcome> evaluate_kmeans(const MethodContext& ctx, int k_min, int k_max,
                                            std::vector<Model>* models) {
  const size_t count = size_t(k_max - k_min + 1);
  if (models && models->size() < count) models->resize(count);
  std::vector<ClusterOutcome> out;
  out.reserve(count);
  for (int k = k_min; k <= k_max; ++k) {
    if (ctx.check) ctx.check();
    KMeansResult km = ctx.S ? kmeans_fit(*ctx.S, kmeans_options(ctx.opt, k), ctx.check)
                            : kmeans_fit(ctx.X, kmeans_options(ctx.opt, k), ctx.check);
    Model scratch;
    out.push_back(take_result(km, k, models ? (*models)[size_t(k - k_min)] : scratch));
  }
  return out;
}

}  // namespace custseg::core
