// The configure-time grammar fetch (completion/grammars.cmake): checksum pinning,
// the cache outside the build dir, and clear errors when npm is missing or
// fails. Runs mtpc_fetch_grammar in `cmake -P` with a stand-in npm, so no
// network is needed.
#include <gtest/gtest.h>

#include "common/test_util.h"

namespace {

using mtpc::testing::CommandResult;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;

class ContextGrammarFetch : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    // A package tarball as npm pack makes it: package/src/parser.c inside.
    std::string pkg = dir_ / "pkg";
    ASSERT_EQ(run_command("mkdir -p " + pkg + "/package/src && echo 'int x;' > " + pkg +
                          "/package/src/parser.c && tar czf " + (dir_ / "good.tgz") + " -C " + pkg +
                          " package")
                  .exit_code,
              0);
    mtpc::testing::write_file(dir_ / "junk.tgz", "not a tarball");
    CommandResult sha = run_command(std::string(MTPC_CMAKE_COMMAND) + " -E sha256sum " + (dir_ / "good.tgz"));
    ASSERT_EQ(sha.exit_code, 0) << sha.output;
    good_sha_ = sha.output.substr(0, 64);
    // npm pack NAME@VERSION: copies $FAKE_TGZ to NAME-VERSION.tgz, or fails
    // when FAKE_TGZ is unset; logs every call.
    mtpc::testing::write_file(dir_ / "npm",
                              "#!/bin/sh\n"
                              "echo \"$@\" >> " + (dir_ / "npm.log") + "\n"
                              "[ -n \"$FAKE_TGZ\" ] || { echo 'npm ERR! network' >&2; exit 1; }\n"
                              "spec=\"$2\"\n"
                              "cp \"$FAKE_TGZ\" \"${spec%@*}-${spec##*@}.tgz\"\n");
    ASSERT_EQ(run_command("chmod +x " + (dir_ / "npm")).exit_code, 0);
  }

  // Runs the fetch of tree-sitter-python@0.23.6 pinned to `sha`.
  CommandResult fetch(const std::string& sha, const std::string& npm, const std::string& fake_tgz) {
    std::string script = dir_ / "fetch.cmake";
    mtpc::testing::write_file(script,
                              "cmake_minimum_required(VERSION 3.18)\n"
                              "set(MTPC_GRAMMAR_CACHE \"" + (dir_ / "cache") + "\")\n"
                              "set(MTPC_GRAMMAR_BUILD_DIR \"" + (dir_ / "build") + "\")\n"
                              "set(MTPC_NPM \"" + npm + "\")\n"
                              "include(\"" MTPC_CONTEXT_CMAKE "\")\n"
                              "mtpc_fetch_grammar(tree-sitter-python 0.23.6 " + sha + " root)\n"
                              "message(STATUS \"unpacked: ${root}\")\n");
    std::string env = fake_tgz.empty() ? "env -u FAKE_TGZ " : "env FAKE_TGZ=" + fake_tgz + " ";
    CommandResult r = run_command("cd " + dir_.path() + " && " + env + MTPC_CMAKE_COMMAND + " -P " + script);
    // CMake wraps long messages: one space per run of whitespace.
    std::string flat;
    for (char c : r.output) {
      bool space = c == ' ' || c == '\n' || c == '\t';
      if (!space) flat += c;
      else if (!flat.empty() && flat.back() != ' ') flat += ' ';
    }
    r.output = flat;
    return r;
  }

  std::string read_log() {
    return std::filesystem::exists(dir_ / "npm.log") ? mtpc::testing::read_file(dir_ / "npm.log") : "";
  }

  TempDir dir_;
  std::string good_sha_;
};

TEST_F(ContextGrammarFetch, FetchesVerifiesCachesAndUnpacks) {
  CommandResult r = fetch(good_sha_, dir_ / "npm", dir_ / "good.tgz");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("unpacked: " + (dir_ / "build") + "/tree-sitter-python/package"), std::string::npos)
      << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "build/tree-sitter-python/package/src/parser.c"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "cache/tree-sitter-python-0.23.6.tgz"));
  EXPECT_EQ(read_log(), "pack tree-sitter-python@0.23.6 --silent\n");

  // A new build dir: the verified cache serves it, npm is not called.
  std::filesystem::remove_all(dir_ / "build");
  r = fetch(good_sha_, dir_ / "npm", "");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "build/tree-sitter-python/package/src/parser.c"));
  EXPECT_EQ(read_log(), "pack tree-sitter-python@0.23.6 --silent\n");
}

TEST_F(ContextGrammarFetch, ChecksumMismatchIsAConfigureErrorNamingThePackage) {
  CommandResult r = fetch(good_sha_, dir_ / "npm", dir_ / "junk.tgz");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("checksum mismatch for the tree-sitter grammar tree-sitter-python@0.23.6"),
            std::string::npos)
      << r.output;
  // Nothing unverified is left in the cache.
  EXPECT_FALSE(std::filesystem::exists(dir_ / "cache/tree-sitter-python-0.23.6.tgz"));
}

TEST_F(ContextGrammarFetch, CorruptedCacheIsFetchedAgain) {
  std::filesystem::create_directories(dir_ / "cache");
  std::filesystem::copy_file(dir_ / "junk.tgz", dir_ / "cache/tree-sitter-python-0.23.6.tgz");
  CommandResult r = fetch(good_sha_, dir_ / "npm", dir_ / "good.tgz");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("fails its checksum"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "build/tree-sitter-python/package/src/parser.c"));
}

TEST_F(ContextGrammarFetch, MissingNpmIsAClearError) {
  CommandResult r = fetch(good_sha_, "MTPC_NPM-NOTFOUND", "");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("npm is needed to fetch the tree-sitter grammar tree-sitter-python@0.23.6"),
            std::string::npos)
      << r.output;
}

TEST_F(ContextGrammarFetch, FailedFetchIsAClearError) {
  CommandResult r = fetch(good_sha_, dir_ / "npm", "");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("fetching the tree-sitter grammar tree-sitter-python@0.23.6 failed"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("npm ERR! network"), std::string::npos) << r.output;
}

}  // namespace
