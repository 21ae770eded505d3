// The column-array form of custseg_fit: custseg_fit_columns(names text[], numbers float8[],
// categories text[], options jsonb). Each row arrives as two plain arrays in the order of `names`
// (numbers first, then categories; names beyond both are columns that are only named, for the
// "exclude" option), so the transition needs no per-query cache to find a row's features: Citus,
// which calls it with a fresh FmgrInfo for every row, aggregates it in its workers at the speed of
// a local scan. custseg_train builds this form for Citus tables. The state and the final step are
// custseg_fit's, so the model equals custseg_fit(row) over a table with these columns.
//
// custseg_fit_values(options, names, VARIADIC "any") takes the same values as separate arguments
// (float8 numbers, then text categories): nothing is built per row. custseg_train uses it on one
// node, where the executor gives the transition its argument types.
#include <cmath>
#include <new>

#include "rows.h"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "fmgr.h"
}

using namespace custseg;

namespace {

// One row's values on their way to the running state, in plain arrays on the stack: at most
// kMaxFeatures of each (checked when the state was planned), numbers NaN (missing) and categories
// NULL until set. Why raw storage for the categories: a default-constructed StrRef[kMaxFeatures]
// would write all 1000 entries (24 kB) on every row; only the state's width is constructed.
struct RowValues {
  double numeric[core::kMaxFeatures];
  alignas(core::StrRef) unsigned char categorical_room[sizeof(core::StrRef) * core::kMaxFeatures];
  core::StrRef* categorical;
  pg::FitStateObject* state;

  RowValues(pg::FitStateObject* s, int n_numeric, int n_categorical) : state(s) {
    if (n_numeric > core::kMaxFeatures || n_categorical > core::kMaxFeatures)
      throw core::Error(core::ErrorCode::kInternal, "custseg state has too many features");
    categorical = reinterpret_cast<core::StrRef*>(categorical_room);
    for (int i = 0; i < n_categorical; ++i) new (&categorical[i]) core::StrRef();
    for (int i = 0; i < n_numeric; ++i) numeric[i] = NAN;
  }

  // Number i of the row; a non-finite one is the record form's error, naming the column
  // (custseg_train reads a table through either form).
  void set_number(int i, double x) {
    if (!std::isfinite(x)) {
      const std::string name = pg::running_fit_feature_name(state, i);
      pg::guard([&] { pg::check_finite(x, name.c_str()); });
    }
    numeric[i] = x;
  }
};

// The elements of a one-dimensional text[] (NULL elements as null), copied as C strings in the
// current context. Plain C, may ereport.
void text_elements(ArrayType* a, const char* what, int* n, Datum** elems, bool** nulls) {
  if (ARR_NDIM(a) > 1)
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("%s must be a one-dimensional text[]", what)));
  deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, elems, nulls, n);
}

// The element count of a one-dimensional array argument.
int array_length(ArrayType* a, const char* what) {
  if (ARR_NDIM(a) > 1)
    throw core::Error(core::ErrorCode::kInvalidArgument, std::string(what) + " must be a one-dimensional array");
  return ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
}

// A fresh state for the first row: plans the features from the names and which array each is in.
// The options are argument options_arg (none when it is beyond the call's arguments or NULL).
bytea* new_state(FunctionCallInfo fcinfo, int options_arg, ArrayType* names_arr, int n_numbers, int n_categories) {
  std::string opts_json;
  if (PG_NARGS() > options_arg && !PG_ARGISNULL(options_arg)) {
    Datum d = PG_GETARG_DATUM(options_arg);
    char* text = nullptr;
    pg::guard([&] {
      Jsonb* jb = DatumGetJsonbP(d);
      text = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
    });
    opts_json = text;
  }
  int n_names = 0;
  Datum* elems = nullptr;
  bool* nulls = nullptr;
  pg::guard([&] { text_elements(names_arr, "names", &n_names, &elems, &nulls); });
  if (n_names < n_numbers + n_categories)
    throw core::Error(core::ErrorCode::kInvalidArgument,
                      "names has " + std::to_string(n_names) + " elements, fewer than the " +
                          std::to_string(n_numbers + n_categories) + " numbers and categories of the row",
                      "name every element of numbers, then of categories, in order");
  std::vector<core::ColumnInfo> columns;
  for (int i = 0; i < n_names; ++i) {
    if (nulls[i]) throw core::Error(core::ErrorCode::kInvalidArgument, "names must not contain NULL");
    char* s = nullptr;
    pg::guard([&] { s = TextDatumGetCString(elems[i]); });
    core::ColumnInfo c;
    c.name = s;
    if (i < n_numbers) {
      c.type = core::ColumnType::kNumber;
      c.type_name = "float8";
    } else if (i < n_numbers + n_categories) {
      c.type = core::ColumnType::kText;
      c.type_name = "text";
    } else {
      c.type = core::ColumnType::kOther;
      c.type_name = "(named only)";
    }
    columns.push_back(std::move(c));
  }
  const std::string opts = core::stage_options(core::Stage::kFit, opts_json, {});
  const core::FitOptions o = core::parse_fit_options(opts);
  core::FeaturePlan plan = core::plan_features(columns, o);
  // The row's arrays are read in place: the plan must keep them as they are, numbers then categories.
  if (int(plan.names.size()) != n_numbers + n_categories || plan.n_numeric != n_numbers)
    throw core::Error(core::ErrorCode::kInvalidArgument,
                      "every element of numbers and categories must be a feature of its own kind",
                      "leave excluded columns out of the arrays (name them after the categories), and put a "
                      "column forced \"categorical\" in categories as text, one forced \"numeric\" in numbers");
  for (int i = 0; i < n_numbers + n_categories; ++i)
    if (plan.names[size_t(i)] != columns[size_t(i)].name)
      throw core::Error(core::ErrorCode::kInvalidArgument, "names must not repeat a column",
                        "column \"" + columns[size_t(i)].name + "\" is named twice");
  core::resolve_transforms(o.transforms, plan.names, plan.n_numeric);  // as the record form: before any value
  std::vector<uint8_t> bytes = core::encode_state(core::FitParts(plan.names, plan.n_numeric, opts));
  return reinterpret_cast<bytea*>(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}


}  // namespace

// custseg_fit_columns_transfn(state, names text[], numbers float8[], categories text[] [, options jsonb])
CUSTSEG_FUNCTION(custseg_fit_columns_transfn) {
  MemoryContext aggcxt;
  if (!AggCheckCallContext(fcinfo, &aggcxt))
    throw core::Error(core::ErrorCode::kInvalidArgument, "custseg transition function called in non-aggregate context");
  // The running state is custseg_fit's expanded object: kept by the executor (and by Citus, which
  // calls this with a fresh FmgrInfo for every row) between rows, neither copied nor validated per row.
  pg::FitStateObject* state = pg::running_fit_state(fcinfo, aggcxt);
  if (PG_ARGISNULL(1)) throw core::Error(core::ErrorCode::kInvalidArgument, "names must not be NULL");
  if (PG_ARGISNULL(2) && PG_ARGISNULL(3)) {
    // A row with neither array has no feature: counted as skipped once a state exists.
    if (!state) PG_RETURN_NULL();
    return pg::running_fit_add_skipped(state);
  }
  ArrayType* numbers = nullptr;
  ArrayType* categories = nullptr;
  ArrayType* names = nullptr;
  Datum dn = PG_ARGISNULL(2) ? Datum(0) : PG_GETARG_DATUM(2);
  Datum dc = PG_ARGISNULL(3) ? Datum(0) : PG_GETARG_DATUM(3);
  Datum dnames = PG_GETARG_DATUM(1);
  pg::guard([&] {
    if (dn) numbers = DatumGetArrayTypeP(dn);
    if (dc) categories = DatumGetArrayTypeP(dc);
    if (!state) names = DatumGetArrayTypeP(dnames);
  });
  if (numbers && ARR_ELEMTYPE(numbers) != FLOAT8OID)
    throw core::Error(core::ErrorCode::kDatatypeMismatch, "numbers must be a float8[]");
  if (categories && ARR_ELEMTYPE(categories) != TEXTOID)
    throw core::Error(core::ErrorCode::kDatatypeMismatch, "categories must be a text[]");
  const int n_num = numbers ? array_length(numbers, "numbers") : 0;
  const int n_cat = categories ? array_length(categories, "categories") : 0;
  if (!state) state = pg::new_running_fit_state(aggcxt, new_state(fcinfo, 4, names, n_num, n_cat));
  struct {
    int n_numeric, n_categorical;
  } w;
  pg::running_fit_widths(state, &w.n_numeric, &w.n_categorical);
  if ((numbers && n_num != w.n_numeric) || (categories && n_cat != w.n_categorical))
    throw core::Error(core::ErrorCode::kDataException,
                      "a row has " + std::to_string(n_num) + " numbers and " + std::to_string(n_cat) +
                          " categories, expected " + std::to_string(w.n_numeric) + " and " +
                          std::to_string(w.n_categorical),
                      "every row must give the same columns in the same order");
  RowValues row(state, w.n_numeric, w.n_categorical);
  core::StrRef* categorical = row.categorical;
  if (numbers) {
    const char* data = ARR_DATA_PTR(numbers);
    const bits8* nulls = ARR_NULLBITMAP(numbers);
    for (int i = 0; i < n_num; ++i) {
      if (nulls && !(nulls[i / 8] & (1 << (i % 8)))) continue;
      double x;
      memcpy(&x, data, sizeof x);  // why memcpy: no alignment assumption on the array data
      data += sizeof(double);
      row.set_number(i, x);
    }
  }
  if (categories) {
    const char* p = ARR_DATA_PTR(categories);
    const bits8* nulls = ARR_NULLBITMAP(categories);
    for (int i = 0; i < n_cat; ++i) {
      if (nulls && !(nulls[i / 8] & (1 << (i % 8)))) continue;
      // Array elements of text are untoasted varlenas, possibly with a short header.
      const struct varlena* v = reinterpret_cast<const struct varlena*>(p);
      categorical[i].data = VARDATA_ANY(v);
      categorical[i].len = VARSIZE_ANY_EXHDR(v);
      categorical[i].is_null = false;
      p = att_addlength_pointer(p, -1, p);
      p = reinterpret_cast<const char*>(att_align_nominal(p, TYPALIGN_INT));
    }
  }
  return pg::running_fit_add_row(state, row.numeric, categorical);
}

// custseg_fit_values_transfn(state, options jsonb, names text[], VARIADIC "any"): the same rows as
// separate arguments, float8 numbers then text categories in the order of `names`, so that no array
// is built and taken apart per row (custseg_train's form on one node). The argument types are read
// from the call's expression on the first row; Citus, which calls transitions without one, runs
// custseg_fit_columns instead.
CUSTSEG_FUNCTION(custseg_fit_values_transfn) {
  constexpr int kFirst = 3;  // the first value's argument
  MemoryContext aggcxt;
  if (!AggCheckCallContext(fcinfo, &aggcxt))
    throw core::Error(core::ErrorCode::kInvalidArgument, "custseg transition function called in non-aggregate context");
  pg::FitStateObject* state = pg::running_fit_state(fcinfo, aggcxt);
  const int n_values = PG_NARGS() - kFirst;
  // Numbers (float8) first, then categories (text): each value's type from the call, read once
  // per call site (kept in fn_extra) and checked against every state, a fresh one or one given as
  // an INITCOND: the values are read as the state's widths say, a text as a pointer.
  auto* n_float8 = static_cast<int*>(fcinfo->flinfo->fn_extra);
  if (!n_float8) {
    int n_num = 0, n_cat = 0;
    for (int i = 0; i < n_values; ++i) {
      const Oid t = get_fn_expr_argtype(fcinfo->flinfo, kFirst + i);
      if (t == InvalidOid)
        throw core::Error(core::ErrorCode::kNotSupported,
                          "custseg_fit_values cannot tell its arguments' types in this call",
                          "call custseg_fit_columns(names, numbers, categories, options) instead");
      if (t == FLOAT8OID && n_cat == 0) {
        ++n_num;
      } else if (t == TEXTOID) {
        ++n_cat;
      } else {
        throw core::Error(core::ErrorCode::kDatatypeMismatch,
                          "value " + std::to_string(i + 1) + " of custseg_fit_values is neither a number before "
                              "the categories nor a category",
                          "pass float8 numbers first, then text categories, in the order of names (cast: t.x::float8, "
                              "t.c::text)");
      }
    }
    n_float8 = static_cast<int*>(pg::alloc(fcinfo->flinfo->fn_mcxt, sizeof(int)));
    *n_float8 = n_num;
    fcinfo->flinfo->fn_extra = n_float8;
  }
  const int n_num = *n_float8, n_cat = n_values - n_num;
  if (!state) {
    if (PG_ARGISNULL(2)) throw core::Error(core::ErrorCode::kInvalidArgument, "names must not be NULL");
    ArrayType* names = nullptr;
    Datum dnames = PG_GETARG_DATUM(2);
    pg::guard([&] { names = DatumGetArrayTypeP(dnames); });
    state = pg::new_running_fit_state(aggcxt, new_state(fcinfo, 1, names, n_num, n_cat));
  }
  int n_numeric = 0, n_categorical = 0;
  pg::running_fit_widths(state, &n_numeric, &n_categorical);
  if (n_values != n_numeric + n_categorical)
    throw core::Error(core::ErrorCode::kDataException,
                      "a row has " + std::to_string(n_values) + " values, expected " +
                          std::to_string(n_numeric + n_categorical),
                      "every row must give the same columns in the same order");
  if (n_num != n_numeric)
    throw core::Error(core::ErrorCode::kDatatypeMismatch,
                      "a row has " + std::to_string(n_num) + " float8 value(s) before its categories; the state has " +
                          std::to_string(n_numeric) + " numeric feature(s)",
                      "pass float8 numbers first, then text categories, in the order of the state's features");
  RowValues row(state, n_numeric, n_categorical);
  core::StrRef* categorical = row.categorical;
  for (int i = 0; i < n_numeric; ++i)
    if (!PG_ARGISNULL(kFirst + i)) row.set_number(i, DatumGetFloat8(PG_GETARG_DATUM(kFirst + i)));
  for (int i = 0; i < n_categorical; ++i) {
    const int arg = kFirst + n_numeric + i;
    if (PG_ARGISNULL(arg)) continue;
    // A column's text may arrive compressed or out of line; in the per-row context, detoasted
    // only then (a plain or short value is read in place).
    const struct varlena* v = reinterpret_cast<const struct varlena*>(DatumGetPointer(PG_GETARG_DATUM(arg)));
    if (VARATT_IS_COMPRESSED(v) || VARATT_IS_EXTERNAL(v)) {
      const Datum d = PG_GETARG_DATUM(arg);
      pg::guard([&] { v = PG_DETOAST_DATUM_PACKED(d); });
    }
    categorical[i].data = VARDATA_ANY(v);
    categorical[i].len = VARSIZE_ANY_EXHDR(v);
    categorical[i].is_null = false;
  }
  return pg::running_fit_add_row(state, row.numeric, categorical);
}

// custseg_float8(numeric): a numeric as the record form reads it (numeric_float8_no_overflow), for
// the column arrays custseg_fit_columns_args writes. Why plain C and not CUSTSEG_FUNCTION: it is
// called once per numeric column and row, holds no C++ object, and may only ereport.
extern "C" {
PG_FUNCTION_INFO_V1(custseg_numeric_float8);
Datum custseg_numeric_float8(PG_FUNCTION_ARGS) {
  return DirectFunctionCall1(numeric_float8_no_overflow, PG_GETARG_DATUM(0));
}
}
