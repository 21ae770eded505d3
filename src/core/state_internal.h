// What the files behind fit.h share and nobody else needs: the content hashes of rows and
// categories (inline, because the per-row fast path in state.cpp hashes every row), the sample
// entries' word access, and the bottom-k sample's compaction and canonical orders (sample.cpp).
// Not part of the core's API: src/pg and the tests include fit.h only.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "fit.h"
#include "linalg.h"

namespace custseg::core {

constexpr int kExtra = FitParts::kEntryExtra;

// ---- hashing (inline: the fast path calls these per row) ----

inline uint64_t fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline uint64_t bits_of(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// A number's bits with every NaN one NaN and -0 as +0: equal values, equal bits.
inline uint64_t canonical_bits(double v) { return std::isnan(v) ? 0x7ff8000000000000ULL : bits_of(v + 0.0); }

// The unseeded hash of a category's column and text: its slot in a state's hash index.
inline uint64_t hash_level(int cat, const char* data, size_t len) {
  uint64_t h = 1469598103934665603ULL ^ uint64_t(cat) * 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < len; ++i) {
    h ^= uint8_t(data[i]);
    h *= 1099511628211ULL;
  }
  return h ^ (h >> 29);
}

inline uint64_t null_category_hash(uint64_t seed, int column) {
  return fmix64(seed ^ (0x4E554C4CULL + uint64_t(column) * 0x9E3779B97F4A7C15ULL));
}

// category_hash and row_hash (fit.h) are these.
inline uint64_t category_hash_inline(uint64_t seed, int column, const char* data, size_t len) {
  return fmix64(hash_level(column, data, len) ^ seed);
}

inline uint64_t row_hash_inline(uint64_t seed, const double* numeric, int n_numeric, const uint64_t* cat_hash,
                                int n_categorical) {
  uint64_t h = seed;
  for (int j = 0; j < n_numeric; ++j) {
    h = (h ^ canonical_bits(numeric[j])) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  for (int c = 0; c < n_categorical; ++c) {
    h = (h ^ cat_hash[c]) * 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 31;
  }
  return fmix64(h);
}

// ---- sample entries: [hash, count, row...], the two words as raw uint64 bits ----

inline uint64_t entry_word(const double* e, int i) { return bits_of(e[i]); }
inline void set_entry_word(double* e, int i, uint64_t x) { std::memcpy(e + i, &x, sizeof x); }

// The text of category ids, from a decoded or an encoded state.
struct LevelText {
  const std::vector<std::string>* strings = nullptr;
  const uint32_t* off = nullptr;
  const char* bytes = nullptr;
  std::pair<const char*, size_t> get(int id) const {
    if (strings) return {(*strings)[size_t(id)].data(), (*strings)[size_t(id)].size()};
    return {bytes + off[id], size_t(off[id + 1] - off[id])};
  }
};

struct Distinct {
  std::vector<uint64_t> first;  // index of the first entry of each distinct content, canonical order
  std::vector<uint64_t> count;  // rows of that content (summed over its entries)
};

// The distinct contents among the entries at or under `threshold`, in canonical order, at most
// `limit` of them (the smallest); *cut receives the hash of the last one kept when some were cut.
Distinct distinct_entries(const double* data, uint64_t n, int w, int nn, const LevelText& lt, uint64_t threshold,
                          uint64_t limit, bool* cut, uint64_t* cut_hash);

[[noreturn]] void too_many_distinct(int64_t sample_size);

// Compacts `n` entries in place: equal contents merged into one entry with the summed count, the
// sample_size smallest kept, the threshold lowered when some were dropped. Returns the new count.
uint64_t compact_entries(double* data, uint64_t n, int w, int nn, const LevelText& lt, int64_t sample_size,
                         bool dedupe, uint64_t& threshold);

// Row indices in lexicographic order of the rows' values (ties by index): a canonical order that
// does not depend on how the rows arrived, and that a chain of stage aggregates reproduces.
std::vector<size_t> canonical_order(const RowMatrix& X);
// The same order of sparse rows: the order their dense form would take.
std::vector<size_t> canonical_order(const SparseRows& S);

// A number in progress lines ("%.6g").
inline std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace custseg::core
