// method "gmm": a Gaussian mixture fitted by EM (gmm.h); a row's segment is its most probable
// component.
#include <cmath>
#include <cstdio>

#include "gmm.h"
#include "method.h"
#include "method_internal.h"

namespace custseg::core {

namespace {

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

GmmOptions gmm_options(const MethodContext& ctx, int k, RowMatrix& means_init) {
  const FitOptions& o = ctx.opt;
  GmmOptions g;
  g.k = k;
  g.diag = o.covariance_diag;
  g.n_init = o.n_init;
  g.max_iter = o.max_iter;
  g.tol = o.tol;
  g.reg_covar = o.reg_covar;
  g.seed = o.seed;
  if (!o.means_init.empty()) {
    const Eigen::Index p = ctx.X.cols();
    const size_t width = o.means_init.size() / size_t(o.means_init_rows);
    if (o.means_init_rows != k || Eigen::Index(width) != p)
      throw Error(ErrorCode::kInvalidArgument,
                  "option \"means_init\" must hold k = " + std::to_string(k) + " rows of " + std::to_string(p) +
                      " values (the clustering space), not " + std::to_string(o.means_init_rows) + " of " +
                      std::to_string(width),
                  "the clustering space is the PCA components, or the scaled features without PCA");
    means_init = Eigen::Map<const RowMatrix>(o.means_init.data(), k, p);
    g.means_init = &means_init;
  }
  return g;
}

ClusterOutcome outcome_of(const MethodContext& ctx, const GmmResult& r, bool diag) {
  ClusterOutcome out;
  out.labels = r.labels;
  out.n_iter = r.n_iter;
  out.inertia = inertia_of(ctx.X, r.labels, r.means);
  GmmScorer scorer(int(r.means.rows()), int(r.means.cols()), diag, r.means.data(), r.weights.data(),
                   r.covariances.data());
  std::vector<double> log_prob(size_t(r.means.rows()));
  out.row_log_likelihood.resize(size_t(ctx.X.rows()));
  double total = 0;
  for (Eigen::Index i = 0; i < ctx.X.rows(); ++i) {
    const double ll = scorer.score(ctx.X.row(i).data(), log_prob.data(), nullptr);
    out.row_log_likelihood[size_t(i)] = ll;
    total += ll;
  }
  out.log_likelihood = total;
  return out;
}

}  // namespace

ClusterOutcome fit_gmm(const MethodContext& ctx, int k, Model& m) {
  RowMatrix means_init;
  const GmmOptions g = gmm_options(ctx, k, means_init);
  ctx.say("gmm: k = " + std::to_string(k) + ", covariance " + (g.diag ? "diag" : "full") + ", on " +
          std::to_string(ctx.X.rows()) + " rows");
  const GmmResult r = gmm_fit(ctx.X, g, ctx.check);
  ctx.say("gmm: log-likelihood " + fmt(r.log_likelihood) + " after " + std::to_string(r.n_iter) + " iterations" +
          (r.converged ? "" : " (not converged: raise max_iter or tol)"));
  m.k = k;
  m.method = Method::kGmm;
  m.centroids.assign(r.means.data(), r.means.data() + r.means.size());
  m.segment_ids.clear();
  for (int c = 0; c < k; ++c) m.segment_ids.push_back(c);
  m.covariance_diag = g.diag;
  m.weights.assign(r.weights.data(), r.weights.data() + r.weights.size());
  m.covariances.assign(r.covariances.data(), r.covariances.data() + r.covariances.size());
  ClusterOutcome out = outcome_of(ctx, r, g.diag);
  m.log_likelihood = out.log_likelihood;
  return out;
}

std::vector<ClusterOutcome> evaluate_gmm(const MethodContext& ctx, int k_min, int k_max) {
  std::vector<ClusterOutcome> out;
  for (int k = k_min; k <= k_max; ++k) {
    if (ctx.check) ctx.check();
    // means_init has one k: evaluate_k starts every k from k-means++.
    FitOptions no_init = ctx.opt;
    no_init.means_init.clear();
    no_init.means_init_rows = 0;
    const MethodContext each{ctx.X, no_init, ctx.check, ctx.say};
    RowMatrix unused;
    GmmOptions g = gmm_options(each, k, unused);
    out.push_back(outcome_of(ctx, gmm_fit(ctx.X, g, ctx.check), g.diag));
  }
  return out;
}

}  // namespace custseg::core
