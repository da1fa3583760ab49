// libFuzzer target over the restricted .pth reader: the ZIP directory, the
// pickle machine and the join of tensors to storages (PthFile::open on a
// file of the input's bytes). Any crash, overread (ASan) or hang is a bug;
// every input must end as an error value or a checkpoint whose tensors lie
// inside their storages, which the target checks by touching each element.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "model/checkpoint/pth_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/mtpc-pth-fuzz-" + std::to_string(::getpid()) + ".pth";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto file = mtpc::PthFile::open(path);
  if (file.ok()) {
    volatile unsigned sum = 0;
    for (const auto& [name, t] : file->tensors())
      for (int64_t k = 0; k < t.numel() && k < 4096; ++k) {
        int64_t offset = 0, rest = k;
        for (size_t d = t.shape.size(); d-- > 0;) {
          offset += (rest % t.shape[d]) * t.strides[d];
          rest /= t.shape[d];
        }
        sum += t.data()[offset * static_cast<int64_t>(mtpc::dtype_size(t.dtype))];
      }
  }
  // The pickle machine alone, on the raw input as a pickle.
  (void)mtpc::unpickle_state_dict(data, size, "fuzz.pkl");
  return 0;
}
