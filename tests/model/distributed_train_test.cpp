// Data-parallel `mtpc train` through the real binary: 2 ranks on this machine
// against 1 process with the same global batch and seed, resume, and the
// ways a job goes wrong (an unreachable master, a world size that differs
// from the checkpoint's, a rank that hangs, a rank that is killed).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "model/checkpoint/checkpoint.h"
#include "base/machine.h"
#include "common/processes.h"
#include "model/training/distributed_env.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

using mtpc::testing::read_file;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using mtpc::testing::write_small_corpus;
using mtpc::testing::children_of;
using mtpc::testing::spawn;
using mtpc::testing::wait_for;

const std::string kBinary = MTPC_BINARY;

// fp32 (bf16 off) so that the two runs can agree to float rounding.
std::string write_config(const TempDir& dir, const std::string& name, int64_t steps, int batch = 4) {
  const std::string path = dir / name;
  write_file(path, R"({"preset": "tiny",
    "model": {"dim": 32, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "hidden_dim": 64,
              "n_future": 3, "max_seq_len": 64},
    "train": {"steps": )" + std::to_string(steps) + R"(, "batch_size": )" + std::to_string(batch) +
                       R"(, "seq_len": 32, "bf16": false,
              "lr": 0.003, "warmup_steps": 2, "log_every": 1, "eval_every": 4, "eval_batches": 2,
              "checkpoint_every": 4}})");
  return path;
}

// Every command is bounded: a hang fails the test instead of stalling ctest.
std::string train_cmd(const std::string& args) {
  return "timeout 120 '" + kBinary + "' --threads 2 train " + args;
}

struct LogRecords {
  std::map<int64_t, std::vector<double>> loss;  // step -> head losses then the total
  std::map<int64_t, std::vector<double>> val;   // step -> val_loss per head
};

LogRecords read_log(const std::string& path) {
  LogRecords out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    const int64_t step = j["step"];
    if (j.contains("loss")) {
      EXPECT_EQ(out.loss.count(step), 0u) << "step " << step << " logged twice";
      auto v = j["head_loss"].get<std::vector<double>>();
      v.push_back(j["loss"].get<double>());
      out.loss[step] = v;
    } else if (j.contains("val_loss")) {
      out.val[step] = j["val_loss"].get<std::vector<double>>();
    }
  }
  return out;
}

void expect_same_curves(const std::map<int64_t, std::vector<double>>& a,
                        const std::map<int64_t, std::vector<double>>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [step, va] : a) {
    ASSERT_EQ(b.count(step), 1u) << what << " step " << step;
    const auto& vb = b.at(step);
    ASSERT_EQ(va.size(), vb.size());
    for (size_t i = 0; i < va.size(); ++i)
      EXPECT_NEAR(va[i], vb[i], 1e-4 * std::max(1.0, std::abs(va[i])))
          << what << " step " << step << " value " << i;
  }
}

// No staging directories left beside the checkpoint, and the checkpoint (if
// any) loads whole.
void expect_clean_checkpoint(const std::string& out) {
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find("checkpoint.tmp"), std::string::npos) << e.path();
  if (fs::exists(fs::path(out) / "checkpoint")) {
    auto loaded = load_model((fs::path(out) / "checkpoint").string(), torch::kCPU);
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  }
}

TEST(DistributedTrain, TwoRanksFollowOneProcessStepForStep) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, "run.json", 8);
  auto one = run_command(train_cmd("--config '" + config + "' --data '" + (dir / "data") + "' --out '" +
                                   (dir / "one") + "'"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run_command(train_cmd("--ranks 2 --config '" + config + "' --data '" + (dir / "data") +
                                   "' --out '" + (dir / "two") + "'"));
  ASSERT_EQ(two.exit_code, 0) << two.output;

  const LogRecords a = read_log(dir / "one/train.jsonl"), b = read_log(dir / "two/train.jsonl");
  ASSERT_EQ(a.loss.size(), 8u);
  expect_same_curves(a.loss, b.loss, "training loss");
  ASSERT_EQ(a.val.size(), 2u);  // steps 4 and 8
  expect_same_curves(a.val, b.val, "validation loss");
  // Learning happened (the comparison is not between two constant curves).
  EXPECT_LT(a.loss.at(8).back(), a.loss.at(1).back() - 0.5);

  // Rank 0 alone writes: one progress line per step, not two.
  size_t lines = 0;
  for (size_t p = two.output.find("step 1/8"); p != std::string::npos; p = two.output.find("step 1/8", p + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << two.output;

  // The final weights agree too.
  auto wa = load_model(dir / "one/checkpoint", torch::kCPU);
  auto wb = load_model(dir / "two/checkpoint", torch::kCPU);
  ASSERT_TRUE(wa.ok() && wb.ok());
  auto pa = wa->model->named_parameters(), pb = wb->model->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa)
    EXPECT_TRUE(torch::allclose(item.value(), pb[item.key()], 1e-4, 1e-5)) << item.key();
  expect_clean_checkpoint(dir / "two");

  // Resume at the same world size continues the log; a different world size
  // is refused and leaves the checkpoint as it was.
  const std::string before = read_file(dir / "two/checkpoint/trainer_state.json");
  auto mismatch = run_command(train_cmd("--config '" + config + "' --data '" + (dir / "data") + "' --out '" +
                                        (dir / "two") + "' --resume --steps 10"));
  EXPECT_EQ(mismatch.exit_code, 1) << mismatch.output;
  EXPECT_NE(mismatch.output.find("written by a run of world size 2; this run has world size 1"),
            std::string::npos)
      << mismatch.output;
  EXPECT_EQ(read_file(dir / "two/checkpoint/trainer_state.json"), before);
  auto resumed = run_command(train_cmd("--ranks 2 --config '" + config + "' --data '" + (dir / "data") +
                                       "' --out '" + (dir / "two") + "' --resume --steps 10"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(read_log(dir / "two/train.jsonl").loss.size(), 10u);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "two/checkpoint/trainer_state.json"))["step"], 10);
}

// torchrun's static rendezvous hosts the store in its agent and tells the
// ranks with TORCHELASTIC_USE_AGENT_STORE=True; every rank is then a client.
// Debian 12's torchrun (torch 1.13 on Python 3.11) fails before starting any
// worker ("'NoneType' object has no attribute 'get'" in its redirect
// parsing), so this test plays the agent: it hosts the TCPStore itself.
TEST(DistributedTrain, RanksUseTorchrunsAgentStore) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, "run.json", 4);
  auto one = run_command(train_cmd("--config '" + config + "' --data '" + (dir / "data") + "' --out '" +
                                   (dir / "one") + "'"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  c10d::TCPStoreOptions so;
  so.port = 0;  // any free port
  so.isServer = true;
  so.waitWorkers = false;
  so.timeout = std::chrono::seconds(60);
  auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
  const std::string env = "TORCHELASTIC_USE_AGENT_STORE=True TORCHELASTIC_RESTART_COUNT=0 WORLD_SIZE=2 "
                          "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(agent->getPort());
  const std::string args = "--config '" + config + "' --data '" + (dir / "data") + "' --out '" + (dir / "two") + "'";
  // Both ranks' exit codes count: rank 1 in the background, waited for.
  auto r = run_command("RANK=1 LOCAL_RANK=1 " + env + " " + train_cmd(args) + " > '" + (dir / "rank1.log") +
                       "' 2>&1 & p=$!; RANK=0 LOCAL_RANK=0 " + env + " " + train_cmd(args) +
                       "; r0=$?; wait $p; r1=$?; cat '" + (dir / "rank1.log") + "'; exit $((r0 | r1))");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const LogRecords a = read_log(dir / "one/train.jsonl"), b = read_log(dir / "two/train.jsonl");
  ASSERT_EQ(a.loss.size(), 4u);
  expect_same_curves(a.loss, b.loss, "training loss");
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "two/checkpoint/trainer_state.json"))["world_size"], 2);
}

TEST(DistributedTrain, GlobalBatchThatDoesNotSplitIsAnError) {
  TempDir dir;
  write_small_corpus(dir / "data");
  auto r = run_command(train_cmd("--ranks 2 --config '" + write_config(dir, "odd.json", 4, 3) + "' --data '" +
                                 (dir / "data") + "' --out '" + (dir / "out") + "'"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("batch_size 3 (the global batch) does not divide by WORLD_SIZE 2"), std::string::npos)
      << r.output;
}

TEST(DistributedTrain, UnreachableMasterIsAClearErrorWithinTheTimeout) {
  TempDir dir;
  write_small_corpus(dir / "data");
  auto port = pick_free_local_port();  // nobody listens there
  ASSERT_TRUE(port.ok());
  const auto start = std::chrono::steady_clock::now();
  auto r = run_command("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(*port) + " " +
                       train_cmd("--config '" + write_config(dir, "run.json", 4) + "' --data '" +
                                 (dir / "data") + "' --out '" + (dir / "out") + "' --dist-connect-timeout 2"));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("rank 1 cannot reach the master at 127.0.0.1:" + std::to_string(*port) +
                          " within --dist-connect-timeout 2 s"),
            std::string::npos)
      << r.output;
  EXPECT_LT(secs, 100) << "`timeout 120` had to stop it";  // a bound, not a timing claim
  EXPECT_FALSE(fs::exists(dir / "out/checkpoint"));
}

TEST(DistributedTrain, BadTorchrunEnvironmentIsAClearError) {
  auto env_of = [](std::map<std::string, std::string> vars) {
    return distributed_env_from_environment([vars](const std::string& k) {
      auto it = vars.find(k);
      return it == vars.end() ? std::string() : it->second;
    });
  };
  EXPECT_FALSE(env_of({}).value().enabled);
  auto ok = env_of({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"}});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_TRUE(ok->enabled);
  EXPECT_EQ(ok->rank, 3);
  EXPECT_EQ(ok->local_rank, 3);
  EXPECT_EQ(ok->world_size, 4);
  auto err = [&](std::map<std::string, std::string> vars) {
    auto r = env_of(vars);
    return r.ok() ? std::string("(accepted)") : r.status().message();
  };
  const std::map<std::string, std::string> base = {
      {"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  auto with = [&](const std::string& k, const std::string& v) {
    auto m = base;
    if (v.empty()) m.erase(k);
    else m[k] = v;
    return m;
  };
  EXPECT_NE(err(with("RANK", "2")).find("RANK=2: expected an integer in [0, 1]"), std::string::npos);
  EXPECT_NE(err(with("RANK", "")).find("RANK is not set"), std::string::npos);
  EXPECT_NE(err(with("WORLD_SIZE", "two")).find("WORLD_SIZE=two"), std::string::npos);
  EXPECT_NE(err(with("MASTER_PORT", "70000")).find("MASTER_PORT=70000"), std::string::npos);
  EXPECT_NE(err(with("MASTER_ADDR", "")).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(err(with("LOCAL_RANK", "-1")).find("LOCAL_RANK=-1"), std::string::npos);

  // Through the binary: a usage error (exit 2) before any work.
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string args = "--config '" + write_config(dir, "run.json", 2) + "' --data '" + (dir / "data") +
                           "' --out '" + (dir / "out") + "'";
  auto no_rank = run_command("WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 " + train_cmd(args));
  EXPECT_EQ(no_rank.exit_code, 2) << no_rank.output;
  EXPECT_NE(no_rank.output.find("RANK is not set"), std::string::npos) << no_rank.output;
  auto nested = run_command("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 " +
                            train_cmd("--ranks 2 " + args));
  EXPECT_EQ(nested.exit_code, 2) << nested.output;
  EXPECT_NE(nested.output.find("--ranks starts its own ranks"), std::string::npos) << nested.output;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// Waits until rank 0 has logged a step, so the ranks are inside the loop.
bool wait_for_first_step(const std::string& log_path, std::chrono::seconds limit) {
  return testing::wait_for_text(log_path, "\"loss\"", limit);
}

TEST(DistributedTrain, HungRankStopsTheOthersAfterTheCollectiveTimeout) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, "long.json", 1000000);
  auto port = pick_free_local_port();
  ASSERT_TRUE(port.ok());
  std::vector<pid_t> pids;
  for (int rank = 0; rank < 2; ++rank)
    pids.push_back(spawn({kBinary, "--threads", "1", "train", "--config", config, "--data", dir / "data", "--out",
                          dir / "out", "--dist-timeout", "3", "--dist-connect-timeout", "30"},
                         {"RANK=" + std::to_string(rank), "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                          "MASTER_PORT=" + std::to_string(*port)},
                         dir / ("rank" + std::to_string(rank) + ".log")));
  ASSERT_TRUE(wait_for_first_step(dir / "out/train.jsonl", std::chrono::seconds(60)))
      << read_file(dir / "rank0.log") << read_file(dir / "rank1.log");
  ::kill(pids[1], SIGSTOP);  // alive, sockets open, never answers
  auto status = wait_for(pids[0], std::chrono::seconds(90));
  ::kill(pids[1], SIGKILL);
  ::waitpid(pids[1], nullptr, 0);
  ASSERT_TRUE(status.has_value()) << "rank 0 hung: " << read_file(dir / "rank0.log");
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  const std::string log = read_file(dir / "rank0.log");
  EXPECT_NE(log.find("all-reduce failed on rank 0"), std::string::npos) << log;
  expect_clean_checkpoint(dir / "out");
}

TEST(DistributedTrain, KilledRankStopsTheJobWithAClearError) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, "long.json", 1000000);
  const pid_t launcher = spawn({kBinary, "--threads", "2", "train", "--ranks", "2", "--config", config, "--data",
                                dir / "data", "--out", dir / "out"},
                               {}, dir / "launcher.log");
  ASSERT_TRUE(wait_for_first_step(dir / "out/train.jsonl", std::chrono::seconds(60))) << read_file(dir / "launcher.log");
  auto ranks = children_of(launcher);
  ASSERT_EQ(ranks.size(), 2u);
  ::kill(ranks.back(), SIGKILL);
  auto status = wait_for(launcher, std::chrono::seconds(90));
  ASSERT_TRUE(status.has_value()) << "the job hung: " << read_file(dir / "launcher.log");
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << *status;
  // The launcher names the first rank it reaps that failed: usually the
  // killed one; the other may be reaped first when it fails at once.
  const std::string log = read_file(dir / "launcher.log");
  const bool named_killed = log.find("was killed by signal 9 (Killed); stopping the other ranks") !=
                            std::string::npos;
  const bool other_saw_it = log.find("all-reduce failed on rank ") != std::string::npos;
  EXPECT_TRUE(named_killed || other_saw_it) << log;
  for (pid_t r : ranks) EXPECT_FALSE(fs::exists("/proc/" + std::to_string(r) + "/cmdline")) << "rank left running";
  expect_clean_checkpoint(dir / "out");
}

}  // namespace
}  // namespace mtpc

namespace mtpc {
namespace {

TEST(DistributedTrain, BenchTrainRanksPrintsTheScaling) {
  auto r = run_command("timeout 300 '" + kBinary + "' --threads 2 bench train --ranks 2 --preset tiny --steps 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(j["benchmark"], "train-scaling");
  ASSERT_EQ(j["runs"].size(), 3u);
  EXPECT_EQ(j["runs"][0]["ranks"], 1);
  EXPECT_EQ(j["runs"][0]["threads_per_rank"], 2);
  EXPECT_EQ(j["runs"][1]["threads_per_rank"], 1);
  EXPECT_EQ(j["runs"][2]["ranks"], 2);
  for (const auto& run : j["runs"]) EXPECT_GT(run["tokens_per_s"].get<double>(), 0) << run;
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(),
                   j["runs"][2]["tokens_per_s"].get<double>() / j["runs"][0]["tokens_per_s"].get<double>());
  EXPECT_EQ(j["machine"]["cores"], hardware_threads());
  auto bad = run_command("'" + kBinary + "' bench train --ranks 1");
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace mtpc

namespace mtpc {
namespace {

// SIGTERM to the launcher reaches every rank; they stop after the same step,
// rank 0 checkpoints it, and the job resumes at the same world size.
TEST(DistributedTrain, SigtermToTheLauncherCheckpointsAndResumes) {
  TempDir dir;
  write_small_corpus(dir / "data");
  const std::string config = write_config(dir, "long.json", 1000000);
  const pid_t launcher = spawn({kBinary, "--threads", "2", "train", "--ranks", "2", "--config", config, "--data",
                                dir / "data", "--out", dir / "out"},
                               {}, dir / "launcher.log");
  ASSERT_TRUE(wait_for_first_step(dir / "out/train.jsonl", std::chrono::seconds(60))) << read_file(dir / "launcher.log");
  ::kill(launcher, SIGTERM);
  auto status = wait_for(launcher, std::chrono::seconds(90));
  ASSERT_TRUE(status.has_value()) << "the job hung: " << read_file(dir / "launcher.log");
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 130) << read_file(dir / "launcher.log");
  const std::string log = read_file(dir / "launcher.log");
  EXPECT_NE(log.find("checkpoint saved at step"), std::string::npos) << log;
  expect_clean_checkpoint(dir / "out");
  const int64_t saved = nlohmann::json::parse(read_file(dir / "out/checkpoint/trainer_state.json"))["step"];
  EXPECT_GE(saved, 1);
  auto resumed = run_command(train_cmd("--ranks 2 --config '" + config + "' --data '" + (dir / "data") +
                                       "' --out '" + (dir / "out") + "' --resume --steps " +
                                       std::to_string(saved + 2)));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(read_log(dir / "out/train.jsonl").loss.size(), static_cast<size_t>(saved + 2));
}

}  // namespace
}  // namespace mtpc
