#include "model/checkpoint/checkpoint.h"

#include "model/checkpoint/meta_checkpoint.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "model/checkpoint/heads_checkpoint.h"
#include "model/checkpoint/hf_checkpoint.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

torch::Dtype torch_dtype(DType d) {
  switch (d) {
    case DType::F32: return torch::kFloat32;
    case DType::BF16: return torch::kBFloat16;
    case DType::F16: return torch::kFloat16;
    case DType::F64: return torch::kFloat64;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
  }
  return torch::kFloat32;
}

}  // namespace

torch::Tensor tensor_from_file(const SafetensorsFile& file, const TensorInfo& info, torch::Dtype dtype) {
  const torch::Dtype stored = torch_dtype(info.dtype);
  const auto options = torch::TensorOptions().dtype(stored);
  if (info.nbytes == 0) return torch::empty(info.shape, torch::TensorOptions().dtype(dtype));
  void* bytes = const_cast<uint8_t*>(file.data(info));
  const bool aligned = reinterpret_cast<uintptr_t>(bytes) % dtype_size(info.dtype) == 0;
  if (file.mapped() && stored == dtype && aligned) {
    // The deleter holds the mapping: it stays mapped while any tensor over it lives.
    std::shared_ptr<const void> mapping = file.mapping();
    return torch::from_blob(bytes, info.shape, [mapping](void*) {}, options);
  }
  if (aligned) return torch::from_blob(bytes, info.shape, options).to(dtype, /*non_blocking=*/false, /*copy=*/true);
  auto t = torch::empty(info.shape, options);
  std::memcpy(t.data_ptr(), bytes, info.nbytes);
  return t.to(dtype);
}

Result<std::map<std::string, torch::Tensor>> read_tensors_checked(
    const std::string& path,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected) {
  auto file = SafetensorsFile::open(path);
  if (!file.ok()) return file.status();
  const auto& infos = file->tensors();
  std::map<std::string, torch::Tensor> out;
  std::set<std::string> wanted;
  for (const auto& [name, shape] : expected) {
    wanted.insert(name);
    auto it = infos.find(name);
    if (it == infos.end()) return Status::Error(path + ": missing tensor '" + name + "'");
    const TensorInfo& info = it->second;
    if (info.dtype != DType::F32 && info.dtype != DType::BF16 && info.dtype != DType::F16)
      return Status::Error(path + ": tensor '" + name + "' has dtype " + dtype_name(info.dtype) +
                           "; expected F32, BF16 or F16");
    if (info.shape != shape)
      return Status::Error(path + ": tensor '" + name + "' has shape " + shape_string(info.shape) +
                           ", but config.json implies " + shape_string(shape));
    auto t = torch::empty(info.shape, torch::TensorOptions().dtype(torch_dtype(info.dtype)));
    if (info.nbytes > 0) std::memcpy(t.data_ptr(), file->data(info), info.nbytes);
    out.emplace(name, t.to(torch::kFloat32));
  }
  for (const auto& [name, info] : infos)
    if (!wanted.count(name)) return Status::Error(path + ": unexpected tensor '" + name + "'");
  return out;
}

Status write_tensors(const std::string& path,
                     const std::vector<std::pair<std::string, torch::Tensor>>& tensors, DType dtype,
                     const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorRef> refs;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(torch::kCPU, torch_dtype(dtype)).contiguous());
    const auto& c = keep.back();
    refs.push_back(TensorRef{name, dtype, c.sizes().vec(), c.data_ptr(),
                             static_cast<size_t>(c.numel()) * c.element_size()});
  }
  return write_safetensors(path, refs, metadata);
}

int trained_window(const nlohmann::json& provenance) {
  const nlohmann::json* p = &provenance;
  for (int depth = 0; depth < 8 && p->is_object(); ++depth) {
    auto train = p->find("train");
    if (train != p->end() && train->is_object()) {
      auto len = train->find("seq_len");
      if (len != train->end() && len->is_number_integer()) {
        const int64_t n = len->get<int64_t>();
        return n > 0 && n <= (int64_t{1} << 30) ? static_cast<int>(n) : 0;
      }
    }
    auto next = p->find("base");
    if (next == p->end()) next = p->find("source");
    if (next == p->end()) return 0;
    p = &*next;
  }
  return 0;
}

Result<LoadedModel> load_model(const std::string& dir, torch::Device device, const LoadOptions& options) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::is_directory(dir)) return Status::Error(dir + ": checkpoint directory not found");
  std::error_code ec;
  if (!fs::exists(config_path, ec) && fs::exists(fs::path(dir) / "params.json", ec))
    return load_meta_model(dir, device, options);
  std::ifstream in(config_path);
  if (!in) return Status::Error(config_path + ": missing or unreadable");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(config_path + ": not a JSON object");
  if (!j.contains("format") && j.contains("architectures")) return load_hf_model(dir, device, options);
  if (j.value("format", "") == kHeadsFormat) return load_heads_model(dir, device, options);
  if (j.value("format", "") != "mtpc-checkpoint")
    return Status::Error(config_path +
                         ": neither an mtpc checkpoint (field 'format' must be \"mtpc-checkpoint\") "
                         "nor a Hugging Face model (field 'architectures')");
  if (!j.contains("format_version") || !j["format_version"].is_number_integer() ||
      j["format_version"].get<int64_t>() != 1)
    return Status::Error(config_path + ": unsupported 'format_version' (this build reads 1)");
  if (!j.contains("model")) return Status::Error(config_path + ": missing field 'model'");
  auto config = model_config_from_json(j["model"], config_path);
  if (!config.ok()) return config.status();
  if (options.max_context > 0) config->max_seq_len = std::min(config->max_seq_len, options.max_context);

  LoadedModel loaded;
  loaded.model = MtpModel(*config, ParameterInit::kUninitialized);
  loaded.provenance = j.value("provenance", nlohmann::json::object());
  auto params = named_parameters_sorted(*loaded.model);
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (auto& [name, p] : params) expected.emplace_back(name, p.sizes().vec());
  auto tensors = read_tensors_checked((fs::path(dir) / "model.safetensors").string(), expected);
  if (!tensors.ok()) return tensors.status();
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : params) p.copy_(tensors->at(name));
  }
  loaded.model->to(device);
  return loaded;
}

Status write_model_files(const std::string& dir, MtpModelImpl& model,
                         const nlohmann::json& provenance, DType dtype,
                         const std::vector<std::string>& tokenizer_files) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    return Status::Error("model weights are written as F32 or BF16");
  nlohmann::json config = {{"format", "mtpc-checkpoint"},
                           {"format_version", 1},
                           {"model", model_config_to_json(model.config())},
                           {"tokenizer", model.config().tokenizer},
                           {"dtype", dtype_name(dtype)},
                           {"provenance", provenance}};
  if (!tokenizer_files.empty()) config["tokenizer_files"] = tokenizer_files;
  if (Status s = write_tensors((fs::path(dir) / "model.safetensors").string(),
                               named_parameters_sorted(model), dtype);
      !s.ok())
    return s;
  // config.json last: a directory with a config has its weights.
  return write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

Status publish_directory(const std::string& staging, const std::string& target) {
  if (Status s = fsync_dir(staging); !s.ok()) return s;
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    if (::rename(staging.c_str(), target.c_str()) != 0)
      return Status::Error(target + ": cannot rename " + staging + " into place: " + std::strerror(errno));
  } else {
    long rc = ::syscall(SYS_renameat2, AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(),
                        RENAME_EXCHANGE);
    if (rc != 0) {
      // Filesystems without RENAME_EXCHANGE: move the old one aside first.
      const std::string old = target + ".old";
      fs::remove_all(old, ec);
      if (::rename(target.c_str(), old.c_str()) != 0 || ::rename(staging.c_str(), target.c_str()) != 0)
        return Status::Error(target + ": cannot replace checkpoint: " + std::strerror(errno));
      fs::remove_all(old, ec);
    } else {
      fs::remove_all(staging, ec);  // now holds the previous checkpoint
    }
  }
  fs::path parent = fs::path(target).parent_path();
  return fsync_dir(parent.empty() ? "." : parent.string());
}

}  // namespace mtpc
