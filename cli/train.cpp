// mtpc train: a few lines over mtpc::train().
#include <cstdio>

#include "cli/commands.h"
#include "model/training/trainer.h"

namespace mtpc::cli {

void add_train_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("train", "train a multi-token prediction model");
  struct Args {
    std::string preset, config, data, out;
    bool resume = false;
    int64_t steps = 0;
  };
  auto args = std::make_shared<Args>();
  auto* preset = cmd->add_option("--preset", args->preset, "tiny | small | base");
  auto* config = cmd->add_option("--config", args->config, "JSON {preset?, model, train}")
                     ->check(CLI::ExistingFile);
  preset->excludes(config);
  // Checked in the callback rather than required(): `mtpc train heads` has its own.
  cmd->add_option("--data", args->data, "corpus directory (train.bin, val.bin) (required)");
  cmd->add_option("--out", args->out, "output directory (checkpoint/, train.jsonl) (required)");
  add_train_heads_command(*cmd, global);
  cmd->add_flag("--resume", args->resume, "continue from OUT/checkpoint if it exists");
  auto* steps = cmd->add_option("--steps", args->steps, "total optimizer steps (overrides the config)")
                    ->check(CLI::PositiveNumber);
  cmd->callback([args, &global, preset, config, steps] {
    if (args->data.empty() || args->out.empty()) throw CLI::RuntimeError("mtpc train: --data and --out are required", 2);
    TrainOptions o;
    if (config->count() > 0 || preset->count() > 0) {
      auto run = config->count() > 0 ? run_config_from_file(args->config)
                                     : run_config_from_preset(args->preset);
      if (!run.ok()) throw CLI::RuntimeError("mtpc train: " + run.status().message(), 2);
      o.run = *run;
    } else if (!args->resume) {
      throw CLI::RuntimeError("mtpc train: give --preset NAME or --config FILE", 2);
    }
    if (steps->count() > 0) {
      o.run.train.steps = args->steps;
      o.steps_override = args->steps;
    }
    o.data_dir = args->data;
    o.out_dir = args->out;
    o.resume = args->resume;
    o.device = global.device;
    auto result = train(o);
    if (!result.ok()) throw CLI::RuntimeError("mtpc train: " + result.status().message(), 1);
    if (result->interrupted) throw CLI::RuntimeError("", 130);
    std::fprintf(stderr, "done: step %lld, %.0f tokens/s\n",
                 static_cast<long long>(result->final_step), result->tokens_per_second);
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
