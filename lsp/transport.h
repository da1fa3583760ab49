// Transports: the server over stdin/stdout (one client) or over TCP (any
// number of clients at once, each with its own LspServer, documents and
// sequences, all sharing one CompletionService and so one model).
// Both run Boost.Asio on the calling thread until the end: stdio until
// `exit`, end of input or SIGINT/SIGTERM; TCP until SIGINT/SIGTERM. A signal
// drains: no new connections, completions already admitted finish within
// TransportOptions::drain_grace and are answered, then exit code 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "lsp/completion_service.h"
#include "lsp/log.h"
#include "lsp/server.h"

namespace mtpc::lsp {

class TlsContext;  // lsp/tls.h

struct TransportOptions {
  size_t read_chunk_bytes = 64u << 10;  // bytes read per system call
  std::shared_ptr<TlsContext> tls;      // TCP: TLS when set (--tls-cert/--tls-key)
  // SIGTERM/SIGINT: how long admitted completions may still decode (they are
  // answered; the rest are cancelled), before the server ends with 0.
  std::chrono::milliseconds drain_grace{10000};
  // Called on the I/O thread when a signal starts the drain (mtpc serve: the
  // HTTP API stops accepting too). May be empty.
  std::function<void()> on_drain;
};

// Returns the process exit code: `exit` after `shutdown`, or end of input: 0;
// `exit` without `shutdown`: 1.
int serve_stdio(CompletionService& service, Logger& log, const ServerOptions& options,
                const TransportOptions& transport = {});

// Listens on host:port (TLS when transport.tls is set; options.access: the
// tokens and limits; SIGHUP reloads the tokens file) (port 0: any free port; the chosen one is logged as
// "listening on HOST:PORT"). Returns 0 when stopped by a signal, 1 when it
// cannot listen.
int serve_tcp(CompletionService& service, Logger& log, const ServerOptions& options,
              const std::string& host, uint16_t port, const TransportOptions& transport = {});

// `--listen HOST:PORT` (port 0-65535; 0: any free port).
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> parse_listen_address(const std::string& spec);

}  // namespace mtpc::lsp
