// Silhouette, Calinski-Harabasz and Davies-Bouldin scores with scikit-learn's definitions.
#include "metrics.h"

#include <cmath>
#include <limits>

namespace custseg::core {

namespace {

std::vector<double> cluster_sizes(const std::vector<int>& labels, int k) {
  std::vector<double> n(size_t(k), 0.0);
  for (int l : labels) {
    if (l < 0 || l >= k) throw Error(ErrorCode::kInvalidArgument, "label out of range");
    n[size_t(l)] += 1;
  }
  return n;
}

int used_labels(const std::vector<double>& sizes) {
  int u = 0;
  for (double s : sizes) u += s > 0;
  return u;
}

RowMatrix cluster_means(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels,
                        const std::vector<double>& sizes) {
  RowMatrix c = RowMatrix::Zero(Eigen::Index(sizes.size()), X.cols());
  for (Eigen::Index i = 0; i < X.rows(); ++i) c.row(labels[size_t(i)]) += X.row(i);
  for (size_t j = 0; j < sizes.size(); ++j)
    if (sizes[j] > 0) c.row(Eigen::Index(j)) /= sizes[j];
  return c;
}

}  // namespace

double silhouette_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k,
                        InterruptCheck check) {
  const Eigen::Index n = X.rows(), p = X.cols();
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> sums(static_cast<size_t>(k));
  double total = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    if (check && i % 256 == 0) check();
    std::fill(sums.begin(), sums.end(), 0.0);
    const double* xi = X.row(i).data();
    for (Eigen::Index j = 0; j < n; ++j) {
      const double* xj = X.row(j).data();
      double s = 0;
      for (Eigen::Index t = 0; t < p; ++t) {
        double d = xi[t] - xj[t];
        s += d * d;
      }
      sums[size_t(labels[size_t(j)])] += std::sqrt(s);
    }
    const int own = labels[size_t(i)];
    if (sizes[size_t(own)] <= 1) continue;  // a singleton's silhouette is 0
    double a = sums[size_t(own)] / (sizes[size_t(own)] - 1);
    double b = std::numeric_limits<double>::infinity();
    for (int c = 0; c < k; ++c)
      if (c != own && sizes[size_t(c)] > 0) b = std::min(b, sums[size_t(c)] / sizes[size_t(c)]);
    double m = std::max(a, b);
    if (m > 0) total += (b - a) / m;
  }
  return total / double(n);
}

double calinski_harabasz_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k) {
  const Eigen::Index n = X.rows();
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return std::numeric_limits<double>::quiet_NaN();
  RowMatrix means = cluster_means(X, labels, sizes);
  Eigen::RowVectorXd mean = X.colwise().mean();
  double extra = 0, intra = 0;
  for (int c = 0; c < k; ++c)
    if (sizes[size_t(c)] > 0) extra += sizes[size_t(c)] * (means.row(c) - mean).squaredNorm();
  for (Eigen::Index i = 0; i < n; ++i) intra += (X.row(i) - means.row(labels[size_t(i)])).squaredNorm();
  if (intra == 0) return 1.0;
  return extra * double(n - used) / (intra * double(used - 1));
}

double davies_bouldin_score(const Eigen::Ref<const RowMatrix>& X, const std::vector<int>& labels, int k) {
  const Eigen::Index n = X.rows();
  std::vector<double> sizes = cluster_sizes(labels, k);
  const int used = used_labels(sizes);
  if (used < 2 || used > n - 1) return std::numeric_limits<double>::quiet_NaN();
  RowMatrix means = cluster_means(X, labels, sizes);
  std::vector<int> ids;
  for (int c = 0; c < k; ++c)
    if (sizes[size_t(c)] > 0) ids.push_back(c);
  std::vector<double> intra(size_t(k), 0.0);
  for (Eigen::Index i = 0; i < n; ++i)
    intra[size_t(labels[size_t(i)])] += (X.row(i) - means.row(labels[size_t(i)])).norm();
  bool intra_zero = true, centres_zero = true;
  for (int c : ids) {
    intra[size_t(c)] /= sizes[size_t(c)];
    intra_zero = intra_zero && std::abs(intra[size_t(c)]) <= 1e-8;
  }
  const size_t u = ids.size();
  std::vector<double> cd(u * u);
  for (size_t a = 0; a < u; ++a)
    for (size_t b = 0; b < u; ++b) {
      cd[a * u + b] = (means.row(ids[a]) - means.row(ids[b])).norm();
      centres_zero = centres_zero && cd[a * u + b] <= 1e-8;
    }
  if (intra_zero || centres_zero) return 0.0;
  double total = 0;
  for (size_t a = 0; a < u; ++a) {
    double worst = 0;
    for (size_t b = 0; b < u; ++b) {
      double d = cd[a * u + b];
      if (d == 0) continue;  // scikit-learn treats a zero centroid distance as infinite
      worst = std::max(worst, (intra[size_t(ids[a])] + intra[size_t(ids[b])]) / d);
    }
    total += worst;
  }
  return total / double(u);
}

}  // namespace custseg::core
