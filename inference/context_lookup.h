// Drafts from the context (prompt lookup): when the last tokens of a
// sequence already occurred earlier in it — in the prompt (the file, the
// suffix of a fill-in-the-middle prompt) or in what was generated — the
// tokens that followed that occurrence are a draft of what comes next.
// Code repeats itself (identifiers, argument lists, similar lines,
// indentation), so such drafts are often right, and they cost no head: a
// step with L context drafts is only a verifying pass of L + 1 rows.
// Head 1 verifies them like head drafts, so outputs stay identical to
// greedy decoding. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace mtpc {

// Context drafting's fixed rules.
constexpr int kContextMinMatch = 2;    // the shortest suffix trusted as a match
constexpr int kContextMaxMatch = 16;   // longer suffixes rank no higher
constexpr int kContextMaxDraft = 8;    // drafts per step at most
constexpr int64_t kContextWindow = 8192;  // tokens searched back from the end

struct ContextMatch {
  int length = 0;                      // matched suffix length (0: no match)
  std::vector<int32_t> continuation;   // the tokens after the earlier occurrence
};

// The longest suffix of tokens[0, n) of at least `min_match` tokens (counted
// up to `max_match`) that also ends at an earlier position, within the last
// `window` tokens; among equally long ones the most recent. Its
// continuation holds up to `max_draft` of the tokens after that earlier
// occurrence (never past n). No match: length 0, no continuation.
ContextMatch find_context_match(const int32_t* tokens, int64_t n, int min_match = kContextMinMatch,
                                int max_match = kContextMaxMatch, int max_draft = kContextMaxDraft,
                                int64_t window = kContextWindow);

}  // namespace mtpc
