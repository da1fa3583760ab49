#include "model/checkpoint/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

using mtpc::testing::read_file;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;

ModelConfig small_config(HeadKind kind = HeadKind::kTransformer) {
  ModelConfig c = *model_preset("tiny");
  c.dim = 32; c.n_heads = 2; c.n_kv_heads = 1; c.hidden_dim = 64; c.n_layers = 1;
  c.n_future = 2; c.head_kind = kind; c.max_seq_len = 32;
  return c;
}

std::string saved_checkpoint(const TempDir& dir, const ModelConfig& c, DType dtype = DType::F32) {
  torch::manual_seed(11);
  MtpModel m(c);
  EXPECT_TRUE(write_model_files(dir.path(), *m, {{"note", "test"}}, dtype).ok());
  return dir.path();
}

void expect_load_error(const std::string& dir, const std::string& needle) {
  auto r = load_model(dir);
  ASSERT_FALSE(r.ok()) << "expected an error mentioning " << needle;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(Checkpoint, RoundTripIsBitExactForBothHeadKinds) {
  for (HeadKind kind : {HeadKind::kTransformer, HeadKind::kMlp}) {
    TempDir dir;
    ModelConfig c = small_config(kind);
    torch::manual_seed(11);
    MtpModel original(c);
    ASSERT_TRUE(write_model_files(dir.path(), *original, {{"step", 7}}).ok());
    auto loaded = load_model(dir.path());
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ(loaded->provenance["step"], 7);
    auto a = named_parameters_sorted(*original), b = named_parameters_sorted(*loaded->model);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first << " differs";
    }
  }
}

TEST(Checkpoint, Bf16WeightsLoadAsTheirRoundedValues) {
  TempDir dir;
  ModelConfig c = small_config();
  torch::manual_seed(11);
  MtpModel original(c);
  ASSERT_TRUE(write_model_files(dir.path(), *original, {}, DType::BF16).ok());
  auto loaded = load_model(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto a = named_parameters_sorted(*original), b = named_parameters_sorted(*loaded->model);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::equal(a[i].second.to(torch::kBFloat16).to(torch::kFloat32), b[i].second));
  EXPECT_LT(fs::file_size(fs::path(dir.path()) / "model.safetensors"),
            static_cast<uintmax_t>(c.parameter_count() * 2 + 16384));
}

TEST(Checkpoint, MissingDirectoryAndMissingFiles) {
  expect_load_error("/nonexistent/mtpc-ckpt", "/nonexistent/mtpc-ckpt");
  TempDir dir;
  expect_load_error(dir.path(), "config.json");
  saved_checkpoint(dir, small_config());
  fs::remove(fs::path(dir.path()) / "model.safetensors");
  expect_load_error(dir.path(), "model.safetensors");
}

TEST(Checkpoint, TruncatedWeightsFile) {
  TempDir dir;
  saved_checkpoint(dir, small_config());
  const std::string path = dir / "model.safetensors";
  fs::resize_file(path, fs::file_size(path) - 100);
  expect_load_error(dir.path(), "model.safetensors");
  fs::resize_file(path, 5);  // shorter than the header length field
  expect_load_error(dir.path(), "model.safetensors");
}

TEST(Checkpoint, CorruptHeader) {
  TempDir dir;
  saved_checkpoint(dir, small_config());
  const std::string path = dir / "model.safetensors";
  std::string bytes = read_file(path);
  for (int i = 8; i < 24; ++i) bytes[i] = '#';
  write_file(path, bytes);
  expect_load_error(dir.path(), "model.safetensors");
}

TEST(Checkpoint, UnknownDtype) {
  TempDir dir;
  saved_checkpoint(dir, small_config());
  const std::string path = dir / "model.safetensors";
  std::string bytes = read_file(path);
  auto at = bytes.find("\"F32\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "\"Q4K\"");  // same length: offsets stay valid
  write_file(path, bytes);
  expect_load_error(dir.path(), "Q4K");
}

TEST(Checkpoint, MissingExtraAndMisshapenTensors) {
  ModelConfig c = small_config();
  torch::manual_seed(11);
  MtpModel m(c);
  auto params = named_parameters_sorted(*m);
  {
    TempDir dir;
    saved_checkpoint(dir, c);
    auto fewer = params;
    fewer.erase(std::remove_if(fewer.begin(), fewer.end(),
                               [](auto& p) { return p.first == "final_norm.weight"; }),
                fewer.end());
    ASSERT_TRUE(write_tensors(dir / "model.safetensors", fewer, DType::F32).ok());
    expect_load_error(dir.path(), "missing tensor 'final_norm.weight'");
  }
  {
    TempDir dir;
    saved_checkpoint(dir, c);
    auto more = params;
    more.emplace_back("heads.9.extra.weight", torch::zeros({2}));
    ASSERT_TRUE(write_tensors(dir / "model.safetensors", more, DType::F32).ok());
    expect_load_error(dir.path(), "unexpected tensor 'heads.9.extra.weight'");
  }
  {
    TempDir dir;
    saved_checkpoint(dir, c);
    auto bent = params;
    for (auto& p : bent)
      if (p.first == "embedding.weight") p.second = torch::zeros({262, 16});
    ASSERT_TRUE(write_tensors(dir / "model.safetensors", bent, DType::F32).ok());
    expect_load_error(dir.path(), "embedding.weight");
  }
}

TEST(Checkpoint, ConfigThatDisagreesWithTensorsOrIsInvalid) {
  TempDir dir;
  saved_checkpoint(dir, small_config());
  const std::string cfg = dir / "config.json";
  auto j = nlohmann::json::parse(read_file(cfg));
  j["model"]["dim"] = 64;  // valid on its own, wrong for these tensors
  write_file(cfg, j.dump());
  expect_load_error(dir.path(), "config.json implies");
  j["model"]["dim"] = 32;
  j["model"]["n_future"] = 0;
  write_file(cfg, j.dump());
  expect_load_error(dir.path(), "n_future");
  j["model"]["n_future"] = 2;
  j["model"]["head_kind"] = "rnn";
  write_file(cfg, j.dump());
  expect_load_error(dir.path(), "head_kind");
  write_file(cfg, "{\"format\": \"mtpc-checkpoint\", ");
  expect_load_error(dir.path(), "config.json");
}

TEST(Checkpoint, TrainedWindowIsTheTrainSeqLenThroughHeadsAndConversions) {
  using nlohmann::json;
  const json trained = {{"trained_by", "mtpc train"}, {"train", {{"seq_len", 256}, {"steps", 10}}}};
  EXPECT_EQ(trained_window(trained), 256);
  // A heads checkpoint's provenance holds the base's; a conversion's its source's.
  EXPECT_EQ(trained_window(json{{"heads", {{"prompt_len", 384}}}, {"base", trained}}), 256);
  EXPECT_EQ(trained_window(json{{"converted_from", "/x"}, {"source", trained}}), 256);
  EXPECT_EQ(trained_window(json{{"source", json{{"base", trained}}}}), 256);
  // Not recorded, or not a positive integer: unknown (0).
  EXPECT_EQ(trained_window(json::object()), 0);
  EXPECT_EQ(trained_window(json{{"source", "huggingface"}}), 0);
  EXPECT_EQ(trained_window(json{{"train", {{"seq_len", "256"}}}}), 0);
  EXPECT_EQ(trained_window(json{{"train", {{"seq_len", -4}}}}), 0);
  EXPECT_EQ(trained_window(json{{"train", {{"seq_len", 12.5}}}}), 0);
  EXPECT_EQ(trained_window(json::array()), 0);
  EXPECT_EQ(trained_window(json(nullptr)), 0);
}

TEST(Checkpoint, PublishDirectoryReplacesAWholeCheckpointAtOnce) {
  TempDir dir;
  const std::string target = dir / "checkpoint", staging = dir / "staging";
  fs::create_directories(staging);
  write_file(staging + "/a", "one");
  ASSERT_TRUE(publish_directory(staging, target).ok());
  EXPECT_EQ(read_file(target + "/a"), "one");
  EXPECT_FALSE(fs::exists(staging));
  fs::create_directories(staging);
  write_file(staging + "/b", "two");
  ASSERT_TRUE(publish_directory(staging, target).ok());
  EXPECT_FALSE(fs::exists(target + "/a"));
  EXPECT_EQ(read_file(target + "/b"), "two");
  EXPECT_FALSE(fs::exists(staging));
}

}  // namespace
}  // namespace mtpc
