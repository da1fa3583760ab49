#include "model/runtime.h"

#include <malloc.h>
#include <torch/torch.h>


namespace mtpc {
namespace {
// Largest allocation kept in the heap rather than mmapped per request.
constexpr int kMallocKeepBytes = 1 << 30;

std::string& device_storage() {
  static std::string device = "cpu";
  return device;
}
}  // namespace

Status configure_runtime(const std::string& device, int threads) {
  if (threads < 0) return Status::Error("--threads must be >= 0, got " + std::to_string(threads));
  if (device != "cpu" && device != "cuda")
    return Status::Error("--device must be cpu or cuda, got '" + device + "'");
  if (device == "cuda" && !torch::cuda::is_available())
    return Status::Error("--device cuda: this LibTorch build has no usable CUDA device");
  // Training and decoding free and reallocate the same large activation
  // buffers every step. glibc's defaults hand blocks over 128 KiB back to the
  // kernel each time, and the page faults that follow cost 3x the step time
  // on this machine (measured with bench train-step); keep them in the heap.
  if (mallopt(M_MMAP_THRESHOLD, kMallocKeepBytes) != 1 || mallopt(M_TRIM_THRESHOLD, kMallocKeepBytes) != 1)
    return Status::Error("cannot tune the allocator (mallopt failed)");
  torch::set_num_threads(threads == 0 ? hardware_threads() : threads);
  device_storage() = device;
  return Status::Ok();
}

const std::string& runtime_device() { return device_storage(); }

}  // namespace mtpc
