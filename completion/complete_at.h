// `mtpc complete FILE:LINE:COL` as a library call: the file is opened as an
// editor would open it and one completion is asked at the location through
// the Completer, with the engine as its model. Links LibTorch (through
// mtpc_completion_engine); the header is torch-free.
//
// Threads: blocks the calling thread. Never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "completion/completer.h"
#include "inference/engine.h"

namespace mtpc::completion {

struct LocationCompletion {
  std::string text;     // the completion
  // {"completion", "file", "line", "column", "language", "deadline_hit",
  //  "total_ms", "stats" (generation_stats_json plus "stop_reason"; null
  //  when the model did not run, e.g. nothing to complete there)}.
  nlohmann::json json;
  std::string summary;  // one line: time, prefill, tokens per pass, stop reason
};

// Errors: the file cannot be read, the line is past its end, the model does
// not load, or the completion failed.
Result<LocationCompletion> complete_at(const std::string& model_dir, const Location& at, const EngineOptions& engine,
                                       const Settings& settings);

}  // namespace mtpc::completion
