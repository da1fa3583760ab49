#include "model/checkpoint/meta_checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "model/checkpoint/pth_reader.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

// Meta's FeedForward width (llama/model.py).
int64_t meta_hidden_dim(int64_t dim, int64_t multiple_of, std::optional<double> ffn_dim_multiplier) {
  int64_t hidden = 2 * (4 * dim) / 3;
  if (ffn_dim_multiplier) hidden = static_cast<int64_t>(*ffn_dim_multiplier * static_cast<double>(hidden));
  return multiple_of * ((hidden + multiple_of - 1) / multiple_of);
}

torch::Dtype torch_dtype(DType d) {
  switch (d) {
    case DType::F32: return torch::kFloat32;
    case DType::BF16: return torch::kBFloat16;
    case DType::F16: return torch::kFloat16;
    case DType::F64: return torch::kFloat64;
    default: return torch::kFloat32;  // refused before use
  }
}

// The checkpoint's tensor as a `dtype` tensor of its own (the one copy).
torch::Tensor to_dtype(const PthTensor& t, torch::Dtype dtype) {
  const size_t elem = dtype_size(t.dtype);
  const void* first = t.data();
  std::vector<uint8_t> aligned;
  if (reinterpret_cast<uintptr_t>(first) % elem != 0) {
    // Archives not written by torch (zipfile, repacked) need not align
    // entries: copy the span the strides reach to an aligned buffer.
    int64_t last = 0;
    for (size_t d = 0; d < t.shape.size(); ++d) last += (t.shape[d] - 1) * t.strides[d];
    aligned.resize(static_cast<size_t>(last + 1) * elem + 16);
    auto* base = reinterpret_cast<uint8_t*>(
        (reinterpret_cast<uintptr_t>(aligned.data()) + 15) / 16 * 16);
    std::memcpy(base, first, static_cast<size_t>(last + 1) * elem);
    first = base;
  }
  auto view = torch::from_blob(const_cast<void*>(first), t.shape, t.strides,
                               torch::TensorOptions().dtype(torch_dtype(t.dtype)));
  return view.to(dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

// Meta's interleaved rotary rows (2i, 2i+1) of each head -> ours (i, i + hd/2).
torch::Tensor interleaved_to_half(const torch::Tensor& w, int64_t heads, int64_t head_dim) {
  return w.view({heads, head_dim / 2, 2, w.size(1)}).transpose(1, 2).reshape({heads * head_dim, w.size(1)});
}

}  // namespace

Result<ModelConfig> read_meta_params(const std::string& dir) {
  const std::string path = (fs::path(dir) / "params.json").string();
  std::ifstream in(path);
  if (!in) return Status::Error(path + ": missing or unreadable");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(path + ": not a JSON object");
  auto error = [&](const std::string& field, const std::string& what) {
    return Status::Error(path + ": field '" + field + "' " + what);
  };
  auto int_field = [&](const char* field, std::optional<int64_t> fallback) -> Result<int64_t> {
    if (!j.contains(field) || j[field].is_null()) {
      if (fallback) return *fallback;
      return error(field, "is missing");
    }
    if (!j[field].is_number_integer()) return error(field, "must be an integer, got " + j[field].dump());
    return j[field].get<int64_t>();
  };
  auto num_field = [&](const char* field, double fallback) -> Result<double> {
    if (!j.contains(field) || j[field].is_null()) return fallback;
    if (!j[field].is_number()) return error(field, "must be a number, got " + j[field].dump());
    return j[field].get<double>();
  };
  auto dim = int_field("dim", std::nullopt);
  auto n_layers = int_field("n_layers", std::nullopt);
  auto n_heads = int_field("n_heads", std::nullopt);
  if (!dim.ok()) return dim.status();
  if (!n_layers.ok()) return n_layers.status();
  if (!n_heads.ok()) return n_heads.status();
  auto n_kv_heads = int_field("n_kv_heads", *n_heads);
  auto vocab = int_field("vocab_size", -1);
  auto multiple_of = int_field("multiple_of", 256);
  auto n_future = int_field("n_future_tokens", 1);
  auto max_seq_len = int_field("max_seq_len", kMetaDefaultMaxSeqLen);
  auto norm_eps = num_field("norm_eps", 1e-5);
  auto rope_theta = num_field("rope_theta", 10000.0);
  for (const Status* s : {&n_kv_heads.status(), &vocab.status(), &multiple_of.status(), &n_future.status(),
                          &max_seq_len.status(), &norm_eps.status(), &rope_theta.status()})
    if (!s->ok()) return *s;
  std::optional<double> ffn_mult;
  if (j.contains("ffn_dim_multiplier") && !j["ffn_dim_multiplier"].is_null()) {
    if (!j["ffn_dim_multiplier"].is_number() || !(j["ffn_dim_multiplier"].get<double>() > 0))
      return error("ffn_dim_multiplier", "must be a positive number or null, got " + j["ffn_dim_multiplier"].dump());
    ffn_mult = j["ffn_dim_multiplier"].get<double>();
  }
  constexpr int64_t kLimit = int64_t{1} << 24;  // keeps every product in range
  for (auto [field, v] : std::vector<std::pair<const char*, int64_t>>{
           {"dim", *dim}, {"n_layers", *n_layers}, {"n_heads", *n_heads}, {"n_kv_heads", *n_kv_heads},
           {"multiple_of", *multiple_of}, {"n_future_tokens", *n_future}, {"max_seq_len", *max_seq_len}})
    if (v < 1 || v > kLimit) return error(field, "must be in [1, 2^24], got " + std::to_string(v));
  if (*vocab > kLimit) return error("vocab_size", "must be at most 2^24, got " + std::to_string(*vocab));
  if (*dim % *n_heads != 0 || (*dim / *n_heads) % 2 != 0)
    return error("dim", "(" + std::to_string(*dim) + ") must be n_heads (" + std::to_string(*n_heads) +
                            ") times an even head size");
  if (*n_heads % *n_kv_heads != 0)
    return error("n_kv_heads", "(" + std::to_string(*n_kv_heads) + ") must divide n_heads (" +
                                   std::to_string(*n_heads) + ")");
  if (*n_future > 32) return error("n_future_tokens", "must be at most 32, got " + std::to_string(*n_future));
  if (*n_future >= *n_layers)
    return error("n_future_tokens", "(" + std::to_string(*n_future) + ") must be smaller than n_layers (" +
                                        std::to_string(*n_layers) + "): the trunk needs a block");
  if (!(*norm_eps > 0 && *norm_eps < 1)) return error("norm_eps", "must be in (0, 1)");
  if (!(*rope_theta > 0)) return error("rope_theta", "must be > 0");

  ModelConfig c;
  c.dim = static_cast<int>(*dim);
  c.n_layers = static_cast<int>(*n_layers - *n_future);
  c.n_heads = static_cast<int>(*n_heads);
  c.n_kv_heads = static_cast<int>(*n_kv_heads);
  c.vocab_size = static_cast<int>(*vocab);  // <= 0: filled in from tok_embeddings
  c.hidden_dim = static_cast<int>(meta_hidden_dim(*dim, *multiple_of, ffn_mult));
  c.n_future = static_cast<int>(*n_future);
  c.head_kind = HeadKind::kTransformer;
  c.max_seq_len = static_cast<int>(*max_seq_len);
  c.rope_theta = *rope_theta;
  c.norm_eps = *norm_eps;
  c.tokenizer = "sentencepiece";
  return c;
}

Result<LoadedModel> load_meta_model(const std::string& dir, torch::Device device, const LoadOptions& options) {
  if (!fs::is_directory(dir)) return Status::Error(dir + ": model directory not found");
  auto config = read_meta_params(dir);
  if (!config.ok()) return config.status();
  std::string pth_path = (fs::path(dir) / "consolidated.pth").string();
  if (!fs::exists(pth_path)) {
    const std::string shard0 = (fs::path(dir) / "consolidated.00.pth").string();
    if (fs::exists((fs::path(dir) / "consolidated.01.pth")))
      return Status::Error(dir + ": model-parallel shards (consolidated.01.pth, ...) are not supported; "
                                 "merge them into one consolidated.pth");
    if (!fs::exists(shard0)) return Status::Error(dir + ": no consolidated.pth");
    pth_path = shard0;
  }
  auto file = PthFile::open(pth_path);
  if (!file.ok()) return file.status();
  const std::string params_path = (fs::path(dir) / "params.json").string();

  if (config->vocab_size <= 0) {
    const PthTensor* emb = file->find("tok_embeddings.weight");
    if (emb == nullptr) return Status::Error(pth_path + ": missing tensor 'tok_embeddings.weight'");
    if (emb->shape.size() != 2 || emb->shape[0] < 1 || emb->shape[0] > (int64_t{1} << 24))
      return Status::Error(pth_path + ": tensor 'tok_embeddings.weight' has shape " + shape_string(emb->shape));
    config->vocab_size = static_cast<int>(emb->shape[0]);
  }
  if (options.max_context > 0) config->max_seq_len = std::min(config->max_seq_len, options.max_context);
  const ModelConfig& c = *config;
  const int64_t hd = c.head_dim();
  const int meta_layers = c.n_layers + c.n_future;  // params.json's n_layers

  try {
    LoadedModel loaded;
    loaded.model = MtpModel(c, ParameterInit::kUninitialized);
    std::map<std::string, torch::Tensor> ours;
    for (auto& [name, p] : named_parameters_sorted(*loaded.model)) ours.emplace(name, p);
    std::vector<std::pair<torch::Tensor, torch::Tensor>> values;  // parameter, its weights

    // Meta name -> our name, for every tensor the checkpoint must hold.
    std::vector<std::pair<std::string, std::string>> names = {
        {"tok_embeddings.weight", "embedding.weight"},
        {"norm.weight", "final_norm.weight"},
        {"output.weight", "unembedding.weight"}};
    auto block = [&](const std::string& meta, const std::string& our) {
      for (const char* t : {"attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
                            "attention.wo.weight", "feed_forward.w1.weight", "feed_forward.w2.weight",
                            "feed_forward.w3.weight", "attention_norm.weight", "ffn_norm.weight"})
        names.emplace_back(meta + "." + t, our + "." + t);
    };
    for (int i = 0; i < c.n_layers; ++i) block("layers." + std::to_string(i), "layers." + std::to_string(i));
    block("layers." + std::to_string(c.n_layers), "heads.0");
    for (int j = 0; j + 1 < c.n_future; ++j) block("extra_heads." + std::to_string(j), "heads." + std::to_string(j + 1));

    std::set<std::string> expected;
    torch::NoGradGuard no_grad;
    for (const auto& [meta, our] : names) {
      expected.insert(meta);
      const PthTensor* t = file->find(meta);
      if (t == nullptr) {
        std::string hint;
        if (meta.rfind("extra_heads.", 0) == 0 || meta.rfind("layers.", 0) == 0)
          hint = " (params.json: n_layers " + std::to_string(meta_layers) + ", n_future_tokens " +
                 std::to_string(c.n_future) + " imply layers.0.." + std::to_string(c.n_layers) +
                 " and extra_heads.0.." + std::to_string(c.n_future - 2) + ")";
        return Status::Error(pth_path + ": missing tensor '" + meta + "'" + hint);
      }
      torch::Tensor& p = ours.at(our);
      if (t->shape != p.sizes().vec())
        return Status::Error(pth_path + ": tensor '" + meta + "' has shape " + shape_string(t->shape) + ", but " +
                             params_path + " (dim " + std::to_string(c.dim) + ", n_heads " + std::to_string(c.n_heads) +
                             ", n_kv_heads " + std::to_string(c.n_kv_heads) + ", FFN width " +
                             std::to_string(c.hidden_dim) + ", vocab_size " + std::to_string(c.vocab_size) +
                             ") implies " + shape_string(p.sizes().vec()));
      if (t->dtype != DType::F32 && t->dtype != DType::BF16 && t->dtype != DType::F16 && t->dtype != DType::F64)
        return Status::Error(pth_path + ": tensor '" + meta + "' has dtype " + dtype_name(t->dtype) +
                             "; expected a floating-point type");
      torch::Tensor w = to_dtype(*t, options.dtype);
      if (meta.size() > 20 && meta.compare(meta.size() - 19, 19, "attention.wq.weight") == 0)
        w = interleaved_to_half(w, c.n_heads, hd);
      else if (meta.size() > 20 && meta.compare(meta.size() - 19, 19, "attention.wk.weight") == 0)
        w = interleaved_to_half(w, c.n_kv_heads, hd);
      values.emplace_back(p, w);
    }
    for (const auto& [name, t] : file->tensors()) {
      if (expected.count(name)) continue;
      if (name == "rope.freqs" && t.shape == std::vector<int64_t>{hd / 2}) continue;
      return Status::Error(pth_path + ": unexpected tensor '" + name + "' (" + params_path + ": n_layers " +
                           std::to_string(meta_layers) + ", n_future_tokens " + std::to_string(c.n_future) + ")");
    }
    // Every check passed: only now do the parameters take the weights.
    for (auto& [p, w] : values) p.set_data(w);
    if (!device.is_cpu()) loaded.model->to(device);
    std::ifstream in(params_path);
    loaded.provenance = {{"format", "meta-multi-token"},
                         {"params", nlohmann::json::parse(in, nullptr, false)},
                         {"tokenizer_model", (fs::path(dir) / "tokenizer.model").string()}};
    return loaded;
  } catch (const std::exception& e) {
    return Status::Error(pth_path + ": cannot load: " + e.what());
  }
}

}  // namespace mtpc
