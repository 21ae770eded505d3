// The small error vocabulary of the core. The PostgreSQL glue maps each code to a SQLSTATE; the core
// never includes a PostgreSQL header, so errors travel as C++ exceptions until the glue's funnel.
#pragma once

#include <stdexcept>
#include <string>

namespace custseg::core {

enum class ErrorCode {
  kInvalidArgument,    // 22023 invalid_parameter_value
  kDimensionMismatch,  // 22000 data_exception
  kNotFitted,          // 55000 object_not_in_prerequisite_state
  kCancelled,          // 57014 query_canceled
  kProgramLimit,       // 54000 program_limit_exceeded
  kInvalidText,        // 22P02 invalid_text_representation
  kInvalidBinary,      // 22P03 invalid_binary_representation
  kUndefinedColumn,    // 42703 undefined_column
  kDatatypeMismatch,   // 42804 datatype_mismatch
  kOutOfRange,         // 22003 numeric_value_out_of_range
  kDataException,      // 22000 data_exception (no usable rows, all-NULL column, too few distinct rows)
  kInternal,           // XX000 internal_error
  kNotSupported,       // 0A000 feature_not_supported
  kSampleRetry,        // CS001 (custseg's own): an imposed sample threshold was too low; run again without it
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, std::string hint = {}, std::string detail = {})
      : std::runtime_error(message), code_(code), hint_(std::move(hint)), detail_(std::move(detail)) {}
  ErrorCode code() const noexcept { return code_; }
  const std::string& hint() const noexcept { return hint_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  ErrorCode code_;
  std::string hint_;
  std::string detail_;
};

// Callback that long loops call between steps; it throws Error(kCancelled) when the query is cancelled.
using InterruptCheck = void (*)();

}  // namespace custseg::core
