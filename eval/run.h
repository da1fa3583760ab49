// `mtpc eval` as one library call: HumanEval/MBPP completions generated with
// a model (model), or read from a file (samples), or the datasets' own
// solutions (reference); scored in the sandbox; pass@k and reports under
// out. HumanEval infilling (benchmark "humaneval-infill", a variant): holes
// completed through the completion core (eval/infill_generation.h), or read,
// or the canonical solutions, or a constant; with exact match, the constant
// floors and the completions' latency in the reports. The next-line
// benchmark (benchmark "nextline", eval/nextline_run.h): held-out holes
// completed through the core; exact match, edit similarity and latency.
// Progress goes to stderr (one line rewritten in place on a terminal),
// the summary to stdout. Torch-free header; part of mtpc_eval_generation,
// since it may decode.
//
// Threads: blocks the calling thread. Never throws.
#pragma once

#include <cstdint>
#include <string>

#include "completion/completer.h"
#include "eval/generation.h"
#include "eval/sandbox.h"

namespace mtpc::eval {

struct EvalOptions {
  std::string benchmark;          // humaneval | mbpp
  std::string data;               // HumanEval.jsonl(.gz) or the original mbpp.jsonl
  std::string samples;            // samples JSONL, plain or gzip
  bool reference = false;         // score the dataset's own solutions
  std::string split = "test";
  std::string out;                // "": runs/eval/<benchmark>-<split>[-reference | -<model directory name>]
  int workers = 0;                // parallel samples (0: one per core)
  double timeout_s = SandboxOptions{}.timeout_s;
  std::string python = SandboxOptions{}.python;
  int64_t max_memory_mb = SandboxOptions{}.max_memory_bytes >> 20;
  std::string isolation = "auto";  // auto | namespaces | user-namespaces | process-group
  bool mbpp_challenge_tests = false;
  // Generation: with a model directory, what OUT lacks is generated first.
  std::string model;
  std::string device = "cpu";     // cpu | cuda
  std::string prompt_format = "default";
  int n = 1;                      // samples per task; > 1 needs temperature > 0
  double temperature = 0;         // 0: greedy (self-speculative)
  double top_p = 1.0;
  int top_k = 0;
  uint64_t seed = 0;
  int max_new_tokens = DecodingSettings{}.max_new_tokens;
  int draft_length = 0;           // 0: the model's n_future - 1
  bool no_adaptive = false;
  int limit = 0;                  // the first N tasks of the split (0: all)
  int batch = 1;                  // requests decoded together (Engine::generate_batch)
  std::string dtype = "fp32";     // fp32 | bf16
  int speedup_sample = 10;        // prompts also decoded without speculation (0: skip)
  // humaneval-infill (eval/infill.h): the variant, a constant completion to
  // score (the floors), and the completion core's settings; defaults are
  // the language server's.
  std::string variant;            // single-line | multi-line | random-span | random-span-light
  std::string constant;           // score this constant completion (--constant "return False")
  bool floors = true;             // also score the three constant floors on the same holes
  std::string scope = "default";  // default (the variant's) | line | block | auto (the cursor decides)
  int deadline_ms = completion::Settings{}.deadline_ms;
  int max_tokens = completion::Settings{}.max_tokens;
  int max_lines = completion::Settings{}.max_lines;
  int syntax_retries = completion::Settings{}.syntax_retries;  // humaneval-infill, nextline
  double retry_temperature = completion::Settings{}.retry_temperature;
  // humaneval-infill and nextline: the core's prompt budget in tokens (0: the
  // completer's default, CompleterOptions::max_prompt_tokens, within the
  // model's context) and prefix-only prompts (no fill-in-the-middle).
  int max_prompt_tokens = 0;
  bool no_fim = false;
  bool json = false;              // print summary.json on stdout instead of the summary lines
};

// How the run ended, as `mtpc eval` exits: 0 all samples generated and
// scored; 1 the run could not be done (bad dataset, model or out, ...); 2 bad
// usage; 3 finished, but some samples could not be generated or run (engine
// or harness errors; a rerun retries them). `message` says why for 1 and 2.
struct EvalExit {
  int code = 0;
  std::string message;
};

EvalExit run_eval(const EvalOptions& options);

}  // namespace mtpc::eval
