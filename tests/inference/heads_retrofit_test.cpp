// `mtpc train heads` (model/training/heads_trainer.h) and heads directories
// (model/checkpoint/heads_checkpoint.h) on small fixture models: the base
// never changes and decodes the same with or without the heads, speculative
// decoding over retrofitted heads gives greedy's tokens, the heads learn, and
// every bad input is a clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "model/checkpoint/checkpoint.h"
#include "model/checkpoint/heads_checkpoint.h"
#include "model/training/heads_trainer.h"
#include "test_models.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

using testing::TempDir;

// A repetitive Python-like byte corpus as `mtpc corpus build` writes it.
void write_corpus(const std::string& dir, int repeats = 60) {
  fs::create_directories(dir);
  std::string bytes;
  for (int i = 0; i < repeats; ++i) {
    std::string text = "def add_" + std::to_string(i % 7) + "(a, b):\n    return a + b\n\nfor i in range(" +
                       std::to_string(i) + "):\n    print(i * 2)\n";
    for (unsigned char c : text) bytes += static_cast<char>(c), bytes += '\0';
    bytes += static_cast<char>(1), bytes += static_cast<char>(1);  // 257: EOS
  }
  testing::write_file(dir + "/train.bin", bytes);
}

// The base: the fixture's small MLP-headed model, briefly trained so that
// its greedy continuations are not one repeated byte.
void write_base(const std::string& dir, unsigned seed = 17, HeadKind kind = HeadKind::kMlp) {
  testing::FixtureModel o;
  o.head_kind = kind;
  o.n_future = 2;
  o.train_steps = 20;
  o.seed = seed;
  Status s = testing::write_fixture_model(dir, o);
  ASSERT_TRUE(s.ok()) << s.message();
}

HeadsTrainOptions small_run(const TempDir& dir) {
  HeadsTrainOptions o;
  o.base_dir = dir / "base";
  o.data_dir = dir / "corpus";
  o.out_dir = dir / "out";
  o.n_future = 4;
  o.sequences = 24;
  o.prompt_len = 16;
  o.gen_len = 24;
  o.generate_batch = 8;
  o.steps = 40;
  o.batch_size = 4;
  o.lr = 3e-3;
  o.warmup_steps = 5;
  o.log_every = 10;
  o.eval_every = 0;
  o.checkpoint_every = 0;
  o.progress = [](const std::string&) {};
  return o;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

std::vector<int32_t> decode(Engine& e, const std::string& prompt, DecodeMode mode) {
  return testing::generate_alone(e, testing::fixed_length_request(encode_prompt(e.tokenizer(), prompt), 32, mode))
      .tokens;
}

void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = dir + "/config.json";
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  edit(j);
  std::ofstream(path) << j.dump(2);
}

TEST(TrainHeads, DistilledHeadsLearnLeaveTheBaseAloneAndDecodeAsTheBase) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  auto before = base_checksum(dir / "base");
  ASSERT_TRUE(before.ok()) << before.status().message();
  std::vector<std::string> lines;
  HeadsTrainOptions o = small_run(dir);
  o.progress = [&](const std::string& line) { lines.push_back(line); };
  auto summary = train_heads(o);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->final_step, 40);
  ASSERT_EQ(summary->first_loss.size(), 3u);  // heads 2..4
  EXPECT_LT(sum(summary->last_loss), 0.8 * sum(summary->first_loss));
  EXPECT_LT(sum(summary->eval_loss), 0.9 * sum(summary->start_eval_loss));
  ASSERT_EQ(summary->eval_agreement.size(), 3u);
  EXPECT_GT(sum(summary->eval_agreement), sum(summary->start_eval_agreement));
  EXPECT_FALSE(lines.empty());
  EXPECT_EQ(fs::file_size(dir / "out/targets.bin"), 24u * (1 + 16 + 24) * sizeof(int32_t));

  // The base's files are untouched, and the retrofitted model's base
  // parameters are the base's, bit for bit.
  auto after = base_checksum(dir / "base");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*before, *after);
  auto base = load_model(dir / "base");
  auto heads = load_model(dir / "out/heads");
  ASSERT_TRUE(base.ok() && heads.ok()) << heads.status().message();
  EXPECT_EQ(heads->model->config().n_future, 4);
  auto base_params = named_parameters_sorted(*base->model);
  std::map<std::string, torch::Tensor> by_name(base_params.begin(), base_params.end());
  int shared = 0, trained = 0;
  for (auto& [name, p] : named_parameters_sorted(*heads->model)) {
    if (name.rfind("heads.", 0) == 0 && name.rfind("heads.0.", 0) != 0) {
      // The identity start had w2 = 0: training moved it.
      if (name.find("w2.weight") != std::string::npos) EXPECT_GT(p.abs().max().item<double>(), 0) << name;
      ++trained;
      continue;
    }
    ASSERT_TRUE(by_name.count(name)) << name;
    EXPECT_TRUE(torch::equal(p, by_name.at(name))) << name;
    ++shared;
  }
  EXPECT_EQ(trained, 3 * 4);  // norm, w1, w2, w3 per new head
  EXPECT_GT(shared, 0);

  // Head 1 is the base's: greedy decoding is identical, and speculative
  // decoding with the new heads gives greedy's tokens.
  auto base_engine = Engine::load(dir / "base", testing::test_engine_options());
  auto heads_engine = Engine::load(dir / "out/heads", testing::test_engine_options());
  ASSERT_TRUE(base_engine.ok() && heads_engine.ok()) << heads_engine.status().message();
  for (const std::string prompt : {"def add_3(a, b):\n", "for i in range(", "x"}) {
    const auto greedy = decode(**base_engine, prompt, DecodeMode::kGreedy);
    EXPECT_EQ(decode(**heads_engine, prompt, DecodeMode::kGreedy), greedy) << prompt;
    EXPECT_EQ(decode(**heads_engine, prompt, DecodeMode::kSpeculative), greedy) << prompt;
  }
}

TEST(TrainHeads, CachedStatesTrainTheSameHeads) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  HeadsTrainOptions o = small_run(dir);
  o.steps = 12;
  o.min_prompt_len = 4;  // prompts of 4..16 tokens, per batch of 8
  auto plain = train_heads(o);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  o.out_dir = dir / "cached";
  o.cache_hidden = true;
  auto cached = train_heads(o);
  ASSERT_TRUE(cached.ok()) << cached.status().message();
  EXPECT_EQ(plain->last_loss, cached->last_loss);
  EXPECT_EQ(plain->eval_loss, cached->eval_loss);
  // The records carry their own prompt lengths, within the bounds and not all equal.
  std::ifstream in(dir / "out/targets.bin", std::ios::binary);
  std::set<int32_t> lengths;
  for (int r = 0; r < 24; ++r) {
    std::vector<int32_t> record(1 + 16 + 24);
    in.read(reinterpret_cast<char*>(record.data()), record.size() * sizeof(int32_t));
    ASSERT_TRUE(in);
    EXPECT_TRUE(record[0] >= 4 && record[0] <= 16) << record[0];
    lengths.insert(record[0]);
    for (size_t t = 1 + record[0] + 24; t < record.size(); ++t) EXPECT_EQ(record[t], 0);
  }
  EXPECT_GT(lengths.size(), 1u);
}

TEST(TrainHeads, CorpusTargetsAndTransformerHeadsTrainToo) {
  TempDir dir;
  write_base(dir / "base", 17, HeadKind::kTransformer);
  write_corpus(dir / "corpus");
  HeadsTrainOptions o = small_run(dir);
  o.head_kind = HeadKind::kTransformer;
  o.targets = "corpus";
  o.log_every = 1;
  std::string log;
  o.progress = [&](const std::string& line) { log += line + "\n"; };
  auto summary = train_heads(o);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  // Raw corpus tokens are harder to predict than the base's own; held out,
  // the loss still falls.
  EXPECT_LT(sum(summary->eval_loss), 0.95 * sum(summary->start_eval_loss)) << log;
  EXPECT_LT(sum(summary->last_loss), sum(summary->first_loss)) << log;
  EXPECT_FALSE(fs::exists(dir / "out/targets.bin"));
  auto heads_engine = Engine::load(dir / "out/heads", testing::test_engine_options());
  auto base_engine = Engine::load(dir / "base", testing::test_engine_options());
  ASSERT_TRUE(base_engine.ok() && heads_engine.ok()) << heads_engine.status().message();
  const auto greedy = decode(**base_engine, "def add_1(", DecodeMode::kGreedy);
  EXPECT_EQ(decode(**heads_engine, "def add_1(", DecodeMode::kSpeculative), greedy);
}

TEST(TrainHeads, ResumesTrainingAndKeepsTheTargets) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  HeadsTrainOptions o = small_run(dir);
  o.steps = 10;
  ASSERT_TRUE(train_heads(o).ok());
  const auto targets_time = fs::last_write_time(dir / "out/targets.bin");
  // Again without --resume: refused, nothing overwritten.
  auto again = train_heads(o);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("--resume"), std::string::npos) << again.status().message();
  o.resume = true;
  o.steps = 15;
  std::vector<std::string> lines;
  o.progress = [&](const std::string& line) { lines.push_back(line); };
  auto resumed = train_heads(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->final_step, 15);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("resumed at step 10"), std::string::npos) << lines[0];
  for (const std::string& line : lines) EXPECT_EQ(line.find("targets:"), std::string::npos) << line;
  EXPECT_EQ(fs::last_write_time(dir / "out/targets.bin"), targets_time);  // not regenerated
  auto state = nlohmann::json::parse(std::ifstream(dir / "out/heads/trainer_state.json"));
  EXPECT_EQ(state["step"], 15);
}

TEST(TrainHeads, BadInputsAreClearErrors) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  auto expect_error = [](const Result<HeadsTrainSummary>& r, const std::string& words) {
    ASSERT_FALSE(r.ok()) << "expected an error with: " << words;
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  };
  {
    HeadsTrainOptions o = small_run(dir);
    o.base_dir = dir / "no-such-model";
    expect_error(train_heads(o), "not found");
  }
  {
    HeadsTrainOptions o = small_run(dir);
    o.head_kind = HeadKind::kTransformer;  // the base has MLP heads
    expect_error(train_heads(o), "must be mlp too");
  }
  {
    fs::create_directories(dir / "empty");
    testing::write_file(dir / "empty/train.bin", "");
    HeadsTrainOptions o = small_run(dir);
    o.data_dir = dir / "empty";
    expect_error(train_heads(o), "train.bin");
  }
  {
    HeadsTrainOptions o = small_run(dir);
    o.gen_len = 200;  // the fixture's context is 128
    expect_error(train_heads(o), "exceeds the base's context");
  }
  {
    HeadsTrainOptions o = small_run(dir);
    o.n_future = 1;
    expect_error(train_heads(o), "--n-future");
  }
  EXPECT_FALSE(fs::exists(dir / "out/heads"));
}

TEST(HeadsDirectory, RefusesAnotherBaseWrongWidthsAndMissingHeads) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  HeadsTrainOptions o = small_run(dir);
  o.steps = 2;
  ASSERT_TRUE(train_heads(o).ok());
  const std::string heads = dir / "out/heads";
  auto expect_load_error = [&](const std::string& words) {
    auto r = load_model(heads);
    ASSERT_FALSE(r.ok()) << "expected an error with: " << words;
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    auto e = Engine::load(heads, testing::test_engine_options());
    EXPECT_FALSE(e.ok());
  };
  ASSERT_TRUE(load_model(heads).ok());
  {
    auto copy = dir / "copy";
    fs::copy(heads, copy);
    edit_config(copy, [](nlohmann::json& j) { j["n_future"] = 6; });
    auto r = load_model(copy);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("holds heads 2..4"), std::string::npos) << r.status().message();
  }
  {
    auto copy = dir / "copy2";
    fs::copy(heads, copy);
    edit_config(copy, [](nlohmann::json& j) { j["dim"] = 128; });
    auto r = load_model(copy);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("do not fit the base's dim 64"), std::string::npos) << r.status().message();
  }
  // Another model where the base was: same shapes, other weights.
  fs::remove_all(dir / "base");
  write_base(dir / "base", /*seed=*/99);
  expect_load_error("not the model these heads were trained on");
  // No base at all.
  fs::remove_all(dir / "base");
  expect_load_error("not found");
}

TEST(TrainHeads, CommandLineRunsAndReportsErrors) {
  TempDir dir;
  write_base(dir / "base");
  write_corpus(dir / "corpus");
  const std::string bin = MTPC_BINARY;
  auto ok = testing::run_command("'" + bin + "' --threads 1 train heads --base '" + dir / "base" + "' --data '" +
                                 dir / "corpus" + "' --out '" + dir / "out" +
                                 "' --n-future 3 --sequences 10 --prompt-len 8 --gen-len 8 --steps 3 --log-every 1");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("step 3/3"), std::string::npos) << ok.output;
  EXPECT_TRUE(fs::exists(dir / "out/heads/heads.safetensors"));
  auto bad = testing::run_command("'" + bin + "' train heads --base '" + dir / "nothing" + "' --data '" +
                                  dir / "corpus" + "' --out '" + dir / "out2" + "'");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("mtpc train heads: --base"), std::string::npos) << bad.output;
  // Plain `mtpc train` still wants its own flags.
  auto plain = testing::run_command("'" + bin + "' train --preset tiny");
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_NE(plain.output.find("--data and --out are required"), std::string::npos) << plain.output;
}

// The bundled heads still belong to the bundled base (a retrained
// model/shipped without new heads fails here) and change no output.
TEST(HeadsDirectory, ShippedHeadsLoadOverTheShippedModelAndDecodeAsIt) {
  const std::string shipped = std::string(MTPC_SOURCE_DIR) + "/model/shipped";
  auto base = Engine::load(shipped, testing::test_engine_options());
  auto heads = Engine::load(shipped + "/heads", testing::test_engine_options());
  ASSERT_TRUE(base.ok()) << base.status().message();
  ASSERT_TRUE(heads.ok()) << heads.status().message();
  EXPECT_EQ((*heads)->config().n_future, 8);
  const std::string prompt = "def fib(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n";
  const auto greedy = decode(**base, prompt, DecodeMode::kGreedy);
  EXPECT_EQ(decode(**heads, prompt, DecodeMode::kGreedy), greedy);
  EXPECT_EQ(decode(**heads, prompt, DecodeMode::kSpeculative), greedy);
}

}  // namespace
}  // namespace mtpc
