#include "inference/context_lookup.h"

#include <algorithm>

namespace mtpc {

ContextMatch find_context_match(const int32_t* tokens, int64_t n, int min_match, int max_match, int max_draft,
                                int64_t window) {
  ContextMatch out;
  if (n < 2 || min_match < 1 || max_match < min_match || max_draft < 1) return out;
  const int32_t last = tokens[n - 1];
  const int64_t lowest = std::max<int64_t>(0, n - 1 - window);
  int best = 0;
  int64_t best_end = -1;
  // Earlier ends from the most recent back: a strictly longer match wins,
  // so ties keep the most recent.
  for (int64_t e = n - 2; e >= lowest; --e) {
    if (tokens[e] != last) continue;
    int m = 1;
    while (m < max_match && e - m >= 0 && tokens[e - m] == tokens[n - 1 - m]) ++m;
    if (m > best) {
      best = m;
      best_end = e;
      if (m == max_match) break;
    }
  }
  if (best < min_match) return out;
  out.length = best;
  const int64_t from = best_end + 1, to = std::min<int64_t>(n, from + max_draft);
  out.continuation.assign(tokens + from, tokens + to);
  return out;
}

}  // namespace mtpc
