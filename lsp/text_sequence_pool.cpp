#include "lsp/text_sequence_pool.h"

#include <algorithm>

namespace mtpc::lsp {

TextSequencePool::TextSequencePool(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

Result<TextSequencePool::Sequence*> TextSequencePool::acquire(const NewSequence& make) {
  Entry* chosen = nullptr;
  for (Entry& e : entries_)
    if (!chosen || e.users < chosen->users) chosen = &e;
  if (!chosen || (chosen->users > 0 && entries_.size() < capacity_)) {
    Result<std::unique_ptr<Sequence>> made = make();
    if (!made.ok()) return made.status();
    if (!made.value()) return Status::Error("no sequence was made");
    entries_.push_back({std::move(made.value()), 0});
    chosen = &entries_.back();
  }
  ++chosen->users;
  return chosen->sequence.get();
}

void TextSequencePool::release(const Sequence* sequence) {
  for (Entry& e : entries_)
    if (e.sequence.get() == sequence && e.users > 0) --e.users;
}

int TextSequencePool::users(const Sequence* sequence) const {
  for (const Entry& e : entries_)
    if (e.sequence.get() == sequence) return e.users;
  return 0;
}

}  // namespace mtpc::lsp
