// Comparison of custseg_model values: equality, a total order and hashing over the stored bytes, so
// that =, DISTINCT, GROUP BY, count(DISTINCT), UNION and hash joins work on models. Two models are
// equal when their flat layouts are byte-identical, i.e. when they are the same fitted pipeline (the
// layout is canonical: zeroed padding, canonical options and NaNs). The order is the bytes' order:
// arbitrary but consistent, as PostgreSQL's sort-based plans need.
#include <cstring>

#include "custseg_pg.h"

extern "C" {
#include "common/hashfn.h"
#include "utils/fmgrprotos.h"
}

using namespace custseg;

namespace {

struct Bytes {
  const char* data;
  size_t len;
};

// A model argument's bytes after its varlena header, detoasted (packed short headers are fine:
// the content after the header is the same either way).
Bytes model_bytes(FunctionCallInfo fcinfo, int n) {
  struct varlena* v = nullptr;
  Datum d = PG_GETARG_DATUM(n);
  pg::guard([&] { v = PG_DETOAST_DATUM_PACKED(d); });
  return Bytes{VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)};
}

int compare(FunctionCallInfo fcinfo) {
  const Bytes a = model_bytes(fcinfo, 0), b = model_bytes(fcinfo, 1);
  const int c = std::memcmp(a.data, b.data, a.len < b.len ? a.len : b.len);
  if (c != 0) return c < 0 ? -1 : 1;
  return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

bool equal(FunctionCallInfo fcinfo) {
  const Bytes a = model_bytes(fcinfo, 0), b = model_bytes(fcinfo, 1);
  return a.len == b.len && std::memcmp(a.data, b.data, a.len) == 0;
}

}  // namespace

// custseg_model_eq(a, b): the same fitted pipeline, byte for byte.
CUSTSEG_FUNCTION(custseg_model_eq) { PG_RETURN_BOOL(equal(fcinfo)); }
// custseg_model_ne(a, b): not the same fitted pipeline.
CUSTSEG_FUNCTION(custseg_model_ne) { PG_RETURN_BOOL(!equal(fcinfo)); }
// custseg_model_lt(a, b): a sorts before b in the bytes' order.
CUSTSEG_FUNCTION(custseg_model_lt) { PG_RETURN_BOOL(compare(fcinfo) < 0); }
// custseg_model_le(a, b): a sorts before b or equals it.
CUSTSEG_FUNCTION(custseg_model_le) { PG_RETURN_BOOL(compare(fcinfo) <= 0); }
// custseg_model_gt(a, b): a sorts after b.
CUSTSEG_FUNCTION(custseg_model_gt) { PG_RETURN_BOOL(compare(fcinfo) > 0); }
// custseg_model_ge(a, b): a sorts after b or equals it.
CUSTSEG_FUNCTION(custseg_model_ge) { PG_RETURN_BOOL(compare(fcinfo) >= 0); }
// custseg_model_cmp(a, b): -1, 0 or 1, the btree support function.
CUSTSEG_FUNCTION(custseg_model_cmp) { PG_RETURN_INT32(compare(fcinfo)); }

// custseg_model_hash(m): a hash of the bytes, consistent with =.
CUSTSEG_FUNCTION(custseg_model_hash) {
  const Bytes a = model_bytes(fcinfo, 0);
  return hash_any(reinterpret_cast<const unsigned char*>(a.data), int(a.len));
}

// custseg_model_hash_extended(m, seed): the seeded 64-bit hash (hash partitioning).
CUSTSEG_FUNCTION(custseg_model_hash_extended) {
  const Bytes a = model_bytes(fcinfo, 0);
  const uint64 seed = uint64(PG_GETARG_INT64(1));
  return hash_any_extended(reinterpret_cast<const unsigned char*>(a.data), int(a.len), seed);
}
