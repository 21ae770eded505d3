// Feature planning: which columns of a table the custseg_fit aggregate encodes, and how (numeric
// or categorical, converted from another type or not), from their types and the training options.
#include "fit.h"

#include <algorithm>

namespace custseg::core {

FeaturePlan plan_features(const std::vector<ColumnInfo>& columns, const FitOptions& opt) {
  auto exists = [&](const std::string& n) {
    for (const auto& c : columns)
      if (c.name == n) return true;
    return false;
  };
  auto listed = [](const std::vector<std::string>& list, const std::string& n) {
    return std::find(list.begin(), list.end(), n) != list.end();
  };
  for (const auto* opt_list : {&opt.exclude, &opt.categorical, &opt.numeric}) {
    const char* key = opt_list == &opt.exclude ? "exclude" : opt_list == &opt.categorical ? "categorical" : "numeric";
    for (const auto& n : *opt_list)
      if (!exists(n))
        throw Error(ErrorCode::kUndefinedColumn,
                    "column \"" + n + "\" named in option \"" + key + "\" does not exist",
                    "column names are case-sensitive and must match the table's exactly");
  }
  FeaturePlan plan;
  std::vector<PlannedFeature> cats;
  for (int i = 0; i < int(columns.size()); ++i) {
    const ColumnInfo& c = columns[size_t(i)];
    if (listed(opt.exclude, c.name)) continue;
    PlannedFeature f;
    f.column = i;
    if (listed(opt.categorical, c.name)) {
      f.kind = Kind::kCategorical;
      f.convert = c.type != ColumnType::kText;
    } else if (listed(opt.numeric, c.name)) {
      if (c.type == ColumnType::kOther)
        throw Error(ErrorCode::kDatatypeMismatch,
                    "column \"" + c.name + "\" of type " + c.type_name + " cannot be used as a numeric feature",
                    "cast it to a number in a view, or list it in \"exclude\"");
      f.kind = Kind::kNumeric;
      f.convert = c.type == ColumnType::kText;
    } else if (c.type == ColumnType::kNumber || c.type == ColumnType::kBool) {
      f.kind = Kind::kNumeric;
    } else if (c.type == ColumnType::kText) {
      f.kind = Kind::kCategorical;
    } else {
      throw Error(ErrorCode::kDatatypeMismatch,
                  "column \"" + c.name + "\" of type " + c.type_name + " cannot be used as a feature",
                  "list it in \"exclude\", name it in \"categorical\", or cast it to a number or text in a view");
    }
    if (f.kind == Kind::kNumeric)
      plan.features.push_back(f);
    else
      cats.push_back(f);
  }
  plan.n_numeric = int(plan.features.size());
  plan.features.insert(plan.features.end(), cats.begin(), cats.end());
  if (plan.features.empty())
    throw Error(ErrorCode::kInvalidArgument, "no usable feature column",
                "the row needs at least one numeric or text column that is not excluded");
  if (int(plan.features.size()) > kMaxFeatures)
    throw Error(ErrorCode::kProgramLimit, "too many feature columns: " + std::to_string(plan.features.size()),
                "custseg uses at most " + std::to_string(kMaxFeatures) + " encoded columns");
  for (const auto& f : plan.features) plan.names.push_back(columns[size_t(f.column)].name);
  return plan;
}

}  // namespace custseg::core
