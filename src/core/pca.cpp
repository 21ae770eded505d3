// PCA by the self-adjoint eigensolver on the covariance: O(d^3), independent of the row count.
#include "pca.h"

#include "errors.h"

namespace custseg::core {

PcaResult pca_from_covariance(const Eigen::MatrixXd& cov, int n_components, double variance_fraction) {
  const int d = int(cov.rows());
  if (d < 1 || cov.cols() != d) throw Error(ErrorCode::kDimensionMismatch, "PCA needs a square covariance matrix");
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
  if (es.info() != Eigen::Success) throw Error(ErrorCode::kInternal, "PCA eigendecomposition did not converge");
  // Eigen sorts ascending; we want decreasing variance.
  Vector ev = es.eigenvalues().reverse().cwiseMax(0.0);
  Eigen::MatrixXd vecs = es.eigenvectors().rowwise().reverse();
  const double total = ev.sum();
  Vector ratio = total > 0 ? Vector(ev / total) : Vector::Zero(d);
  int c = n_components;
  if (c <= 0) {
    // scikit-learn: searchsorted(cumsum(ratio), fraction, side="right") + 1
    double cum = 0;
    c = 0;
    for (int i = 0; i < d; ++i) {
      cum += ratio(i);
      if (cum <= variance_fraction) ++c;
    }
    c = std::min(c + 1, d);
  }
  if (c > d)
    throw Error(ErrorCode::kInvalidArgument,
                "n_components " + std::to_string(c) + " exceeds the " + std::to_string(d) + " encoded feature columns",
                "lower \"n_components\" or train without PCA (\"n_components\": null)");
  PcaResult r;
  r.components.resize(c, d);
  for (int i = 0; i < c; ++i) {
    Vector v = vecs.col(i);
    Eigen::Index arg = 0;
    v.cwiseAbs().maxCoeff(&arg);
    if (v(arg) < 0) v = -v;
    r.components.row(i) = v.transpose();
  }
  r.explained_variance = ev.head(c);
  r.explained_variance_ratio = ratio.head(c);
  return r;
}

}  // namespace custseg::core
