// The machine a benchmark ran on, as every benchmark prints it. Torch-free.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mtpc {

// Hardware threads of this machine (at least 1).
int hardware_threads();

// The CPU's model name from /proc/cpuinfo ("unknown" where there is none).
std::string cpu_description();

// {"cpu", "cores", "threads", "device", "kernel"}: `threads` 0 means every
// core and is reported as the number of cores.
nlohmann::json machine_description(const std::string& device, int threads);

// This process's resident memory from /proc/self/status, in MiB: VmRSS now
// and VmHWM (the peak); -1 where unknown. Benchmarks report what a model
// costs to hold.
struct ProcessMemory {
  double rss_mib = -1, peak_rss_mib = -1;
};
ProcessMemory process_memory();

// The running executable's path (/proc/self/exe); empty where unknown.
// Benchmarks start `mtpc` children with it.
std::string executable_path();

}  // namespace mtpc
