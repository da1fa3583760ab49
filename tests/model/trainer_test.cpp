// `mtpc train` driven through the real binary, as a user runs it.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "model/checkpoint/checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

using mtpc::testing::CommandResult;
using mtpc::testing::read_file;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using mtpc::testing::write_small_corpus;

const std::string kBinary = MTPC_BINARY;

// A config small enough that a step takes milliseconds.
std::string write_config(const TempDir& dir, int64_t steps, int64_t ckpt_every,
                         const std::string& extra_model = "") {
  const std::string path = dir / "run.json";
  write_file(path, R"({"preset": "tiny",
    "model": {"dim": 32, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "hidden_dim": 64,
              "n_future": 3, "max_seq_len": 64)" + extra_model + R"(},
    "train": {"steps": )" + std::to_string(steps) + R"(, "batch_size": 4, "seq_len": 32,
              "lr": 0.003, "warmup_steps": 5, "log_every": 1, "eval_every": 0,
              "checkpoint_every": )" + std::to_string(ckpt_every) + "}}");
  return path;
}

std::string train_cmd(const std::string& config, const std::string& data, const std::string& out) {
  return "'" + kBinary + "' --threads 2 train --config '" + config + "' --data '" + data +
         "' --out '" + out + "'";
}

// step -> the log record's losses, checking each step appears once.
std::map<int64_t, nlohmann::json> losses_by_step(const std::string& log_path) {
  std::map<int64_t, nlohmann::json> out;
  std::istringstream in(read_file(log_path));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("loss")) continue;
    int64_t step = j["step"];
    EXPECT_EQ(out.count(step), 0u) << "step " << step << " logged twice";
    out[step] = {j["loss"], j["head_loss"]};
  }
  return out;
}

int64_t last_logged_step(const std::string& log_path) {
  std::istringstream in(read_file(log_path));
  std::string line;
  int64_t last = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("loss")) last = j["step"];
  }
  return last;
}

// Starts `cmd`, sends `sig` once OUT/train.jsonl has logged `step` (or after
// two minutes), and returns the wait status.
int signal_when_logged(const std::string& cmd, const std::string& out, int64_t step, int sig) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(), nullptr);
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (last_logged_step(out + "/train.jsonl") < step && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(Train, LossFallsAndTheCheckpointLoads) {
  TempDir dir;
  write_small_corpus(dir / "data");
  CommandResult r = run_command(train_cmd(write_config(dir, 60, 30), dir / "data", dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step 60/60"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bits/byte"), std::string::npos) << r.output;
  auto losses = losses_by_step(dir / "out/train.jsonl");
  ASSERT_EQ(losses.size(), 60u);
  EXPECT_LT(losses[60][0].get<double>(), 0.6 * losses[1][0].get<double>());
  auto loaded = load_model(dir / "out/checkpoint");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->model->config().n_future, 3);
  EXPECT_EQ(loaded->provenance["step"], 60);
  // Validation is logged in nats and bits per byte for every head.
  auto log = read_file(dir / "out/train.jsonl");
  EXPECT_NE(log.find("\"val_bpb\""), std::string::npos);
}

TEST(Train, ResumeAfterSigkillLogsTheSameLossesAsAnUninterruptedRun) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, 120, 20);
  CommandResult whole = run_command(train_cmd(config, dir / "data", dir / "whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;

  // Start the same run, kill it hard past a checkpoint and between two.
  const std::string out = dir / "killed";
  const int status = signal_when_logged(train_cmd(config, dir / "data", out), out, 50, SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  const int64_t reached = last_logged_step(out + "/train.jsonl");
  ASSERT_LT(reached, 120);

  CommandResult resumed = run_command(train_cmd(config, dir / "data", out) + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto a = losses_by_step(dir / "whole/train.jsonl"), b = losses_by_step(out + "/train.jsonl");
  ASSERT_EQ(a.size(), 120u);
  ASSERT_EQ(b.size(), 120u);
  for (auto& [step, loss] : a) EXPECT_EQ(loss, b[step]) << "step " << step << " (killed at " << reached << ")";
  // And the final weights are identical.
  auto wa = load_model(dir / "whole/checkpoint"), wb = load_model(out + "/checkpoint");
  ASSERT_TRUE(wa.ok() && wb.ok());
  auto pa = named_parameters_sorted(*wa->model), pb = named_parameters_sorted(*wb->model);
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
}

TEST(Train, SigtermCheckpointsAndExitsThenResumeFinishes) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, 100000, 0);
  const std::string out = dir / "out";
  const int status = signal_when_logged(train_cmd(config, dir / "data", out), out, 5, SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto loaded = load_model(out + "/checkpoint");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const int64_t saved = loaded->provenance["step"];
  EXPECT_EQ(saved, last_logged_step(out + "/train.jsonl"));
  CommandResult resumed = run_command(train_cmd(config, dir / "data", out) + " --resume --steps " +
                                      std::to_string(saved + 3));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(last_logged_step(out + "/train.jsonl"), saved + 3);
}

TEST(Train, FullDiskKeepsThePreviousCheckpointAndLeavesNothingHalfWritten) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, 4, 2);
  ASSERT_EQ(run_command(train_cmd(config, dir / "data", dir / "out")).exit_code, 0);
  // Continue to step 8 with files capped at 20 kB: the next checkpoint cannot be written.
  CommandResult r = run_command("prlimit --fsize=20000 " + train_cmd(config, dir / "data", dir / "out") +
                                " --resume --steps 8");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("File too large"), std::string::npos) << r.output;
  auto loaded = load_model(dir / "out/checkpoint");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->provenance["step"], 4);
  for (auto& entry : fs::directory_iterator(dir / "out"))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
        << "left behind: " << entry.path();
}

TEST(Train, BadInputGivesOneClearErrorAndNonZeroExit) {
  TempDir dir;
  write_small_corpus(dir / "data");
  // Missing data directory.
  CommandResult r = run_command(train_cmd(write_config(dir, 5, 0), dir / "nothing", dir / "o1"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("nothing/train.bin"), std::string::npos) << r.output;
  // Empty corpus.
  fs::create_directories(dir / "empty");
  write_file(dir / "empty/train.bin", "");
  write_file(dir / "empty/val.bin", "");
  r = run_command(train_cmd(write_config(dir, 5, 0), dir / "empty", dir / "o2"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("train.bin"), std::string::npos) << r.output;
  // Out-of-range config values name the field.
  r = run_command(train_cmd(write_config(dir, 5, 0, R"(, "n_future": 0)"), dir / "data", dir / "o3"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("n_future"), std::string::npos) << r.output;
  r = run_command(train_cmd(write_config(dir, 5, 0, R"(, "head_kind": "rnn")"), dir / "data", dir / "o4"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("head_kind"), std::string::npos) << r.output;
  // A second run into the same directory without --resume is refused, work kept.
  ASSERT_EQ(run_command(train_cmd(write_config(dir, 2, 0), dir / "data", dir / "o5")).exit_code, 0);
  r = run_command(train_cmd(write_config(dir, 2, 0), dir / "data", dir / "o5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  EXPECT_FALSE(r.output.find("terminate called") != std::string::npos);
}

}  // namespace
}  // namespace mtpc

namespace mtpc {
namespace {

TEST(Train, InitStartsFromAnotherModelsWeightsAndMayChangeTheFimLayout) {
  TempDir dir;
  write_small_corpus(dir / "data");
  // A: a psm model trained a while; B: a fresh spm run from A's weights.
  TempDir a_dir, b_dir, c_dir;
  CommandResult a = run_command(train_cmd(write_config(a_dir, 40, 0, R"(, "fim": "psm")"), dir / "data", dir / "a"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  CommandResult fresh = run_command(train_cmd(write_config(c_dir, 1, 0), dir / "data", dir / "fresh"));
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  CommandResult b = run_command(train_cmd(write_config(b_dir, 1, 0), dir / "data", dir / "b") + " --init '" +
                                (dir / "a/checkpoint") + "'");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_NE(b.output.find("starting from the weights of"), std::string::npos) << b.output;
  const double a_last = losses_by_step(dir / "a/train.jsonl")[40][0].get<double>();
  const double b_first = losses_by_step(dir / "b/train.jsonl")[1][0].get<double>();
  const double fresh_first = losses_by_step(dir / "fresh/train.jsonl")[1][0].get<double>();
  EXPECT_LT(b_first, 0.8 * fresh_first) << "a=" << a_last << " b=" << b_first << " fresh=" << fresh_first;
  auto loaded = load_model(dir / "b/checkpoint");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->model->config().fim, FimLayout::kSpm);
  EXPECT_EQ(loaded->provenance["init"]["dir"], fs::absolute(dir / "a/checkpoint").string());
  EXPECT_EQ(loaded->provenance["init"]["provenance"]["step"], 40);
  auto a_loaded = load_model(dir / "a/checkpoint");
  ASSERT_TRUE(a_loaded.ok());
  EXPECT_EQ(a_loaded->model->config().fim, FimLayout::kPsm);
  EXPECT_EQ(read_file(dir / "a/checkpoint/config.json").find("\"fim\""), std::string::npos)
      << "psm is the default and is not written";
  // Other shapes: a clear error naming the field; nothing written.
  TempDir d_dir;
  const std::string wide = d_dir / "wide.json";
  write_file(wide, R"({"preset": "tiny",
    "model": {"dim": 64, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "hidden_dim": 64, "n_future": 3, "max_seq_len": 64},
    "train": {"steps": 1, "batch_size": 4, "seq_len": 32, "eval_every": 0, "checkpoint_every": 0}})");
  CommandResult d = run_command(train_cmd(wide, dir / "data", dir / "d") + " --init '" + (dir / "a/checkpoint") + "'");
  EXPECT_NE(d.exit_code, 0);
  EXPECT_NE(d.output.find("dim 32 there, 64 here"), std::string::npos) << d.output;
  EXPECT_FALSE(fs::exists(dir / "d/checkpoint"));
  CommandResult e = run_command(train_cmd(wide, dir / "data", dir / "e") + " --init '" + (dir / "nowhere") + "'");
  EXPECT_NE(e.exit_code, 0);
  EXPECT_NE(e.output.find("--init"), std::string::npos) << e.output;
  // Fewer heads: heads 1..n of A (a next-token trunk from a multi-token
  // one), recorded in the provenance; more heads than A has: refused.
  TempDir f_dir, g_dir;
  CommandResult f = run_command(train_cmd(write_config(f_dir, 1, 0, R"(, "n_future": 1)"), dir / "data", dir / "f") +
                                " --init '" + (dir / "a/checkpoint") + "'");
  ASSERT_EQ(f.exit_code, 0) << f.output;
  EXPECT_NE(f.output.find("heads 1-1 of its 3"), std::string::npos) << f.output;
  const double f_first = losses_by_step(dir / "f/train.jsonl")[1][0].get<double>();
  EXPECT_LT(f_first, 0.8 * fresh_first) << "f=" << f_first << " fresh=" << fresh_first;
  auto f_loaded = load_model(dir / "f/checkpoint");
  ASSERT_TRUE(f_loaded.ok()) << f_loaded.status().message();
  EXPECT_EQ(f_loaded->model->config().n_future, 1);
  EXPECT_EQ(f_loaded->provenance["init"]["n_future"], 3);
  CommandResult g = run_command(train_cmd(write_config(g_dir, 1, 0, R"(, "n_future": 4)"), dir / "data", dir / "g") +
                                " --init '" + (dir / "a/checkpoint") + "'");
  EXPECT_NE(g.exit_code, 0);
  EXPECT_NE(g.output.find("n_future 3 there, 4 here"), std::string::npos) << g.output;
  EXPECT_FALSE(fs::exists(dir / "g/checkpoint"));
}

TEST(Train, CorpusWithoutValidationFileTrainsWithoutValidation) {
  TempDir dir;
  write_small_corpus(dir / "data");
  write_file(dir / "data/val.bin", "");
  CommandResult r = run_command(train_cmd(write_config(dir, 3, 0), dir / "data", dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("training without validation"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "out/train.jsonl").find("val_loss"), std::string::npos);
  EXPECT_TRUE(load_model(dir / "out/checkpoint").ok());
}

TEST(Train, CorpusFromTheCorpusCommandTrains) {
  // The whole user path: source tree -> mtpc corpus build -> mtpc train.
  TempDir dir;
  fs::create_directories(dir / "src/pkg");
  for (int i = 0; i < 30; ++i)
    write_file(dir / ("src/pkg/m" + std::to_string(i) + ".py"),
               "import os\n\n\ndef helper_" + std::to_string(i) + "(path):\n    return os.path.join(path, '" +
                   std::to_string(i * 7) + "')\n");
  CommandResult c = run_command("'" + kBinary + "' corpus build --from '" + (dir / "src") + "' --out '" +
                                (dir / "data") + "' --val-permille 200");
  ASSERT_EQ(c.exit_code, 0) << c.output;
  CommandResult r = run_command(train_cmd(write_config(dir, 4, 0), dir / "data", dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto loaded = load_model(dir / "out/checkpoint");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  // Provenance ties the weights to the exact corpus.
  auto manifest = nlohmann::json::parse(read_file(dir / "data/manifest.json"));
  EXPECT_EQ(loaded->provenance["train_bin_sha256"], manifest["train"]["sha256"]);
}

}  // namespace
}  // namespace mtpc
