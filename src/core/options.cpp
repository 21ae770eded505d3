// Option parsing: one place that knows every key, its type, its range and its default.
#include "options.h"

#include <algorithm>
#include <cmath>

#include "errors.h"

namespace custseg::core {

namespace {

const std::vector<std::string> kFitKeys = {"k",       "n_components", "exclude", "categorical",        "numeric",
                                           "seed",    "n_init",       "max_iter", "tol",               "sample_size",
                                           "dedupe",  "scale_categoricals", "verbose", "transform", "value_column", "metric_space"};
const std::vector<std::string> kScalerKeys = {"exclude", "categorical", "numeric", "scale_categoricals", "dedupe",
                                              "verbose", "transform"};
const std::vector<std::string> kPcaKeys = {"dedupe", "verbose"};
const std::vector<std::string> kKMeansKeys = {"seed", "n_init", "max_iter", "tol", "sample_size", "dedupe", "verbose"};
const std::vector<std::string> kInternalKeys = [] {
  std::vector<std::string> v = kFitKeys;
  v.push_back("_stage");
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
    } else if (key == "max_iter") {
      o.max_iter = int(as_int(key, v, 1, kMaxIter));
    } else if (key == "tol") {
      if (v.type() != json::Type::kNumber || v.as_number() < 0) bad(key, "must be a non-negative number");
      o.tol = v.as_number();
    } else if (key == "sample_size") {
      o.sample_size = as_int(key, v, 1, kMaxSampleSize);
      o.sample_size_set = true;
    } else if (key == "dedupe") {
      o.dedupe = as_bool(key, v);
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
    } else if (key == "metric_space") {
      const std::string n = v.type() == json::Type::kString ? v.as_string() : "";
      if (n != "kmeans" && n != "features") bad(key, "must be \"kmeans\" or \"features\"");
      o.metrics_in_features = n == "features";
    }
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
  parse_fit_options(user_json, &user_option_keys(stage));  // validates the user's keys and types
  json::Value root = user_json.empty() ? json::Value::object() : json::parse(user_json);
  if (root.is_null()) root = json::Value::object();
  json::Value out = json::Value::object();
  for (const auto& m : root.members()) out.set(m.first, m.second);
  for (const auto& f : fixed) out.set(f.first, f.second);
  if (stage != Stage::kFit) out.set("_stage", json::Value::string(stage_name(stage)));
  return json::write(out);
}

json::Value options_to_json(const FitOptions& o) {
  json::Value v = json::Value::object();
  v.set("stage", json::Value::string(stage_name(o.stage)));
  v.set("k", o.k > 0 ? json::Value::number(o.k) : json::Value::null());
  if (o.variance_fraction > 0)
    v.set("n_components", json::Value::number(o.variance_fraction));
  else
    v.set("n_components", o.n_components > 0 ? json::Value::number(o.n_components) : json::Value::null());
  v.set("exclude", names_json(o.exclude));
  v.set("categorical", names_json(o.categorical));
  v.set("numeric", names_json(o.numeric));
  v.set("seed", json::Value::number(double(o.seed)));
  v.set("n_init", json::Value::number(o.n_init));
  v.set("max_iter", json::Value::number(o.max_iter));
  v.set("tol", json::Value::number(o.tol));
  v.set("sample_size", json::Value::number(double(o.sample_size)));
  v.set("dedupe", json::Value::boolean(o.dedupe));
  v.set("scale_categoricals", json::Value::boolean(o.scale_categoricals));
  v.set("verbose", json::Value::boolean(o.verbose));
  // Only when given, so the stored options of a model without transforms are those of 0.2.0.
  if (!o.transforms.empty()) v.set("transform", transform_option_json(o.transforms));
  if (!o.value_column.empty()) v.set("value_column", json::Value::string(o.value_column));
  if (o.metrics_in_features) v.set("metric_space", json::Value::string("features"));
  return v;
}

}  // namespace custseg::core
