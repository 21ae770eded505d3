// Ward's merge tree by the nearest-neighbour chain on cluster centroids and sizes, numbered as
// scipy.cluster.hierarchy.ward numbers it (which is what scikit-learn's children_ exposes).
//
// The Ward distance of clusters A and B is sqrt(2 |A||B| / (|A| + |B|)) * ||cA - cB||, the value
// scipy's Lance-Williams update carries. Instead of scipy's condensed n x n matrix, the active
// clusters keep their centroids in one column-major block (a contiguous column per feature,
// compacted by moving the last slot into a removed one), so a chain step is one vectorizable pass
// over that block and the whole build needs O(n d) memory and O(n^2 d) time.
//
// The chain follows scipy's nn_chain step for step: it starts at the lowest active cluster, a
// step keeps the previous chain element on a tie and otherwise takes the lowest-numbered nearest
// cluster, and a merge of x < y keeps the number y. The merges are then stably sorted by distance
// and renumbered by a union-find as scipy's label() does, and the cut follows scikit-learn's
// _hc_cut, heap order included, so labels match scikit-learn's wherever the distances compare as
// scipy's do (always for exact duplicates and ties between single rows).
#include "ward.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

namespace custseg::core {

namespace {

constexpr int kCheckEvery = 256;  // chain steps between interrupt checks

// a * b, or SIZE_MAX when it overflows (a size that large is refused anyway).
size_t mul_sat(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return std::numeric_limits<size_t>::max();
  return a * b;
}

size_t add_sat(size_t a, size_t b) { return b > std::numeric_limits<size_t>::max() - a ? std::numeric_limits<size_t>::max() : a + b; }

// The active clusters: slot s holds cluster id[s] with size[s] rows and centroid
// c[j * cap + s] (j = 0..d-1); slot_of[id] is its slot, or -1 once it was merged away.
struct Active {
  int d = 0, cap = 0, m = 0;
  std::vector<double> c, size;
  std::vector<int> id, slot_of;

  Active(const Eigen::Ref<const RowMatrix>& X) : d(int(X.cols())), cap(int(X.rows())), m(cap) {
    c.resize(size_t(d) * size_t(cap));
    for (int i = 0; i < cap; ++i)
      for (int j = 0; j < d; ++j) c[size_t(j) * size_t(cap) + size_t(i)] = X(i, j);
    size.assign(size_t(cap), 1.0);
    id.resize(size_t(cap));
    std::iota(id.begin(), id.end(), 0);
    slot_of = id;
  }

  double* col(int j) { return c.data() + size_t(j) * size_t(cap); }

  // Moves the last slot into slot s (the cluster there is gone).
  void remove(int s) {
    const int last = m - 1;
    slot_of[size_t(id[size_t(s)])] = -1;
    if (s != last) {
      for (int j = 0; j < d; ++j) col(j)[s] = col(j)[last];
      size[size_t(s)] = size[size_t(last)];
      id[size_t(s)] = id[size_t(last)];
      slot_of[size_t(id[size_t(s)])] = s;
    }
    m = last;
  }
};

// dist[s] = squared Ward distance from the cluster in slot x to the one in slot s:
// 2 nx ns / (nx + ns) * ||cx - cs||^2; dist[x] = +inf. Returns the minimum.
__attribute__((target_clones("avx2", "default"))) double squared_distances_from(Active& a, int x, double* dist) {
  const int m = a.m;
  constexpr int kBlock = 512;  // rows per block: the block of dist stays in L1 across features
  const double nx = a.size[size_t(x)], nx2 = 2.0 * nx;
  const double* sz = a.size.data();
  double best = std::numeric_limits<double>::infinity();
  for (int b0 = 0; b0 < m; b0 += kBlock) {
    const int b1 = std::min(m, b0 + kBlock);
    double* out = dist + b0;
    const int len = b1 - b0;
    {
      const double* cj = a.col(0) + b0;
      const double v = a.col(0)[x];
#pragma omp simd
      for (int i = 0; i < len; ++i) {
        const double t = cj[i] - v;
        out[i] = t * t;
      }
    }
    for (int j = 1; j < a.d; ++j) {
      const double* cj = a.col(j) + b0;
      const double v = a.col(j)[x];
#pragma omp simd
      for (int i = 0; i < len; ++i) {
        const double t = cj[i] - v;
        out[i] += t * t;
      }
    }
    const double* s = sz + b0;
    double block_best = std::numeric_limits<double>::infinity();
#pragma omp simd reduction(min : block_best)
    for (int i = 0; i < len; ++i) {
      const double w = nx2 * s[i] / (nx + s[i]) * out[i];
      out[i] = w;
      block_best = w < block_best ? w : block_best;
    }
    if (x >= b0 && x < b1) {
      // The block's minimum without the cluster itself (its own distance is 0).
      out[x - b0] = std::numeric_limits<double>::infinity();
      block_best = std::numeric_limits<double>::infinity();
#pragma omp simd reduction(min : block_best)
      for (int i = 0; i < len; ++i) block_best = out[i] < block_best ? out[i] : block_best;
    }
    best = block_best < best ? block_best : best;
  }
  return best;
}

// The lowest cluster id among the slots whose distance equals best.
int lowest_id_at(const Active& a, const double* dist, double best) {
  int low = std::numeric_limits<int>::max();
  const int* id = a.id.data();
#pragma omp simd reduction(min : low)
  for (int i = 0; i < a.m; ++i) {
    const int v = dist[i] == best ? id[i] : std::numeric_limits<int>::max();
    low = v < low ? v : low;
  }
  return low;
}

struct Merge {
  int x, y;  // cluster ids, x < y; the merged cluster keeps id y
  double distance;
};

// scipy's nn_chain on centroids: the n - 1 merges in the order the chain finds them.
std::vector<Merge> nn_chain(Active& a, InterruptCheck check) {
  const int n = a.cap;
  std::vector<Merge> merges;
  merges.reserve(size_t(n > 0 ? n - 1 : 0));
  std::vector<double> dist(static_cast<size_t>(n));
  std::vector<int> chain;
  chain.reserve(size_t(n));
  std::vector<char> in_chain(size_t(n), 0);
  int lowest_active = 0;
  long steps = 0;
  for (int k = 0; k < n - 1; ++k) {
    if (chain.empty()) {
      while (a.slot_of[size_t(lowest_active)] < 0) ++lowest_active;
      chain.push_back(lowest_active);
      in_chain[size_t(lowest_active)] = 1;
    }
    int x, y;
    double best;
    for (;;) {
      if (++steps % kCheckEvery == 0 && check) check();
      x = chain.back();
      best = squared_distances_from(a, a.slot_of[size_t(x)], dist.data());
      const int prev = chain.size() > 1 ? chain[chain.size() - 2] : -1;
      if (prev >= 0 && dist[size_t(a.slot_of[size_t(prev)])] == best) {
        y = prev;
        break;
      }
      y = lowest_id_at(a, dist.data(), best);
      if (in_chain[size_t(y)]) {
        // Unreachable in exact arithmetic (Ward is reducible); rounding could in principle make
        // a chain cycle, so restart it from the cluster found instead of looping.
        while (chain.back() != y) {
          in_chain[size_t(chain.back())] = 0;
          chain.pop_back();
        }
        continue;
      }
      chain.push_back(y);
      in_chain[size_t(y)] = 1;
    }
    for (int r = 0; r < 2; ++r) {
      in_chain[size_t(chain.back())] = 0;
      chain.pop_back();
    }
    if (x > y) std::swap(x, y);
    merges.push_back({x, y, std::sqrt(best)});
    const int sx = a.slot_of[size_t(x)], sy = a.slot_of[size_t(y)];
    const double nx = a.size[size_t(sx)], ny = a.size[size_t(sy)];
    // cy + (cx - cy) nx / (nx + ny): equal centroids (duplicate rows) stay bit-identical.
    const double wx = nx / (nx + ny);
    for (int j = 0; j < a.d; ++j) {
      double* cj = a.col(j);
      cj[sy] += (cj[sx] - cj[sy]) * wx;
    }
    a.size[size_t(sy)] = nx + ny;
    a.remove(sx);
  }
  return merges;
}

// scipy's LinkageUnionFind: node n + i is the root created by merge i.
struct UnionFind {
  std::vector<int> parent;
  int next;
  explicit UnionFind(int n) : parent(size_t(2 * n - 1), -1), next(n) {}
  int find(int x) {
    int root = x;
    while (parent[size_t(root)] >= 0) root = parent[size_t(root)];
    while (parent[size_t(x)] >= 0) {
      const int p = parent[size_t(x)];
      parent[size_t(x)] = root;
      x = p;
    }
    return root;
  }
  void merge(int x, int y) {
    parent[size_t(x)] = next;
    parent[size_t(y)] = next;
    ++next;
  }
};

// CPython's heapq on a list of ints (a min-heap), step for step, so that the heap's list order,
// which _hc_cut turns into label numbers, is the same.
void sift_down(std::vector<int>& h, size_t start, size_t pos) {
  const int item = h[pos];
  while (pos > start) {
    const size_t parent = (pos - 1) >> 1;
    if (item < h[parent]) {
      h[pos] = h[parent];
      pos = parent;
      continue;
    }
    break;
  }
  h[pos] = item;
}

void sift_up(std::vector<int>& h, size_t pos) {
  const size_t end = h.size(), start = pos;
  const int item = h[pos];
  size_t child = 2 * pos + 1;
  while (child < end) {
    const size_t right = child + 1;
    if (right < end && !(h[child] < h[right])) child = right;
    h[pos] = h[child];
    pos = child;
    child = 2 * pos + 1;
  }
  h[pos] = item;
  sift_down(h, start, pos);
}

void heap_push(std::vector<int>& h, int item) {
  h.push_back(item);
  sift_down(h, 0, h.size() - 1);
}

void heap_pushpop(std::vector<int>& h, int item) {
  if (!h.empty() && h[0] < item) {
    std::swap(item, h[0]);
    sift_up(h, 0);
  }
}

}  // namespace

size_t ward_memory_bytes(size_t n, size_t d) {
  size_t b = mul_sat(mul_sat(n, d), sizeof(double));        // centroids
  b = add_sat(b, mul_sat(n, 2 * sizeof(double)));            // sizes, distances of a chain step
  b = add_sat(b, mul_sat(n, 3 * sizeof(int) + sizeof(char)));  // ids, slots, chain, chain flags
  b = add_sat(b, mul_sat(n, sizeof(Merge) + sizeof(int)));   // merges, their sorted order
  b = add_sat(b, mul_sat(n, 2 * sizeof(int)));               // union-find
  b = add_sat(b, mul_sat(n, 2 * sizeof(int) + sizeof(double)));  // the tree itself
  return b;
}

WardTree ward_tree(const Eigen::Ref<const RowMatrix>& X, InterruptCheck check) {
  if (X.rows() < 1) throw Error(ErrorCode::kDataException, "ward: no rows to cluster");
  if (X.cols() < 1) throw Error(ErrorCode::kInvalidArgument, "ward: rows have no features");
  if (X.rows() >= std::numeric_limits<int>::max() / 2)
    throw Error(ErrorCode::kProgramLimit, "ward: too many rows (" + std::to_string(X.rows()) + ")");
  if (!X.allFinite()) throw Error(ErrorCode::kDataException, "ward: rows must not contain NaN or infinite values");
  const int n = int(X.rows());
  WardTree tree;
  tree.n = n;
  if (n == 1) return tree;

  std::vector<Merge> merges;
  {
    Active a(X);
    merges = nn_chain(a, check);
  }
  // numpy's argsort(kind="mergesort") is stable.
  std::vector<int> order(merges.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int p, int q) { return merges[size_t(p)].distance < merges[size_t(q)].distance; });

  UnionFind uf(n);
  tree.children.resize(2 * size_t(n - 1));
  tree.distances.resize(size_t(n - 1));
  for (size_t i = 0; i < order.size(); ++i) {
    const Merge& mg = merges[size_t(order[i])];
    const int rx = uf.find(mg.x), ry = uf.find(mg.y);
    tree.children[2 * i] = std::min(rx, ry);
    tree.children[2 * i + 1] = std::max(rx, ry);
    tree.distances[i] = mg.distance;
    uf.merge(rx, ry);
  }
  return tree;
}

std::vector<int> ward_cut(const WardTree& tree, int k) {
  const int n = tree.n;
  if (k < 1 || k > n)
    throw Error(ErrorCode::kInvalidArgument,
                "ward: cannot cut " + std::to_string(n) + " rows into " + std::to_string(k) + " clusters");
  if (tree.children.size() != 2 * size_t(n - 1))
    throw Error(ErrorCode::kInternal, "ward: the tree does not have n - 1 merges");
  std::vector<int> labels(size_t(n), 0);
  if (n == 1) return labels;

  // _hc_cut: a heap of negated node numbers, starting at the root; each step replaces the
  // highest node by its two children.
  std::vector<int> heap;
  heap.reserve(size_t(k));
  heap.push_back(-(std::max(tree.children[2 * size_t(n - 2)], tree.children[2 * size_t(n - 2) + 1]) + 1));
  for (int s = 0; s < k - 1; ++s) {
    const size_t merge = size_t(-heap[0] - n);
    heap_push(heap, -tree.children[2 * merge]);
    heap_pushpop(heap, -tree.children[2 * merge + 1]);
  }
  // Every row under the heap's i-th node gets label i.
  std::vector<int> stack;
  for (size_t i = 0; i < heap.size(); ++i) {
    stack.push_back(-heap[i]);
    while (!stack.empty()) {
      const int node = stack.back();
      stack.pop_back();
      if (node < n) {
        labels[size_t(node)] = int(i);
      } else {
        stack.push_back(tree.children[2 * size_t(node - n)]);
        stack.push_back(tree.children[2 * size_t(node - n) + 1]);
      }
    }
  }
  return labels;
}

}  // namespace custseg::core
