// `mtpc bench decode` as a library call: next-token greedy against
// self-speculative greedy on the same prompts, in this process; with
// batch > 1 also the same decoders over batches of prompts against batch 1.
// Torch-free header.
//
// Timing is decode only: each prompt's trunk pass (prefill) is timed apart,
// so prompt length does not dilute tokens/s. Every run decodes exactly
// max_new_tokens per prompt (EOS does not stop it), so the outputs can be
// compared token for token: "identical" says the speculative and batched
// runs gave greedy's tokens.
//
// Threads: blocks the calling thread; `progress` is called from it. Never
// throws.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace mtpc {

struct DecodeBenchmarkOptions {
  std::string model;                // checkpoint directory
  std::string prompts;              // JSONL(.gz) with a "prompt" field
  int limit = 0;                    // the first N prompts (0: all)
  int max_new_tokens = 128;
  std::vector<int> draft_lengths;   // fixed k to sweep; empty: the largest, adaptive
  std::string dtype = "fp32";       // fp32 | bf16
  int batch = 1;                    // > 1: also decode in batches of this size
  int warmup = 1;                   // untimed runs of the first prompt per decoder
  // The cost of a verifying pass of 1..pass_cost_rows rows after
  // pass_cost_context cached tokens (Engine::measure_pass_costs); 0 rows:
  // not measured.
  int pass_cost_rows = 5;
  int pass_cost_context = 128;
  int pass_cost_repeats = 7;
  std::string device = "cpu";       // for loading, and the machine description
  int threads = 0;                  // for the machine description (0: all cores)
  // Status text for a terminal, with its own "\r" and "\n".
  std::function<void(const std::string& text)> progress;
};

// The "prompt" fields of a JSONL file (gzip or plain), at most `limit` (0:
// all). Errors name the file and line.
Result<std::vector<std::string>> read_prompts(const std::string& path, int limit);

// Loads the model and runs the benchmark. The JSON object:
//   {"benchmark": "decode", "model", "prompts", "max_new_tokens", "dtype",
//    "warmup_runs", "timing", "machine", "speedup", "worst_prompt_ratio"
//    (the first speculative run's), "identical",
//    "load_seconds", "memory": {"rss_mib_after_load", "peak_rss_mib"} (the
//    process's, after loading and at the end), "pass_cost": {"context",
//    "repeats", "ms": [r rows for r = 1..], "ratio_to_one_row": [...]},
//    "runs": [{"decoder", "seconds", "prefill_seconds", "tokens_per_s",
//              "speedup", "identical", "prompt_ratios" (each prompt's greedy /
//              this decoder's decode seconds), "worst_prompt" (its index),
//              "worst_prompt_ratio" (these five not on greedy), and the fields of
//              generation_stats_json summed over the prompts}],
//    with batch > 1 also "batch": {"size", "runs": [{..., "batch1_tokens_per_s",
//    "ratio", "identical_to_batch1"}]} and "batch_ratio": {decoder: ratio}}.
Result<nlohmann::json> run_decode_benchmark(const DecodeBenchmarkOptions& options);

}  // namespace mtpc
