// mtpc train heads: a few lines over mtpc::train_heads().
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/machine.h"
#include "cli/commands.h"
#include "model/training/distributed_env.h"
#include "model/training/heads_trainer.h"

namespace mtpc::cli {
namespace {

// This command line for one rank of `--ranks N`: read back from the kernel,
// without --ranks and the global --threads, with --threads CORES/N first.
std::vector<std::string> rank_argv(int threads) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t p = 0; p < all.size();) {
    const size_t end = all.find('\0', p);
    args.push_back(all.substr(p, end == std::string::npos ? std::string::npos : end - p));
    p = end == std::string::npos ? all.size() : end + 1;
  }
  std::error_code ec;
  std::vector<std::string> out = {std::filesystem::read_symlink("/proc/self/exe", ec).string(), "--threads",
                                  std::to_string(threads)};
  bool in_train = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "train") in_train = true;
    if ((a == "--ranks" && in_train) || (a == "--threads" && !in_train)) {
      ++i;  // and its value
      continue;
    }
    if ((a.rfind("--ranks=", 0) == 0 && in_train) || (a.rfind("--threads=", 0) == 0 && !in_train)) continue;
    out.push_back(a);
  }
  return out;
}

}  // namespace

void add_train_heads_command(CLI::App& train, GlobalOptions& global) {
  auto* cmd = train.add_subcommand(
      "heads", "retrofit drafting heads onto a frozen model by self-distillation (the base never changes)");
  auto o = std::make_shared<HeadsTrainOptions>();
  auto kind = std::make_shared<std::string>("mlp");
  cmd->add_option("--base", o->base_dir, "the frozen model's directory")->required();
  cmd->add_option("--data", o->data_dir, "corpus directory (train.bin): prompts, or the targets with --targets corpus")
      ->required();
  cmd->add_option("--out", o->out_dir, "output directory: heads/ (load with --model OUT/heads), targets.bin, train.jsonl")
      ->required();
  cmd->add_option("--n-future", o->n_future, "heads after retrofit, the base's next-token head included")
      ->check(CLI::Range(2, 64))
      ->capture_default_str();
  cmd->add_option("--head-kind", *kind, "mlp | transformer (the base's kind)")
      ->check(CLI::IsMember({"mlp", "transformer"}))
      ->capture_default_str();
  cmd->add_option("--targets", o->targets, "distill (the base's greedy continuations) | corpus (raw tokens)")
      ->check(CLI::IsMember({"distill", "corpus"}))
      ->capture_default_str();
  cmd->add_option("--sequences", o->sequences, "distilled sequences to generate (every 10th held out)")
      ->check(CLI::Range(2, 100000000))
      ->capture_default_str();
  cmd->add_option("--prompt-len", o->prompt_len, "corpus tokens before each continuation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--min-prompt-len", o->min_prompt_len,
                  "fewest prompt tokens: each batch draws its prompt length from [this, --prompt-len] (0: --prompt-len)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--gen-len", o->gen_len, "greedy tokens generated after each prompt")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "optimizer steps")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "sequences per step")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--lr", o->lr, "peak learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--warmup-steps", o->warmup_steps)->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--seed", o->seed)->capture_default_str();
  cmd->add_option("--log-every", o->log_every)->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "steps between held-out evaluations (0: at the end)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "steps between checkpoints (0: at the end)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--cache-hidden", o->cache_hidden,
                "keep the base's states of each distilled sequence in memory after its first pass (prompt+gen x dim x 4 bytes each)");
  cmd->add_option("--cache-dir", o->cache_dir,
                  "keep the base's states of the distilled sequences in a file in DIR, named after the base and "
                  "the targets, reused by later runs and resumes (prompt+gen x dim x 4 bytes a sequence)");
  cmd->add_flag("--resume", o->resume, "continue OUT/heads (targets.bin always resumes)");
  struct Dist {
    int ranks = 0;
    double connect_timeout_s = 60, collective_timeout_s = 300;
  };
  auto dist = std::make_shared<Dist>();
  cmd->add_option("--ranks", dist->ranks,
                  "data-parallel on this machine: start N ranks (each with --threads split N ways); "
                  "--batch-size is the global batch")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--dist-connect-timeout", dist->connect_timeout_s,
                  "data-parallel: seconds to reach the master and meet every rank (default 60)")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_option("--dist-timeout", dist->collective_timeout_s,
                  "data-parallel: seconds one collective may wait for the other ranks (default 300)")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->callback([o, kind, dist, &global] {
    o->head_kind = *kind == "transformer" ? HeadKind::kTransformer : HeadKind::kMlp;
    o->device = global.device;
    auto env = distributed_env_from_environment();
    if (!env.ok()) throw CLI::RuntimeError("mtpc train heads: " + env.status().message(), 2);
    if (dist->ranks > 0) {
      if (env->enabled)
        throw CLI::RuntimeError("mtpc train heads: --ranks starts its own ranks; it cannot run inside a job that "
                                "already set WORLD_SIZE (drop --ranks under torchrun)", 2);
      const int cores = global.threads > 0 ? global.threads : hardware_threads();
      auto launched = launch_local_ranks(rank_argv(std::max(1, cores / dist->ranks)), dist->ranks);
      if (!launched.ok()) throw CLI::RuntimeError("mtpc train heads: " + launched.status().message(), 1);
      if (!launched->failure.empty())
        std::fprintf(stderr, "mtpc train heads --ranks %d: %s\n", dist->ranks, launched->failure.c_str());
      throw CLI::RuntimeError("", launched->exit_code);
    }
    o->dist = *env;
    o->dist_timeouts.connect = std::chrono::milliseconds(static_cast<int64_t>(dist->connect_timeout_s * 1000));
    o->dist_timeouts.collective = std::chrono::milliseconds(static_cast<int64_t>(dist->collective_timeout_s * 1000));
    const std::string who =
        env->enabled ? "mtpc train heads (rank " + std::to_string(env->rank) + "): " : "mtpc train heads: ";
    auto result = train_heads(*o);
    if (!result.ok()) throw CLI::RuntimeError(who + result.status().message(), 1);
    if (env->enabled && env->rank != 0) throw CLI::RuntimeError("", 0);  // rank 0 reports
    std::fprintf(stderr, "done: step %lld; heads in %s\n", static_cast<long long>(result->final_step),
                 result->heads_dir.c_str());
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
