// A blocking LSP client for the access tests: plain TCP or TLS (OpenSSL,
// no certificate verification: the tests make a self-signed one), with a
// receive timeout so no test waits forever.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>

#include "lsp/framing.h"

namespace mtpc::lsp_testing {

class LspClient {
 public:
  // receive_timeout_s bounds every wait for bytes.
  LspClient(int port, bool tls, int receive_timeout_s = 30) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{receive_timeout_s, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (connected_ && tls) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      ssl_ = SSL_new(ctx_);
      SSL_set_fd(ssl_, fd_);
      connected_ = SSL_connect(ssl_) == 1;
    }
  }
  ~LspClient() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  LspClient(const LspClient&) = delete;
  LspClient& operator=(const LspClient&) = delete;

  // For TLS: whether the handshake succeeded.
  bool connected() const { return connected_; }

  bool send_raw(const std::string& bytes) {
    if (ssl_) return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  bool send(const nlohmann::json& m) { return send_raw(lsp::frame_message(m.dump())); }
  // Ends the client's side of the stream (the server reads end of file);
  // replies can still arrive.
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // The message with this id (null id: the first error without one); a null
  // json when the connection closed or nothing came within the timeout.
  nlohmann::json reply(const nlohmann::json& id) {
    for (;;) {
      for (auto it = pending_.begin(); it != pending_.end(); ++it)
        if (it->is_object() && it->contains("id") && (*it)["id"] == id) {
          nlohmann::json m = *it;
          pending_.erase(it);
          return m;
        }
      if (!read_some()) return nlohmann::json();
    }
  }
  // True when the server closed the connection (end of stream or reset)
  // before the receive timeout, after any queued messages.
  bool closed_by_server() {
    for (;;) {
      if (!read_some()) return eof_;
    }
  }

 private:
  bool read_some() {
    char buf[4096];
    ssize_t n;
    if (ssl_) {
      const int r = SSL_read(ssl_, buf, sizeof buf);
      n = r;
      if (r <= 0) {
        const int err = SSL_get_error(ssl_, r);
        const bool timed_out = err == SSL_ERROR_WANT_READ || (err == SSL_ERROR_SYSCALL && errno == EAGAIN);
        n = timed_out ? -1 : 0;  // a close, clean or not
        ERR_clear_error();
      }
    } else {
      n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == ECONNRESET) n = 0;
    }
    if (n <= 0) {
      eof_ = n == 0;
      return false;
    }
    reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false, eof_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::deque<nlohmann::json> pending_;
  lsp::FrameReader reader_{{}, [this](std::string b) { pending_.push_back(nlohmann::json::parse(b, nullptr, false)); },
                           [](const std::string&) {}};
};

}  // namespace mtpc::lsp_testing
