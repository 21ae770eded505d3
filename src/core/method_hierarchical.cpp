// method "hierarchical": Ward agglomerative clustering (ward.h) over every clustered row. The model
// keeps the top of the merge tree (its last merges, down to kDefaultTreeLeaves clusters or k if
// larger), so a segment knows its parent and Model::cut gives the tree at another k with no scan.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "method.h"
#include "ward.h"

namespace custseg::core {

namespace {

void check_memory(const RowMatrix& X) {
  const size_t bytes = ward_memory_bytes(size_t(X.rows()), size_t(X.cols()));
  if (bytes > size_t(kMaxReservoirBytes))
    throw Error(ErrorCode::kProgramLimit,
                "hierarchical clustering of " + std::to_string(X.rows()) + " rows needs " +
                    std::to_string(bytes >> 20) + " MB, more than " + std::to_string(kMaxReservoirBytes >> 20) + " MB",
                "lower \"sample_size\"");
}

}  // namespace

ClusterOutcome fit_hierarchical(const MethodContext& ctx, int k, Model& m) {
  const RowMatrix& X = ctx.X;
  const int n = int(X.rows());
  const Eigen::Index p = X.cols();
  check_memory(X);
  ctx.say("hierarchical: Ward tree over " + std::to_string(n) + " rows");
  const WardTree t = ward_tree(X, ctx.check);
  // The stored top of the tree: its leaves are the clusters of the cut at L.
  const int L = std::min(n, std::max(k, kDefaultTreeLeaves));
  const std::vector<int> leaf_of_row = ward_cut(t, L);
  // Tree node -> stored node: the L clusters of the cut are stored nodes 0..L-1 (numbered by the
  // cut's labels), the last L - 1 merges stored nodes L..2L-2.
  const int first_top = (n - 1) - (L - 1);  // index of the first stored merge in t
  std::vector<int> stored(size_t(2 * n - 1), -1);
  auto any_row = [&](int node) {
    while (node >= n) node = t.children[size_t(2 * (node - n))];
    return node;
  };
  for (int i = first_top; i < n - 1; ++i) stored[size_t(n + i)] = L + (i - first_top);
  for (int i = first_top; i < n - 1; ++i)
    for (int side = 0; side < 2; ++side) {
      const int c = t.children[size_t(2 * i + side)];
      if (stored[size_t(c)] < 0) stored[size_t(c)] = leaf_of_row[size_t(any_row(c))];
    }
  if (L == 1) stored[size_t(2 * n - 2 < 0 ? 0 : 2 * n - 2)] = 0;
  const int nodes = 2 * L - 1;
  m.method = Method::kHierarchical;
  m.tree_children.clear();
  m.tree_height.clear();
  for (int i = first_top; i < n - 1; ++i) {
    m.tree_children.push_back(stored[size_t(t.children[size_t(2 * i)])]);
    m.tree_children.push_back(stored[size_t(t.children[size_t(2 * i + 1)])]);
    m.tree_height.push_back(t.distances[size_t(i)]);
  }
  // Sizes and centroids: the leaves' from their rows, a merge's from its children.
  m.tree_size.assign(size_t(nodes), 0);
  RowMatrix cent = RowMatrix::Zero(nodes, p);
  for (int r = 0; r < n; ++r) {
    m.tree_size[size_t(leaf_of_row[size_t(r)])] += 1;
    cent.row(leaf_of_row[size_t(r)]) += X.row(r);
  }
  for (int l = 0; l < L; ++l) cent.row(l) /= m.tree_size[size_t(l)];
  std::vector<int> parent(size_t(nodes), -1);
  for (int i = 0; i < L - 1; ++i) {
    const int a = m.tree_children[size_t(2 * i)], b = m.tree_children[size_t(2 * i + 1)], node = L + i;
    parent[size_t(a)] = parent[size_t(b)] = node;
    m.tree_size[size_t(node)] = m.tree_size[size_t(a)] + m.tree_size[size_t(b)];
    cent.row(node) = (cent.row(a) * m.tree_size[size_t(a)] + cent.row(b) * m.tree_size[size_t(b)]) /
                     m.tree_size[size_t(node)];
  }
  m.tree_centroids.assign(cent.data(), cent.data() + cent.size());
  // Each node's outlier threshold: the quantile of its rows' distances to its centroid.
  std::vector<std::vector<double>> dist(static_cast<size_t>(nodes));
  for (int r = 0; r < n; ++r)
    for (int node = leaf_of_row[size_t(r)]; node >= 0; node = parent[size_t(node)])
      dist[size_t(node)].push_back((X.row(r) - cent.row(node)).norm());
  m.tree_threshold.clear();
  for (auto& v : dist) {
    std::sort(v.begin(), v.end());
    m.tree_threshold.push_back(quantile_of_sorted(v, ctx.opt.outlier_quantile));
  }
  m.tree_segment.assign(size_t(nodes), -1);
  // The segments at k come from cutting the stored tree.
  Model cut = m;
  cut.k = 0;
  cut.centroids.clear();
  cut.segment_ids.clear();
  cut.outlier_threshold.clear();
  cut.outlier_quantile = 0;
  {
    // Model::cut validates the whole model; give it a provisional k = L cut to start from.
    cut.k = L;
    cut.outlier_quantile = ctx.opt.outlier_quantile;
    cut.outlier_threshold.assign(m.tree_threshold.begin(), m.tree_threshold.begin() + L);
    for (int l = 0; l < L; ++l) {
      cut.centroids.insert(cut.centroids.end(), cent.row(l).data(), cent.row(l).data() + p);
      cut.segment_ids.push_back(l);
    }
    for (int node = 0; node < nodes; ++node) cut.tree_segment[size_t(node)] = node < L ? node : -1;
  }
  cut = cut.cut(k);
  m.k = k;
  m.centroids = cut.centroids;
  m.segment_ids = cut.segment_ids;
  m.tree_segment = cut.tree_segment;
  // The thresholds of the cut's nodes, as Model::cut gives them at any other k.
  m.outlier_threshold = cut.outlier_threshold;
  m.outlier_quantile = ctx.opt.outlier_quantile;
  ClusterOutcome out;
  out.labels.resize(size_t(n));
  for (int r = 0; r < n; ++r) out.labels[size_t(r)] = m.tree_segment[size_t(leaf_of_row[size_t(r)])];
  const RowMatrix centers = Eigen::Map<const RowMatrix>(m.centroids.data(), k, p);
  out.inertia = inertia_of(X, out.labels, centers);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t.distances.empty() ? 0.0 : t.distances.back());
  ctx.say("hierarchical: " + std::to_string(n - 1) + " merges, the last at Ward distance " + buf + "; the tree keeps " +
          std::to_string(L) + " leaves");
  return out;
}

std::vector<ClusterOutcome> evaluate_hierarchical(const MethodContext& ctx, int k_min, int k_max) {
  check_memory(ctx.X);
  const WardTree t = ward_tree(ctx.X, ctx.check);
  std::vector<ClusterOutcome> out;
  for (int k = k_min; k <= k_max; ++k) {
    ClusterOutcome o;
    o.labels = ward_cut(t, k);
    o.inertia = inertia_of(ctx.X, o.labels, segment_means(ctx.X, o.labels, k));
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace custseg::core
