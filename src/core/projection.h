// A PCA projection with the scaling folded in, shared by training (the sample's coordinates) and
// scoring, so that a training row's coordinates are the ones it scores with, bit for bit.
#pragma once

#include <cstddef>
#include <vector>

namespace custseg::core {

// out_i = sum_j C_ij ((x_j - mean_j) / scale_j - m_j) = base_i + sum_j (C_ij / scale_j) x_j, where
// a one-hot column's x_j is 0 or 1: a row costs one multiply-add per numeric column and component,
// plus one component column per active level, whatever the number of levels.
struct FoldedProjection {
  int p = 0, n_numeric = 0;
  std::vector<double> base;     // p values
  std::vector<double> weights;  // encoded column j's p coefficients at j * p

  // components: p rows of d (row-major); mean, scale, pca_mean: d values each.
  void build(const double* components, const double* mean, const double* scale, const double* pca_mean, int d,
             int n_numeric_columns, int n_components) {
    p = n_components;
    n_numeric = n_numeric_columns;
    base.assign(size_t(p), 0.0);
    weights.assign(size_t(d) * size_t(p), 0.0);
    for (int i = 0; i < p; ++i) {
      const double* row = components + size_t(i) * size_t(d);
      double acc = 0;
      for (int j = 0; j < d; ++j) {
        acc += row[j] * (-mean[j] / scale[j] - pca_mean[j]);
        weights[size_t(j) * size_t(p) + size_t(i)] = row[j] / scale[j];
      }
      base[size_t(i)] = acc;
    }
  }

  // x: the numeric values (transformed and imputed); cols: each categorical feature's active
  // encoded column, or -1.
  void project(const double* x, const int* cols, int n_cols, double* __restrict out) const {
    const double* __restrict w = weights.data();
    if (p == 2) {
      // The default two components in registers (the same sums, in the same order).
      double a0 = base[0], a1 = base[1];
      for (int j = 0; j < n_numeric; ++j) {
        a0 += w[2 * j] * x[j];
        a1 += w[2 * j + 1] * x[j];
      }
      for (int c = 0; c < n_cols; ++c) {
        if (cols[c] < 0) continue;
        a0 += w[2 * cols[c]];
        a1 += w[2 * cols[c] + 1];
      }
      out[0] = a0;
      out[1] = a1;
      return;
    }
    for (int i = 0; i < p; ++i) out[i] = base[size_t(i)];
    for (int j = 0; j < n_numeric; ++j) {
      const double xj = x[j];
      const double* wj = w + size_t(j) * size_t(p);
      for (int i = 0; i < p; ++i) out[i] += wj[i] * xj;
    }
    for (int c = 0; c < n_cols; ++c) {
      if (cols[c] < 0) continue;
      const double* wc = w + size_t(cols[c]) * size_t(p);
      for (int i = 0; i < p; ++i) out[i] += wc[i];
    }
  }
};

}  // namespace custseg::core
