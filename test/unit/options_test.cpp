#include <algorithm>
#include <gtest/gtest.h>

#include "errors.h"
#include "options.h"

namespace custseg::core {
namespace {

ErrorCode code_of(const std::string& text) {
  try {
    parse_fit_options(text, &user_option_keys(Stage::kFit));
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // "did not throw"
}

TEST(Options, DefaultsMatchTheManual) {
  FitOptions o = parse_fit_options("", &user_option_keys(Stage::kFit));
  EXPECT_EQ(o.k, 3);
  EXPECT_EQ(o.n_components, 2);
  EXPECT_EQ(o.n_init, 10);
  EXPECT_EQ(o.max_iter, 300);
  EXPECT_DOUBLE_EQ(o.tol, 1e-4);
  EXPECT_EQ(o.sample_size, 100000);
  EXPECT_FALSE(o.sample_size_set);
  EXPECT_FALSE(o.scale_categoricals);
  EXPECT_FALSE(o.dedupe);
}

TEST(Options, DedupeKeepsUpToAMillionDistinctRowsByDefault) {
  EXPECT_EQ(parse_fit_options(R"({"dedupe": true})", &user_option_keys(Stage::kFit)).sample_size, 1000000);
  EXPECT_EQ(parse_fit_options(R"({"dedupe": true, "sample_size": 5000})", &user_option_keys(Stage::kFit)).sample_size,
            5000);
}

TEST(Options, ParsesEveryKey) {
  FitOptions o = parse_fit_options(
      R"({"k": 5, "n_components": 0.9, "seed": 42, "n_init": 3, "max_iter": 50, "tol": 0.001,
          "exclude": ["id"], "categorical": ["zip"], "scale_categoricals": true, "sample_size": 1000})",
      &user_option_keys(Stage::kFit));
  EXPECT_EQ(o.k, 5);
  EXPECT_EQ(o.n_components, 0);
  EXPECT_DOUBLE_EQ(o.variance_fraction, 0.9);
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.n_init, 3);
  EXPECT_EQ(o.max_iter, 50);
  EXPECT_EQ(o.exclude, std::vector<std::string>{"id"});
  EXPECT_EQ(o.categorical, std::vector<std::string>{"zip"});
  EXPECT_TRUE(o.scale_categoricals);
  EXPECT_EQ(o.sample_size, 1000);
  EXPECT_TRUE(o.sample_size_set);
}

TEST(Options, RejectsUnknownKeysAndBadValues) {
  EXPECT_EQ(code_of(R"({"kk": 3})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"k": "three"})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"k": 2.5})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"k": -1})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"k": 1001})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"n_components": 1.5})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"tol": -1})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"n_init": 0})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"exclude": 7})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"exclude": ["id", 7]})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"([1, 2])"), ErrorCode::kInvalidArgument);
  // Options are a parameter: JSON that does not parse, or a number no double holds, is 22023 too.
  EXPECT_EQ(code_of(R"({"k": )"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"k": 1e400})"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(R"({"seed": -1e999})"), ErrorCode::kInvalidArgument);
}

TEST(Options, SingleNameIsAnError) {
  // The README's rule: every wrong type is an error; a name list is an array even for one name.
  for (const char* key : {"exclude", "categorical", "numeric"}) {
    const std::string text = std::string("{\"") + key + "\": \"id\"}";
    EXPECT_EQ(code_of(text.c_str()), ErrorCode::kInvalidArgument) << key;
  }
  FitOptions o = parse_fit_options(R"({"exclude": ["id"]})", &user_option_keys(Stage::kFit));
  EXPECT_EQ(o.exclude, std::vector<std::string>{"id"});
}

TEST(Options, IntegralNumbersPrintAsIntegers) {
  FitOptions o = parse_fit_options(R"({"sample_size": 100000, "seed": 9007199254740992})", &user_option_keys(Stage::kFit));
  const std::string text = json::write(options_to_json(o));
  EXPECT_NE(text.find("\"sample_size\": 100000"), std::string::npos) << text;
  EXPECT_EQ(text.find("e+"), std::string::npos) << text;
  EXPECT_EQ(json::write(json::Value::number(-0.0)), "-0");
  EXPECT_EQ(json::write(json::Value::number(0.5)), "0.5");
}

TEST(Options, NormalizedFormHasEveryKey) {
  FitOptions o = parse_fit_options(R"({"k": 4, "seed": 7})", &user_option_keys(Stage::kFit));
  json::Value v = options_to_json(o);
  // "transform", "value_column", "metric_space" and the methods' keys appear only when given (or
  // for their method), so a k-means model without transforms keeps 0.2.0's options.
  const std::vector<std::string> only_when_given = {"transform", "value_column", "metric_space", "method",
                                                    "outlier_quantile", "covariance_type", "reg_covar", "means_init",
                                                    "linkage", "eps", "min_samples"};
  for (const std::string& key : user_option_keys(Stage::kFit))
    if (std::find(only_when_given.begin(), only_when_given.end(), key) == only_when_given.end()) {
      EXPECT_NE(v.find(key), nullptr) << key;
    }
  EXPECT_EQ(v.find("transform"), nullptr);
  EXPECT_EQ(v.find("value_column"), nullptr);
  EXPECT_EQ(options_to_json(parse_fit_options(R"({"value_column": "spend"})")).find("value_column")->as_string(), "spend");
  EXPECT_THROW(parse_fit_options(R"({"value_column": 3})"), Error);
  EXPECT_EQ(v.find("metric_space"), nullptr);
  EXPECT_TRUE(parse_fit_options(R"({"metric_space": "features"})").metrics_in_features);
  EXPECT_FALSE(parse_fit_options(R"({"metric_space": "kmeans"})").metrics_in_features);
  EXPECT_THROW(parse_fit_options(R"({"metric_space": "pca"})"), Error);
  EXPECT_NE(options_to_json(parse_fit_options(R"({"transform": {"a": "log1p"}})")).find("transform"), nullptr);
  EXPECT_EQ(v.find("k")->as_number(), 4);
  EXPECT_EQ(v.find("seed")->as_number(), 7);
}

}  // namespace
}  // namespace custseg::core
