// Training options: parsed from the jsonb the user passes, validated key by key, with documented
// defaults. Every unknown key and every wrong type is an error naming the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "json.h"
#include "model.h"
#include "transform.h"

namespace custseg::core {

constexpr int kMaxK = 1000;
constexpr int kMaxFeatures = 1000;          // encoded dimensions (numeric columns + category levels)
constexpr int kMaxLevelsPerColumn = 1000;   // distinct categories of one column
constexpr int kMaxNInit = 1000;
constexpr int kMaxIter = 100000;
// k-means runs on every row up to this many, else on a uniform sample of this many (the scaler and
// PCA are exact over every row whatever the size). A sample of 100,000 rows puts each centroid
// within a few thousandths of a standard deviation of the full-data one (bench/ measures it), at a
// tenth of the time and memory. dedupe, which must keep every distinct row, defaults higher.
constexpr int64_t kDefaultSampleSize = 100000;
constexpr int64_t kDefaultDedupeRows = 1000000;
constexpr int64_t kMaxSampleSize = 10000000;
constexpr int64_t kSilhouetteSampleSize = 10000;
// Above kSilhouetteSampleSize rows the silhouette is estimated on a sample that starts at
// kSilhouetteFirstRows and doubles up to kSilhouetteSampleSize until its standard error is at most
// kSilhouetteTolerance.
constexpr int64_t kSilhouetteFirstRows = 2500;
constexpr double kSilhouetteTolerance = 0.002;
// hierarchical and dbscan take O(n^2) time over the rows they cluster: their default sample, and
// the most rows they accept.
constexpr int64_t kDefaultPairwiseRows = 10000;
constexpr int64_t kMaxPairwiseRows = 50000;
// The rows k-means keeps are bounded to this many bytes, so a state stays far from PostgreSQL's
// 1 GB value limit: the default sample_size shrinks for wide rows, a larger explicit one is an error.
constexpr int64_t kMaxReservoirBytes = int64_t(256) << 20;

// Which aggregate a state belongs to: the whole pipeline, or one stage of it.
//   kScaler: preprocessing only; kPca: PCA of raw vectors; kKMeans: k-means of raw vectors.
enum class Stage { kFit, kScaler, kPca, kKMeans };

struct FitOptions {
  Stage stage = Stage::kFit;
  int k = 3;                      // 0 means: no k-means stage
  int n_components = 2;           // 0 means: no PCA stage (or use variance_fraction)
  double variance_fraction = 0;   // in (0,1): keep components until explained variance exceeds it
  std::vector<std::string> exclude;
  std::vector<std::string> categorical;
  std::vector<std::string> numeric;
  uint64_t seed = 0;
  int n_init = 10;
  int max_iter = 300;
  double tol = 1e-4;
  int64_t sample_size = kDefaultSampleSize;
  bool sample_size_set = false;  // given explicitly
  bool scale_categoricals = false;
  bool dedupe = false;
  bool verbose = false;
  std::vector<TransformOption> transforms;  // "transform": per numeric column
  std::string value_column;                 // the column the segment labels read customer value from
  // "metric_space": "features" computes silhouette, Calinski-Harabasz and Davies-Bouldin on the
  // standardized encoded features instead of the k-means space (the PCA components), so runs with
  // and without PCA are compared in one space.
  bool metrics_in_features = false;

  // "method": the clustering method (model.h), with its own options; keys that belong to another
  // method are an error. The _set flags tell an explicit value from a method's default.
  Method method = Method::kKMeans;
  bool n_init_set = false, max_iter_set = false, tol_set = false;
  bool covariance_diag = false;    // gmm "covariance_type": "full" (default) or "diag"
  double reg_covar = 1e-6;         // gmm
  std::vector<double> means_init;  // gmm: k x P initial means, row-major (empty: k-means++)
  int means_init_rows = 0;
  bool outlier_quantile_set = false;
  double eps = 0;                  // dbscan: 0 means chosen from the k-distance curve's knee
  int min_samples = 5;             // dbscan
  double outlier_quantile = 0.99;  // every method: the quantile the outlier thresholds are set at

  // "_sample_threshold" (internal, custseg_train on Citus): rows whose content hash is above it are
  // never sample candidates, so that a shard ships only its likely part of the bottom-k sample.
  // Exact when at least sample_size distinct rows lie under it; else the fit asks for a retry.
  uint64_t sample_threshold = UINT64_MAX;

  bool has_pca() const { return n_components > 0 || variance_fraction > 0; }
};

// The option keys a user may pass to the aggregate of a stage.
const std::vector<std::string>& user_option_keys(Stage stage);

// Parses options from JSON text (an object, or empty text for defaults). `allowed` restricts the
// keys (a user's options); nullptr is the internal form stored in a state, which also carries the
// stage under the key "_stage".
FitOptions parse_fit_options(const std::string& json_text, const std::vector<std::string>* allowed = nullptr);

// The internal options text of a stage aggregate: the user's options plus the stage's fixed keys.
std::string stage_options(Stage stage, const std::string& user_json, const std::vector<std::pair<std::string, json::Value>>& fixed);

// The normalized options as JSON, every key present, for the model's training metadata.
json::Value options_to_json(const FitOptions& o);

}  // namespace custseg::core
