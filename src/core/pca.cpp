// PCA by eigendecomposition of the covariance: O(d^3), independent of the row count.
//
// Up to kFewVectorsMinDim columns, or when many components are kept, the self-adjoint eigensolver
// computes every eigenvector. A wide matrix keeping few components (a categorical column of hundreds
// of levels projected to 2) computes only those: Householder tridiagonalization A = Q T Q', every
// eigenvalue of T (no vectors), inverse iteration on T for the kept ones and y -> Q y. The vectors
// that would be thrown away were most of the full solver's time (about 210 ms of 250 at d = 509).
// Each vector is checked (its residual and its orthogonality to the others); a failed check falls
// back to the full solver, so the result is always one whose accuracy the full solver would give.
#include "pca.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "errors.h"

namespace custseg::core {
namespace {

// Below this many columns the full solver costs under a millisecond and stays the only path (the
// models of narrow tables are byte for byte those of earlier releases).
constexpr int kFewVectorsMinDim = 64;

// The number of components kept: n_components, or the fewest whose cumulative ratio exceeds
// variance_fraction (scikit-learn: searchsorted(cumsum(ratio), fraction, side="right") + 1).
int kept_components(const Vector& ratio, int n_components, double variance_fraction) {
  const int d = int(ratio.size());
  int c = n_components;
  if (c <= 0) {
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
  return c;
}

// Each eigenvalue's share of their sum (the explained variance ratio); 0 for a zero sum.
Vector variance_ratios(const Vector& ev) {
  const double total = ev.sum();
  return total > 0 ? Vector(ev / total) : Vector::Zero(ev.size());
}

// The result for c components from every eigenvalue by decreasing size (clamped at 0), their
// ratios, and at least c vectors as columns, each vector's largest-magnitude loading made positive.
PcaResult assemble(const Vector& ev, const Vector& ratio, const Eigen::MatrixXd& vecs, int c) {
  PcaResult r;
  r.components.resize(c, vecs.rows());
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

}  // namespace

PcaResult pca_full_solver(const Eigen::MatrixXd& cov, int n_components, double variance_fraction) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
  if (es.info() != Eigen::Success) throw Error(ErrorCode::kInternal, "PCA eigendecomposition did not converge");
  // Eigen sorts ascending; we want decreasing variance.
  const Vector ev = es.eigenvalues().reverse().cwiseMax(0.0);
  const Eigen::MatrixXd vecs = es.eigenvectors().rowwise().reverse();
  const Vector ratio = variance_ratios(ev);
  return assemble(ev, ratio, vecs, kept_components(ratio, n_components, variance_fraction));
}

namespace {

// Solves (T - sigma I) y = b in place for the symmetric tridiagonal T (diagonal a, off-diagonal e)
// by Gaussian elimination with partial pivoting; a pivot that vanishes is replaced by `tiny`, as
// inverse iteration wants (sigma is an eigenvalue to working precision).
void shifted_solve(const Vector& a, const Vector& e, double sigma, double tiny, std::vector<double>& b,
                   std::vector<double>& d, std::vector<double>& du, std::vector<double>& du2) {
  const int n = int(a.size());
  d.resize(size_t(n));
  du.assign(size_t(std::max(n - 1, 0)), 0.0);
  du2.assign(size_t(std::max(n - 2, 0)), 0.0);
  for (int i = 0; i < n; ++i) d[size_t(i)] = a(i) - sigma;
  for (int i = 0; i + 1 < n; ++i) du[size_t(i)] = e(i);
  auto nonzero = [tiny](double p) { return p != 0 ? p : tiny; };
  for (int i = 0; i + 1 < n; ++i) {
    const double sub = e(i);  // the row below's entry in this column
    if (std::abs(d[size_t(i)]) >= std::abs(sub)) {
      const double piv = nonzero(d[size_t(i)]);
      d[size_t(i)] = piv;
      const double f = sub / piv;
      d[size_t(i) + 1] -= f * du[size_t(i)];
      b[size_t(i) + 1] -= f * b[size_t(i)];
    } else {
      // Interchange rows i and i + 1.
      const double f = d[size_t(i)] / sub;
      d[size_t(i)] = sub;
      const double t = d[size_t(i) + 1];
      d[size_t(i) + 1] = du[size_t(i)] - f * t;
      if (i + 2 < n) {
        du2[size_t(i)] = e(i + 1);
        du[size_t(i) + 1] = -f * e(i + 1);
      }
      du[size_t(i)] = t;
      const double bi = b[size_t(i)];
      b[size_t(i)] = b[size_t(i) + 1];
      b[size_t(i) + 1] = bi - f * b[size_t(i) + 1];
    }
  }
  for (int i = n - 1; i >= 0; --i) {
    double s = b[size_t(i)];
    if (i + 1 < n) s -= du[size_t(i)] * b[size_t(i) + 1];
    if (i + 2 < n) s -= du2[size_t(i)] * b[size_t(i) + 2];
    b[size_t(i)] = s / nonzero(d[size_t(i)]);
  }
}

// The eigenvectors of T (diagonal a, off-diagonal e) for the eigenvalues lambda (decreasing), as
// columns, by inverse iteration with a fixed number of steps from a fixed start (so the result is
// the same on every run). Eigenvalues closer than a thousandth of T's norm form a cluster, whose
// members are shifted apart slightly and orthogonalized against each other at every step (the rule
// of LAPACK's dstein). Returns false when a step cannot be normalized.
bool tridiagonal_vectors(const Vector& a, const Vector& e, const Vector& lambda, double norm, Eigen::MatrixXd& y) {
  const int n = int(a.size()), c = int(lambda.size());
  constexpr double eps = std::numeric_limits<double>::epsilon();
  const double cluster_gap = 1e-3 * norm, tiny = eps * norm, nudge = 10 * eps * norm;
  y.resize(n, c);
  std::vector<double> b(static_cast<size_t>(n)), d, du, du2;
  uint64_t lcg = 0x9E3779B97F4A7C15ULL;
  int cluster_first = 0;
  double previous_shift = 0;
  for (int j = 0; j < c; ++j) {
    double sigma = lambda(j);
    if (j > 0 && lambda(j - 1) - lambda(j) > cluster_gap) cluster_first = j;
    if (j > cluster_first && previous_shift - sigma < nudge) sigma = previous_shift - nudge;
    previous_shift = sigma;
    for (int i = 0; i < n; ++i) {
      lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
      b[size_t(i)] = double(lcg >> 11) * 0x1.0p-53 - 0.5;
    }
    for (int step = 0; step < 3; ++step) {
      shifted_solve(a, e, sigma, tiny, b, d, du, du2);
      Eigen::Map<Vector> v(b.data(), n);
      for (int m = cluster_first; m < j; ++m) v -= y.col(m).dot(v) * y.col(m);
      const double len = v.norm();
      if (!(len > 0) || !std::isfinite(len)) return false;
      v /= len;
    }
    y.col(j) = Eigen::Map<const Vector>(b.data(), n);
  }
  return true;
}

}  // namespace

bool pca_few_vectors(const Eigen::MatrixXd& cov, int n_components, double variance_fraction, PcaResult& out) {
  const int d = int(cov.rows());
  if (d < kFewVectorsMinDim || !cov.allFinite()) return false;
  const double norm = cov.cwiseAbs().rowwise().sum().maxCoeff();  // the infinity norm, = the 1-norm
  if (!(norm > 0)) return false;
  const Eigen::Tridiagonalization<Eigen::MatrixXd> tri(cov);
  const Vector a = tri.diagonal(), e = tri.subDiagonal();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es;
  es.computeFromTridiagonal(a, e, Eigen::EigenvaluesOnly);
  if (es.info() != Eigen::Success) return false;
  const Vector lambda = es.eigenvalues().reverse();  // decreasing
  const Vector ev = lambda.cwiseMax(0.0);
  const Vector ratio = variance_ratios(ev);
  const int c = kept_components(ratio, n_components, variance_fraction);
  if (4 * c > d) return false;  // many vectors: the full solver is as quick
  Eigen::MatrixXd y;
  if (!tridiagonal_vectors(a, e, lambda.head(c), norm, y)) return false;
  const Eigen::MatrixXd vecs = tri.matrixQ() * y;
  // The checks: |A v - lambda v| and |V'V - I| small against the norm, as the full solver's are.
  const double tol = 1e-10;
  const Eigen::MatrixXd residual = cov * vecs - vecs * lambda.head(c).asDiagonal();
  if (!(residual.colwise().norm().maxCoeff() <= tol * norm)) return false;
  if (!((vecs.transpose() * vecs - Eigen::MatrixXd::Identity(c, c)).cwiseAbs().maxCoeff() <= tol)) return false;
  out = assemble(ev, ratio, vecs, c);
  return true;
}

PcaResult pca_from_covariance(const Eigen::MatrixXd& cov, int n_components, double variance_fraction) {
  const int d = int(cov.rows());
  if (d < 1 || cov.cols() != d) throw Error(ErrorCode::kDimensionMismatch, "PCA needs a square covariance matrix");
  PcaResult r;
  if (pca_few_vectors(cov, n_components, variance_fraction, r)) return r;
  return pca_full_solver(cov, n_components, variance_fraction);
}

}  // namespace custseg::core
