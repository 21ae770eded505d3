// Ward merge trees: a hand-checked tree, planted blobs, cut consistency, duplicate rows, edge sizes.
#include "ward.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "test_util.h"

namespace custseg::core {
namespace {

int distinct(const std::vector<int>& labels) { return int(std::set<int>(labels.begin(), labels.end()).size()); }

// True when a and b partition the rows the same way (labels identical up to renumbering).
bool same_partition(const std::vector<int>& a, const std::vector<int>& b) {
  std::map<int, int> ab, ba;
  for (size_t i = 0; i < a.size(); ++i)
    if (ab.emplace(a[i], b[i]).first->second != b[i] || ba.emplace(b[i], a[i]).first->second != a[i]) return false;
  return true;
}

// Rows 0, 1 on a line, 10 and 11 further on, 30 alone:
//   {0,1} and {10,11} merge at distance sqrt(2*1*1/2) * 1 = 1 (scipy lists the lower rows first);
//   then {0,1} with {10,11}: sqrt(2*2*2/4) * |0.5 - 10.5| = sqrt(2) * 10 (30 is at
//   sqrt(2*2*1/3) * 19.5 = 22.5 from {10,11});
//   then 30 with {0,1,10,11}: sqrt(2*4*1/5) * |30 - 5.5| = sqrt(8/5) * 24.5.
TEST(Ward, HandCheckedTree) {
  RowMatrix X(5, 1);
  X << 0, 1, 10, 11, 30;
  WardTree t = ward_tree(X);
  ASSERT_EQ(t.n, 5);
  EXPECT_EQ(t.children, (std::vector<int>{0, 1, 2, 3, 5, 6, 4, 7}));
  ASSERT_EQ(t.distances.size(), 4u);
  EXPECT_DOUBLE_EQ(t.distances[0], 1.0);
  EXPECT_DOUBLE_EQ(t.distances[1], 1.0);
  EXPECT_NEAR(t.distances[2], std::sqrt(2.0) * 10, 1e-12);
  EXPECT_NEAR(t.distances[3], std::sqrt(8.0 / 5.0) * 24.5, 1e-12);
  // _hc_cut's numbering is the heap's list order: at k = 2 the heap is [-7, -4], at k = 3
  // [-6, -4, -5] (node 6 = {2,3}, node 5 = {0,1}); scikit-learn gives the same labels.
  EXPECT_EQ(ward_cut(t, 1), (std::vector<int>{0, 0, 0, 0, 0}));
  EXPECT_EQ(ward_cut(t, 2), (std::vector<int>{0, 0, 0, 0, 1}));
  EXPECT_EQ(ward_cut(t, 3), (std::vector<int>{2, 2, 0, 0, 1}));
  EXPECT_EQ(distinct(ward_cut(t, 5)), 5);
}

TEST(Ward, PlantedBlobsRecovered) {
  std::vector<int> truth;
  RowMatrix X = testing::blobs({{0, 0, 0}, {20, 0, 0}, {0, 20, 0}, {0, 0, 20}}, 60, 1.0, 7, &truth);
  WardTree t = ward_tree(X);
  EXPECT_TRUE(same_partition(ward_cut(t, 4), truth));
  // The last three merges join the blobs: far above every merge inside one.
  EXPECT_GT(t.distances[t.distances.size() - 3], 10 * t.distances[t.distances.size() - 4]);
}

TEST(Ward, DistancesNonDecreasing) {
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(0, 1);
  RowMatrix X(400, 4);
  for (Eigen::Index i = 0; i < X.rows(); ++i)
    for (Eigen::Index j = 0; j < X.cols(); ++j) X(i, j) = u(gen);
  WardTree t = ward_tree(X);
  ASSERT_EQ(t.distances.size(), 399u);
  EXPECT_TRUE(std::is_sorted(t.distances.begin(), t.distances.end()));
  EXPECT_GT(t.distances.front(), 0.0);
}

// Cut k has k labels 0..k-1, and cut k - 1 is cut k with exactly two of its clusters joined.
void expect_consistent_cuts(const WardTree& t) {
  std::vector<int> finer = ward_cut(t, t.n);
  EXPECT_EQ(distinct(finer), t.n);
  for (int k = t.n - 1; k >= 1; --k) {
    std::vector<int> coarser = ward_cut(t, k);
    ASSERT_EQ(distinct(coarser), k) << "k = " << k;
    EXPECT_EQ(*std::max_element(coarser.begin(), coarser.end()), k - 1);
    // Each finer cluster lies in one coarser cluster; exactly one coarser cluster holds two.
    std::map<int, int> up;
    std::map<int, std::set<int>> down;
    for (size_t i = 0; i < finer.size(); ++i) {
      auto [it, fresh] = up.emplace(finer[i], coarser[i]);
      ASSERT_EQ(it->second, coarser[i]) << "k = " << k;
      down[coarser[i]].insert(finer[i]);
    }
    int joined = 0;
    for (const auto& [c, parts] : down) joined += parts.size() == 2 ? 1 : 0;
    EXPECT_EQ(joined, 1) << "k = " << k;
    finer = std::move(coarser);
  }
}

TEST(Ward, EveryCutConsistent) {
  RowMatrix X = testing::blobs({{0, 0}, {5, 5}, {-5, 5}}, 40, 1.5, 11);
  expect_consistent_cuts(ward_tree(X));
}

TEST(Ward, DuplicateRowsMergeFirstAtZero) {
  // Three distinct rows, each repeated, interleaved.
  RowMatrix X(9, 2);
  X << 1, 2, 5, 5, 1, 2, -3, 0, 5, 5, 1, 2, -3, 0, -3, 0, 5, 5;
  WardTree t = ward_tree(X);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.distances[size_t(i)], 0.0) << i;
  EXPECT_GT(t.distances[6], 0.0);
  // At k = 3 the clusters are the distinct rows.
  std::vector<int> truth{0, 1, 0, 2, 1, 0, 2, 2, 1};
  EXPECT_TRUE(same_partition(ward_cut(t, 3), truth));
  EXPECT_EQ(ward_cut(t, 3), (std::vector<int>{2, 1, 2, 0, 1, 2, 0, 0, 1}));
  expect_consistent_cuts(t);
  // Deterministic, as scipy orders equal distances: the chain order, stably sorted.
  WardTree again = ward_tree(X);
  EXPECT_EQ(again.children, t.children);
  EXPECT_EQ(again.distances, t.distances);
  // scipy.cluster.hierarchy.ward on these rows gives these children, and scikit-learn these labels.
  EXPECT_EQ(t.children, (std::vector<int>{0, 2, 1, 4, 5, 9, 3, 6, 8, 10, 7, 12, 11, 14, 13, 15}));
}

TEST(Ward, AllRowsEqual) {
  RowMatrix X = RowMatrix::Constant(6, 3, 2.5);
  WardTree t = ward_tree(X);
  for (double d : t.distances) EXPECT_EQ(d, 0.0);
  expect_consistent_cuts(t);
}

TEST(Ward, OneAndTwoRows) {
  RowMatrix one(1, 2);
  one << 3, 4;
  WardTree t1 = ward_tree(one);
  EXPECT_EQ(t1.n, 1);
  EXPECT_TRUE(t1.children.empty());
  EXPECT_EQ(ward_cut(t1, 1), std::vector<int>{0});

  RowMatrix two(2, 2);
  two << 0, 0, 3, 4;
  WardTree t2 = ward_tree(two);
  EXPECT_EQ(t2.children, (std::vector<int>{0, 1}));
  ASSERT_EQ(t2.distances.size(), 1u);
  EXPECT_DOUBLE_EQ(t2.distances[0], 5.0);
  EXPECT_EQ(ward_cut(t2, 1), (std::vector<int>{0, 0}));
  EXPECT_EQ(ward_cut(t2, 2), (std::vector<int>{1, 0}));  // _hc_cut's heap order: [-1, -0]
}

TEST(Ward, RejectsBadInput) {
  RowMatrix X(3, 1);
  X << 0, 1, std::nan("");
  EXPECT_THROW(ward_tree(X), Error);
  RowMatrix ok(3, 1);
  ok << 0, 1, 2;
  WardTree t = ward_tree(ok);
  EXPECT_THROW(ward_cut(t, 0), Error);
  EXPECT_THROW(ward_cut(t, 4), Error);
}

TEST(Ward, MemoryGrowsWithRowsAndWidth) {
  EXPECT_GE(ward_memory_bytes(1000, 2), 1000u * 2u * sizeof(double));
  EXPECT_LT(ward_memory_bytes(1000, 2), ward_memory_bytes(1000, 20));
  EXPECT_LT(ward_memory_bytes(50000, 20), size_t(64) << 20);
  EXPECT_EQ(ward_memory_bytes(size_t(-1), 20), size_t(-1));
}

int checks = 0;
void count_check() { ++checks; }

TEST(Ward, PollsForInterrupts) {
  RowMatrix X = testing::blobs({{0, 0}, {9, 9}}, 600, 1.0, 5);
  checks = 0;
  ward_tree(X, &count_check);
  EXPECT_GT(checks, 1);
}

}  // namespace
}  // namespace custseg::core
