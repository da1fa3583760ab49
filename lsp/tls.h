// TLS for the TCP transports: one server context (certificate chain + key,
// TLS 1.2 or newer) that the LSP listener and the HTTP API both wrap their
// sockets in (boost::asio::ssl::stream<tcp::socket>(socket, tls.context())).
//
// Threads: build once at start-up; context() is then shared read-only.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "base/status.h"

namespace mtpc::lsp {

class TlsContext {
 public:
  // PEM files; an unreadable file or a key that does not match the
  // certificate is an error naming the file.
  static Result<std::shared_ptr<TlsContext>> load_server(const std::string& cert_file, const std::string& key_file);
  boost::asio::ssl::context& context() { return context_; }

 private:
  TlsContext();
  boost::asio::ssl::context context_;
};

}  // namespace mtpc::lsp
