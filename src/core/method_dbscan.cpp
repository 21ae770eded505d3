// method "dbscan": density clusters (dbscan.h). The model keeps the clusters' core rows, which new
// rows are scored against; rows near no core row are noise.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "dbscan.h"
#include "method.h"
#include "method_internal.h"

namespace custseg::core {

ClusterOutcome fit_dbscan(const MethodContext& ctx, int /*k*/, Model& m) {
  const RowMatrix& X = ctx.X;
  const int min_samples = ctx.opt.min_samples;
  if (X.rows() < min_samples)
    throw Error(ErrorCode::kDataException,
                "dbscan needs at least min_samples = " + std::to_string(min_samples) + " rows, not " +
                    std::to_string(X.rows()),
                "lower \"min_samples\"");
  double eps = ctx.opt.eps;
  char buf[64];
  if (!(eps > 0)) {
    eps = knee_of(k_distances(X, min_samples, ctx.check));
    std::snprintf(buf, sizeof buf, "%.6g", eps);
    ctx.say(std::string("dbscan: eps = ") + buf + " from the knee of the " + std::to_string(min_samples) +
            "-distance curve");
    if (!(eps > 0)) {
      // Every row has min_samples duplicates: any positive radius keeps them together.
      eps = std::numeric_limits<double>::min();
    }
  }
  const DbscanResult r = dbscan_fit(X, eps, min_samples, ctx.check);
  std::snprintf(buf, sizeof buf, "%.6g", eps);
  if (r.n_clusters == 0)
    throw Error(ErrorCode::kDataException,
                std::string("dbscan found no cluster: every row is noise at eps = ") + buf + ", min_samples = " +
                    std::to_string(min_samples),
                "raise \"eps\" (custseg_kdistance shows the k-distance curve and suggests one) or lower \"min_samples\"");
  if (r.n_clusters > kMaxK)
    throw Error(ErrorCode::kProgramLimit,
                "dbscan found " + std::to_string(r.n_clusters) + " clusters, more than " + std::to_string(kMaxK),
                "raise \"eps\" or \"min_samples\"");
  const int k = r.n_clusters;
  size_t noise = 0;
  for (int l : r.labels) noise += l < 0;
  ctx.say("dbscan: " + std::to_string(k) + " clusters, " + std::to_string(noise) + " noise rows of " +
          std::to_string(X.rows()));
  m.k = k;
  m.method = Method::kDbscan;
  const RowMatrix centers = segment_means(X, r.labels, k);
  m.centroids.assign(centers.data(), centers.data() + centers.size());
  m.segment_ids.clear();
  for (int c = 0; c < k; ++c) m.segment_ids.push_back(c);
  m.eps = eps;
  m.min_samples = min_samples;
  // The core rows, each distinct one once (a sample repeats rows with several copies).
  const Eigen::Index p = X.cols();
  std::set<std::string> seen;
  m.core_points.clear();
  m.core_segment.clear();
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    if (!r.core[size_t(i)]) continue;
    std::string key(reinterpret_cast<const char*>(X.row(i).data()), sizeof(double) * size_t(p));
    if (!seen.insert(key).second) continue;
    m.core_points.insert(m.core_points.end(), X.row(i).data(), X.row(i).data() + p);
    m.core_segment.push_back(r.labels[size_t(i)]);
  }
  ClusterOutcome out;
  out.labels = r.labels;
  out.inertia = inertia_of(X, r.labels, centers);
  return out;
}

}  // namespace custseg::core
