// Per-column transforms: parsing the "transform" option, resolving it against the features, and
// checking a transform read from a stored model.
#include "transform.h"

#include <algorithm>
#include <cmath>

#include "errors.h"

namespace custseg::core {

namespace {

[[noreturn]] void bad(const std::string& column, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "option \"transform\" of column \"" + column + "\" " + what,
              "give {\"column\": \"log1p\"} or {\"column\": {\"log1p\": true, \"clip\": [lo, hi], "
              "\"clip_quantiles\": [0.01, 0.99]}}");
}

void read_pair(const std::string& column, const char* key, const json::Value& v, double& a, double& b) {
  if (v.type() != json::Type::kArray || v.items().size() != 2 || v.items()[0].type() != json::Type::kNumber ||
      v.items()[1].type() != json::Type::kNumber)
    bad(column, std::string("\"") + key + "\" must be an array of two numbers");
  a = v.items()[0].as_number();
  b = v.items()[1].as_number();
  if (!std::isfinite(a) || !std::isfinite(b) || a > b)
    bad(column, std::string("\"") + key + "\" must be two finite numbers, the lower first");
}

json::Value pair(double a, double b) {
  json::Value p = json::Value::array();
  p.push(json::Value::number(a));
  p.push(json::Value::number(b));
  return p;
}

}  // namespace

std::vector<TransformOption> parse_transform_option(const json::Value& v) {
  if (v.type() != json::Type::kObject)
    throw Error(ErrorCode::kInvalidArgument, "option \"transform\" must be an object of column names",
                "pass {\"transform\": {\"Fresh\": \"log1p\"}}");
  std::vector<TransformOption> out;
  for (const auto& [column, spec] : v.members()) {
    TransformOption o;
    o.column = column;
    if (spec.type() == json::Type::kString) {
      if (spec.as_string() != "log1p") bad(column, "must be \"log1p\" or an object");
      o.t.flags = Transform::kLog1p;
    } else if (spec.type() == json::Type::kObject) {
      for (const auto& [key, x] : spec.members()) {
        if (key == "log1p") {
          if (x.type() != json::Type::kBool) bad(column, "\"log1p\" must be true or false");
          if (x.as_bool()) o.t.flags |= Transform::kLog1p;
        } else if (key == "clip") {
          read_pair(column, "clip", x, o.t.lo, o.t.hi);
          o.t.flags |= Transform::kClip;
        } else if (key == "clip_quantiles") {
          read_pair(column, "clip_quantiles", x, o.q_lo, o.q_hi);
          if (o.q_lo < 0 || o.q_hi > 1 || !(o.q_lo < o.q_hi))
            bad(column, "\"clip_quantiles\" must be two quantiles with 0 <= lower < upper <= 1");
          o.quantiles = true;
        } else {
          bad(column, "has the unknown key \"" + key + "\"");
        }
      }
      if (!o.t.any() && !o.quantiles) bad(column, "names no transform");
    } else {
      bad(column, "must be \"log1p\" or an object");
    }
    out.push_back(o);
  }
  return out;
}

json::Value transform_option_json(const std::vector<TransformOption>& list) {
  json::Value v = json::Value::object();
  for (const auto& o : list) {
    json::Value s = json::Value::object();
    s.set("log1p", json::Value::boolean(o.t.flags & Transform::kLog1p));
    if (o.t.flags & Transform::kClip) s.set("clip", pair(o.t.lo, o.t.hi));
    if (o.quantiles) s.set("clip_quantiles", pair(o.q_lo, o.q_hi));
    v.set(o.column, s);
  }
  return v;
}

std::vector<Transform> resolve_transforms(const std::vector<TransformOption>& list,
                                          const std::vector<std::string>& names, int n_numeric) {
  std::vector<Transform> out(size_t(std::max(n_numeric, 0)));
  for (const auto& o : list) {
    auto it = std::find(names.begin(), names.end(), o.column);
    if (it == names.end())
      throw Error(ErrorCode::kUndefinedColumn,
                  "column \"" + o.column + "\" named in option \"transform\" is not a feature",
                  "column names are case-sensitive; an excluded column cannot be transformed");
    const long i = it - names.begin();
    if (i >= n_numeric)
      throw Error(ErrorCode::kInvalidArgument,
                  "column \"" + o.column + "\" named in option \"transform\" is categorical",
                  "only numeric features can be transformed");
    if (o.quantiles && !(o.t.flags & Transform::kClip))
      throw Error(ErrorCode::kInvalidArgument,
                  "option \"transform\" of column \"" + o.column + "\": clip_quantiles needs a first pass",
                  "custseg_train and custseg_evaluate_k compute the quantiles; with the aggregate, give "
                  "the bounds as \"clip\": [lo, hi]");
    if ((o.t.flags & Transform::kLog1p) && (o.t.flags & Transform::kClip) && !(o.t.lo > -1))
      throw Error(ErrorCode::kInvalidArgument,
                  "option \"transform\" of column \"" + o.column + "\": log1p needs a lower clip bound above -1");
    out[size_t(i)] = o.t;
  }
  return out;
}

std::string transform_problem(const Transform& t) {
  if (t.flags > (Transform::kLog1p | Transform::kClip)) return "unknown transform";
  if (t.flags & Transform::kClip) {
    if (!std::isfinite(t.lo) || !std::isfinite(t.hi) || t.lo > t.hi) return "bad clip bounds";
    if ((t.flags & Transform::kLog1p) && !(t.lo > -1)) return "log1p with a clip bound at or below -1";
  } else if (t.lo != 0 || t.hi != 0 || std::signbit(t.lo) || std::signbit(t.hi)) {
    return "clip bounds without clipping";
  }
  return {};
}

void throw_log1p_domain(const std::string& column, double raw) {
  std::string v;
  json::write_number(v, raw);
  throw Error(ErrorCode::kOutOfRange, "column \"" + column + "\" has the value " + v + ", which log1p cannot take",
              "log1p needs values above -1: clip the column (\"clip\": [0, ...]) or drop its log1p transform");
}

}  // namespace custseg::core
