// Reading feature values out of a composite row by column name: the mapping is resolved once per
// row type and cached; the per-row read is plain C that allocates only in the per-row context.
#pragma once

#include <string>
#include <vector>

#include "custseg_pg.h"

extern "C" {
#include "access/htup_details.h"
#include "access/tupdesc.h"
}

#include "../core/fit.h"
#include "../core/model.h"

namespace custseg::pg {

enum class Source : uint8_t { kInt2, kInt4, kInt8, kFloat4, kFloat8, kNumeric, kBool, kText, kOutput, kParse };

struct FeatureSource {
  int attno;  // 0-based attribute index
  int slot;   // index into numeric or categorical
  Source src;
  core::Kind kind;
  FmgrInfo out;  // output function, for kOutput
};

// How a feature's value is read from its attribute: the common types directly, any other through
// its datum (kDatum).
enum class ReadOp : uint8_t { kSkip, kInt2, kInt4, kInt8, kFloat4, kFloat8, kText, kDatum };

// One attribute of the row type, up to the last one a feature reads: how to step over it, and the
// feature it holds (or -1).
struct AttrStep {
  int16 attlen;
  char attalign;
  bool byval;
  ReadOp op;
  bool categorical;  // the feature's kind
  int feature;
  int slot;      // the feature's index into numeric or categorical
  int32 offset;  // in a tuple without NULLs, for the leading fixed-length attributes; else -1
};

// Everything below lives in one memory context (fn_mcxt): plain data, no destructors.
struct RowReader {
  Oid type_id;
  int32 typmod;
  int n_features;
  int n_numeric;
  FeatureSource* features;
  char** names;
  AttrStep* steps;  // attributes 0 .. the last feature's
  int n_steps;
  int n_fixed;        // leading fixed-length attributes among them (known offsets without NULLs)
  uint32 fixed_end;   // the offset after them
  int* fixed_reads;   // the attributes among them that features read
  int n_fixed_reads;
  double* numeric;
  core::StrRef* categorical;
};

// The columns of a row type, for core::plan_features; attnos receives each column's attribute index.
std::vector<core::ColumnInfo> describe_columns(TupleDesc desc, std::vector<int>& attnos);

// A composite argument's header, detoasted (through guard()) only when it is toasted: a row formed
// by the query (the usual case) costs no detoasting and no error guard. Inline: it runs per row.
inline HeapTupleHeader row_header(Datum d) {
  if (!VARATT_IS_EXTENDED(DatumGetPointer(d))) return reinterpret_cast<HeapTupleHeader>(DatumGetPointer(d));
  HeapTupleHeader row = nullptr;
  guard([&] { row = DatumGetHeapTupleHeader(d); });
  return row;
}

// The tuple descriptor of a composite value's type, copied into `cxt`.
TupleDesc row_desc(HeapTupleHeader row, MemoryContext cxt);

// Maps features (names and kinds, numeric first) to the row type's columns, by name. A missing
// column or an unusable type is an error naming the column.
RowReader* build_reader(MemoryContext cxt, TupleDesc desc, Oid type_id, int32 typmod,
                        const std::vector<std::string>& names, const std::vector<core::Kind>& kinds);

// Fills reader->numeric (NaN for NULL) and reader->categorical from one row, walking its
// attributes once up to the last feature's (as heap_deform_tuple does, without the values no
// feature reads). May ereport (bad number, non-finite value): call it through guard().
void read_row(RowReader* reader, HeapTupleHeader row);
// The same for a row of the common types (integers, finite floats, plain text), without anything
// that can raise an error, so no error guard is needed: false when the row needs read_row (which
// then reads it all again).
bool read_row_quick(RowReader* reader, HeapTupleHeader row);

// The same for a row given as one value per attribute of the reader's row type (the column form:
// values[i] is attribute i's). read_datums may ereport: call it through guard().
void read_datums(RowReader* reader, const NullableDatum* values);
bool read_datums_quick(RowReader* reader, const NullableDatum* values);

// The error for a numeric feature's non-finite value (22003, naming the column), shared by every
// input form. Plain C, may ereport.
void check_finite(double x, const char* column);

}  // namespace custseg::pg

extern "C" {
#include "utils/jsonb.h"
}

namespace custseg::pg {

// Feature values from jsonb objects or float8[] vectors, matched by key or by position.
struct FeatureBuffers {
  int n_features;
  int n_numeric;
  char** names;
  int* name_lens;
  double* numeric;
  core::StrRef* categorical;
};

FeatureBuffers* build_buffers(MemoryContext cxt, const std::vector<std::string>& names, int n_numeric);

// The columns of a jsonb object (its keys), for core::plan_features: numbers and booleans are
// numeric, strings categorical, a null is numeric unless an option forces it, objects and arrays
// cannot be features.
std::vector<core::ColumnInfo> describe_jsonb(Jsonb* row);

// Reads one jsonb object by key (a missing key is NULL). May ereport: call through guard().
void read_jsonb_row(FeatureBuffers* b, Jsonb* row);

// Reads one float8[] vector by position. May ereport: call through guard().
void read_array_row(FeatureBuffers* b, ArrayType* row);

}  // namespace custseg::pg
