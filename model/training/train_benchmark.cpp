#include "model/training/train_benchmark.h"

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "base/machine.h"
#include "model/checkpoint/checkpoint.h"
#include "model/network/network.h"
#include "model/training/train_step.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace mtpc {
namespace {

int64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

// Runs one command and parses the JSON it prints.
Result<nlohmann::json> run_child(const std::string& cmd) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return Status::Error("cannot start: " + cmd);
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t got = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), got);
  int rc = pclose(pipe);
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (rc != 0 || j.is_discarded()) return Status::Error("child failed (" + cmd + "): " + out);
  return j;
}

}  // namespace

Result<StepBenchmark> benchmark_train_steps(const RunConfig& run, int64_t steps, const std::string& device) {
  try {
    if (Status s = run.model.validate(); !s.ok()) return s;
    if (Status s = run.train.validate(run.model); !s.ok()) return s;
    torch::Device dev(device == "cuda" ? torch::kCUDA : torch::kCPU);
    torch::manual_seed(run.train.seed);
    MtpModel model(run.model);
    model->to(dev);
    AdamW opt(named_parameters_sorted(*model),
              AdamW::Options{run.train.beta1, run.train.beta2, run.train.adam_eps, run.train.weight_decay});
    const auto& t = run.train;
    auto window = torch::randint(0, 256, {t.batch_size, t.seq_len + run.model.n_future}, torch::kLong).to(dev);
    auto one_step = [&] { optimizer_step(*model, opt, t, t.lr, dev.is_cuda(), [&](int) { return window; }); };
    one_step();  // warm-up: allocator and thread pool
    const auto start = Clock::now();
    for (int64_t i = 0; i < steps; ++i) one_step();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    StepBenchmark b;
    b.step_seconds = secs / steps;
    b.tokens_per_second = static_cast<double>(t.batch_size) * t.accum_steps * t.seq_len / b.step_seconds;
    b.peak_rss_bytes = peak_rss_bytes();
    return b;
  } catch (const std::exception& e) {
    return Status::Error(std::string("benchmark failed: ") + e.what());
  }
}

Result<nlohmann::json> benchmark_train_step_json(const std::string& preset, int64_t steps, int n_future,
                                                 const std::string& head_kind, const std::string& loss_order,
                                                 const std::string& device) {
  auto run = run_config_from_preset(preset);
  if (!run.ok()) return run.status();
  run->model.n_future = n_future;
  run->model.head_kind = head_kind == "mlp" ? HeadKind::kMlp : HeadKind::kTransformer;
  run->train.loss_order = loss_order;
  auto b = benchmark_train_steps(*run, steps, device);
  if (!b.ok()) return b.status();
  return nlohmann::json{{"n_future", n_future},
                        {"loss_order", loss_order},
                        {"parameters", run->model.parameter_count()},
                        {"batch_size", run->train.batch_size},
                        {"seq_len", run->train.seq_len},
                        {"step_seconds", b->step_seconds},
                        {"tokens_per_s", b->tokens_per_second},
                        {"peak_rss_bytes", b->peak_rss_bytes}};
}

Result<nlohmann::json> run_train_benchmark(const TrainBenchmarkOptions& o) {
  nlohmann::json runs = nlohmann::json::array();
  std::map<std::string, nlohmann::json> by_key;
  for (auto [n, order] : std::vector<std::pair<int, std::string>>{
           {1, "sequential"}, {4, "sequential"}, {8, "sequential"}, {4, "naive"}, {8, "naive"}}) {
    if (o.progress) o.progress("bench train: n_future=" + std::to_string(n) + " " + order + " ...");
    auto r = run_child(o.child_command + " --preset " + o.preset + " --steps " + std::to_string(o.steps) +
                       " --n-future " + std::to_string(n) + " --head-kind " + o.head_kind + " --loss-order " + order);
    if (!r.ok()) return r.status();
    by_key[std::to_string(n) + order] = *r;
    runs.push_back(*r);
  }
  auto ratio = [&](const std::string& a, const std::string& field) {
    return by_key[a][field].get<double>() / by_key["1sequential"][field].get<double>();
  };
  return nlohmann::json{{"benchmark", "train"},
                        {"preset", o.preset},
                        {"head_kind", o.head_kind},
                        {"steps", o.steps},
                        {"machine", machine_description(o.device, o.threads)},
                        {"runs", runs},
                        {"time_ratio", ratio("4sequential", "step_seconds")},
                        {"mem_ratio", ratio("4sequential", "peak_rss_bytes")},
                        {"naive_time_ratio", ratio("4naive", "step_seconds")},
                        {"naive_mem_ratio", ratio("4naive", "peak_rss_bytes")},
                        {"n8_time_ratio", ratio("8sequential", "step_seconds")},
                        {"n8_mem_ratio", ratio("8sequential", "peak_rss_bytes")},
                        {"n8_naive_time_ratio", ratio("8naive", "step_seconds")},
                        {"n8_naive_mem_ratio", ratio("8naive", "peak_rss_bytes")}};
}

Result<LoadBenchmark> benchmark_checkpoint_load(const ModelConfig& config, bool bf16, int repeats) {
  try {
    if (Status s = config.validate(); !s.ok()) return s;
    char tmpl[] = "/tmp/mtpc-bench-load-XXXXXX";
    if (!mkdtemp(tmpl)) return Status::Error("cannot create a temporary directory");
    const std::string dir = tmpl;
    std::error_code ec;
    MtpModel model(config);
    if (Status s = write_model_files(dir, *model, {}, bf16 ? DType::BF16 : DType::F32); !s.ok()) {
      fs::remove_all(dir, ec);
      return s;
    }
    LoadBenchmark b;
    b.file_bytes = static_cast<int64_t>(fs::file_size(fs::path(dir) / "model.safetensors", ec));
    double total = 0;
    b.min_load_seconds = 1e9;
    for (int i = 0; i < repeats; ++i) {
      const auto start = Clock::now();
      auto loaded = load_model(dir);
      const double secs = std::chrono::duration<double>(Clock::now() - start).count();
      if (!loaded.ok()) {
        fs::remove_all(dir, ec);
        return loaded.status();
      }
      total += secs;
      b.min_load_seconds = std::min(b.min_load_seconds, secs);
    }
    fs::remove_all(dir, ec);
    b.load_seconds = total / repeats;
    return b;
  } catch (const std::exception& e) {
    return Status::Error(std::string("benchmark failed: ") + e.what());
  }
}

Result<nlohmann::json> run_load_benchmark(const std::string& preset, int n_future, bool bf16,
                                          const std::string& device, int threads) {
  auto config = model_preset(preset);
  if (!config.ok()) return config.status();
  if (n_future > 0) config->n_future = n_future;
  auto b = benchmark_checkpoint_load(*config, bf16, 5);
  if (!b.ok()) return b.status();
  return nlohmann::json{{"benchmark", "load"},
                        {"preset", preset},
                        {"n_future", config->n_future},
                        {"parameters", config->parameter_count()},
                        {"dtype", bf16 ? "BF16" : "F32"},
                        {"file_bytes", b->file_bytes},
                        {"load_seconds", b->load_seconds},
                        {"min_load_seconds", b->min_load_seconds},
                        {"machine", machine_description(device, threads)}};
}

namespace {

// A field of /proc/self/status in bytes ("VmRSS", "RssAnon", "RssFile"); -1 if absent.
int64_t proc_status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;  // kB
  return -1;
}

}  // namespace

Result<nlohmann::json> run_model_load_benchmark(const std::string& dir, bool bf16, const std::string& device,
                                                int threads) {
  int64_t file_bytes = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".safetensors") file_bytes += static_cast<int64_t>(entry.file_size(ec));
  if (ec) return Status::Error(dir + ": cannot list: " + ec.message());
  LoadOptions options;
  options.dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
  const auto start = std::chrono::steady_clock::now();
  auto loaded = load_model(dir, device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU), options);
  if (!loaded.ok()) return loaded.status();
  loaded->model->to(options.dtype);  // what Engine::load does next (no-op when already so)
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return nlohmann::json{{"benchmark", "load"},
                        {"model", dir},
                        {"parameters", loaded->model->config().parameter_count()},
                        {"dtype", bf16 ? "BF16" : "F32"},
                        {"file_bytes", file_bytes},
                        {"load_seconds", seconds},
                        {"rss_bytes", proc_status_bytes("VmRSS")},
                        {"rss_anon_bytes", proc_status_bytes("RssAnon")},
                        {"rss_file_bytes", proc_status_bytes("RssFile")},
                        {"machine", machine_description(device, threads)}};
}

}  // namespace mtpc
