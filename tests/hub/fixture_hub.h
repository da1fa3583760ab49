// The local stand-in hub the pull tests talk to (fixture_hub.py): a
// certificate made with `openssl req` for 127.0.0.1, then the Python server
// started on free ports of 127.0.0.1 only. Stopping (or destroying) the
// fixture closes the server's stdin, which ends it; it also ends by itself
// after its lifetime.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/test_util.h"

namespace mtpc::testing {

class FixtureHub {
 public:
  // Empty error() when the server is up.
  FixtureHub() {
    cert_ = dir_ / "cert.pem";
    key_ = dir_ / "key.pem";
    CommandResult made = run_command(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " + key_ + " -out " + cert_);
    if (made.exit_code != 0) {
      error_ = "openssl req failed: " + made.output;
      return;
    }
    root_ = dir_ / "server";
    run_command("mkdir -p " + root_);
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) {
      error_ = "pipe failed";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      execl("/usr/bin/python3", "python3", MTPC_HUB_FIXTURE_SERVER, cert_.c_str(), key_.c_str(), root_.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_fd_ = in[1];
    // The first line is "PORTS <hub> <store>"; wait at most 20 s for it.
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    if (std::sscanf(line.c_str(), "PORTS %d %d", &hub_port_, &store_port_) != 2)
      error_ = "fixture hub did not start: \"" + line + "\"";
  }
  ~FixtureHub() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    if (pid_ > 0) {
      // Give it a moment to exit on EOF, then make sure.
      for (int i = 0; i < 50; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
        usleep(20000);
      }
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  FixtureHub(const FixtureHub&) = delete;
  FixtureHub& operator=(const FixtureHub&) = delete;

  const std::string& error() const { return error_; }
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(hub_port_); }
  int store_port() const { return store_port_; }
  const std::string& cert() const { return cert_; }
  // The bytes the server serves for a repository file.
  std::string file(const std::string& repo, const std::string& path) const {
    std::string d = repo;
    d.replace(d.find('/'), 1, "--");
    return read_file(root_ + "/repos/" + d + "/" + path);
  }
  // One JSON object per request the servers saw.
  std::string request_log() const { return read_file(root_ + "/requests.log"); }
  std::string scratch(const std::string& name) const { return dir_ / name; }

 private:
  TempDir dir_;
  std::string cert_, key_, root_, error_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int hub_port_ = 0, store_port_ = 0;
};

}  // namespace mtpc::testing
