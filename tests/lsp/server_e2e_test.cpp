// Real editor clients against the real server: headless Neovim 0.7.2 over
// stdio (tests/e2e/nvim) and a Node client on vscode-jsonrpc over TCP
// (tests/e2e/node, its packages installed by `npm ci` at configure time).
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "common/test_util.h"
#include "lsp/server_fixture.h"
#include "lsp/server_process.h"

namespace mtpc::lsp_testing {
namespace {

using mtpc::testing::CommandResult;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;

TEST(Neovim, InlineCompletionThroughStartClient) {
  ASSERT_EQ(run_command("command -v nvim").exit_code, 0) << "nvim is not installed: run scripts/setup";
  TempDir dir;
  write_file(dir / "example.py", "import os\n\ndef add(a, b):\n    return a");
  CommandResult r = run_command("cd " + quoted(dir.path()) + " && MTPC=" + quoted(kBinary) +
                                " MTPC_MODEL=" + quoted(random_model_dir()) + " MTPC_FILE=" +
                                quoted(dir / "example.py") + " timeout 120 nvim --headless -u NONE -i NONE -n" +
                                " -c " + quoted("luafile " + std::string(MTPC_E2E_DIR) + "/nvim/inline_completion.lua"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("INSERT_TEXT \""), std::string::npos) << r.output;
}

TEST(NodeClient, InlineCompletionOverTcp) {
  const std::string modules = std::string(MTPC_E2E_NODE_DIR) + "/node_modules/vscode-jsonrpc";
  // Configure found npm and ran `npm ci`; its failure is this test's failure.
  if (!MTPC_E2E_NODE_REQUIRED) GTEST_SKIP() << "npm was not found at configure time";
  ASSERT_TRUE(std::filesystem::exists(modules)) << "npm ci failed at configure time (see its warning): " << modules;
  TempDir dir;
  const std::string log = dir / "serve.log";
  auto server = lsp::ServerProcess::spawn(
      {kBinary, "serve", "--model", random_model_dir(), "--listen", "127.0.0.1:0", "--log", log});
  ASSERT_TRUE(server.ok());
  int port = -1;
  for (int i = 0; i < 600 && port < 0; ++i) {
    std::string text = mtpc::testing::read_file(log);
    size_t at = text.find("listening on 127.0.0.1:");
    if (at != std::string::npos) port = std::stoi(text.substr(at + 23));
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(port, 0) << mtpc::testing::read_file(log);
  // NODE_PATH: the packages live in the build dir, the client in the source tree.
  CommandResult r = run_command("NODE_PATH=" + quoted(std::string(MTPC_E2E_NODE_DIR) + "/node_modules") +
                                " timeout 120 node " + quoted(std::string(MTPC_E2E_DIR) + "/node/client.js") +
                                " 127.0.0.1 " +
                                std::to_string(port));
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nserver log:\n" << mtpc::testing::read_file(log);
  EXPECT_NE(r.output.find("\"insertText\""), std::string::npos) << r.output;
  (*server)->terminate();
  EXPECT_EQ((*server)->wait(std::chrono::seconds(30)), 0);
}

}  // namespace
}  // namespace mtpc::lsp_testing
