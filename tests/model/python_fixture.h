// Runs a fixture script beside the test sources with Debian's python3 and
// its python3-torch (the oracle of the .pth and Meta-layout tests). A missing
// interpreter or torch module is a test failure with the fix in the message,
// never a skip.
#pragma once

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/test_util.h"

namespace mtpc::testing {

inline constexpr const char* kDebianPython = "/usr/bin/python3";

// Runs tests/model/SCRIPT ARGS; returns "" on success, else what went wrong.
inline std::string run_python_fixture(const std::string& script, const std::string& args) {
  if (::access(kDebianPython, X_OK) != 0)
    return std::string(kDebianPython) + " not found: run scripts/setup";
  CommandResult probe = run_command(std::string(kDebianPython) + " -c 'import torch'");
  if (probe.exit_code != 0)
    return "Debian's python3 cannot import torch (run scripts/setup, which installs python3-torch): " +
           probe.output;
  const std::string path = std::string(MTPC_TEST_MODEL_DIR) + "/" + script;
  CommandResult r = run_command(std::string(kDebianPython) + " '" + path + "' " + args);
  if (r.exit_code != 0) return path + " failed (exit " + std::to_string(r.exit_code) + "): " + r.output;
  return "";
}

}  // namespace mtpc::testing
