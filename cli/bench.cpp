// mtpc bench: train, load and the hidden train-step over
// model/training/train_benchmark.h; decode and lsp in their own files.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/machine.h"
#include "cli/commands.h"
#include "model/training/train_benchmark.h"
#include "model/training/train_scaling_benchmark.h"

namespace mtpc::cli {
namespace {

// Prints a benchmark's JSON object (or fails with its error) and exits.
[[noreturn]] void finish(const Result<nlohmann::json>& r, const std::string& command, int indent = 2) {
  if (!r.ok()) throw CLI::RuntimeError("mtpc bench " + command + ": " + r.status().message(), 1);
  std::printf("%s\n", r->dump(indent).c_str());
  throw CLI::RuntimeError("", 0);
}

}  // namespace

void add_bench_command(CLI::App& app, GlobalOptions& global) {
  auto* bench = app.add_subcommand("bench", "benchmarks that print JSON");
  bench->require_subcommand(1);
  struct Args {
    std::string preset = "small", head_kind = "transformer", loss_order = "sequential";
    int64_t steps = 20;
    int n_future = 0;  // bench load: 0 is the preset's
    int ranks = 0;     // bench train --ranks N: data-parallel scaling instead
    bool json = false, bf16 = false;
    std::string model;  // bench load --model DIR
  };
  auto a = std::make_shared<Args>();
  auto presets = CLI::IsMember({"tiny", "small", "base"});
  auto head_kinds = CLI::IsMember({"transformer", "mlp"});

  auto* train = bench->add_subcommand("train", "step time and peak memory of n_future = 1, 4, 8");
  train->add_option("--preset", a->preset, "model preset")->check(presets);
  train->add_option("--steps", a->steps, "timed steps per configuration")->check(CLI::PositiveNumber);
  train->add_option("--head-kind", a->head_kind)->check(head_kinds);
  train->add_flag("--json", a->json, "print only the JSON object (the default output anyway)");
  train->add_option("--ranks", a->ranks,
                    "data-parallel scaling instead: `mtpc train` as 1 process and as N ranks sharing the cores")
      ->check(CLI::Range(2, 64));
  train->callback([a, &global] {
    if (a->ranks > 0) {
      TrainScalingOptions o;
      o.program = executable_path();
      o.preset = a->preset;
      o.ranks = a->ranks;
      o.steps = a->steps;
      o.threads = global.threads;
      o.device = global.device;
      o.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
      finish(run_train_scaling_benchmark(o), "train");
    }
    TrainBenchmarkOptions o{a->preset, a->head_kind, a->steps, global.device, global.threads};
    o.child_command = "'" + executable_path() + "' --threads " + std::to_string(global.threads) + " --device " +
                      global.device + " bench train-step";
    o.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    finish(run_train_benchmark(o), "train");
  });

  add_bench_decode_command(*bench, global);
  add_bench_lsp_command(*bench, global);
  add_bench_serve_command(*bench, global);

  auto* load = bench->add_subcommand("load", "time to load a checkpoint of a preset's size");
  load->add_option("--preset", a->preset, "model preset")->check(presets);
  load->add_option("--n-future", a->n_future, "output heads (default: the preset's)")->check(CLI::Range(1, 32));
  load->add_flag("--bf16", a->bf16, "bf16 weights instead of fp32");
  load->add_option("--model", a->model,
                   "load this model directory once (mtpc or Hugging Face): time and resident memory");
  load->add_flag("--json", a->json, "print only the JSON object (the default output anyway)");
  load->callback([a, &global] {
    if (!a->model.empty()) {
      finish(run_model_load_benchmark(a->model, a->bf16, global.device, global.threads), "load");
      return;
    }
    finish(run_load_benchmark(a->preset, a->n_future, a->bf16, global.device, global.threads), "load");
  });

  auto* step = bench->add_subcommand("train-step", "one configuration, in this process (used by bench train)");
  step->group("");  // internal: hidden from --help
  step->add_option("--preset", a->preset)->check(presets);
  step->add_option("--steps", a->steps)->check(CLI::PositiveNumber);
  step->add_option("--n-future", a->n_future)->check(CLI::Range(1, 32));
  step->add_option("--head-kind", a->head_kind)->check(head_kinds);
  step->add_option("--loss-order", a->loss_order)->check(CLI::IsMember({"sequential", "naive"}));
  step->callback([a, &global] {
    const int n_future = a->n_future > 0 ? a->n_future : 1;
    finish(benchmark_train_step_json(a->preset, a->steps, n_future, a->head_kind, a->loss_order, global.device),
           "train-step", -1);
  });
}

}  // namespace mtpc::cli
