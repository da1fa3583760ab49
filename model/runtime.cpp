#include "model/runtime.h"

#include <torch/torch.h>

#include <thread>

namespace mtpc {
namespace {
std::string& device_storage() {
  static std::string device = "cpu";
  return device;
}
}  // namespace

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

Status configure_runtime(const std::string& device, int threads) {
  if (threads < 0) return Status::Error("--threads must be >= 0, got " + std::to_string(threads));
  if (device != "cpu" && device != "cuda")
    return Status::Error("--device must be cpu or cuda, got '" + device + "'");
  if (device == "cuda" && !torch::cuda::is_available())
    return Status::Error("--device cuda: this LibTorch build has no usable CUDA device");
  torch::set_num_threads(threads == 0 ? hardware_threads() : threads);
  device_storage() = device;
  return Status::Ok();
}

const std::string& runtime_device() { return device_storage(); }

}  // namespace mtpc
