#include "lsp/tls.h"

#include <unistd.h>

namespace mtpc::lsp {

namespace ssl = boost::asio::ssl;

TlsContext::TlsContext() : context_(ssl::context::tls_server) {}

Result<std::shared_ptr<TlsContext>> TlsContext::load_server(const std::string& cert_file, const std::string& key_file) {
  for (const std::string* f : {&cert_file, &key_file})
    if (::access(f->c_str(), R_OK) != 0) return Status::Error("cannot read TLS file " + *f);
  std::shared_ptr<TlsContext> tls(new TlsContext());
  boost::system::error_code ec;
  tls->context_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                            ec);
  if (!ec) tls->context_.use_certificate_chain_file(cert_file, ec);
  if (ec) return Status::Error("TLS certificate " + cert_file + ": " + ec.message());
  tls->context_.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return Status::Error("TLS key " + key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(tls->context_.native_handle()) != 1)
    return Status::Error("TLS key " + key_file + " does not match the certificate " + cert_file);
  return tls;
}

}  // namespace mtpc::lsp
