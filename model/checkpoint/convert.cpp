#include "model/checkpoint/convert.h"

#include <chrono>
#include <filesystem>

#include "model/checkpoint/checkpoint.h"

namespace fs = std::filesystem;

namespace mtpc {

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                                                 "generation_config.json", "mtpc.json"};
  return names;
}

Result<ConvertSummary> convert_model(const std::string& dir, const std::string& out, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16) return Status::Error("convert writes F32 or BF16 weights");
  const auto start = std::chrono::steady_clock::now();
  try {
    LoadOptions options;
    options.max_context = 0;  // keep the model's own length
    auto loaded = load_model(dir, torch::kCPU, options);
    if (!loaded.ok()) return loaded.status();

    const fs::path target = fs::absolute(out);
    std::error_code ec;
    if (fs::exists(target, ec) && !fs::is_directory(target, ec))
      return Status::Error(out + ": exists and is not a directory");
    const fs::path staging = target.string() + ".converting";
    fs::remove_all(staging, ec);
    if (!fs::create_directories(staging, ec) || ec)
      return Status::Error(staging.string() + ": cannot create: " + ec.message());

    ConvertSummary summary;
    for (const std::string& name : tokenizer_file_names()) {
      const fs::path from = fs::path(dir) / name;
      if (!fs::is_regular_file(from, ec)) continue;
      if (!fs::copy_file(from, staging / name, fs::copy_options::overwrite_existing, ec) || ec) {
        fs::remove_all(staging, ec);
        return Status::Error(from.string() + ": cannot copy into " + staging.string());
      }
      summary.tokenizer_files.push_back(name);
    }
    nlohmann::json provenance = {{"converted_from", fs::absolute(dir).string()},
                                 {"source", loaded->provenance}};
    MtpModelImpl& model = *loaded->model;
    if (Status s = write_model_files(staging.string(), model, provenance, dtype, summary.tokenizer_files);
        !s.ok()) {
      fs::remove_all(staging, ec);
      return s;
    }
    if (Status s = publish_directory(staging.string(), target.string()); !s.ok()) {
      fs::remove_all(staging, ec);
      return s;
    }
    summary.parameters = model.config().parameter_count();
    summary.dtype = dtype_name(dtype);
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
  } catch (const std::exception& e) {
    return Status::Error(dir + ": cannot convert: " + e.what());
  }
}

}  // namespace mtpc
