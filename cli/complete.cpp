// mtpc complete: one completion from the command line, with its statistics.
// FILE:LINE:COL goes through the completion core as an editor's request
// would; --prompt/--prompt-file decode the raw prompt with the engine.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "completion/completer.h"
#include "inference/stats_json.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::cli {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in) throw CLI::RuntimeError("mtpc complete: cannot read " + path, 1);
  return ss.str();
}

void print_json(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

// FILE:LINE:COL, LINE and COL from 1, COL in bytes (as compilers print them).
bool parse_location(const std::string& spec, std::string& file, int64_t& line, int64_t& col) {
  size_t c2 = spec.rfind(':');
  if (c2 == std::string::npos || c2 == 0) return false;
  size_t c1 = spec.rfind(':', c2 - 1);
  if (c1 == std::string::npos || c1 == 0) return false;
  try {
    size_t used = 0;
    line = std::stoll(spec.substr(c1 + 1, c2 - c1 - 1), &used);
    if (used != c2 - c1 - 1) return false;
    col = std::stoll(spec.substr(c2 + 1), &used);
    if (used != spec.size() - c2 - 1) return false;
  } catch (const std::exception&) {
    return false;
  }
  file = spec.substr(0, c1);
  return line >= 1 && col >= 1;
}

void complete_at(const std::string& model_dir, const std::string& location, const EngineOptions& engine,
                 const completion::Settings& settings, bool json) {
  std::string path;
  int64_t line = 0, col = 0;
  if (!parse_location(location, path, line, col))
    throw CLI::RuntimeError("mtpc complete: expected FILE:LINE:COL (from 1), got " + location, 2);
  const completion::Language language = completion::language_from_path(path);
  completion::OpenDocument doc(language, read_file(path), path);
  auto offset = completion::offset_at(doc.text(), line - 1, col - 1);
  if (!offset) throw CLI::RuntimeError("mtpc complete: line " + std::to_string(line) + " is outside the document " + path, 1);
  auto model = completion::load_engine_model(model_dir, engine);
  if (!model.ok()) throw CLI::RuntimeError("mtpc complete: " + model.status().message(), 1);
  completion::Completer completer(model->get());
  completion::CompletionRequest request;
  request.cursor = *offset;
  request.settings = settings;
  completion::Completion c = completer.complete(doc, request);
  if (!c.ok()) throw CLI::RuntimeError("mtpc complete: " + c.error, 1);
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request.received).count();
  if (json) {
    nlohmann::json stats = nullptr;
    if (c.stats) {
      stats = generation_stats_json(*c.stats);
      stats["stop_reason"] = c.stop_reason;
    }
    print_json({{"completion", c.text}, {"file", path}, {"line", line}, {"column", col},
                {"language", completion::language_name(language)}, {"deadline_hit", c.hit_deadline},
                {"total_ms", total_ms}, {"stats", stats}});
    return;
  }
  std::fwrite(c.text.data(), 1, c.text.size(), stdout);
  std::printf("\n");
  // Timing and statistics on stderr, so stdout stays the completion alone.
  std::fprintf(stderr, "-- %.1f ms", total_ms);
  if (const GenerationStats* s = c.stats ? &*c.stats : nullptr)
    std::fprintf(stderr, " (prefill %.1f ms for %lld prompt tokens, %lld reused; decode %.1f ms): "
                 "%lld tokens in %lld forward passes, %.2f tokens/pass; stop: %s%s",
                 s->prefill_ms, (long long)s->prefill_tokens, (long long)s->reused_tokens, s->decode_ms,
                 (long long)s->tokens, (long long)s->forward_passes, s->tokens_per_forward(), c.stop_reason.c_str(),
                 c.hit_deadline ? " (the deadline cut it; --deadline-ms raises it)" : "");
  std::fprintf(stderr, "\n");
}

void complete_prompt(const std::string& model_dir, const std::string& prompt, const EngineOptions& options,
                     GenerationRequest r, const std::string& mode, bool json) {
  auto engine = Engine::load(model_dir, options);
  if (!engine.ok()) throw CLI::RuntimeError("mtpc complete: " + engine.status().message(), 1);
  auto session = (*engine)->new_session();
  if (!session.ok()) throw CLI::RuntimeError("mtpc complete: " + session.status().message(), 1);
  r.prompt = (*engine)->tokenizer().encode(prompt);
  auto out = (*engine)->generate(*session, r);
  if (!out.ok()) throw CLI::RuntimeError("mtpc complete: " + out.status().message(), 1);
  nlohmann::json stats = generation_stats_json(out->stats);
  if (json) {
    stats.update({{"stop", stop_reason_name(out->reason)}, {"prompt_truncated", out->prompt_truncated},
                  {"completion", out->text}, {"mode", mode}});
    print_json(stats);
    return;
  }
  std::fwrite(out->text.data(), 1, out->text.size(), stdout);
  std::printf("\n");
  const auto& s = out->stats;
  std::fprintf(stderr, "-- %lld tokens in %lld passes (%.2f per pass), prefill %.1f ms, decode %.1f ms (%.0f tokens/s), stop: %s\n",
               (long long)s.tokens, (long long)s.forward_passes, s.tokens_per_forward(), s.prefill_ms, s.decode_ms,
               s.decode_ms > 0 ? s.tokens * 1000.0 / s.decode_ms : 0.0, stop_reason_name(out->reason));
  std::fprintf(stderr, "-- acceptance per draft head: %s\n", stats["acceptance_per_head"].dump().c_str());
}

}  // namespace

void add_complete_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("complete", "complete a prompt with a model and print statistics");
  struct Args {
    std::string model, prompt_file, prompt, location, mode = "speculative", dtype = "fp32";
    GenerationRequest request;
    completion::Settings settings;
    bool no_fim = false, no_adaptive = false, json = false;
  };
  auto a = std::make_shared<Args>();
  GenerationRequest& r = a->request;
  cmd->add_option("--model", a->model, "checkpoint directory")->required();
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
  cmd->add_option("--max-new-tokens", r.max_new_tokens)->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--mode", a->mode)->check(CLI::IsMember({"greedy", "speculative", "sampling"}))->capture_default_str();
  cmd->add_option("--k", r.draft_length, "draft length (0: the model's n_future - 1)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-adaptive", a->no_adaptive, "keep the draft length fixed");
  cmd->add_option("--temperature", r.sampling.temperature)->capture_default_str();
  cmd->add_option("--top-k", r.sampling.top_k)->capture_default_str();
  cmd->add_option("--top-p", r.sampling.top_p)->capture_default_str();
  cmd->add_option("--seed", r.sampling.seed)->capture_default_str();
  cmd->add_option("--stop", r.stop_strings, "stop strings");
  cmd->add_option("--dtype", a->dtype)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object (completion and statistics)");
  cmd->callback([a, &global] {
    const EngineOptions engine{global.device, a->dtype};
    if (!a->location.empty()) {
      a->settings.fim = !a->no_fim;
      complete_at(a->model, a->location, engine, a->settings, a->json);
    } else {
      GenerationRequest r = a->request;
      r.mode = a->mode == "greedy" ? DecodeMode::kGreedy
               : a->mode == "sampling" ? DecodeMode::kSampling : DecodeMode::kSpeculative;
      r.adaptive_draft = !a->no_adaptive;
      complete_prompt(a->model, a->prompt_file.empty() ? a->prompt : read_file(a->prompt_file), engine, r,
                      a->mode, a->json);
    }
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
