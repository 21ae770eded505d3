// Gaussian mixtures by EM, step for step as scikit-learn 1.2's GaussianMixture ("full" and "diag").
//
// Every step is a matrix operation over all rows, in scikit-learn's formulas: the M step's
// nk = sum_i r_ic + 10 eps, mu_c = sum_i r_ic x_i / nk_c, and Sigma_c = sum_i r_ic (x_i - mu_c)
// (x_i - mu_c)^T / nk_c + reg_covar I ("diag": E[x^2] - 2 mu E[x] + mu^2 + reg_covar); each
// precision's Cholesky factor A_c = L_c^-T with Sigma_c = L_c L_c^T, so that the E step's
// log N(x | mu_c, Sigma_c) = -(d log 2pi + |x A_c - mu_c A_c|^2) / 2 + sum_j log A_c,jj; the
// responsibilities normalize log w_c + log N by a log-sum-exp per row.
//
// The start differs from scikit-learn's init_params: without means_init, the k-means++ seeds of
// kmeans.h each take the rows nearest to them (one-hot responsibilities), and an M step on those
// gives the start. scikit-learn's "k-means++" gives each seed only its own row, which starts every
// component at a single point and covariance reg_covar I; "kmeans" runs a whole k-means. With
// means_init, the rows nearest to each given mean give the weights and covariances, and the means
// are the given ones: scikit-learn's start given means_init, weights_init and precisions_init
// computed that way.
#include "gmm.h"

#include <cmath>
#include <limits>
#include <string>

#include "kmeans.h"

namespace custseg::core {

namespace {

const double kLog2Pi = std::log(2.0 * 3.14159265358979323846);
constexpr double kEps = std::numeric_limits<double>::epsilon();

using Dense = Eigen::MatrixXd;  // column-major: n x k responsibilities, one column per component
using SquareMap = Eigen::Map<RowMatrix>;
using ConstSquareMap = Eigen::Map<const RowMatrix>;

struct Params {
  Vector weights;       // k
  RowMatrix means;      // k x d
  RowMatrix cov;        // full: k x d*d (row-major d x d); diag: k x d
  RowMatrix prec_chol;  // full: k x d*d, upper triangular; diag: k x d
};

// Buffers of one fit, allocated once for all starts and iterations.
struct Work {
  Dense resp;           // n x k: log_resp after the E step, then exp of it for the M step
  Vector log_norm;      // n: log p(x_i)
  Vector row_max;       // n
  RowMatrix diff, wdiff;  // full: n x d, X - mu_c and its rows scaled by r_ic (also X A_c)
  RowMatrix x2;         // diag: n x d, X^2
};

Error not_positive_definite(int c) {
  return Error(ErrorCode::kDataException,
               "gaussian mixture: the covariance of component " + std::to_string(c + 1) +
                   " is not positive definite",
               "raise \"reg_covar\" or lower \"k\"",
               "a component collapsed onto a single row or onto too few distinct rows");
}

// Cholesky factor of each precision, as _compute_precision_cholesky: A_c = (L_c^-1)^T, upper.
void precision_cholesky(const RowMatrix& cov, bool diag, int d, RowMatrix& prec_chol) {
  const int k = int(cov.rows());
  prec_chol.resize(k, cov.cols());
  if (diag) {
    for (int c = 0; c < k; ++c)
      for (int j = 0; j < d; ++j) {
        const double v = cov(c, j);
        if (!(v > 0) || !std::isfinite(v)) throw not_positive_definite(c);
        prec_chol(c, j) = 1.0 / std::sqrt(v);
      }
    return;
  }
  const Dense eye = Dense::Identity(d, d);
  for (int c = 0; c < k; ++c) {
    ConstSquareMap S(cov.row(c).data(), d, d);
    if (!S.allFinite()) throw not_positive_definite(c);
    Eigen::LLT<Dense> llt(S);
    if (llt.info() != Eigen::Success) throw not_positive_definite(c);
    const Dense linv = llt.matrixL().solve(eye);
    SquareMap(prec_chol.row(c).data(), d, d) = linv.transpose();
  }
}

// sum_j log A_c,jj (_compute_log_det_cholesky): minus half the log-determinant of Sigma_c.
Vector log_det_chol(const RowMatrix& prec_chol, bool diag, int d) {
  const int k = int(prec_chol.rows());
  Vector out(k);
  for (int c = 0; c < k; ++c) {
    double s = 0;
    for (int j = 0; j < d; ++j) s += std::log(diag ? prec_chol(c, j) : prec_chol(c, j * d + j));
    out(c) = s;
  }
  return out;
}

// E step: w.resp = log_resp, w.log_norm = log p(x_i); returns the mean of log p(x_i).
double e_step(const Eigen::Ref<const RowMatrix>& X, const Params& p, bool diag, Work& w) {
  const Eigen::Index n = X.rows();
  const int d = int(X.cols()), k = int(p.means.rows());
  Dense& lp = w.resp;
  const Vector log_det = log_det_chol(p.prec_chol, diag, d);
  if (diag) {
    // |x - mu|^2_P = sum_j mu_j^2 P_j - 2 x . (mu P) + x^2 . P, as scikit-learn expands it.
    const RowMatrix prec = p.prec_chol.array().square().matrix();
    const RowMatrix mp = p.means.cwiseProduct(prec);
    const Vector m2p = (p.means.array().square() * prec.array()).rowwise().sum();
    lp.noalias() = X * mp.transpose();
    lp = (-2.0 * lp).rowwise() + m2p.transpose();
    lp.noalias() += w.x2 * prec.transpose();
  } else {
    RowMatrix& y = w.diff;
    for (int c = 0; c < k; ++c) {
      ConstSquareMap A(p.prec_chol.row(c).data(), d, d);
      y.noalias() = X * A.triangularView<Eigen::Upper>();
      const Eigen::RowVectorXd muA = p.means.row(c) * A.triangularView<Eigen::Upper>();
      lp.col(c) = (y.rowwise() - muA).rowwise().squaredNorm();
    }
  }
  // Weighted log-probabilities, then scipy's logsumexp along each row.
  lp = (-0.5 * (lp.array() + double(d) * kLog2Pi)).matrix();
  lp.rowwise() += log_det.transpose();
  lp.rowwise() += p.weights.array().log().matrix().transpose();
  w.row_max = lp.rowwise().maxCoeff();
  for (Eigen::Index i = 0; i < n; ++i)
    if (!std::isfinite(w.row_max(i))) w.row_max(i) = 0;
  w.log_norm.setZero();
  for (int c = 0; c < k; ++c) w.log_norm.array() += (lp.col(c) - w.row_max).array().exp();
  w.log_norm = (w.log_norm.array().log() + w.row_max.array()).matrix();
  lp.colwise() -= w.log_norm;
  return w.log_norm.mean();
}

// _estimate_gaussian_parameters from responsibilities r (n x k): nk, means and covariances.
Vector estimate_parameters(const Eigen::Ref<const RowMatrix>& X, const Dense& r, bool diag, double reg_covar,
                           Params& p, Work& w) {
  const int d = int(X.cols()), k = int(r.cols());
  const Vector nk = (r.colwise().sum().array() + 10 * kEps).matrix().transpose();
  const RowMatrix rx = r.transpose() * X;  // k x d
  p.means = rx.array().colwise() / nk.array();
  if (diag) {
    const RowMatrix avg_x2 = (r.transpose() * w.x2).array().colwise() / nk.array();
    const RowMatrix avg_x_means = (p.means.array() * rx.array()).colwise() / nk.array();
    p.cov = (avg_x2.array() - 2 * avg_x_means.array() + p.means.array().square() + reg_covar).matrix();
    return nk;
  }
  p.cov.resize(k, Eigen::Index(d) * d);
  Dense S(d, d);
  for (int c = 0; c < k; ++c) {
    w.diff = X.rowwise() - p.means.row(c);
    w.wdiff = w.diff.array().colwise() * r.col(c).array();
    S.triangularView<Eigen::Lower>() = w.wdiff.transpose() * w.diff;
    S.triangularView<Eigen::StrictlyUpper>() = S.transpose();
    S /= nk(c);
    S.diagonal().array() += reg_covar;
    SquareMap(p.cov.row(c).data(), d, d) = S;
  }
  return nk;
}

// The start from one-hot responsibilities (each row to its nearest centre), as _initialize.
void initialize(const Eigen::Ref<const RowMatrix>& X, const RowMatrix& centers, const GmmOptions& opt, Params& p,
                Work& w, std::vector<int>& nearest) {
  kmeans_assign(X, centers, nearest);
  w.resp.setZero();
  for (size_t i = 0; i < nearest.size(); ++i) w.resp(Eigen::Index(i), nearest[i]) = 1;
  const Vector nk = estimate_parameters(X, w.resp, opt.diag, opt.reg_covar, p, w);
  p.weights = nk / double(X.rows());
  if (opt.means_init) p.means = *opt.means_init;
  precision_cholesky(p.cov, opt.diag, int(X.cols()), p.prec_chol);
}

void m_step(const Eigen::Ref<const RowMatrix>& X, const GmmOptions& opt, Params& p, Work& w) {
  w.resp = w.resp.array().exp().matrix();
  const Vector nk = estimate_parameters(X, w.resp, opt.diag, opt.reg_covar, p, w);
  p.weights = nk / nk.sum();
  precision_cholesky(p.cov, opt.diag, int(X.cols()), p.prec_chol);
}

// The seed of start i: a splitmix64 step from the user's seed, so the starts differ and repeat.
uint64_t start_seed(uint64_t seed, int i) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * uint64_t(i + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void validate(const Eigen::Ref<const RowMatrix>& X, const GmmOptions& opt) {
  if (opt.k < 1) throw Error(ErrorCode::kInvalidArgument, "k must be at least 1");
  if (opt.n_init < 1) throw Error(ErrorCode::kInvalidArgument, "\"n_init\" must be at least 1");
  if (opt.max_iter < 1) throw Error(ErrorCode::kInvalidArgument, "\"max_iter\" must be at least 1");
  if (!(opt.tol >= 0) || !std::isfinite(opt.tol))
    throw Error(ErrorCode::kInvalidArgument, "\"tol\" must be a finite number at least 0");
  if (!(opt.reg_covar >= 0) || !std::isfinite(opt.reg_covar))
    throw Error(ErrorCode::kInvalidArgument, "\"reg_covar\" must be a finite number at least 0");
  if (X.cols() < 1) throw Error(ErrorCode::kInvalidArgument, "gaussian mixture: no feature columns");
  if (X.rows() < 2 || X.rows() < opt.k)
    throw Error(ErrorCode::kDataException,
                "k = " + std::to_string(opt.k) + " exceeds the " + std::to_string(X.rows()) + " rows to cluster",
                X.rows() < 2 ? "a gaussian mixture needs at least 2 rows" : "lower \"k\" or train on more rows");
  if (!X.allFinite()) throw Error(ErrorCode::kDataException, "gaussian mixture: a row has a non-finite value");
  if (opt.means_init) {
    const RowMatrix& m = *opt.means_init;
    if (m.rows() != opt.k || m.cols() != X.cols())
      throw Error(ErrorCode::kDimensionMismatch,
                  "\"means_init\" has " + std::to_string(m.rows()) + " x " + std::to_string(m.cols()) +
                      " values, expected k x features = " + std::to_string(opt.k) + " x " + std::to_string(X.cols()));
    if (!m.allFinite()) throw Error(ErrorCode::kInvalidArgument, "\"means_init\" has a non-finite value");
  }
}

}  // namespace

GmmResult gmm_fit(const Eigen::Ref<const RowMatrix>& X, const GmmOptions& opt, InterruptCheck check) {
  validate(X, opt);
  const Eigen::Index n = X.rows();
  const int d = int(X.cols()), k = opt.k;
  Work w;
  w.resp.resize(n, k);
  w.log_norm.resize(n);
  w.row_max.resize(n);
  if (opt.diag) {
    w.x2 = X.array().square().matrix();
  } else {
    w.diff.resize(n, d);
    w.wdiff.resize(n, d);
  }
  std::vector<int> nearest;
  Params p, best;
  double max_lower_bound = -std::numeric_limits<double>::infinity();
  GmmResult out;
  bool have_best = false;
  for (int init = 0; init < opt.n_init; ++init) {
    if (check) check();
    const RowMatrix centers = opt.means_init ? *opt.means_init : kmeans_plusplus_centers(X, k, start_seed(opt.seed, init));
    initialize(X, centers, opt, p, w, nearest);
    double lower_bound = -std::numeric_limits<double>::infinity();
    bool converged = false;
    int n_iter = 0;
    for (n_iter = 1; n_iter <= opt.max_iter; ++n_iter) {
      if (check) check();
      const double prev = lower_bound;
      lower_bound = e_step(X, p, opt.diag, w);
      m_step(X, opt, p, w);
      if (std::abs(lower_bound - prev) < opt.tol) {
        converged = true;
        break;
      }
    }
    n_iter = std::min(n_iter, opt.max_iter);
    if (lower_bound > max_lower_bound || !have_best) {
      have_best = true;
      max_lower_bound = lower_bound;
      best = p;
      out.n_iter = n_iter;
      out.converged = converged;
      out.best_init = init;
    }
  }
  // The final E step under the kept parameters gives the labels and the log-likelihood.
  if (check) check();
  e_step(X, best, opt.diag, w);
  out.labels.resize(size_t(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    Eigen::Index c;
    w.resp.row(i).maxCoeff(&c);
    out.labels[size_t(i)] = int(c);
  }
  out.log_likelihood = w.log_norm.sum();
  out.lower_bound = max_lower_bound;
  out.means = std::move(best.means);
  out.weights = std::move(best.weights);
  out.covariances = std::move(best.cov);
  if (!std::isfinite(out.log_likelihood) || !std::isfinite(out.lower_bound) || !out.means.allFinite() ||
      !out.weights.allFinite() || !out.covariances.allFinite())
    throw Error(ErrorCode::kDataException, "gaussian mixture: the fit produced a non-finite value",
                "scale the features or raise \"reg_covar\"");
  return out;
}

GmmScorer::GmmScorer(int k, int d, bool diag, const double* means, const double* weights, const double* covariances)
    : k_(k), d_(d), diag_(diag) {
  if (k < 1 || d < 1) throw Error(ErrorCode::kInvalidArgument, "gaussian mixture: k and the width must be at least 1");
  const Eigen::Index cw = diag ? d : Eigen::Index(d) * d;
  const RowMatrix cov = Eigen::Map<const RowMatrix>(covariances, k, cw);
  RowMatrix pc;
  precision_cholesky(cov, diag, d, pc);
  const Vector ld = log_det_chol(pc, diag, d);
  means_.assign(means, means + size_t(k) * size_t(d));
  log_weights_.resize(size_t(k));
  log_det_.resize(size_t(k));
  for (int c = 0; c < k; ++c) {
    log_weights_[size_t(c)] = std::log(weights[c]);
    log_det_[size_t(c)] = ld(c);
  }
  if (diag) {
    prec_chol_.assign(pc.data(), pc.data() + pc.size());
  } else {
    // Stored transposed (lower, row-major): row j of A^T holds A_ij for i <= j contiguously.
    prec_chol_.resize(size_t(k) * size_t(d) * size_t(d));
    for (int c = 0; c < k; ++c) {
      ConstSquareMap A(pc.row(c).data(), d, d);
      SquareMap(prec_chol_.data() + size_t(c) * size_t(d) * size_t(d), d, d) = A.transpose();
    }
  }
}

double GmmScorer::score(const double* x, double* log_prob, double* posterior) const {
  const size_t d = size_t(d_);
  double mx = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < k_; ++c) {
    const double* mu = means_.data() + size_t(c) * d;
    double maha = 0;
    if (diag_) {
      const double* a = prec_chol_.data() + size_t(c) * d;
      for (size_t j = 0; j < d; ++j) {
        const double y = (x[j] - mu[j]) * a[j];
        maha += y * y;
      }
    } else {
      // y_j = sum_{i <= j} (x_i - mu_i) A_ij
      const double* at = prec_chol_.data() + size_t(c) * d * d;
      for (size_t j = 0; j < d; ++j) {
        const double* row = at + j * d;
        double y = 0;
        for (size_t i = 0; i <= j; ++i) y += (x[i] - mu[i]) * row[i];
        maha += y * y;
      }
    }
    const double v = -0.5 * (double(d_) * kLog2Pi + maha) + log_det_[size_t(c)] + log_weights_[size_t(c)];
    log_prob[c] = v;
    if (v > mx) mx = v;
  }
  if (!std::isfinite(mx)) mx = 0;
  double s = 0;
  for (int c = 0; c < k_; ++c) s += std::exp(log_prob[c] - mx);
  const double lse = std::log(s) + mx;
  if (posterior)
    for (int c = 0; c < k_; ++c) posterior[c] = std::exp(log_prob[c] - lse);
  return lse;
}

double gmm_n_parameters(int k, int d, bool diag) {
  const double cov = diag ? double(k) * d : double(k) * d * (d + 1) / 2.0;
  return cov + double(k) * d + k - 1;
}

double gmm_bic(double log_likelihood, int k, int d, bool diag, double n) {
  return -2 * log_likelihood + gmm_n_parameters(k, d, diag) * std::log(n);
}

double gmm_aic(double log_likelihood, int k, int d, bool diag) {
  return -2 * log_likelihood + 2 * gmm_n_parameters(k, d, diag);
}

}  // namespace custseg::core
