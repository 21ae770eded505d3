// Model layout: building, validating and reading the flat binary form, and the JSON text form.
#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "errors.h"
#include "gmm.h"
#include "options.h"

namespace custseg::core {

namespace {

// The hash of a level's text in a model's level index (FNV-1a).
inline uint64_t level_text_hash(const char* data, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; ++i) {
    h ^= uint8_t(data[i]);
    h *= 1099511628211ULL;
  }
  return h ^ (h >> 29);
}

// The hash of a level's key (text_key.h), for the columns whose levels all have one: the words
// combined, then MurmurHash3's finalizer, so that every byte moves the low bits the index masks
// (texts that differ only in their last characters, "city_1" and "city_2", are the common case).
inline uint64_t level_key_hash(const TextKey& k) {
  uint64_t h = k.a ^ (k.b * 0x9E3779B97F4A7C15ULL) ^ (k.len << 59);
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  return h ^ (h >> 33);
}

constexpr uint32_t kMagic = 0x4D475343;  // "CSGM" little-endian
constexpr size_t kReserved = 8;          // varlena header + padding, owned by the glue
constexpr int kInfoFields = 10;

struct Header {
  uint32_t magic;
  uint16_t version;
  uint16_t flags;
  int32_t n_features, n_numeric, dim, n_components, k, reserved;
  uint64_t off_mean, off_scale, off_impute, off_pca_mean, off_components, off_ev, off_evr, off_centroids,
      off_info, off_segment_ids, off_level_count, off_str_off, off_str_bytes, off_options;
  uint32_t n_strings, str_bytes_len, options_len, pad;
  uint64_t total_len;
};

size_t align8(size_t n) { return (n + 7) & ~size_t(7); }

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(ErrorCode::kInvalidBinary, "invalid custseg_model binary value: " + what);
}

[[noreturn]] void bad_text(const std::string& what) {
  throw Error(ErrorCode::kInvalidText, "invalid custseg_model text: " + what);
}

void info_to_array(const TrainInfo& t, double* a) {
  const double v[kInfoFields] = {t.rows_seen,  t.rows_skipped,   t.rows_used,  t.rows_clustered,
                                 t.inertia,    t.n_iter,         t.silhouette, t.silhouette_rows,
                                 t.calinski_harabasz, t.davies_bouldin};
  std::memcpy(a, v, sizeof v);
}

TrainInfo info_from_array(const double* a) {
  TrainInfo t;
  t.rows_seen = a[0];
  t.rows_skipped = a[1];
  t.rows_used = a[2];
  t.rows_clustered = a[3];
  t.inertia = a[4];
  t.n_iter = a[5];
  t.silhouette = a[6];
  t.silhouette_rows = a[7];
  t.calinski_harabasz = a[8];
  t.davies_bouldin = a[9];
  return t;
}

const char* const kInfoNames[kInfoFields] = {"rows_seen",  "rows_skipped",  "rows_used",  "rows_clustered",
                                             "inertia",    "n_iter",        "silhouette", "silhouette_rows",
                                             "calinski_harabasz", "davies_bouldin"};

// Format 2's method section, after the transforms (all doubles): a fixed head, then the outlier
// thresholds and the method's arrays, each present when the head says so.
constexpr int kMethodHead = 9;  // method, outlier_quantile, has thresholds, covariance diag, eps, min_samples, tree nodes, core rows, log-likelihood

std::vector<double> method_section(const Model& m) {
  std::vector<double> a = {double(int(m.method)),       m.outlier_quantile,
                           m.outlier_threshold.empty() ? 0.0 : 1.0, m.covariance_diag ? 1.0 : 0.0,
                           m.eps,                        double(m.min_samples),
                           double(m.tree_size.size()),   double(m.core_segment.size()),
                           m.log_likelihood};
  auto add = [&a](const std::vector<double>& v) { a.insert(a.end(), v.begin(), v.end()); };
  auto add_int = [&a](const std::vector<int32_t>& v) {
    for (int32_t x : v) a.push_back(double(x));
  };
  add(m.outlier_threshold);
  add(m.weights);
  add(m.covariances);
  add_int(m.tree_children);
  add(m.tree_height);
  add(m.tree_size);
  add_int(m.tree_segment);
  add(m.tree_threshold);
  add(m.tree_centroids);
  add_int(m.core_segment);
  add(m.core_points);
  return a;
}

// Reads a method section of n doubles into m (whose k and output dimension are set); the caller
// validates the result. Returns false when the section's lengths do not add up.
bool read_method_section(const double* a, size_t n, Model& m) {
  if (n < size_t(kMethodHead)) return false;
  for (int i = 0; i < kMethodHead - 1; ++i)
    if (!std::isfinite(a[i])) return false;
  if (std::isinf(a[8])) return false;
  m.log_likelihood = std::isnan(a[8]) ? std::numeric_limits<double>::quiet_NaN() : a[8];
  auto whole = [](double x, double hi) { return x >= 0 && x <= hi && std::floor(x) == x; };
  if (!whole(a[0], 3) || !whole(a[2], 1) || !whole(a[3], 1) || !whole(a[5], 1e9) ||
      !whole(a[6], 2.0 * kMaxTreeLeaves) || !whole(a[7], double(kMaxSampleSize)))
    return false;
  m.method = Method(int(a[0]));
  // Zero in canonical form (the text form leaves these keys out when they are zero).
  m.outlier_quantile = a[1] == 0 ? 0.0 : a[1];
  m.covariance_diag = a[3] != 0;
  m.eps = a[4] == 0 ? 0.0 : a[4];
  m.min_samples = int(a[5]);
  const size_t k = size_t(m.k), p = size_t(m.output_dim()), nodes = size_t(a[6]), cores = size_t(a[7]);
  const bool gmm = m.method == Method::kGmm;
  const size_t merges = nodes ? (nodes - 1) / 2 : 0;
  const size_t need = size_t(kMethodHead) + (a[2] != 0 ? k : 0) + (gmm ? k + k * (m.covariance_diag ? p : p * p) : 0) +
                      3 * merges + 3 * nodes + nodes * p + cores + cores * p;
  if (need != n) return false;
  size_t at = size_t(kMethodHead);
  auto take = [&](std::vector<double>& v, size_t count) {
    v.assign(a + at, a + at + count);
    at += count;
  };
  auto take_int = [&](std::vector<int32_t>& v, size_t count) {
    v.clear();
    for (size_t i = 0; i < count; ++i) {
      const double x = a[at + i];
      if (!(std::floor(x) == x && x >= -1 && x <= 2.0 * kMaxTreeLeaves)) return false;
      v.push_back(int32_t(x));
    }
    at += count;
    return true;
  };
  take(m.outlier_threshold, a[2] != 0 ? k : 0);
  // NaN ("no threshold") in canonical form: the text form writes it as null, whatever its bits.
  for (double& x : m.outlier_threshold)
    if (std::isnan(x)) x = std::numeric_limits<double>::quiet_NaN();
  take(m.weights, gmm ? k : 0);
  take(m.covariances, gmm ? k * (m.covariance_diag ? p : p * p) : 0);
  if (!take_int(m.tree_children, 2 * merges)) return false;
  take(m.tree_height, merges);
  take(m.tree_size, nodes);
  if (!take_int(m.tree_segment, nodes)) return false;
  take(m.tree_threshold, nodes);
  for (double& x : m.tree_threshold)
    if (std::isnan(x)) x = std::numeric_limits<double>::quiet_NaN();
  take(m.tree_centroids, nodes * p);
  if (!take_int(m.core_segment, cores)) return false;
  take(m.core_points, cores * p);
  return true;
}

bool less_bytes(const std::string& a, const std::string& b) {
  int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c < 0 || (c == 0 && a.size() < b.size());
}

}  // namespace

const char* method_name(Method m) {
  switch (m) {
    case Method::kKMeans: return "kmeans";
    case Method::kGmm: return "gmm";
    case Method::kHierarchical: return "hierarchical";
    case Method::kDbscan: return "dbscan";
  }
  return "kmeans";
}

uint16_t Model::format_version() const {
  // Format 2: transforms, another method than k-means, or outlier thresholds.
  if (method != Method::kKMeans || !outlier_threshold.empty()) return 2;
  for (const auto& f : features)
    if (f.transform.any()) return 2;
  return 1;
}

Model Model::cut(int new_k) const {
  if (method != Method::kHierarchical || tree_size.empty())
    throw Error(ErrorCode::kInvalidArgument, "only a hierarchical model can be cut at another k",
                "train it with {\"method\": \"hierarchical\"}");
  const int leaves = tree_leaves();
  const int max_k = std::min(leaves, kMaxK);  // a model has at most kMaxK segments
  if (new_k < 1 || new_k > max_k)
    throw Error(ErrorCode::kInvalidArgument,
                "k = " + std::to_string(new_k) + " is out of the stored tree's range",
                "the tree has " + std::to_string(leaves) + " leaves: pass 1 <= k <= " + std::to_string(max_k));
  // Undo the last new_k - 1 merges: their children that are not themselves undone are the cut.
  const int merges = leaves - 1, nodes = 2 * leaves - 1, p = output_dim();
  const int first_undone = merges - (new_k - 1);
  std::vector<int> roots;  // the cut's nodes, in node order
  if (new_k == 1) roots.push_back(nodes - 1);
  for (int i = first_undone; i < merges; ++i)
    for (int side = 0; side < 2; ++side) {
      const int c = tree_children[size_t(2 * i + side)];
      if (c < leaves + first_undone) roots.push_back(c);
    }
  std::sort(roots.begin(), roots.end());
  Model m = *this;
  m.k = new_k;
  // The cut's own metadata: k in the options, and the inertia from the tree (a Ward merge at
  // distance d adds d^2 / 2 to the within-segment sum of squares); the other metrics were the
  // trained k's and are not computed for the cut.
  {
    json::Value o = options_json.empty() ? json::Value::object() : json::parse(options_json);
    if (o.type() == json::Type::kObject) {
      json::Value with_k = json::Value::object();  // set() appends: copy with k replaced
      for (const auto& kv : o.members())
        with_k.set(kv.first, kv.first == "k" ? json::Value::number(new_k) : kv.second);
      m.options_json = json::write(with_k);
    }
    double ss = 0;
    for (int i = 0; i < first_undone; ++i) ss += tree_height[size_t(i)] * tree_height[size_t(i)] / 2;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    m.info.inertia = ss;
    m.info.n_iter = m.info.silhouette = m.info.silhouette_rows = nan;
    m.info.calinski_harabasz = m.info.davies_bouldin = nan;
  }
  m.centroids.clear();
  m.segment_ids.clear();
  m.outlier_threshold.clear();
  for (int c = 0; c < new_k; ++c) {
    const int node = roots[size_t(c)];
    m.centroids.insert(m.centroids.end(), tree_centroids.begin() + ptrdiff_t(node) * p,
                       tree_centroids.begin() + ptrdiff_t(node + 1) * p);
    m.segment_ids.push_back(c);
    m.outlier_threshold.push_back(tree_threshold[size_t(node)]);
  }
  // Cuts below the thresholds' reach (k > kMaxK leaves NaN): no outlier flag.
  bool any = false;
  for (double t : m.outlier_threshold) any = any || !std::isnan(t);
  if (!any) {
    m.outlier_threshold.clear();
    m.outlier_quantile = 0;
  }
  // Every node's segment at the new cut: a cut node and the nodes below it share its index.
  m.tree_segment.assign(size_t(nodes), -1);
  for (int c = 0; c < new_k; ++c) m.tree_segment[size_t(roots[size_t(c)])] = c;
  for (int i = merges - 1; i >= 0; --i) {
    const int seg = m.tree_segment[size_t(leaves + i)];
    if (seg < 0) continue;
    m.tree_segment[size_t(tree_children[size_t(2 * i)])] = seg;
    m.tree_segment[size_t(tree_children[size_t(2 * i + 1)])] = seg;
  }
  m.validate();
  return m;
}

int Model::n_numeric() const {
  int n = 0;
  for (const auto& f : features) n += f.kind == Kind::kNumeric;
  return n;
}

int Model::encoded_dim() const {
  int d = 0;
  for (const auto& f : features) d += f.kind == Kind::kNumeric ? 1 : int(f.levels.size());
  return d;
}

std::vector<std::string> Model::encoded_names() const {
  std::vector<std::string> out;
  for (const auto& f : features) {
    if (f.kind == Kind::kNumeric)
      out.push_back(f.name);
    else
      for (const auto& l : f.levels) out.push_back(f.name + "_" + l);
  }
  return out;
}

void Model::validate() const {
  auto fail = [](const std::string& w) { throw Error(ErrorCode::kInvalidArgument, "invalid model: " + w); };
  if (features.empty()) fail("no features");
  if (int(features.size()) > kMaxFeatures) fail("too many features");
  std::set<std::string> names;
  bool seen_cat = false;
  for (const auto& f : features) {
    if (f.name.empty()) fail("empty feature name");
    if (f.name.find('\0') != std::string::npos) fail("feature name with a NUL byte");
    if (!names.insert(f.name).second) fail("duplicate feature \"" + f.name + "\"");
    if (f.kind == Kind::kNumeric) {
      if (seen_cat) fail("numeric feature \"" + f.name + "\" after a categorical one");
      if (!std::isfinite(f.impute)) fail("non-finite imputation value of \"" + f.name + "\"");
      if (!f.levels.empty()) fail("numeric feature \"" + f.name + "\" has levels");
      const std::string p = transform_problem(f.transform);
      if (!p.empty()) fail(p + " in \"" + f.name + "\"");
    } else {
      seen_cat = true;
      if (f.transform.any()) fail("categorical feature \"" + f.name + "\" has a transform");
      if (f.levels.empty()) fail("categorical feature \"" + f.name + "\" has no levels");
      if (int(f.levels.size()) > kMaxLevelsPerColumn) fail("too many levels in \"" + f.name + "\"");
      for (size_t i = 1; i < f.levels.size(); ++i)
        if (!less_bytes(f.levels[i - 1], f.levels[i]))
          fail("levels of \"" + f.name + "\" are not unique and sorted");
      for (const auto& l : f.levels)
        if (l.find('\0') != std::string::npos) fail("level with a NUL byte");
    }
  }
  const int d = encoded_dim();
  if (d < 1 || d > kMaxFeatures) fail("encoded dimension out of range");
  if (int(mean.size()) != d || int(scale.size()) != d) fail("scaler has the wrong dimension");
  for (int j = 0; j < d; ++j) {
    if (!std::isfinite(mean[j])) fail("non-finite scaler mean");
    if (!std::isfinite(scale[j]) || !(scale[j] > 0)) fail("scaler scale must be finite and positive");
  }
  if (n_components < 0 || n_components > d) fail("n_components out of range");
  if (n_components > 0) {
    size_t c = size_t(n_components);
    if (pca_mean.size() != size_t(d) || components.size() != c * size_t(d) || explained_variance.size() != c ||
        explained_variance_ratio.size() != c)
      fail("PCA arrays have the wrong dimension");
    for (double v : pca_mean)
      if (!std::isfinite(v)) fail("non-finite PCA mean");
    for (double v : components)
      if (!std::isfinite(v)) fail("non-finite PCA component");
    for (double v : explained_variance)
      if (!std::isfinite(v)) fail("non-finite explained variance");
    for (double v : explained_variance_ratio)
      if (!std::isfinite(v)) fail("non-finite explained variance ratio");
  } else if (!pca_mean.empty() || !components.empty() || !explained_variance.empty() ||
             !explained_variance_ratio.empty()) {
    fail("PCA arrays without a PCA stage");
  }
  if (k < 0 || k > kMaxK) fail("k out of range");
  if (k > 0) {
    if (centroids.size() != size_t(k) * size_t(output_dim())) fail("centroids have the wrong dimension");
    for (double v : centroids)
      if (!std::isfinite(v)) fail("non-finite centroid");
    if (segment_ids.size() != size_t(k)) fail("segment numbers have the wrong length");
    std::set<int32_t> ids;
    for (int32_t s : segment_ids) {
      if (s < 0) fail("negative segment number");
      if (!ids.insert(s).second) fail("duplicate segment number");
    }
  } else if (!centroids.empty() || !segment_ids.empty()) {
    fail("centroids without a k-means stage");
  }
  validate_method(fail);
}

void Model::validate_method(const std::function<void(const std::string&)>& fail) const {
  const size_t kk = size_t(k), p = size_t(output_dim());
  auto finite = [&](const std::vector<double>& v, const char* what) {
    for (double x : v)
      if (!std::isfinite(x)) fail(std::string("non-finite ") + what);
  };
  if (int(method) > int(Method::kDbscan)) fail("unknown method");
  if (k == 0 && (method != Method::kKMeans || !outlier_threshold.empty())) fail("a clustering method without segments");
  if (!outlier_threshold.empty()) {
    if (outlier_threshold.size() != kk) fail("outlier thresholds have the wrong length");
    if (!(outlier_quantile > 0 && outlier_quantile <= 1)) fail("outlier quantile out of range");
    for (double x : outlier_threshold)
      if (std::isinf(x)) fail("infinite outlier threshold");
  } else if (outlier_quantile != 0) {
    fail("an outlier quantile without thresholds");
  }
  const bool gmm = method == Method::kGmm, tree = method == Method::kHierarchical, db = method == Method::kDbscan;
  if (!gmm && (covariance_diag || !weights.empty() || !covariances.empty() || !std::isnan(log_likelihood)))
    fail("mixture arrays without gmm");
  if (gmm) {
    if (weights.size() != kk || covariances.size() != kk * (covariance_diag ? p : p * p))
      fail("mixture arrays have the wrong dimension");
    finite(weights, "mixture weight");
    finite(covariances, "covariance");
    for (double w : weights)
      if (!(w > 0)) fail("mixture weights must be positive");
  }
  if (!tree && (!tree_children.empty() || !tree_height.empty() || !tree_size.empty() || !tree_centroids.empty() ||
                !tree_segment.empty() || !tree_threshold.empty()))
    fail("a merge tree without hierarchical");
  if (tree) {
    const int leaves = tree_leaves();
    if (leaves < k || leaves > kMaxTreeLeaves || tree_size.size() != size_t(2 * leaves - 1))
      fail("the merge tree has the wrong number of nodes");
    const size_t nodes = tree_size.size(), merges = size_t(leaves - 1);
    if (tree_children.size() != 2 * merges || tree_height.size() != merges || tree_centroids.size() != nodes * p ||
        tree_segment.size() != nodes || tree_threshold.size() != nodes)
      fail("merge tree arrays have the wrong dimension");
    finite(tree_height, "merge height");
    finite(tree_centroids, "tree centroid");
    std::vector<char> used(nodes, 0);
    for (size_t i = 0; i < merges; ++i) {
      for (int side = 0; side < 2; ++side) {
        const int32_t c = tree_children[2 * i + size_t(side)];
        if (c < 0 || size_t(c) >= size_t(leaves) + i || used[size_t(c)]) fail("the merge tree is not a tree");
        used[size_t(c)] = 1;
      }
      if (i > 0 && tree_height[i] < tree_height[i - 1]) fail("merge heights decrease");
      if (tree_size[size_t(leaves) + i] !=
          tree_size[size_t(tree_children[2 * i])] + tree_size[size_t(tree_children[2 * i + 1])])
        fail("a merge's size is not its children's");
    }
    for (double n : tree_size)
      if (!(n >= 1) || std::floor(n) != n) fail("tree node sizes must be positive integers");
    for (size_t node = 0; node < nodes; ++node)
      if (tree_segment[node] < (node < size_t(leaves) ? 0 : -1) || tree_segment[node] >= k)
        fail("tree node segment out of range");
    for (double x : tree_threshold)
      if (std::isinf(x)) fail("infinite tree threshold");
  }
  if (!db && (eps != 0 || min_samples != 0 || !core_points.empty() || !core_segment.empty()))
    fail("core rows without dbscan");
  if (db) {
    if (!(eps > 0) || !std::isfinite(eps) || min_samples < 1) fail("eps and min_samples out of range");
    if (core_points.size() != core_segment.size() * p || core_segment.empty()) fail("core rows have the wrong dimension");
    finite(core_points, "core row");
    for (int32_t sgm : core_segment)
      if (sgm < 0 || sgm >= k) fail("core row segment out of range");
  }
}

std::vector<uint8_t> serialize(const Model& m) {
  m.validate();
  const int d = m.encoded_dim();
  const int p = m.output_dim();
  const int n_num = m.n_numeric();
  const int n_cat = m.n_categorical();
  std::vector<std::string> strings;
  for (const auto& f : m.features) strings.push_back(f.name);
  for (const auto& f : m.features)
    for (const auto& l : f.levels) strings.push_back(l);
  size_t str_len = 0;
  for (const auto& s : strings) str_len += s.size();

  Header h{};
  h.magic = kMagic;
  h.version = m.format_version();
  h.flags = m.scale_categoricals ? 1 : 0;
  h.n_features = int32_t(m.features.size());
  h.n_numeric = n_num;
  h.dim = d;
  h.n_components = m.n_components;
  h.k = m.k;
  size_t off = kReserved + align8(sizeof(Header));
  auto take = [&off](size_t bytes) {
    size_t o = off;
    off += align8(bytes);
    return uint64_t(o);
  };
  h.off_mean = take(sizeof(double) * d);
  h.off_scale = take(sizeof(double) * d);
  h.off_impute = take(sizeof(double) * n_num);
  h.off_pca_mean = take(sizeof(double) * m.pca_mean.size());
  h.off_components = take(sizeof(double) * m.components.size());
  h.off_ev = take(sizeof(double) * m.explained_variance.size());
  h.off_evr = take(sizeof(double) * m.explained_variance_ratio.size());
  h.off_centroids = take(sizeof(double) * size_t(m.k) * size_t(p));
  h.off_info = take(sizeof(double) * kInfoFields);
  h.off_segment_ids = take(sizeof(int32_t) * size_t(m.k));
  h.off_level_count = take(sizeof(uint32_t) * size_t(n_cat));
  h.off_str_off = take(sizeof(uint32_t) * (strings.size() + 1));
  h.off_str_bytes = take(str_len);
  h.off_options = take(m.options_json.size());
  // Format 2: the transforms follow the options, (flags, lo, hi) per numeric feature, then the
  // method section.
  const uint64_t off_transforms = h.version >= 2 ? take(sizeof(double) * 3 * size_t(n_num)) : 0;
  const std::vector<double> msec = h.version >= 2 ? method_section(m) : std::vector<double>();
  const uint64_t off_method = h.version >= 2 ? take(sizeof(double) * msec.size()) : 0;
  h.n_strings = uint32_t(strings.size());
  h.str_bytes_len = uint32_t(str_len);
  h.options_len = uint32_t(m.options_json.size());
  h.total_len = off;

  std::vector<uint8_t> buf(off, 0);
  uint8_t* b = buf.data();
  std::memcpy(b + kReserved, &h, sizeof h);
  auto put = [b](uint64_t o, const void* src, size_t bytes) {
    if (bytes) std::memcpy(b + o, src, bytes);
  };
  put(h.off_mean, m.mean.data(), sizeof(double) * d);
  put(h.off_scale, m.scale.data(), sizeof(double) * d);
  std::vector<double> impute;
  for (const auto& f : m.features)
    if (f.kind == Kind::kNumeric) impute.push_back(f.impute);
  put(h.off_impute, impute.data(), sizeof(double) * impute.size());
  put(h.off_pca_mean, m.pca_mean.data(), sizeof(double) * m.pca_mean.size());
  put(h.off_components, m.components.data(), sizeof(double) * m.components.size());
  put(h.off_ev, m.explained_variance.data(), sizeof(double) * m.explained_variance.size());
  put(h.off_evr, m.explained_variance_ratio.data(), sizeof(double) * m.explained_variance_ratio.size());
  put(h.off_centroids, m.centroids.data(), sizeof(double) * m.centroids.size());
  double info[kInfoFields];
  info_to_array(m.info, info);
  put(h.off_info, info, sizeof info);
  put(h.off_segment_ids, m.segment_ids.data(), sizeof(int32_t) * m.segment_ids.size());
  std::vector<uint32_t> counts;
  for (const auto& f : m.features)
    if (f.kind == Kind::kCategorical) counts.push_back(uint32_t(f.levels.size()));
  put(h.off_level_count, counts.data(), sizeof(uint32_t) * counts.size());
  std::vector<uint32_t> offs;
  uint32_t pos = 0;
  for (const auto& s : strings) {
    offs.push_back(pos);
    put(h.off_str_bytes + pos, s.data(), s.size());
    pos += uint32_t(s.size());
  }
  offs.push_back(pos);
  put(h.off_str_off, offs.data(), sizeof(uint32_t) * offs.size());
  put(h.off_options, m.options_json.data(), m.options_json.size());
  if (h.version >= 2) {
    std::vector<double> t;
    for (const auto& f : m.features)
      if (f.kind == Kind::kNumeric) {
        t.push_back(double(f.transform.flags));
        t.push_back(f.transform.lo);
        t.push_back(f.transform.hi);
      }
    put(off_transforms, t.data(), sizeof(double) * t.size());
    put(off_method, msec.data(), sizeof(double) * msec.size());
  }
  return buf;
}

ModelView::ModelView(const uint8_t* data, size_t len) : base_(data) {
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) corrupt("misaligned buffer");
  if (len < kReserved + sizeof(Header)) corrupt("too short");
  Header h;
  std::memcpy(&h, data + kReserved, sizeof h);
  if (h.magic != kMagic) corrupt("bad magic number");
  if (h.version < 1 || h.version > Model::kFormatVersion)
    throw Error(ErrorCode::kInvalidBinary,
                "custseg_model format version " + std::to_string(h.version) + " is not supported",
                "this build reads format versions 1 to " + std::to_string(Model::kFormatVersion) +
                    "; retrain the model or upgrade custseg");
  if (h.flags > 1) corrupt("unknown flags");
  if (h.total_len != len) corrupt("length mismatch");
  if (h.n_features < 1 || h.n_features > kMaxFeatures || h.n_numeric < 0 || h.n_numeric > h.n_features ||
      h.dim < 1 || h.dim > kMaxFeatures || h.n_components < 0 || h.n_components > h.dim || h.k < 0 ||
      h.k > kMaxK)
    corrupt("dimensions out of range");
  n_features_ = h.n_features;
  n_numeric_ = h.n_numeric;
  dim_ = h.dim;
  n_components_ = h.n_components;
  k_ = h.k;
  const size_t n_cat = size_t(n_features_ - n_numeric_);
  const size_t p = size_t(output_dim());
  auto section = [&](uint64_t off, size_t bytes) -> const uint8_t* {
    if (off % 8 != 0 || off < kReserved + sizeof(Header) || off > len || bytes > len - off)
      corrupt("section out of bounds");
    return data + off;
  };
  auto doubles = [&](uint64_t off, size_t count, bool positive) {
    const double* a = reinterpret_cast<const double*>(section(off, count * sizeof(double)));
    for (size_t i = 0; i < count; ++i)
      if (!std::isfinite(a[i]) || (positive && !(a[i] > 0))) corrupt("non-finite or invalid number");
    return a;
  };
  mean_ = doubles(h.off_mean, size_t(dim_), false);
  scale_ = doubles(h.off_scale, size_t(dim_), true);
  impute_ = doubles(h.off_impute, size_t(n_numeric_), false);
  const size_t c = size_t(n_components_);
  pca_mean_ = doubles(h.off_pca_mean, c ? size_t(dim_) : 0, false);
  components_ = doubles(h.off_components, c * size_t(dim_), false);
  doubles(h.off_ev, c, false);
  doubles(h.off_evr, c, false);
  centroids_ = doubles(h.off_centroids, size_t(k_) * p, false);
  section(h.off_info, kInfoFields * sizeof(double));
  segment_ids_ = reinterpret_cast<const int32_t*>(section(h.off_segment_ids, size_t(k_) * sizeof(int32_t)));
  {
    std::set<int32_t> ids;
    for (int i = 0; i < k_; ++i)
      if (segment_ids_[i] < 0 || !ids.insert(segment_ids_[i]).second) corrupt("bad segment numbers");
  }
  level_count_ = reinterpret_cast<const uint32_t*>(section(h.off_level_count, n_cat * sizeof(uint32_t)));
  uint64_t total_levels = 0;
  for (size_t i = 0; i < n_cat; ++i) {
    if (level_count_[i] < 1 || level_count_[i] > uint32_t(kMaxLevelsPerColumn)) corrupt("bad level count");
    total_levels += level_count_[i];
  }
  if (uint64_t(n_numeric_) + total_levels != uint64_t(dim_)) corrupt("dimension does not match the features");
  if (uint64_t(h.n_strings) != uint64_t(n_features_) + total_levels) corrupt("bad string count");
  n_strings_ = h.n_strings;
  str_off_ = reinterpret_cast<const uint32_t*>(section(h.off_str_off, (size_t(n_strings_) + 1) * sizeof(uint32_t)));
  str_bytes_ = reinterpret_cast<const char*>(section(h.off_str_bytes, h.str_bytes_len));
  if (str_off_[0] != 0 || str_off_[n_strings_] != h.str_bytes_len) corrupt("bad string table");
  for (uint32_t i = 0; i < n_strings_; ++i)
    if (str_off_[i + 1] < str_off_[i]) corrupt("bad string table");
  for (uint32_t i = 0; i < uint32_t(n_features_); ++i)
    if (str_off_[i + 1] == str_off_[i]) corrupt("empty feature name");
  section(h.off_options, h.options_len);
  transforms_ = nullptr;
  if (h.version == 1 && align8(h.off_options + h.options_len) != len) corrupt("bytes after the options");
  if (h.version >= 2) {
    // The transforms section follows the options, then the method section ends the buffer.
    const uint64_t off = align8(h.off_options + h.options_len);
    const size_t bytes = sizeof(double) * 3 * size_t(n_numeric_);
    if (off + bytes > len) corrupt("bad transforms section");
    const double* t = reinterpret_cast<const double*>(section(off, bytes));
    for (int j = 0; j < n_numeric_; ++j) {
      const double f = t[3 * j];
      if (!(f == 0 || f == 1 || f == 2 || f == 3)) corrupt("unknown transform");
      Transform tr;
      tr.flags = unsigned(f);
      tr.lo = t[3 * j + 1];
      tr.hi = t[3 * j + 2];
      if (!transform_problem(tr).empty()) corrupt(transform_problem(tr));
    }
    transforms_ = t;
    const uint64_t moff = off + bytes;
    if ((len - moff) % sizeof(double) != 0) corrupt("bad method section");
    const size_t count = (len - moff) / sizeof(double);
    const double* a = reinterpret_cast<const double*>(section(moff, count * sizeof(double)));
    // The method's arrays are read into a model of the same k and output dimension, validated as
    // a model is, and scored in place.
    Model mm;
    mm.k = k_;
    mm.n_components = int(p);
    if (!read_method_section(a, count, mm)) corrupt("bad method section");
    try {
      mm.validate_method([](const std::string& w) { corrupt(w); });
    } catch (const Error&) {
      throw;
    }
    method_ = mm.method;
    bool any_transform = false;
    for (int j = 0; j < n_numeric_; ++j) any_transform = any_transform || t[3 * j] != 0;
    if (!any_transform && method_ == Method::kKMeans && mm.outlier_threshold.empty())
      corrupt("format version 2 without a transform, another method or outlier thresholds");
    size_t at = size_t(kMethodHead);
    if (!mm.outlier_threshold.empty()) {
      thresholds_ = a + at;
      at += size_t(k_);
    }
    if (method_ == Method::kGmm) {
      try {
        gmm_ = std::make_shared<GmmScorer>(k_, int(p), mm.covariance_diag, centroids_, a + at, a + at + k_);
      } catch (const Error& e) {
        corrupt(std::string("mixture: ") + e.what());
      }
    }
    if (method_ == Method::kHierarchical) {
      // Layout order: children, heights, sizes, segments, thresholds, centroids (leaves first).
      n_leaves_ = mm.tree_leaves();
      const size_t nodes = mm.tree_size.size(), merges = nodes / 2;
      const double* tree = a + at;
      leaf_segment_ = tree + 3 * merges + nodes;
      leaves_ = tree + 3 * merges + 3 * nodes;
    }
    if (method_ == Method::kDbscan) {
      n_core_ = int(mm.core_segment.size());
      eps_ = mm.eps;
      core_segment_ = a + count - size_t(n_core_) * (1 + p);
      core_points_ = core_segment_ + n_core_;
    }
  }
  level_first_.resize(n_cat);
  dummy_first_.resize(n_cat);
  uint32_t s = uint32_t(n_features_);
  uint32_t col = uint32_t(n_numeric_);
  for (size_t i = 0; i < n_cat; ++i) {
    level_first_[i] = s;
    dummy_first_[i] = col;
    for (uint32_t l = 1; l < level_count_[i]; ++l) {
      uint32_t a = s + l - 1, b = s + l;
      size_t la = str_off_[a + 1] - str_off_[a], lb = str_off_[b + 1] - str_off_[b];
      int cmp = std::memcmp(str_bytes_ + str_off_[a], str_bytes_ + str_off_[b], std::min(la, lb));
      if (!(cmp < 0 || (cmp == 0 && la < lb))) corrupt("levels are not unique and sorted");
    }
    s += level_count_[i];
    col += level_count_[i];
  }
  // The level index: a category costs one hash and, on a hit, one comparison.
  slot_first_.resize(n_cat);
  slot_mask_.resize(n_cat);
  size_t slots = 0;
  for (size_t i = 0; i < n_cat; ++i) {
    uint32_t size = 4;
    while (size < 2 * level_count_[i]) size <<= 1;
    slot_first_[i] = uint32_t(slots);
    slot_mask_[i] = size - 1;
    slots += size;
  }
  // The levels' keys, for the columns whose levels are all of at most 16 bytes.
  key_first_.assign(n_cat, -1);
  for (size_t i = 0; i < n_cat; ++i) {
    const size_t at = level_keys_.size();
    bool fits = true;
    for (uint32_t l = 0; l < level_count_[i] && fits; ++l) {
      const uint32_t si = level_first_[i] + l;
      TextKey k;
      fits = text_key(str_bytes_ + str_off_[si], str_off_[si + 1] - str_off_[si], k);
      level_keys_.push_back(k);
    }
    if (!fits) {
      level_keys_.resize(at);
      continue;
    }
    key_first_[i] = int64_t(at);
  }
  level_slots_.assign(slots, 0);
  for (size_t i = 0; i < n_cat; ++i)
    for (uint32_t l = 0; l < level_count_[i]; ++l) {
      const uint32_t si = level_first_[i] + l;
      const uint64_t h = key_first_[i] >= 0 ? level_key_hash(level_keys_[size_t(key_first_[i]) + l])
                                            : level_text_hash(str_bytes_ + str_off_[si], str_off_[si + 1] - str_off_[si]);
      uint32_t slot = uint32_t(h) & slot_mask_[i];
      while (level_slots_[slot_first_[i] + slot] != 0) slot = (slot + 1) & slot_mask_[i];
      level_slots_[slot_first_[i] + slot] = l + 1;
    }
  if (n_components_ > 0) fold_.build(components_, mean_, scale_, pca_mean_, dim_, n_numeric_, n_components_);
}

std::string ModelView::feature_name(int i) const {
  return std::string(str_bytes_ + str_off_[i], str_off_[i + 1] - str_off_[i]);
}

const double* ModelView::centroid(int i) const { return centroids_ + size_t(i) * size_t(output_dim()); }
int32_t ModelView::segment_id(int i) const { return segment_ids_[i]; }

Transform ModelView::feature_transform(int i) const {
  Transform t;
  if (transforms_ && i >= 0 && i < n_numeric_) {
    t.flags = unsigned(transforms_[3 * i]);
    t.lo = transforms_[3 * i + 1];
    t.hi = transforms_[3 * i + 2];
  }
  return t;
}

void ModelView::transform(const double* numeric, const StrRef* categorical, double* z, double* out) const {
  for (int j = 0; j < n_numeric_; ++j) {
    double x = numeric[j];
    if (std::isnan(x)) {
      x = impute_[j];  // the training mean of the transformed values
    } else if (transforms_ && transforms_[3 * j] != 0) {
      const double raw = x;
      if (!feature_transform(j).apply(x)) throw_log1p_domain(feature_name(j), raw);
    }
    z[j] = x;
  }
  const int n_cat = n_features_ - n_numeric_;
  if (n_components_ > 0) {
    int active[kMaxFeatures];  // n_features_ <= kMaxFeatures (validated)
    for (int c = 0; c < n_cat; ++c) {
      const int hit = level_of(c, categorical[c]);
      active[c] = hit < 0 ? -1 : int(dummy_first_[size_t(c)]) + hit;
    }
    fold_.project(z, active, n_cat, out);
    return;
  }
  for (int j = 0; j < n_numeric_; ++j) out[j] = (z[j] - mean_[j]) / scale_[j];
  for (int c = 0; c < n_cat; ++c) {
    const int hit = level_of(c, categorical[c]);
    const uint32_t count = level_count_[c], col = dummy_first_[size_t(c)];
    for (uint32_t l = 0; l < count; ++l) {
      const uint32_t j = col + l;
      out[j] = ((int(l) == hit ? 1.0 : 0.0) - mean_[j]) / scale_[j];
    }
  }
}

int ModelView::level_of(int c, const StrRef& v) const {
  if (v.is_null) return -1;
  const uint32_t* slots = level_slots_.data() + slot_first_[size_t(c)];
  const uint32_t mask = slot_mask_[size_t(c)];
  if (const int64_t kf = key_first_[size_t(c)]; kf >= 0) {
    TextKey k;
    if (!text_key(v.data, v.len, k)) return -1;  // longer than every level
    const TextKey* keys = level_keys_.data() + kf;
    if (const int count = int(level_count_[size_t(c)]); count <= kSmallLevels) {
      for (int l = 0; l < count; ++l)
        if (keys[l] == k) return l;
      return -1;
    }
    for (uint32_t slot = uint32_t(level_key_hash(k)) & mask; slots[slot] != 0; slot = (slot + 1) & mask)
      if (keys[slots[slot] - 1] == k) return int(slots[slot] - 1);
    return -1;
  }
  const uint32_t first = level_first_[size_t(c)];
  for (uint32_t slot = uint32_t(level_text_hash(v.data, v.len)) & mask; slots[slot] != 0; slot = (slot + 1) & mask) {
    const uint32_t si = first + slots[slot] - 1;
    const size_t ll = str_off_[si + 1] - str_off_[si];
    if (ll == v.len && (ll == 0 || std::memcmp(str_bytes_ + str_off_[si], v.data, ll) == 0)) return int(slots[slot] - 1);
  }
  return -1;
}

namespace {

// The nearest and runner-up of k centroids (rows of ctrs, width p) by squared distance computed in
// T; index -1 when no distance is below infinity.
template <typename T>
void nearest_two(const double* x, const double* ctrs, int k, int p, Score& s, T& best, T& second) {
  best = second = std::numeric_limits<T>::infinity();
  s.index = s.runner_up_index = -1;
  for (int c = 0; c < k; ++c) {
    const double* ctr = ctrs + size_t(c) * size_t(p);
    T d2 = 0;
    for (int j = 0; j < p; ++j) {
      T t = static_cast<T>(x[j]) - static_cast<T>(ctr[j]);
      d2 += t * t;
    }
    if (d2 < best) {
      second = best;
      s.runner_up_index = s.index;
      best = d2;
      s.index = c;
    } else if (d2 < second) {
      second = d2;
      s.runner_up_index = c;
    }
  }
}

// The nearest of n rows (width p) to x and its squared distance; comparisons in long double when
// every squared distance overflows a double. -1 when none is finite (NaN coordinates).
int nearest_row(const double* x, const double* rows, int n, int p, double& best_d2) {
  double best = std::numeric_limits<double>::infinity();
  int at = -1;
  if (p == 2) {
    // The default PCA space: the same sums as below, unrolled.
    const double x0 = x[0], x1 = x[1];
    for (int i = 0; i < n; ++i) {
      const double t0 = x0 - rows[2 * i], t1 = x1 - rows[2 * i + 1];
      const double d2 = t0 * t0 + t1 * t1;
      if (d2 < best) best = d2, at = i;
    }
  } else {
    for (int i = 0; i < n; ++i) {
      const double* c = rows + size_t(i) * size_t(p);
      double d2 = 0;
      for (int j = 0; j < p; ++j) {
        const double t = x[j] - c[j];
        d2 += t * t;
      }
      if (d2 < best) best = d2, at = i;
    }
  }
  if (at < 0) {
    long double best_l = std::numeric_limits<long double>::infinity();
    for (int i = 0; i < n; ++i) {
      const double* c = rows + size_t(i) * size_t(p);
      long double d2 = 0;
      for (int j = 0; j < p; ++j) {
        const long double t = static_cast<long double>(x[j]) - c[j];
        d2 += t * t;
      }
      if (d2 < best_l) best_l = d2, at = i;
    }
  }
  best_d2 = best;
  return at;
}

}  // namespace

Score ModelView::nearest(const double* x) const {
  if (k_ == 0)
    throw Error(ErrorCode::kNotFitted, "model has no k-means stage",
                "train it with a \"k\" option to assign segments");
  const int p = output_dim();
  Score s;
  double best, second;
  nearest_two(x, centroids_, k_, p, s, best, second);
  if (s.index < 0) {
    // Every squared distance overflowed (a row far beyond the training data) or is NaN: compare in
    // long double, whose range holds the square of any double; NaN coordinates stay an error.
    long double best_l, second_l;
    nearest_two(x, centroids_, k_, p, s, best_l, second_l);
    if (s.index < 0)
      throw Error(ErrorCode::kOutOfRange, "row is out of range for the model: its k-means coordinates are not finite",
                  "a feature value lies far beyond the values the model was trained on");
    best = double(std::sqrt(best_l));
    second = double(std::sqrt(second_l));
  } else {
    best = std::sqrt(best);
    second = std::sqrt(second);
  }
  s.segment = segment_ids_[s.index];
  s.distance = best;
  s.runner_up = second;
  return s;
}

int32_t ModelView::nearest_segment(const double* x) const {
  double best;
  const int at = nearest_row(x, centroids_, k_, output_dim(), best);
  // None (NaN coordinates, or no centroids): nearest() reports the error.
  if (at < 0) return nearest(x).segment;
  return segment_ids_[at];
}

Score ModelView::assign(const double* x, double* distances, double* probabilities) const {
  if (k_ == 0)
    throw Error(ErrorCode::kNotFitted, "model has no k-means stage",
                "train it with a \"k\" option to assign segments");
  const int p = output_dim();
  if (method_ == Method::kDbscan) {
    // The nearest core row; within eps its cluster, else noise.
    Score s;
    double best;
    const int at = nearest_row(x, core_points_, n_core_, p, best);
    for (int j = 0; j < p; ++j)
      if (!std::isfinite(x[j]))
        throw Error(ErrorCode::kOutOfRange, "row is out of range for the model: its coordinates are not finite",
                    "a feature value lies far beyond the values the model was trained on");
    s.distance = std::sqrt(best);
    s.runner_up = std::numeric_limits<double>::infinity();
    if (at >= 0 && s.distance <= eps_) {
      s.index = int(core_segment_[at]);
      s.segment = segment_ids_[s.index];
      s.outlier = 0;
    } else {
      s.index = -1;
      s.segment = -1;
      s.outlier = 1;
      s.why = "noise: no core row of a cluster lies within eps";
    }
    return s;
  }
  Score s = nearest(x);
  if (method_ == Method::kHierarchical) {
    // The segment of the nearest leaf (a clustered row): training rows score as the tree put them.
    double best;
    const int leaf = std::max(nearest_row(x, leaves_, n_leaves_, p, best), 0);  // x is finite (nearest() checked)
    const int seg = int(leaf_segment_[leaf]);
    if (seg != s.index) {
      // Distances to the own centroid and to the nearest other one.
      auto dist = [&](int c) {
        const double* ctr = centroids_ + size_t(c) * size_t(p);
        double d2 = 0;
        for (int j = 0; j < p; ++j) d2 += (x[j] - ctr[j]) * (x[j] - ctr[j]);
        return std::sqrt(d2);
      };
      s.runner_up_index = s.index;
      s.runner_up = s.distance;
      s.index = seg;
      s.segment = segment_ids_[seg];
      s.distance = dist(seg);
    }
  }
  if (distances)
    for (int c = 0; c < k_; ++c) {
      const double* ctr = centroids_ + size_t(c) * size_t(p);
      long double d2 = 0;
      for (int j = 0; j < p; ++j) {
        const long double t = static_cast<long double>(x[j]) - ctr[j];
        d2 += t * t;
      }
      distances[c] = double(std::sqrt(d2));
    }
  if (method_ == Method::kGmm) {
    double log_prob[kMaxK], post[kMaxK];
    s.log_likelihood = gmm_->score(x, log_prob, post);
    int best = 0;
    for (int c = 1; c < k_; ++c)
      if (log_prob[c] > log_prob[best]) best = c;
    if (!std::isfinite(s.log_likelihood)) {
      // So far from every component that no density is representable: the nearest mean takes it
      // whole (and its log-likelihood, -inf, is below every threshold).
      best = s.index;
      for (int c = 0; c < k_; ++c) post[c] = c == best ? 1.0 : 0.0;
    }
    if (probabilities) std::memcpy(probabilities, post, sizeof(double) * size_t(k_));
    // The segment is the most probable component; distance is to its mean, runner-up the
    // nearest other mean.
    const double* own = centroids_ + size_t(best) * size_t(p);
    double d2 = 0, second = std::numeric_limits<double>::infinity();
    for (int j = 0; j < p; ++j) d2 += (x[j] - own[j]) * (x[j] - own[j]);
    for (int c = 0; c < k_; ++c) {
      if (c == best) continue;
      const double* o = centroids_ + size_t(c) * size_t(p);
      double e = 0;
      for (int j = 0; j < p; ++j) e += (x[j] - o[j]) * (x[j] - o[j]);
      if (e < second) second = e, s.runner_up_index = c;
    }
    s.index = best;
    s.segment = segment_ids_[best];
    s.distance = std::sqrt(d2);
    s.runner_up = std::sqrt(second);
    s.probability = post[best];
    if (thresholds_ && std::isfinite(thresholds_[best])) {
      s.outlier = s.log_likelihood < thresholds_[best] ? 1 : 0;
      if (s.outlier) s.why = "outlier: its log-likelihood is below its segment's threshold";
    }
    return s;
  }
  if (thresholds_ && std::isfinite(thresholds_[s.index])) {
    s.outlier = s.distance > thresholds_[s.index] ? 1 : 0;
    if (s.outlier) s.why = "outlier: farther from its centroid than its segment's threshold";
  }
  return s;
}

Model deserialize(const uint8_t* data, size_t len) {
  ModelView v(data, len);
  Header h;
  std::memcpy(&h, data + kReserved, sizeof h);
  Model m;
  m.scale_categoricals = h.flags & 1;
  const int d = h.dim, c = h.n_components, k = h.k, nn = h.n_numeric;
  auto vec = [data](uint64_t off, size_t n) {
    const double* a = reinterpret_cast<const double*>(data + off);
    return std::vector<double>(a, a + n);
  };
  const uint32_t* offs = reinterpret_cast<const uint32_t*>(data + h.off_str_off);
  const char* bytes = reinterpret_cast<const char*>(data + h.off_str_bytes);
  auto str = [&](uint32_t i) { return std::string(bytes + offs[i], offs[i + 1] - offs[i]); };
  const double* impute = reinterpret_cast<const double*>(data + h.off_impute);
  const uint32_t* counts = reinterpret_cast<const uint32_t*>(data + h.off_level_count);
  uint32_t s = uint32_t(h.n_features);
  for (int i = 0; i < h.n_features; ++i) {
    Feature f;
    f.name = str(uint32_t(i));
    if (i < nn) {
      f.kind = Kind::kNumeric;
      f.impute = impute[i];
      f.transform = v.feature_transform(i);
    } else {
      f.kind = Kind::kCategorical;
      for (uint32_t l = 0; l < counts[i - nn]; ++l) f.levels.push_back(str(s++));
    }
    m.features.push_back(std::move(f));
  }
  m.mean = vec(h.off_mean, size_t(d));
  m.scale = vec(h.off_scale, size_t(d));
  m.n_components = c;
  if (c > 0) {
    m.pca_mean = vec(h.off_pca_mean, size_t(d));
    m.components = vec(h.off_components, size_t(c) * size_t(d));
    m.explained_variance = vec(h.off_ev, size_t(c));
    m.explained_variance_ratio = vec(h.off_evr, size_t(c));
  }
  m.k = k;
  m.centroids = vec(h.off_centroids, size_t(k) * size_t(m.output_dim()));
  const int32_t* ids = reinterpret_cast<const int32_t*>(data + h.off_segment_ids);
  m.segment_ids.assign(ids, ids + k);
  m.info = info_from_array(reinterpret_cast<const double*>(data + h.off_info));
  if (h.version >= 2) {
    const uint64_t moff = align8(h.off_options + h.options_len) + sizeof(double) * 3 * size_t(nn);
    if (!read_method_section(reinterpret_cast<const double*>(data + moff), (len - moff) / sizeof(double), m))
      corrupt("bad method section");
  }
  // Training metadata is a number or NaN ("not computed", null in the text form); an infinity or a
  // NaN with another payload would not survive the text form, so the first is corrupt and the
  // second is made the canonical NaN.
  for (double* x : {&m.info.rows_seen, &m.info.rows_skipped, &m.info.rows_used, &m.info.rows_clustered,
                    &m.info.inertia, &m.info.n_iter, &m.info.silhouette, &m.info.silhouette_rows,
                    &m.info.calinski_harabasz, &m.info.davies_bouldin}) {
    if (std::isinf(*x)) corrupt("infinite training metric");
    if (std::isnan(*x)) *x = std::numeric_limits<double>::quiet_NaN();
  }
  // The options must be a JSON object (empty bytes are the empty object), kept in canonical form, or
  // the text form could not be written.
  if (h.options_len == 0) {
    m.options_json = "{}";
  } else {
    json::Value opts;
    try {
      opts = json::parse(reinterpret_cast<const char*>(data + h.off_options), h.options_len);
    } catch (const Error&) {
      corrupt("options are not valid JSON");
    }
    if (opts.type() != json::Type::kObject) corrupt("options are not a JSON object");
    // Canonical form; a model stored by 0.2.0 keeps its options as 0.2.0 wrote them ("1e+05"), so
    // it reads and writes back byte for byte.
    const std::string raw(reinterpret_cast<const char*>(data + h.off_options), h.options_len);
    m.options_json = json::write_legacy(opts) == raw ? raw : json::write(opts);
  }
  try {
    m.validate();
  } catch (const Error& e) {
    corrupt(e.what());
  }
  return m;
}

// ---- JSON text form ----

namespace {

json::Value num_array(const std::vector<double>& v, size_t from = 0, size_t count = SIZE_MAX) {
  json::Value a = json::Value::array();
  size_t end = count == SIZE_MAX ? v.size() : from + count;
  for (size_t i = from; i < end; ++i) a.push(json::Value::number(v[i]));
  return a;
}

json::Value matrix(const std::vector<double>& v, int rows, int cols) {
  json::Value a = json::Value::array();
  for (int r = 0; r < rows; ++r) a.push(num_array(v, size_t(r) * size_t(cols), size_t(cols)));
  return a;
}

const json::Value& need(const json::Value& obj, const char* key, json::Type t) {
  const json::Value* v = obj.find(key);
  if (!v) bad_text(std::string("missing key \"") + key + "\"");
  if (v->type() != t) bad_text(std::string("key \"") + key + "\" has the wrong type");
  return *v;
}

void only_keys(const json::Value& obj, std::initializer_list<const char*> keys, const char* where) {
  for (const auto& m : obj.members()) {
    bool ok = false;
    for (const char* k : keys) ok = ok || m.first == k;
    if (!ok) bad_text("unknown key \"" + m.first + "\" in " + where);
  }
}

std::vector<double> read_numbers(const json::Value& a, const char* what) {
  if (a.type() != json::Type::kArray) bad_text(std::string(what) + " must be an array");
  if (a.items().size() > size_t(kMaxFeatures) * size_t(kMaxK)) bad_text(std::string(what) + " is too long");
  std::vector<double> out;
  for (const auto& x : a.items()) {
    if (x.type() != json::Type::kNumber) bad_text(std::string(what) + " must hold numbers");
    out.push_back(x.as_number());
  }
  return out;
}

std::vector<double> read_matrix(const json::Value& a, size_t cols, const char* what) {
  if (a.type() != json::Type::kArray) bad_text(std::string(what) + " must be an array of arrays");
  std::vector<double> out;
  for (const auto& row : a.items()) {
    std::vector<double> r = read_numbers(row, what);
    if (r.size() != cols) bad_text(std::string(what) + " rows have the wrong length");
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

int read_int(const json::Value& v, const char* what, int lo, int hi) {
  if (v.type() != json::Type::kNumber || std::floor(v.as_number()) != v.as_number() || v.as_number() < lo ||
      v.as_number() > hi)
    bad_text(std::string(what) + " must be an integer between " + std::to_string(lo) + " and " +
             std::to_string(hi));
  return int(v.as_number());
}

}  // namespace

json::Value to_json(const Model& m) {
  const int d = m.encoded_dim();
  json::Value root = json::Value::object();
  root.set("format", json::Value::string("custseg_model"));
  root.set("version", json::Value::number(m.format_version()));
  json::Value feats = json::Value::array();
  for (const auto& f : m.features) {
    json::Value o = json::Value::object();
    o.set("name", json::Value::string(f.name));
    if (f.kind == Kind::kNumeric) {
      o.set("kind", json::Value::string("numeric"));
      o.set("impute", json::Value::number(f.impute));
      if (f.transform.any()) {
        json::Value t = json::Value::object();
        if (f.transform.flags & Transform::kLog1p) t.set("log1p", json::Value::boolean(true));
        if (f.transform.flags & Transform::kClip) {
          json::Value b = json::Value::array();
          b.push(json::Value::number(f.transform.lo));
          b.push(json::Value::number(f.transform.hi));
          t.set("clip", b);
        }
        o.set("transform", t);
      }
    } else {
      o.set("kind", json::Value::string("categorical"));
      json::Value lv = json::Value::array();
      for (const auto& l : f.levels) lv.push(json::Value::string(l));
      o.set("levels", lv);
    }
    feats.push(o);
  }
  root.set("features", feats);
  json::Value names = json::Value::array();
  for (const auto& n : m.encoded_names()) names.push(json::Value::string(n));
  root.set("columns", names);
  json::Value scaler = json::Value::object();
  scaler.set("scale_categoricals", json::Value::boolean(m.scale_categoricals));
  scaler.set("mean", num_array(m.mean));
  scaler.set("scale", num_array(m.scale));
  root.set("scaler", scaler);
  if (m.n_components > 0) {
    json::Value pca = json::Value::object();
    pca.set("n_components", json::Value::number(m.n_components));
    pca.set("mean", num_array(m.pca_mean));
    pca.set("components", matrix(m.components, m.n_components, d));
    pca.set("explained_variance", num_array(m.explained_variance));
    pca.set("explained_variance_ratio", num_array(m.explained_variance_ratio));
    root.set("pca", pca);
  } else {
    root.set("pca", json::Value::null());
  }
  if (m.k > 0) {
    json::Value km = json::Value::object();
    km.set("k", json::Value::number(m.k));
    km.set("centroids", matrix(m.centroids, m.k, m.output_dim()));
    json::Value ids = json::Value::array();
    for (int32_t s : m.segment_ids) ids.push(json::Value::number(s));
    km.set("segments", ids);
    root.set("kmeans", km);
  } else {
    root.set("kmeans", json::Value::null());
  }
  if (m.format_version() >= 2 && m.k > 0) {
    // The method's part: absent in format 1 (k-means without outlier thresholds).
    const int p = m.output_dim();
    json::Value me = json::Value::object();
    me.set("name", json::Value::string(method_name(m.method)));
    auto ints = [](const std::vector<int32_t>& v) {
      json::Value a = json::Value::array();
      for (int32_t x : v) a.push(json::Value::number(x));
      return a;
    };
    if (!m.outlier_threshold.empty()) {
      me.set("outlier_quantile", json::Value::number(m.outlier_quantile));
      json::Value t = json::Value::array();
      for (double x : m.outlier_threshold) t.push(std::isnan(x) ? json::Value::null() : json::Value::number(x));
      me.set("outlier_thresholds", t);
    }
    if (m.method == Method::kGmm) {
      me.set("covariance_type", json::Value::string(m.covariance_diag ? "diag" : "full"));
      me.set("weights", num_array(m.weights));
      me.set("covariances", matrix(m.covariances, m.k, m.covariance_diag ? p : p * p));
      me.set("log_likelihood", std::isnan(m.log_likelihood) ? json::Value::null() : json::Value::number(m.log_likelihood));
    }
    if (m.method == Method::kHierarchical) {
      json::Value tr = json::Value::object();
      json::Value ch = json::Value::array();
      for (size_t i = 0; i + 1 < m.tree_children.size(); i += 2) {
        json::Value pair = json::Value::array();
        pair.push(json::Value::number(m.tree_children[i]));
        pair.push(json::Value::number(m.tree_children[i + 1]));
        ch.push(pair);
      }
      tr.set("children", ch);
      tr.set("heights", num_array(m.tree_height));
      tr.set("sizes", num_array(m.tree_size));
      tr.set("segments", ints(m.tree_segment));
      json::Value th = json::Value::array();
      for (double x : m.tree_threshold) th.push(std::isnan(x) ? json::Value::null() : json::Value::number(x));
      tr.set("thresholds", th);
      tr.set("centroids", matrix(m.tree_centroids, int(m.tree_size.size()), p));
      me.set("tree", tr);
    }
    if (m.method == Method::kDbscan) {
      me.set("eps", json::Value::number(m.eps));
      me.set("min_samples", json::Value::number(m.min_samples));
      me.set("core_points", matrix(m.core_points, int(m.core_segment.size()), p));
      me.set("core_segments", ints(m.core_segment));
    }
    root.set("method", me);
  }
  json::Value info = json::Value::object();
  double arr[kInfoFields];
  info_to_array(m.info, arr);
  for (int i = 0; i < kInfoFields; ++i) info.set(kInfoNames[i], json::Value::number(arr[i]));
  root.set("training", info);
  root.set("options", m.options_json.empty() ? json::Value::object() : json::parse(m.options_json));
  return root;
}

std::string to_json_text(const Model& m) {
  // The options are written as the model holds them (the last key), so that a model whose options
  // are in 0.2.0's number form keeps them through the text form.
  json::Value root = to_json(m);
  json::Value head = json::Value::object();
  for (const auto& kv : root.members())
    if (kv.first != "options") head.set(kv.first, kv.second);
  std::string text = json::write(head);
  text.pop_back();
  text += ", \"options\": ";
  text += m.options_json.empty() ? "{}" : m.options_json;
  text += '}';
  return text;
}

Model from_json_text(const std::string& text) {
  json::Value root = json::parse(text);
  if (root.type() != json::Type::kObject) bad_text("expected a JSON object");
  only_keys(root, {"format", "version", "features", "columns", "scaler", "pca", "kmeans", "method", "training", "options"},
            "the model");
  if (need(root, "format", json::Type::kString).as_string() != "custseg_model")
    bad_text("\"format\" must be \"custseg_model\"");
  const json::Value& ver = need(root, "version", json::Type::kNumber);
  if (ver.as_number() != 1 && ver.as_number() != 2)
    throw Error(ErrorCode::kInvalidText, "custseg_model format version " + json::write(ver) + " is not supported",
                "this build reads format versions 1 to " + std::to_string(Model::kFormatVersion) +
                    "; retrain the model or upgrade custseg");
  const int version = int(ver.as_number());
  Model m;
  const json::Value& feats = need(root, "features", json::Type::kArray);
  if (feats.items().empty() || feats.items().size() > size_t(kMaxFeatures)) bad_text("bad number of features");
  for (const auto& fo : feats.items()) {
    if (fo.type() != json::Type::kObject) bad_text("features must be objects");
    Feature f;
    f.name = need(fo, "name", json::Type::kString).as_string();
    const std::string& kind = need(fo, "kind", json::Type::kString).as_string();
    if (kind == "numeric") {
      if (version >= 2)
        only_keys(fo, {"name", "kind", "impute", "transform"}, "a numeric feature");
      else
        only_keys(fo, {"name", "kind", "impute"}, "a numeric feature");
      f.kind = Kind::kNumeric;
      f.impute = need(fo, "impute", json::Type::kNumber).as_number();
      if (const json::Value* t = fo.find("transform")) {
        // Canonical form only (what to_json writes): "log1p": true and/or "clip": [lo, hi].
        if (t->type() != json::Type::kObject || t->members().empty()) bad_text("\"transform\" must be a non-empty object");
        only_keys(*t, {"log1p", "clip"}, "a transform");
        if (const json::Value* l = t->find("log1p")) {
          if (l->type() != json::Type::kBool || !l->as_bool()) bad_text("\"log1p\" must be true when present");
          f.transform.flags |= Transform::kLog1p;
        }
        if (const json::Value* c = t->find("clip")) {
          std::vector<double> b = read_numbers(*c, "clip");
          if (b.size() != 2) bad_text("\"clip\" must hold two numbers");
          f.transform.flags |= Transform::kClip;
          f.transform.lo = b[0];
          f.transform.hi = b[1];
        }
      }
    } else if (kind == "categorical") {
      only_keys(fo, {"name", "kind", "levels"}, "a categorical feature");
      f.kind = Kind::kCategorical;
      const json::Value& lv = need(fo, "levels", json::Type::kArray);
      if (lv.items().size() > size_t(kMaxLevelsPerColumn)) bad_text("too many levels");
      for (const auto& l : lv.items()) {
        if (l.type() != json::Type::kString) bad_text("levels must be strings");
        f.levels.push_back(l.as_string());
      }
    } else {
      bad_text("unknown feature kind \"" + kind + "\"");
    }
    m.features.push_back(std::move(f));
  }
  const size_t d = size_t(m.encoded_dim());
  if (d < 1 || d > size_t(kMaxFeatures)) bad_text("encoded dimension out of range");
  if (const json::Value* cols = root.find("columns")) {
    if (cols->type() != json::Type::kArray) bad_text("\"columns\" must be an array");
    std::vector<std::string> expect = m.encoded_names();
    if (cols->items().size() != expect.size()) bad_text("\"columns\" does not match the features");
    for (size_t i = 0; i < expect.size(); ++i)
      if (cols->items()[i].type() != json::Type::kString || cols->items()[i].as_string() != expect[i])
        bad_text("\"columns\" does not match the features");
  }
  const json::Value& sc = need(root, "scaler", json::Type::kObject);
  only_keys(sc, {"scale_categoricals", "mean", "scale"}, "the scaler");
  m.scale_categoricals = need(sc, "scale_categoricals", json::Type::kBool).as_bool();
  m.mean = read_numbers(need(sc, "mean", json::Type::kArray), "scaler mean");
  m.scale = read_numbers(need(sc, "scale", json::Type::kArray), "scaler scale");
  const json::Value* pca = root.find("pca");
  if (!pca) bad_text("missing key \"pca\"");
  if (!pca->is_null()) {
    if (pca->type() != json::Type::kObject) bad_text("\"pca\" must be an object or null");
    only_keys(*pca, {"n_components", "mean", "components", "explained_variance", "explained_variance_ratio"},
              "the PCA");
    m.n_components = read_int(need(*pca, "n_components", json::Type::kNumber), "n_components", 1, int(d));
    m.pca_mean = read_numbers(need(*pca, "mean", json::Type::kArray), "PCA mean");
    m.components = read_matrix(need(*pca, "components", json::Type::kArray), d, "PCA components");
    m.explained_variance = read_numbers(need(*pca, "explained_variance", json::Type::kArray), "explained variance");
    m.explained_variance_ratio =
        read_numbers(need(*pca, "explained_variance_ratio", json::Type::kArray), "explained variance ratio");
  }
  const json::Value* km = root.find("kmeans");
  if (!km) bad_text("missing key \"kmeans\"");
  if (!km->is_null()) {
    if (km->type() != json::Type::kObject) bad_text("\"kmeans\" must be an object or null");
    only_keys(*km, {"k", "centroids", "segments"}, "the k-means");
    m.k = read_int(need(*km, "k", json::Type::kNumber), "k", 1, kMaxK);
    m.centroids = read_matrix(need(*km, "centroids", json::Type::kArray), size_t(m.output_dim()), "centroids");
    for (const auto& s : need(*km, "segments", json::Type::kArray).items())
      m.segment_ids.push_back(read_int(s, "segment number", 0, std::numeric_limits<int32_t>::max()));
  }
  if (const json::Value* me = root.find("method")) {
    if (version < 2) bad_text("\"method\" needs format version 2");
    if (me->type() != json::Type::kObject) bad_text("\"method\" must be an object");
    only_keys(*me, {"name", "outlier_quantile", "outlier_thresholds", "covariance_type", "weights", "covariances", "log_likelihood",
                    "tree", "eps", "min_samples", "core_points", "core_segments"},
              "the method");
    const std::string& name = need(*me, "name", json::Type::kString).as_string();
    bool known = false;
    for (Method x : {Method::kKMeans, Method::kGmm, Method::kHierarchical, Method::kDbscan})
      if (name == method_name(x)) m.method = x, known = true;
    if (!known) bad_text("unknown method \"" + name + "\"");
    const size_t p = size_t(m.output_dim());
    auto nullable = [](const json::Value& a, const char* what) {
      if (a.type() != json::Type::kArray) bad_text(std::string(what) + " must be an array");
      std::vector<double> out;
      for (const auto& x : a.items()) {
        if (x.is_null())
          out.push_back(std::numeric_limits<double>::quiet_NaN());
        else if (x.type() == json::Type::kNumber)
          out.push_back(x.as_number());
        else
          bad_text(std::string(what) + " must hold numbers or null");
      }
      return out;
    };
    auto ints = [](const json::Value& a, const char* what) {
      if (a.type() != json::Type::kArray) bad_text(std::string(what) + " must be an array");
      std::vector<int32_t> out;
      for (const auto& x : a.items()) out.push_back(read_int(x, what, -1, std::numeric_limits<int32_t>::max()));
      return out;
    };
    if (const json::Value* q = me->find("outlier_quantile")) {
      if (q->type() != json::Type::kNumber) bad_text("\"outlier_quantile\" must be a number");
      m.outlier_quantile = q->as_number();
      const json::Value* t = me->find("outlier_thresholds");
      if (!t) bad_text("missing key \"outlier_thresholds\"");
      m.outlier_threshold = nullable(*t, "outlier thresholds");
    }
    if (m.method == Method::kGmm) {
      const std::string& ct = need(*me, "covariance_type", json::Type::kString).as_string();
      if (ct != "full" && ct != "diag") bad_text("\"covariance_type\" must be \"full\" or \"diag\"");
      m.covariance_diag = ct == "diag";
      m.weights = read_numbers(need(*me, "weights", json::Type::kArray), "weights");
      m.covariances = read_matrix(need(*me, "covariances", json::Type::kArray), m.covariance_diag ? p : p * p, "covariances");
      if (const json::Value* ll = me->find("log_likelihood")) {
        if (ll->type() == json::Type::kNumber)
          m.log_likelihood = ll->as_number();
        else if (!ll->is_null())
          bad_text("\"log_likelihood\" must be a number or null");
      }
    }
    if (m.method == Method::kHierarchical) {
      const json::Value& tr = need(*me, "tree", json::Type::kObject);
      only_keys(tr, {"children", "heights", "sizes", "segments", "thresholds", "centroids"}, "the tree");
      for (const auto& pair : need(tr, "children", json::Type::kArray).items()) {
        std::vector<int32_t> two = ints(pair, "tree children");
        if (two.size() != 2) bad_text("tree children come in pairs");
        m.tree_children.insert(m.tree_children.end(), two.begin(), two.end());
      }
      m.tree_height = read_numbers(need(tr, "heights", json::Type::kArray), "tree heights");
      m.tree_size = read_numbers(need(tr, "sizes", json::Type::kArray), "tree sizes");
      m.tree_segment = ints(need(tr, "segments", json::Type::kArray), "tree segments");
      m.tree_threshold = nullable(need(tr, "thresholds", json::Type::kArray), "tree thresholds");
      m.tree_centroids = read_matrix(need(tr, "centroids", json::Type::kArray), p, "tree centroids");
    }
    if (m.method == Method::kDbscan) {
      m.eps = need(*me, "eps", json::Type::kNumber).as_number();
      m.min_samples = read_int(need(*me, "min_samples", json::Type::kNumber), "min_samples", 1, 1000000000);
      m.core_points = read_matrix(need(*me, "core_points", json::Type::kArray), p, "core points");
      m.core_segment = ints(need(*me, "core_segments", json::Type::kArray), "core segments");
    }
  }
  const json::Value& tr = need(root, "training", json::Type::kObject);
  double arr[kInfoFields];
  for (int i = 0; i < kInfoFields; ++i) {
    const json::Value* v = tr.find(kInfoNames[i]);
    if (!v) bad_text(std::string("missing training field \"") + kInfoNames[i] + "\"");
    if (v->is_null())
      arr[i] = std::numeric_limits<double>::quiet_NaN();
    else if (v->type() == json::Type::kNumber)
      arr[i] = v->as_number();
    else
      bad_text(std::string("training field \"") + kInfoNames[i] + "\" must be a number or null");
  }
  if (tr.members().size() != size_t(kInfoFields)) bad_text("unknown key in \"training\"");
  m.info = info_from_array(arr);
  const json::Value& opts = need(root, "options", json::Type::kObject);
  m.options_json = json::write(opts);
  {
    // Options written in 0.2.0's number form, as the text form's last key, stay in that form.
    const std::string legacy = json::write_legacy(opts);
    const std::string tail = "\"options\": " + legacy + "}";
    size_t end = text.size();
    while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\t' || text[end - 1] == '\r')) --end;
    if (legacy != m.options_json && end >= tail.size() && text.compare(end - tail.size(), tail.size(), tail) == 0)
      m.options_json = legacy;
  }
  try {
    m.validate();
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidText, std::string("invalid custseg_model text: ") + e.what());
  }
  if (m.format_version() != version)
    bad_text("format version 2 is for models with transforms, another method than k-means or outlier thresholds, 1 for the others");
  // What only the binary reader checks (a mixture's covariances positive definite, ...): a value
  // the text form accepts must be one its output and the binary reader accept too.
  {
    const std::vector<uint8_t> b = serialize(m);
    std::vector<double> aligned((b.size() + 7) / 8);
    std::memcpy(aligned.data(), b.data(), b.size());
    try {
      ModelView(reinterpret_cast<const uint8_t*>(aligned.data()), b.size());
    } catch (const Error& e) {
      std::string what = e.what();
      const std::string prefix = "invalid custseg_model binary value: ";
      if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());
      bad_text(what);
    }
  }
  return m;
}

}  // namespace custseg::core
