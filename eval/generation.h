// The generation driver: completions for HumanEval/MBPP tasks through the
// inference engine, appended to OUT/samples.jsonl one sample at a time.
//
// Samples file (OUT/samples.jsonl), one JSON object per line:
//   {"task_id", "sample", "completion", "stop", "tokens", "forward_passes",
//    "proposed", "accepted", "prefill_ms", "decode_ms", "seconds",
//    "prompt_truncated"}
// or, when the engine failed on that sample, {"task_id", "sample", "error"}
// (no "completion", so tools that read human-eval samples skip it). Each line
// is written with one write() and fdatasync'ed before the next sample starts,
// so a killed run loses at most the sample in flight. A rerun with the same
// OUT skips every (task, sample) pair that has a completion; pairs recorded
// as errors are generated again. A torn last line (a crash mid-write) is
// dropped with a message; any other malformed line is an error naming it.
//
// OUT/generation.json records the settings that decide the completions
// (model, decoding, prompt format, max new tokens, ...). A rerun with other
// settings is refused instead of mixing samples of two configurations; --n
// and --limit may change between runs (more samples or tasks are added).
//
// Seeds: sample i of a task is decoded with a seed derived from the run's
// seed, the task id and i, so every (task, sample) pair draws differently
// and a rerun draws the same.
//
// Batching: the driver hands lists of requests to a DecodeBatch function.
// sequential_decoder() decodes them one after another on one session (prefix
// reuse across tasks, e.g. MBPP's shared 3-shot prefix); batched_decoder()
// decodes each list together through Engine::generate_batch, with the same
// outputs.
//
// Threads: generate_samples and measure_speedup block the calling thread
// and call `progress` from it. Never throw.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "eval/dataset.h"
#include "eval/prompts.h"
#include "eval/report.h"
#include "eval/samples.h"
#include "inference/engine.h"

namespace mtpc::eval {

// Result i belongs to request i; the vector has one entry per request.
using DecodeBatch =
    std::function<std::vector<Result<GenerationResult>>(const std::vector<GenerationRequest>& requests)>;

// One session on `engine`, requests decoded in order.
DecodeBatch sequential_decoder(std::shared_ptr<Engine> engine);
// Engine::generate_batch over one session per slot (kept between calls):
// the requests of a call share each forward pass; outputs are the same as
// sequential_decoder's.
DecodeBatch batched_decoder(std::shared_ptr<Engine> engine);

struct DecodingSettings {
  // 0: greedy (self-speculative, output identical to next-token greedy);
  // > 0: sampling at this temperature (speculative sampling with drafts).
  double temperature = 0;
  double top_p = 1.0;
  int top_k = 0;
  uint64_t seed = 0;
  // Drafted tokens per pass; 0: the model's n_future - 1.
  int draft_length = 0;
  bool adaptive_draft = true;
  int max_new_tokens = 512;
  // Training files are stored as bytes followed by EOS, so a file starts
  // right after an EOS; prompts get that token in front so they read as
  // the start of a file.
  bool prompt_after_document_separator = true;

  bool sampling() const { return temperature > 0; }
};

struct GenerateOptions {
  std::string out_dir;
  int samples_per_task = 1;  // --n
  DecodingSettings decoding;
  PromptFormat prompt_format = PromptFormat::kHumanEval;
  // Requests handed to DecodeBatch at once (`mtpc eval --batch`).
  int batch_size = 1;
  // The model: its tokenizer encodes the prompts (the engine's; must
  // outlive the call), n_future decides the draft length.
  const Tokenizer* tokenizer = nullptr;
  int n_future = 1;
  // What identifies the model in generation.json (see model_identity()).
  nlohmann::json model_identity;
  std::string device = "cpu";
  std::string dtype = "fp32";
};

struct GenerationProgress {
  size_t tasks_done = 0;  // tasks with all their samples, earlier runs included
  size_t tasks_total = 0;
  size_t samples_done = 0;  // this invocation
  size_t samples_total = 0;  // to generate in this invocation
  int64_t tokens = 0;        // this invocation
  double elapsed_s = 0;
  double eta_s = 0;  // from the mean time per sample so far
};

struct GeneratedSample {
  std::string task_id;
  int index = 0;
  std::string completion;
  std::string error;  // "" unless the engine failed; then there is no completion
  std::string stop;   // stop_reason_name
  bool prompt_truncated = false;
  GenerationStats stats;
  double seconds = 0;  // wall time of its decode (its share of a batch's)
  bool resumed = false;  // read from an earlier run's samples.jsonl
  // Infilling (through the completion core): the completion's wall time
  // from the request to the finished text, and whether the deadline cut it.
  // Stored as "wall_ms" and "deadline_hit" when set.
  std::optional<double> wall_ms;
  bool deadline_hit = false;
  // Through the core: alternatives decoded because the greedy text broke
  // the syntax, and whether one of them is the completion. Stored as
  // "syntax_retries" and "from_retry" with "wall_ms" (0 and false when an
  // older file lacks them).
  int syntax_retries = 0;
  bool from_retry = false;

  bool ok() const { return error.empty(); }
};

struct GenerationRun {
  // The selected tasks' samples 0..n-1, in task order then index order.
  std::vector<GeneratedSample> samples;
  std::vector<std::string> messages;  // e.g. a dropped torn line
  int generated = 0;  // decoded in this invocation
  double seconds = 0;  // wall time of this invocation's decoding
};

// Model directory identity for generation.json: canonical path, config.json
// text, weights size and modification time. Fails if the directory is not a
// readable checkpoint directory.
Result<nlohmann::json> model_identity(const std::string& model_dir);

// OUT/generation.json: written when absent; when present, it must equal
// `settings` (else an error names the first field that differs). Also
// refuses an OUT that holds samples.jsonl without generation.json.
Status check_or_write_generation_settings(const std::string& out_dir, const nlohmann::json& settings);

// Generates what OUT/samples.jsonl lacks for `tasks` (the selected split,
// possibly limited) and returns all of their samples. Fails (Status) when
// OUT cannot be written, belongs to other settings, or holds a malformed
// line; an engine error on one sample is recorded and the run goes on.
Result<GenerationRun> generate_samples(const Dataset& dataset, const std::vector<const Task*>& tasks,
                                       const DecodeBatch& decode, const GenerateOptions& options,
                                       const std::function<void(const GenerationProgress&)>& progress = {});

// The speed summary of a run's samples (all of them, earlier runs' included):
// tokens/s, tokens per forward pass, acceptance per head, errors and
// truncated prompts. Speedup fields stay unset (see measure_speedup).
GenerationSpeed summarize_generation(const GenerationRun& run, const GenerateOptions& options);

// Decodes the first `prompts` tasks' prompts (sample 0) with the run's
// decoder and with its next-token counterpart (greedy runs: next-token
// greedy; sampling runs: sampling without drafts, same seeds), alternating
// which goes first, each on a fresh session so neither reuses the other's
// cache, and compares tokens/s over the whole generate() calls. The result
// is stored in OUT/speedup.json and returned from there by later runs with
// the same OUT. Fails on an engine error or an unwritable OUT.
Result<SpeedupMeasurement> measure_speedup(Engine& engine, const Dataset& dataset,
                                           const std::vector<const Task*>& tasks, const GenerateOptions& options,
                                           int prompts);

// The request for one (task, sample): prompt tokens, mode, seed, stops.
GenerationRequest make_request(const Prompt& prompt, const Tokenizer& tokenizer, const DecodingSettings& decoding,
                               int n_future, const std::string& task_id, int sample_index);

// The seed of sample `index` of `task_id` (splitmix64 over an FNV-1a hash).
uint64_t sample_seed(uint64_t run_seed, const std::string& task_id, int index);

// "self-speculative greedy (drafts from heads 2-4, adaptive)" and the like.
std::string decoder_description(const DecodingSettings& decoding, int n_future);

}  // namespace mtpc::eval
