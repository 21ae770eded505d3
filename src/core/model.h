// The fitted pipeline (feature spec, scaler, optional PCA, optional k-means, training metadata) in
// three forms: the Model struct used while fitting and parsing, the versioned flat binary layout that
// PostgreSQL stores, and the JSON text form. ModelView scores straight from the flat bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "json.h"
#include "projection.h"
#include "text_key.h"
#include "transform.h"

namespace custseg::core {

enum class Kind : uint8_t { kNumeric = 0, kCategorical = 1 };

// The clustering method of a model (option "method"). Format 1 models are k-means.
enum class Method : uint8_t { kKMeans = 0, kGmm = 1, kHierarchical = 2, kDbscan = 3 };
const char* method_name(Method m);

struct Feature {
  std::string name;
  Kind kind = Kind::kNumeric;
  double impute = 0;                 // numeric: the training mean used for NULL (after the transform)
  std::vector<std::string> levels;   // categorical: sorted byte order, unique
  Transform transform;               // numeric: applied to a raw value before imputation and scaling
};

// Training metadata; NaN means "not computed".
struct TrainInfo {
  double rows_seen = 0;       // rows the aggregate received
  double rows_skipped = 0;    // rows with no usable feature (or a NULL row)
  double rows_used = 0;       // rows in the scaler/PCA statistics
  double rows_clustered = 0;  // rows k-means ran on (all of them, or a uniform sample)
  double inertia = 0;
  double n_iter = 0;
  double silhouette = 0;
  double silhouette_rows = 0;  // rows the silhouette was computed on
  double calinski_harabasz = 0;
  double davies_bouldin = 0;
};

// Leaves of a stored merge tree (hierarchical keeps every clustered row as a leaf, up to the
// pairwise methods' row bound, options.h kMaxPairwiseRows).
constexpr int kMaxTreeLeaves = 50000;

struct Model {
  // Format 2 adds per-feature transforms; a model without any is written as format 1, byte for
  // byte as 0.2.0 wrote it, so old models load, score and dump unchanged.
  static constexpr uint16_t kFormatVersion = 2;
  uint16_t format_version() const;

  // Features in encoding order: every numeric feature first, then every categorical one (the order
  // of pandas.get_dummies), each group in table-column order.
  std::vector<Feature> features;
  bool scale_categoricals = false;
  std::vector<double> mean;   // D: subtracted before scaling (0 for unscaled one-hot columns)
  std::vector<double> scale;  // D: divided by (1 for zero-variance and unscaled one-hot columns)

  int n_components = 0;                 // 0: no PCA stage
  std::vector<double> pca_mean;         // D
  std::vector<double> components;       // n_components x D, row-major
  std::vector<double> explained_variance;
  std::vector<double> explained_variance_ratio;

  int k = 0;                            // 0: no k-means stage
  std::vector<double> centroids;        // k x P, row-major (P = n_components, or D without PCA)
  std::vector<int32_t> segment_ids;     // k: the segment number of each centroid

  Method method = Method::kKMeans;
  // Outliers: per segment, for k-means and hierarchical the distance to the centroid above which a
  // row is an outlier, for gmm the log-likelihood below which it is (dbscan: its noise). Empty in
  // models trained before 0.3.0, which flag no outlier.
  double outlier_quantile = 0;
  std::vector<double> outlier_threshold;
  // gmm: the mixture (centroids hold the means).
  bool covariance_diag = false;
  std::vector<double> weights;          // k
  std::vector<double> covariances;      // k x (P*P) row-major ("full") or k x P ("diag")
  // hierarchical: the whole Ward merge tree over the clustered rows, so that it can be cut at any k
  // and new rows are scored by their nearest leaf. Nodes 0..L-1 are the leaves (the clustered rows,
  // canonical order), node L + i is merge i.
  std::vector<int32_t> tree_children;   // 2 per merge: the nodes it joins
  std::vector<double> tree_height;      // per merge: its Ward distance, non-decreasing
  std::vector<double> tree_size;        // per node: rows under it
  std::vector<double> tree_centroids;   // per node: the mean of its rows (P values; a leaf's is its row)
  std::vector<int32_t> tree_segment;    // per node: the segment index it belongs to at k (-1 above the cut)
  std::vector<double> tree_threshold;   // per node: its outlier threshold (distance to its centroid;
                                        // NaN below the cuts at k <= kMaxK)
  double log_likelihood = std::numeric_limits<double>::quiet_NaN();  // gmm: total over the clustered rows
  // dbscan: the clusters' core rows, which new rows are scored against.
  double eps = 0;
  int min_samples = 0;
  std::vector<double> core_points;      // n_core x P
  std::vector<int32_t> core_segment;    // n_core: the segment index of each core row

  TrainInfo info;
  std::string options_json;             // normalized training options

  int n_numeric() const;
  int n_categorical() const { return int(features.size()) - n_numeric(); }
  int encoded_dim() const;              // D
  int output_dim() const { return n_components > 0 ? n_components : encoded_dim(); }  // P
  std::vector<std::string> encoded_names() const;  // "age", "gender_Female", ...

  // hierarchical: the same model cut into k segments from its stored tree (1 <= k <= leaves):
  // centroids, segment numbers (0..k-1) and outlier thresholds from the tree's nodes.
  Model cut(int k) const;
  int tree_leaves() const { return tree_size.empty() ? 0 : int(tree_size.size() + 1) / 2; }

  // Throws Error(kInvalidText / kInvalidBinary via callers) describing the first inconsistency.
  void validate() const;
  void validate_method(const std::function<void(const std::string&)>& fail) const;
};

// Serialized layout (all offsets from the start of the buffer, which the glue lets begin with its
// 4-byte varlena header; the first 8 bytes are reserved for it and padding).
std::vector<uint8_t> serialize(const Model& m);
Model deserialize(const uint8_t* data, size_t len);

std::string to_json_text(const Model& m);
json::Value to_json(const Model& m);
Model from_json_text(const std::string& text);

// One row's raw input for scoring, in the model's feature order: numeric values (NaN for NULL)
// first, then categorical values.
struct StrRef {
  const char* data = nullptr;
  size_t len = 0;
  bool is_null = true;
};

struct Score {
  int index = -1;           // centroid index (-1: dbscan noise)
  int32_t segment = -1;     // segment number (segment_ids[index]; -1 for noise)
  double distance = 0;      // to the own centroid (Euclidean, in the k-means space); dbscan: to the core row
  double runner_up = 0;     // to the second-nearest centroid (infinity when k == 1 or without one)
  int runner_up_index = -1;
  int outlier = -1;         // 1 or 0; -1 when the model stores no outlier thresholds
  double probability = std::numeric_limits<double>::quiet_NaN();     // gmm: the segment's posterior
  double log_likelihood = std::numeric_limits<double>::quiet_NaN();  // gmm: the row's
  const char* why = nullptr;  // why a row has no segment or is an outlier, in words (static text)
};

class GmmScorer;

// A validated, read-only view of a serialized model. Scoring reads the arrays in place.
class ModelView {
 public:
  // Validates the whole layout; throws Error(kInvalidBinary) on any inconsistency.
  ModelView(const uint8_t* data, size_t len);

  int n_features() const { return n_features_; }
  int n_numeric() const { return n_numeric_; }
  int encoded_dim() const { return dim_; }
  int n_components() const { return n_components_; }
  int k() const { return k_; }
  int output_dim() const { return n_components_ > 0 ? n_components_ : dim_; }
  std::string feature_name(int i) const;
  Kind feature_kind(int i) const { return i < n_numeric_ ? Kind::kNumeric : Kind::kCategorical; }
  // The transform of numeric feature i (the identity in format 1).
  Transform feature_transform(int i) const;

  // Transforms, imputes, encodes, scales and projects one row into `out` (output_dim values);
  // `scratch` holds encoded_dim values.
  void transform(const double* numeric, const StrRef* categorical, double* scratch, double* out) const;
  // Nearest centroid of a transformed row.
  Score nearest(const double* point) const;
  // The segment of nearest(point), without the distances (scoring's hot path).
  int32_t nearest_segment(const double* point) const;
  Method method() const { return method_; }
  // The assignment of a transformed row under the model's method, with its outlier flag:
  // k-means and hierarchical the nearest centroid, gmm the most probable component, dbscan the
  // cluster of the nearest core row within eps (else noise: index -1). distances (k values: to
  // every centroid) and probabilities (k values: gmm posteriors) are written when not null and
  // has_distances() / has_probabilities().
  Score assign(const double* point, double* distances = nullptr, double* probabilities = nullptr) const;
  bool has_distances() const { return k_ > 0 && method_ != Method::kDbscan; }
  bool has_probabilities() const { return k_ > 0 && method_ == Method::kGmm; }
  bool has_outliers() const { return thresholds_ != nullptr || method_ == Method::kDbscan; }
  const double* centroid(int i) const;
  int32_t segment_id(int i) const;

 private:
  const uint8_t* base_;
  int n_features_, n_numeric_, dim_, n_components_, k_;
  const double* mean_;
  const double* scale_;
  const double* impute_;
  const double* transforms_;      // format 2: (flags, lo, hi) per numeric feature; else nullptr
  const double* pca_mean_;
  const double* components_;
  const double* centroids_;
  const int32_t* segment_ids_;
  Method method_ = Method::kKMeans;
  const double* thresholds_ = nullptr;   // k outlier thresholds, or nullptr
  const double* leaves_ = nullptr;       // hierarchical: n_leaves_ x P leaf rows
  const double* leaf_segment_ = nullptr;
  int n_leaves_ = 0;
  const double* core_points_ = nullptr;  // dbscan
  const double* core_segment_ = nullptr;
  int n_core_ = 0;
  double eps_ = 0;
  std::shared_ptr<const GmmScorer> gmm_;
  const uint32_t* level_count_;   // per categorical feature
  const uint32_t* str_off_;       // string table offsets (count + 1)
  const char* str_bytes_;
  uint32_t n_strings_;
  std::vector<uint32_t> level_first_;  // first string index of each categorical feature's levels
  std::vector<uint32_t> dummy_first_;  // first encoded column of each categorical feature
  FoldedProjection fold_;  // PCA models: the projection with the scaling folded in
  // Per categorical feature, an open-addressing index of its levels (level + 1 per slot, 0 empty):
  // slots [slot_first_[c], slot_first_[c] + slot_mask_[c] + 1) of level_slots_.
  std::vector<uint32_t> level_slots_, slot_first_, slot_mask_;
  // Per categorical feature whose levels are all of at most 16 bytes: their keys (text_key.h) from
  // level_keys_[key_first_[c]] on (-1: the feature has a longer level), which its index hashes and
  // compares instead of the texts. A feature of at most kSmallLevels such levels compares them in
  // turn, without the index.
  static constexpr int kSmallLevels = 8;
  std::vector<TextKey> level_keys_;
  std::vector<int64_t> key_first_;
  // The level of categorical feature c that v is (0-based), or -1 (NULL or unseen).
  int level_of(int c, const StrRef& v) const;
};

}  // namespace custseg::core
