// mtpc train heads: a few lines over mtpc::train_heads().
#include <cstdio>

#include "cli/commands.h"
#include "model/training/heads_trainer.h"

namespace mtpc::cli {

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
  cmd->add_flag("--resume", o->resume, "continue OUT/heads (targets.bin always resumes)");
  cmd->callback([o, kind, &global] {
    o->head_kind = *kind == "transformer" ? HeadKind::kTransformer : HeadKind::kMlp;
    o->device = global.device;
    auto result = train_heads(*o);
    if (!result.ok()) throw CLI::RuntimeError("mtpc train heads: " + result.status().message(), 1);
    std::fprintf(stderr, "done: step %lld; heads in %s\n", static_cast<long long>(result->final_step),
                 result->heads_dir.c_str());
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
