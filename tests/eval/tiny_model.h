// A small random-weights checkpoint for generation tests: real config.json
// and model.safetensors, written through model/ as training would.
#pragma once

#include <string>

namespace mtpc::testing {

struct TinyModelOptions {
  int n_future = 4;
  // Long enough for HumanEval prompts; MBPP's 3-shot prompts are cut.
  int max_seq_len = 1024;
  unsigned seed = 17;
};

// Writes the checkpoint into the existing directory `dir`; false on failure.
bool write_tiny_model(const std::string& dir, const TinyModelOptions& options = {});

}  // namespace mtpc::testing
