#include "eval/passk.h"

#include <algorithm>
#include <limits>

namespace mtpc::eval {

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n) return std::numeric_limits<double>::quiet_NaN();
  if (n - c < k) return 1.0;  // every draw of k contains a passing sample
  double all_fail = 1.0;      // C(n-c, k) / C(n, k)
  for (int64_t i = n - c + 1; i <= n; ++i) all_fail *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - all_fail;
}

std::vector<PassAtK> mean_pass_at_k(const std::vector<TaskCounts>& tasks, const std::vector<int>& ks) {
  std::vector<PassAtK> out;
  if (tasks.empty()) return out;
  int64_t min_n = tasks.front().n;
  for (const TaskCounts& t : tasks) min_n = std::min(min_n, t.n);
  for (int k : ks) {
    if (k < 1 || k > min_n) continue;
    double sum = 0;
    for (const TaskCounts& t : tasks) sum += pass_at_k(t.n, t.c, k);
    out.push_back({k, sum / static_cast<double>(tasks.size())});
  }
  return out;
}

}  // namespace mtpc::eval
