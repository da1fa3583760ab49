// Progress of long eval runs on stderr: one line rewritten in place on a
// terminal; on a pipe or file, a line per tenth of the run, or after a minute
// without one, so logs stay short but a slow run still shows it is alive.
// Used by every benchmark of `mtpc eval` (run.cpp, nextline_run.cpp).
#pragma once

#include <functional>
#include <string>

#include "eval/generation.h"
#include "eval/scoring.h"

namespace mtpc::eval {

// "12s", "3m05s".
std::string duration(double seconds);

std::function<void(const ScoreProgress&)> scoring_progress(const std::string& label);
std::function<void(const GenerationProgress&)> generation_progress(const std::string& label);

}  // namespace mtpc::eval
