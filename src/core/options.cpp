// Option parsing: one place that knows every key, its type, its range and its default.
#include "options.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "errors.h"

namespace custseg::core {

namespace {

const std::vector<std::string> kFitKeys = {"k",       "n_components", "exclude", "categorical",        "numeric",
                                           "seed",    "n_init",       "max_iter", "tol",               "sample_size",
                                           "dedupe",  "scale_categoricals", "verbose", "transform", "value_column", "metric_space",
                                           "method", "outlier_quantile", "covariance_type", "reg_covar", "means_init",
                                           "linkage", "eps", "min_samples"};
// The keys that belong to one method only.
const std::vector<std::pair<std::string, Method>> kMethodKeys = {
    {"covariance_type", Method::kGmm}, {"reg_covar", Method::kGmm},        {"means_init", Method::kGmm},
    {"linkage", Method::kHierarchical}, {"eps", Method::kDbscan},          {"min_samples", Method::kDbscan}};
const std::vector<std::string> kScalerKeys = {"exclude", "categorical", "numeric", "scale_categoricals", "dedupe",
                                              "verbose", "transform"};
const std::vector<std::string> kPcaKeys = {"dedupe", "verbose"};
const std::vector<std::string> kKMeansKeys = {"seed", "n_init", "max_iter", "tol", "sample_size", "dedupe", "verbose"};
const std::vector<std::string> kInternalKeys = [] {
  std::vector<std::string> v = kFitKeys;
  v.push_back("_stage");
  v.push_back("_sample_threshold");
  return v;
}();

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::kFit: return "fit";
    case Stage::kScaler: return "scaler";
    case Stage::kPca: return "pca";
    case Stage::kKMeans: return "kmeans";
  }
  return "fit";
}

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "option \"" + key + "\" " + what);
}

int64_t as_int(const std::string& key, const json::Value& v, int64_t lo, int64_t hi) {
  if (v.type() != json::Type::kNumber || std::floor(v.as_number()) != v.as_number())
    bad(key, "must be an integer");
  double d = v.as_number();
  if (d < double(lo) || d > double(hi))
    bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return int64_t(d);
}

bool as_bool(const std::string& key, const json::Value& v) {
  if (v.type() != json::Type::kBool) bad(key, "must be true or false");
  return v.as_bool();
}

std::vector<std::string> as_names(const std::string& key, const json::Value& v) {
  // A single name is an error too (the README's rule: every wrong type is one), with the form to use.
  if (v.type() == json::Type::kString)
    throw Error(ErrorCode::kInvalidArgument, "option \"" + key + "\" must be an array of column names",
                "write [\"" + v.as_string() + "\"], not \"" + v.as_string() + "\"");
  if (v.type() != json::Type::kArray) bad(key, "must be an array of column names");
  std::vector<std::string> out;
  for (const auto& item : v.items()) {
    if (item.type() != json::Type::kString) bad(key, "must be an array of column names");
    out.push_back(item.as_string());
  }
  return out;
}

json::Value names_json(const std::vector<std::string>& names) {
  json::Value a = json::Value::array();
  for (const auto& n : names) a.push(json::Value::string(n));
  return a;
}

}  // namespace

FitOptions parse_fit_options(const std::string& json_text, const std::vector<std::string>* allowed) {
  FitOptions o;
  if (json_text.empty()) return o;
  json::Value root;
  try {
    root = json::parse(json_text);
  } catch (const Error& e) {
    // Options arrive as jsonb, so what fails here is a number no double holds: a bad parameter.
    if (e.code() != ErrorCode::kInvalidText) throw;
    throw Error(ErrorCode::kInvalidArgument, std::string("invalid options: ") + e.what(),
                "pass options like '{\"k\": 3, \"n_components\": 2}'");
  }
  if (root.type() == json::Type::kNull) return o;
  if (root.type() != json::Type::kObject)
    throw Error(ErrorCode::kInvalidArgument, "options must be a JSON object",
                "pass options like '{\"k\": 3, \"n_components\": 2}'");
  const auto& keys = allowed ? *allowed : kInternalKeys;
  for (const auto& [key, v] : root.members()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string list;
      for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      throw Error(ErrorCode::kInvalidArgument, "unknown option \"" + key + "\"",
                  "valid options are: " + list);
    }
    if (key == "k") {
      o.k = v.is_null() ? 0 : int(as_int(key, v, 1, kMaxK));
    } else if (key == "n_components") {
      if (v.is_null()) {
        o.n_components = 0;
        o.variance_fraction = 0;
      } else if (v.type() == json::Type::kNumber && v.as_number() > 0 && v.as_number() < 1) {
        o.n_components = 0;
        o.variance_fraction = v.as_number();
      } else if (v.type() == json::Type::kNumber && std::floor(v.as_number()) == v.as_number()) {
        o.n_components = int(as_int(key, v, 1, kMaxFeatures));
        o.variance_fraction = 0;
      } else {
        bad(key, "must be a positive integer, a fraction between 0 and 1, or null for no PCA");
      }
    } else if (key == "exclude") {
      o.exclude = as_names(key, v);
    } else if (key == "categorical") {
      o.categorical = as_names(key, v);
    } else if (key == "numeric") {
      o.numeric = as_names(key, v);
    } else if (key == "seed") {
      o.seed = uint64_t(as_int(key, v, 0, int64_t(1) << 53));
    } else if (key == "n_init") {
      o.n_init = int(as_int(key, v, 1, kMaxNInit));
      o.n_init_set = true;
    } else if (key == "max_iter") {
      o.max_iter = int(as_int(key, v, 1, kMaxIter));
      o.max_iter_set = true;
    } else if (key == "tol") {
      if (v.type() != json::Type::kNumber || v.as_number() < 0) bad(key, "must be a non-negative number");
      o.tol = v.as_number();
      o.tol_set = true;
    } else if (key == "sample_size") {
      o.sample_size = as_int(key, v, 1, kMaxSampleSize);
      o.sample_size_set = true;
    } else if (key == "dedupe") {
      o.dedupe = as_bool(key, v);
    } else if (key == "_sample_threshold") {
      // A uint64 in decimal text (JSON numbers lose integers above 2^53).
      const std::string t = v.type() == json::Type::kString ? v.as_string() : "";
      if (t.empty() || t.size() > 20 || t.find_first_not_of("0123456789") != std::string::npos)
        bad(key, "must be a decimal integer in a string");
      const unsigned long long x = std::strtoull(t.c_str(), nullptr, 10);
      if (x == 0 || (t.size() == 20 && t > "18446744073709551615")) bad(key, "is out of range");
      o.sample_threshold = uint64_t(x);
    } else if (key == "_stage") {
      const std::string n = v.type() == json::Type::kString ? v.as_string() : "";
      if (n == "fit") o.stage = Stage::kFit;
      else if (n == "scaler") o.stage = Stage::kScaler;
      else if (n == "pca") o.stage = Stage::kPca;
      else if (n == "kmeans") o.stage = Stage::kKMeans;
      else bad(key, "is not a known stage");
    } else if (key == "scale_categoricals") {
      o.scale_categoricals = as_bool(key, v);
    } else if (key == "verbose") {
      o.verbose = as_bool(key, v);
    } else if (key == "transform") {
      o.transforms = parse_transform_option(v);
    } else if (key == "value_column") {
      // Used by the segment labels only (custseg_refresh_segments); any numeric column of the source.
      if (!v.is_null() && (v.type() != json::Type::kString || v.as_string().empty()))
        bad(key, "must be a column name or null");
      o.value_column = v.is_null() ? "" : v.as_string();
    } else if (key == "method") {
      const std::string n = v.type() == json::Type::kString ? v.as_string() : "";
      bool known = false;
      for (Method m : {Method::kKMeans, Method::kGmm, Method::kHierarchical, Method::kDbscan})
        if (n == method_name(m)) o.method = m, known = true;
      if (!known) bad(key, "must be \"kmeans\", \"gmm\", \"hierarchical\" or \"dbscan\"");
    } else if (key == "outlier_quantile") {
      if (v.type() != json::Type::kNumber || !(v.as_number() > 0 && v.as_number() <= 1))
        bad(key, "must be a number in (0, 1]");
      o.outlier_quantile = v.as_number();
      o.outlier_quantile_set = true;
    } else if (key == "covariance_type") {
      const std::string n = v.type() == json::Type::kString ? v.as_string() : "";
      if (n != "full" && n != "diag") bad(key, "must be \"full\" or \"diag\"");
      o.covariance_diag = n == "diag";
    } else if (key == "reg_covar") {
      if (v.type() != json::Type::kNumber || !(v.as_number() >= 0) || !std::isfinite(v.as_number()))
        bad(key, "must be a non-negative number");
      o.reg_covar = v.as_number();
    } else if (key == "means_init") {
      if (v.type() != json::Type::kArray || v.items().empty()) bad(key, "must be an array of k arrays of numbers");
      o.means_init.clear();
      size_t width = 0;
      for (const auto& row : v.items()) {
        if (row.type() != json::Type::kArray || row.items().empty() ||
            (width && row.items().size() != width) || row.items().size() > size_t(kMaxFeatures))
          bad(key, "must be an array of k arrays of numbers, all of one length");
        width = row.items().size();
        for (const auto& x : row.items()) {
          if (x.type() != json::Type::kNumber) bad(key, "must be an array of k arrays of numbers");
          o.means_init.push_back(x.as_number());
        }
      }
      o.means_init_rows = int(v.items().size());
    } else if (key == "linkage") {
      if (v.type() != json::Type::kString || v.as_string() != "ward") bad(key, "must be \"ward\"");
    } else if (key == "eps") {
      if (v.is_null()) {
        o.eps = 0;
      } else {
        if (v.type() != json::Type::kNumber || !(v.as_number() > 0) || !std::isfinite(v.as_number()))
          bad(key, "must be a positive number, or null to choose it from the k-distance curve");
        o.eps = v.as_number();
      }
    } else if (key == "min_samples") {
      o.min_samples = int(as_int(key, v, 1, 1000));
    } else if (key == "metric_space") {
      const std::string n = v.type() == json::Type::kString ? v.as_string() : "";
      if (n != "kmeans" && n != "features") bad(key, "must be \"kmeans\" or \"features\"");
      o.metrics_in_features = n == "features";
    }
  }
  // A key of another method than the chosen one is a mistake, not something to ignore.
  for (const auto& [key, m] : kMethodKeys)
    if (root.find(key) && m != o.method)
      throw Error(ErrorCode::kInvalidArgument,
                  "option \"" + key + "\" belongs to method \"" + method_name(m) + "\", not \"" +
                      method_name(o.method) + "\"",
                  "add \"method\": \"" + std::string(method_name(m)) + "\" or remove \"" + key + "\"");
  if (o.method == Method::kDbscan && root.find("k") && !root.find("k")->is_null())
    throw Error(ErrorCode::kInvalidArgument, "method \"dbscan\" takes no \"k\"",
                "dbscan finds its own number of segments from \"eps\" and \"min_samples\"");
  if (o.method == Method::kDbscan) o.k = 1;  // a clustering stage, whose k the method finds
  if (o.method != Method::kKMeans && o.dedupe)
    throw Error(ErrorCode::kInvalidArgument, "option \"dedupe\" is for method \"kmeans\" only");
  if (o.method == Method::kGmm) {
    // scikit-learn's GaussianMixture defaults.
    if (!o.n_init_set) o.n_init = 1;
    if (!o.max_iter_set) o.max_iter = 100;
    if (!o.tol_set) o.tol = 1e-3;
  }
  if (o.method == Method::kHierarchical || o.method == Method::kDbscan) {
    // Both are O(n^2) in time over the clustered rows: they cluster a smaller sample by default,
    // and a larger one than kMaxPairwiseRows is refused before any work.
    if (o.n_init_set || o.max_iter_set || o.tol_set)
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("options \"n_init\", \"max_iter\" and \"tol\" do not apply to method \"") +
                      method_name(o.method) + "\"");
    if (!o.sample_size_set) o.sample_size = kDefaultPairwiseRows;
    if (o.sample_size > kMaxPairwiseRows)
      throw Error(ErrorCode::kProgramLimit,
                  "method \"" + std::string(method_name(o.method)) + "\" clusters at most " +
                      std::to_string(kMaxPairwiseRows) + " rows (sample_size " + std::to_string(o.sample_size) + ")",
                  "its time grows with the square of the rows: lower \"sample_size\", or use \"kmeans\" or \"gmm\"");
  }
  // dedupe keeps every distinct row, so its default bound is the larger one.
  if (o.dedupe && !o.sample_size_set) o.sample_size = kDefaultDedupeRows;
  for (const auto& c : o.categorical)
    if (std::find(o.numeric.begin(), o.numeric.end(), c) != o.numeric.end())
      throw Error(ErrorCode::kInvalidArgument,
                  "column \"" + c + "\" is listed in both \"categorical\" and \"numeric\"");
  return o;
}

const std::vector<std::string>& user_option_keys(Stage stage) {
  switch (stage) {
    case Stage::kFit: return kFitKeys;
    case Stage::kScaler: return kScalerKeys;
    case Stage::kPca: return kPcaKeys;
    case Stage::kKMeans: return kKMeansKeys;
  }
  return kFitKeys;
}

std::string stage_options(Stage stage, const std::string& user_json,
                          const std::vector<std::pair<std::string, json::Value>>& fixed) {
  json::Value root;
  try {
    root = user_json.empty() ? json::Value::object() : json::parse(user_json);
  } catch (const Error&) {
    parse_fit_options(user_json, &user_option_keys(stage));  // the error a user's options get
    throw;
  }
  if (root.is_null()) root = json::Value::object();
  // "_sample_threshold" is custseg_train's own key (for Citus tables), not a user's option: checked
  // on its own, then the rest as the user's keys and types.
  const json::Value* threshold = root.type() == json::Type::kObject ? root.find("_sample_threshold") : nullptr;
  if (threshold) {
    json::Value only = json::Value::object();
    only.set("_sample_threshold", *threshold);
    parse_fit_options(json::write(only));
    json::Value rest = json::Value::object();
    for (const auto& m : root.members())
      if (m.first != "_sample_threshold") rest.set(m.first, m.second);
    parse_fit_options(json::write(rest), &user_option_keys(stage));
  } else {
    parse_fit_options(user_json, &user_option_keys(stage));  // validates the user's keys and types
  }
  json::Value out = json::Value::object();
  for (const auto& m : root.members()) out.set(m.first, m.second);
  for (const auto& f : fixed) out.set(f.first, f.second);
  if (stage != Stage::kFit) out.set("_stage", json::Value::string(stage_name(stage)));
  return json::write(out);
}

json::Value options_to_json(const FitOptions& o) {
  json::Value v = json::Value::object();
  v.set("stage", json::Value::string(stage_name(o.stage)));
  v.set("k", o.k > 0 && o.method != Method::kDbscan ? json::Value::number(o.k) : json::Value::null());
  if (o.variance_fraction > 0)
    v.set("n_components", json::Value::number(o.variance_fraction));
  else
    v.set("n_components", o.n_components > 0 ? json::Value::number(o.n_components) : json::Value::null());
  v.set("exclude", names_json(o.exclude));
  v.set("categorical", names_json(o.categorical));
  v.set("numeric", names_json(o.numeric));
  v.set("seed", json::Value::number(double(o.seed)));
  if (o.method == Method::kKMeans || o.method == Method::kGmm) {  // the iterative methods'
    v.set("n_init", json::Value::number(o.n_init));
    v.set("max_iter", json::Value::number(o.max_iter));
    v.set("tol", json::Value::number(o.tol));
  }
  v.set("sample_size", json::Value::number(double(o.sample_size)));
  v.set("dedupe", json::Value::boolean(o.dedupe));
  v.set("scale_categoricals", json::Value::boolean(o.scale_categoricals));
  v.set("verbose", json::Value::boolean(o.verbose));
  // Only when given, so the stored options of a model without transforms are those of 0.2.0.
  if (!o.transforms.empty()) v.set("transform", transform_option_json(o.transforms));
  if (!o.value_column.empty()) v.set("value_column", json::Value::string(o.value_column));
  if (o.metrics_in_features) v.set("metric_space", json::Value::string("features"));
  // Likewise the method's keys: a k-means model's options read as before.
  if (o.method != Method::kKMeans) v.set("method", json::Value::string(method_name(o.method)));
  if (o.outlier_quantile_set) v.set("outlier_quantile", json::Value::number(o.outlier_quantile));
  if (o.method == Method::kGmm) {
    v.set("covariance_type", json::Value::string(o.covariance_diag ? "diag" : "full"));
    v.set("reg_covar", json::Value::number(o.reg_covar));
    if (!o.means_init.empty()) {
      json::Value a = json::Value::array();
      const size_t w = o.means_init.size() / size_t(o.means_init_rows);
      for (int r = 0; r < o.means_init_rows; ++r) {
        json::Value row = json::Value::array();
        for (size_t j = 0; j < w; ++j) row.push(json::Value::number(o.means_init[size_t(r) * w + j]));
        a.push(row);
      }
      v.set("means_init", a);
    }
  }
  if (o.method == Method::kHierarchical) v.set("linkage", json::Value::string("ward"));
  if (o.method == Method::kDbscan) {
    v.set("eps", o.eps > 0 ? json::Value::number(o.eps) : json::Value::null());
    v.set("min_samples", json::Value::number(o.min_samples));
  }
  return v;
}

}  // namespace custseg::core
