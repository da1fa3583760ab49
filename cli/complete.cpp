// mtpc complete: one completion from the command line, with its statistics.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "inference/engine.h"
#include "lsp/completion_model.h"
#include "lsp/completion_service.h"
#include "lsp/context.h"
#include "model/tokenizer/tokenizer.h"

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

namespace {

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

// The language server's pipeline once: document, context plan, engine with
// the stop rule and deadline, post-processing.
void complete_at(const std::string& model, const std::string& location, const GlobalOptions& global,
                 const std::string& dtype, int max_tokens, int deadline_ms, bool fim, bool json) {
  std::string path;
  int64_t line = 0, col = 0;
  if (!parse_location(location, path, line, col))
    throw CLI::RuntimeError("mtpc complete: expected FILE:LINE:COL (from 1), got " + location, 2);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CLI::RuntimeError("mtpc complete: cannot read " + path, 1);
  std::ostringstream ss;
  ss << in.rdbuf();
  lsp::Logger log;
  EngineOptions engine{global.device, dtype};
  lsp::CompletionService service(
      [engine](const std::string& dir) { return lsp::load_engine_model(dir, engine); }, log);
  std::promise<Status> loaded;
  service.ensure_model(model, [&loaded](Status s) { loaded.set_value(s); });
  Status s = loaded.get_future().get();
  if (!s.ok()) throw CLI::RuntimeError("mtpc complete: " + s.message(), 1);
  int client = service.add_client();
  lsp::TextDocumentItem doc;
  doc.uri = "file://" + path;
  doc.text = ss.str();
  service.open(client, doc, lsp::language_from_path(path));
  lsp::CompletionQuery q;
  q.uri = doc.uri;
  q.position = lsp::Position{line - 1, col - 1};
  q.encoding = lsp::PositionEncoding::kUtf8;
  q.settings.max_tokens = max_tokens;
  q.settings.deadline_ms = deadline_ms;
  q.settings.fim = fim;
  std::promise<lsp::CompletionAnswer> answered;
  service.complete(client, q, nullptr, [&answered](lsp::CompletionAnswer a) { answered.set_value(std::move(a)); });
  lsp::CompletionAnswer a = answered.get_future().get();
  if (!a.ok) throw CLI::RuntimeError("mtpc complete: " + a.message, 1);
  std::string text = a.items.empty() ? "" : a.items[0].text;
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - q.received).count();
  nlohmann::json stats = nullptr;
  if (a.stats) {
    const GenerationStats& st = *a.stats;
    nlohmann::json acceptance = nlohmann::json::array();
    for (size_t i = 0; i < st.proposed.size(); ++i)
      acceptance.push_back(st.proposed[i] ? nlohmann::json(double(st.accepted[i]) / st.proposed[i])
                                          : nlohmann::json(nullptr));
    stats = {{"prompt_tokens_computed", st.prefill_tokens}, {"prompt_tokens_reused", st.reused_tokens},
             {"tokens", st.tokens}, {"forward_passes", st.forward_passes},
             {"tokens_per_forward", st.tokens_per_forward()}, {"acceptance_per_head", acceptance},
             {"prefill_ms", st.prefill_ms}, {"decode_ms", st.decode_ms}, {"stop_reason", a.stop_reason}};
  }
  if (json) {
    nlohmann::json j = {{"completion", text}, {"file", path}, {"line", line}, {"column", col},
                        {"language", lsp::language_name(lsp::language_from_path(path))},
                        {"deadline_hit", a.hit_deadline}, {"total_ms", total_ms}, {"stats", stats}};
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
    // Timing and statistics on stderr, so stdout stays the completion alone.
    std::fprintf(stderr, "-- %.1f ms", total_ms);
    if (a.stats)
      std::fprintf(stderr, " (prefill %.1f ms for %lld prompt tokens, %lld reused; decode %.1f ms): "
                   "%lld tokens in %lld forward passes, %.2f tokens/pass; stop: %s%s\n",
                   a.stats->prefill_ms, (long long)a.stats->prefill_tokens, (long long)a.stats->reused_tokens,
                   a.stats->decode_ms, (long long)a.stats->tokens, (long long)a.stats->forward_passes,
                   a.stats->tokens_per_forward(), a.stop_reason.c_str(),
                   a.hit_deadline ? " (the deadline cut it; --deadline-ms raises it)" : "");
    else
      std::fprintf(stderr, "\n");
  }
}

}  // namespace

void add_complete_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("complete", "complete a prompt with a model and print statistics");
  struct Args {
    std::string model, prompt_file, prompt, mode = "speculative", dtype = "fp32";
    int max_new_tokens = 128, k = 0, top_k = 0;
    double temperature = 1.0, top_p = 1.0;
    uint64_t seed = 0;
    bool no_adaptive = false, json = false;
    std::vector<std::string> stops;
    std::string location;
    int deadline_ms = 300, max_tokens = 64;
    bool no_fim = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "checkpoint directory")->required();
  auto* file = cmd->add_option("--prompt-file", a->prompt_file, "file whose bytes are the prompt")
                   ->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--prompt", a->prompt, "the prompt as an argument");
  file->excludes(text);
  auto* location = cmd->add_option("location", a->location,
                                   "FILE:LINE:COL: complete there as the language server would");
  location->excludes(file)->excludes(text);
  cmd->add_option("--deadline-ms", a->deadline_ms, "with FILE:LINE:COL: the completion deadline")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "with FILE:LINE:COL: tokens per completion")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--no-fim", a->no_fim, "with FILE:LINE:COL: prefix-only prompts");
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
    if (!a->location.empty()) {
      complete_at(a->model, a->location, global, a->dtype, a->max_tokens, a->deadline_ms, !a->no_fim, a->json);
      throw CLI::RuntimeError("", 0);
    }
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
