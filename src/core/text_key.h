// A short text as a key that compares in two words: for texts of at most 16 bytes, their length and
// two words that hold every byte (overlapping when the text is shorter than 16), read without going
// past the text's end. Two texts of at most 16 bytes are equal exactly when their lengths and keys
// are. The category lookups of training (LevelMemo, fit.h) and scoring (ModelView) compare these
// before, or instead of, a hash and a memcmp.
#pragma once

#include <cstdint>
#include <cstring>

namespace custseg::core {

struct TextKey {
  uint64_t a = 0, b = 0;
  uint64_t len = 0;
  bool operator==(const TextKey& o) const { return a == o.a && b == o.b && len == o.len; }
};

// False (key untouched) for a text longer than 16 bytes.
inline bool text_key(const char* data, size_t n, TextKey& k) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(data);
  if (n > 16) return false;
  k.len = n;
  if (n >= 8) {
    std::memcpy(&k.a, p, 8);
    std::memcpy(&k.b, p + n - 8, 8);
  } else if (n >= 4) {
    uint32_t x, y;
    std::memcpy(&x, p, 4);
    std::memcpy(&y, p + n - 4, 4);
    k.a = uint64_t(x) | (uint64_t(y) << 32);
    k.b = 0;
  } else {
    k.a = k.b = 0;
    for (size_t i = 0; i < n; ++i) k.a |= uint64_t(p[i]) << (8 * i);
  }
  return true;
}

}  // namespace custseg::core
