// The bottom-k sample's compaction: distinct_entries puts entries in canonical order (hash, then
// content) with repeated contents merged, whatever the order the entries arrived in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "state_internal.h"

namespace custseg::core {
namespace {

// n entries of one numeric column: hashes drawn below `top` (so a few collide), every tenth entry
// a repeat of an earlier one (same hash, same value), counts 1..3.
std::vector<double> entries(size_t n, uint64_t top, uint64_t seed) {
  const size_t ew = size_t(1 + kExtra);
  std::vector<double> data(n * ew);
  std::mt19937_64 gen(seed);
  for (size_t i = 0; i < n; ++i) {
    double* e = data.data() + i * ew;
    if (i % 10 == 9) {
      std::copy_n(data.data() + size_t(gen() % i) * ew, ew, e);
    } else {
      set_entry_word(e, 0, gen() % top);
      e[kExtra] = double(gen() % 1000);
    }
    set_entry_word(e, 1, 1 + gen() % 3);
  }
  return data;
}

// Sizes on both sides of the small-input path; uniform hashes, hashes crowded into few buckets, and
// four hashes only (buckets of thousands of pairs).
TEST(Sample, DistinctEntriesAreInCanonicalOrderWithRepeatsMerged) {
  for (size_t n : {100, 5000, 40000}) {
    for (uint64_t top : {~uint64_t(0), uint64_t(1) << 40, uint64_t(n / 3), uint64_t(4)}) {
      const std::vector<double> data = entries(n, top, n + top);
      const size_t ew = size_t(1 + kExtra);
      // The reference: (hash, value, index) sorted, equal (hash, value) merged into the first.
      std::vector<std::tuple<uint64_t, double, uint64_t>> ref;
      for (uint64_t i = 0; i < n; ++i) ref.emplace_back(entry_word(data.data() + i * ew, 0), data[i * ew + kExtra], i);
      std::sort(ref.begin(), ref.end());
      std::vector<uint64_t> first, count;
      for (size_t r = 0; r < ref.size(); ++r) {
        const uint64_t c = entry_word(data.data() + std::get<2>(ref[r]) * ew, 1);
        if (r > 0 && std::get<0>(ref[r]) == std::get<0>(ref[r - 1]) && std::get<1>(ref[r]) == std::get<1>(ref[r - 1])) {
          count.back() += c;
          continue;
        }
        first.push_back(std::get<2>(ref[r]));
        count.push_back(c);
      }
      LevelText lt;
      bool cut = true;
      uint64_t cut_hash = 0;
      const Distinct d = distinct_entries(data.data(), n, 1, 1, lt, ~uint64_t(0), ~uint64_t(0), &cut, &cut_hash);
      EXPECT_FALSE(cut);
      EXPECT_EQ(d.first, first) << "n = " << n << ", top = " << top;
      EXPECT_EQ(d.count, count) << "n = " << n << ", top = " << top;
      // Keeping the smallest half cuts at the hash of the last one kept.
      const uint64_t half = first.size() / 2;
      const Distinct h = distinct_entries(data.data(), n, 1, 1, lt, ~uint64_t(0), half, &cut, &cut_hash);
      EXPECT_TRUE(cut);
      EXPECT_EQ(h.first, std::vector<uint64_t>(first.begin(), first.begin() + long(half)));
      EXPECT_EQ(cut_hash, entry_word(data.data() + first[half - 1] * ew, 0));
    }
  }
}

// The canonical order of rows is lexicographic on the values (-0 equal to +0), ties by index:
// with repeated first values, negative and positive zeros, a skewed column (buckets of very
// different sizes) and a constant one.
TEST(Sample, CanonicalOrderIsLexicographic) {
  std::mt19937_64 gen(3);
  for (int shape = 0; shape < 4; ++shape) {
    for (Eigen::Index n : {10, 100, 5000}) {
      RowMatrix X(n, 3);
      for (Eigen::Index i = 0; i < n; ++i) {
        const double u = double(gen() % 1000) / 10.0 - 50;
        const double r = std::round(u / 10);
        X(i, 0) = shape == 0   ? u
                  : shape == 1 ? (r == 0 ? (gen() % 2 ? 0.0 : -0.0) : r)
                  : shape == 2 ? std::exp(u / 4)
                               : 7.0;
        X(i, 1) = double(gen() % 3);
        X(i, 2) = double(gen() % 5) - 2;
      }
      std::vector<size_t> want(static_cast<size_t>(n));
      std::iota(want.begin(), want.end(), size_t(0));
      std::sort(want.begin(), want.end(), [&](size_t a, size_t b) {
        for (Eigen::Index j = 0; j < 3; ++j)
          if (X(Eigen::Index(a), j) != X(Eigen::Index(b), j)) return X(Eigen::Index(a), j) < X(Eigen::Index(b), j);
        return a < b;
      });
      EXPECT_EQ(canonical_order(X), want) << "shape " << shape << ", n = " << n;
    }
  }
}

}  // namespace
}  // namespace custseg::core
