// mtpc bench train: n_future = 1, 4, 8 on the same trunk, each measured in its
// own process (so peak RSS is that configuration's), sequential and naive
// loss order, printed as one JSON object with ratios over n_future = 1.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/machine.h"
#include "cli/commands.h"
#include "model/runtime.h"
#include "model/training/trainer.h"

namespace mtpc::cli {

namespace {

// Runs one configuration in a child process and parses its JSON line.
Result<nlohmann::json> run_child(const std::string& args) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return Status::Error("cannot find own executable");
  exe[n] = '\0';
  const std::string cmd = std::string("'") + exe + "' " + args;
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

void add_bench_command(CLI::App& app, GlobalOptions& global) {
  auto* bench = app.add_subcommand("bench", "benchmarks that print JSON");
  bench->require_subcommand(1);

  struct Args {
    std::string preset = "small", head_kind = "transformer", loss_order = "sequential";
    int64_t steps = 20;
    int n_future = 1;
    bool json = false;
  };
  auto args = std::make_shared<Args>();

  auto* train = bench->add_subcommand("train", "step time and peak memory of n_future = 1, 4, 8");
  train->add_option("--preset", args->preset, "model preset")->check(CLI::IsMember({"tiny", "small", "base"}));
  train->add_option("--steps", args->steps, "timed steps per configuration")->check(CLI::PositiveNumber);
  train->add_option("--head-kind", args->head_kind)->check(CLI::IsMember({"transformer", "mlp"}));
  train->add_flag("--json", args->json, "print only the JSON object (the default output anyway)");
  train->callback([args, &global] {
    nlohmann::json runs = nlohmann::json::array();
    std::map<std::string, nlohmann::json> by_key;
    for (auto [n, order] : std::vector<std::pair<int, std::string>>{
             {1, "sequential"}, {4, "sequential"}, {8, "sequential"}, {4, "naive"}, {8, "naive"}}) {
      std::fprintf(stderr, "bench train: n_future=%d %s ...\n", n, order.c_str());
      auto r = run_child("--threads " + std::to_string(global.threads) + " --device " + global.device +
                         " bench train-step --preset " + args->preset + " --steps " +
                         std::to_string(args->steps) + " --n-future " + std::to_string(n) +
                         " --head-kind " + args->head_kind + " --loss-order " + order);
      if (!r.ok()) throw CLI::RuntimeError("mtpc bench train: " + r.status().message(), 1);
      by_key[std::to_string(n) + order] = *r;
      runs.push_back(*r);
    }
    auto ratio = [&](const std::string& a, const std::string& field) {
      return by_key[a][field].get<double>() / by_key["1sequential"][field].get<double>();
    };
    nlohmann::json out = {
        {"benchmark", "train"}, {"preset", args->preset}, {"head_kind", args->head_kind},
        {"steps", args->steps}, {"machine", machine_description(global.device, global.threads)}, {"runs", runs},
        {"time_ratio", ratio("4sequential", "step_seconds")},
        {"mem_ratio", ratio("4sequential", "peak_rss_bytes")},
        {"naive_time_ratio", ratio("4naive", "step_seconds")},
        {"naive_mem_ratio", ratio("4naive", "peak_rss_bytes")},
        {"n8_time_ratio", ratio("8sequential", "step_seconds")},
        {"n8_mem_ratio", ratio("8sequential", "peak_rss_bytes")},
        {"n8_naive_time_ratio", ratio("8naive", "step_seconds")},
        {"n8_naive_mem_ratio", ratio("8naive", "peak_rss_bytes")}};
    std::printf("%s\n", out.dump(2).c_str());
    throw CLI::RuntimeError("", 0);
  });

  add_bench_decode_command(*bench, global);
  add_bench_lsp_command(*bench, global);

  auto* load = bench->add_subcommand("load", "time to load a checkpoint of a preset's size");
  auto load_bf16 = std::make_shared<bool>(false);
  auto load_n = std::make_shared<int>(0);  // 0: the preset's
  load->add_option("--preset", args->preset, "model preset")->check(CLI::IsMember({"tiny", "small", "base"}));
  load->add_option("--n-future", *load_n, "output heads (default: the preset's)")->check(CLI::Range(1, 32));
  load->add_flag("--bf16", *load_bf16, "bf16 weights instead of fp32");
  load->add_flag("--json", args->json, "print only the JSON object (the default output anyway)");
  load->callback([args, load_bf16, load_n, &global] {
    auto config = model_preset(args->preset);
    if (!config.ok()) throw CLI::RuntimeError(config.status().message(), 2);
    if (*load_n > 0) config->n_future = *load_n;
    auto b = benchmark_checkpoint_load(*config, *load_bf16, 5);
    if (!b.ok()) throw CLI::RuntimeError("mtpc bench load: " + b.status().message(), 1);
    nlohmann::json j = {{"benchmark", "load"}, {"preset", args->preset}, {"n_future", config->n_future},
                        {"parameters", config->parameter_count()}, {"dtype", *load_bf16 ? "BF16" : "F32"},
                        {"file_bytes", b->file_bytes}, {"load_seconds", b->load_seconds},
                        {"min_load_seconds", b->min_load_seconds}, {"machine", machine_description(global.device, global.threads)}};
    std::printf("%s\n", j.dump(2).c_str());
    throw CLI::RuntimeError("", 0);
  });

  auto* step = bench->add_subcommand("train-step", "one configuration, in this process (used by bench train)");
  step->group("");  // internal: hidden from --help
  step->add_option("--preset", args->preset)->check(CLI::IsMember({"tiny", "small", "base"}));
  step->add_option("--steps", args->steps)->check(CLI::PositiveNumber);
  step->add_option("--n-future", args->n_future)->check(CLI::Range(1, 32));
  step->add_option("--head-kind", args->head_kind)->check(CLI::IsMember({"transformer", "mlp"}));
  step->add_option("--loss-order", args->loss_order)->check(CLI::IsMember({"sequential", "naive"}));
  step->callback([args, &global] {
    auto run = run_config_from_preset(args->preset);
    if (!run.ok()) throw CLI::RuntimeError(run.status().message(), 2);
    run->model.n_future = args->n_future;
    run->model.head_kind = args->head_kind == "mlp" ? HeadKind::kMlp : HeadKind::kTransformer;
    run->train.loss_order = args->loss_order;
    auto b = benchmark_train_steps(*run, args->steps, global.device);
    if (!b.ok()) throw CLI::RuntimeError(b.status().message(), 1);
    nlohmann::json j = {{"n_future", args->n_future}, {"loss_order", args->loss_order},
                        {"parameters", run->model.parameter_count()},
                        {"batch_size", run->train.batch_size}, {"seq_len", run->train.seq_len},
                        {"step_seconds", b->step_seconds}, {"tokens_per_s", b->tokens_per_second},
                        {"peak_rss_bytes", b->peak_rss_bytes}};
    std::printf("%s\n", j.dump().c_str());
    throw CLI::RuntimeError("", 0);
  });
}

}  // namespace mtpc::cli
