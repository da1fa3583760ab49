// mtpc bench decode: a few lines over run_decode_benchmark().
#include <cstdio>

#include "cli/commands.h"
#include "inference/decode_benchmark.h"

namespace mtpc::cli {

void add_bench_decode_command(CLI::App& bench, GlobalOptions& global) {
  auto* cmd = bench.add_subcommand("decode", "next-token vs self-speculative greedy decoding speed");
  auto o = std::make_shared<DecodeBenchmarkOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--model", o->model, "checkpoint directory, or OWNER/NAME[@REVISION] pulled with mtpc pull")->required();
  cmd->add_option("--prompts", o->prompts, "JSONL(.gz) with a \"prompt\" field")->required();
  cmd->add_option("--max-new-tokens", o->max_new_tokens)->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--limit", o->limit, "use the first N prompts (0: all)");
  cmd->add_option("--k", o->draft_lengths, "draft lengths to sweep (default: the model's largest, adaptive)");
  cmd->add_option("--dtype", o->dtype)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--batch", o->batch, "also decode the prompts in batches of this size and compare tokens/s with batch 1")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "untimed runs of the first prompt per decoder before timing")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--pass-cost-rows", o->pass_cost_rows,
                  "time verifying passes of 1..N rows (0: skip); the (k+1)-row / 1-row ratio is what k drafts cost")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  cmd->add_option("--pass-cost-context", o->pass_cost_context, "cached tokens before the timed passes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", *json, "print only the JSON object (the default output anyway)");
  cmd->callback([o, &global] {
    o->model = resolve_model_flag(o->model, "bench decode");
    o->device = global.device;
    o->threads = global.threads;
    o->progress = [](const std::string& text) { std::fputs(text.c_str(), stderr); };
    auto out = run_decode_benchmark(*o);
    if (!out.ok()) throw CLI::RuntimeError("mtpc bench decode: " + out.status().message(), 1);
    std::printf("%s\n", out->dump(2).c_str());
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
