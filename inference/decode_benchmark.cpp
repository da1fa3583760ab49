#include "inference/decode_benchmark.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "base/gzip_file.h"
#include "base/machine.h"
#include "inference/engine.h"
#include "inference/stats_json.h"
#include "model/network/config.h"
#include "model/network/linear_kernel.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {
namespace {

struct DecodeConfig {
  std::string label;
  DecodeMode mode;
  int k;
  bool adaptive;
  bool cost_aware = true;
  bool context = true;  // GenerationRequest::context_draft
};

// One decoder's totals over the prompts, and its outputs in prompt order.
struct Totals {
  GenerationStats stats;
  double decode_seconds = 0, prefill_seconds = 0;
  std::vector<std::vector<int32_t>> outputs;
  std::vector<double> prompt_seconds;  // decode seconds of each prompt (batch-1 runs)

  void add(const GenerationResult& r) {
    add_generation_stats(stats, r.stats);
    outputs.push_back(r.tokens);
  }
  double tokens_per_s() const { return decode_seconds > 0 ? stats.tokens / decode_seconds : 0.0; }
  nlohmann::json json(const std::string& decoder) const {
    nlohmann::json j = generation_stats_json(stats);
    j["decoder"] = decoder;
    j["seconds"] = decode_seconds;
    j["prefill_seconds"] = prefill_seconds;
    j["tokens_per_s"] = tokens_per_s();
    return j;
  }
};

GenerationRequest make_request(const Engine& e, const std::string& prompt, int max_new_tokens,
                               const DecodeConfig& c) {
  GenerationRequest r;
  r.prompt = encode_prompt(e.tokenizer(), prompt);
  r.max_new_tokens = max_new_tokens;
  r.stop_at_eos = false;  // equal lengths: the comparison is per token
  r.mode = c.mode;
  r.draft_length = c.k;
  r.adaptive_draft = c.adaptive;
  r.cost_aware_draft = c.cost_aware;
  r.context_draft = c.context;
  return r;
}

// Requests on fresh sessions: alone through generate(), or as one batch
// through generate_batch().
Result<std::vector<GenerationResult>> run_fresh(Engine& e, const std::vector<GenerationRequest>& rs, bool batch) {
  std::vector<Session> sessions;
  std::vector<Session*> ptrs;
  for (size_t i = 0; i < rs.size(); ++i) {
    Result<Session> s = e.new_session();
    if (!s.ok()) return s.status();
    sessions.push_back(std::move(*s));
  }
  for (Session& s : sessions) ptrs.push_back(&s);
  std::vector<GenerationResult> results;
  if (!batch) {
    Result<GenerationResult> out = e.generate(sessions[0], rs[0]);
    if (!out.ok()) return out.status();
    results.push_back(std::move(*out));
    return results;
  }
  auto out = e.generate_batch(ptrs, rs);
  if (!out.ok()) return out.status();
  for (auto& r : *out) {
    if (!r.ok()) return r.status();
    results.push_back(std::move(*r));
  }
  return results;
}

}  // namespace

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

Result<nlohmann::json> run_decode_benchmark(const DecodeBenchmarkOptions& o) {
  // The prompts first: a bad file is reported before a model is loaded.
  Result<std::vector<std::string>> read = read_prompts(o.prompts, o.limit);
  if (!read.ok()) return read.status();
  const std::vector<std::string>& prompts = *read;
  const auto load_start = std::chrono::steady_clock::now();
  auto engine = Engine::load(o.model, EngineOptions{o.device, o.dtype});
  if (!engine.ok()) return engine.status();
  Engine& e = **engine;
  auto say = [&](const std::string& text) {
    if (o.progress) o.progress(text);
  };
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const ProcessMemory after_load = process_memory();
  const std::string draft_heads = e.draft_heads();
  nlohmann::json pass_cost = nullptr;
  if (o.pass_cost_rows > 0) {
    say("bench decode: timing passes of 1.." + std::to_string(o.pass_cost_rows) + " rows\n");
    // A short-context model gets the context that leaves room for the rows.
    const int context = std::max(1, std::min(o.pass_cost_context, e.config().max_seq_len - o.pass_cost_rows));
    auto costs = e.measure_pass_costs(o.pass_cost_rows, context, o.pass_cost_repeats);
    if (!costs.ok()) return costs.status();
    nlohmann::json ratios = nlohmann::json::array();
    for (double ms : *costs) ratios.push_back(ms / (*costs)[0]);
    pass_cost = {{"context", context},
                 {"repeats", o.pass_cost_repeats},
                 {"what", "trunk + next-token head over r rows (a verifying pass with r-1 drafts), median ms"},
                 {"ms", *costs},
                 {"ratio_to_one_row", ratios}};
  }

  std::vector<DecodeConfig> configs = {{"greedy", DecodeMode::kGreedy, 0, false}};
  if (o.draft_lengths.empty()) {
    configs.push_back({"speculative", DecodeMode::kSpeculative, 0, true});
    // Side by side: the adaptive rule without the step costs (k >= 1).
    if (!e.draft_step_costs().empty())
      configs.push_back({"speculative_acceptance_only", DecodeMode::kSpeculative, 0, true, false});
    // And without context drafts: what the heads alone give.
    if (!e.context_step_costs().empty())
      configs.push_back({"speculative_heads_only", DecodeMode::kSpeculative, 0, true, true, false});
  }
  for (int k : o.draft_lengths)
    configs.push_back({"speculative_k" + std::to_string(k), DecodeMode::kSpeculative, k, false});
  auto requests_for = [&](const DecodeConfig& c, size_t from, size_t count) {
    std::vector<GenerationRequest> rs;
    for (size_t p = from; p < from + count && p < prompts.size(); ++p)
      rs.push_back(make_request(e, prompts[p], o.max_new_tokens, c));
    return rs;
  };

  // Warm-up: first-call allocations, thread pools and (on CUDA) kernel
  // loading stay out of the timed runs.
  const size_t group = std::min<size_t>(std::max(o.batch, 1), prompts.size());
  for (const DecodeConfig& c : configs)
    for (int w = 0; w < o.warmup; ++w) {
      if (auto r = run_fresh(e, requests_for(c, 0, 1), false); !r.ok()) return r.status();
      if (group > 1)
        if (auto r = run_fresh(e, requests_for(c, 0, group), true); !r.ok()) return r.status();
    }
  e.synchronize();

  std::vector<Totals> totals(configs.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    say("\rbench decode: prompt " + std::to_string(p + 1) + "/" + std::to_string(prompts.size()));
    for (size_t c = 0; c < configs.size(); ++c) {
      auto out = run_fresh(e, requests_for(configs[c], p, 1), false);
      if (!out.ok()) return out.status();
      totals[c].decode_seconds += (*out)[0].stats.decode_ms / 1000;
      totals[c].prompt_seconds.push_back((*out)[0].stats.decode_ms / 1000);
      totals[c].prefill_seconds += (*out)[0].stats.prefill_ms / 1000;
      totals[c].add((*out)[0]);
    }
  }
  say("\n");

  // Batches of `group` prompts: one shared decode phase per batch, timed
  // from the end of its prefill until its last sequence stops.
  std::vector<Totals> batched(group > 1 ? configs.size() : 0);
  for (size_t c = 0; c < batched.size(); ++c) {
    for (size_t from = 0; from < prompts.size(); from += group) {
      say("\rbench decode: " + configs[c].label + " batch of " + std::to_string(group) + " at prompt " +
          std::to_string(from + 1) + "/" + std::to_string(prompts.size()));
      auto outs = run_fresh(e, requests_for(configs[c], from, group), true);
      if (!outs.ok()) return outs.status();
      double decode_ms = 0;
      for (const GenerationResult& out : *outs) {
        decode_ms = std::max(decode_ms, out.stats.decode_ms);
        batched[c].add(out);
      }
      batched[c].decode_seconds += decode_ms / 1000;
      batched[c].prefill_seconds += outs->empty() ? 0 : (*outs)[0].stats.prefill_ms / 1000;
    }
    say("\n");
  }

  nlohmann::json runs = nlohmann::json::array();
  bool identical = true;
  for (size_t c = 0; c < configs.size(); ++c) {
    const Totals& t = totals[c];
    nlohmann::json run = t.json(configs[c].label);
    if (c > 0) {
      run["speedup"] = totals[0].decode_seconds / t.decode_seconds;
      // Each prompt's greedy / this decoder's decode time: the worst one says
      // whether some prompt decodes slower than plain greedy.
      nlohmann::json ratios = nlohmann::json::array();
      int worst = -1;
      for (size_t p = 0; p < t.prompt_seconds.size(); ++p) {
        const double ratio = t.prompt_seconds[p] > 0 ? totals[0].prompt_seconds[p] / t.prompt_seconds[p] : 1.0;
        ratios.push_back(ratio);
        if (worst < 0 || ratio < ratios[worst].get<double>()) worst = static_cast<int>(p);
      }
      run["prompt_ratios"] = ratios;
      run["worst_prompt"] = worst;
      run["worst_prompt_ratio"] = worst >= 0 ? ratios[worst] : nlohmann::json(nullptr);
      run["identical"] = t.outputs == totals[0].outputs;
      identical = identical && t.outputs == totals[0].outputs;
    }
    runs.push_back(run);
  }
  nlohmann::json out = {{"benchmark", "decode"},
                        {"model", o.model},
                        {"prompts", prompts.size()},
                        {"max_new_tokens", o.max_new_tokens},
                        {"dtype", o.dtype},
                        {"draft_heads", draft_heads},
                        {"linear_kernel", linear_kernel_name()},
                        {"warmup_runs", o.warmup},
                        {"timing", "decode only: tokens / seconds after each prompt's prefill pass"},
                        {"machine", machine_description(o.device, o.threads)},
                        {"runs", runs},
                        {"speedup", runs.size() > 1 ? runs[1]["speedup"] : nlohmann::json(nullptr)},
                        {"worst_prompt_ratio", runs.size() > 1 ? runs[1]["worst_prompt_ratio"] : nlohmann::json(nullptr)}};
  if (!batched.empty()) {
    nlohmann::json batch_runs = nlohmann::json::array(), ratios = nlohmann::json::object();
    for (size_t c = 0; c < batched.size(); ++c) {
      const Totals& b = batched[c];
      // Same requests as the batch-1 run, so the outputs must match it.
      const bool same = b.outputs == totals[c].outputs;
      identical = identical && same;
      const double ratio = b.tokens_per_s() / totals[c].tokens_per_s();
      ratios[configs[c].label] = ratio;
      nlohmann::json run = b.json(configs[c].label);
      run["batch1_tokens_per_s"] = totals[c].tokens_per_s();
      run["ratio"] = ratio;
      run["identical_to_batch1"] = same;
      batch_runs.push_back(run);
    }
    out["batch"] = {{"size", group}, {"runs", batch_runs}};
    out["batch_ratio"] = ratios;
  }
  out["identical"] = identical;
  out["load_seconds"] = load_seconds;
  out["memory"] = {{"rss_mib_after_load", after_load.rss_mib}, {"peak_rss_mib", process_memory().peak_rss_mib}};
  out["pass_cost"] = pass_cost;
  // What cost-aware drafting weighed: a step with k drafts / one without.
  out["draft_step_costs"] = e.draft_step_costs();
  // The same for steps drafting from the context (k context drafts).
  out["context_step_costs"] = e.context_step_costs();
  return out;
}

}  // namespace mtpc
