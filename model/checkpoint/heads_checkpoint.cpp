#include "model/checkpoint/heads_checkpoint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "base/atomic_file.h"
#include "model/tokenizer/tokenizer_files.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

std::string hex(const unsigned char* p, unsigned n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

bool is_weight_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".safetensors" || ext == ".pth" || ext == ".bin";
}

Result<nlohmann::json> read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(path + ": missing or unreadable");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(path + ": not a JSON object");
  return j;
}

// The head-index of a parameter name "heads.<j>.<rest>", or -1.
int head_index(const std::string& name) {
  if (name.rfind("heads.", 0) != 0) return -1;
  const size_t dot = name.find('.', 6);
  if (dot == std::string::npos) return -1;
  try {
    return std::stoi(name.substr(6, dot - 6));
  } catch (...) {
    return -1;
  }
}

}  // namespace

Result<std::string> base_checksum(const std::string& base_dir) {
  std::error_code ec;
  if (!fs::is_directory(base_dir, ec)) return Status::Error(base_dir + ": base model directory not found");
  std::vector<fs::path> files;
  const fs::path config = fs::path(base_dir) / "config.json";
  const fs::path params = fs::path(base_dir) / "params.json";  // Meta's release
  if (fs::exists(config, ec)) files.push_back(config);
  else if (fs::exists(params, ec)) files.push_back(params);
  else return Status::Error(base_dir + ": not a model directory (no config.json or params.json)");
  {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(config), nullptr, false);
    if (j.is_object() && j.value("format", "") == kHeadsFormat)
      return Status::Error(base_dir + ": is a heads directory, not a base model");
  }
  std::vector<fs::path> weights;
  for (const auto& entry : fs::directory_iterator(base_dir, ec))
    if (entry.is_regular_file() && is_weight_file(entry.path()) &&
        entry.path().filename().string().rfind("optimizer", 0) != 0)
      weights.push_back(entry.path());
  std::sort(weights.begin(), weights.end());
  if (weights.empty()) return Status::Error(base_dir + ": no weight files (*.safetensors, *.pth, *.bin)");
  files.insert(files.end(), weights.begin(), weights.end());

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  for (const fs::path& f : files) {
    // The name too, so that renaming a shard changes the checksum.
    const std::string name = f.filename().string();
    EVP_DigestUpdate(ctx.get(), name.data(), name.size() + 1);
    std::ifstream in(f, std::ios::binary);
    if (!in) return Status::Error(f.string() + ": unreadable");
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) return Status::Error(f.string() + ": read failed");
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return hex(md, len);
}

Result<ModelConfig> retrofit_config(const ModelConfig& base, int n_future, HeadKind kind) {
  if (n_future < 2)
    return Status::Error("n_future must be at least 2 (head 1 is the base's own), got " + std::to_string(n_future));
  if (kind != base.head_kind)
    return Status::Error(std::string("the base has ") + head_kind_name(base.head_kind) +
                         " heads; this network runs heads of one kind, so the new heads must be " +
                         head_kind_name(base.head_kind) + " too (got " + head_kind_name(kind) + ")");
  ModelConfig c = base;
  c.n_future = n_future;
  if (Status s = c.validate(); !s.ok()) return s;
  return c;
}

std::vector<std::pair<std::string, torch::Tensor>> new_head_parameters(MtpModelImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [name, p] : named_parameters_sorted(model))
    if (head_index(name) >= 1) out.emplace_back(name, p);
  return out;
}

Result<MtpModel> retrofit_model(MtpModelImpl& base, const ModelConfig& config) {
  // Uninitialised: every tensor is set below (a big base's random
  // initialisation would cost seconds for nothing).
  MtpModel model(config, ParameterInit::kUninitialized);
  auto base_params = named_parameters_sorted(base);
  std::map<std::string, torch::Tensor> by_name(base_params.begin(), base_params.end());
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : named_parameters_sorted(*model)) {
    const int head = head_index(name);
    if (head < 1) {
      auto it = by_name.find(name);
      if (it == by_name.end() || it->second.sizes() != p.sizes())
        return Status::Error("base model has no parameter '" + name + "' of shape " +
                             c10::str(p.sizes()));
      // The same tensor, not a copy: the base's weights (memory-mapped or
      // not) serve the retrofitted model as they are.
      p.set_data(it->second);
      continue;
    }
    if (config.head_kind == HeadKind::kTransformer) {
      const std::string from = "heads.0." + name.substr(name.find('.', 6) + 1);
      p.copy_(by_name.at(from));
    } else if (name.find("feed_forward.w2.weight") != std::string::npos) {
      p.zero_();  // identity residual: head(x) = x + 0
    } else if (p.dim() == 1) {
      p.fill_(1.0);  // the head's RMSNorm
    } else {
      p.normal_(0.0, 0.02);  // w1, w3: the trunk's initialisation
    }
  }
  return model;
}

Status write_heads_files(const std::string& dir, MtpModelImpl& model, const std::string& base_dir,
                         const std::string& base_sha256, const nlohmann::json& provenance) {
  std::error_code ec;
  const fs::path abs_base = fs::weakly_canonical(fs::absolute(base_dir), ec);
  const fs::path abs_dir = fs::weakly_canonical(fs::absolute(dir), ec);
  fs::path rel = abs_base.lexically_relative(abs_dir);
  const ModelConfig& c = model.config();
  nlohmann::json config = {{"format", kHeadsFormat},
                           {"format_version", 1},
                           {"base", rel.empty() ? abs_base.string() : rel.string()},
                           {"base_absolute", abs_base.string()},
                           {"base_sha256", base_sha256},
                           {"n_future", c.n_future},
                           {"head_kind", head_kind_name(c.head_kind)},
                           {"dim", c.dim},
                           {"hidden_dim", c.hidden_dim},
                           {"provenance", provenance}};
  if (Status s = write_tensors((fs::path(dir) / "heads.safetensors").string(), new_head_parameters(model),
                               DType::F32);
      !s.ok())
    return s;
  return write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

Result<LoadedModel> load_heads_model(const std::string& dir, torch::Device device, const LoadOptions& options) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  auto j = read_json(config_path);
  if (!j.ok()) return j.status();
  if (j->value("format_version", 0) != 1)
    return Status::Error(config_path + ": unsupported 'format_version' (this build reads 1)");
  for (const char* field : {"base", "base_sha256", "n_future", "head_kind", "dim", "hidden_dim"})
    if (!j->contains(field)) return Status::Error(config_path + ": missing field '" + field + "'");
  if (!(*j)["base"].is_string() || !(*j)["base_sha256"].is_string() || !(*j)["n_future"].is_number_integer() ||
      !(*j)["head_kind"].is_string() || !(*j)["dim"].is_number_integer() || !(*j)["hidden_dim"].is_number_integer())
    return Status::Error(config_path + ": base and base_sha256 must be strings, n_future, dim and hidden_dim integers");
  // The base relative to this directory first (the pair moves together),
  // then where it was when the heads were trained.
  std::error_code ec;
  fs::path base = fs::path((*j)["base"].get<std::string>());
  if (base.is_relative()) base = fs::path(dir) / base;
  if (!fs::is_directory(base, ec) && j->contains("base_absolute") && (*j)["base_absolute"].is_string())
    base = (*j)["base_absolute"].get<std::string>();
  if (!fs::is_directory(base, ec))
    return Status::Error(config_path + ": base model directory '" + (*j)["base"].get<std::string>() +
                         "' not found (relative to " + dir + ")");
  auto sum = base_checksum(base.string());
  if (!sum.ok()) return sum.status().wrap(config_path);
  if (*sum != (*j)["base_sha256"].get<std::string>())
    return Status::Error(config_path + ": the base " + base.string() +
                         " is not the model these heads were trained on (sha256 " + sum->substr(0, 16) +
                         "..., heads expect " + (*j)["base_sha256"].get<std::string>().substr(0, 16) + "...)");
  auto loaded = load_model(base.string(), torch::kCPU, options);
  if (!loaded.ok()) return loaded.status().wrap(config_path + ": base");
  const ModelConfig& bc = loaded->model->config();
  const int dim = (*j)["dim"].get<int>(), hidden = (*j)["hidden_dim"].get<int>();
  if (dim != bc.dim || hidden != bc.hidden_dim)
    return Status::Error(config_path + ": heads of dim " + std::to_string(dim) + ", hidden_dim " +
                         std::to_string(hidden) + " do not fit the base's dim " + std::to_string(bc.dim) +
                         ", hidden_dim " + std::to_string(bc.hidden_dim));
  const std::string kind_name = (*j)["head_kind"].get<std::string>();
  HeadKind kind;
  if (kind_name == "mlp") kind = HeadKind::kMlp;
  else if (kind_name == "transformer") kind = HeadKind::kTransformer;
  else return Status::Error(config_path + ": head_kind must be mlp or transformer, got '" + kind_name + "'");
  const int n_future = (*j)["n_future"].get<int>();
  auto config = retrofit_config(bc, n_future, kind);
  if (!config.ok()) return config.status().wrap(config_path);

  const std::string heads_path = (fs::path(dir) / "heads.safetensors").string();
  auto file = SafetensorsFile::open(heads_path);
  if (!file.ok()) return file.status();
  int held = 0;  // heads the file holds: heads.1 .. heads.{held}
  for (const auto& [name, info] : file->tensors()) held = std::max(held, head_index(name));
  if (held + 1 < n_future)
    return Status::Error(heads_path + ": holds heads 2.." + std::to_string(held + 1) + " but " + config_path +
                         " says n_future " + std::to_string(n_future));

  auto model = retrofit_model(*loaded->model, *config);
  if (!model.ok()) return model.status().wrap(config_path);
  auto params = new_head_parameters(**model);
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (auto& [name, p] : params) expected.emplace_back(name, p.sizes().vec());
  auto tensors = read_tensors_checked(heads_path, expected);
  if (!tensors.ok()) return tensors.status();
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : params) p.copy_(tensors->at(name));
  }
  LoadedModel out;
  out.model = *model;
  out.model->to(device);
  out.provenance = {{"heads", j->value("provenance", nlohmann::json::object())},
                    {"base", loaded->provenance},
                    {"base_dir", base.string()}};
  out.tokenizer = loaded->tokenizer;
  if (!out.tokenizer && bc.tokenizer != "byte") {
    auto tok = load_model_tokenizer(base.string());
    if (!tok.ok()) return tok.status();
    out.tokenizer = *tok;
  }
  return out;
}

}  // namespace mtpc
