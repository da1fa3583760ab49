// `mtpc train heads` data-parallel (--ranks, torchrun's environment) and its
// hidden states cached on disk (--cache-dir): 2 ranks against 1 process with
// the same global batch and seed, resume at the same and at another world
// size, a killed rank, an unreachable master; the disk cache trains the
// same heads, is read instead of computed by a later run, and is rebuilt
// when it is corrupted or cut short.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/processes.h"
#include "model/checkpoint/checkpoint.h"
#include "model/training/distributed_env.h"
#include "model/training/heads_trainer.h"
#include "test_models.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

using testing::read_file;
using testing::run_command;
using testing::TempDir;

const std::string kBinary = MTPC_BINARY;

// A repetitive Python-like byte corpus as `mtpc corpus build` writes it.
void write_corpus(const std::string& dir) {
  fs::create_directories(dir);
  std::string bytes;
  for (int i = 0; i < 60; ++i) {
    std::string text = "def add_" + std::to_string(i % 7) + "(a, b):\n    return a + b\n\nfor i in range(" +
                       std::to_string(i) + "):\n    print(i * 2)\n";
    for (unsigned char c : text) bytes += static_cast<char>(c), bytes += '\0';
    bytes += static_cast<char>(1), bytes += static_cast<char>(1);  // 257: EOS
  }
  testing::write_file(dir + "/train.bin", bytes);
}

// The fixture's small MLP-headed model, briefly trained so that its greedy
// continuations are not one repeated byte.
void write_base(const std::string& dir) {
  testing::FixtureModel o;
  o.head_kind = HeadKind::kMlp;
  o.n_future = 2;
  o.train_steps = 20;
  Status s = testing::write_fixture_model(dir, o);
  ASSERT_TRUE(s.ok()) << s.message();
}

struct Log {
  std::map<int64_t, std::vector<double>> loss, eval;  // step -> per head
};

Log read_log(const std::string& path) {
  Log out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) out.loss[j["step"]] = j["loss"].get<std::vector<double>>();
    if (j.contains("eval_loss")) out.eval[j["step"]] = j["eval_loss"].get<std::vector<double>>();
  }
  return out;
}

void expect_same(const std::map<int64_t, std::vector<double>>& a, const std::map<int64_t, std::vector<double>>& b,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [step, va] : a) {
    ASSERT_EQ(b.count(step), 1u) << what << " step " << step;
    ASSERT_EQ(va.size(), b.at(step).size());
    for (size_t i = 0; i < va.size(); ++i)
      EXPECT_NEAR(va[i], b.at(step)[i], 1e-4 * std::max(1.0, std::abs(va[i]))) << what << " step " << step;
  }
}

std::string heads_cmd(const TempDir& dir, const std::string& out, const std::string& extra, int batch = 4) {
  return "timeout 120 '" + kBinary + "' --threads 2 train heads --base '" + (dir / "base") + "' --data '" +
         (dir / "corpus") + "' --out '" + (dir / out) +
         "' --n-future 3 --sequences 24 --prompt-len 8 --min-prompt-len 4 --gen-len 16 --batch-size " +
         std::to_string(batch) + " --lr 0.003 --warmup-steps 2 --log-every 1 --eval-every 3 " +
         extra;
}

TEST(TrainHeadsDistributed, TwoRanksFollowOneProcessStepForStep) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  auto one = run_command(heads_cmd(dir, "one", "--steps 6"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run_command(heads_cmd(dir, "two", "--steps 6 --ranks 2"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("on 2 ranks"), std::string::npos) << two.output;

  // The targets were generated once, sharded (24 sequences: batches of 16
  // and 8 on ranks 0 and 1), into the same file a single process writes.
  EXPECT_EQ(read_file(dir / "one/targets.bin"), read_file(dir / "two/targets.bin"));
  for (const auto& e : fs::directory_iterator(dir / "two")) {
    EXPECT_EQ(e.path().filename().string().find("targets.part"), std::string::npos) << e.path();
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
  const Log a = read_log(dir / "one/train.jsonl"), b = read_log(dir / "two/train.jsonl");
  ASSERT_EQ(a.loss.size(), 6u);
  expect_same(a.loss, b.loss, "training loss");
  ASSERT_EQ(a.eval.size(), 2u);  // steps 3 and 6
  expect_same(a.eval, b.eval, "held-out loss");
  EXPECT_NE(a.loss.at(1), a.loss.at(6));  // the comparison is between curves that move

  // Rank 0 alone speaks: one progress line per step.
  size_t lines = 0;
  for (size_t p = two.output.find("step 1/6"); p != std::string::npos; p = two.output.find("step 1/6", p + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << two.output;

  // The written heads agree.
  auto ha = load_model(dir / "one/heads", torch::kCPU), hb = load_model(dir / "two/heads", torch::kCPU);
  ASSERT_TRUE(ha.ok() && hb.ok()) << (ha.ok() ? hb.status().message() : ha.status().message());
  auto pa = ha->model->named_parameters(), pb = hb->model->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa)
    EXPECT_TRUE(torch::allclose(item.value(), pb[item.key()], 1e-4, 1e-5)) << item.key();
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "two/heads/trainer_state.json"))["world_size"], 2);

  // With the disk cache: rank 0 builds it while rank 1 waits, both read it,
  // and the curve is the same; a single process then reads the same file.
  auto cached = run_command(heads_cmd(dir, "cached", "--steps 6 --ranks 2 --cache-dir '" + (dir / "cache") + "'"));
  ASSERT_EQ(cached.exit_code, 0) << cached.output;
  EXPECT_NE(cached.output.find("hidden cache: building"), std::string::npos) << cached.output;
  expect_same(a.loss, read_log(dir / "cached/train.jsonl").loss, "training loss, 2 ranks, disk cache");
  auto reread = run_command(heads_cmd(dir, "reread", "--steps 6 --cache-dir '" + (dir / "cache") + "'"));
  ASSERT_EQ(reread.exit_code, 0) << reread.output;
  EXPECT_EQ(reread.output.find("hidden cache: building"), std::string::npos) << reread.output;
  EXPECT_NE(reread.output.find("hidden cache: reading"), std::string::npos) << reread.output;
  expect_same(a.loss, read_log(dir / "reread/train.jsonl").loss, "training loss, disk cache read");

  // Resume: another world size is refused and leaves the checkpoint alone;
  // the same one continues.
  const std::string before = read_file(dir / "two/heads/trainer_state.json");
  auto mismatch = run_command(heads_cmd(dir, "two", "--steps 8 --resume"));
  EXPECT_EQ(mismatch.exit_code, 1) << mismatch.output;
  EXPECT_NE(mismatch.output.find("written by a run of world size 2; this run has world size 1"), std::string::npos)
      << mismatch.output;
  EXPECT_EQ(read_file(dir / "two/heads/trainer_state.json"), before);
  auto resumed = run_command(heads_cmd(dir, "two", "--steps 8 --resume --ranks 2"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed at step 6"), std::string::npos) << resumed.output;
  EXPECT_EQ(resumed.output.find("targets:"), std::string::npos) << resumed.output;  // not regenerated
  EXPECT_EQ(read_log(dir / "two/train.jsonl").loss.size(), 8u);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "two/heads/trainer_state.json"))["step"], 8);
}

// Targets that a single process began (16 of 24 sequences) are finished by
// 2 ranks from where it stopped, into the file one process would write.
TEST(TrainHeadsDistributed, RanksFinishTargetsAStoppedRunBegan) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  auto whole = run_command(heads_cmd(dir, "whole", "--steps 1"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  fs::create_directories(dir / "split");
  fs::copy_file(dir / "whole/targets.json", dir / "split/targets.json");
  const std::string all = read_file(dir / "whole/targets.bin");
  const size_t record = (1 + 8 + 16) * sizeof(int32_t);
  ASSERT_EQ(all.size(), 24 * record);
  // 16 whole records and a torn 17th, as a kill during generation leaves them.
  testing::write_file(dir / "split/targets.bin", all.substr(0, 16 * record + 10));
  auto finished = run_command(heads_cmd(dir, "split", "--steps 1 --ranks 2"));
  ASSERT_EQ(finished.exit_code, 0) << finished.output;
  EXPECT_NE(finished.output.find("targets: 16/24 sequences on disk; generating 8"), std::string::npos)
      << finished.output;
  EXPECT_EQ(read_file(dir / "split/targets.bin"), all);
}

TEST(TrainHeadsDistributed, KilledRankStopsTheJobWithAClearError) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  const pid_t launcher =
      testing::spawn({kBinary, "--threads", "2", "train", "heads", "--base", dir / "base", "--data", dir / "corpus",
                      "--out", dir / "out", "--n-future", "3", "--sequences", "24", "--prompt-len", "8", "--gen-len",
                      "16", "--batch-size", "4", "--log-every", "1", "--steps", "1000000", "--ranks", "2"},
                     {}, dir / "launcher.log");
  ASSERT_TRUE(testing::wait_for_text(dir / "out/train.jsonl", "\"loss\"", std::chrono::seconds(60)))
      << read_file(dir / "launcher.log");
  auto ranks = testing::children_of(launcher);
  ASSERT_EQ(ranks.size(), 2u);
  ::kill(ranks.back(), SIGKILL);
  auto status = testing::wait_for(launcher, std::chrono::seconds(90));
  ASSERT_TRUE(status.has_value()) << "the job hung: " << read_file(dir / "launcher.log");
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << *status;
  const std::string log = read_file(dir / "launcher.log");
  EXPECT_TRUE(log.find("was killed by signal 9") != std::string::npos ||
              log.find("all-reduce failed on rank 0") != std::string::npos)
      << log;
  for (pid_t r : ranks) EXPECT_FALSE(fs::exists("/proc/" + std::to_string(r) + "/cmdline")) << "rank left running";
  EXPECT_FALSE(fs::exists(dir / "out/heads"));  // no checkpoint was due: none half-written either
}

TEST(TrainHeadsDistributed, UnreachableMasterAndUnevenBatchAreClearErrors) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  auto port = pick_free_local_port();  // nobody listens there
  ASSERT_TRUE(port.ok());
  auto r = run_command("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(*port) + " " +
                       heads_cmd(dir, "out", "--steps 2 --dist-connect-timeout 2"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("mtpc train heads (rank 1): rank 1 cannot reach the master at 127.0.0.1:" +
                          std::to_string(*port) + " within --dist-connect-timeout 2 s"),
            std::string::npos)
      << r.output;
  auto uneven = run_command(heads_cmd(dir, "out", "--steps 2 --ranks 2", /*batch=*/3));
  EXPECT_NE(uneven.exit_code, 0) << uneven.output;
  EXPECT_NE(uneven.output.find("batch_size 3 (the global batch) does not divide by WORLD_SIZE 2"), std::string::npos)
      << uneven.output;
  EXPECT_FALSE(fs::exists(dir / "out/heads"));
}

HeadsTrainOptions small_run(const TempDir& dir, const std::string& out) {
  HeadsTrainOptions o;
  o.base_dir = dir / "base";
  o.data_dir = dir / "corpus";
  o.out_dir = dir / out;
  o.n_future = 3;
  o.sequences = 20;
  o.prompt_len = 12;
  o.min_prompt_len = 4;
  o.gen_len = 16;
  o.generate_batch = 8;
  o.steps = 8;
  o.batch_size = 4;
  o.lr = 3e-3;
  o.warmup_steps = 2;
  o.eval_every = 0;
  o.checkpoint_every = 0;
  o.progress = [](const std::string&) {};
  return o;
}

void expect_near(const std::vector<double>& a, const std::vector<double>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::max(1.0, std::abs(a[i]))) << what;
}

TEST(TrainHeadsDiskCache, TrainsTheSameHeadsAndIsReadInsteadOfComputed) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  auto plain = train_heads(small_run(dir, "plain"));
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_GT(plain->frozen_rows, 0);
  EXPECT_TRUE(plain->hidden_cache.empty());

  // First run with the cache: builds it (one frozen pass per sequence), then trains on it.
  HeadsTrainOptions o = small_run(dir, "cached");
  o.cache_dir = dir / "cache";
  std::string said;
  o.progress = [&](const std::string& line) { said += line + "\n"; };
  auto built = train_heads(o);
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_TRUE(built->hidden_cache_built);
  EXPECT_EQ(built->frozen_rows, 20);
  expect_near(plain->first_loss, built->first_loss, "first loss");
  expect_near(plain->last_loss, built->last_loss, "last loss");
  expect_near(plain->eval_loss, built->eval_loss, "eval loss");
  const std::string file = built->hidden_cache;
  ASSERT_TRUE(fs::exists(file)) << said;
  EXPECT_EQ(fs::path(file).parent_path(), fs::path(dir / "cache"));
  // The size the documentation states: a sequence is L x dim x 4 bytes of
  // states, L x 4 of tokens and a 4-byte CRC (L = 28, dim 64), plus a header.
  const auto bytes = fs::file_size(file);
  EXPECT_GT(bytes, 20u * (28 * 64 * 4 + 28 * 4 + 4));
  EXPECT_LT(bytes, 20u * (28 * 64 * 4 + 28 * 4 + 4) + 4096);
  EXPECT_NE(said.find("hidden cache: building"), std::string::npos) << said;

  // A later run over the same base and targets reads it: no frozen forward at all.
  o.out_dir = dir / "again";
  said.clear();
  auto reused = train_heads(o);
  ASSERT_TRUE(reused.ok()) << reused.status().message();
  EXPECT_FALSE(reused->hidden_cache_built);
  EXPECT_EQ(reused->frozen_rows, 0);
  EXPECT_EQ(reused->hidden_cache, file);
  EXPECT_EQ(said.find("building"), std::string::npos) << said;
  EXPECT_NE(said.find("hidden cache: reading"), std::string::npos) << said;
  expect_near(plain->last_loss, reused->last_loss, "last loss, cache read");
  expect_near(plain->eval_loss, reused->eval_loss, "eval loss, cache read");

  // So does a resume.
  o.resume = true;
  o.steps = 10;
  auto resumed = train_heads(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->frozen_rows, 0);
  EXPECT_EQ(resumed->final_step, 10);

  // A corrupted record: found by its CRC, the file rebuilt, the same heads trained.
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(bytes / 2));
    const char junk[4] = {0x7f, 0x7f, 0x7f, 0x7f};
    f.write(junk, 4);
  }
  o = small_run(dir, "corrupt");
  o.cache_dir = dir / "cache";
  said.clear();
  o.progress = [&](const std::string& line) { said += line + "\n"; };
  auto rebuilt = train_heads(o);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().message();
  EXPECT_TRUE(rebuilt->hidden_cache_built);
  EXPECT_NE(said.find("fails its CRC-32 (corrupted); rebuilding it"), std::string::npos) << said;
  expect_near(plain->last_loss, rebuilt->last_loss, "last loss, rebuilt cache");
  EXPECT_EQ(fs::file_size(file), bytes);

  // Cut short: rebuilt too.
  fs::resize_file(file, bytes - 100);
  o.out_dir = dir / "truncated";
  said.clear();
  auto again = train_heads(o);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->hidden_cache_built);
  EXPECT_NE(said.find("(truncated or overwritten); rebuilding it"), std::string::npos) << said;
  for (const auto& e : fs::directory_iterator(dir / "cache"))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();

  // Corpus targets have no sequences to cache.
  o.out_dir = dir / "corpus-targets";
  o.targets = "corpus";
  auto refused = train_heads(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--cache-dir"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace mtpc
