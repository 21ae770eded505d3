// Segment identity across model versions: each new centroid matched to a previous one by a
// minimum-cost assignment in original units, so a retrained segment keeps its number.
#include "fit.h"

#include <cmath>
#include <limits>
#include <map>

namespace custseg::core {

namespace {

// Minimum-cost assignment of rows to columns of an n x m cost matrix, n <= m (the Hungarian
// method with potentials, O(n^2 m)). Returns the column of each row.
std::vector<int> assign_min_cost(const Eigen::MatrixXd& cost) {
  const int n = int(cost.rows()), m = int(cost.cols());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(size_t(n) + 1, 0), v(size_t(m) + 1, 0);
  std::vector<int> p(size_t(m) + 1, 0), way(size_t(m) + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(size_t(m) + 1, inf);
    std::vector<char> used(size_t(m) + 1, 0);
    do {
      used[size_t(j0)] = 1;
      const int i0 = p[size_t(j0)];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[size_t(j)]) continue;
        const double cur = cost(i0 - 1, j - 1) - u[size_t(i0)] - v[size_t(j)];
        if (cur < minv[size_t(j)]) minv[size_t(j)] = cur, way[size_t(j)] = j0;
        if (minv[size_t(j)] < delta) delta = minv[size_t(j)], j1 = j;
      }
      for (int j = 0; j <= m; ++j) {
        if (used[size_t(j)]) {
          u[size_t(p[size_t(j)])] += delta;
          v[size_t(j)] -= delta;
        } else {
          minv[size_t(j)] -= delta;
        }
      }
      j0 = j1;
    } while (p[size_t(j0)] != 0);
    do {
      const int j1 = way[size_t(j0)];
      p[size_t(j0)] = p[size_t(j1)];
      j0 = j1;
    } while (j0);
  }
  std::vector<int> col(size_t(n), -1);
  for (int j = 1; j <= m; ++j)
    if (p[size_t(j)] > 0) col[size_t(p[size_t(j)] - 1)] = j - 1;
  return col;
}

// A model's centroids in original units of its encoded columns (one-hot columns as shares).
std::map<std::string, std::vector<double>> centroids_in_original_units(const Model& m) {
  const int D = m.encoded_dim(), P = m.output_dim();
  const std::vector<std::string> names = m.encoded_names();
  std::map<std::string, std::vector<double>> out;
  for (int j = 0; j < D; ++j) out[names[size_t(j)]].assign(size_t(m.k), 0.0);
  for (int c = 0; c < m.k; ++c) {
    const double* z = m.centroids.data() + size_t(c) * size_t(P);
    for (int j = 0; j < D; ++j) {
      double scaled;
      if (m.n_components == 0) {
        scaled = z[j];
      } else {
        scaled = m.pca_mean[size_t(j)];
        for (int q = 0; q < m.n_components; ++q) scaled += z[q] * m.components[size_t(q) * size_t(D) + size_t(j)];
      }
      out[names[size_t(j)]][size_t(c)] = scaled * m.scale[size_t(j)] + m.mean[size_t(j)];
    }
  }
  return out;
}

}  // namespace

SegmentMatch match_segments(const Model& next, const Model& previous, double max_ratio) {
  if (next.k < 1 || previous.k < 1)
    throw Error(ErrorCode::kNotFitted, "both models need a k-means stage to match their segments");
  SegmentMatch r;
  r.previous_of.assign(size_t(next.k), -1);
  r.distance.assign(size_t(next.k), std::numeric_limits<double>::quiet_NaN());
  // Compare in the new model's standardized space, over the encoded columns both models have.
  const auto a = centroids_in_original_units(next);
  const auto b = centroids_in_original_units(previous);
  const std::vector<std::string> names = next.encoded_names();
  std::vector<int> cols;
  for (int j = 0; j < int(names.size()); ++j)
    if (b.count(names[size_t(j)])) cols.push_back(j);
  if (cols.empty()) return r;
  auto dist = [&](const std::map<std::string, std::vector<double>>& x, int i,
                  const std::map<std::string, std::vector<double>>& y, int l) {
    double s = 0;
    for (int j : cols) {
      const std::string& name = names[size_t(j)];
      const double d = (x.at(name)[size_t(i)] - y.at(name)[size_t(l)]) / next.scale[size_t(j)];
      s += d * d;
    }
    return std::sqrt(s);
  };
  Eigen::MatrixXd cost(next.k, previous.k);
  for (int i = 0; i < next.k; ++i)
    for (int l = 0; l < previous.k; ++l) cost(i, l) = dist(a, i, b, l);
  std::vector<int> col;
  if (next.k <= previous.k) {
    col = assign_min_cost(cost);
  } else {
    std::vector<int> row_of = assign_min_cost(cost.transpose());
    col.assign(size_t(next.k), -1);
    for (int l = 0; l < previous.k; ++l) col[size_t(row_of[size_t(l)])] = l;
  }
  // A match is good when the centroids are closer than max_ratio times the distance from the
  // previous centroid to its nearest neighbour among the previous centroids.
  for (int i = 0; i < next.k; ++i) {
    const int l = col[size_t(i)];
    if (l < 0) continue;
    double nearest = std::numeric_limits<double>::infinity();
    for (int o = 0; o < previous.k; ++o)
      if (o != l) nearest = std::min(nearest, dist(b, l, b, o));
    r.distance[size_t(i)] = cost(i, l);
    if (cost(i, l) <= max_ratio * nearest) r.previous_of[size_t(i)] = l;
  }
  return r;
}

}  // namespace custseg::core
