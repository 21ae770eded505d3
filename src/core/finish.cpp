// The end of every fit, whatever the method: the method run on the prepared rows (method.h), then
// the metrics of its segments (silhouette, Calinski-Harabasz, Davies-Bouldin) into the model; and
// custseg_evaluate_k, the same for a range of k with the elbow and the chosen k.
#include "state_internal.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_set>

#include "dbscan.h"
#include "gmm.h"
#include "method.h"
#include "metrics.h"
#include "rng.h"

namespace custseg::core {

namespace {

[[noreturn]] void too_few_distinct(size_t distinct, int k) {
  throw Error(ErrorCode::kDataException,
              "only " + std::to_string(distinct) + (distinct == 1 ? " distinct row" : " distinct rows") + " for k = " +
                  std::to_string(k),
              "lower \"k\" or train on more varied rows");
}

// k distinct points are needed for k clusters.
void require_distinct(const RowMatrix& X, int k) {
  std::unordered_set<std::string> distinct;
  for (Eigen::Index r = 0; r < X.rows() && int(distinct.size()) < k; ++r)
    distinct.emplace(reinterpret_cast<const char*>(X.row(r).data()), sizeof(double) * size_t(X.cols()));
  if (int(distinct.size()) < k)
    too_few_distinct(distinct.size(), k);
}

void require_distinct(const SparseRows& S, int k) {
  // Two rows are equal when their dense columns and their entries are.
  std::unordered_set<std::string> distinct;
  std::string key;
  for (Eigen::Index r = 0; r < S.n && int(distinct.size()) < k; ++r) {
    key.assign(reinterpret_cast<const char*>(S.D.row(r).data()), sizeof(double) * size_t(S.D.cols()));
    for (Eigen::Index q = S.ptr[size_t(r)]; q < S.ptr[size_t(r) + 1]; ++q) {
      key.append(reinterpret_cast<const char*>(&S.col[size_t(q)]), sizeof(int));
      key.append(reinterpret_cast<const char*>(&S.val[size_t(q)]), sizeof(double));
    }
    distinct.insert(key);
  }
  if (int(distinct.size()) < k) too_few_distinct(distinct.size(), k);
}

// The silhouette's sample of `rows` rows: their indices (the first kSilhouetteSampleSize of a
// seeded shuffle), none when every row is scored exactly.
std::vector<Eigen::Index> silhouette_rows(Eigen::Index rows, uint64_t seed) {
  if (rows <= kSilhouetteSampleSize) return {};
  std::vector<Eigen::Index> idx(static_cast<size_t>(rows));
  std::iota(idx.begin(), idx.end(), 0);
  Rng r(seed ^ 0x517E77E5ULL);
  for (Eigen::Index i = 0; i < kSilhouetteSampleSize; ++i)
    std::swap(idx[size_t(i)], idx[size_t(i + Eigen::Index(r.below(uint64_t(rows - i))))]);
  idx.resize(size_t(kSilhouetteSampleSize));
  return idx;
}

std::vector<int> labels_of(const std::vector<int>& labels, const std::vector<Eigen::Index>& idx) {
  std::vector<int> sl(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) sl[i] = labels[size_t(idx[i])];
  return sl;
}

// Silhouette is O(n^2): exact on every row up to kSilhouetteSampleSize; above that, estimated on a
// uniform sample drawn with the seed, in stages of kSilhouetteFirstRows, twice that, ... up to
// kSilhouetteSampleSize rows, stopping once the estimate's standard error is at most
// kSilhouetteTolerance (a stage extends the one before, so the stages cost no more than the last
// one alone). The silhouettes of several labellings of X (custseg_evaluate_k's k's) are computed
// together, each the one it gets alone (silhouettes_growing). X: a matrix or sparse rows.
template <class Rows>
std::vector<SilhouetteEstimate> silhouettes_of(const Rows& X, const std::vector<const std::vector<int>*>& labels,
                                               const std::vector<int>& ks, uint64_t seed, InterruptCheck check) {
  const Eigen::Index n = rows_in(X);
  const std::vector<Eigen::Index> idx = silhouette_rows(n, seed);
  if (idx.empty()) return silhouettes_growing(X, labels, ks, n, -1, check);  // exact
  std::vector<std::vector<int>> sampled;
  sampled.reserve(labels.size());
  for (const std::vector<int>* l : labels) sampled.push_back(labels_of(*l, idx));
  std::vector<const std::vector<int>*> of;
  for (const std::vector<int>& l : sampled) of.push_back(&l);
  return silhouettes_growing(select_rows(X, idx), of, ks, kSilhouetteFirstRows, kSilhouetteTolerance, check);
}

// The same for one labelling: sets info.silhouette and info.silhouette_rows.
template <class Rows>
void silhouette_of(const Rows& X, const std::vector<int>& labels, int k, uint64_t seed, InterruptCheck check,
                   TrainInfo& info) {
  const SilhouetteEstimate e = silhouettes_of(X, {&labels}, {k}, seed, check)[0];
  info.silhouette = e.score;
  info.silhouette_rows = double(e.rows);
}

// The metrics of a clustering on the rows it labelled (label >= 0; noise is left out), in the
// metrics' space M (a matrix or sparse rows): info.silhouette, silhouette_rows, calinski_harabasz
// and davies_bouldin.
template <class Rows>
void score_segments(const Rows& M, const std::vector<int>& labels, int k, uint64_t seed, InterruptCheck check,
                    TrainInfo& info) {
  const auto scores = [&](const Rows& S, const std::vector<int>& sl) {
    silhouette_of(S, sl, k, seed, check, info);
    const ClusterScores cs = cluster_scores(S, sl, k);
    info.calinski_harabasz = cs.calinski_harabasz;
    info.davies_bouldin = cs.davies_bouldin;
  };
  if (std::all_of(labels.begin(), labels.end(), [](int l) { return l >= 0; })) return scores(M, labels);
  std::vector<Eigen::Index> kept;
  for (size_t r = 0; r < labels.size(); ++r)
    if (labels[r] >= 0) kept.push_back(Eigen::Index(r));
  if (!kept.empty()) return scores(select_rows(M, kept), labels_of(labels, kept));
  info.silhouette = info.calinski_harabasz = info.davies_bouldin = std::numeric_limits<double>::quiet_NaN();
  info.silhouette_rows = 0;
}

// score_segments for several clusterings of the same rows (custseg_evaluate_k's k's): the same
// numbers, with the silhouettes of every clustering computed together (silhouettes_growing).
template <class Rows>
std::vector<TrainInfo> score_segments_each(const Rows& M, const std::vector<const std::vector<int>*>& labels,
                                           const std::vector<int>& ks, uint64_t seed, InterruptCheck check) {
  std::vector<TrainInfo> out(labels.size());
  const bool noise = std::any_of(labels.begin(), labels.end(), [](const std::vector<int>* l) {
    return std::any_of(l->begin(), l->end(), [](int v) { return v < 0; });
  });
  if (noise) {
    for (size_t m = 0; m < labels.size(); ++m) score_segments(M, *labels[m], ks[m], seed, check, out[m]);
    return out;
  }
  const std::vector<SilhouetteEstimate> sil = silhouettes_of(M, labels, ks, seed, check);
  for (size_t m = 0; m < labels.size(); ++m) {
    out[m].silhouette = sil[m].score;
    out[m].silhouette_rows = double(sil[m].rows);
    const ClusterScores cs = cluster_scores(M, *labels[m], ks[m]);
    out[m].calinski_harabasz = cs.calinski_harabasz;
    out[m].davies_bouldin = cs.davies_bouldin;
  }
  return out;
}

// The method's name in progress lines.
const char* method_title(Method method) {
  switch (method) {
    case Method::kKMeans: return "k-means";
    case Method::kGmm: return "gmm";
    case Method::kHierarchical: return "hierarchical";
    case Method::kDbscan: return "dbscan";
  }
  return "?";
}

}  // namespace

Model FitParts::finish(InterruptCheck check, const std::function<void(const std::string&)>& notice) {
  const FitOptions opt = parse_fit_options(options_json);
  const Say say = [&](const std::string& s) {
    if (opt.verbose && notice) notice(s);
  };
  Prepared prep = prepare(opt, opt.k > 0, say, opt.method == Method::kKMeans);
  Model& m = prep.model;
  if (opt.k > 0) {
    const SparseRows* R = prep.S.n ? &prep.S : nullptr;  // k-means without PCA on one-hot columns
    const std::string title = method_title(opt.method);
    const MethodContext ctx{prep.X, opt, check, say, R};
    // X: the clustered rows, dense or sparse; M: the metrics' space (metric_space).
    const auto cluster = [&](const auto& X, const auto& M) {
      const Eigen::Index rows = rows_in(X);
      require_distinct(X, opt.k);
      say(title + ": k = " + std::to_string(opt.k) + " on " + std::to_string(rows) + " rows" +
          (uint64_t(rows) < used ? " (uniform sample)" : ""));
      m.method = opt.method;
      const ClusterOutcome fit = fit_method(ctx, opt.k, m);
      set_outlier_thresholds(X, fit, opt.outlier_quantile, m);
      m.info.rows_clustered = double(rows);
      m.info.inertia = fit.inertia;
      m.info.n_iter = fit.n_iter;
      score_segments(M, fit.labels, m.k, opt.seed, check, m.info);
      say(title + ": inertia " + fmt(fit.inertia) + ", silhouette " + fmt(m.info.silhouette));
    };
    if (R)
      cluster(*R, *R);
    else
      cluster(prep.X, prep.Xf.rows() ? prep.Xf : prep.X);
  } else {
    m.info.rows_clustered = 0;
  }
  m.options_json = json::write(options_to_json(opt));
  m.validate();
  return m;
}

// ---- choosing k ----

std::vector<KEvaluation> FitParts::evaluate_k(int k_min, int k_max, InterruptCheck check,
                                              const std::function<void(const std::string&)>& notice) {
  const FitOptions opt = parse_fit_options(options_json);
  if (k_min < 2 || k_max < k_min || k_max > kMaxK)
    throw Error(ErrorCode::kInvalidArgument,
                "k range " + std::to_string(k_min) + ".." + std::to_string(k_max) + " is invalid",
                "pass 2 <= k_min <= k_max <= " + std::to_string(kMaxK));
  const Say say = [&](const std::string& s) {
    if (opt.verbose && notice) notice(s);
  };
  Prepared prep = prepare(opt, true, say, opt.method == Method::kKMeans);
  const SparseRows* R = prep.S.n ? &prep.S : nullptr;  // k-means without PCA on one-hot columns
  const MethodContext ctx{prep.X, opt, check, say, R};
  double total_ss = 0;
  std::vector<KEvaluation> out;
  // X: the clustered rows, dense or sparse; M: the metrics' space (metric_space).
  const auto evaluate = [&](const auto& X, const auto& M) {
    require_distinct(X, k_max);
    // The inertia of one cluster (the total sum of squares) anchors the elbow's chord.
    total_ss = total_squares(X);
    std::vector<ClusterOutcome> fits = evaluate_method(ctx, k_min, k_max);
    std::vector<const std::vector<int>*> labels;
    std::vector<int> ks;
    for (int k = k_min; k <= k_max; ++k) {
      labels.push_back(&fits[size_t(k - k_min)].labels);
      ks.push_back(k);
    }
    const std::vector<TrainInfo> infos = score_segments_each(M, labels, ks, opt.seed, check);
    for (int k = k_min; k <= k_max; ++k) {
      ClusterOutcome& fit = fits[size_t(k - k_min)];
      KEvaluation e;
      e.k = k;
      e.inertia = fit.inertia;
      e.n_iter = fit.n_iter;
      e.rows = double(rows_in(X));
      const TrainInfo& info = infos[size_t(k - k_min)];
      e.silhouette = info.silhouette;
      e.silhouette_rows = info.silhouette_rows;
      e.calinski_harabasz = info.calinski_harabasz;
      e.davies_bouldin = info.davies_bouldin;
      if (opt.method == Method::kGmm) {  // gmm's rows are dense
        const int p = int(prep.X.cols());
        e.bic = gmm_bic(fit.log_likelihood, k, p, opt.covariance_diag, double(prep.X.rows()));
        e.aic = gmm_aic(fit.log_likelihood, k, p, opt.covariance_diag);
      }
      std::vector<int>().swap(fit.labels);  // scored: the labels are not needed again
      say("k = " + std::to_string(k) + ": inertia " + fmt(e.inertia) + ", silhouette " + fmt(e.silhouette));
      out.push_back(e);
    }
  };
  if (R)
    evaluate(*R, *R);
  else
    evaluate(prep.X, prep.Xf.rows() ? prep.Xf : prep.X);
  // Elbow (the Kneedle rule): scale k and inertia over 1..k_max to [0, 1], with k = 1 at the total
  // sum of squares; the elbow is the k farthest below the chord from k = 1 to k = k_max.
  const double lo = out.back().inertia, span = total_ss - lo;
  int elbow = -1;
  double best_gap = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double x = double(out[i].k - 1) / double(k_max - 1);
    const double y = span > 0 ? (out[i].inertia - lo) / span : 0;
    const double gap = (1 - x) - y;
    if (gap > best_gap + 1e-12) best_gap = gap, elbow = int(i);
  }
  if (elbow >= 0) out[size_t(elbow)].is_elbow = true;
  // Chosen: the highest silhouette; among k within kSilhouetteTie of it, the one nearest the elbow
  // (then the smaller k).
  double best = -2;
  for (const auto& e : out)
    if (std::isfinite(e.silhouette)) best = std::max(best, e.silhouette);
  int chosen = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i].silhouette) || out[i].silhouette < best - kSilhouetteTie) continue;
    if (chosen < 0) {
      chosen = int(i);
      continue;
    }
    if (elbow >= 0 && std::abs(int(i) - elbow) < std::abs(chosen - elbow)) chosen = int(i);
  }
  if (chosen < 0) chosen = elbow >= 0 ? elbow : 0;
  if (opt.method == Method::kGmm) {
    // A mixture's k is chosen by the lowest BIC, the criterion its likelihood is made for.
    chosen = 0;
    for (size_t i = 1; i < out.size(); ++i)
      if (out[i].bic < out[size_t(chosen)].bic) chosen = int(i);
  }
  out[size_t(chosen)].chosen = true;
  return out;
}

std::vector<double> FitParts::k_distance_curve(int min_samples, double* knee, InterruptCheck check) {
  const FitOptions opt = parse_fit_options(options_json);
  if (min_samples < 1 || min_samples > 1000)
    throw Error(ErrorCode::kInvalidArgument, "min_samples must be between 1 and 1000");
  Prepared prep = prepare(opt, true, [](const std::string&) {});
  if (prep.X.rows() < min_samples)
    throw Error(ErrorCode::kDataException,
                "the k-distance curve needs at least min_samples = " + std::to_string(min_samples) + " rows");
  std::vector<double> curve = k_distances(prep.X, min_samples, check);
  *knee = knee_of(curve);
  return curve;
}

}  // namespace custseg::core
