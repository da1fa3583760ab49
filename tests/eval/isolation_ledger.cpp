#include "isolation_ledger.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace mtpc::testing {

namespace {

struct Ledger {
  std::mutex mu;
  std::map<std::string, std::set<std::string>> ran;  // mode -> tests
  std::vector<std::string> skipped;                  // "what in TEST (why)"
};

Ledger& ledger() {
  static Ledger l;
  return l;
}

std::string current_test() {
  const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
  return t ? std::string(t->test_suite_name()) + "." + t->name() : "(outside a test)";
}

// Prints the ledger after the last test; nothing when no sandbox test ran.
class IsolationSummary : public ::testing::Environment {
 public:
  void TearDown() override {
    Ledger& l = ledger();
    std::lock_guard<std::mutex> lock(l.mu);
    if (l.ran.empty() && l.skipped.empty()) return;
    std::string run;
    for (const auto& [mode, tests] : l.ran)
      run += (run.empty() ? "" : ", ") + mode + " (" + std::to_string(tests.size()) + " test" +
             (tests.size() == 1 ? "" : "s") + ")";
    std::printf("[sandbox] isolation modes run: %s\n", run.empty() ? "none" : run.c_str());
    if (l.skipped.empty()) std::printf("[sandbox] skipped: nothing\n");
    for (const std::string& s : l.skipped) std::printf("[sandbox] skipped: %s\n", s.c_str());
    std::fflush(stdout);
  }
};

[[maybe_unused]] ::testing::Environment* const kSummary =
    ::testing::AddGlobalTestEnvironment(new IsolationSummary);

}  // namespace

void note_isolation_ran(const eval::IsolationReport& report) {
  std::string mode = eval::isolation_name(report.mode);
  if (report.launcher == "fork") mode += " (fork launcher)";
  ::testing::Test::RecordProperty("isolation", report.describe());
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mu);
  l.ran[mode].insert(current_test());
}

void note_isolation_skipped(const std::string& what, const std::string& why) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mu);
  l.skipped.push_back(what + " in " + current_test() + " (" + why + ")");
}

}  // namespace mtpc::testing
