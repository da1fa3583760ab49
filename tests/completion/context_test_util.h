// Shared by the context tests: sources written inline with a `^` cursor
// marker, and feeding a completion to the stop rule token by token.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "completion/context.h"

namespace mtpc::completion::testing {

struct Marked {
  std::string text;
  size_t cursor = 0;
};

// Removes the first '^' and returns the text and the cursor's byte offset.
inline Marked marked(std::string source) {
  Marked m;
  size_t pos = source.find('^');
  EXPECT_NE(pos, std::string::npos) << "no ^ cursor marker in the test source";
  if (pos == std::string::npos) pos = source.size();
  else source.erase(pos, 1);
  m.text = std::move(source);
  m.cursor = pos;
  return m;
}

// What the decoding loop does: calls the rule after every token (here
// chunks of 1 to 4 bytes, as a byte-level model with speculation accepts
// them) and keeps the bytes it returns. Without a stop, the whole text.
inline std::string run_stop_rule(const StopRule& rule, const std::string& completion) {
  static const size_t kChunks[] = {1, 3, 2, 4};
  size_t pos = 0;
  for (size_t i = 0; pos < completion.size(); ++i) {
    pos = std::min(completion.size(), pos + kChunks[i % 4]);
    if (std::optional<size_t> keep = rule(std::string_view(completion).substr(0, pos))) {
      EXPECT_LE(*keep, pos);
      return completion.substr(0, *keep);
    }
  }
  return completion;
}

// One completion at the marker: the plan, the text the stop rule keeps of
// `model_output`, and the finalized text.
struct Outcome {
  CompletionPlan plan;
  std::string stopped;
  std::string final_text;
};

inline Outcome complete_at(const Document& doc, size_t cursor, const std::string& model_output,
                           const ContextOptions& options = {},
                           const std::vector<const Document*>& others = {}) {
  Outcome o;
  o.plan = plan_completion(doc, cursor, others, options);
  StopRule rule(doc, cursor, o.plan, options);
  o.stopped = run_stop_rule(rule, model_output);
  o.final_text = finalize_completion(doc, cursor, o.plan, o.stopped);
  return o;
}

// The document text with `inserted` at `cursor`: what the user sees.
inline std::string accepted(const Marked& m, const std::string& inserted) {
  return m.text.substr(0, m.cursor) + inserted + m.text.substr(m.cursor);
}

}  // namespace mtpc::completion::testing
