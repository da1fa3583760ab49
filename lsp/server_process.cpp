#include "lsp/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace mtpc::lsp {

Result<std::unique_ptr<ServerProcess>> ServerProcess::spawn(const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::Error("no command");
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0) return Status::Error(std::string("pipe: ") + std::strerror(errno));
  if (pipe(from_child) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return Status::Error(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return Status::Error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    execv(args[0], args.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  fcntl(to_child[1], F_SETFD, FD_CLOEXEC);
  fcntl(from_child[0], F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  p->pid_ = pid;
  p->in_ = to_child[1];
  p->out_ = from_child[0];
  ServerProcess* raw = p.get();
  p->reader_ = std::make_unique<FrameReader>(
      FramingOptions{},
      [raw](std::string body) {
        auto j = nlohmann::json::parse(body, nullptr, false);
        raw->received_.push_back(j.is_discarded() ? nlohmann::json(body) : j);
      },
      [raw](const std::string& error) { raw->received_.push_back(nlohmann::json("framing error: " + error)); });
  return p;
}

ServerProcess::~ServerProcess() {
  close_input();
  if (pid_ > 0 && !exit_code_ && !wait(std::chrono::milliseconds(2000))) {
    terminate();
    if (!wait(std::chrono::milliseconds(2000))) kill(pid_, SIGKILL);
    wait(std::chrono::milliseconds(2000));
  }
  if (out_ >= 0) close(out_);
}

Status ServerProcess::write_raw(const std::string& bytes) {
  if (in_ < 0) return Status::Error("stdin closed");
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(in_, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Error(std::string("write to server: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status ServerProcess::send(const nlohmann::json& message) {
  return write_raw(frame_message(message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

std::optional<nlohmann::json> ServerProcess::receive(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (received_.empty() && !eof_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{out_, POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    ssize_t n = ::read(out_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      break;
    }
    reader_->feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  if (received_.empty()) return std::nullopt;
  nlohmann::json j = std::move(received_.front());
  received_.pop_front();
  return j;
}

void ServerProcess::terminate() {
  if (pid_ > 0 && !exit_code_) kill(pid_, SIGTERM);
}

void ServerProcess::close_input() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

std::optional<int> ServerProcess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      return exit_code_;
    }
    if (r < 0) return std::nullopt;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace mtpc::lsp
