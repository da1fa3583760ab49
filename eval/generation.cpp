#include "eval/generation.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "base/atomic_file.h"
#include "eval/generated_samples.h"
#include "inference/stats_json.h"
#include "model/network/config.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::eval {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

Result<json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return Status::Error(path + ": not valid JSON");
  return j;
}

// What decides the completions; a rerun into the same OUT must match it.
json settings_json(const GenerateOptions& o, Benchmark benchmark) {
  const DecodingSettings& d = o.decoding;
  return {{"benchmark", benchmark_name(benchmark)},
          {"prompt_format", prompt_format_name(o.prompt_format)},
          {"model", o.model_identity},
          {"device", o.device},
          {"dtype", o.dtype},
          {"decoding",
           {{"temperature", d.temperature},
            {"top_p", d.top_p},
            {"top_k", d.top_k},
            {"seed", d.seed},
            {"draft_length", d.draft_length},
            {"adaptive_draft", d.adaptive_draft},
            {"max_new_tokens", d.max_new_tokens},
            {"prompt_after_document_separator", d.prompt_after_document_separator}}}};
}

// The first key path where `a` and `b` differ, e.g. "decoding.temperature".
std::string first_difference(const json& a, const json& b, const std::string& at = "") {
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const std::string& k : keys) {
      std::string path = at.empty() ? k : at + "." + k;
      if (!a.contains(k) || !b.contains(k)) return path;
      std::string d = first_difference(a[k], b[k], path);
      if (!d.empty()) return d;
    }
    return "";
  }
  return a == b ? "" : (at.empty() ? "settings" : at);
}

}  // namespace

Status check_or_write_generation_settings(const std::string& out_dir, const json& settings) {
  const std::string path = out_dir + "/generation.json";
  std::error_code ec;
  if (fs::exists(path, ec)) {
    Result<json> old = read_json_file(path);
    if (!old.ok()) return Status::Error(old.status().message() + "; move it away or use a fresh --out");
    std::string diff = first_difference(*old, settings);
    if (!diff.empty()) {
      return Status::Error(out_dir + " holds samples generated with other settings (" + diff + " differs; see " +
                           path + "); use a fresh --out, or the same settings to resume");
    }
    return Status::Ok();
  }
  if (fs::exists(out_dir + "/samples.jsonl", ec)) {
    return Status::Error(out_dir + "/samples.jsonl exists but " + path +
                         " does not: the settings of those samples are unknown; use a fresh --out");
  }
  return write_file_atomic(path, dump(settings));
}

uint64_t sample_seed(uint64_t run_seed, const std::string& task_id, int index) {
  return splitmix64(splitmix64(run_seed ^ fnv1a(task_id)) + static_cast<uint64_t>(index));
}

std::string decoder_description(const DecodingSettings& d, int n_future) {
  const int max_draft = std::max(0, n_future - 1);
  const int k = d.draft_length == 0 ? max_draft : std::min(d.draft_length, max_draft);
  std::string drafts = k == 0 ? "" : " (drafts from head" + std::string(k > 1 ? "s 2-" : " ") +
                                         std::to_string(k + 1) + (d.adaptive_draft ? ", adaptive)" : ", fixed)");
  if (!d.sampling()) return k == 0 ? "next-token greedy" : "self-speculative greedy" + drafts;
  char buf[96];
  std::snprintf(buf, sizeof buf, ", temperature %g, top-p %g", d.temperature, d.top_p);
  std::string params = buf;
  if (d.top_k > 0) params += ", top-k " + std::to_string(d.top_k);
  return (k == 0 ? "sampling" : "speculative sampling") + params + drafts;
}

GenerationRequest make_request(const Prompt& prompt, const Tokenizer& tokenizer, const DecodingSettings& d,
                               int n_future, const std::string& task_id, int sample_index) {
  GenerationRequest r;
  if (d.prompt_after_document_separator) r.prompt.push_back(tokenizer.specials().eos);
  std::vector<int32_t> ids = encode_prompt(tokenizer, prompt.text);
  r.prompt.insert(r.prompt.end(), ids.begin(), ids.end());
  r.max_new_tokens = d.max_new_tokens;
  r.stop_strings = prompt.stop;
  r.stop_at_eos = true;
  r.adaptive_draft = d.adaptive_draft;
  if (d.sampling()) {
    r.mode = DecodeMode::kSampling;
    // For sampling the engine reads 0 as "no drafts"; ours means the largest.
    r.draft_length = d.draft_length == 0 ? std::max(0, n_future - 1) : d.draft_length;
    r.sampling = SamplingParams{d.temperature, d.top_k, d.top_p, sample_seed(d.seed, task_id, sample_index)};
  } else {
    r.mode = DecodeMode::kSpeculative;
    r.draft_length = d.draft_length;
  }
  return r;
}

DecodeBatch sequential_decoder(std::shared_ptr<Engine> engine) {
  // The session lives as long as the function: consecutive prompts share
  // their cached prefix (an MBPP task's shots, a task's n samples).
  auto session = std::make_shared<std::optional<Session>>();
  return [engine, session](const std::vector<GenerationRequest>& requests) {
    std::vector<Result<GenerationResult>> out;
    out.reserve(requests.size());
    if (!*session) {
      Result<Session> s = engine->new_session();
      if (!s.ok()) {
        for (size_t i = 0; i < requests.size(); ++i) out.emplace_back(s.status());
        return out;
      }
      session->emplace(std::move(s.value()));
    }
    for (const GenerationRequest& r : requests) out.push_back(engine->generate(**session, r));
    return out;
  };
}

DecodeBatch batched_decoder(std::shared_ptr<Engine> engine) {
  auto sessions = std::make_shared<std::vector<Session>>();
  return [engine, sessions](const std::vector<GenerationRequest>& requests) {
    std::vector<Result<GenerationResult>> out;
    out.reserve(requests.size());
    while (sessions->size() < requests.size()) {
      Result<Session> s = engine->new_session();
      if (!s.ok()) {
        for (size_t i = 0; i < requests.size(); ++i) out.emplace_back(s.status());
        return out;
      }
      sessions->push_back(std::move(s.value()));
    }
    std::vector<Session*> slots;
    for (size_t i = 0; i < requests.size(); ++i) slots.push_back(&(*sessions)[i]);
    auto results = engine->generate_batch(slots, requests);
    if (!results.ok()) {
      for (size_t i = 0; i < requests.size(); ++i) out.emplace_back(results.status());
      return out;
    }
    return std::move(results.value());
  };
}

Result<json> model_identity(const std::string& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec))
    return Status::Error(model_dir + ": no such model directory (expected config.json and model.safetensors)");
  const std::string config_path = model_dir + "/config.json";
  Result<json> config = read_json_file(config_path);
  if (!config.ok()) return config.status();
  // The weights: model.safetensors (mtpc), heads.safetensors (a heads-only
  // directory: its config names the base by sha256), else every shard
  // (*.safetensors, consolidated*.pth) counted together.
  std::vector<std::string> files;
  for (const char* one : {"model.safetensors", "heads.safetensors"})
    if (fs::is_regular_file(model_dir + "/" + one, ec)) {
      files.push_back(model_dir + "/" + one);
      break;
    }
  if (files.empty())
    for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
      const std::string name = entry.path().filename().string();
      const bool shard = (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0) ||
                         (name.rfind("consolidated", 0) == 0 && name.size() > 4 &&
                          name.compare(name.size() - 4, 4, ".pth") == 0);
      if (shard && entry.is_regular_file(ec)) files.push_back(entry.path().string());
    }
  if (files.empty())
    return Status::Error(model_dir + "/model.safetensors: missing (nor heads.safetensors, *.safetensors shards or "
                                      "consolidated*.pth)");
  int64_t bytes = 0, mtime = 0;
  for (const std::string& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) return Status::Error(f + ": missing");
    bytes += static_cast<int64_t>(st.st_size);
    mtime = std::max<int64_t>(mtime, static_cast<int64_t>(st.st_mtime));
  }
  return json{{"path", fs::canonical(model_dir, ec).string()},
              {"config", *config},
              {"weights_bytes", bytes},
              {"weights_mtime", mtime}};
}

Result<GenerationRun> generate_samples(const Dataset& dataset, const std::vector<const Task*>& tasks,
                                       const DecodeBatch& decode, const GenerateOptions& options,
                                       const std::function<void(const GenerationProgress&)>& progress) {
  if (options.samples_per_task < 1) return Status::Error("the number of samples per task must be at least 1");
  if (options.decoding.max_new_tokens < 1) return Status::Error("max new tokens must be at least 1");
  if (options.batch_size < 1) return Status::Error("batch size must be at least 1");
  // Every prompt first: a dataset that cannot make them fails before any work.
  std::vector<Prompt> prompts;
  for (const Task* t : tasks) {
    Result<Prompt> p = build_prompt(dataset, *t, options.prompt_format);
    if (!p.ok()) return p.status();
    prompts.push_back(std::move(p.value()));
  }
  const Tokenizer* tokenizer = options.tokenizer;
  if (!tokenizer) return Status::Error("generate_samples: no tokenizer");

  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return Status::Error(options.out_dir + ": cannot create: " + ec.message());
  if (Status s = check_or_write_generation_settings(options.out_dir, settings_json(options, dataset.benchmark()));
      !s.ok())
    return s;
  GenerationRun run;
  Result<std::unique_ptr<GeneratedSamplesLog>> opened =
      GeneratedSamplesLog::open(options.out_dir + "/samples.jsonl", &run.messages);
  if (!opened.ok()) return opened.status();
  GeneratedSamplesLog& log = *opened.value();

  struct Job {
    size_t task;
    int index;
  };
  std::vector<Job> pending;
  std::vector<int> missing(tasks.size(), 0);
  for (size_t t = 0; t < tasks.size(); ++t) {
    for (int i = 0; i < options.samples_per_task; ++i) {
      auto it = log.records().find({tasks[t]->id, i});
      if (it == log.records().end() || !it->second.ok()) {
        pending.push_back({t, i});
        ++missing[t];
      }
    }
  }

  GenerationProgress p;
  p.tasks_total = tasks.size();
  for (int m : missing) p.tasks_done += m == 0;
  p.samples_total = pending.size();
  if (progress) progress(p);
  const Clock::time_point start = Clock::now();
  for (size_t b = 0; b < pending.size(); b += static_cast<size_t>(options.batch_size)) {
    const size_t end = std::min(pending.size(), b + static_cast<size_t>(options.batch_size));
    std::vector<GenerationRequest> requests;
    for (size_t j = b; j < end; ++j) {
      const Job& job = pending[j];
      requests.push_back(make_request(prompts[job.task], *tokenizer, options.decoding, options.n_future,
                                      tasks[job.task]->id, job.index));
    }
    const Clock::time_point t0 = Clock::now();
    std::vector<Result<GenerationResult>> results = decode(requests);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    run.seconds += secs;
    if (results.size() != requests.size()) {
      return Status::Error("the decoder returned " + std::to_string(results.size()) + " results for " +
                           std::to_string(requests.size()) + " requests");
    }
    for (size_t j = b; j < end; ++j) {
      const Job& job = pending[j];
      Result<GenerationResult>& r = results[j - b];
      GeneratedSample s;
      s.task_id = tasks[job.task]->id;
      s.index = job.index;
      s.seconds = secs / static_cast<double>(requests.size());
      if (r.ok()) {
        // JSON holds no raw bytes; the completion scored is the one stored.
        s.completion = utf8_sanitized(r->text);
        s.stop = stop_reason_name(r->reason);
        s.prompt_truncated = r->prompt_truncated;
        s.stats = r->stats;
      } else {
        s.error = r.status().message().empty() ? "engine error" : r.status().message();
      }
      if (Status st = log.append(s); !st.ok()) return st;
      ++run.generated;
      ++p.samples_done;
      p.tokens += s.stats.tokens;
      if (--missing[job.task] == 0) ++p.tasks_done;
    }
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    p.eta_s = p.elapsed_s / static_cast<double>(p.samples_done) * static_cast<double>(p.samples_total - p.samples_done);
    if (progress) progress(p);
  }

  for (const Task* t : tasks) {
    for (int i = 0; i < options.samples_per_task; ++i) {
      auto it = log.records().find({t->id, i});
      if (it != log.records().end()) run.samples.push_back(it->second);
    }
  }
  return run;
}

GenerationSpeed summarize_generation(const GenerationRun& run, const GenerateOptions& options) {
  GenerationSpeed g;
  g.decoder = decoder_description(options.decoding, options.n_future);
  if (options.model_identity.is_object()) g.model = options.model_identity.value("path", std::string());
  g.samples_generated = run.generated;
  GenerationStats total;
  for (const GeneratedSample& s : run.samples) {
    if (!s.ok()) {
      ++g.errors;
      continue;
    }
    ++g.samples;
    g.prompts_truncated += s.prompt_truncated;
    g.seconds += s.seconds;
    add_generation_stats(total, s.stats);
  }
  g.tokens = total.tokens;
  g.forward_passes = total.forward_passes;
  g.tokens_per_second = g.seconds > 0 ? static_cast<double>(g.tokens) / g.seconds : 0;
  g.tokens_per_forward = total.tokens_per_forward();
  for (const std::optional<double>& a : total.acceptance_per_head())
    g.acceptance_per_head.push_back(a ? *a : std::numeric_limits<double>::quiet_NaN());
  return g;
}

}  // namespace mtpc::eval
