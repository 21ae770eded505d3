// The steps every clustering method shares after it ran: segment means, inertia and the outlier
// thresholds a model stores per segment.
#include <algorithm>
#include <cmath>
#include <limits>

#include "method.h"

namespace custseg::core {

double quantile_of(std::vector<double>& v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(lo), v.end());
  const double at_lo = v[lo];
  const double at_hi = lo + 1 < v.size() ? *std::min_element(v.begin() + std::ptrdiff_t(lo) + 1, v.end()) : at_lo;
  return at_lo + (at_hi - at_lo) * (pos - double(lo));
}

RowMatrix segment_means(const RowMatrix& X, const std::vector<int>& labels, int k) {
  RowMatrix c = RowMatrix::Zero(k, X.cols());
  std::vector<double> n(size_t(k), 0);
  for (Eigen::Index r = 0; r < X.rows(); ++r) {
    const int l = labels[size_t(r)];
    if (l < 0) continue;
    c.row(l) += X.row(r);
    n[size_t(l)] += 1;
  }
  for (int l = 0; l < k; ++l) {
    if (n[size_t(l)] > 0)
      c.row(l) /= n[size_t(l)];
    else
      c.row(l).setConstant(std::numeric_limits<double>::quiet_NaN());
  }
  return c;
}

double inertia_of(const RowMatrix& X, const std::vector<int>& labels, const RowMatrix& centers) {
  double s = 0;
  for (Eigen::Index r = 0; r < X.rows(); ++r) {
    const int l = labels[size_t(r)];
    if (l >= 0) s += (X.row(r) - centers.row(l)).squaredNorm();
  }
  return s;
}

void set_outlier_thresholds(const RowMatrix& X, const ClusterOutcome& out, double q, Model& m) {
  // hierarchical: its tree's node thresholds (method_hierarchical.cpp), the same at every cut.
  if (m.method == Method::kHierarchical && !m.outlier_threshold.empty()) return;
  m.outlier_threshold.clear();
  m.outlier_quantile = 0;
  if (m.method == Method::kDbscan || m.k == 0) return;
  std::vector<std::vector<double>> per(size_t(m.k));
  const Eigen::Index p = X.cols();
  for (Eigen::Index r = 0; r < X.rows(); ++r) {
    const int l = out.labels[size_t(r)];
    if (l < 0) continue;
    if (m.method == Method::kGmm) {
      per[size_t(l)].push_back(out.row_log_likelihood[size_t(r)]);
    } else {
      double d2 = 0;
      const double* c = m.centroids.data() + size_t(l) * size_t(p);
      for (Eigen::Index j = 0; j < p; ++j) d2 += (X(r, j) - c[j]) * (X(r, j) - c[j]);
      per[size_t(l)].push_back(std::sqrt(d2));
    }
  }
  for (auto& v : per) {
    // gmm: a row is an outlier below the (1 - q) quantile of its segment's log-likelihoods.
    m.outlier_threshold.push_back(quantile_of(v, m.method == Method::kGmm ? 1 - q : q));
  }
  m.outlier_quantile = q;
}

void set_outlier_thresholds(const SparseRows& S, const ClusterOutcome& out, double q, Model& m) {
  m.outlier_threshold.clear();
  m.outlier_quantile = 0;
  if (m.k == 0) return;
  if (m.method != Method::kKMeans) throw Error(ErrorCode::kInternal, "sparse rows are clustered by k-means only");
  const RowMatrix centres = Eigen::Map<const RowMatrix>(m.centroids.data(), m.k, S.p);
  SparseCentres sc;
  sc.set(S, centres);
  std::vector<std::vector<double>> per(size_t(m.k));
  for (Eigen::Index r = 0; r < S.n; ++r) {
    const int l = out.labels[size_t(r)];
    if (l >= 0) per[size_t(l)].push_back(std::sqrt(sc.distance(S, r, l)));
  }
  for (auto& v : per) m.outlier_threshold.push_back(quantile_of(v, q));
  m.outlier_quantile = q;
}

}  // namespace custseg::core
