// mtpc train: a few lines over mtpc::train().
#include <cstdio>
#include <filesystem>

#include "base/machine.h"
#include "cli/commands.h"
#include "model/training/distributed_env.h"
#include "model/training/trainer.h"

namespace mtpc::cli {

void add_train_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("train", "train a multi-token prediction model");
  struct Args {
    std::string preset, config, data, out;
    bool resume = false;
    std::string init;
    int64_t steps = 0;
    int ranks = 0;
    double connect_timeout_s = 60, collective_timeout_s = 300;
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
  cmd->add_option("--init", args->init,
                  "start from this model's weights (same shapes; the fill-in-the-middle layout may differ, "
                  "and a model with more heads gives its first n_future), fresh optimizer and schedule");
  auto* steps = cmd->add_option("--steps", args->steps, "total optimizer steps (overrides the config)")
                    ->check(CLI::PositiveNumber);
  cmd->add_option("--ranks", args->ranks,
                  "data-parallel on this machine: start N ranks (each with --threads split N ways)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--dist-connect-timeout", args->connect_timeout_s,
                  "data-parallel: seconds to reach the master and meet every rank (default 60)")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_option("--dist-timeout", args->collective_timeout_s,
                  "data-parallel: seconds one all-reduce may wait for the other ranks (default 300)")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->callback([args, &global, preset, config, steps] {
    if (args->data.empty() || args->out.empty()) throw CLI::RuntimeError("mtpc train: --data and --out are required", 2);
    auto env = distributed_env_from_environment();
    if (!env.ok()) throw CLI::RuntimeError("mtpc train: " + env.status().message(), 2);
    if (args->ranks > 0) {
      if (env->enabled)
        throw CLI::RuntimeError("mtpc train: --ranks starts its own ranks; it cannot run inside a job that "
                                "already set WORLD_SIZE (drop --ranks under torchrun)", 2);
      std::error_code ec;
      const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (ec) throw CLI::RuntimeError("mtpc train: cannot find this program: " + ec.message(), 1);
      const int cores = global.threads > 0 ? global.threads : hardware_threads();
      std::vector<std::string> argv = {self.string(), "--threads", std::to_string(std::max(1, cores / args->ranks)),
                                       "--device", global.device, "train"};
      if (config->count() > 0) argv.insert(argv.end(), {"--config", args->config});
      if (preset->count() > 0) argv.insert(argv.end(), {"--preset", args->preset});
      argv.insert(argv.end(), {"--data", args->data, "--out", args->out, "--dist-connect-timeout",
                               std::to_string(args->connect_timeout_s), "--dist-timeout",
                               std::to_string(args->collective_timeout_s)});
      if (args->resume) argv.push_back("--resume");
      if (!args->init.empty()) argv.insert(argv.end(), {"--init", args->init});
      if (steps->count() > 0) argv.insert(argv.end(), {"--steps", std::to_string(args->steps)});
      auto launched = launch_local_ranks(argv, args->ranks);
      if (!launched.ok()) throw CLI::RuntimeError("mtpc train: " + launched.status().message(), 1);
      // 130: the ranks stopped on a signal and rank 0 said so (checkpoint saved).
      if (!launched->failure.empty() && launched->exit_code != 130)
        std::fprintf(stderr, "mtpc train --ranks %d: %s\n", args->ranks, launched->failure.c_str());
      throw CLI::RuntimeError("", launched->exit_code);
    }
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
    o.init_dir = args->init;
    o.device = global.device;
    o.dist = *env;
    o.dist_timeouts.connect = std::chrono::milliseconds(static_cast<int64_t>(args->connect_timeout_s * 1000));
    o.dist_timeouts.collective =
        std::chrono::milliseconds(static_cast<int64_t>(args->collective_timeout_s * 1000));
    const std::string who = env->enabled ? "mtpc train (rank " + std::to_string(env->rank) + "): " : "mtpc train: ";
    auto result = train(o);
    if (!result.ok()) throw CLI::RuntimeError(who + result.status().message(), 1);
    if (result->interrupted) throw CLI::RuntimeError("", 130);
    if (env->enabled && env->rank != 0) throw CLI::RuntimeError("", 0);  // rank 0 reports
    std::fprintf(stderr, "done: step %lld, %.0f tokens/s\n",
                 static_cast<long long>(result->final_step), result->tokens_per_second);
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
