// mtpc complete: one completion and its statistics. FILE:LINE:COL goes
// through the completion core as an editor's request would
// (completion/complete_at.h); --prompt/--prompt-file decode the raw prompt
// (inference/complete_prompt.h).
#include <cstdio>

#include "base/gzip_file.h"
#include "cli/commands.h"
#include "completion/complete_at.h"
#include "inference/complete_prompt.h"

namespace mtpc::cli {
namespace {

// The completion on stdout (or the JSON object), the summary on stderr.
template <typename Out>
[[noreturn]] void finish(const Result<Out>& out, bool json) {
  if (!out.ok()) throw CLI::RuntimeError("mtpc complete: " + out.status().message(), 1);
  if (json) {
    std::printf("%s\n", out->json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fwrite(out->text.data(), 1, out->text.size(), stdout);
    std::printf("\n");
    std::fprintf(stderr, "%s\n", out->summary.c_str());
  }
  throw CLI::RuntimeError("", 0);
}

}  // namespace

void add_complete_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("complete", "complete a prompt with a model and print statistics");
  struct Args {
    std::string model, prompt_file, prompt, location, mode = "speculative", dtype = "fp32";
    GenerationRequest request;
    completion::Settings settings;
    bool no_fim = false, no_adaptive = false, no_context_drafts = false, json = false;
  };
  auto a = std::make_shared<Args>();
  GenerationRequest& r = a->request;
  cmd->add_option("--model", a->model, "checkpoint directory, or OWNER/NAME[@REVISION] pulled with mtpc pull")->required();
  auto* file = cmd->add_option("--prompt-file", a->prompt_file, "file whose bytes are the prompt")
                   ->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--prompt", a->prompt, "the prompt as an argument");
  file->excludes(text);
  cmd->add_option("location", a->location, "FILE:LINE:COL: complete there as the language server would")
      ->excludes(file)->excludes(text);
  cmd->add_option("--deadline-ms", a->settings.deadline_ms, "with FILE:LINE:COL: the completion deadline")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-tokens", a->settings.max_tokens, "with FILE:LINE:COL: tokens per completion")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--no-fim", a->no_fim, "with FILE:LINE:COL: prefix-only prompts");
  cmd->add_option("--syntax-retries", a->settings.syntax_retries,
                  "with FILE:LINE:COL: alternatives sampled when the greedy completion breaks the syntax (0: none)")
      ->check(CLI::Range(0, 16))->capture_default_str();
  cmd->add_option("--max-new-tokens", r.max_new_tokens)->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--mode", a->mode)->check(CLI::IsMember({"greedy", "speculative", "sampling"}))->capture_default_str();
  cmd->add_option("--k", r.draft_length, "draft length (0: the model's n_future - 1)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-adaptive", a->no_adaptive, "keep the draft length fixed");
  cmd->add_flag("--no-context-drafts", a->no_context_drafts,
                "draft from the heads only, never from earlier occurrences in the context");
  cmd->add_option("--temperature", r.sampling.temperature)->capture_default_str();
  cmd->add_option("--top-k", r.sampling.top_k)->capture_default_str();
  cmd->add_option("--top-p", r.sampling.top_p)->capture_default_str();
  cmd->add_option("--seed", r.sampling.seed)->capture_default_str();
  cmd->add_option("--stop", r.stop_strings, "stop strings");
  cmd->add_option("--dtype", a->dtype)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object (completion and statistics)");
  cmd->callback([a, &global] {
    a->model = resolve_model_flag(a->model, "complete");
    EngineOptions engine{global.device, a->dtype};
    engine.context_drafts = !a->no_context_drafts;
    if (!a->location.empty()) {
      auto at = completion::parse_location(a->location);
      if (!at) throw CLI::RuntimeError("mtpc complete: expected FILE:LINE:COL (from 1), got " + a->location, 2);
      a->settings.fim = !a->no_fim;
      finish(completion::complete_at(a->model, *at, engine, a->settings), a->json);
    }
    Result<std::string> prompt = a->prompt_file.empty() ? Result<std::string>(a->prompt) : read_file(a->prompt_file);
    if (!prompt.ok()) throw CLI::RuntimeError("mtpc complete: " + prompt.status().message(), 1);
    GenerationRequest request = a->request;
    request.mode = a->mode == "greedy" ? DecodeMode::kGreedy
                   : a->mode == "sampling" ? DecodeMode::kSampling : DecodeMode::kSpeculative;
    request.adaptive_draft = !a->no_adaptive;
    finish(complete_prompt(a->model, *prompt, engine, request), a->json);
  });
}

}  // namespace mtpc::cli
