#include "model/training/train_scaling_benchmark.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "base/machine.h"
#include "model/training/train_config.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Result<std::string> run_capture(const std::string& cmd) {
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return Status::Error("cannot start: " + cmd);
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t got = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), got);
  if (pclose(pipe) != 0) return Status::Error("failed: " + cmd + "\n" + out);
  return out;
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double v = -1;
  in >> v;
  return v;
}

// Seconds between the logged ends of step 1 (the warm-up) and the last step.
Result<double> timed_seconds(const std::string& log_path, int64_t last_step) {
  std::ifstream in(log_path);
  if (!in) return Status::Error(log_path + ": missing");
  double first = -1, last = -1;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("loss") || !j.contains("elapsed_s")) continue;
    if (j["step"] == 1) first = j["elapsed_s"].get<double>();
    if (j["step"] == last_step) last = j["elapsed_s"].get<double>();
  }
  if (first < 0 || last <= first) return Status::Error(log_path + ": no timing for steps 1 and " + std::to_string(last_step));
  return last - first;
}

}  // namespace

Result<nlohmann::json> run_train_scaling_benchmark(const TrainScalingOptions& o) {
  try {
    if (o.ranks < 2) return Status::Error("--ranks must be >= 2 for the scaling benchmark");
    if (o.steps < 1) return Status::Error("--steps must be >= 1");
    auto run = run_config_from_preset(o.preset);
    if (!run.ok()) return run.status();
    TrainConfig& t = run->train;
    if (t.batch_size % o.ranks != 0)
      return Status::Error("preset " + o.preset + "'s batch_size " + std::to_string(t.batch_size) +
                           " does not divide by --ranks " + std::to_string(o.ranks));
    t.steps = o.steps + 1;
    t.warmup_steps = 1;
    t.log_every = 1;
    t.eval_every = 0;
    t.checkpoint_every = 0;
    const int cores = o.threads > 0 ? o.threads : hardware_threads();

    char tmpl[] = "/tmp/mtpc-train-scaling-XXXXXX";
    if (!mkdtemp(tmpl)) return Status::Error("cannot create a temporary directory");
    const fs::path dir = tmpl;
    struct Cleanup {
      fs::path d;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(d, ec);
      }
    } cleanup{dir};
    // Random bytes: throughput does not depend on what the tokens say.
    fs::create_directories(dir / "data");
    {
      std::ofstream out(dir / "data/train.bin", std::ios::binary);
      std::mt19937 rng(1);
      const int64_t n = std::max<int64_t>(1 << 20, 4 * (t.seq_len + run->model.n_future));
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t id = static_cast<uint16_t>(rng() % 256);
        out.put(static_cast<char>(id & 0xff)).put(static_cast<char>(id >> 8));
      }
      if (!out) return Status::Error((dir / "data/train.bin").string() + ": write failed");
    }
    {
      std::ofstream out(dir / "run.json");
      out << nlohmann::json{{"preset", o.preset}, {"train", train_config_to_json(t)}}.dump();
    }

    const double load = load_average();
    const int64_t tokens_per_step = static_cast<int64_t>(t.batch_size) * t.accum_steps * t.seq_len;
    nlohmann::json runs = nlohmann::json::array();
    // 1 process with every core; 1 process with one rank's share of them
    // (the per-rank baseline); N ranks sharing the cores.
    const int per_rank = std::max(1, cores / o.ranks);
    std::vector<std::pair<int, int>> plan = {{1, cores}};
    if (per_rank != cores) plan.push_back({1, per_rank});
    plan.push_back({o.ranks, cores});
    for (auto [world, threads] : plan) {
      const std::string out_dir = (dir / ("out" + std::to_string(runs.size()))).string();
      std::string cmd = quote(o.program) + " --threads " + std::to_string(threads) + " --device " + o.device +
                        " train --config " + quote((dir / "run.json").string()) + " --data " +
                        quote((dir / "data").string()) + " --out " + quote(out_dir);
      if (world > 1) cmd += " --ranks " + std::to_string(world);
      auto r = run_capture(cmd);
      if (!r.ok()) return r.status();
      auto secs = timed_seconds(out_dir + "/train.jsonl", t.steps);
      if (!secs.ok()) return secs.status();
      const double tps = o.steps * tokens_per_step / *secs;
      runs.push_back({{"ranks", world},
                      {"threads_per_rank", std::max(1, threads / world)},
                      {"tokens_per_s", tps},
                      {"step_seconds", *secs / o.steps}});
      if (o.progress)
        o.progress(std::to_string(world) + " rank(s) x " + std::to_string(std::max(1, threads / world)) +
                   " thread(s): " + std::to_string(static_cast<int64_t>(tps)) + " tokens/s");
    }
    return nlohmann::json{{"benchmark", "train-scaling"},
                          {"preset", o.preset},
                          {"steps", o.steps},
                          {"global_batch", t.batch_size},
                          {"seq_len", t.seq_len},
                          {"bf16", t.bf16},
                          {"runs", runs},
                          {"ratio", runs.back()["tokens_per_s"].get<double>() / runs[0]["tokens_per_s"].get<double>()},
                          {"efficiency", runs.back()["tokens_per_s"].get<double>() /
                                             (o.ranks * runs[runs.size() - 2]["tokens_per_s"].get<double>())},
                          {"load_average_1m", load},
                          {"machine", machine_description(o.device, cores)}};
  } catch (const std::exception& e) {
    return Status::Error(std::string("train scaling benchmark: ") + e.what());
  }
}

}  // namespace mtpc
