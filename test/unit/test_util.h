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

}  // namespace custseg::core::testing
