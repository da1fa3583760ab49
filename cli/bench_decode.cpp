// mtpc bench decode: next-token greedy against self-speculative greedy on the
// same prompts, in one process, as one JSON object.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "inference/engine.h"
#include "model/gzip_file.h"
#include "model/tokenizer.h"

namespace mtpc::cli {
namespace {

// "prompt" fields of a JSONL file (gzip or plain).
Result<std::vector<std::string>> read_prompts(const std::string& path, int limit) {
  auto text = read_file_maybe_gz(path);
  if (!text.ok()) return text.status();
  std::vector<std::string> prompts;
  std::istringstream in(*text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line) && (limit <= 0 || static_cast<int>(prompts.size()) < limit)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("prompt") || !j["prompt"].is_string())
      return Status::Error(path + ":" + std::to_string(line_no) + ": expected a JSON object with a string \"prompt\"");
    prompts.push_back(j["prompt"].get<std::string>());
  }
  if (prompts.empty()) return Status::Error(path + ": no prompts");
  return prompts;
}

struct Totals {
  double seconds = 0;
  int64_t tokens = 0, passes = 0;
  std::vector<int64_t> proposed, accepted;
  std::vector<std::vector<int32_t>> outputs;
};

}  // namespace

nlohmann::json stats_json(const GenerationResult& r);
std::string cpu_description();

void add_bench_decode_command(CLI::App& bench, GlobalOptions& global) {
  auto* cmd = bench.add_subcommand("decode", "next-token vs self-speculative greedy decoding speed");
  struct Args {
    std::string model, prompts, dtype = "fp32";
    int max_new_tokens = 128, limit = 0;
    std::vector<int> ks;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "checkpoint directory")->required();
  cmd->add_option("--prompts", a->prompts, "JSONL(.gz) with a \"prompt\" field")->required();
  cmd->add_option("--max-new-tokens", a->max_new_tokens)->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--limit", a->limit, "use the first N prompts (0: all)");
  cmd->add_option("--k", a->ks, "draft lengths to sweep (default: the model's largest, adaptive)");
  cmd->add_option("--dtype", a->dtype)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_flag("--json", a->json, "print only the JSON object (the default output anyway)");
  cmd->callback([a, &global] {
    auto prompts = read_prompts(a->prompts, a->limit);
    if (!prompts.ok()) throw CLI::RuntimeError("mtpc bench decode: " + prompts.status().message(), 1);
    auto engine = Engine::load(a->model, EngineOptions{global.device, a->dtype});
    if (!engine.ok()) throw CLI::RuntimeError("mtpc bench decode: " + engine.status().message(), 1);
    Engine& e = **engine;

    // (label, mode, k, adaptive)
    std::vector<std::tuple<std::string, DecodeMode, int, bool>> configs = {{"greedy", DecodeMode::kGreedy, 0, false}};
    if (a->ks.empty()) configs.emplace_back("speculative", DecodeMode::kSpeculative, 0, true);
    for (int k : a->ks) configs.emplace_back("speculative_k" + std::to_string(k), DecodeMode::kSpeculative, k, false);

    std::vector<Totals> totals(configs.size());
    for (size_t p = 0; p < prompts->size(); ++p) {
      std::fprintf(stderr, "\rbench decode: prompt %zu/%zu", p + 1, prompts->size());
      for (size_t c = 0; c < configs.size(); ++c) {
        auto [label, mode, k, adaptive] = configs[c];
        auto session = e.new_session();
        if (!session.ok()) throw CLI::RuntimeError(session.status().message(), 1);
        GenerationRequest r;
        r.prompt = e.tokenizer().encode((*prompts)[p]);
        r.max_new_tokens = a->max_new_tokens;
        r.stop_at_eos = false;  // equal lengths: the comparison is per token
        r.mode = mode;
        r.draft_length = k;
        r.adaptive_draft = adaptive;
        const auto start = std::chrono::steady_clock::now();
        auto out = e.generate(*session, r);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!out.ok()) throw CLI::RuntimeError("mtpc bench decode: " + out.status().message(), 1);
        Totals& t = totals[c];
        t.seconds += secs;
        t.tokens += out->stats.tokens;
        t.passes += out->stats.forward_passes;
        t.proposed.resize(out->stats.proposed.size());
        t.accepted.resize(out->stats.accepted.size());
        for (size_t i = 0; i < out->stats.proposed.size(); ++i) {
          t.proposed[i] += out->stats.proposed[i];
          t.accepted[i] += out->stats.accepted[i];
        }
        t.outputs.push_back(out->tokens);
      }
    }
    std::fprintf(stderr, "\n");
    nlohmann::json runs = nlohmann::json::array();
    for (size_t c = 0; c < configs.size(); ++c) {
      const Totals& t = totals[c];
      nlohmann::json acceptance = nlohmann::json::array();
      for (size_t i = 0; i < t.proposed.size(); ++i)
        acceptance.push_back(t.proposed[i] ? nlohmann::json(static_cast<double>(t.accepted[i]) / t.proposed[i])
                                           : nlohmann::json(nullptr));
      nlohmann::json run = {{"decoder", std::get<0>(configs[c])},
                            {"tokens", t.tokens},
                            {"seconds", t.seconds},
                            {"tokens_per_s", t.tokens / t.seconds},
                            {"forward_passes", t.passes},
                            {"tokens_per_forward", static_cast<double>(t.tokens) / t.passes}};
      if (c > 0) {
        run["acceptance_per_head"] = acceptance;
        run["speedup"] = totals[0].seconds / t.seconds;
        run["identical"] = t.outputs == totals[0].outputs;
      }
      runs.push_back(run);
    }
    bool identical = true;
    for (size_t c = 1; c < configs.size(); ++c) identical = identical && totals[c].outputs == totals[0].outputs;
    nlohmann::json out = {{"benchmark", "decode"},
                          {"model", a->model},
                          {"prompts", prompts->size()},
                          {"max_new_tokens", a->max_new_tokens},
                          {"dtype", a->dtype},
                          {"machine", {{"cpu", cpu_description()}, {"device", global.device},
                                       {"threads", global.threads}}},
                          {"runs", runs},
                          {"speedup", runs.size() > 1 ? runs[1]["speedup"] : nlohmann::json(nullptr)},
                          {"identical", identical}};
    std::printf("%s\n", out.dump(2).c_str());
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
