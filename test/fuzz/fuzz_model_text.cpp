// libFuzzer target: the custseg_model text reader, as custseg_model_in calls it (a C string, so the
// input stops at its first NUL). Malformed text must be rejected with a core Error, never a crash or
// another exception; text that is accepted must be a model that survives every round trip exactly:
// text -> model -> binary -> model -> text -> model gives the same binary and the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "model.h"

using namespace custseg::core;

namespace {
[[noreturn]] void property_failed(const char* what) {
  std::fprintf(stderr, "fuzz_model_text: property failed: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  std::string input(text, strnlen(text, size));
  Model m;
  try {
    m = from_json_text(input);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidText) property_failed("rejected with a code other than invalid text");
    return 0;
  }
  // Accepted: it must serialize, and every form must read back to the same bytes and text.
  std::vector<uint8_t> bytes = serialize(m);
  Model back = deserialize(bytes.data(), bytes.size());
  if (serialize(back) != bytes) property_failed("binary round trip changed the model");
  const std::string out = to_json_text(back);
  Model again = from_json_text(out);
  if (serialize(again) != bytes) property_failed("text round trip changed the model");
  if (to_json_text(again) != out) property_failed("text is not a fixed point");
  return 0;
}
