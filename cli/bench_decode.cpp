// mtpc bench decode: next-token greedy against self-speculative greedy on the
// same prompts, in one process, as one JSON object; with --batch also the same
// decoders over batches of prompts against batch 1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/gzip_file.h"
#include "base/machine.h"
#include "cli/commands.h"
#include "inference/engine.h"
#include "model/tokenizer/tokenizer.h"

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

struct DecodeConfig {
  std::string label;
  DecodeMode mode;
  int k;
  bool adaptive;
};

GenerationRequest make_request(const Engine& e, const std::string& prompt, int max_new_tokens,
                               const DecodeConfig& c) {
  GenerationRequest r;
  r.prompt = e.tokenizer().encode(prompt);
  r.max_new_tokens = max_new_tokens;
  r.stop_at_eos = false;  // equal lengths: the comparison is per token
  r.mode = c.mode;
  r.draft_length = c.k;
  r.adaptive_draft = c.adaptive;
  return r;
}

// Decode time only: the prompt's trunk pass (prefill) is timed apart, so
// prompt length does not dilute tokens/s.
struct Totals {
  double decode_seconds = 0, prefill_seconds = 0;
  int64_t tokens = 0, passes = 0;
  std::vector<int64_t> proposed, accepted;
  std::vector<std::vector<int32_t>> outputs;

  void add(const GenerationResult& r) {
    tokens += r.stats.tokens;
    passes += r.stats.forward_passes;
    proposed.resize(r.stats.proposed.size());
    accepted.resize(r.stats.accepted.size());
    for (size_t i = 0; i < r.stats.proposed.size(); ++i) {
      proposed[i] += r.stats.proposed[i];
      accepted[i] += r.stats.accepted[i];
    }
    outputs.push_back(r.tokens);
  }
  double tokens_per_s() const { return decode_seconds > 0 ? tokens / decode_seconds : 0.0; }
};

[[noreturn]] void fail(const std::string& message) {
  throw CLI::RuntimeError("mtpc bench decode: " + message, 1);
}

Session fresh_session(const Engine& e) {
  auto s = e.new_session();
  if (!s.ok()) fail(s.status().message());
  return std::move(*s);
}

// One request alone on a fresh session.
GenerationResult run_single(Engine& e, const GenerationRequest& r) {
  Session session = fresh_session(e);
  auto out = e.generate(session, r);
  if (!out.ok()) fail(out.status().message());
  return std::move(*out);
}

// Requests as one batch on fresh sessions.
std::vector<GenerationResult> run_batch(Engine& e, const std::vector<GenerationRequest>& rs) {
  std::vector<Session> sessions;
  std::vector<Session*> ptrs;
  for (size_t i = 0; i < rs.size(); ++i) sessions.push_back(fresh_session(e));
  for (auto& s : sessions) ptrs.push_back(&s);
  auto out = e.generate_batch(ptrs, rs);
  if (!out.ok()) fail(out.status().message());
  std::vector<GenerationResult> results;
  for (auto& r : *out) {
    if (!r.ok()) fail(r.status().message());
    results.push_back(std::move(*r));
  }
  return results;
}

nlohmann::json acceptance_json(const Totals& t) {
  nlohmann::json acceptance = nlohmann::json::array();
  for (size_t i = 0; i < t.proposed.size(); ++i)
    acceptance.push_back(t.proposed[i] ? nlohmann::json(static_cast<double>(t.accepted[i]) / t.proposed[i])
                                       : nlohmann::json(nullptr));
  return acceptance;
}

}  // namespace

void add_bench_decode_command(CLI::App& bench, GlobalOptions& global) {
  auto* cmd = bench.add_subcommand("decode", "next-token vs self-speculative greedy decoding speed");
  struct Args {
    std::string model, prompts, dtype = "fp32";
    int max_new_tokens = 128, limit = 0, batch = 1, warmup = 1;
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
  cmd->add_option("--batch", a->batch,
                  "also decode the prompts in batches of this size and compare tokens/s with batch 1")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "untimed runs of the first prompt per decoder before timing")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print only the JSON object (the default output anyway)");
  cmd->callback([a, &global] {
    auto prompts = read_prompts(a->prompts, a->limit);
    if (!prompts.ok()) fail(prompts.status().message());
    auto engine = Engine::load(a->model, EngineOptions{global.device, a->dtype});
    if (!engine.ok()) fail(engine.status().message());
    Engine& e = **engine;

    std::vector<DecodeConfig> configs = {{"greedy", DecodeMode::kGreedy, 0, false}};
    if (a->ks.empty()) configs.push_back({"speculative", DecodeMode::kSpeculative, 0, true});
    for (int k : a->ks) configs.push_back({"speculative_k" + std::to_string(k), DecodeMode::kSpeculative, k, false});
    auto requests_for = [&](const DecodeConfig& c, size_t from, size_t count) {
      std::vector<GenerationRequest> rs;
      for (size_t p = from; p < from + count && p < prompts->size(); ++p)
        rs.push_back(make_request(e, (*prompts)[p], a->max_new_tokens, c));
      return rs;
    };

    // Warm-up: first-call allocations, thread pools and (on CUDA) kernel
    // loading stay out of the timed runs.
    const size_t group = std::min<size_t>(a->batch, prompts->size());
    for (const DecodeConfig& c : configs)
      for (int w = 0; w < a->warmup; ++w) {
        run_single(e, requests_for(c, 0, 1)[0]);
        if (group > 1) run_batch(e, requests_for(c, 0, group));
      }
    e.synchronize();

    std::vector<Totals> totals(configs.size());
    for (size_t p = 0; p < prompts->size(); ++p) {
      std::fprintf(stderr, "\rbench decode: prompt %zu/%zu", p + 1, prompts->size());
      for (size_t c = 0; c < configs.size(); ++c) {
        auto out = run_single(e, requests_for(configs[c], p, 1)[0]);
        totals[c].decode_seconds += out.stats.decode_ms / 1000;
        totals[c].prefill_seconds += out.stats.prefill_ms / 1000;
        totals[c].add(out);
      }
    }
    std::fprintf(stderr, "\n");

    // Batches of `group` prompts: one shared decode phase per batch, timed
    // from the end of its prefill until its last sequence stops.
    std::vector<Totals> batched(group > 1 ? configs.size() : 0);
    for (size_t c = 0; c < batched.size(); ++c) {
      for (size_t from = 0; from < prompts->size(); from += group) {
        std::fprintf(stderr, "\rbench decode: %s batch of %zu at prompt %zu/%zu", configs[c].label.c_str(), group,
                     from + 1, prompts->size());
        auto outs = run_batch(e, requests_for(configs[c], from, group));
        double decode_ms = 0;
        for (const auto& out : outs) {
          decode_ms = std::max(decode_ms, out.stats.decode_ms);
          batched[c].add(out);
        }
        batched[c].decode_seconds += decode_ms / 1000;
        batched[c].prefill_seconds += outs.empty() ? 0 : outs[0].stats.prefill_ms / 1000;
      }
      std::fprintf(stderr, "\n");
    }

    nlohmann::json runs = nlohmann::json::array();
    bool identical = true;
    for (size_t c = 0; c < configs.size(); ++c) {
      const Totals& t = totals[c];
      nlohmann::json run = {{"decoder", configs[c].label},
                            {"tokens", t.tokens},
                            {"seconds", t.decode_seconds},
                            {"prefill_seconds", t.prefill_seconds},
                            {"tokens_per_s", t.tokens_per_s()},
                            {"forward_passes", t.passes},
                            {"tokens_per_forward", static_cast<double>(t.tokens) / t.passes}};
      if (c > 0) {
        run["acceptance_per_head"] = acceptance_json(t);
        run["speedup"] = totals[0].decode_seconds / t.decode_seconds;
        run["identical"] = t.outputs == totals[0].outputs;
        identical = identical && t.outputs == totals[0].outputs;
      }
      runs.push_back(run);
    }
    nlohmann::json out = {{"benchmark", "decode"},
                          {"model", a->model},
                          {"prompts", prompts->size()},
                          {"max_new_tokens", a->max_new_tokens},
                          {"dtype", a->dtype},
                          {"warmup_runs", a->warmup},
                          {"timing", "decode only: tokens / seconds after each prompt's prefill pass"},
                          {"machine", machine_description(global.device, global.threads)},
                          {"runs", runs},
                          {"speedup", runs.size() > 1 ? runs[1]["speedup"] : nlohmann::json(nullptr)}};
    if (!batched.empty()) {
      nlohmann::json batch_runs = nlohmann::json::array(), ratios = nlohmann::json::object();
      for (size_t c = 0; c < batched.size(); ++c) {
        const Totals& b = batched[c];
        // Same requests as the batch-1 run, so the outputs must match it.
        const bool same = b.outputs == totals[c].outputs;
        identical = identical && same;
        const double ratio = b.tokens_per_s() / totals[c].tokens_per_s();
        ratios[configs[c].label] = ratio;
        batch_runs.push_back({{"decoder", configs[c].label},
                              {"tokens", b.tokens},
                              {"seconds", b.decode_seconds},
                              {"prefill_seconds", b.prefill_seconds},
                              {"tokens_per_s", b.tokens_per_s()},
                              {"batch1_tokens_per_s", totals[c].tokens_per_s()},
                              {"ratio", ratio},
                              {"forward_passes", b.passes},
                              {"identical_to_batch1", same}});
      }
      out["batch"] = {{"size", group}, {"runs", batch_runs}};
      out["batch_ratio"] = ratios;
    }
    out["identical"] = identical;
    std::printf("%s\n", out.dump(2).c_str());
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
