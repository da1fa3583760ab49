// The sequences the HTTP API decodes on (CompletionService::generate). HTTP
// requests share no document, so each request gets a sequence of this pool
// and gives it back when answered; a sequence is kept for later requests,
// whose prompts then reuse its KV cache for the longest shared prefix. Each
// sequence holds a KV cache, so the pool is capped: at the cap, a request
// shares the least used sequence and the model's scheduler queues it until
// the sequence is free.
//
// Threads: not thread-safe; the service's engine thread alone uses it.
// Sequence pointers stay valid for the pool's life.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>

#include "base/status.h"
#include "completion/model.h"

namespace mtpc::lsp {

class TextSequencePool {
 public:
  using Sequence = completion::CompletionModel::Sequence;
  using NewSequence = std::function<Result<std::unique_ptr<Sequence>>()>;

  // At most this many sequences (and KV caches) for the HTTP API.
  static constexpr size_t kDefaultCapacity = 16;

  explicit TextSequencePool(size_t capacity = kDefaultCapacity);

  // A sequence for one more request (its user count goes up by one): the
  // least used one (the oldest of equals), or a new one from `make` when
  // the pool is empty, or when every sequence is in use and the pool is
  // under its capacity. Fails with make's error, the pool unchanged.
  Result<Sequence*> acquire(const NewSequence& make);
  // The request on `sequence` is answered. A sequence not of this pool, or
  // with no user, is left as it is.
  void release(const Sequence* sequence);

  size_t size() const { return entries_.size(); }
  size_t capacity() const { return capacity_; }
  // Requests decoding or queued on `sequence`; 0 for one not of this pool.
  int users(const Sequence* sequence) const;

 private:
  struct Entry {
    std::unique_ptr<Sequence> sequence;
    int users = 0;
  };
  size_t capacity_;
  std::deque<Entry> entries_;  // a deque: entries stay put as it grows
};

}  // namespace mtpc::lsp
