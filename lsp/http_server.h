// The HTTP/1.1 server (Boost.Beast over Asio) in front of HttpApi: one
// thread runs every connection's I/O; generation runs on the engine thread
// and its answers are posted back to the connection.
//
// With options.tls (--tls-cert/--tls-key) every connection is HTTPS (the
// same certificate as the LSP port). A plain HTTP request on the HTTPS port
// gets a plain-text 400 saying so, then the close; a TLS client on a plain
// port is closed (logged) without an answer.
//
// With options.access (the AccessControl shared with the LSP port) each
// connection takes a --max-connections slot: over it, a plain client gets a
// 503 (Retry-After: 1), a TLS one just the close; read timeouts are counted
// as access timeouts; HttpApi applies the per-user limits.
//
// Per connection: keep-alive; one request at a time (a pipelined request is
// read after the answer to the one before). Limits, each a defined answer:
//   - a body over max_body_bytes: 413 as soon as the headers say so (the
//     body is not read), then the connection closes;
//   - headers over max_header_bytes: 431, then close;
//   - a malformed request: 400, then close;
//   - a request (headers and body, and a TLS handshake before the first)
//     not wholly received within read_timeout_ms of the previous answer (or
//     of the connection's start) closes the connection: this is both the
//     keep-alive idle timeout and the cut-off for slow clients (one that
//     sends a byte a second is dropped);
//   - an answer not written within write_timeout_ms closes the connection
//     and cancels the generation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"
#include "lsp/http_api.h"
#include "lsp/log.h"

namespace mtpc::lsp {

class TlsContext;  // lsp/tls.h

struct HttpServerOptions {
  size_t max_body_bytes = 1u << 20;    // --max-body-bytes
  size_t max_header_bytes = 16u << 10;  // the request line and headers
  int read_timeout_ms = 15000;          // a whole request, idle wait included
  int write_timeout_ms = 30000;         // each write of an answer
  size_t max_connections = 1024;        // more are accepted and closed at once
  std::shared_ptr<AccessControl> access;  // --max-connections and timeouts counted there; null: none
  std::shared_ptr<TlsContext> tls;        // HTTPS when set
};

class HttpServer {
 public:
  // The API must outlive the server.
  HttpServer(HttpApi& api, Logger& log, HttpServerOptions options = {});
  ~HttpServer();  // stop()

  // Binds host:port (port 0: any free one), logs "HTTP API on
  // HOST:PORT" and starts the I/O thread. An error when it cannot listen.
  Status start(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }
  // Stops accepting and closes every connection; joins the I/O thread.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// Blocks the calling thread until SIGINT or SIGTERM (`mtpc serve --http`
// without an LSP transport); SIGHUP calls on_hangup (reload the tokens
// file) and goes on waiting.
void wait_for_stop_signal(const std::function<void()>& on_hangup = {});

}  // namespace mtpc::lsp
