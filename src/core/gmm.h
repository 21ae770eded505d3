// Gaussian mixtures fitted by EM, as scikit-learn's GaussianMixture (1.2) fits them: covariance
// "full" or "diag", reg_covar added to every covariance's diagonal, the lower bound (mean
// log-likelihood per row) stopping EM when it changes by less than tol, n_init starts keeping the
// highest lower bound, and a final E step giving each row its most probable component.
#pragma once

#include <cstdint>
#include <vector>

#include "errors.h"
#include "linalg.h"

namespace custseg::core {

struct GmmOptions {
  int k = 3;
  bool diag = false;           // covariance "diag" (else "full")
  int n_init = 1;
  int max_iter = 100;
  double tol = 1e-3;
  double reg_covar = 1e-6;
  uint64_t seed = 0;
  // Optional k x d initial means (scikit-learn's means_init): the rows nearest to each give the
  // start's weights and covariances, the means are these (as scikit-learn given means_init and the
  // weights_init and precisions_init of that assignment). Without it start i is seeded by k-means++
  // (kmeans.h) from a seed derived from `seed` and i, each row assigned to its nearest seed, and an
  // M step on that assignment gives the start. (scikit-learn's "k-means++" init_params gives each
  // seed only its own row, a degenerate start of single points with covariance reg_covar I.)
  const RowMatrix* means_init = nullptr;
};

struct GmmResult {
  RowMatrix means;             // k x d
  Vector weights;              // k
  RowMatrix covariances;       // full: k x (d*d), row-major d x d per component; diag: k x d
  std::vector<int> labels;     // n: most probable component (final E step)
  double log_likelihood = 0;   // total over the rows, under the final parameters
  double lower_bound = 0;      // scikit-learn's lower_bound_ of the best start
  int n_iter = 0;
  bool converged = false;      // the best start converged (scikit-learn's converged_: any start did)
  int best_init = 0;
};

GmmResult gmm_fit(const Eigen::Ref<const RowMatrix>& X, const GmmOptions& opt, InterruptCheck check = nullptr);

// Scores single rows under fitted parameters (precomputes each component's Cholesky factor of the
// precision). log_prob: per component, log(weight) + log N(x | mean, cov); returns the row's
// log-likelihood (log-sum-exp of log_prob); posterior gets the normalized probabilities when not null.
// log_prob (k values) is required. A covariance that is not positive definite is an Error.
class GmmScorer {
 public:
  GmmScorer(int k, int d, bool diag, const double* means, const double* weights, const double* covariances);
  double score(const double* x, double* log_prob, double* posterior) const;
  int k() const { return k_; }
  int dim() const { return d_; }

 private:
  int k_, d_;
  bool diag_;
  std::vector<double> means_, log_weights_, prec_chol_, log_det_;
};

// Free parameters of a mixture (scikit-learn's _n_parameters), for BIC and AIC.
double gmm_n_parameters(int k, int d, bool diag);
// BIC = -2 log L + p ln n, AIC = -2 log L + 2 p (log L the total log-likelihood).
double gmm_bic(double log_likelihood, int k, int d, bool diag, double n);
double gmm_aic(double log_likelihood, int k, int d, bool diag);

}  // namespace custseg::core
