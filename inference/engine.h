// The decoding engine: loads a model, keeps per-sequence sessions, decodes.
// Torch-free header: lsp/ and eval/ include it without LibTorch.
//
// Decoders (DecodeMode):
//   kGreedy       next-token greedy, one token per forward pass: the reference.
//   kSpeculative  self-speculative greedy: heads 2..k+1 draft, head 1
//                 verifies in the same pass; output identical to kGreedy.
//   kSampling     temperature / top-k / top-p sampling; with draft_length > 0
//                 speculative sampling, which keeps head 1's distribution.
// Stop rules are applied token by token in emission order, so every decoder
// stops at exactly the same token for the same rules.
//
// Batching: generate_batch() decodes several sessions together, one shared
// forward pass per step over every sequence still running (a packed batch:
// each sequence keeps its own KV cache, positions, draft length and accept
// counts). Each sequence keeps its own stop rules, deadline, cancellation,
// streaming and stats, and drops out of the batch when it stops; its tokens
// are the ones generate() would give it alone (greedy and speculative greedy
// exactly; sampling with the same seed draws the same way too).
//
// Threads: an Engine may be shared; a Session is used by one thread at a
// time (a second concurrent generate() on it is refused with an error, the
// session untouched). A CancellationToken may be set from any thread; the
// loop checks it, and the deadline, between forward passes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mtpc {

class Tokenizer;
struct ModelConfig;

enum class DecodeMode { kGreedy, kSpeculative, kSampling };
inline const char* decode_mode_name(DecodeMode mode) {
  switch (mode) {
    case DecodeMode::kGreedy: return "greedy";
    case DecodeMode::kSpeculative: return "speculative";
    case DecodeMode::kSampling: return "sampling";
  }
  return "?";
}

enum class StopReason {
  kMaxTokens,     // max_new_tokens emitted (also for max_new_tokens = 0)
  kEos,           // the model emitted EOS (not included in the output)
  kStopString,    // output cut before the first stop string
  kPredicate,     // the caller's predicate asked to stop
  kDeadline,      // the deadline passed; output is what was decoded by then
  kCancelled,     // the cancellation token was set
  kContextFull,   // the sequence reached the model's max_seq_len
};
// The one spelling of each stop reason (CLI, JSON, LSP statistics). Inline so
// that torch-free code (the LSP fuzzer) has it without linking the engine.
inline const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kEos: return "eos";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kPredicate: return "predicate";
    case StopReason::kDeadline: return "deadline";
    case StopReason::kCancelled: return "cancelled";
    case StopReason::kContextFull: return "context_full";
  }
  return "?";
}

class CancellationToken {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct SamplingParams {
  double temperature = 1.0;  // > 0
  int top_k = 0;             // 0: no top-k cut
  double top_p = 1.0;        // (0, 1]
  uint64_t seed = 0;
};

// Positions max_prompt_tokens keeps free for the drafts of the last pass.
constexpr int kPromptDraftRoom = 8;

struct GenerationRequest {
  std::vector<int32_t> prompt;  // empty: decoding starts from BOS (EOS for a tokenizer without one)
  int max_new_tokens = 128;
  DecodeMode mode = DecodeMode::kSpeculative;
  // Drafted tokens per pass (<= n_future - 1). 0 means the largest; for
  // kSampling 0 means plain sampling without drafts.
  int draft_length = 0;
  bool adaptive_draft = true;   // shrink/grow k with the observed acceptance
  // With adaptive_draft and the engine's measured step costs
  // (EngineOptions::cost_aware_drafts), greedy speculative decoding chooses
  // k, 0 included, for the most tokens per unit of time (sampling never
  // does: its draws depend on k). false: the acceptance-only rule (k >= 1).
  bool cost_aware_draft = true;
  // Greedy speculative with cost-aware drafting: a step may draft from the
  // context instead (the tokens that followed an earlier occurrence of the
  // last tokens: inference/context_lookup.h) when that promises more
  // tokens per unit of time; outputs stay identical. Also drafts for a
  // model without draft heads. Needs EngineOptions::context_drafts.
  bool context_draft = true;
  SamplingParams sampling;
  bool stop_at_eos = true;  // stop at any of the tokenizer's stop_ids() (EOS, end of infill, ...)
  std::vector<std::string> stop_strings;
  // Called with the text decoded so far after each token; returning a length
  // stops decoding and keeps that many bytes of the text (the language
  // server's end-of-block rule). nullopt continues.
  std::function<std::optional<size_t>(std::string_view text)> stop_predicate;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::shared_ptr<const CancellationToken> cancel;
  // Streaming: called once per accepted chunk with the chunk's text.
  std::function<void(std::string_view chunk)> on_chunk;
};

struct GenerationStats {
  int64_t forward_passes = 0;      // model passes, the prompt's (prefill) included
  int64_t prefill_tokens = 0;      // prompt tokens computed (reused ones excluded)
  int64_t reused_tokens = 0;       // prompt tokens served from the session cache
  int64_t tokens = 0;              // tokens emitted
  // Head i+1's drafts: proposed while all earlier drafts in the pass were
  // accepted, and accepted; acceptance = accepted / proposed (conditional).
  std::vector<int64_t> proposed, accepted;
  // Drafts taken from the context (GenerationRequest::context_draft) and
  // fed, and those of them accepted; not in proposed/accepted.
  int64_t context_proposed = 0, context_accepted = 0;
  double prefill_ms = 0, decode_ms = 0;
  double tokens_per_forward() const {
    return forward_passes == 0 ? 0.0 : static_cast<double>(tokens) / forward_passes;
  }
  // accepted[i] / proposed[i]; nullopt for a head that proposed nothing. The
  // one place this ratio is computed (JSON: inference/stats_json.h).
  std::vector<std::optional<double>> acceptance_per_head() const {
    std::vector<std::optional<double>> out;
    for (size_t i = 0; i < proposed.size(); ++i) {
      if (proposed[i] == 0 || i >= accepted.size()) out.emplace_back();
      else out.emplace_back(static_cast<double>(accepted[i]) / static_cast<double>(proposed[i]));
    }
    return out;
  }
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // emitted tokens, after stop rules
  std::string text;             // their text, cut at a stop string / predicate
  StopReason reason = StopReason::kMaxTokens;
  bool prompt_truncated = false;  // the prompt was cut from the left to fit
  GenerationStats stats;
};

class Engine;

// A sequence's tokens and KV cache, kept between requests so that a prompt
// sharing a prefix with the previous one recomputes only the rest.
class Session {
 public:
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  int64_t cached_tokens() const;  // tokens whose KV rows are valid
  struct State;  // opaque: inference/session_state.h

 private:
  friend class Engine;
  friend class BatchDecoder;
  friend struct SessionAccess;
  explicit Session(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

struct EngineOptions {
  std::string device = "cpu";  // cpu | cuda
  std::string dtype = "fp32";  // fp32 | bf16
  // Draft acceptance below which adaptive drafting stops drafting further:
  // k is the longest run of heads whose cumulative acceptance estimate is
  // at least this.
  double adaptive_min_acceptance = 0.3;
  // Longest context a session holds (caps the model's max_seq_len): each
  // session preallocates its KV cache for this many positions, and a
  // pretrained model's 32k-128k positions would cost gigabytes per session.
  // 0: the model's own max_seq_len.
  int max_context = 4096;
  // Adaptive drafting weighs acceptance against cost: at load the engine
  // times a speculative step with k drafts for every k (measure_step_costs,
  // a few passes per k), and the drafter picks the k, 0 included, with the
  // most expected tokens per unit of time. false: no timing at load, and
  // adaptive k follows adaptive_min_acceptance alone (at least one draft).
  bool cost_aware_drafts = true;
  // With cost_aware_drafts: also time verifying passes of up to
  // kContextMaxDraft + 1 rows at load, so that requests may draft from the
  // context (GenerationRequest::context_draft). false: heads only.
  bool context_drafts = true;
  // MLP draft heads (2..n) with int8 weights, a scale per row, on a CPU in
  // fp32 (model/network/head_stack.h): a quarter of the bytes to read per
  // draft. Drafts only propose; head 1, always exact, decides, so outputs
  // are the same either way. false, or MTPC_DRAFT_HEADS=exact in the
  // environment: the heads' own fp32 weights.
  bool int8_draft_heads = true;
};

class Engine {
 public:
  // Loads a model directory (load_model: mtpc or Hugging Face). The
  // tokenizer is the directory's own when its loader read one, else
  // make_tokenizer(config.tokenizer); a model vocabulary padded above the
  // tokenizer's size is narrowed to it (limit_output_vocab), so padded ids
  // are never produced.
  static Result<std::shared_ptr<Engine>> load(const std::string& model_dir,
                                              const EngineOptions& options = {});
  ~Engine();

  const ModelConfig& config() const;
  const Tokenizer& tokenizer() const;
  // The longest prompt generate() keeps whole for a request of
  // `max_new_tokens`: it keeps room for the answer and the drafts of the
  // last pass (kPromptDraftRoom, whatever the model's heads, so that heads
  // never change where a prompt is cut), at most half the context, and
  // cuts longer prompts from the left. Prompt builders size their prompts
  // to this.
  int max_prompt_tokens(int max_new_tokens) const;
  // The window the trunk was trained on, from the checkpoint's provenance
  // (checkpoint.h's trained_window); 0 when the checkpoint does not say.
  // Positions past it work but are ones the model never saw.
  int trained_window() const;
  // How the MLP draft heads keep their weights: "int8", "exact", or "" for
  // a model without MLP heads.
  std::string draft_heads() const;
  // A session with its KV cache preallocated for max_seq_len tokens.
  Result<Session> new_session() const;
  // Decodes one request on `session`. Errors: bad prompt ids, bad options,
  // session busy, NaN/Inf logits, device errors. Never throws.
  Result<GenerationResult> generate(Session& session, const GenerationRequest& request);
  // Decodes requests[i] on *sessions[i], all in shared forward passes. The
  // outer error covers the batch as a whole (sizes differ, a device error in
  // a shared pass: then every session of the batch is reset); an inner
  // error is one sequence's (bad request, busy or repeated session, NaN
  // logits), and the other sequences still run. stats.prefill_ms is the
  // shared prefill pass's time; decode_ms runs from its end until the
  // sequence stopped. Never throws.
  Result<std::vector<Result<GenerationResult>>> generate_batch(
      const std::vector<Session*>& sessions, const std::vector<GenerationRequest>& requests);
  // The cost of one verifying pass (trunk and next-token head) over
  // 1..max_rows rows after `context` cached tokens, each the median of
  // `repeats` timed passes (after one untimed pass per row count), in
  // milliseconds: element r-1 is the pass of r rows. What a draft of k tokens
  // costs is the (k+1)-row pass against the 1-row pass
  // (inference/pass_cost.cpp). Errors: context + max_rows beyond
  // max_seq_len, device errors. Never throws.
  Result<std::vector<double>> measure_pass_costs(int max_rows, int context, int repeats) const;
  // Median milliseconds of a whole speculative step with k drafts, for
  // k = 0..max_draft, on `context` cached tokens: the trunk and head 1 over
  // k+1 rows, then draft heads 2..k+1 and their logits. Errors as above.
  Result<std::vector<double>> measure_step_costs(int max_draft, int context, int repeats) const;
  // What the drafter weighs (cost_aware_drafts): a step with k drafts
  // relative to one without, k = 0..n_future-1 (so [0] is 1), as
  // calibrated at load and then learned from the steps decoded since;
  // empty when not measured (one head, the option off, or timing failed).
  std::vector<double> draft_step_costs() const;
  // The same for steps with k drafts from the context, k = 0..
  // kContextMaxDraft; empty when not measured (context_drafts off).
  std::vector<double> context_step_costs() const;
  // Waits until queued device work is done (CUDA kernels run asynchronously);
  // nothing to wait for on CPU. Benchmarks call it before reading a clock.
  void synchronize() const;

  struct Impl;

 private:
  friend class BatchDecoder;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Continuous batching over one engine: sequences join between forward
// passes and leave when they stop, so a request need not wait for a batch
// to finish. Each sequence decodes exactly what generate() alone gives it
// (the same steps: prefill, first token and drafts, then verifying passes),
// only its passes are shared with whichever sequences run beside it.
// Used by one thread (the scheduler's engine thread: inference/scheduler.h).
class BatchDecoder {
 public:
  // packed = false: one sequence at a time through generate()'s plain
  // model calls (join refuses a second while one runs): the no-batching
  // baseline.
  explicit BatchDecoder(std::shared_ptr<Engine> engine, bool packed = true);
  ~BatchDecoder();
  BatchDecoder(const BatchDecoder&) = delete;
  BatchDecoder& operator=(const BatchDecoder&) = delete;

  // Adds `request` (copied) on `session`, prefilled at the next step(). The
  // session must stay alive until the sequence leaves. Returns the
  // sequence's id. Errors (nothing joined): the session is busy, the
  // request is invalid (Engine::generate's checks), or !packed and a
  // sequence is running.
  Result<uint64_t> join(Session& session, const GenerationRequest& request);
  struct Left {
    uint64_t id;
    Result<GenerationResult> result;
  };
  // Prefills the sequences that joined, then one verifying pass over every
  // running one; returns the sequences that stopped (or failed). A device
  // error ends every sequence with that error, its session reset. Never
  // throws.
  std::vector<Left> step();
  size_t size() const;  // joined and not yet left
  bool packed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtpc
