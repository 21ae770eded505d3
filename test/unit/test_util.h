// Synthetic data shared by the core's unit tests.
#pragma once

#include <random>
#include <vector>

#include "linalg.h"

namespace custseg::core::testing {

// n rows around each centre, isotropic normal noise of the given spread.
inline RowMatrix blobs(const std::vector<std::vector<double>>& centres, int n_per, double spread, uint64_t seed,
                       std::vector<int>* truth = nullptr) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> noise(0.0, spread);
  const int d = int(centres[0].size());
  RowMatrix X(int(centres.size()) * n_per, d);
  int r = 0;
  for (size_t c = 0; c < centres.size(); ++c)
    for (int i = 0; i < n_per; ++i, ++r) {
      for (int j = 0; j < d; ++j) X(r, j) = centres[c][size_t(j)] + noise(gen);
      if (truth) truth->push_back(int(c));
    }
  return X;
}

// Rows as one-hot encoding without PCA leaves them: `numeric` dense columns around each group's
// centre, then for each of the `levels` sizes a block of 0/1 columns with one active level per row
// (drawn mostly from the group's share of the levels).
inline RowMatrix one_hot_rows(int groups, int n_per, int numeric, const std::vector<int>& levels, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  int width = numeric;
  for (int l : levels) width += l;
  RowMatrix X = RowMatrix::Zero(groups * n_per, width);
  for (int g = 0, r = 0; g < groups; ++g)
    for (int i = 0; i < n_per; ++i, ++r) {
      for (int j = 0; j < numeric; ++j) X(r, j) = 3.0 * g * (j % 2 ? -1 : 1) + noise(gen);
      int at = numeric;
      for (int l : levels) {
        const int own = l * g / groups, span = std::max(1, l / groups);
        const int level = gen() % 5 == 0 ? int(gen() % uint64_t(l)) : own + int(gen() % uint64_t(span));
        X(r, at + level) = 1.0;
        at += l;
      }
    }
  return X;
}

}  // namespace custseg::core::testing
