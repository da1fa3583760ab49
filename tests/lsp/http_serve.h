// `mtpc serve --http 127.0.0.1:0` as a child process for the HTTP tests,
// reached with curl (HTTP, or HTTPS against a CA file).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/test_util.h"
#include "lsp/server_fixture.h"
#include "lsp/server_process.h"

namespace mtpc::lsp_testing {

using mtpc::testing::CommandResult;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;

// The port logged after `marker` ("HTTP API on 127.0.0.1:"), waiting up to a minute.
inline int wait_for_port(const std::string& log, const std::string& marker) {
  for (int i = 0; i < 600; ++i) {
    const std::string text = mtpc::testing::read_file(log);
    const size_t at = text.find(marker);
    if (at != std::string::npos && text.find('\n', at) != std::string::npos)
      return std::stoi(text.substr(at + marker.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

class HttpServe {
 public:
  // `ca`: a CA certificate file; set, the server is reached over HTTPS (the
  // caller gives --tls-cert/--tls-key in `extra`) and curl checks against it.
  explicit HttpServe(std::vector<std::string> extra = {}, std::string ca = "") : ca_(std::move(ca)) {
    std::vector<std::string> argv = {kBinary, "serve", "--model", random_model_dir(), "--http", "127.0.0.1:0",
                                     "--log", log()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = lsp::ServerProcess::spawn(argv);
    EXPECT_TRUE(p.ok());
    if (p.ok()) process_ = std::move(*p);
    port_ = wait_for_port(log(), "HTTP API on 127.0.0.1:");
    EXPECT_GT(port_, 0) << mtpc::testing::read_file(log());
    // /health turns 200 once the model is loaded (it is loaded before the
    // LSP transport starts, but the HTTP server starts first).
    for (int i = 0; i < 600 && curl("/health").first != 200; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~HttpServe() {
    if (!process_) return;
    process_->terminate();
    EXPECT_EQ(process_->wait(std::chrono::seconds(30)), 0) << mtpc::testing::read_file(log());
  }
  std::string log() const { return dir_ / "serve.log"; }
  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return (ca_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(port_) + path;
  }
  lsp::ServerProcess& process() { return *process_; }

  // (status, body) of `curl ARGS URL`; status 0 when curl failed.
  std::pair<int, std::string> curl(const std::string& path, const std::string& args = "") const {
    const std::string body = dir_ / "body";
    std::filesystem::remove(body);
    const std::string ca = ca_.empty() ? "" : "--cacert " + quoted(ca_) + " ";
    CommandResult r = run_command("curl -s --max-time 60 -o " + quoted(body) + " -w '%{http_code}' " + ca + args + " " +
                                  quoted(url(path)));
    int status = 0;
    try {
      status = std::stoi(r.output);
    } catch (...) {
    }
    return {status, mtpc::testing::read_file(body)};
  }
  std::pair<int, std::string> post(const std::string& path, const std::string& json_body) const {
    const std::string file = dir_ / "request.json";
    mtpc::testing::write_file(file, json_body);
    return curl(path, "-X POST -H 'Content-Type: application/json' --data-binary @" + quoted(file));
  }
  const TempDir& dir() const { return dir_; }

 private:
  std::string ca_;
  TempDir dir_;
  std::unique_ptr<lsp::ServerProcess> process_;
  int port_ = -1;
};

}  // namespace mtpc::lsp_testing
