// A language server run as a child process and spoken to over pipes, the way
// an editor does: used by `mtpc bench lsp` and the transcript tests. The
// child's stderr goes where ours goes (or to a log file given on its command
// line). Not thread-safe: one thread drives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "lsp/framing.h"

namespace mtpc::lsp {

class ServerProcess {
 public:
  // argv[0] is the executable's path.
  static Result<std::unique_ptr<ServerProcess>> spawn(const std::vector<std::string>& argv);
  ~ServerProcess();  // closes stdin, waits a moment, then kills

  // Writes raw bytes (already framed, or deliberately malformed).
  Status write_raw(const std::string& bytes);
  Status send(const nlohmann::json& message);
  // The next message from the server, waiting up to `timeout`; nullopt on
  // timeout or end of output (eof() tells which). Bodies that are not JSON
  // come back as a JSON string holding the raw body.
  std::optional<nlohmann::json> receive(std::chrono::milliseconds timeout);
  bool eof() const { return eof_; }
  // Closes the child's stdin (end of input).
  void close_input();
  // Asks the child to stop (SIGTERM), as a service manager does.
  void terminate();
  // Waits for the child to end; its exit code (or -signal); nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // The child's process id (tests send it SIGHUP).
  pid_t pid() const { return pid_; }

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  bool eof_ = false;
  std::optional<int> exit_code_;
  std::deque<nlohmann::json> received_;
  std::unique_ptr<FrameReader> reader_;
};

}  // namespace mtpc::lsp
