#include "model/checkpoint/hf_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace mtpc {
namespace {

const char* const kSupported = "LlamaForCausalLM, Qwen2ForCausalLM";

Result<json> read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(path + ": missing or unreadable");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(path + ": not a JSON object");
  return j;
}

// Integer field >= minimum; `fallback` when absent (nullopt: required).
Result<int> int_field(const json& j, const std::string& source, const char* key, std::optional<int> fallback,
                      int minimum = 1) {
  if (!j.contains(key) || j[key].is_null()) {
    if (fallback) return *fallback;
    return Status::Error(source + ": missing field '" + key + "'");
  }
  const json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < minimum || v.get<int64_t>() > INT32_MAX)
    return Status::Error(source + ": field '" + key + "' must be an integer >= " + std::to_string(minimum) +
                         ", got " + v.dump());
  return static_cast<int>(v.get<int64_t>());
}

Result<double> number_field(const json& j, const std::string& source, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) return Status::Error(source + ": field '" + key + "' must be a number, got " + j[key].dump());
  return j[key].get<double>();
}

Result<bool> bool_field(const json& j, const std::string& source, const char* key, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) return Status::Error(source + ": field '" + key + "' must be true or false, got " + j[key].dump());
  return j[key].get<bool>();
}

// Our parameter name -> the Hugging Face tensor name, and which config.json
// fields its shape comes from (for messages).
struct HfName {
  std::string name;
  std::string fields;
};

std::optional<HfName> hf_name(const std::string& ours, int n_layers) {
  static const std::vector<std::tuple<std::string, std::string, std::string>> kBlock = {
      {"attention_norm.weight", "input_layernorm.weight", "hidden_size"},
      {"ffn_norm.weight", "post_attention_layernorm.weight", "hidden_size"},
      {"attention.wq.weight", "self_attn.q_proj.weight", "num_attention_heads * head_dim, hidden_size"},
      {"attention.wk.weight", "self_attn.k_proj.weight", "num_key_value_heads * head_dim, hidden_size"},
      {"attention.wv.weight", "self_attn.v_proj.weight", "num_key_value_heads * head_dim, hidden_size"},
      {"attention.wo.weight", "self_attn.o_proj.weight", "hidden_size, num_attention_heads * head_dim"},
      {"attention.wq.bias", "self_attn.q_proj.bias", "num_attention_heads * head_dim"},
      {"attention.wk.bias", "self_attn.k_proj.bias", "num_key_value_heads * head_dim"},
      {"attention.wv.bias", "self_attn.v_proj.bias", "num_key_value_heads * head_dim"},
      {"feed_forward.w1.weight", "mlp.gate_proj.weight", "intermediate_size, hidden_size"},
      {"feed_forward.w3.weight", "mlp.up_proj.weight", "intermediate_size, hidden_size"},
      {"feed_forward.w2.weight", "mlp.down_proj.weight", "hidden_size, intermediate_size"},
  };
  if (ours == "embedding.weight") return HfName{"model.embed_tokens.weight", "vocab_size, hidden_size"};
  if (ours == "final_norm.weight") return HfName{"model.norm.weight", "hidden_size"};
  if (ours == "unembedding.weight") return HfName{"lm_head.weight", "vocab_size, hidden_size"};
  int layer = -1;
  std::string rest;
  for (const char* prefix : {"layers.", "heads."}) {
    if (ours.rfind(prefix, 0) != 0) continue;
    const size_t dot = ours.find('.', std::strlen(prefix));
    if (dot == std::string::npos) return std::nullopt;
    const int index = std::stoi(ours.substr(std::strlen(prefix), dot - std::strlen(prefix)));
    layer = prefix[0] == 'l' ? index : n_layers + index;  // head 0 is the last block
    rest = ours.substr(dot + 1);
  }
  if (layer < 0) return std::nullopt;
  for (const auto& [suffix, hf, fields] : kBlock)
    if (rest == suffix) return HfName{"model.layers." + std::to_string(layer) + "." + hf, fields};
  return std::nullopt;
}

// Tensors a checkpoint may carry that the model does not use.
bool ignorable(const std::string& name, bool tied) {
  const std::string inv = "rotary_emb.inv_freq";
  if (name.size() >= inv.size() && name.compare(name.size() - inv.size(), inv.size(), inv) == 0) return true;
  return tied && name == "lm_head.weight";
}

}  // namespace

Result<ModelConfig> hf_model_config(const json& j, const std::string& source, int max_context) {
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty())
    return Status::Error(source + ": field 'architectures' must be a non-empty array (supported: " + kSupported + ")");
  std::string arch;
  for (const json& a : j["architectures"]) {
    if (!a.is_string()) return Status::Error(source + ": field 'architectures' must hold strings");
    if (arch.empty()) arch = a.get<std::string>();
  }
  const bool qwen2 = arch == "Qwen2ForCausalLM";
  if (arch != "LlamaForCausalLM" && !qwen2)
    return Status::Error(source + ": field 'architectures': " + arch + " is not supported (supported: " +
                         kSupported + ")");
  const std::string want_type = qwen2 ? "qwen2" : "llama";
  if (j.contains("model_type") && j["model_type"] != want_type)
    return Status::Error(source + ": field 'model_type' is " + j["model_type"].dump() + ", but " + arch +
                         " needs \"" + want_type + "\"");
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    return Status::Error(source + ": field 'hidden_act' is " + j["hidden_act"].dump() +
                         "; only \"silu\" (SwiGLU) is supported");
  if (qwen2) {
    auto sliding = bool_field(j, source, "use_sliding_window", false);
    if (!sliding.ok()) return sliding.status();
    if (*sliding) return Status::Error(source + ": field 'use_sliding_window' is true; sliding-window attention is not supported");
  } else {
    for (const char* key : {"attention_bias", "mlp_bias"}) {
      auto b = bool_field(j, source, key, false);
      if (!b.ok()) return b.status();
      if (*b) return Status::Error(source + ": field '" + key + "' is true; LlamaForCausalLM with biases is not supported");
    }
  }

  ModelConfig c;
  c.tokenizer = "files";
  c.n_future = 1;
  c.head_kind = HeadKind::kTransformer;
  c.attention_bias = qwen2;  // Qwen2: q/k/v always biased, o_proj never
  struct IntField { int* out; const char* key; std::optional<int> fallback; };
  int layers = 0, n_kv = 0, positions = 0, head_dim = 0;
  for (const IntField& f : std::vector<IntField>{
           {&c.vocab_size, "vocab_size", std::nullopt}, {&c.dim, "hidden_size", std::nullopt},
           {&layers, "num_hidden_layers", std::nullopt}, {&c.n_heads, "num_attention_heads", std::nullopt},
           {&c.hidden_dim, "intermediate_size", std::nullopt},
           {&positions, "max_position_embeddings", qwen2 ? 32768 : 2048}}) {
    auto v = int_field(j, source, f.key, f.fallback);
    if (!v.ok()) return v.status();
    *f.out = *v;
  }
  auto kv = int_field(j, source, "num_key_value_heads", c.n_heads);
  if (!kv.ok()) return kv.status();
  n_kv = *kv;
  auto hd = int_field(j, source, "head_dim", 0, /*minimum=*/0);
  if (!hd.ok()) return hd.status();
  head_dim = *hd;
  if (layers < 2)
    return Status::Error(source + ": field 'num_hidden_layers' must be >= 2 (a trunk block and the head), got " +
                         std::to_string(layers));
  c.n_layers = layers - 1;
  c.n_kv_heads = n_kv;
  if (head_dim > 0 && (c.dim % c.n_heads != 0 || head_dim != c.dim / c.n_heads)) c.explicit_head_dim = head_dim;
  c.max_seq_len = max_context > 0 ? std::min(positions, max_context) : positions;
  auto theta = number_field(j, source, "rope_theta", 10000.0);
  auto eps = number_field(j, source, "rms_norm_eps", 1e-6);
  auto tied = bool_field(j, source, "tie_word_embeddings", false);
  if (!theta.ok()) return theta.status();
  if (!eps.ok()) return eps.status();
  if (!tied.ok()) return tied.status();
  c.rope_theta = *theta;
  c.norm_eps = *eps;
  c.tie_embeddings = *tied;
  if (j.contains("rope_scaling")) {
    auto rs = rope_scaling_from_json(j["rope_scaling"], source);
    if (!rs.ok()) return rs.status();
    c.rope_scaling = *rs;
  }
  if (Status s = c.validate(); !s.ok()) return s.wrap(source);
  return c;
}

Result<LoadedModel> load_hf_model(const std::string& dir, torch::Device device, const LoadOptions& options) {
  try {
    const std::string config_path = (fs::path(dir) / "config.json").string();
    auto j = read_json(config_path);
    if (!j.ok()) return j.status();
    auto config = hf_model_config(*j, config_path, options.max_context);
    if (!config.ok()) return config.status();
    if (options.dtype != torch::kFloat32 && options.dtype != torch::kBFloat16 && options.dtype != torch::kFloat16)
      return Status::Error(dir + ": load dtype must be fp32, bf16 or fp16");

    // Which file holds each tensor.
    std::map<std::string, std::string> shard_of;  // tensor -> shard path
    std::vector<std::string> shards;
    const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
    std::error_code ec;
    const bool sharded = fs::exists(index_path, ec);
    if (sharded) {
      auto index = read_json(index_path.string());
      if (!index.ok()) return index.status();
      if (!index->contains("weight_map") || !(*index)["weight_map"].is_object())
        return Status::Error(index_path.string() + ": missing field 'weight_map' (tensor name -> shard file)");
      std::set<std::string> seen;
      for (const auto& [tensor, file] : (*index)["weight_map"].items()) {
        if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos)
          return Status::Error(index_path.string() + ": field 'weight_map." + tensor +
                               "' must be a file name in the model directory, got " + file.dump());
        const std::string path = (fs::path(dir) / file.get<std::string>()).string();
        if (seen.insert(path).second) {
          if (!fs::exists(path, ec))
            return Status::Error(index_path.string() + ": field 'weight_map." + tensor + "' names shard '" +
                                 file.get<std::string>() + "', which is missing");
          shards.push_back(path);
        }
        shard_of[tensor] = path;
      }
    } else {
      const std::string single = (fs::path(dir) / "model.safetensors").string();
      if (!fs::exists(single, ec))
        return Status::Error(dir + ": no model.safetensors or model.safetensors.index.json");
      shards.push_back(single);
    }
    std::map<std::string, SafetensorsFile> files;
    for (const std::string& path : shards) {
      auto file = SafetensorsFile::map(path);
      if (!file.ok()) return file.status();
      if (!sharded)
        for (const auto& [name, info] : file->tensors()) shard_of[name] = path;
      files.emplace(path, std::move(*file));
    }

    MtpModel model(*config, ParameterInit::kUninitialized);
    auto params = named_parameters_sorted(*model);
    std::vector<torch::Tensor> values;
    std::set<std::string> used;
    for (auto& [ours, param] : params) {
      auto hf = hf_name(ours, config->n_layers);
      if (!hf) return Status::Error(dir + ": no Hugging Face name for parameter '" + ours + "'");
      auto where = shard_of.find(hf->name);
      if (where == shard_of.end())
        return Status::Error((sharded ? index_path.string() : shards[0]) + ": missing tensor '" +
                             hf->name + "'");
      const SafetensorsFile& file = files.at(where->second);
      const TensorInfo* info = file.find(hf->name);
      if (info == nullptr)
        return Status::Error(where->second + ": missing tensor '" + hf->name + "' (model.safetensors.index.json puts it here)");
      if (info->dtype != DType::F32 && info->dtype != DType::BF16 && info->dtype != DType::F16)
        return Status::Error(where->second + ": tensor '" + hf->name + "' has dtype " + dtype_name(info->dtype) +
                             "; expected F32, BF16 or F16");
      const auto want = param.sizes().vec();
      if (info->shape != want)
        return Status::Error(where->second + ": tensor '" + hf->name + "' has shape " + shape_string(info->shape) +
                             ", but config.json (" + hf->fields + ") implies " + shape_string(want));
      values.push_back(tensor_from_file(file, *info, options.dtype));
      used.insert(hf->name);
    }
    for (const auto& [path, file] : files)
      for (const auto& [name, info] : file.tensors())
        if (!used.count(name) && !ignorable(name, config->tie_embeddings))
          return Status::Error(path + ": unexpected tensor '" + name + "' (not part of a " +
                               (*j)["architectures"][0].get<std::string>() + " with this config.json)");

    // Every check passed: only now do the parameters take the tensors.
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) params[i].second.set_data(values[i]);
    }
    if (!device.is_cpu()) model->to(device);
    LoadedModel loaded;
    loaded.model = model;
    loaded.provenance = {{"source", "huggingface"},
                         {"architecture", (*j)["architectures"][0]},
                         {"directory", dir},
                         {"num_hidden_layers", config->n_layers + 1}};
    return loaded;
  } catch (const std::exception& e) {
    return Status::Error(dir + ": cannot load Hugging Face model: " + e.what());
  }
}

}  // namespace mtpc
