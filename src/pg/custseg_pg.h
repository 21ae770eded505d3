// The one header of the glue: PostgreSQL's headers (as C), the error funnel every SQL-callable
// function goes through, and the helpers that keep longjmp away from live C++ objects.
#pragma once

// Why first: PostgreSQL's port.h redefines snprintf and friends as macros, which breaks standard
// headers included after it; every C++ header the glue needs comes before postgres.h.
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "../core/errors.h"
#include "../core/fit.h"
#include "../core/model.h"

extern "C" {
#include "postgres.h"

#include "compat.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"
}

namespace custseg::pg {

// A PostgreSQL error caught by guard(), carried as a C++ exception to the funnel.
struct PgError {
  ErrorData* data;
};

using Body = Datum (*)(FunctionCallInfo);

// Runs a SQL function's C++ body; turns every exception into ereport() after the catch scope closes.
Datum call_guarded(Body body, FunctionCallInfo fcinfo);

// Runs one PostgreSQL call that may ereport(); an error becomes a PgError exception. `f` must keep
// no C++ object with a destructor alive across the call.
template <typename F>
void guard(F&& f) {
  MemoryContext cxt = CurrentMemoryContext;
  ErrorData* volatile edata = nullptr;  // volatile: assigned after the longjmp
  PG_TRY();
  {
    f();
  }
  PG_CATCH();
  {
    // Why: CopyErrorData must not run in ErrorContext, and the error state is flushed before C++ unwinds.
    MemoryContextSwitchTo(cxt);
    edata = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  if (edata) throw PgError{edata};
}

// palloc in `cxt` that throws std::bad_alloc instead of longjmp-ing.
void* alloc(MemoryContext cxt, size_t size);

// Interrupt check for long core loops: throws Error(kCancelled) when a cancel or termination is
// pending; the funnel then lets PostgreSQL report it.
void check_interrupts();

// A varlena holding a core flat buffer whose first 8 bytes are reserved for the header.
struct varlena* make_varlena(MemoryContext cxt, const uint8_t* data, size_t len);
// A custseg_fit state encoded straight into palloc'd memory of the current context.
bytea* encode_state_varlena(const core::FitParts& parts);
// The flat buffer of a detoasted varlena, copied when it is not 8-byte aligned.
const uint8_t* aligned_bytes(struct varlena* v, size_t* len);
// The flat buffer of a custseg_fit state: read in place when it is the expanded form of a running
// aggregate, else detoasted (and aligned). Read-only.
const uint8_t* fit_state_bytes(Datum d, size_t* len);

// The running state of a training transition: an expanded object (fit_agg.cpp) that the executor,
// and Citus, keep between rows, so that a row neither copies nor validates the state.
struct FitStateObject;
// Argument 0 of a transition: nullptr when NULL, the object itself, or a flat state (an INITCOND,
// one read back as bytea) validated and expanded once.
FitStateObject* running_fit_state(FunctionCallInfo fcinfo, MemoryContext aggcxt);
// A new running state holding a copy of a fresh flat state.
FitStateObject* new_running_fit_state(MemoryContext aggcxt, const bytea* fresh);
// The state's numeric and categorical feature counts (read from its header once).
void running_fit_widths(FitStateObject* o, int* n_numeric, int* n_categorical);
// The name of the state's feature i (numeric features first, i below their count), for messages.
std::string running_fit_feature_name(FitStateObject* o, int i);
// Applies the options' transforms to the row's numbers in place, then adds the row (growing or
// rebuilding the state when it needs room); returns the state as the transition's result.
Datum running_fit_add_row(FitStateObject* o, double* numeric, const core::StrRef* categorical);
// Counts a skipped row; returns the state as the transition's result.
Datum running_fit_add_skipped(FitStateObject* o);

}  // namespace custseg::pg

// Defines a SQL-callable function `name` whose body runs inside the funnel.
#define CUSTSEG_FUNCTION(name)                                                         \
  static Datum name##_body(FunctionCallInfo fcinfo);                                   \
  extern "C" {                                                                         \
  PG_FUNCTION_INFO_V1(name);                                                           \
  Datum name(PG_FUNCTION_ARGS) { return custseg::pg::call_guarded(name##_body, fcinfo); } \
  }                                                                                    \
  static Datum name##_body(FunctionCallInfo fcinfo)
