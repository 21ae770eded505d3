// The error funnel: C++ exceptions become PostgreSQL errors with the right SQLSTATE, raised only
// after every C++ object of the failed call has been destroyed.
#include <cstdio>
#include <cstring>
#include <new>

#include "custseg_pg.h"

extern "C" {
PG_MODULE_MAGIC;
}

namespace custseg::pg {

namespace {

int sqlstate_of(core::ErrorCode code) {
  switch (code) {
    case core::ErrorCode::kInvalidArgument: return ERRCODE_INVALID_PARAMETER_VALUE;
    case core::ErrorCode::kDimensionMismatch: return ERRCODE_DATA_EXCEPTION;
    case core::ErrorCode::kNotFitted: return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
    case core::ErrorCode::kCancelled: return ERRCODE_QUERY_CANCELED;
    case core::ErrorCode::kProgramLimit: return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
    case core::ErrorCode::kInvalidText: return ERRCODE_INVALID_TEXT_REPRESENTATION;
    case core::ErrorCode::kInvalidBinary: return ERRCODE_INVALID_BINARY_REPRESENTATION;
    case core::ErrorCode::kUndefinedColumn: return ERRCODE_UNDEFINED_COLUMN;
    case core::ErrorCode::kDatatypeMismatch: return ERRCODE_DATATYPE_MISMATCH;
    case core::ErrorCode::kOutOfRange: return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
    case core::ErrorCode::kDataException: return ERRCODE_DATA_EXCEPTION;
    case core::ErrorCode::kInternal: return ERRCODE_INTERNAL_ERROR;
    case core::ErrorCode::kNotSupported: return ERRCODE_FEATURE_NOT_SUPPORTED;
    case core::ErrorCode::kSampleRetry: return MAKE_SQLSTATE('C', 'S', '0', '0', '1');
  }
  return ERRCODE_INTERNAL_ERROR;
}

void copy_text(char* dst, size_t cap, const char* src) {
  snprintf(dst, cap, "%s", src);
}

}  // namespace

Datum call_guarded(Body body, FunctionCallInfo fcinfo) {
  // Plain buffers only: nothing here may need a destructor when ereport() longjmps out.
  int sqlstate = 0;
  char message[2048];
  char hint[1024];
  char detail[1024];
  ErrorData* pg_error = nullptr;
  bool cancelled = false;
  hint[0] = detail[0] = '\0';
  try {
    return body(fcinfo);
  } catch (const PgError& e) {
    pg_error = e.data;
  } catch (const core::Error& e) {
    sqlstate = sqlstate_of(e.code());
    cancelled = e.code() == core::ErrorCode::kCancelled;
    copy_text(message, sizeof message, e.what());
    copy_text(hint, sizeof hint, e.hint().c_str());
    copy_text(detail, sizeof detail, e.detail().c_str());
  } catch (const std::bad_alloc&) {
    sqlstate = ERRCODE_OUT_OF_MEMORY;
    copy_text(message, sizeof message, "out of memory");
  } catch (const std::exception& e) {
    sqlstate = ERRCODE_INTERNAL_ERROR;
    snprintf(message, sizeof message, "custseg internal error: %s", e.what());
  } catch (...) {
    sqlstate = ERRCODE_INTERNAL_ERROR;
    copy_text(message, sizeof message, "custseg internal error: unknown exception");
  }
  if (pg_error) ReThrowError(pg_error);
  if (cancelled) CHECK_FOR_INTERRUPTS();  // reports statement timeout or cancel in PostgreSQL's words
  ereport(ERROR, (errcode(sqlstate), errmsg("%s", message), hint[0] ? errhint("%s", hint) : 0,
                  detail[0] ? errdetail("%s", detail) : 0));
  pg_unreachable();
}

void* alloc(MemoryContext cxt, size_t size) {
  if (size >= MaxAllocSize) throw core::Error(core::ErrorCode::kProgramLimit, "custseg value would exceed 1 GB");
  void* p = MemoryContextAllocExtended(cxt, size, MCXT_ALLOC_NO_OOM);
  if (!p) throw std::bad_alloc();
  return p;
}

void check_interrupts() {
  if (QueryCancelPending || ProcDiePending)
    throw core::Error(core::ErrorCode::kCancelled, "canceling statement due to user request");
}

struct varlena* make_varlena(MemoryContext cxt, const uint8_t* data, size_t len) {
  auto* v = static_cast<struct varlena*>(alloc(cxt, len));
  std::memcpy(v, data, len);
  SET_VARSIZE(v, len);
  return v;
}

bytea* encode_state_varlena(const core::FitParts& parts) {
  bytea* out = nullptr;
  size_t size = 0;
  core::encode_state(parts, [&out, &size](size_t len) {
    out = static_cast<bytea*>(alloc(CurrentMemoryContext, len));
    size = len;
    return reinterpret_cast<uint8_t*>(out);
  });
  SET_VARSIZE(out, size);
  return out;
}

const uint8_t* aligned_bytes(struct varlena* v, size_t* len) {
  *len = VARSIZE(v);
  if (reinterpret_cast<uintptr_t>(v) % 8 == 0) return reinterpret_cast<const uint8_t*>(v);
  // Why: a value read straight from a tuple is only int-aligned; the core reads doubles in place.
  auto* copy = static_cast<uint8_t*>(alloc(CurrentMemoryContext, *len));
  std::memcpy(copy, v, *len);
  return copy;
}

}  // namespace custseg::pg
