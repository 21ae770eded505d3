// Per-column transforms of numeric features (clipping to bounds, then log1p), given in the options,
// stored in the model and applied to each raw value where it is read: the same step in training
// (the aggregate's transition) and in scoring (ModelView::transform), so both see the same numbers.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "json.h"

namespace custseg::core {

struct Transform {
  static constexpr unsigned kLog1p = 1, kClip = 2;
  unsigned flags = 0;  // kLog1p | kClip; 0 is the identity
  double lo = 0, hi = 0;  // kClip: bounds in original units, lo <= hi (0, 0 without kClip)

  bool any() const { return flags != 0; }
  bool operator==(const Transform& o) const { return flags == o.flags && lo == o.lo && hi == o.hi; }
  // x' = log1p(min(max(x, lo), hi)); false when log1p has no finite value (x' <= -1 before it).
  bool apply(double& x) const {
    if (flags & kClip) x = x < lo ? lo : (x > hi ? hi : x);
    if (flags & kLog1p) {
      if (!(x > -1)) return false;
      x = std::log1p(x);
    }
    return true;
  }
};

// One column's entry of the "transform" option: {"Fresh": "log1p", "Milk": {"clip": [0, 5e4]},
// "Grocery": {"clip_quantiles": [0.01, 0.99], "log1p": true}}. clip_quantiles is resolved into clip
// bounds by a first pass (custseg_train, custseg_evaluate_k); the aggregate applies clip.
struct TransformOption {
  std::string column;
  Transform t;
  bool quantiles = false;
  double q_lo = 0, q_hi = 1;
};

// Parses the "transform" option; every wrong shape is an error naming the column.
std::vector<TransformOption> parse_transform_option(const json::Value& v);
json::Value transform_option_json(const std::vector<TransformOption>& list);

// The transform of each numeric feature (names in encoding order, the first n_numeric numeric).
// A column the option names that is not a numeric feature is an error, as is clip_quantiles that
// was not resolved into bounds.
std::vector<Transform> resolve_transforms(const std::vector<TransformOption>& list,
                                          const std::vector<std::string>& names, int n_numeric);

// Applies the transforms (one per numeric feature, as resolve_transforms gives) to a row's numeric
// values in place; NaN (NULL) stays NaN. A value log1p cannot take is an error naming the column.
inline void apply_transforms(const Transform* t, int n, const char* const* names, double* numeric);

// Checks one transform read from a model; returns the problem, or an empty string.
std::string transform_problem(const Transform& t);

// The error for a value that log1p cannot take.
[[noreturn]] void throw_log1p_domain(const std::string& column, double raw);

inline void apply_transforms(const Transform* t, int n, const char* const* names, double* numeric) {
  for (int j = 0; j < n; ++j) {
    const double raw = numeric[j];
    if (t[j].any() && !std::isnan(raw) && !t[j].apply(numeric[j])) throw_log1p_domain(names[j], raw);
  }
}

}  // namespace custseg::core
