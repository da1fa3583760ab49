// Process-wide compute settings: device and thread count. Torch-free header.
#pragma once

#include <string>

#include "base/machine.h"  // hardware_threads
#include "base/status.h"

namespace mtpc {

// Sets LibTorch's intra-op threads (0: all cores; LibTorch's own default of 1
// is ~2x slower on a 2-core machine) and checks that `device` ("cpu" or
// "cuda") is usable. Call once, before any model work.
Status configure_runtime(const std::string& device, int threads);

// The device chosen by configure_runtime ("cpu" until it is called).
const std::string& runtime_device();

}  // namespace mtpc
