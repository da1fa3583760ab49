#include "inference/sampling.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mtpc {
namespace {

// Pearson chi-square statistic of observed counts against probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& p, int n) {
  double x2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "outcome " << i << " has probability 0";
      continue;
    }
    const double expected = p[i] * n;
    x2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return x2;
}

TEST(SpeculativeSampling, ReproducesTheTargetDistribution) {
  // Five outcomes; drafts from a deliberately different q.
  const std::vector<std::pair<std::vector<double>, std::vector<double>>> cases = {
      {{0.5, 0.2, 0.15, 0.1, 0.05}, {0.1, 0.1, 0.2, 0.3, 0.3}},
      {{0.0, 0.7, 0.1, 0.1, 0.1}, {0.6, 0.1, 0.1, 0.1, 0.1}},
      {{0.2, 0.2, 0.2, 0.2, 0.2}, {0.2, 0.2, 0.2, 0.2, 0.2}},
  };
  // Critical value of chi-square with 4 degrees of freedom at p = 0.001.
  const double kCritical = 18.47;
  Rng rng(2024);
  for (const auto& [p, q] : cases) {
    const int n = 20000;
    std::vector<int> counts(p.size(), 0);
    int accepted = 0;
    for (int i = 0; i < n; ++i) {
      int draft = sample_index(q, rng);
      auto out = speculative_accept(p, q, draft, rng);
      accepted += out.accepted;
      ++counts[out.token];
    }
    const double x2 = chi_square(counts, p, n);
    std::printf("chi-square %.2f (critical %.2f), acceptance %.3f\n", x2, kCritical,
                static_cast<double>(accepted) / n);
    EXPECT_LT(x2, kCritical);
    // Expected acceptance is sum_x min(p(x), q(x)).
    double expected_accept = 0;
    for (size_t i = 0; i < p.size(); ++i) expected_accept += std::min(p[i], q[i]);
    EXPECT_NEAR(static_cast<double>(accepted) / n, expected_accept, 0.02);
  }
}

TEST(SpeculativeSampling, PlainDraftsFromTheWrongDistributionWouldFailTheSameTest) {
  // The test above can fail: accepting every draft gives q, which it rejects.
  std::vector<double> p = {0.5, 0.2, 0.15, 0.1, 0.05}, q = {0.1, 0.1, 0.2, 0.3, 0.3};
  Rng rng(7);
  std::vector<int> counts(5, 0);
  for (int i = 0; i < 20000; ++i) ++counts[sample_index(q, rng)];
  EXPECT_GT(chi_square(counts, p, 20000), 18.47);
}

TEST(SamplingDistribution, TemperatureTopKAndTopP) {
  const float logits[4] = {2.0f, 1.0f, 0.0f, -1.0f};
  SamplingParams sp;
  auto p = sampling_distribution(logits, 4, sp);
  double sum = 0;
  for (double x : p) sum += x;
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_NEAR(p[0] / p[1], std::exp(1.0), 1e-9);
  sp.temperature = 0.5;
  p = sampling_distribution(logits, 4, sp);
  EXPECT_NEAR(p[0] / p[1], std::exp(2.0), 1e-9);
  sp.temperature = 1.0;
  sp.top_k = 2;
  p = sampling_distribution(logits, 4, sp);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_EQ(p[3], 0.0);
  EXPECT_NEAR(p[0] + p[1], 1.0, 1e-12);
  sp.top_k = 0;
  sp.top_p = 0.5;  // the top token alone holds 0.64 of the mass
  p = sampling_distribution(logits, 4, sp);
  EXPECT_EQ(p[0], 1.0);
}

}  // namespace
}  // namespace mtpc
