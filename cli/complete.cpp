// mtpc complete: one completion from the command line, with its statistics.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "inference/engine.h"
#include "model/tokenizer.h"

namespace mtpc::cli {

nlohmann::json stats_json(const GenerationResult& r) {
  nlohmann::json acceptance = nlohmann::json::array();
  for (size_t i = 0; i < r.stats.proposed.size(); ++i)
    acceptance.push_back(r.stats.proposed[i] == 0 ? nlohmann::json(nullptr)
                                                  : nlohmann::json(static_cast<double>(r.stats.accepted[i]) /
                                                                   r.stats.proposed[i]));
  return {{"tokens", r.stats.tokens},
          {"forward_passes", r.stats.forward_passes},
          {"tokens_per_forward", r.stats.tokens_per_forward()},
          {"acceptance_per_head", acceptance},
          {"prefill_tokens", r.stats.prefill_tokens},
          {"reused_tokens", r.stats.reused_tokens},
          {"prefill_ms", r.stats.prefill_ms},
          {"decode_ms", r.stats.decode_ms},
          {"stop", stop_reason_name(r.reason)},
          {"prompt_truncated", r.prompt_truncated}};
}

void add_complete_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("complete", "complete a prompt with a model and print statistics");
  struct Args {
    std::string model, prompt_file, prompt, mode = "speculative", dtype = "fp32";
    int max_new_tokens = 128, k = 0, top_k = 0;
    double temperature = 1.0, top_p = 1.0;
    uint64_t seed = 0;
    bool no_adaptive = false, json = false;
    std::vector<std::string> stops;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "checkpoint directory")->required();
  auto* file = cmd->add_option("--prompt-file", a->prompt_file, "file whose bytes are the prompt")
                   ->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--prompt", a->prompt, "the prompt as an argument");
  file->excludes(text);
  cmd->add_option("--max-new-tokens", a->max_new_tokens)->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--mode", a->mode)->check(CLI::IsMember({"greedy", "speculative", "sampling"}))->capture_default_str();
  cmd->add_option("--k", a->k, "draft length (0: the model's n_future - 1)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-adaptive", a->no_adaptive, "keep the draft length fixed");
  cmd->add_option("--temperature", a->temperature)->capture_default_str();
  cmd->add_option("--top-k", a->top_k)->capture_default_str();
  cmd->add_option("--top-p", a->top_p)->capture_default_str();
  cmd->add_option("--seed", a->seed)->capture_default_str();
  cmd->add_option("--stop", a->stops, "stop strings");
  cmd->add_option("--dtype", a->dtype)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object (completion and statistics)");
  cmd->callback([a, &global] {
    std::string prompt = a->prompt;
    if (!a->prompt_file.empty()) {
      std::ifstream in(a->prompt_file, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      if (!in) throw CLI::RuntimeError("mtpc complete: cannot read " + a->prompt_file, 1);
      prompt = ss.str();
    }
    auto engine = Engine::load(a->model, EngineOptions{global.device, a->dtype});
    if (!engine.ok()) throw CLI::RuntimeError("mtpc complete: " + engine.status().message(), 1);
    auto session = (*engine)->new_session();
    if (!session.ok()) throw CLI::RuntimeError("mtpc complete: " + session.status().message(), 1);
    GenerationRequest r;
    r.prompt = (*engine)->tokenizer().encode(prompt);
    r.max_new_tokens = a->max_new_tokens;
    r.mode = a->mode == "greedy" ? DecodeMode::kGreedy
             : a->mode == "sampling" ? DecodeMode::kSampling : DecodeMode::kSpeculative;
    r.draft_length = a->k;
    r.adaptive_draft = !a->no_adaptive;
    r.sampling = SamplingParams{a->temperature, a->top_k, a->top_p, a->seed};
    r.stop_strings = a->stops;
    auto out = (*engine)->generate(*session, r);
    if (!out.ok()) throw CLI::RuntimeError("mtpc complete: " + out.status().message(), 1);
    if (a->json) {
      nlohmann::json j = stats_json(*out);
      j["completion"] = out->text;
      j["mode"] = a->mode;
      std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::fwrite(out->text.data(), 1, out->text.size(), stdout);
      std::printf("\n");
      const auto& s = out->stats;
      std::fprintf(stderr, "-- %lld tokens in %lld passes (%.2f per pass), prefill %.1f ms, decode %.1f ms (%.0f tokens/s), stop: %s\n",
                   static_cast<long long>(s.tokens), static_cast<long long>(s.forward_passes),
                   s.tokens_per_forward(), s.prefill_ms, s.decode_ms,
                   s.decode_ms > 0 ? s.tokens * 1000.0 / s.decode_ms : 0.0, stop_reason_name(out->reason));
      std::fprintf(stderr, "-- acceptance per draft head: %s\n", stats_json(*out)["acceptance_per_head"].dump().c_str());
    }
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
