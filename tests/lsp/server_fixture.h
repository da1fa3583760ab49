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

// A checkpoint directory with a tiny model that always predicts `byte`
// (every head, whatever the context): its completions are that byte
// repeated up to the token limit, for tests that need a long completion.
const std::string& repeating_model_dir(char byte = 'x');

// Single-quoted for a shell command line.
std::string quoted(const std::string& s);

}  // namespace mtpc::lsp_testing
