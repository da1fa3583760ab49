// pass@k: the unbiased estimator of Chen et al. 2021 ("Evaluating Large
// Language Models Trained on Code", section 2.1).
//
// For one task with n samples of which c pass, the probability that at least
// one of k samples drawn without replacement passes is
//     pass@k = 1 - C(n - c, k) / C(n, k)
// computed as the product 1 - prod_{i = n-c+1}^{n} (1 - k / i), which never
// forms the huge binomials (openai/human-eval computes it the same way).
// The benchmark score is the mean over tasks.
//
// Pure functions; thread-safe; never throw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mtpc::eval {

// Requires 0 <= c <= n and 1 <= k <= n; returns NaN otherwise.
double pass_at_k(int64_t n, int64_t c, int64_t k);

struct TaskCounts {
  std::string task_id;
  int64_t n = 0;  // samples scored
  int64_t c = 0;  // samples passed
};

struct PassAtK {
  int k = 0;
  double value = 0;  // mean over tasks, in [0, 1]
};

// The default ks reported, as in the Codex paper.
inline const std::vector<int> kDefaultKs = {1, 10, 100};

// Mean pass@k for each k in `ks` (ascending) such that every task has at
// least k samples; ks that some task cannot support are left out, since a
// mean over only the tasks with enough samples would not be pass@k of the
// benchmark. Empty if `tasks` is empty.
std::vector<PassAtK> mean_pass_at_k(const std::vector<TaskCounts>& tasks,
                                    const std::vector<int>& ks = kDefaultKs);

}  // namespace mtpc::eval
