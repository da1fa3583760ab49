// `mtpc eval`: flags over eval::run_eval() (eval/run.h), which also
// documents the exit codes.
#include <cstdio>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "eval/nextline_build.h"
#include "eval/run.h"
#include "eval/runs_report.h"
#include "base/atomic_file.h"

namespace mtpc::cli {

namespace {

// `mtpc eval build-nextline`: eval::build_nextline (eval/nextline_build.h).
CLI::App* add_build_nextline_command(CLI::App& eval) {
  CLI::App* cmd = eval.add_subcommand(
      "build-nextline",
      "build the next-line benchmark from held-out source trees, decontaminated against training corpora");
  auto o = std::make_shared<eval::NextlineBuildOptions>();
  cmd->add_option("--sources", o->sources, "held-out source directories")->required()->expected(1, -1);
  cmd->add_option("--corpus", o->corpus,
                  "training corpora: `mtpc corpus build` directories or source directories (decontamination)")
      ->expected(0, -1);
  cmd->add_option("--ext", o->extensions, "file extensions to draw from")->capture_default_str()->expected(1, -1);
  cmd->add_option("--seed", o->seed, "fixes the files and positions")->capture_default_str();
  cmd->add_option("--holes", o->holes, "holes to draw")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-holes-per-file", o->max_holes_per_file, "at most this many holes in one file")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-file-bytes", o->max_file_bytes, "larger files are skipped as huge")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-line-bytes", o->max_line_bytes, "longer lines get no hole")
      ->check(CLI::Range(2, 1 << 20))->capture_default_str();
  cmd->add_option("--overlap-min-ngrams", o->overlap_min_ngrams,
                  "shared informative n-grams that drop a file (1: the corpus builder's rule)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--out", o->out, "the benchmark JSONL to write")->required();
  cmd->callback([o] {
    o->progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    Result<eval::NextlineBuildReport> r = eval::build_nextline(*o);
    if (!r.ok()) throw CLI::RuntimeError("mtpc eval build-nextline: " + r.status().message(), 1);
    std::printf("%s\n", eval::nextline_build_summary(r.value()).c_str());
    throw CLI::RuntimeError("", 0);
  });
  return cmd;
}

// `mtpc eval report RUN_DIR...`: eval/runs_report.h.
CLI::App* add_runs_report_command(CLI::App& eval) {
  CLI::App* cmd = eval.add_subcommand("report", "several eval runs side by side: score against latency, per benchmark");
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("runs/eval/report.html");
  cmd->add_option("run_dirs", *dirs, "run directories (each with its summary.json)")->required()->expected(1, -1);
  cmd->add_option("--out", *out, "the HTML page to write")->capture_default_str();
  cmd->callback([dirs, out] {
    std::vector<eval::RunPoint> points;
    for (const std::string& d : *dirs) {
      Result<eval::RunPoint> p = eval::read_run_point(d);
      if (!p.ok()) throw CLI::RuntimeError("mtpc eval report: " + p.status().message(), 1);
      points.push_back(std::move(p.value()));
    }
    if (Status s = write_file_atomic(*out, eval::render_runs_report_html(points)); !s.ok())
      throw CLI::RuntimeError("mtpc eval report: " + s.message(), 1);
    std::printf("%swrote %s\n", eval::render_runs_report_markdown(points).c_str(), out->c_str());
    throw CLI::RuntimeError("", 0);
  });
  return cmd;
}

}  // namespace

void add_eval_command(CLI::App& app, GlobalOptions& global) {
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "HumanEval/MBPP/HumanEval infilling/next line: generate completions with a model (--model), or score a "
      "samples file ({\"task_id\", \"completion\"} JSONL) or the reference solutions; pass@k and reports. "
      "`mtpc eval build-nextline` builds the next-line benchmark; `mtpc eval report RUN_DIR...` compares runs");
  auto a = std::make_shared<eval::EvalOptions>();
  // --benchmark and --data are required unless a subcommand (build-nextline) is given: checked below.
  cmd->add_option("--benchmark", a->benchmark, "humaneval, mbpp, humaneval-infill or nextline (required)")
      ->check(CLI::IsMember({"humaneval", "mbpp", "humaneval-infill", "nextline"}));
  cmd->add_option("--data", a->data,
                  "HumanEval.jsonl(.gz), the original mbpp.jsonl, a HumanEval-*Infilling*.jsonl.gz, or a next-line "
                  "benchmark JSONL (build-nextline) (required)");
  cmd->add_option("--variant", a->variant,
                  "humaneval-infill: single-line, multi-line, random-span or random-span-light (the --data file's)")
      ->check(CLI::IsMember({"single-line", "multi-line", "random-span", "random-span-light"}));
  auto* model = cmd->add_option("--model", a->model, "checkpoint directory: generate the completions, then score");
  auto* samples = cmd->add_option("--samples", a->samples, "samples JSONL, plain or gzip");
  auto* reference = cmd->add_flag("--reference", a->reference, "score the dataset's own solutions instead");
  auto* constant = cmd->add_option("--constant", a->constant,
                                   "humaneval-infill: score this constant at every hole (\"return False\": a floor)");
  samples->excludes(reference);
  model->excludes(samples)->excludes(reference);
  constant->excludes(model)->excludes(samples)->excludes(reference);
  auto no_floors = std::make_shared<bool>(false);
  cmd->add_flag("--no-floors", *no_floors,
                "humaneval-infill: do not score the constant floors (pass, return False, return True, an empty line) beside a run");
  cmd->add_flag("--json", a->json, "print summary.json on stdout instead of the summary lines");
  cmd->add_option("--limit", a->limit, "the first N tasks of the split (0: all)")->capture_default_str();
  cmd->add_option("--split", a->split, "test (default), all; MBPP also prompt, validation, train")
      ->capture_default_str();
  cmd->add_option("--out", a->out,
                  "output directory (default runs/eval/<benchmark>-<split>[-reference | -<model directory name>])");
  cmd->add_option("--workers", a->workers, "parallel samples (0: one per core)")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--timeout", a->timeout_s, "wall-clock seconds per sample")->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--python", a->python, "interpreter for the samples")->capture_default_str();
  cmd->add_option("--max-memory-mb", a->max_memory_mb, "address-space limit per sample process")
      ->check(CLI::Range(int64_t{32}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("--isolation", a->isolation, "auto, namespaces, user-namespaces or process-group")
      ->check(CLI::IsMember({"auto", "namespaces", "user-namespaces", "process-group"}))->capture_default_str();
  cmd->add_flag("--mbpp-challenge-tests", a->mbpp_challenge_tests, "also run MBPP's challenge_test_list");

  // Generation options; each needs --model.
  std::vector<CLI::Option*> generation = {
      cmd->add_option("--prompt-format", a->prompt_format, "default; MBPP: 3shot (the default) or docstring")
          ->capture_default_str(),
      cmd->add_option("--n", a->n, "samples per task (> 1 needs --temperature > 0)")->capture_default_str(),
      cmd->add_option("--temperature", a->temperature, "0: greedy (self-speculative); > 0: sampling")
          ->capture_default_str(),
      cmd->add_option("--top-p", a->top_p, "nucleus sampling mass")->capture_default_str(),
      cmd->add_option("--top-k", a->top_k, "0: no top-k cut")->capture_default_str(),
      cmd->add_option("--seed", a->seed, "run seed; each (task, sample) gets its own seed from it")
          ->capture_default_str(),
      cmd->add_option("--max-new-tokens", a->max_new_tokens, "per completion")->capture_default_str(),
      cmd->add_option("--k", a->draft_length, "draft length (0: the model's n_future - 1)")->capture_default_str(),
      cmd->add_flag("--no-adaptive", a->no_adaptive, "keep the draft length fixed"),
      cmd->add_option("--batch", a->batch, "prompts decoded together in one forward pass (same outputs)")
          ->check(CLI::Range(1, 64))->capture_default_str(),
      cmd->add_option("--dtype", a->dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}))
          ->capture_default_str(),
      cmd->add_option("--scope", a->scope,
                      "humaneval-infill: where completions end: default (single-line: line; others: block), line, "
                      "block, or auto (the cursor decides, as in an editor)")
          ->check(CLI::IsMember({"default", "line", "block", "auto"}))->capture_default_str(),
      // (nextline: default and line are the line; auto the cursor decides)
      cmd->add_option("--deadline-ms", a->deadline_ms, "humaneval-infill: per-completion deadline (the server's)")
          ->check(CLI::PositiveNumber)->capture_default_str(),
      cmd->add_option("--max-tokens", a->max_tokens, "humaneval-infill: tokens per completion (the server's)")
          ->check(CLI::PositiveNumber)->capture_default_str(),
      cmd->add_option("--max-lines", a->max_lines, "humaneval-infill: longest multi-line completion (the server's)")
          ->check(CLI::PositiveNumber)->capture_default_str(),
      cmd->add_option("--syntax-retries", a->syntax_retries,
                      "humaneval-infill, nextline: alternatives sampled when the greedy completion breaks the "
                      "syntax around the hole (the server's; 0: greedy alone)")
          ->check(CLI::Range(0, 16))->capture_default_str(),
      cmd->add_option("--retry-temperature", a->retry_temperature,
                      "humaneval-infill, nextline: the sampling temperature of those alternatives")
          ->check(CLI::Range(0.01, 10.0))->capture_default_str(),
      cmd->add_option("--max-prompt-tokens", a->max_prompt_tokens,
                      "humaneval-infill, nextline: the core's prompt budget in tokens (0: the server's)")
          ->check(CLI::NonNegativeNumber)->capture_default_str(),
      cmd->add_flag("--no-fim", a->no_fim, "humaneval-infill, nextline: prefix-only prompts (no fill-in-the-middle)"),
      cmd->add_option("--speedup-sample", a->speedup_sample,
                      "prompts also decoded without speculation to measure the speedup (0: skip)")
          ->capture_default_str(),
  };
  for (CLI::Option* o : generation) o->needs(model);
  CLI::App* build = add_build_nextline_command(*cmd);
  CLI::App* report = add_runs_report_command(*cmd);
  cmd->callback([a, no_floors, cmd, build, report, &global] {
    if (cmd->got_subcommand(build) || cmd->got_subcommand(report)) return;
    if (a->benchmark.empty() || a->data.empty())
      throw CLI::RuntimeError("mtpc eval: --benchmark and --data are required", 2);
    a->device = global.device;
    a->floors = !*no_floors;
    if (!a->model.empty()) a->model = resolve_model_flag(a->model, "eval");
    const eval::EvalExit exit = eval::run_eval(*a);
    throw CLI::RuntimeError(exit.message.empty() ? "" : "mtpc eval: " + exit.message, exit.code);
  });
}

}  // namespace mtpc::cli
