// Hugging Face Llama/Qwen2 directories: fixtures and logits from
// tests/model/hf_fixture.py (Debian's python3-torch; the published
// Llama/Qwen2 math in float64, nothing of mtpc), loaded by load_hf_model.
#include "model/checkpoint/hf_checkpoint.h"

#include "model/checkpoint/convert.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

using mtpc::testing::run_command;
using mtpc::testing::TempDir;

const char* kPython = "/usr/bin/python3";

// Fails (not skips) without python3-torch: the oracle is required.
void require_python_torch() {
  auto r = run_command(std::string(kPython) + " -c 'import torch'");
  ASSERT_EQ(r.exit_code, 0) << kPython << " cannot import torch (scripts/setup installs python3-torch): "
                            << r.output;
}

std::string fixture(const TempDir& tmp, const std::string& layout, const std::string& defect = "") {
  const std::string dir = tmp / (layout + (defect.empty() ? "" : "-" + defect));
  auto r = run_command(std::string(kPython) + " " + MTPC_HF_FIXTURE + " write " + dir + " " + layout +
                       (defect.empty() ? "" : " --defect " + defect));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

const std::vector<std::vector<int64_t>> kPrompts = {{1, 5, 9, 33, 2, 17, 64, 3}, {7}, {12, 12, 12, 40, 99, 6}};

nlohmann::json reference(const std::string& dir, int greedy) {
  std::string prompts;
  for (const auto& p : kPrompts) {
    if (!prompts.empty()) prompts += ";";
    for (size_t i = 0; i < p.size(); ++i) prompts += (i ? "," : "") + std::to_string(p[i]);
  }
  auto r = run_command(std::string(kPython) + " " + MTPC_HF_FIXTURE + " reference " + dir + " '" + prompts +
                       "' " + std::to_string(greedy));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.output.substr(0, 500);
  return j;
}

torch::Tensor ids(const std::vector<int64_t>& p) {
  return torch::tensor(p, torch::kLong).unsqueeze(0);
}

// Largest |ours - reference| over every position and vocabulary entry.
double max_diff(const torch::Tensor& ours, const nlohmann::json& ref) {
  auto t = ours.squeeze(0).to(torch::kFloat64).contiguous();
  EXPECT_EQ(t.size(0), static_cast<int64_t>(ref.size()));
  double worst = 0;
  for (int64_t i = 0; i < t.size(0); ++i) {
    EXPECT_EQ(t.size(1), static_cast<int64_t>(ref[i].size()));
    for (int64_t v = 0; v < t.size(1); ++v)
      worst = std::max(worst, std::abs(t[i][v].item<double>() - ref[i][v].get<double>()));
  }
  return worst;
}

std::vector<int64_t> greedy(MtpModelImpl& m, const std::vector<int64_t>& prompt, int n) {
  c10::InferenceMode guard;
  auto cache = KvCache::create(m.config(), 1, static_cast<int64_t>(prompt.size()) + n);
  auto logits = m.forward_next(ids(prompt), 0, cache);
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    const int64_t next = logits[0][-1].argmax().item<int64_t>();
    out.push_back(next);
    logits = m.forward_next(ids({next}), static_cast<int64_t>(prompt.size()) + i, cache);
  }
  return out;
}

class HfCheckpoint : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { require_python_torch(); }
  TempDir tmp_;
};

// Logits of every position within 1e-4 of the reference, through both the
// training path (torch ops) and the inference path (CPU kernels), and
// cached greedy decoding identical to the reference's recomputation.
TEST_P(HfCheckpoint, LogitsAndGreedyMatchTheReference) {
  const std::string dir = fixture(tmp_, GetParam());
  auto loaded = load_hf_model(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  MtpModelImpl& m = *loaded->model;
  EXPECT_EQ(m.config().n_future, 1);
  EXPECT_EQ(m.config().tokenizer, "files");
  EXPECT_EQ(loaded->tokenizer, nullptr);
  constexpr int kGreedy = 10;
  auto ref = reference(dir, kGreedy);
  for (size_t p = 0; p < kPrompts.size(); ++p) {
    {
      torch::NoGradGuard no_grad;
      EXPECT_LT(max_diff(m.forward_all(ids(kPrompts[p]))[0], ref["logits"][p]), 1e-4) << "prompt " << p;
    }
    {
      c10::InferenceMode guard;
      EXPECT_LT(max_diff(m.forward_all(ids(kPrompts[p]))[0], ref["logits"][p]), 1e-4) << "prompt " << p;
    }
    EXPECT_EQ(greedy(m, kPrompts[p], kGreedy), ref["greedy"][p].get<std::vector<int64_t>>()) << "prompt " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, HfCheckpoint, ::testing::Values("llama", "qwen2", "sharded", "bf16"));

TEST(HfCheckpointConfig, ReadsEachFeatureFromConfigJson) {
  require_python_torch();
  TempDir tmp;
  auto llama = load_model(fixture(tmp, "llama"));  // load_model dispatches on "architectures"
  ASSERT_TRUE(llama.ok()) << llama.status().message();
  const ModelConfig& l = llama->model->config();
  EXPECT_EQ(l.n_layers, 2);  // 3 blocks: 2 in the trunk, the last as head 0
  EXPECT_EQ(l.n_heads, 4);
  EXPECT_EQ(l.n_kv_heads, 2);
  EXPECT_FALSE(l.tie_embeddings);
  EXPECT_FALSE(l.attention_bias);
  EXPECT_EQ(l.rope_scaling.kind, RopeScalingKind::kLlama3);
  EXPECT_EQ(l.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_EQ(l.max_seq_len, kDefaultMaxContext);  // max_position_embeddings 131072, capped
  EXPECT_DOUBLE_EQ(l.norm_eps, 1e-5);

  LoadOptions uncapped;
  uncapped.max_context = 0;
  auto full = load_hf_model(tmp / "llama", torch::kCPU, uncapped);
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->model->config().max_seq_len, 131072);

  auto qwen = load_hf_model(fixture(tmp, "qwen2"));
  ASSERT_TRUE(qwen.ok()) << qwen.status().message();
  const ModelConfig& q = qwen->model->config();
  EXPECT_EQ(q.head_dim(), 16);  // hidden 48 / 4 heads would be 12
  EXPECT_TRUE(q.attention_bias);
  EXPECT_TRUE(q.tie_embeddings);
  EXPECT_EQ(qwen->model->unembedding.is_empty(), true);
  EXPECT_DOUBLE_EQ(q.rope_theta, 1e6);
}

// The padded vocabulary (160) narrowed to a tokenizer's 151 ids: logits are
// the first 151 columns (up to the matrix product's summation order).
TEST(HfCheckpointConfig, LimitOutputVocabDropsThePaddedIds) {
  require_python_torch();
  TempDir tmp;
  auto loaded = load_hf_model(fixture(tmp, "qwen2"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  MtpModelImpl& m = *loaded->model;
  torch::NoGradGuard no_grad;
  auto before = m.forward_all(ids(kPrompts[0]))[0];
  EXPECT_FALSE(m.limit_output_vocab(0).ok());
  EXPECT_FALSE(m.limit_output_vocab(161).ok());
  ASSERT_TRUE(m.limit_output_vocab(151).ok());
  EXPECT_EQ(m.config().vocab_size, 151);
  auto after = m.forward_all(ids(kPrompts[0]))[0];
  ASSERT_EQ(after.size(-1), 151);
  EXPECT_TRUE(torch::allclose(after, before.narrow(-1, 0, 151), /*rtol=*/0, /*atol=*/1e-5));
}

// [begin, end) of the mappings of `path` in this process.
std::vector<std::pair<uintptr_t, uintptr_t>> mappings_of(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  const std::string canonical = fs::canonical(path).string();
  for (std::string line; std::getline(maps, line);) {
    if (line.size() < canonical.size() || line.compare(line.size() - canonical.size(), canonical.size(), canonical) != 0)
      continue;
    uintptr_t b = 0, e = 0;
    char dash = 0;
    std::istringstream(line) >> std::hex >> b >> dash >> e;
    out.emplace_back(b, e);
  }
  return out;
}

bool inside(const void* p, const std::vector<std::pair<uintptr_t, uintptr_t>>& ranges) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  for (auto [b, e] : ranges)
    if (a >= b && a < e) return true;
  return false;
}

// fp32 weights are the file's mapped bytes, not copies; the mapping lives as
// long as the model and goes with it. A bf16 file loaded as bf16 is mapped
// too; loaded as fp32 it is converted (copies).
TEST(HfCheckpointConfig, WeightsAreTheMappedFileWithoutCopies) {
  require_python_torch();
  TempDir tmp;
  const std::string llama = fixture(tmp, "llama");
  const std::string file = llama + "/model.safetensors";
  {
    auto loaded = load_hf_model(llama);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    auto ranges = mappings_of(file);
    ASSERT_FALSE(ranges.empty()) << file << " is not mapped";
    for (auto& [name, p] : named_parameters_sorted(*loaded->model))
      EXPECT_TRUE(inside(p.data_ptr(), ranges)) << name << " was copied";
  }
  EXPECT_TRUE(mappings_of(file).empty()) << "the mapping outlived the model";

  const std::string bf16 = fixture(tmp, "bf16");
  LoadOptions as_bf16;
  as_bf16.dtype = torch::kBFloat16;
  auto mapped = load_hf_model(bf16, torch::kCPU, as_bf16);
  ASSERT_TRUE(mapped.ok()) << mapped.status().message();
  auto ranges = mappings_of(bf16 + "/model.safetensors");
  for (auto& [name, p] : named_parameters_sorted(*mapped->model)) {
    EXPECT_EQ(p.scalar_type(), torch::kBFloat16) << name;
    EXPECT_TRUE(inside(p.data_ptr(), ranges)) << name << " was copied";
  }
  auto converted = load_hf_model(bf16);
  ASSERT_TRUE(converted.ok()) << converted.status().message();
  for (auto& [name, p] : named_parameters_sorted(*converted->model)) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32) << name;
    EXPECT_FALSE(inside(p.data_ptr(), ranges)) << name;
  }
}

struct BadInput {
  std::string layout, defect;
  std::vector<std::string> needles;  // each must appear in the message
};

class HfBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(HfBadInput, IsAClearErrorNamingFileAndField) {
  require_python_torch();
  TempDir tmp;
  const BadInput& b = GetParam();
  const std::string dir = fixture(tmp, b.layout, b.defect);
  auto r = load_model(dir);
  ASSERT_FALSE(r.ok()) << b.defect << " loaded";
  for (const std::string& needle : b.needles)
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << "'" << needle << "' not in: " << r.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Defects, HfBadInput,
    ::testing::Values(
        BadInput{"qwen2", "truncate", {"model.safetensors", "truncated"}},
        BadInput{"llama", "overlap", {"model.safetensors", "overlaps"}},
        BadInput{"sharded", "missing-shard", {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "missing"}},
        BadInput{"llama", "shape", {"model.safetensors", "model.layers.1.self_attn.k_proj.weight", "[64, 64]", "[32, 64]", "num_key_value_heads"}},
        BadInput{"llama", "missing-tensor", {"model.safetensors", "missing tensor 'model.layers.1.mlp.up_proj.weight'"}},
        BadInput{"llama", "arch", {"config.json", "architectures", "StarCoder2ForCausalLM"}},
        BadInput{"llama", "rope", {"config.json", "rope_scaling", "yarn"}}),
    [](const ::testing::TestParamInfo<BadInput>& info) {
      std::string name = info.param.defect;
      for (char& c : name)
        if (c == '-') c = '_';
      return name;
    });

TEST(HfCheckpointConfig, OtherArchitecturesAndFieldsAreNamed) {
  auto fail = [](nlohmann::json j, const std::string& needle) {
    auto r = hf_model_config(j, "config.json", 0);
    ASSERT_FALSE(r.ok()) << j.dump();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  nlohmann::json base = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 100},
                         {"hidden_size", 32},   {"intermediate_size", 64},     {"num_hidden_layers", 2},
                         {"num_attention_heads", 4}};
  ASSERT_TRUE(hf_model_config(base, "config.json", 0).ok());
  for (const char* arch : {"GemmaForCausalLM", "MixtralForCausalLM", "StarCoder2ForCausalLM"}) {
    auto j = base;
    j["architectures"] = {arch};
    fail(j, arch);
  }
  auto j = base;
  j["model_type"] = "mistral";
  fail(j, "model_type");
  j = base;
  j.erase("hidden_size");
  fail(j, "'hidden_size'");
  j = base;
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  fail(j, "dynamic");
  j = base;
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  fail(j, "low_freq_factor");
  j = base;
  j["hidden_act"] = "gelu";
  fail(j, "hidden_act");
  j = base;
  j["num_hidden_layers"] = 1;
  fail(j, "num_hidden_layers");
}

// convert_model writes an mtpc checkpoint that computes the same logits
// (fp32: bit for bit) and carries the tokenizer files.
TEST(HfConvert, Fp32CheckpointIsTheSameModel) {
  require_python_torch();
  TempDir tmp;
  for (const std::string layout : {"qwen2", "llama"}) {
    const std::string dir = fixture(tmp, layout), out = tmp / (layout + "-mtpc");
    mtpc::testing::write_file(dir + "/tokenizer.json", "{\"model\": {}}");
    auto summary = convert_model(dir, out, DType::F32);
    ASSERT_TRUE(summary.ok()) << summary.status().message();
    EXPECT_EQ(summary->tokenizer_files, (std::vector<std::string>{"tokenizer.json", "generation_config.json"}));
    EXPECT_EQ(mtpc::testing::read_file(out + "/tokenizer.json"), "{\"model\": {}}");
    auto config = nlohmann::json::parse(mtpc::testing::read_file(out + "/config.json"));
    EXPECT_EQ(config["format"], "mtpc-checkpoint");
    EXPECT_EQ(config["tokenizer"], "files");
    EXPECT_EQ(config["tokenizer_files"], nlohmann::json({"tokenizer.json", "generation_config.json"}));
    auto hf = load_model(dir);
    auto mtpc = load_model(out);
    ASSERT_TRUE(hf.ok()) << hf.status().message();
    ASSERT_TRUE(mtpc.ok()) << mtpc.status().message();
    EXPECT_EQ(model_config_to_json(mtpc->model->config()), model_config_to_json(hf->model->config()));
    torch::NoGradGuard no_grad;
    for (const auto& p : kPrompts)
      EXPECT_TRUE(torch::equal(hf->model->forward_all(ids(p))[0], mtpc->model->forward_all(ids(p))[0])) << layout;
  }
}

TEST(HfConvert, CommandWritesBf16) {
  require_python_torch();
  TempDir tmp;
  const std::string dir = fixture(tmp, "llama"), out = tmp / "out";
  auto r = run_command(std::string(MTPC_BINARY) + " convert " + dir + " --out " + out + " --dtype bf16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"dtype\":\"BF16\""), std::string::npos) << r.output;
  auto config = nlohmann::json::parse(mtpc::testing::read_file(out + "/config.json"));
  EXPECT_EQ(config["dtype"], "BF16");
  EXPECT_EQ(config["model"]["rope_scaling"]["type"], "llama3");
  auto loaded = load_model(out);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  // bf16 weights: logits near the fp32 reference, not equal.
  auto ref = reference(dir, 0);
  torch::NoGradGuard no_grad;
  const double diff = max_diff(loaded->model->forward_all(ids(kPrompts[0]))[0], ref["logits"][0]);
  EXPECT_GT(diff, 0);
  EXPECT_LT(diff, 0.5);
  auto bad = run_command(std::string(MTPC_BINARY) + " convert " + (tmp / "nowhere") + " --out " + (tmp / "x"));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("nowhere"), std::string::npos) << bad.output;
}

// A tied model has no unembedding tensor; its logits use the embedding.
TEST(HfNetwork, TiedAndBiasedModelsHaveTheirParameters) {
  ModelConfig c = *model_preset("tiny");
  c.tie_embeddings = true;
  c.attention_bias = true;
  torch::manual_seed(3);
  MtpModel m(c);
  int64_t count = 0;
  bool bias = false, unembedding = false;
  for (auto& [name, p] : named_parameters_sorted(*m)) {
    count += p.numel();
    bias |= name == "layers.0.attention.wq.bias";
    unembedding |= name.rfind("unembedding", 0) == 0;
    EXPECT_NE(name, "layers.0.attention.wo.bias");
  }
  EXPECT_TRUE(bias);
  EXPECT_FALSE(unembedding);
  EXPECT_EQ(count, c.parameter_count());
  EXPECT_TRUE(m->output_weight().is_same(m->embedding->weight));
}

TEST(HfCheckpointConfig, MetaDirectoryIsNamedAsNotBuiltIn) {
  TempDir tmp;
  mtpc::testing::write_file(tmp / "params.json", "{}");
  auto r = load_model(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("params.json"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace mtpc
