// method "hierarchical": Ward agglomerative clustering (ward.h) over every clustered row. The model
// keeps the whole merge tree, its leaves being the clustered rows: a segment knows its parent,
// Model::cut gives the tree at another k with no scan, and a new row takes its nearest leaf's
// segment (so every clustered row scores as the tree put it).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "method.h"
#include "method_internal.h"
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
  if (n > kMaxTreeLeaves)
    throw Error(ErrorCode::kProgramLimit, "hierarchical clustering keeps at most " + std::to_string(kMaxTreeLeaves) + " rows",
                "lower \"sample_size\"");
  check_memory(X);
  ctx.say("hierarchical: Ward tree over " + std::to_string(n) + " rows");
  const WardTree t = ward_tree(X, ctx.check);
  const int merges = n - 1, nodes = 2 * n - 1;
  m.method = Method::kHierarchical;
  m.tree_children.assign(t.children.begin(), t.children.end());
  m.tree_height = t.distances;
  // Sizes and centroids: a leaf is its row, a merge the size-weighted mean of its children.
  m.tree_size.assign(size_t(nodes), 1.0);
  RowMatrix cent(nodes, p);
  cent.topRows(n) = X;
  std::vector<int> parent(size_t(nodes), -1);
  for (int i = 0; i < merges; ++i) {
    const int a = t.children[size_t(2 * i)], b = t.children[size_t(2 * i + 1)], node = n + i;
    parent[size_t(a)] = parent[size_t(b)] = node;
    m.tree_size[size_t(node)] = m.tree_size[size_t(a)] + m.tree_size[size_t(b)];
    cent.row(node) = (cent.row(a) * m.tree_size[size_t(a)] + cent.row(b) * m.tree_size[size_t(b)]) /
                     m.tree_size[size_t(node)];
  }
  m.tree_centroids.assign(cent.data(), cent.data() + cent.size());
  // Outlier thresholds of the nodes that some cut at k <= kMaxK has: the quantile of their rows'
  // distances to their centroid. Each row walks up from its node in the cut at K = min(n, kMaxK).
  const int K = std::min(n, kMaxK);
  const int first_top = merges - (K - 1);  // merges at or above this index are above the cut at K
  std::vector<int> top_of_row(size_t(n), -1);
  {
    // The cut's nodes, then every leaf below each (an explicit stack: the tree may be deep).
    std::vector<int> stack;
    if (K == 1) stack.push_back(nodes - 1);
    for (int i = first_top; i < merges; ++i)
      for (int side = 0; side < 2; ++side) {
        const int c = t.children[size_t(2 * i + side)];
        if (c < n + first_top) stack.push_back(c);
      }
    std::vector<int> below;
    for (int root : stack) {
      below.assign(1, root);
      while (!below.empty()) {
        const int node = below.back();
        below.pop_back();
        if (node < n) {
          top_of_row[size_t(node)] = root;
        } else {
          below.push_back(t.children[size_t(2 * (node - n))]);
          below.push_back(t.children[size_t(2 * (node - n) + 1)]);
        }
      }
    }
  }
  {
    // One distance per row and node above it up to the cut at K: bounded before it is kept (a
    // chain-shaped tree would keep n times its depth).
    double total = 0;
    for (int i = first_top; i < merges; ++i) {
      total += m.tree_size[size_t(n + i)];
      for (int side = 0; side < 2; ++side) {
        const int c = t.children[size_t(2 * i + side)];
        if (c < n + first_top) total += m.tree_size[size_t(c)];
      }
    }
    if (K == 1) total = double(n);
    if (total * sizeof(double) > double(kMaxReservoirBytes))
      throw Error(ErrorCode::kProgramLimit,
                  "the outlier thresholds of this merge tree need " + std::to_string(int64_t(total * 8) >> 20) +
                      " MB, more than " + std::to_string(kMaxReservoirBytes >> 20) + " MB",
                  "lower \"sample_size\"");
  }
  std::vector<std::vector<double>> dist(static_cast<size_t>(nodes));
  for (int r = 0; r < n; ++r) {
    if (ctx.check && (r & 1023) == 0) ctx.check();
    for (int node = top_of_row[size_t(r)]; node >= 0; node = parent[size_t(node)])
      dist[size_t(node)].push_back((X.row(r) - cent.row(node)).norm());
  }
  m.tree_threshold.assign(size_t(nodes), std::numeric_limits<double>::quiet_NaN());
  for (int node = 0; node < nodes; ++node) {
    auto& v = dist[size_t(node)];
    if (v.empty()) continue;
    m.tree_threshold[size_t(node)] = quantile_of(v, ctx.opt.outlier_quantile);
    std::vector<double>().swap(v);
  }
  // The segments at k: the stored tree cut at k (Model::cut validates the whole model, so it
  // starts from a provisional model whose one segment is the root).
  Model whole = m;
  whole.k = 1;
  whole.centroids.assign(cent.row(nodes - 1).data(), cent.row(nodes - 1).data() + p);
  whole.segment_ids.assign(1, 0);
  whole.tree_segment.assign(size_t(nodes), 0);
  whole.outlier_quantile = ctx.opt.outlier_quantile;
  whole.outlier_threshold.assign(1, m.tree_threshold[size_t(nodes - 1)]);
  const Model cut = whole.cut(k);
  m.k = k;
  m.centroids = cut.centroids;
  m.segment_ids = cut.segment_ids;
  m.tree_segment = cut.tree_segment;
  // The thresholds of the cut's nodes, as Model::cut gives them at any other k.
  m.outlier_threshold = cut.outlier_threshold;
  m.outlier_quantile = cut.outlier_quantile;
  ClusterOutcome out;
  out.labels.resize(size_t(n));
  for (int r = 0; r < n; ++r) out.labels[size_t(r)] = m.tree_segment[size_t(r)];
  const RowMatrix centers = Eigen::Map<const RowMatrix>(m.centroids.data(), k, p);
  out.inertia = inertia_of(X, out.labels, centers);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t.distances.empty() ? 0.0 : t.distances.back());
  ctx.say("hierarchical: " + std::to_string(merges) + " merges, the last at Ward distance " + buf);
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
