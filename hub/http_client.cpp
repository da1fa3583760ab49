// Beast's stream timeouts apply only to asynchronous operations, so each step
// below starts one async operation and runs a private io_context until it
// completes: synchronous code with a deadline on every step.
#include "hub/http_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <cctype>
#include <chrono>
#include <exception>
#include <limits>
#include <memory>
#include <optional>

#include "hub/url.h"

namespace mtpc::hub {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr size_t kChunkBytes = 64 * 1024;  // one read into the body sink

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Runs one asynchronous operation to completion on `ioc`.
template <class Start>
beast::error_code run_op(net::io_context& ioc, Start&& start) {
  beast::error_code result = net::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

// One response from one server: head always, body streamed or kept.
struct Hop {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  uint64_t body_bytes = 0;
  Status body_status;
};

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

// Sends the request on a connected stream and reads the response. Bodies of
// redirects are read and dropped so nothing of them reaches the sink.
template <class Stream>
Result<Hop> exchange(Stream& stream, net::io_context& ioc, const Url& url, const HttpRequest& request,
                     bool send_token, const HttpOptions& options, const BodySink& sink,
                     const HeadHandler& on_head) {
  const auto stall = std::chrono::milliseconds(options.stall_timeout_ms);
  http::request<http::empty_body> req{http::verb::get, url.target, 11};
  const bool default_port = url.port == (url.https() ? 443 : 80);
  const bool v6 = url.host.find(':') != std::string::npos;
  req.set(http::field::host, (v6 ? "[" + url.host + "]" : url.host) + (default_port ? "" : ":" + std::to_string(url.port)));
  req.set(http::field::user_agent, "mtpc/0.1");
  // Sizes the hub lists are of the bytes as stored: no transfer encoding.
  req.set(http::field::accept_encoding, "identity");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (send_token && !request.bearer_token.empty()) req.set(http::field::authorization, "Bearer " + request.bearer_token);

  beast::get_lowest_layer(stream).expires_after(stall);
  beast::error_code ec = run_op(ioc, [&](auto handler) { http::async_write(stream, req, handler); });
  if (ec) return Status::Error("sending the request to " + url.str() + ": " + describe(ec));

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  // Model shards are many GB; the sink decides. Not boost::none: Boost 1.74
  // compares the length against the optional, and any value > none.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::get_lowest_layer(stream).expires_after(stall);
  ec = run_op(ioc, [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
  if (ec) return Status::Error("reading the response from " + url.str() + ": " + describe(ec));

  Hop hop;
  hop.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) hop.headers[lower(std::string(field.name_string()))] = std::string(field.value());
  const bool is_final = !is_redirect(hop.status);
  if (is_final && on_head) {
    hop.body_status = on_head(hop.status, hop.headers);
    if (!hop.body_status.ok()) return hop;
  }
  const bool to_sink = is_final && sink && hop.status >= 200 && hop.status < 300;
  std::array<char, kChunkBytes> chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    beast::get_lowest_layer(stream).expires_after(stall);
    ec = run_op(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    if (ec == http::error::need_buffer) ec = {};
    const size_t n = chunk.size() - parser.get().body().size;
    if (n > 0) {
      hop.body_bytes += n;
      if (to_sink) {
        Status s = sink(std::string_view(chunk.data(), n));
        if (!s.ok()) {
          hop.body_status = s;
          break;
        }
      } else if (hop.body.size() < options.max_kept_body) {
        hop.body.append(chunk.data(), std::min(n, options.max_kept_body - hop.body.size()));
      }
    }
    if (ec) {
      hop.body_status = Status::Error("connection to " + url.authority() + " lost after " +
                                      std::to_string(hop.body_bytes) + " body bytes: " + describe(ec));
      break;
    }
  }
  return hop;
}

// Why a TLS handshake failed, in words a user can act on.
std::string handshake_error(SSL* ssl, const beast::error_code& ec, const Url& url) {
  long verify = SSL_get_verify_result(ssl);
  std::string msg = "TLS handshake with " + url.authority() + " failed: ";
  if (verify != X509_V_OK) {
    msg += std::string("certificate not trusted (") + X509_verify_cert_error_string(verify) +
           "); for a private CA pass --ca-file FILE or set SSL_CERT_FILE";
  } else if (ec == beast::error::timeout) {
    msg += "timed out";
  } else {
    msg += ec.message();
  }
  return msg;
}

Result<Hop> fetch_one(const Url& url, const HttpRequest& request, bool send_token, const HttpOptions& options,
                      const BodySink& sink, const HeadHandler& on_head) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
  if (ec) return Status::Error("cannot resolve " + url.host + ": " + ec.message());
  const auto connect_timeout = std::chrono::milliseconds(options.connect_timeout_ms);

  if (!url.https()) {
    beast::tcp_stream stream(ioc);
    stream.expires_after(connect_timeout);
    ec = run_op(ioc, [&](auto handler) { stream.async_connect(endpoints, handler); });
    if (ec) return Status::Error("cannot connect to " + url.authority() + ": " + describe(ec));
    return exchange(stream, ioc, url, request, send_token, options, sink, on_head);
  }

  ssl::context ctx(ssl::context::tls_client);
  ctx.set_default_verify_paths(ec);  // honours SSL_CERT_FILE and SSL_CERT_DIR
  if (!options.ca_file.empty()) {
    ctx.load_verify_file(options.ca_file, ec);
    if (ec) return Status::Error("--ca-file " + options.ca_file + ": cannot load certificates: " + ec.message());
  }
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  // SNI for names; an IP address must not be sent as a server name.
  boost::system::error_code addr_ec;
  net::ip::make_address(url.host, addr_ec);
  if (addr_ec && !SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()))
    return Status::Error("TLS: cannot set the server name " + url.host);
  beast::get_lowest_layer(stream).expires_after(connect_timeout);
  ec = run_op(ioc, [&](auto handler) { beast::get_lowest_layer(stream).async_connect(endpoints, handler); });
  if (ec) return Status::Error("cannot connect to " + url.authority() + ": " + describe(ec));
  beast::get_lowest_layer(stream).expires_after(connect_timeout);
  ec = run_op(ioc, [&](auto handler) { stream.async_handshake(ssl::stream_base::client, handler); });
  if (ec) return Status::Error(handshake_error(stream.native_handle(), ec, url));
  return exchange(stream, ioc, url, request, send_token, options, sink, on_head);
}

}  // namespace

Result<HttpResponse> http_get(const HttpRequest& request, const HttpOptions& options, const BodySink& sink,
                              const HeadHandler& on_head) {
  try {
    Result<Url> first = parse_url(request.url);
    if (!first.ok()) return first.status();
    Url url = *first;
    // Still on the first URL's host:port: no redirect has left it yet.
    bool on_origin = true;
    HttpResponse response;
    for (int hop_index = 0;; ++hop_index) {
      Result<Hop> hop = fetch_one(url, request, on_origin, options, sink, on_head);
      if (!hop.ok()) return hop.status();
      if (on_origin) response.origin_headers = hop->headers;
      if (!is_redirect(hop->status)) {
        response.status = hop->status;
        response.url = url.str();
        response.headers = std::move(hop->headers);
        response.body = std::move(hop->body);
        response.body_bytes = hop->body_bytes;
        response.body_status = hop->body_status;
        return response;
      }
      if (hop_index >= options.max_redirects)
        return Status::Error("too many redirects (more than " + std::to_string(options.max_redirects) +
                             ") starting at " + first->str() + "; last at " + url.str());
      auto location = hop->headers.find("location");
      Result<Url> next = resolve_location(url, location == hop->headers.end() ? "" : location->second);
      if (!next.ok()) return next.status().wrap("redirect from " + url.str());
      if (url.https() && !next->https())
        return Status::Error("refusing a redirect from https to plain http: " + url.str() + " -> " + next->str());
      // Credentials are for the server they were given for: a signed
      // file-store URL on another host carries its own authorization.
      if (next->authority() != first->authority()) on_origin = false;
      url = *next;
    }
  } catch (const std::exception& e) {
    // Beast and Asio report through error codes above; this is a backstop so
    // no exception leaves the library.
    return Status::Error(std::string("HTTP client: ") + e.what());
  }
}

}  // namespace mtpc::hub
