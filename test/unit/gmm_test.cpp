#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "errors.h"
#include "gmm.h"
#include "test_util.h"

namespace custseg::core {
namespace {

using testing::blobs;

// Blobs with different shapes: an elongated, tilted one, a round one and a small one.
RowMatrix shaped_blobs(std::vector<int>* truth) {
  std::mt19937_64 gen(42);
  std::normal_distribution<double> z(0.0, 1.0);
  RowMatrix X(900, 2);
  for (int i = 0; i < 900; ++i) {
    const int c = i / 300;
    const double a = z(gen), b = z(gen);
    if (c == 0) {
      X(i, 0) = 3.0 * a;
      X(i, 1) = 1.5 * a + 0.4 * b;
    } else if (c == 1) {
      X(i, 0) = 12 + a;
      X(i, 1) = b;
    } else {
      X(i, 0) = 5 + 0.3 * a;
      X(i, 1) = 10 + 0.3 * b;
    }
    truth->push_back(c);
  }
  return X;
}

// Each true group maps to exactly one component, and the components are all used.
void expect_recovered(const std::vector<int>& truth, const std::vector<int>& labels, int k) {
  std::map<int, std::set<int>> seen;
  for (size_t i = 0; i < truth.size(); ++i) seen[truth[i]].insert(labels[i]);
  std::set<int> used;
  for (auto& [t, ls] : seen) {
    EXPECT_EQ(ls.size(), 1u) << "group " << t << " was split";
    used.insert(*ls.begin());
  }
  EXPECT_EQ(int(used.size()), k);
}

TEST(Gmm, RecoversShapedBlobsFull) {
  std::vector<int> truth;
  RowMatrix X = shaped_blobs(&truth);
  GmmOptions o;
  o.k = 3;
  o.seed = 7;
  o.n_init = 3;
  GmmResult r = gmm_fit(X, o);
  expect_recovered(truth, r.labels, 3);
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(r.weights.sum(), 1.0, 1e-12);
  // The tilted blob's covariance is its rows' sample covariance (it overlaps no other blob).
  int tilted = r.labels[0];
  Eigen::Map<const RowMatrix> S(r.covariances.row(tilted).data(), 2, 2);
  const RowMatrix G = X.topRows(300);
  const RowMatrix D = G.rowwise() - G.colwise().mean();
  const Eigen::Matrix2d T = D.transpose() * D / 300.0;
  EXPECT_LT((S - T).norm(), 0.02 * T.norm());
  EXPECT_GT(S(0, 1), 0.4 * std::sqrt(S(0, 0) * S(1, 1)));  // tilted: strongly correlated
  EXPECT_EQ(S(0, 1), S(1, 0));
  EXPECT_NEAR(r.weights(tilted), 1.0 / 3, 0.01);
  int small = r.labels[899];
  EXPECT_NEAR(r.means(small, 0), 5, 0.05);
  EXPECT_NEAR(r.means(small, 1), 10, 0.05);
}

TEST(Gmm, RecoversBlobsDiag) {
  std::vector<int> truth;
  RowMatrix X = blobs({{0, 0, 0}, {8, 0, 0}, {0, 8, 0}, {0, 0, 8}}, 150, 1.0, 3, &truth);
  GmmOptions o;
  o.k = 4;
  o.diag = true;
  o.seed = 1;
  o.n_init = 2;
  GmmResult r = gmm_fit(X, o);
  expect_recovered(truth, r.labels, 4);
  ASSERT_EQ(r.covariances.rows(), 4);
  ASSERT_EQ(r.covariances.cols(), 3);
  for (int c = 0; c < 4; ++c)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(r.covariances(c, j), 1.0, 0.3);
}

TEST(Gmm, SameSeedSameResult) {
  RowMatrix X = blobs({{0, 0}, {3, 3}, {6, 0}}, 100, 1.5, 5);
  GmmOptions o;
  o.k = 4;
  o.seed = 99;
  o.n_init = 3;
  GmmResult a = gmm_fit(X, o), b = gmm_fit(X, o);
  EXPECT_EQ(a.means, b.means);
  EXPECT_EQ(a.covariances, b.covariances);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.log_likelihood, b.log_likelihood);
}

// EM never lowers the likelihood: fits stopped after 1, 2, ... iterations from the same start.
TEST(Gmm, LogLikelihoodIncreasesEachIteration) {
  RowMatrix X = blobs({{0, 0}, {2.5, 0}, {1, 2}}, 120, 1.0, 17);
  for (bool diag : {false, true}) {
    GmmOptions o;
    o.k = 3;
    o.diag = diag;
    o.seed = 5;
    o.tol = 0;
    double prev_ll = -INFINITY, prev_lb = -INFINITY;
    for (int it = 1; it <= 5; ++it) {
      o.max_iter = it;
      GmmResult r = gmm_fit(X, o);
      EXPECT_EQ(r.n_iter, it);
      EXPECT_FALSE(r.converged);
      EXPECT_GT(r.log_likelihood, prev_ll) << "iteration " << it;
      EXPECT_GT(r.lower_bound, prev_lb) << "iteration " << it;
      // The lower bound is the mean log-likelihood before the last M step.
      EXPECT_LE(r.lower_bound * double(X.rows()), r.log_likelihood + 1e-9);
      prev_ll = r.log_likelihood;
      prev_lb = r.lower_bound;
    }
  }
}

TEST(Gmm, ScorerAgreesWithFit) {
  std::vector<int> truth;
  RowMatrix X = shaped_blobs(&truth);
  for (bool diag : {false, true}) {
    GmmOptions o;
    o.k = 3;
    o.diag = diag;
    o.seed = 2;
    GmmResult r = gmm_fit(X, o);
    GmmScorer s(3, 2, diag, r.means.data(), r.weights.data(), r.covariances.data());
    EXPECT_EQ(s.k(), 3);
    EXPECT_EQ(s.dim(), 2);
    double lp[3], post[3], total = 0;
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      total += s.score(X.row(i).data(), lp, post);
      int best = 0;
      for (int c = 1; c < 3; ++c)
        if (post[c] > post[best]) best = c;
      EXPECT_EQ(best, r.labels[size_t(i)]) << "row " << i;
      EXPECT_NEAR(post[0] + post[1] + post[2], 1.0, 1e-12);
    }
    EXPECT_NEAR(total, r.log_likelihood, 1e-9 * std::abs(r.log_likelihood));
  }
}

// One component, full covariance: the maximum-likelihood Gaussian, whose log-likelihood is
// -n/2 (d log 2pi + log det S + d) with S the biased sample covariance (+ reg_covar).
TEST(Gmm, SingleComponentIsTheSampleGaussian) {
  RowMatrix X = blobs({{1, 2, 3}}, 400, 2.0, 8);
  GmmOptions o;
  o.k = 1;
  GmmResult r = gmm_fit(X, o);
  const Eigen::RowVectorXd mu = X.colwise().mean();
  const RowMatrix D = X.rowwise() - mu;
  Eigen::MatrixXd S = D.transpose() * D / double(X.rows());
  S.diagonal().array() += o.reg_covar;
  EXPECT_LT((r.means.row(0) - mu).norm(), 1e-12);
  EXPECT_LT((Eigen::Map<const RowMatrix>(r.covariances.data(), 3, 3) - S).norm(), 1e-10);
  const double n = double(X.rows());
  const double trace = (S.inverse() * (D.transpose() * D)).trace();
  const double expect = -0.5 * (n * 3 * std::log(2 * M_PI) + n * std::log(S.determinant()) + trace);
  EXPECT_NEAR(r.log_likelihood, expect, 1e-9 * std::abs(expect));
  EXPECT_EQ(r.weights(0), 1.0);
}

TEST(Gmm, InformationCriteria) {
  // full: k d (d + 1) / 2 covariances + k d means + k - 1 weights; diag: k d + k d + k - 1.
  EXPECT_EQ(gmm_n_parameters(3, 4, false), 30 + 12 + 2);
  EXPECT_EQ(gmm_n_parameters(3, 4, true), 12 + 12 + 2);
  EXPECT_EQ(gmm_n_parameters(1, 1, false), 2);
  EXPECT_DOUBLE_EQ(gmm_bic(-1000, 3, 4, false, 500), 2000 + 44 * std::log(500.0));
  EXPECT_DOUBLE_EQ(gmm_aic(-1000, 3, 4, false), 2000 + 88);
  EXPECT_DOUBLE_EQ(gmm_bic(-10, 2, 2, true, 30), 20 + 9 * std::log(30.0));
  EXPECT_DOUBLE_EQ(gmm_aic(-10, 2, 2, true), 20 + 18);
}

TEST(Gmm, MeansInitStartsThere) {
  RowMatrix X = blobs({{0, 0}, {6, 0}}, 100, 1.0, 4);
  RowMatrix M(2, 2);
  M << 6, 0, 0, 0;
  GmmOptions o;
  o.k = 2;
  o.means_init = &M;
  o.max_iter = 1;
  o.tol = 0;
  GmmResult r = gmm_fit(X, o);
  // After one EM step from means (6,0), (0,0) the components keep their order.
  EXPECT_NEAR(r.means(0, 0), 6, 0.3);
  EXPECT_NEAR(r.means(1, 0), 0, 0.3);
  RowMatrix bad(3, 2);
  bad.setZero();
  o.means_init = &bad;
  try {
    gmm_fit(X, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDimensionMismatch);
  }
}

TEST(Gmm, BadInputIsAnError) {
  RowMatrix X = blobs({{0, 0}}, 5, 1.0, 1);
  GmmOptions o;
  o.k = 6;
  try {
    gmm_fit(X, o);
    FAIL() << "k > n accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataException);
  }
  o.k = 0;
  EXPECT_THROW(gmm_fit(X, o), Error);
  o.k = 2;
  o.reg_covar = -1;
  EXPECT_THROW(gmm_fit(X, o), Error);
  // Two distinct rows for three components: the third k-means++ seed repeats one, the third
  // component starts empty, and without regularization its covariance is 0.
  RowMatrix two(40, 2);
  for (int i = 0; i < 40; ++i) two.row(i) << (i % 2 ? 1.0 : -1.0), 0.5;
  o.reg_covar = 0;
  o.k = 3;
  for (bool diag : {false, true}) {
    o.diag = diag;
    try {
      gmm_fit(two, o);
      FAIL() << "singular covariance accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataException);
      EXPECT_NE(std::string(e.what()).find("not positive definite"), std::string::npos);
      EXPECT_NE(e.hint().find("reg_covar"), std::string::npos);
    }
  }
  // With regularization the same rows fit.
  o.reg_covar = 1e-6;
  for (bool diag : {false, true}) {
    o.diag = diag;
    GmmResult r = gmm_fit(two, o);
    EXPECT_TRUE(std::isfinite(r.log_likelihood));
  }
  o.diag = false;
  RowMatrix nan = X;
  nan(2, 1) = NAN;
  o.k = 2;
  EXPECT_THROW(gmm_fit(nan, o), Error);
  const double cov[4] = {1, 2, 2, 1};  // indefinite
  const double mean[2] = {0, 0}, weight[1] = {1};
  EXPECT_THROW(GmmScorer(1, 2, false, mean, weight, cov), Error);
}

TEST(Gmm, InterruptCheckIsCalled) {
  static int calls;
  calls = 0;
  RowMatrix X = blobs({{0, 0}, {5, 5}}, 50, 1.0, 2);
  GmmOptions o;
  o.k = 2;
  o.tol = 0;
  o.max_iter = 7;
  gmm_fit(X, o, [] { ++calls; });
  EXPECT_GE(calls, 7);
}

}  // namespace
}  // namespace custseg::core
