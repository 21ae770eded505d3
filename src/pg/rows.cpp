// Column resolution and per-row value extraction shared by training and scoring.
#include "rows.h"

#include <cmath>
#include <cstdlib>

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

TypeFacts type_facts(Oid typid) {
  TypeFacts f{};
  guard([&] {
    bool varlena;
    f.base = getBaseType(typid);
    f.is_enum = type_is_enum(f.base);
    getTypeOutputInfo(typid, &f.out_fn, &varlena);
    char* n = format_type_be(typid);
    strlcpy(f.name, n, sizeof f.name);
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
  r->desc = desc;
  r->n_features = n;
  r->n_numeric = 0;
  r->features = static_cast<FeatureSource*>(alloc(cxt, sizeof(FeatureSource) * size_t(n)));
  r->names = static_cast<char**>(alloc(cxt, sizeof(char*) * size_t(n)));
  r->values = static_cast<Datum*>(alloc(cxt, sizeof(Datum) * size_t(desc->natts + 1)));
  r->nulls = static_cast<bool*>(alloc(cxt, sizeof(bool) * size_t(desc->natts + 1)));
  r->numeric = static_cast<double*>(alloc(cxt, sizeof(double) * size_t(n + 1)));
  r->categorical = static_cast<core::StrRef*>(alloc(cxt, sizeof(core::StrRef) * size_t(n + 1)));
  std::string available;
  for (int i = 0; i < desc->natts; ++i)
    if (!TupleDescAttr(desc, i)->attisdropped)
      available += (available.empty() ? "" : ", ") + std::string(NameStr(TupleDescAttr(desc, i)->attname));
  for (int f = 0; f < n; ++f) {
    int attno = -1;
    for (int i = 0; i < desc->natts && attno < 0; ++i) {
      Form_pg_attribute att = TupleDescAttr(desc, i);
      if (!att->attisdropped && names[size_t(f)] == NameStr(att->attname)) attno = i;
    }
    if (attno < 0)
      throw core::Error(core::ErrorCode::kUndefinedColumn,
                        "column \"" + names[size_t(f)] + "\" needed by the model is missing from the row",
                        "the row has columns: " + available);
    Form_pg_attribute att = TupleDescAttr(desc, attno);
    TypeFacts facts = type_facts(att->atttypid);
    core::ColumnType ct = column_type(facts);
    FeatureSource& fs = r->features[f];
    std::memset(&fs, 0, sizeof fs);
    fs.attno = attno;
    fs.kind = kinds[size_t(f)];
    if (fs.kind == core::Kind::kNumeric) {
      ++r->n_numeric;
      if (ct == core::ColumnType::kOther)
        throw core::Error(core::ErrorCode::kDatatypeMismatch,
                          "column \"" + names[size_t(f)] + "\" has type " + facts.name +
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
  return r;
}

void read_row(RowReader* r, HeapTupleHeader row) {
  HeapTupleData tuple;
  tuple.t_len = HeapTupleHeaderGetDatumLength(row);
  ItemPointerSetInvalid(&tuple.t_self);
  tuple.t_tableOid = InvalidOid;
  tuple.t_data = row;
  heap_deform_tuple(&tuple, r->desc, r->values, r->nulls);
  int ni = 0, ci = 0;
  for (int f = 0; f < r->n_features; ++f) {
    const FeatureSource& fs = r->features[f];
    const bool is_null = r->nulls[fs.attno];
    const Datum v = r->values[fs.attno];
    if (fs.kind == core::Kind::kNumeric) {
      double x = NAN;
      if (!is_null) {
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
        if (!std::isfinite(x))
          ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                          errmsg("column \"%s\" has a non-finite value (%s)", r->names[f],
                                 std::isnan(x) ? "NaN" : (x > 0 ? "Infinity" : "-Infinity")),
                          errhint("store NULL for an unknown value; custseg imputes the training mean")));
      }
      r->numeric[ni++] = x;
    } else {
      core::StrRef& s = r->categorical[ci++];
      s.is_null = is_null;
      s.data = nullptr;
      s.len = 0;
      if (is_null) continue;
      if (fs.src == Source::kText) {
        struct varlena* t = PG_DETOAST_DATUM_PACKED(v);
        s.data = VARDATA_ANY(t);
        s.len = VARSIZE_ANY_EXHDR(t);
      } else {
        char* text = OutputFunctionCall(const_cast<FmgrInfo*>(&fs.out), v);
        s.data = text;
        s.len = strlen(text);
      }
    }
  }
}

}  // namespace custseg::pg
