// The preprocessing every model shares, from a decoded state: the encoded features, the scaler, the
// PCA, and the rows the clustering method runs on (drawn from the sample, transformed, in canonical
// order).
#include "state_internal.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "pca.h"
#include "projection.h"

namespace custseg::core {

namespace {

bool bytes_less(const std::string& a, const std::string& b) {
  int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c < 0 || (c == 0 && a.size() < b.size());
}

// Puts row order[r] of X at row r. Narrow rows (the k-means space of a PCA model) are gathered
// into a copy: its reads are independent, while following the permutation's cycles waits for each
// row in turn (a cache miss per row, one after another). Wider rows are moved in place, cycle by
// cycle through one spare row: the same rows without a second matrix (a wide sample without PCA is
// hundreds of MB).
void permute_rows(RowMatrix& X, const std::vector<size_t>& order) {
  const size_t n = size_t(X.rows());
  if (X.cols() <= 16) {
    RowMatrix out(X.rows(), X.cols());
    const size_t w = size_t(X.cols());
    const double* from = X.data();
    double* to = out.data();
    for (size_t r = 0; r < n; ++r)
      for (size_t j = 0; j < w; ++j) to[r * w + j] = from[order[r] * w + j];
    X.swap(out);
    return;
  }
  std::vector<char> done(n, 0);
  Eigen::RowVectorXd spare(X.cols());
  for (size_t s = 0; s < n; ++s) {
    if (done[s] || order[s] == s) continue;
    spare = X.row(Eigen::Index(s));
    size_t at = s;
    for (;;) {
      done[at] = 1;
      const size_t from = order[at];
      if (from == s) {
        X.row(Eigen::Index(at)) = spare;
        break;
      }
      X.row(Eigen::Index(at)) = X.row(Eigen::Index(from));
      at = from;
    }
  }
}

}  // namespace

FitParts::Prepared FitParts::prepare(const FitOptions& opt, bool need_rows, const std::function<void(const std::string&)>& say,
                                     bool sparse_ok) {
  fold_pending();
  SampleDraw draw;
  if (need_rows || dedupe) draw = draw_sample(*this, opt.seed);
  if ((need_rows || dedupe) && opt.sample_threshold != UINT64_MAX && !dedupe &&
      int64_t(draw.entry.size()) < sample_size) {
    // An imposed threshold is exact when sample_size distinct rows lie under it (the bottom k of
    // every row is then under it too), or when it kept every row (counted before the draw, which
    // takes sample_size of the kept rows when they repeat).
    if (draw.kept < used)
      throw Error(ErrorCode::kSampleRetry, "the sample threshold kept fewer rows than the sample holds",
                  "custseg_train runs again without it");
  }
  if (dedupe) {
    // The moments of the distinct rows, which the sample holds in full, in canonical order.
    used = draw.rows;
    moments = Moments(moments.dim());
    const size_t ew = size_t(entry_width());
    constexpr size_t kBlock = 4096;
    std::vector<double> block;
    for (size_t i = 0; i < draw.entry.size(); i += kBlock) {
      const size_t m = std::min(kBlock, draw.entry.size() - i);
      block.resize(m * size_t(row_width()));
      for (size_t r = 0; r < m; ++r)
        std::memcpy(block.data() + r * size_t(row_width()), sample_data() + draw.entry[i + r] * ew + kExtra,
                    sizeof(double) * size_t(row_width()));
      moments.add_raw(block.data(), m, size_t(row_width()), row_width(), n_numeric);
    }
  }
  if (used == 0)
    throw Error(ErrorCode::kDataException, "no usable rows to train on",
                "all " + std::to_string(seen) + " rows had every feature NULL");
  const int w = row_width(), nc = n_categorical();
  const double n = double(used);
  say("custseg_fit: " + std::to_string(seen) + " rows scanned, " + std::to_string(skipped) + " skipped, " +
      (dedupe ? std::to_string(used) + " distinct, " : std::string()) + std::to_string(levels.size()) +
      " categories in " + std::to_string(nc) + " categorical columns");
  if (!names.empty()) {
    std::string list;
    for (size_t j = 0; j < names.size(); ++j) list += (j ? ", " : "") + names[j];
    say("custseg_fit: features " + list);
  }
  // The PCA and k-means stages work on the vectors they are given, unscaled.
  const bool standardize = opt.stage == Stage::kFit || opt.stage == Stage::kScaler;
  // Encoding order: numeric columns, then each categorical column's levels in sorted byte order.
  std::vector<int> perm;  // encoded column -> moment column
  std::vector<int> id_to_col(levels.size());
  Model m;
  m.scale_categoricals = opt.scale_categoricals;
  // The rows arrived transformed (see transform.h); the model replays the same transforms.
  const std::vector<Transform> transforms = resolve_transforms(opt.transforms, names, n_numeric);
  for (int j = 0; j < n_numeric; ++j) {
    perm.push_back(j);
    Feature f;
    f.name = names[size_t(j)];
    f.transform = transforms[size_t(j)];
    m.features.push_back(f);
  }
  for (int c = 0; c < nc; ++c) {
    std::vector<int> ids;
    for (size_t i = 0; i < levels.size(); ++i)
      if (level_col[i] == c) ids.push_back(int(i));
    std::sort(ids.begin(), ids.end(), [&](int a, int b) { return bytes_less(levels[size_t(a)], levels[size_t(b)]); });
    Feature f;
    f.name = names[size_t(n_numeric + c)];
    f.kind = Kind::kCategorical;
    if (ids.empty())
      throw Error(ErrorCode::kDataException, "column \"" + f.name + "\" has only NULL values",
                  "exclude it with {\"exclude\": [\"" + f.name + "\"]}");
    for (int id : ids) {
      id_to_col[size_t(id)] = int(perm.size());
      perm.push_back(n_numeric + id);
      f.levels.push_back(levels[size_t(id)]);
    }
    m.features.push_back(f);
  }
  const int d = int(perm.size());
  Moments mom = moments;
  mom.permute(perm);
  Vector mean = mom.mean(), var = mom.variance(), present = mom.present();
  m.mean.assign(size_t(d), 0.0);
  m.scale.assign(size_t(d), 1.0);
  const double eps = std::numeric_limits<double>::epsilon();
  for (int j = 0; j < d; ++j) {
    if (j < n_numeric && present(j) == 0)
      throw Error(ErrorCode::kDataException, "column \"" + names[size_t(j)] + "\" has only NULL values",
                  "exclude it with {\"exclude\": [\"" + names[size_t(j)] + "\"]}");
    // Values whose squares overflow a double leave no finite variance to standardize or project by.
    if (j < n_numeric && (!std::isfinite(mean(j)) || !std::isfinite(var(j))))
      throw Error(ErrorCode::kOutOfRange, "column \"" + names[size_t(j)] + "\" has values too large to standardize",
                  "its variance overflows a double; divide it by a power of ten in a view");
    if (j < n_numeric) m.features[size_t(j)].impute = mean(j);
    if (!standardize || (j >= n_numeric && !opt.scale_categoricals)) continue;  // one-hot columns stay 0/1
    m.mean[size_t(j)] = mean(j);
    // scikit-learn's constant-feature test: such a column keeps scale 1.
    const bool constant = var(j) <= n * eps * var(j) + (n * mean(j) * eps) * (n * mean(j) * eps);
    m.scale[size_t(j)] = constant ? 1.0 : std::sqrt(var(j));
  }
  Eigen::Map<const Vector> mv(m.mean.data(), d), sv(m.scale.data(), d);
  Vector pca_mean;
  if (opt.has_pca()) {
    if (used < 2) throw Error(ErrorCode::kDataException, "PCA needs at least 2 rows", "train without PCA or on more rows");
    Eigen::MatrixXd cov = mom.covariance();
    Eigen::MatrixXd scov = cov.array() / (sv * sv.transpose()).array();
    PcaResult pr = pca_from_covariance(scov, opt.n_components, opt.variance_fraction);
    m.n_components = int(pr.components.rows());
    pca_mean = (mean - mv).cwiseQuotient(sv);
    m.pca_mean.assign(pca_mean.data(), pca_mean.data() + d);
    m.components.assign(pr.components.data(), pr.components.data() + pr.components.size());
    m.explained_variance.assign(pr.explained_variance.data(), pr.explained_variance.data() + m.n_components);
    m.explained_variance_ratio.assign(pr.explained_variance_ratio.data(),
                                      pr.explained_variance_ratio.data() + m.n_components);
    say("PCA: " + std::to_string(m.n_components) + " components explain " +
        fmt(100 * pr.explained_variance_ratio.sum()) + "% of the variance");
  }
  m.info.rows_seen = double(seen);
  m.info.rows_skipped = double(skipped);
  m.info.rows_used = n;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  m.info.inertia = m.info.n_iter = m.info.silhouette = m.info.silhouette_rows = nan;
  m.info.calinski_harabasz = m.info.davies_bouldin = nan;
  Prepared out;
  if (need_rows) {
    // The rows k-means sees: every row up to sample_size, else a uniform sample (draw_sample).
    const Eigen::Index rows = Eigen::Index(draw.rows);
    // Each row is encoded, scaled and projected on its own, in a fixed order of operations, so its
    // coordinates do not depend on where in the sample it sits (nor on a plan's row order).
    const bool pca = opt.has_pca();
    const Eigen::Index q = pca ? Eigen::Index(m.n_components) : d;
    // Why in storage order: the canonical order below sorts the rows anyway, and reading the
    // entries in hash order would be a cache miss per row.
    const size_t ew = size_t(entry_width());
    std::vector<uint64_t> take(size_t(sample_entries()), 0);
    for (size_t i = 0; i < draw.entry.size(); ++i) take[size_t(draw.entry[i])] = draw.copies[i];
    draw = SampleDraw();
    // Without PCA, an encoding of mostly one-hot columns: the rows as sparse rows, without their
    // dense form (sparse_rows.h). Each row's nonzero values, in column order (numeric columns, then
    // each categorical column's active level): the values of the dense row below.
    const auto row_entries = [&](const double* row, std::vector<std::pair<int, double>>& at) {
      at.clear();
      for (int j = 0; j < n_numeric; ++j) {
        const double v = ((std::isnan(row[j]) ? mean(j) : row[j]) - mv(j)) / sv(j);
        if (v != 0) at.emplace_back(j, v);
      }
      for (int c = n_numeric; c < w; ++c) {
        if (row[c] < 0) continue;
        const int j = id_to_col[size_t(row[c])];
        const double v = (1.0 - mv(j)) / sv(j);
        if (v != 0) at.emplace_back(j, v);
      }
    };
    const auto to_sparse = [&](SparseRows& S) {
      if (pca || !sparse_ok) return false;
      // An inactive level must encode as 0 (categorical columns not standardized).
      for (int j = n_numeric; j < d; ++j)
        if ((0.0 - mv(j)) / sv(j) != 0) return false;
      std::vector<Eigen::Index> nz(size_t(d), 0);
      std::vector<std::pair<int, double>> at;
      for (size_t e = 0; e < take.size(); ++e) {
        if (take[e] == 0) continue;
        row_entries(sample_data() + e * ew + kExtra, at);
        for (const auto& [j, v] : at) nz[size_t(j)] += Eigen::Index(take[e]);
      }
      if (!sparse_layout(nz, rows, S)) return false;
      std::vector<int> dense_at(size_t(d), -1);
      for (size_t t = 0; t < S.dense.size(); ++t) dense_at[size_t(S.dense[t])] = int(t);
      S.D = RowMatrix::Zero(rows, Eigen::Index(S.dense.size()));
      S.ptr.assign(size_t(rows) + 1, 0);
      Eigen::Index r = 0;
      for (size_t e = 0; e < take.size(); ++e) {
        if (take[e] == 0) continue;
        row_entries(sample_data() + e * ew + kExtra, at);
        for (uint64_t copy = 0; copy < take[e]; ++copy, ++r) {
          for (const auto& [j, v] : at) {
            if (dense_at[size_t(j)] >= 0) {
              S.D(r, dense_at[size_t(j)]) = v;
            } else {
              S.col.push_back(j);
              S.val.push_back(v);
            }
          }
          S.ptr[size_t(r) + 1] = Eigen::Index(S.col.size());
        }
      }
      return true;
    };
    if (to_sparse(out.S)) {
      std::vector<double>().swap(sample);
      const std::vector<size_t> order = canonical_order(out.S);
      out.S = select_rows(out.S, std::vector<Eigen::Index>(order.begin(), order.end()));
      out.model = std::move(m);
      return out;
    }
    RowMatrix Xa(rows, q);
    RowMatrix Xfa(pca && opt.metrics_in_features ? rows : 0, d);
    Vector z(d);
    // The projection of a row as ModelView::transform computes it when scoring, operation for
    // operation (so a training row's coordinates are the ones it scores with): the scaling folded
    // into the components (projection.h). A row costs its numeric columns and its levels, not
    // every encoded column.
    FoldedProjection fold;
    if (pca) fold.build(m.components.data(), m.mean.data(), m.scale.data(), m.pca_mean.data(), d, n_numeric, int(q));
    std::vector<int> active(size_t(std::max(nc, 0)));
    Eigen::Index at = 0;
    for (size_t e = 0; e < take.size(); ++e) {
      if (take[e] == 0) continue;
      const double* row = sample_data() + e * ew + kExtra;
      double* out = Xa.row(at).data();
      if (pca) {
        for (int j = 0; j < n_numeric; ++j) z(j) = std::isnan(row[j]) ? mean(j) : row[j];
        for (int c = 0; c < nc; ++c) active[size_t(c)] = row[n_numeric + c] >= 0 ? id_to_col[size_t(row[n_numeric + c])] : -1;
        fold.project(z.data(), active.data(), nc, out);
        if (Xfa.rows()) {  // "metric_space": "features": the row before PCA too
          for (int j = 0; j < n_numeric; ++j) z(j) = (z(j) - mv(j)) / sv(j);
          for (int j = 0; j < d; ++j) Xfa(at, j) = j < n_numeric ? z(j) : (0.0 - mv(j)) / sv(j);
          for (int a = 0; a < nc; ++a)
            if (active[size_t(a)] >= 0) Xfa(at, active[size_t(a)]) = (1.0 - mv(active[size_t(a)])) / sv(active[size_t(a)]);
        }
        for (uint64_t copy = 1; copy < take[e]; ++copy) {
          Xa.row(at + Eigen::Index(copy)) = Xa.row(at);
          if (Xfa.rows()) Xfa.row(at + Eigen::Index(copy)) = Xfa.row(at);
        }
        at += Eigen::Index(take[e]);
        continue;
      }
      // Without PCA: the scaled encoded row itself.
      z.setZero();
      for (int j = 0; j < n_numeric; ++j) z(j) = std::isnan(row[j]) ? mean(j) : row[j];
      for (int c = n_numeric; c < w; ++c)
        if (row[c] >= 0) z(id_to_col[size_t(row[c])]) = 1.0;
      for (int j = 0; j < d; ++j) out[j] = (z(j) - mv(j)) / sv(j);
      for (uint64_t copy = 1; copy < take[e]; ++copy) Xa.row(at + Eigen::Index(copy)) = Xa.row(at);
      at += Eigen::Index(take[e]);
    }
    // Why: the raw rows are not needed again (a borrowed sample belongs to the caller).
    std::vector<double>().swap(sample);
    // Canonical row order, so that k-means depends on the set of rows and not on the order a plan
    // delivered them in: serial, parallel and shuffled scans give the same centroids.
    const std::vector<size_t> order = canonical_order(Xa);
    permute_rows(Xa, order);
    out.X = std::move(Xa);
    if (Xfa.rows()) {
      permute_rows(Xfa, order);
      out.Xf = std::move(Xfa);
    }
  }
  out.model = std::move(m);
  return out;
}

}  // namespace custseg::core
