// pass@k against values computed by hand from 1 - C(n-c, k) / C(n, k).
#include "eval/passk.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mtpc::eval {
namespace {

TEST(PassAtK, HandComputedValues) {
  EXPECT_DOUBLE_EQ(pass_at_k(1, 1, 1), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(1, 0, 1), 0.0);
  // k = 1 is the fraction passed.
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 1), 0.4);
  EXPECT_NEAR(pass_at_k(200, 37, 1), 37.0 / 200.0, 1e-12);
  // n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10.
  EXPECT_NEAR(pass_at_k(5, 2, 2), 0.7, 1e-12);
  // n=10, c=3, k=5: 1 - C(7,5)/C(10,5) = 1 - 21/252.
  EXPECT_NEAR(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12);
  // n=4, c=1, k=3: 1 - C(3,3)/C(4,3) = 1 - 1/4.
  EXPECT_NEAR(pass_at_k(4, 1, 3), 0.75, 1e-12);
  // n - c < k: every draw holds a passing sample.
  EXPECT_DOUBLE_EQ(pass_at_k(10, 8, 3), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(10, 10, 10), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(10, 0, 10), 0.0);
}

TEST(PassAtK, StableForLargeN) {
  // Against the log-binomial form: n = 1000, c = 13, k = 100.
  auto log_choose = [](double n, double k) {
    return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
  };
  double expected = 1.0 - std::exp(log_choose(987, 100) - log_choose(1000, 100));
  EXPECT_NEAR(pass_at_k(1000, 13, 100), expected, 1e-9);
  EXPECT_GT(pass_at_k(1000, 13, 100), 0.7);
  EXPECT_LT(pass_at_k(1000, 13, 100), 0.8);
}

TEST(PassAtK, InvalidArgumentsAreNaN) {
  EXPECT_TRUE(std::isnan(pass_at_k(0, 0, 1)));
  EXPECT_TRUE(std::isnan(pass_at_k(5, 6, 1)));
  EXPECT_TRUE(std::isnan(pass_at_k(5, 1, 6)));
  EXPECT_TRUE(std::isnan(pass_at_k(5, 1, 0)));
}

TEST(PassAtK, MeanOverTasksOnlyForSupportedK) {
  // Task a: n=10 c=3; task b: n=12 c=0; task c: n=10 c=10.
  std::vector<TaskCounts> tasks = {{"a", 10, 3}, {"b", 12, 0}, {"c", 10, 10}};
  std::vector<PassAtK> got = mean_pass_at_k(tasks, {1, 5, 10, 100});
  ASSERT_EQ(got.size(), 3u);  // k = 100 needs 100 samples per task
  EXPECT_EQ(got[0].k, 1);
  EXPECT_NEAR(got[0].value, (0.3 + 0.0 + 1.0) / 3, 1e-12);
  EXPECT_EQ(got[1].k, 5);
  EXPECT_NEAR(got[1].value, ((1.0 - 21.0 / 252.0) + 0.0 + 1.0) / 3, 1e-12);
  EXPECT_EQ(got[2].k, 10);
  EXPECT_NEAR(got[2].value, (1.0 + 0.0 + 1.0) / 3, 1e-12);

  // Greedy: one sample per task, only pass@1.
  std::vector<PassAtK> greedy = mean_pass_at_k({{"a", 1, 1}, {"b", 1, 0}});
  ASSERT_EQ(greedy.size(), 1u);
  EXPECT_EQ(greedy[0].k, 1);
  EXPECT_DOUBLE_EQ(greedy[0].value, 0.5);
  EXPECT_TRUE(mean_pass_at_k({}).empty());
}

}  // namespace
}  // namespace mtpc::eval
