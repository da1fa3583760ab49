// measure_speedup (generation.h): the run's decoder against its next-token
// counterpart on the same prompts, in this process.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "eval/generation.h"
#include "eval/report.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::eval {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A stored measurement, if `path` holds one for `prompts` prompts.
std::optional<SpeedupMeasurement> read_stored(const std::string& path, int prompts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    SpeedupMeasurement m;
    m.prompts = j.at("prompts").get<int>();
    if (m.prompts != prompts) return std::nullopt;
    m.reference_decoder = j.at("reference_decoder").get<std::string>();
    m.fast_tokens = j.at("fast_tokens").get<int64_t>();
    m.reference_tokens = j.at("reference_tokens").get<int64_t>();
    m.fast_seconds = j.at("fast_seconds").get<double>();
    m.reference_seconds = j.at("reference_seconds").get<double>();
    m.fast_tokens_per_second = j.at("fast_tokens_per_second").get<double>();
    m.reference_tokens_per_second = j.at("reference_tokens_per_second").get<double>();
    if (j.at("identical").is_boolean()) m.identical = j.at("identical").get<bool>();
    m.measured_utc = j.at("measured_utc").get<std::string>();
    return m;
  } catch (const json::exception&) {
    return std::nullopt;  // an unreadable old file is measured again
  }
}

}  // namespace

Result<SpeedupMeasurement> measure_speedup(Engine& engine, const Dataset& dataset,
                                           const std::vector<const Task*>& tasks, const GenerateOptions& options,
                                           int prompts) {
  if (prompts < 1) return Status::Error("the speedup sample must be at least one prompt");
  const int n = std::min<int>(prompts, static_cast<int>(tasks.size()));
  const std::string path = options.out_dir + "/speedup.json";
  if (std::optional<SpeedupMeasurement> stored = read_stored(path, n)) return *stored;

  const bool sampling = options.decoding.sampling();
  SpeedupMeasurement m;
  m.prompts = n;
  m.reference_decoder = sampling ? "sampling without drafts (same seeds)" : "next-token greedy";
  bool identical = true;
  for (int i = 0; i < n; ++i) {
    const Task& task = *tasks[static_cast<size_t>(i)];
    Result<Prompt> prompt = build_prompt(dataset, task, options.prompt_format);
    if (!prompt.ok()) return prompt.status();
    GenerationRequest fast =
        make_request(*prompt, engine.tokenizer(), options.decoding, options.n_future, task.id, 0);
    GenerationRequest reference = fast;
    if (sampling) reference.draft_length = 0;
    else reference.mode = DecodeMode::kGreedy;
    std::vector<int32_t> outputs[2];
    // Alternating which decoder goes first keeps warm-up and drift from
    // favouring one of them.
    for (int turn = 0; turn < 2; ++turn) {
      const bool is_fast = (turn == 0) == (i % 2 == 0);
      Result<Session> session = engine.new_session();
      if (!session.ok()) return session.status();
      const Clock::time_point t0 = Clock::now();
      Result<GenerationResult> out = engine.generate(*session, is_fast ? fast : reference);
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      if (!out.ok()) return Status::Error("speedup measurement, " + task.id + ": " + out.status().message());
      (is_fast ? m.fast_tokens : m.reference_tokens) += out->stats.tokens;
      (is_fast ? m.fast_seconds : m.reference_seconds) += secs;
      outputs[is_fast ? 0 : 1] = out->tokens;
    }
    identical = identical && outputs[0] == outputs[1];
  }
  m.fast_tokens_per_second = m.fast_seconds > 0 ? static_cast<double>(m.fast_tokens) / m.fast_seconds : 0;
  m.reference_tokens_per_second =
      m.reference_seconds > 0 ? static_cast<double>(m.reference_tokens) / m.reference_seconds : 0;
  if (!sampling) m.identical = identical;
  m.measured_utc = utc_now();
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) return Status::Error(options.out_dir + ": cannot create: " + ec.message());
  if (Status s = write_file_atomic(path, to_json(m).dump(2) + "\n"); !s.ok()) return s;
  return m;
}

}  // namespace mtpc::eval
