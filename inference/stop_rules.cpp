#include "inference/stop_rules.h"

#include <algorithm>

namespace mtpc {

StopRules::StopRules(const GenerationRequest& request, const Tokenizer& tokenizer)
    : request_(request), tokenizer_(tokenizer), stop_ids_(tokenizer.stop_ids()) {
  for (const auto& s : request.stop_strings) longest_stop_ = std::max(longest_stop_, s.size());
  if (request.max_new_tokens <= 0) stop(StopReason::kMaxTokens);
}

bool StopRules::push(int32_t token) {
  if (stopped_) return true;
  if (request_.stop_at_eos && std::find(stop_ids_.begin(), stop_ids_.end(), token) != stop_ids_.end()) {
    stop(StopReason::kEos);
    return true;
  }
  tokens_.push_back(token);
  const size_t before = text_.size();
  if (auto piece = tokenizer_.decode({token}); piece.ok()) text_ += *piece;
  // Only a stop string that ends in the new bytes can be new.
  if (longest_stop_ > 0 && text_.size() > before) {
    const size_t from = before >= longest_stop_ ? before - longest_stop_ + 1 : 0;
    size_t cut = std::string::npos;
    for (const auto& s : request_.stop_strings) {
      if (s.empty()) continue;
      size_t at = text_.find(s, from);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      text_.resize(cut);
      stop(StopReason::kStopString);
      return true;
    }
  }
  if (request_.stop_predicate) {
    if (auto keep = request_.stop_predicate(text_)) {
      text_.resize(std::min(*keep, text_.size()));
      stop(StopReason::kPredicate);
      return true;
    }
  }
  if (static_cast<int>(tokens_.size()) >= request_.max_new_tokens) {
    stop(StopReason::kMaxTokens);
    return true;
  }
  return false;
}

size_t StopRules::settled_length() const {
  if (stopped_ || longest_stop_ == 0) return text_.size();
  return text_.size() >= longest_stop_ - 1 ? text_.size() - (longest_stop_ - 1) : 0;
}

}  // namespace mtpc
