// Plain text generation through the completion core, for clients that send
// a prompt rather than a document and a cursor (the HTTP API's
// /v1/completions and /infill). The prompt is laid out in the model's
// fill-in-the-middle template exactly as the completer lays out an editor's
// (Completer::prompt_ids), so HTTP and LSP share one prompt builder.
//
// Threads: like the Completer, used by the thread that owns the model.
// Never throws: failures come back as a TextGeneration with an outcome.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "completion/model.h"
#include "inference/engine.h"

namespace mtpc::completion {

struct TextRequest {
  std::string prefix;
  // Set: fill-in-the-middle between prefix and suffix (refused as invalid
  // input when the model has no FIM template). Unset: continue the prefix.
  std::optional<std::string> suffix;
  int max_tokens = 16;
  double temperature = 0;  // 0: greedy, decoded speculatively
  double top_p = 1.0;      // (0, 1]; sampling only
  uint64_t seed = 0;       // sampling only
  std::vector<std::string> stop;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::shared_ptr<const CancellationToken> cancel;  // may be null
  // Streaming: each accepted chunk of text as the engine emits it. The
  // chunks concatenate to the final text.
  std::function<void(std::string_view chunk)> on_chunk;
};

struct TextGeneration {
  // kBusy: the scheduler did not start it (deadline, full queue, draining).
  enum class Outcome { kOk, kCancelled, kInvalidInput, kFailed, kBusy };
  Outcome outcome = Outcome::kOk;
  std::string error;
  std::string text;
  std::string stop_reason;  // inference's stop_reason_name
  int prompt_tokens = 0;
  bool prompt_truncated = false;
  std::optional<GenerationStats> stats;
  bool ok() const { return outcome == Outcome::kOk; }
};

// The prompt ids: the model's begin tokens, then prefix (and suffix in the
// FIM layout when `suffix` is set). nullopt when a suffix is given and the
// model has no FIM template.
std::optional<std::vector<int32_t>> text_prompt_ids(const Tokenizer& tokenizer, const std::string& prefix,
                                                    const std::optional<std::string>& suffix);

// Validates `request` (max_tokens >= 0, temperature >= 0, top_p in (0, 1]),
// builds the prompt and decodes on `sequence` (its KV cache is reused for a
// shared prefix). The engine holds streamed text back while it could still
// be the start of a stop string, so the chunks concatenate to `text`.
TextGeneration generate_text(CompletionModel& model, CompletionModel::Sequence& sequence, const TextRequest& request);

// generate_text in two halves around decoding, for a caller that decodes
// elsewhere (the server, through the scheduler): prepare_text either
// answers at once (`answer` set: invalid input, already cancelled) or gives
// the request to decode; finish_text turns the decoder's result into the
// answer.
struct PreparedText {
  std::optional<TextGeneration> answer;
  GenerationRequest request;
  int prompt_tokens = 0;
};
PreparedText prepare_text(const CompletionModel& model, const TextRequest& request);
TextGeneration finish_text(const PreparedText& prepared, Result<GenerationResult> result);

}  // namespace mtpc::completion
