// Shared by the server tests: a small random-weights model written once per
// test binary (random weights are enough for protocol tests: completions are
// gibberish but well-formed), and the path of the real binary.
#pragma once

#include <string>

namespace mtpc::lsp_testing {

inline const std::string kBinary = MTPC_BINARY;

// A checkpoint directory with a tiny random model, made on first use and
// removed when the test binary exits.
const std::string& random_model_dir();

// Single-quoted for a shell command line.
std::string quoted(const std::string& s);

}  // namespace mtpc::lsp_testing
