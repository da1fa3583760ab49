// Stop rules applied token by token. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/engine.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {

class StopRules {
 public:
  StopRules(const GenerationRequest& request, const Tokenizer& tokenizer);

  // Appends one emitted token; true when decoding must stop (reason() says
  // why; the token that completes a stop string or predicate is kept in
  // tokens(), EOS is not).
  bool push(int32_t token);
  bool stopped() const { return stopped_; }
  void stop(StopReason reason) {
    stopped_ = true;
    reason_ = reason;
  }
  StopReason reason() const { return reason_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::string& text() const { return text_; }
  // Length of text() that no stop string can still cut: safe to stream.
  size_t settled_length() const;

 private:
  const GenerationRequest& request_;
  const Tokenizer& tokenizer_;
  std::vector<int32_t> stop_ids_;  // tokenizer_.stop_ids(), asked once
  std::vector<int32_t> tokens_;
  std::string text_;
  size_t longest_stop_ = 0;
  bool stopped_ = false;
  StopReason reason_ = StopReason::kMaxTokens;
};

}  // namespace mtpc
