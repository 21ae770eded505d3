// Column resolution and per-row value extraction shared by training and scoring.
#include "rows.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
}

namespace custseg::pg {

namespace {

struct TypeFacts {
  Oid base;
  bool is_enum;
  Oid out_fn;
  char name[NAMEDATALEN * 2];
};

// with_name: also the type's name, for messages (scoring asks for it only to report an error).
TypeFacts type_facts(Oid typid, bool with_name = true) {
  TypeFacts f{};
  guard([&] {
    bool varlena;
    f.base = getBaseType(typid);
    f.is_enum = type_is_enum(f.base);
    getTypeOutputInfo(typid, &f.out_fn, &varlena);
    if (with_name) {
      char* n = format_type_be(typid);
      strlcpy(f.name, n, sizeof f.name);
    }
  });
  return f;
}

core::ColumnType column_type(const TypeFacts& f) {
  switch (f.base) {
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID: return core::ColumnType::kNumber;
    case BOOLOID: return core::ColumnType::kBool;
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID: return core::ColumnType::kText;
    default: return f.is_enum ? core::ColumnType::kText : core::ColumnType::kOther;
  }
}

Source numeric_source(Oid base) {
  switch (base) {
    case INT2OID: return Source::kInt2;
    case INT4OID: return Source::kInt4;
    case INT8OID: return Source::kInt8;
    case FLOAT4OID: return Source::kFloat4;
    case FLOAT8OID: return Source::kFloat8;
    case NUMERICOID: return Source::kNumeric;
    case BOOLOID: return Source::kBool;
    default: return Source::kParse;
  }
}

}  // namespace

std::vector<core::ColumnInfo> describe_columns(TupleDesc desc, std::vector<int>& attnos) {
  std::vector<core::ColumnInfo> cols;
  attnos.clear();
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped) continue;
    TypeFacts f = type_facts(att->atttypid);
    core::ColumnInfo c;
    c.name = NameStr(att->attname);
    c.type = column_type(f);
    c.type_name = f.name;
    cols.push_back(std::move(c));
    attnos.push_back(i);
  }
  return cols;
}

TupleDesc row_desc(HeapTupleHeader row, MemoryContext cxt) {
  TupleDesc copy = nullptr;
  guard([&] {
    TupleDesc d = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row), HeapTupleHeaderGetTypMod(row));
    MemoryContext old = MemoryContextSwitchTo(cxt);
    copy = CreateTupleDescCopy(d);
    MemoryContextSwitchTo(old);
    ReleaseTupleDesc(d);
  });
  return copy;
}

RowReader* build_reader(MemoryContext cxt, TupleDesc desc, Oid type_id, int32 typmod,
                        const std::vector<std::string>& names, const std::vector<core::Kind>& kinds) {
  const int n = int(names.size());
  auto* r = static_cast<RowReader*>(alloc(cxt, sizeof(RowReader)));
  r->type_id = type_id;
  r->typmod = typmod;
  r->n_features = n;
  r->n_numeric = 0;
  r->features = static_cast<FeatureSource*>(alloc(cxt, sizeof(FeatureSource) * size_t(n)));
  r->names = static_cast<char**>(alloc(cxt, sizeof(char*) * size_t(n)));
  r->numeric = static_cast<double*>(alloc(cxt, sizeof(double) * size_t(n + 1)));
  r->categorical = static_cast<core::StrRef*>(alloc(cxt, sizeof(core::StrRef) * size_t(n + 1)));
  for (int f = 0; f < n; ++f) {
    int attno = -1;
    for (int i = 0; i < desc->natts && attno < 0; ++i) {
      Form_pg_attribute att = TupleDescAttr(desc, i);
      if (!att->attisdropped && names[size_t(f)] == NameStr(att->attname)) attno = i;
    }
    if (attno < 0) {
      std::string available;
      for (int i = 0; i < desc->natts; ++i)
        if (!TupleDescAttr(desc, i)->attisdropped)
          available += (available.empty() ? "" : ", ") + std::string(NameStr(TupleDescAttr(desc, i)->attname));
      throw core::Error(core::ErrorCode::kUndefinedColumn,
                        "column \"" + names[size_t(f)] + "\" needed by the model is missing from the row",
                        "the row has columns: " + available);
    }
    Form_pg_attribute att = TupleDescAttr(desc, attno);
    TypeFacts facts = type_facts(att->atttypid, /*with_name=*/false);
    core::ColumnType ct = column_type(facts);
    FeatureSource& fs = r->features[f];
    std::memset(&fs, 0, sizeof fs);
    fs.attno = attno;
    fs.kind = kinds[size_t(f)];
    fs.slot = fs.kind == core::Kind::kNumeric ? r->n_numeric : f - r->n_numeric;
    if (fs.kind == core::Kind::kNumeric) {
      ++r->n_numeric;
      if (ct == core::ColumnType::kOther)
        throw core::Error(core::ErrorCode::kDatatypeMismatch,
                          "column \"" + names[size_t(f)] + "\" has type " + type_facts(att->atttypid).name +
                              ", but the model uses it as a number",
                          "cast it to a numeric type");
      fs.src = numeric_source(facts.base);
    } else if (ct == core::ColumnType::kText && !facts.is_enum) {
      fs.src = Source::kText;
    } else {
      fs.src = Source::kOutput;
      Oid out_fn = facts.out_fn;
      guard([&] { fmgr_info_cxt(out_fn, &fs.out, cxt); });
    }
    r->names[f] = static_cast<char*>(alloc(cxt, names[size_t(f)].size() + 1));
    std::memcpy(r->names[f], names[size_t(f)].c_str(), names[size_t(f)].size() + 1);
  }
  int last = -1;
  for (int f = 0; f < n; ++f) last = std::max(last, r->features[f].attno);
  r->n_steps = last + 1;
  r->steps = static_cast<AttrStep*>(alloc(cxt, sizeof(AttrStep) * size_t(last + 2)));
  r->fixed_reads = static_cast<int*>(alloc(cxt, sizeof(int) * size_t(n + 1)));
  r->n_fixed = 0;
  r->fixed_end = 0;
  r->n_fixed_reads = 0;
  uint32 off = 0;
  bool fixed = true;
  for (int i = 0; i <= last; ++i) {
    // A dropped column keeps its length and alignment, and its place in older tuples.
    Form_pg_attribute att = TupleDescAttr(desc, i);
    AttrStep& st = r->steps[i];
    st = AttrStep{att->attlen, att->attalign, att->attbyval, ReadOp::kSkip, false, -1, 0, -1};
    fixed = fixed && att->attlen > 0;
    if (fixed) {
      off = att_align_nominal(off, att->attalign);
      st.offset = int32(off);
      off += uint32(att->attlen);
      r->n_fixed = i + 1;
      r->fixed_end = off;
    }
  }
  for (int f = 0; f < n; ++f) {
    const FeatureSource& fs = r->features[f];
    AttrStep& st = r->steps[fs.attno];
    st.feature = f;
    st.slot = fs.slot;
    st.categorical = fs.kind == core::Kind::kCategorical;
    st.op = ReadOp::kDatum;
    // The direct reads need the attribute's own layout (a domain's is its base type's).
    if (fs.kind == core::Kind::kNumeric) {
      if (fs.src == Source::kInt2 && st.attlen == 2 && st.byval) st.op = ReadOp::kInt2;
      if (fs.src == Source::kInt4 && st.attlen == 4 && st.byval) st.op = ReadOp::kInt4;
      if (fs.src == Source::kInt8 && st.attlen == 8 && st.byval) st.op = ReadOp::kInt8;
      if (fs.src == Source::kFloat4 && st.attlen == 4 && st.byval) st.op = ReadOp::kFloat4;
      if (fs.src == Source::kFloat8 && st.attlen == 8 && st.byval) st.op = ReadOp::kFloat8;
    } else if (fs.src == Source::kText && st.attlen == -1) {
      st.op = ReadOp::kText;
    }
    if (fs.attno < r->n_fixed) r->fixed_reads[r->n_fixed_reads++] = fs.attno;
  }
  return r;
}

void check_finite(double x, const char* column) {
  if (!std::isfinite(x))
    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                    errmsg("column \"%s\" has a non-finite value (%s)", column,
                           std::isnan(x) ? "NaN" : (x > 0 ? "Infinity" : "-Infinity")),
                    errhint("store NULL for an unknown value; custseg imputes the training mean")));
}

namespace {

// One feature's value, from its attribute's datum (as heap_deform_tuple would give it); NULLs are
// read_null's. Out of line: the uncommon types and the errors stay out of the common reads.
__attribute__((noinline)) void read_value(RowReader* r, int f, Datum v) {
  const FeatureSource& fs = r->features[f];
  if (fs.kind == core::Kind::kNumeric) {
    double x = NAN;
    switch (fs.src) {
      case Source::kInt2: x = DatumGetInt16(v); break;
      case Source::kInt4: x = DatumGetInt32(v); break;
      case Source::kInt8: x = double(DatumGetInt64(v)); break;
      case Source::kFloat4: x = DatumGetFloat4(v); break;
      case Source::kFloat8: x = DatumGetFloat8(v); break;
      case Source::kNumeric: x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, v)); break;
      case Source::kBool: x = DatumGetBool(v) ? 1.0 : 0.0; break;
      case Source::kText:
      case Source::kOutput:
      case Source::kParse: {
        char* s = TextDatumGetCString(v);
        char* end = nullptr;
        x = strtod(s, &end);
        while (end && *end == ' ') ++end;
        if (s[0] == '\0' || end == s || *end != '\0')
          ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                          errmsg("column \"%s\" is a numeric feature, but has the value \"%s\"", r->names[f], s),
                          errhint("list the column in \"categorical\", or clean the value")));
        break;
      }
    }
    if (!std::isfinite(x)) check_finite(x, r->names[f]);
    r->numeric[fs.slot] = x;
    return;
  }
  core::StrRef& s = r->categorical[fs.slot];
  s.is_null = false;
  if (fs.src == Source::kText) {
    // A plain or short text is read in place; only a compressed or out-of-line one is detoasted.
    struct varlena* t = reinterpret_cast<struct varlena*>(DatumGetPointer(v));
    if (VARATT_IS_COMPRESSED(t) || VARATT_IS_EXTERNAL(t)) t = PG_DETOAST_DATUM_PACKED(v);
    s.data = VARDATA_ANY(t);
    s.len = VARSIZE_ANY_EXHDR(t);
  } else {
    char* text = OutputFunctionCall(const_cast<FmgrInfo*>(&fs.out), v);
    s.data = text;
    s.len = strlen(text);
  }
}

}  // namespace

namespace {

// A plain or short text, read in place; false for a compressed or out-of-line one (which
// read_value detoasts).
__attribute__((always_inline)) inline bool text_in_place(RowReader* r, const AttrStep& st, const struct varlena* t) {
  if (VARATT_IS_COMPRESSED(t) || VARATT_IS_EXTERNAL(t)) return false;
  core::StrRef& s = r->categorical[st.slot];
  s.is_null = false;
  s.data = VARDATA_ANY(t);
  s.len = VARSIZE_ANY_EXHDR(t);
  return true;
}

// A float feature's value; Quick: false for a non-finite one (whose error read_row raises).
template <bool Quick>
__attribute__((always_inline)) inline bool float_value(RowReader* r, const AttrStep& st, double x) {
  if (!std::isfinite(x)) {
    if (Quick) return false;
    check_finite(x, r->names[st.feature]);
  }
  r->numeric[st.slot] = x;
  return true;
}

// Reads the feature of a step from its attribute's bytes at p (the common types directly). Quick:
// nothing that can raise an error runs; a value that needs more (a non-finite number's error, a
// compressed text, another type) makes it return false.
template <bool Quick>
__attribute__((always_inline)) inline bool read_at(RowReader* r, const AttrStep& st, char* p) {
  switch (st.op) {
    case ReadOp::kSkip: return true;
    case ReadOp::kInt2: r->numeric[st.slot] = *reinterpret_cast<const int16*>(p); return true;
    case ReadOp::kInt4: r->numeric[st.slot] = *reinterpret_cast<const int32*>(p); return true;
    case ReadOp::kInt8: r->numeric[st.slot] = double(*reinterpret_cast<const int64*>(p)); return true;
    case ReadOp::kFloat4: return float_value<Quick>(r, st, *reinterpret_cast<const float4*>(p));
    case ReadOp::kFloat8: return float_value<Quick>(r, st, *reinterpret_cast<const float8*>(p));
    case ReadOp::kText:
      if (text_in_place(r, st, reinterpret_cast<const struct varlena*>(p))) return true;
      break;
    case ReadOp::kDatum: break;
  }
  if (Quick) return false;
  read_value(r, st.feature, fetch_att(p, st.byval, st.attlen));
  return true;
}

// A step's feature is NULL (no error can arise).
inline void read_null(RowReader* r, const AttrStep& st) {
  if (st.feature < 0) return;
  if (st.categorical)
    r->categorical[st.slot] = core::StrRef{};
  else
    r->numeric[st.slot] = NAN;
}

// One present attribute at `off` (aligned first, advanced past it after): its feature read.
template <bool Quick>
__attribute__((always_inline)) inline bool read_step(RowReader* r, const AttrStep& st, char* tp, uint32& off) {
  if (st.attlen == -1)
    off = att_align_pointer(off, st.attalign, -1, tp + off);
  else
    off = att_align_nominal(off, st.attalign);
  if (!read_at<Quick>(r, st, tp + off)) return false;
  off = att_addlength_pointer(off, st.attlen, tp + off);
  return true;
}

// The walk of heap_deform_tuple (access/common/heaptuple.c), stopping after the last feature's
// attribute and keeping only the features' values. Attributes a tuple does not have (it was formed
// before columns were added) are NULL, as they are to heap_deform_tuple without the descriptor's
// defaults.
template <bool Quick>
__attribute__((always_inline)) inline bool walk(RowReader* r, HeapTupleHeader row) {
  const int tuple_natts = int(HeapTupleHeaderGetNatts(row));
  const bool hasnulls = (row->t_infomask & HEAP_HASNULL) != 0;
  char* tp = reinterpret_cast<char*>(row) + row->t_hoff;
  if (!hasnulls && tuple_natts >= r->n_steps) {
    // No NULLs: the leading fixed-length attributes are at known offsets.
    for (int k = 0; k < r->n_fixed_reads; ++k) {
      const AttrStep& st = r->steps[r->fixed_reads[k]];
      if (!read_at<Quick>(r, st, tp + st.offset)) return false;
    }
    uint32 off = r->fixed_end;
    for (int i = r->n_fixed; i < r->n_steps; ++i)
      if (!read_step<Quick>(r, r->steps[i], tp, off)) return false;
    return true;
  }
  const int natts = std::min(tuple_natts, r->n_steps);
  const bits8* bp = row->t_bits;
  uint32 off = 0;
  int i = 0;
  for (; i < natts; ++i) {
    const AttrStep& st = r->steps[i];
    if (hasnulls && att_isnull(i, bp))
      read_null(r, st);
    else if (!read_step<Quick>(r, st, tp, off))
      return false;
  }
  for (; i < r->n_steps; ++i) read_null(r, r->steps[i]);
  return true;
}

// The feature of a step from its value as a Datum (the column form: the executor's value of the
// column, which may be out of line or compressed); Quick as read_at.
template <bool Quick>
__attribute__((always_inline)) inline bool read_datum(RowReader* r, const AttrStep& st, Datum v) {
  switch (st.op) {
    case ReadOp::kSkip: return true;
    case ReadOp::kInt2: r->numeric[st.slot] = DatumGetInt16(v); return true;
    case ReadOp::kInt4: r->numeric[st.slot] = DatumGetInt32(v); return true;
    case ReadOp::kInt8: r->numeric[st.slot] = double(DatumGetInt64(v)); return true;
    case ReadOp::kFloat4: return float_value<Quick>(r, st, DatumGetFloat4(v));
    case ReadOp::kFloat8: return float_value<Quick>(r, st, DatumGetFloat8(v));
    case ReadOp::kText:
      if (text_in_place(r, st, reinterpret_cast<const struct varlena*>(DatumGetPointer(v)))) return true;
      break;
    case ReadOp::kDatum: break;
  }
  if (Quick) return false;
  read_value(r, st.feature, v);
  return true;
}

template <bool Quick>
inline bool walk_datums(RowReader* r, const NullableDatum* values) {
  for (int i = 0; i < r->n_steps; ++i) {
    const AttrStep& st = r->steps[i];
    if (st.feature < 0) continue;
    if (values[i].isnull)
      read_null(r, st);
    else if (!read_datum<Quick>(r, st, values[i].value))
      return false;
  }
  return true;
}

}  // namespace

bool read_row_quick(RowReader* r, HeapTupleHeader row) { return walk<true>(r, row); }

bool read_datums_quick(RowReader* r, const NullableDatum* values) { return walk_datums<true>(r, values); }

void read_datums(RowReader* r, const NullableDatum* values) { walk_datums<false>(r, values); }

void read_row(RowReader* r, HeapTupleHeader row) { walk<false>(r, row); }

}  // namespace custseg::pg

extern "C" {
#include "utils/array.h"
#include "utils/numeric.h"
}

namespace custseg::pg {

FeatureBuffers* build_buffers(MemoryContext cxt, const std::vector<std::string>& names, int n_numeric) {
  const int n = int(names.size());
  auto* b = static_cast<FeatureBuffers*>(alloc(cxt, sizeof(FeatureBuffers)));
  b->n_features = n;
  b->n_numeric = n_numeric;
  b->names = static_cast<char**>(alloc(cxt, sizeof(char*) * size_t(n)));
  b->name_lens = static_cast<int*>(alloc(cxt, sizeof(int) * size_t(n)));
  b->numeric = static_cast<double*>(alloc(cxt, sizeof(double) * size_t(n + 1)));
  b->categorical = static_cast<core::StrRef*>(alloc(cxt, sizeof(core::StrRef) * size_t(n + 1)));
  for (int i = 0; i <= n; ++i) new (&b->categorical[i]) core::StrRef();  // NULL until a row sets one
  for (int i = 0; i < n; ++i) {
    b->names[i] = static_cast<char*>(alloc(cxt, names[size_t(i)].size() + 1));
    std::memcpy(b->names[i], names[size_t(i)].c_str(), names[size_t(i)].size() + 1);
    b->name_lens[i] = int(names[size_t(i)].size());
  }
  return b;
}

std::vector<core::ColumnInfo> describe_jsonb(Jsonb* row) {
  if (!JB_ROOT_IS_OBJECT(row))
    throw core::Error(core::ErrorCode::kDatatypeMismatch, "a jsonb row must be a JSON object",
                      "pass to_jsonb(t) of a table row, or an object of column names and values");
  std::vector<core::ColumnInfo> cols;
  // Plain data only while the iterator (which may ereport) runs.
  JsonbIterator* it = nullptr;
  JsonbValue v;
  JsonbIteratorToken tok = WJB_DONE;
  char key[NAMEDATALEN * 4];
  for (;;) {
    bool have_key = false;
    core::ColumnType type = core::ColumnType::kOther;
    char tname[32] = "";
    guard([&] {
      if (!it) it = JsonbIteratorInit(&row->root);
      while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE) {
        if (tok != WJB_KEY) continue;
        int len = Min(v.val.string.len, int(sizeof key) - 1);
        memcpy(key, v.val.string.val, len);
        key[len] = '\0';
        tok = JsonbIteratorNext(&it, &v, true);
        have_key = true;
        break;
      }
    });
    if (!have_key) break;
    switch (v.type) {
      case jbvNumeric: type = core::ColumnType::kNumber; break;
      case jbvBool: type = core::ColumnType::kBool; break;
      case jbvString: type = core::ColumnType::kText; break;
      case jbvNull: type = core::ColumnType::kNumber; break;
      default: type = core::ColumnType::kOther; snprintf(tname, sizeof tname, "%s", "JSON array or object");
    }
    core::ColumnInfo c;
    c.name = key;
    c.type = type;
    c.type_name = tname[0] ? tname : "json";
    cols.push_back(std::move(c));
  }
  return cols;
}

namespace {

double parse_number(const char* s, int len, const char* column) {
  char buf[128];
  char* text = len < int(sizeof buf) ? buf : static_cast<char*>(palloc(size_t(len) + 1));
  memcpy(text, s, size_t(len));
  text[len] = '\0';
  char* end = nullptr;
  double x = strtod(text, &end);
  while (end && *end == ' ') ++end;
  if (len == 0 || end == text || *end != '\0')
    ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                    errmsg("column \"%s\" is a numeric feature, but has the value \"%s\"", column, text),
                    errhint("list the column in \"categorical\", or clean the value")));
  return x;
}

}  // namespace

void read_jsonb_row(FeatureBuffers* b, Jsonb* row) {
  if (!JB_ROOT_IS_OBJECT(row))
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("a jsonb row must be a JSON object")));
  int ni = 0, ci = 0;
  for (int f = 0; f < b->n_features; ++f) {
    JsonbValue v;
    const bool found = getKeyJsonValueFromContainer(&row->root, b->names[f], b->name_lens[f], &v) != nullptr;
    const bool is_null = !found || v.type == jbvNull;
    if (found && (v.type == jbvArray || v.type == jbvObject || v.type == jbvBinary))
      ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                      errmsg("key \"%s\" holds a JSON object or array, which cannot be a feature", b->names[f])));
    if (f < b->n_numeric) {
      double x = NAN;
      if (!is_null) {
        if (v.type == jbvNumeric)
          x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(v.val.numeric)));
        else if (v.type == jbvBool)
          x = v.val.boolean ? 1.0 : 0.0;
        else
          x = parse_number(v.val.string.val, v.val.string.len, b->names[f]);
        check_finite(x, b->names[f]);
      }
      b->numeric[ni++] = x;
    } else {
      core::StrRef& s = b->categorical[ci++];
      s.is_null = is_null;
      s.data = nullptr;
      s.len = 0;
      if (is_null) continue;
      if (v.type == jbvString) {
        s.data = v.val.string.val;
        s.len = size_t(v.val.string.len);
      } else if (v.type == jbvBool) {
        s.data = v.val.boolean ? "true" : "false";
        s.len = strlen(s.data);
      } else {
        char* text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
        s.data = text;
        s.len = strlen(text);
      }
    }
  }
}

void read_array_row(FeatureBuffers* b, ArrayType* row) {
  if (ARR_ELEMTYPE(row) != FLOAT8OID)
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("expected a float8[] vector")));
  if (ARR_NDIM(row) > 1)
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("expected a one-dimensional float8[] vector")));
  const int n = ARR_NDIM(row) == 0 ? 0 : ARR_DIMS(row)[0];
  if (n != b->n_features)
    ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                    errmsg("vector has %d element%s, expected %d", n, n == 1 ? "" : "s", b->n_features)));
  const double* data = reinterpret_cast<const double*>(ARR_DATA_PTR(row));
  const bits8* nulls = ARR_NULLBITMAP(row);
  int k = 0;
  for (int i = 0; i < n; ++i) {
    if (nulls && !(nulls[i / 8] & (1 << (i % 8)))) {
      b->numeric[i] = NAN;
      continue;
    }
    double x;
    memcpy(&x, data + k++, sizeof x);  // why memcpy: no alignment assumption on the array data
    check_finite(x, b->names[i]);
    b->numeric[i] = x;
  }
}

}  // namespace custseg::pg
