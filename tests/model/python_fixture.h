// Runs a fixture script beside the test sources with Debian's python3 and
// its python3-torch (the oracle of the .pth and Meta-layout tests). A missing
// interpreter or torch module is a test failure with the fix in the message,
// never a skip.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "common/test_util.h"

namespace mtpc::testing {

inline constexpr const char* kDebianPython = "/usr/bin/python3";

// "" when Debian's python3 imports torch, else the failure and its fix.
inline std::string python_torch_problem() {
  if (::access(kDebianPython, X_OK) != 0)
    return std::string(kDebianPython) + " not found: run scripts/setup";
  CommandResult probe = run_command(std::string(kDebianPython) + " -c 'import torch'");
  if (probe.exit_code != 0)
    return "Debian's python3 cannot import torch (run scripts/setup, which installs python3-torch): " +
           probe.output;
  return "";
}

// Runs tests/model/SCRIPT ARGS; returns "" on success, else what went wrong.
inline std::string run_python_fixture(const std::string& script, const std::string& args) {
  if (std::string problem = python_torch_problem(); !problem.empty()) return problem;
  const std::string path = std::string(MTPC_TEST_MODEL_DIR) + "/" + script;
  CommandResult r = run_command(std::string(kDebianPython) + " '" + path + "' " + args);
  if (r.exit_code != 0) return path + " failed (exit " + std::to_string(r.exit_code) + "): " + r.output;
  return "";
}

// The outputs of tests/model/SCRIPT OUT_DIR, generated once per script text
// under the build tree's MTPC_TEST_FIXTURE_CACHE and shared by every test
// process (ctest runs each test alone: one Python start per test adds up).
// Readers must not write into the directory. Generated in a private folder
// (the script gets `TMP FINAL`: it writes into TMP, which becomes FINAL) and
// renamed into place, so a concurrent test sees it whole or not at all.
// Sets *error and returns "" on failure.
inline std::string cached_python_fixture(const std::string& script, std::string* error) {
  namespace fs = std::filesystem;
  // Checked even when cached: a machine without the oracle fails these tests.
  *error = python_torch_problem();
  if (!error->empty()) return "";
  const std::string text = read_file(std::string(MTPC_TEST_MODEL_DIR) + "/" + script);
  char key[32];
  std::snprintf(key, sizeof key, "%016zx", std::hash<std::string>{}(text));
  const fs::path cache(MTPC_TEST_FIXTURE_CACHE);
  const fs::path done = cache / (script + "-" + key);
  std::error_code ec;
  if (fs::exists(done / ".complete", ec)) return done.string();
  fs::create_directories(cache, ec);
  std::string tmpl = (cache / (script + "-tmp-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    *error = "cannot create a folder in " + cache.string();
    return "";
  }
  *error = run_python_fixture(script, "'" + tmpl + "' '" + done.string() + "'");
  if (!error->empty()) {
    fs::remove_all(tmpl, ec);
    return "";
  }
  write_file(tmpl + "/.complete", "");
  if (std::rename(tmpl.c_str(), done.c_str()) != 0) fs::remove_all(tmpl, ec);  // another test won
  if (!fs::exists(done / ".complete", ec)) {
    *error = "fixture folder " + done.string() + " did not appear";
    return "";
  }
  return done.string();
}

}  // namespace mtpc::testing
