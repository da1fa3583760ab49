// The decoding loop behind Engine::generate and Engine::generate_batch: one
// or several sequences, each with its own drafter (drafter.h), advanced in
// shared forward passes. Included by inference/ sources only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "inference/drafter.h"
#include "inference/session_state.h"
#include "inference/stop_rules.h"

namespace mtpc {

// One sequence being decoded: its session and position in it, the pending
// token, stop rules, result so far and streaming position. The request
// stays the caller's and must outlive the sequence. Not movable: the stop
// rules refer to the request.
struct Sequence {
  Sequence(Engine::Impl& engine, Session::State& session, const GenerationRequest& request,
           Engine::Impl::Prepared prepared);
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // Emits tokens in order until a stop rule fires, streaming what settled;
  // true when stopped.
  bool emit(const int32_t* tokens, size_t count);
  // Deadline and cancellation, checked between forward passes; true (and
  // the rules stopped with the reason) when decoding must end.
  bool interrupted();
  // Streams whatever was held back for stop strings: the sequence ended.
  void flush_stream();
  // The outcome: the error that ended the sequence, or its result.
  Result<GenerationResult> take_result();

  Session::State& session;
  const GenerationRequest& request;
  std::vector<int32_t> prompt;
  StopRules rules;
  GenerationResult result;
  Drafter drafter;
  size_t streamed = 0;  // bytes of rules.text() already passed to on_chunk

  bool running = false;
  Status error;
  int64_t n = 0;             // tokens in the session (rows 0..n-1)
  int32_t t = -1;            // the pending token, fed at position n next pass
  std::vector<int32_t> fed;  // this pass's tokens: t and the drafts that fit
  std::vector<int32_t> history;  // context drafting's view: session tokens, then t
  // Wall time of the draft() call that made the current drafts, when the
  // sequence decoded alone: part of the next step's cost, not of the step
  // that drafted them (whose own drafts may have been fewer or none).
  double draft_ms = 0;
  std::chrono::steady_clock::time_point decode_start;
};

// How the model is called. kPacked: every sequence's rows in one packed
// call (model/network/packed.h). kSingle: exactly one sequence, through the
// plain model calls (Engine::Impl::feed / head), as generate() does: no
// packing bookkeeping (positions, segments) per pass.
enum class ForwardCalls { kSingle, kPacked };

// Continuous batching's loop: sequences are added at any time (prefilled at
// the next step) and leave when they stop. kSingle: at most one sequence at
// a time (the caller's duty). step() throws on device errors; then
// take_all() hands every sequence back for the caller to reset.
class StepDecoder {
 public:
  StepDecoder(Engine::Impl& engine, ForwardCalls calls);
  ~StepDecoder();
  StepDecoder(const StepDecoder&) = delete;
  StepDecoder& operator=(const StepDecoder&) = delete;
  void add(Sequence* s);
  // Prefills the added sequences, then one pass over every running one.
  // Returns the sequences that ended in it (stopped or failed).
  std::vector<Sequence*> step();
  std::vector<Sequence*> take_all();
  size_t size() const;  // added and not yet ended

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Prefills the prompts and decodes every sequence until it stops. Throws on
// device errors (the caller resets the sessions); a sequence's own failure
// (NaN/Inf logits) ends only that sequence, its session reset to 0.
void decode(Engine::Impl& engine, const std::vector<Sequence*>& sequences, ForwardCalls calls);

}  // namespace mtpc
