// The custseg_model type: JSON text I/O, binary send/recv of the flat layout, and custseg_model_json.
#include <cstring>
#include <string>

#include "custseg_pg.h"

extern "C" {
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"
}

#include "../core/model.h"

namespace custseg::pg {
// A model argument as its flat bytes (detoasted, 8-byte aligned).
const uint8_t* model_arg(FunctionCallInfo fcinfo, int n, size_t* len) {
  struct varlena* v = nullptr;
  Datum d = PG_GETARG_DATUM(n);
  guard([&] { v = PG_DETOAST_DATUM(d); });
  return aligned_bytes(v, len);
}
}  // namespace custseg::pg

using namespace custseg;

// custseg_model_in: parses the JSON text form and stores the flat layout.
CUSTSEG_FUNCTION(custseg_model_in) {
  const char* text = PG_GETARG_CSTRING(0);
  std::vector<uint8_t> bytes = core::serialize(core::from_json_text(text));
  return PointerGetDatum(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}

// custseg_model_out: the JSON text form, numbers in shortest round-trip notation.
CUSTSEG_FUNCTION(custseg_model_out) {
  size_t len;
  const uint8_t* data = pg::model_arg(fcinfo, 0, &len);
  std::string text = core::to_json_text(core::deserialize(data, len));
  char* out = static_cast<char*>(pg::alloc(CurrentMemoryContext, text.size() + 1));
  std::memcpy(out, text.c_str(), text.size() + 1);
  PG_RETURN_CSTRING(out);
}

// custseg_model_send: the flat layout after its reserved header bytes (little-endian doubles).
CUSTSEG_FUNCTION(custseg_model_send) {
  size_t len;
  const uint8_t* data = pg::model_arg(fcinfo, 0, &len);
  core::ModelView check(data, len);
  bytea* result = nullptr;
  pg::guard([&] {
    StringInfoData buf;
    pq_begintypsend(&buf);
    pq_sendbytes(&buf, reinterpret_cast<const char*>(data + 8), int(len - 8));
    result = pq_endtypsend(&buf);
  });
  PG_RETURN_BYTEA_P(result);
}

// custseg_model_recv: validates every offset, count and number before accepting the bytes.
CUSTSEG_FUNCTION(custseg_model_recv) {
  StringInfo buf = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
  const size_t body = size_t(buf->len - buf->cursor);
  auto* v = static_cast<uint8_t*>(pg::alloc(CurrentMemoryContext, body + 8));
  std::memset(v, 0, 8);
  std::memcpy(v + 8, buf->data + buf->cursor, body);
  buf->cursor = buf->len;
  // Full validation, including the model's own consistency; what is stored is the canonical layout
  // (zeroed padding, canonical options and NaNs), so the text form round-trips it bit for bit.
  const core::Model m = core::deserialize(v, body + 8);
  // Names and levels become text in the JSON form, which pg_dump writes and COPY reads back: they must
  // be valid in the database encoding. (pg_verifymbstr with noError set reports, never raises.)
  for (const auto& f : m.features) {
    bool ok = pg_verifymbstr(f.name.data(), int(f.name.size()), true);
    for (const auto& l : f.levels) ok = ok && pg_verifymbstr(l.data(), int(l.size()), true);
    if (!ok)
      throw core::Error(core::ErrorCode::kInvalidBinary,
                        "invalid custseg_model binary value: a feature name or category is not valid in the "
                        "database encoding");
  }
  std::vector<uint8_t> bytes = core::serialize(m);
  return PointerGetDatum(pg::make_varlena(CurrentMemoryContext, bytes.data(), bytes.size()));
}

// custseg_model_json: the model as jsonb, for inspection with SQL's JSON operators.
CUSTSEG_FUNCTION(custseg_model_json) {
  size_t len;
  const uint8_t* data = pg::model_arg(fcinfo, 0, &len);
  std::string text = core::to_json_text(core::deserialize(data, len));
  Datum result = 0;
  const char* cstr = text.c_str();
  pg::guard([&] { result = DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr)); });
  return result;
}
