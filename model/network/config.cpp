#include "model/network/config.h"

#include <nlohmann/json.hpp>

#include <map>
#include <set>

namespace mtpc {

const char* head_kind_name(HeadKind kind) {
  return kind == HeadKind::kTransformer ? "transformer" : "mlp";
}

const char* rope_scaling_name(RopeScalingKind kind) {
  switch (kind) {
    case RopeScalingKind::kNone: return "none";
    case RopeScalingKind::kLinear: return "linear";
    case RopeScalingKind::kLlama3: return "llama3";
  }
  return "none";
}

int64_t ModelConfig::parameter_count() const {
  const int64_t d = dim, kv = static_cast<int64_t>(n_kv_heads) * head_dim();
  const int64_t q = static_cast<int64_t>(n_heads) * head_dim();
  const int64_t attn = d * q * 2 + d * kv * 2 + (attention_bias ? q + 2 * kv : 0);
  const int64_t mlp = 3 * d * hidden_dim;
  const int64_t block = attn + mlp + 2 * d;
  const int64_t mlp_head = mlp + d;
  const int64_t heads = head_kind == HeadKind::kTransformer ? n_future * block : n_future * mlp_head;
  return vocab_size * d /*embed*/ + n_layers * block + heads + d /*final norm*/ +
         (tie_embeddings ? 0 : vocab_size * d) /*unembed*/;
}

Status ModelConfig::validate() const {
  auto positive = [](const char* field, int64_t v) {
    return v >= 1 ? Status::Ok()
                  : Status::Error(std::string(field) + " must be >= 1, got " + std::to_string(v));
  };
  for (auto [field, v] : std::vector<std::pair<const char*, int64_t>>{
           {"vocab_size", vocab_size}, {"dim", dim}, {"n_layers", n_layers},
           {"n_heads", n_heads}, {"n_kv_heads", n_kv_heads}, {"hidden_dim", hidden_dim},
           {"n_future", n_future}, {"max_seq_len", max_seq_len}}) {
    if (Status s = positive(field, v); !s.ok()) return s;
  }
  if (explicit_head_dim < 0)
    return Status::Error("head_dim must be >= 0 (0: dim / n_heads), got " + std::to_string(explicit_head_dim));
  if (explicit_head_dim == 0 && dim % n_heads != 0)
    return Status::Error("dim (" + std::to_string(dim) + ") must be divisible by n_heads (" +
                         std::to_string(n_heads) + ")");
  if (head_dim() % 2 != 0)
    return Status::Error("head_dim must be even for rotary positions, got " + std::to_string(head_dim()));
  if (n_heads % n_kv_heads != 0)
    return Status::Error("n_heads (" + std::to_string(n_heads) +
                         ") must be divisible by n_kv_heads (" + std::to_string(n_kv_heads) + ")");
  if (n_future > 32) return Status::Error("n_future must be <= 32, got " + std::to_string(n_future));
  if (!(rope_theta > 0)) return Status::Error("rope_theta must be > 0");
  if (!(norm_eps > 0 && norm_eps < 1)) return Status::Error("norm_eps must be in (0, 1)");
  if (tokenizer != "byte" && tokenizer != "files")
    return Status::Error("tokenizer must be 'byte' or 'files', got '" + tokenizer + "'");
  if (tokenizer == "byte" && vocab_size < 262)
    return Status::Error("vocab_size must be >= 262 for the byte tokenizer");
  const RopeScaling& rs = rope_scaling;
  if (rs.kind != RopeScalingKind::kNone && !(rs.factor >= 1))
    return Status::Error("rope_scaling factor must be >= 1, got " + std::to_string(rs.factor));
  if (rs.kind == RopeScalingKind::kLlama3) {
    if (!(rs.low_freq_factor > 0 && rs.high_freq_factor > rs.low_freq_factor))
      return Status::Error("rope_scaling needs 0 < low_freq_factor < high_freq_factor, got " +
                           std::to_string(rs.low_freq_factor) + " and " + std::to_string(rs.high_freq_factor));
    if (rs.original_max_position_embeddings < 1)
      return Status::Error("rope_scaling original_max_position_embeddings must be >= 1");
  }
  return Status::Ok();
}

const char* fim_layout_name(FimLayout layout) { return layout == FimLayout::kSpm ? "spm" : "psm"; }

std::vector<std::string> model_preset_names() { return {"tiny", "small", "base"}; }

Result<ModelConfig> model_preset(const std::string& name) {
  ModelConfig c;
  c.fim = FimLayout::kSpm;
  if (name == "tiny") {
    c.dim = 128; c.n_layers = 2; c.n_heads = 4; c.n_kv_heads = 2; c.hidden_dim = 384;
    c.n_future = 4; c.max_seq_len = 256;
  } else if (name == "small") {
    c.dim = 256; c.n_layers = 4; c.n_heads = 8; c.n_kv_heads = 4; c.hidden_dim = 704;
    c.n_future = 4; c.max_seq_len = 512;
  } else if (name == "base") {
    c.dim = 384; c.n_layers = 8; c.n_heads = 6; c.n_kv_heads = 2; c.hidden_dim = 1024;
    c.n_future = 4; c.max_seq_len = 1024;
  } else {
    return Status::Error("unknown preset '" + name + "' (known: tiny, small, base)");
  }
  return c;
}

nlohmann::json model_config_to_json(const ModelConfig& c) {
  nlohmann::json j = {{"vocab_size", c.vocab_size}, {"dim", c.dim},           {"n_layers", c.n_layers},
          {"n_heads", c.n_heads},       {"n_kv_heads", c.n_kv_heads}, {"hidden_dim", c.hidden_dim},
          {"n_future", c.n_future},     {"head_kind", head_kind_name(c.head_kind)},
          {"max_seq_len", c.max_seq_len}, {"rope_theta", c.rope_theta},
          {"norm_eps", c.norm_eps},     {"tokenizer", c.tokenizer}};
  // Written only when set, so the config of an mtpc model stays as it was.
  if (c.explicit_head_dim > 0) j["head_dim"] = c.explicit_head_dim;
  if (c.attention_bias) j["attention_bias"] = true;
  if (c.tie_embeddings) j["tie_embeddings"] = true;
  if (c.fim != FimLayout::kPsm) j["fim"] = fim_layout_name(c.fim);
  const RopeScaling& rs = c.rope_scaling;
  if (rs.kind == RopeScalingKind::kLinear) {
    j["rope_scaling"] = {{"type", "linear"}, {"factor", rs.factor}};
  } else if (rs.kind == RopeScalingKind::kLlama3) {
    j["rope_scaling"] = {{"type", "llama3"},
                         {"factor", rs.factor},
                         {"low_freq_factor", rs.low_freq_factor},
                         {"high_freq_factor", rs.high_freq_factor},
                         {"original_max_position_embeddings", rs.original_max_position_embeddings}};
  }
  return j;
}

Result<RopeScaling> rope_scaling_from_json(const nlohmann::json& v, const std::string& source) {
  RopeScaling rs;
  if (v.is_null()) return rs;
  if (!v.is_object()) return Status::Error(source + ": field 'rope_scaling' must be an object or null");
  // Hugging Face wrote "type" before 4.45 and "rope_type" since.
  std::string type = "default";
  for (const char* key : {"rope_type", "type"})
    if (v.contains(key)) {
      if (!v[key].is_string()) return Status::Error(source + ": field 'rope_scaling." + key + "' must be a string");
      type = v[key].get<std::string>();
      break;
    }
  auto number = [&](const char* key, double* out) -> Status {
    if (!v.contains(key)) return Status::Error(source + ": field 'rope_scaling." + key + "' is missing (rope type " + type + ")");
    if (!v[key].is_number()) return Status::Error(source + ": field 'rope_scaling." + key + "' must be a number");
    *out = v[key].get<double>();
    return Status::Ok();
  };
  if (type == "default" || type == "none") return rs;
  if (type == "linear") {
    rs.kind = RopeScalingKind::kLinear;
    if (Status s = number("factor", &rs.factor); !s.ok()) return s;
    return rs;
  }
  if (type == "llama3") {
    rs.kind = RopeScalingKind::kLlama3;
    double original = 0;
    for (auto [key, out] : std::vector<std::pair<const char*, double*>>{
             {"factor", &rs.factor}, {"low_freq_factor", &rs.low_freq_factor},
             {"high_freq_factor", &rs.high_freq_factor}, {"original_max_position_embeddings", &original}})
      if (Status s = number(key, out); !s.ok()) return s;
    rs.original_max_position_embeddings = static_cast<int>(original);
    return rs;
  }
  return Status::Error(source + ": field 'rope_scaling' has rope type '" + type +
                       "', which this build does not implement (supported: default, linear, llama3)");
}

Result<ModelConfig> model_config_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) return Status::Error(source + ": model config must be a JSON object");
  ModelConfig c;
  std::map<std::string, int*> ints = {
      {"vocab_size", &c.vocab_size}, {"dim", &c.dim},           {"n_layers", &c.n_layers},
      {"n_heads", &c.n_heads},       {"n_kv_heads", &c.n_kv_heads}, {"hidden_dim", &c.hidden_dim},
      {"n_future", &c.n_future},     {"max_seq_len", &c.max_seq_len}};
  std::map<std::string, double*> doubles = {{"rope_theta", &c.rope_theta}, {"norm_eps", &c.norm_eps}};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    if (auto p = ints.find(key); p != ints.end()) {
      if (!v.is_number_integer())
        return Status::Error(source + ": field '" + key + "' must be an integer");
      int64_t x = v.get<int64_t>();
      if (x < INT32_MIN || x > INT32_MAX)
        return Status::Error(source + ": field '" + key + "' is out of range");
      *p->second = static_cast<int>(x);
    } else if (auto q = doubles.find(key); q != doubles.end()) {
      if (!v.is_number()) return Status::Error(source + ": field '" + key + "' must be a number");
      *q->second = v.get<double>();
    } else if (key == "head_kind") {
      std::string k = v.is_string() ? v.get<std::string>() : "";
      if (k == "transformer") c.head_kind = HeadKind::kTransformer;
      else if (k == "mlp") c.head_kind = HeadKind::kMlp;
      else return Status::Error(source + ": field 'head_kind' must be \"transformer\" or \"mlp\", got " + v.dump());
    } else if (key == "head_dim") {
      if (!v.is_number_integer()) return Status::Error(source + ": field 'head_dim' must be an integer");
      c.explicit_head_dim = static_cast<int>(v.get<int64_t>());
    } else if (key == "attention_bias" || key == "tie_embeddings") {
      if (!v.is_boolean()) return Status::Error(source + ": field '" + key + "' must be true or false");
      (key == "attention_bias" ? c.attention_bias : c.tie_embeddings) = v.get<bool>();
    } else if (key == "rope_scaling") {
      auto rs = rope_scaling_from_json(v, source);
      if (!rs.ok()) return rs.status();
      c.rope_scaling = *rs;
    } else if (key == "fim") {
      std::string f = v.is_string() ? v.get<std::string>() : "";
      if (f == "psm") c.fim = FimLayout::kPsm;
      else if (f == "spm") c.fim = FimLayout::kSpm;
      else return Status::Error(source + ": field 'fim' must be \"psm\" or \"spm\", got " + v.dump());
    } else if (key == "tokenizer") {
      if (!v.is_string()) return Status::Error(source + ": field 'tokenizer' must be a string");
      c.tokenizer = v.get<std::string>();
    } else {
      return Status::Error(source + ": unknown model field '" + key + "'");
    }
  }
  if (Status s = c.validate(); !s.ok()) return s.wrap(source);
  return c;
}

}  // namespace mtpc
