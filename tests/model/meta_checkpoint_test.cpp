// Meta's multi-token layout against Meta's own formulation of the model
// (tests/model/meta_fixture.py, torch ops): every head's logits, greedy
// continuations; and the bad directories a user can hand us.
#include "model/checkpoint/meta_checkpoint.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "python_fixture.h"

namespace mtpc {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class MetaCheckpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new TempDir();
    error_ = new std::string();
    fixture_ = new std::string(testing::cached_python_fixture("meta_fixture.py", error_));
    if (error_->empty()) reference_ = new nlohmann::json(nlohmann::json::parse(testing::read_file(*fixture_ + "/reference.json")));
  }
  static void TearDownTestSuite() {
    delete scratch_;
    delete error_;
    delete fixture_;
    delete reference_;
  }
  void SetUp() override { ASSERT_EQ(*error_, "") << "fixture script failed"; }
  // The generated fixture (shared, read-only): model/, extra/, bf16/, repacked/.
  static std::string fixture(const std::string& name) { return *fixture_ + "/" + name; }
  static std::string model_dir() { return fixture("model"); }
  // A copy of the fixture model with params.json replaced, in this test's scratch folder.
  std::string with_params(const std::string& name, const nlohmann::json& params) {
    const std::string d = *scratch_ / name;
    fs::create_directories(d);
    fs::copy_file(model_dir() + "/consolidated.pth", d + "/consolidated.pth", fs::copy_options::overwrite_existing);
    testing::write_file(d + "/params.json", params.dump());
    return d;
  }
  static nlohmann::json params() { return nlohmann::json::parse(testing::read_file(model_dir() + "/params.json")); }

  static TempDir* scratch_;
  static std::string* error_;
  static std::string* fixture_;
  static nlohmann::json* reference_;
};
TempDir* MetaCheckpointTest::scratch_ = nullptr;
std::string* MetaCheckpointTest::fixture_ = nullptr;
std::string* MetaCheckpointTest::error_ = nullptr;
nlohmann::json* MetaCheckpointTest::reference_ = nullptr;

TEST_F(MetaCheckpointTest, ConfigFollowsMetasLayout) {
  auto c = read_meta_params(model_dir());
  ASSERT_TRUE(c.ok()) << c.status().message();
  // n_layers 6 with 4 future tokens: 2 trunk blocks, 4 transformer heads.
  EXPECT_EQ(c->n_layers, 2);
  EXPECT_EQ(c->n_future, 4);
  EXPECT_EQ(c->head_kind, HeadKind::kTransformer);
  EXPECT_EQ(c->hidden_dim, (*reference_)["hidden_dim"].get<int>());
  EXPECT_EQ(c->n_kv_heads, 2);
  EXPECT_EQ(c->max_seq_len, 128);
  EXPECT_DOUBLE_EQ(c->rope_theta, 50000.0);
}

TEST_F(MetaCheckpointTest, EveryHeadsLogitsMatchMetasFormulation) {
  auto loaded = load_meta_model(model_dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  MtpModel model = loaded->model;
  model->eval();
  EXPECT_EQ(loaded->provenance["format"], "meta-multi-token");
  const auto& prompts = (*reference_)["prompts"];
  ASSERT_EQ(prompts.size(), 3u);
  for (size_t p = 0; p < prompts.size(); ++p) {
    auto ids = prompts[p].get<std::vector<int64_t>>();
    auto tokens = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    for (bool inference_mode : {false, true}) {  // torch's linear, then the CPU kernel
      std::vector<torch::Tensor> heads;
      {
        c10::InferenceMode guard(inference_mode);
        heads = model->forward_all(tokens);
      }
      ASSERT_EQ(heads.size(), 4u);
      for (int h = 0; h < 4; ++h) {
        const auto& want = (*reference_)["logits"][p][h];
        auto got = heads[h][0];
        ASSERT_EQ(got.size(0), static_cast<int64_t>(want.size()));
        double worst = 0;
        for (size_t t = 0; t < want.size(); ++t) {
          auto ref = torch::tensor(want[t].get<std::vector<float>>());
          worst = std::max(worst, (got[static_cast<int64_t>(t)] - ref).abs().max().item<double>());
        }
        EXPECT_LT(worst, 1e-4) << "prompt " << p << " head " << h + 1 << " inference_mode " << inference_mode;
      }
    }
  }
}

TEST_F(MetaCheckpointTest, GreedyContinuationsMatch) {
  auto loaded = load_meta_model(model_dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  MtpModel model = loaded->model;
  model->eval();
  c10::InferenceMode guard;
  for (size_t p = 0; p < (*reference_)["prompts"].size(); ++p) {
    auto prompt = (*reference_)["prompts"][p].get<std::vector<int64_t>>();
    auto want = (*reference_)["greedy"][p].get<std::vector<int64_t>>();
    // Incremental decoding with the KV cache, one token per pass.
    KvCache cache = KvCache::create(model->config(), 1, model->config().max_seq_len);
    auto logits = model->forward_next(torch::tensor(prompt, torch::kInt64).unsqueeze(0), 0, cache);
    std::vector<int64_t> got;
    int64_t pos = static_cast<int64_t>(prompt.size());
    while (got.size() < want.size()) {
      const int64_t next = logits[0][-1].argmax().item<int64_t>();
      got.push_back(next);
      logits = model->forward_next(torch::tensor({next}, torch::kInt64).unsqueeze(0), pos++, cache);
    }
    EXPECT_EQ(got, want) << "prompt " << p;
  }
}

// bf16 storage and a zipfile-written archive (ZIP64, unaligned storages)
// give the same weights as the torch.save'd fp32 file: bf16 exactly the fp32
// weights rounded by torch.
TEST_F(MetaCheckpointTest, Bf16AndRepackedArchivesLoadTheSameWeights) {
  auto fp32 = load_meta_model(model_dir());
  auto bf16 = load_meta_model(fixture("bf16"));
  auto repacked = load_meta_model(fixture("repacked"));
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  ASSERT_TRUE(bf16.ok()) << bf16.status().message();
  ASSERT_TRUE(repacked.ok()) << repacked.status().message();
  auto a = named_parameters_sorted(*fp32->model);
  auto b = named_parameters_sorted(*bf16->model);
  auto c = named_parameters_sorted(*repacked->model);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].second, c[i].second)) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second.to(torch::kBFloat16).to(torch::kFloat32), b[i].second)) << a[i].first;
  }
}

TEST_F(MetaCheckpointTest, LoadsIntoTheAskedDtypeAndContext) {
  // Meta ships bf16; held as bf16 a 7B model fits where its fp32 copy would not.
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  options.max_context = 64;
  auto fp32 = load_meta_model(model_dir());
  auto bf16 = load_meta_model(fixture("bf16"), torch::kCPU, options);
  auto converted = load_meta_model(model_dir(), torch::kCPU, options);  // fp32 archive, bf16 parameters
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  ASSERT_TRUE(bf16.ok()) << bf16.status().message();
  ASSERT_TRUE(converted.ok()) << converted.status().message();
  EXPECT_EQ(bf16->model->config().max_seq_len, 64);
  EXPECT_EQ(fp32->model->config().max_seq_len, params()["max_seq_len"].get<int>());
  auto a = named_parameters_sorted(*fp32->model);
  auto b = named_parameters_sorted(*bf16->model);
  auto c = named_parameters_sorted(*converted->model);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].second.scalar_type(), torch::kBFloat16) << b[i].first;
    EXPECT_TRUE(torch::equal(a[i].second.to(torch::kBFloat16), b[i].second)) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second.to(torch::kBFloat16), c[i].second)) << a[i].first;
  }
}

void expect_error(const Result<LoadedModel>& r, const std::vector<std::string>& parts) {
  ASSERT_FALSE(r.ok());
  for (const auto& part : parts)
    EXPECT_NE(r.status().message().find(part), std::string::npos) << "'" << part << "' not in: " << r.status().message();
}

TEST_F(MetaCheckpointTest, BadParamsAreClearErrors) {
  auto p = params();
  p.erase("dim");
  expect_error(load_meta_model(with_params("no_dim", p)), {"params.json", "field 'dim' is missing"});
  p = params();
  p["n_heads"] = "four";
  expect_error(load_meta_model(with_params("str_heads", p)), {"params.json", "field 'n_heads' must be an integer"});
  p = params();
  p["n_kv_heads"] = 3;
  expect_error(load_meta_model(with_params("kv3", p)), {"params.json", "field 'n_kv_heads'", "must divide n_heads"});
  p = params();
  p["n_future_tokens"] = 6;
  expect_error(load_meta_model(with_params("all_heads", p)), {"field 'n_future_tokens'", "smaller than n_layers"});
  p = params();
  p["ffn_dim_multiplier"] = "wide";
  expect_error(load_meta_model(with_params("ffn", p)), {"field 'ffn_dim_multiplier'"});
  const std::string broken = *scratch_ / "not_json";
  fs::create_directories(broken);
  testing::write_file(broken + "/params.json", "{\"dim\": 64,");
  expect_error(load_meta_model(broken), {broken + "/params.json", "not a JSON object"});
  expect_error(load_meta_model(*scratch_ / "nowhere"), {"nowhere", "not found"});
}

TEST_F(MetaCheckpointTest, TensorsDisagreeingWithParamsAreClearErrors) {
  auto p = params();
  p["dim"] = 128;
  expect_error(load_meta_model(with_params("dim128", p)),
               {"consolidated.pth", "tensor 'tok_embeddings.weight' has shape [262, 64]", "params.json", "[262, 128]"});
  p = params();
  p["multiple_of"] = 64;  // FFN width 256 instead of 224
  expect_error(load_meta_model(with_params("ffn256", p)),
               {"tensor 'layers.0.feed_forward.w1.weight' has shape [224, 64]", "[256, 64]"});
  p = params();
  p["n_future_tokens"] = 3;  // the file has 4 heads: layers.3 (head 1 for 3 heads) is absent
  expect_error(load_meta_model(with_params("three_heads", p)), {"missing tensor 'layers.3.attention.wq.weight'"});
  p = params();
  p["n_future_tokens"] = 2;
  p["n_layers"] = 4;  // trunk layers.0..1, head 1 layers.2, head 2 extra_heads.0: extra_heads.1 is left over
  expect_error(load_meta_model(with_params("two_heads", p)), {"unexpected tensor 'extra_heads.1."});
  expect_error(load_meta_model(fixture("extra")), {"unexpected tensor 'extra_heads.3.ffn_norm.weight'"});
  const std::string no_pth = *scratch_ / "no_pth";
  fs::create_directories(no_pth);
  testing::write_file(no_pth + "/params.json", params().dump());
  expect_error(load_meta_model(no_pth), {"no consolidated.pth"});
}

TEST_F(MetaCheckpointTest, VocabSizeComesFromTheEmbeddingWhenUnset) {
  auto p = params();
  p["vocab_size"] = -1;  // what Meta's original Llama params.json says
  auto loaded = load_meta_model(with_params("vocab_unset", p));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->model->config().vocab_size, 262);
}

}  // namespace
}  // namespace mtpc
