// One HTTP(S) GET at a time, with redirects, timeouts and TLS verification,
// for fetching model files. Torch-free; Boost.Beast and OpenSSL stay inside
// http_client.cpp.
//
// Contract:
// - http_get follows up to HttpOptions::max_redirects redirects (301, 302,
//   303, 307, 308; relative Locations resolved against the URL they came
//   from) and returns the first non-redirect response. More hops is an error
//   naming the first URL, so a redirect loop ends.
// - The bearer token is sent only while the request stays on the host:port of
//   the first URL; once a redirect leaves it (the hub's file store is another
//   host, reached by a signed URL) it is dropped for every later hop, as the
//   hub's own client does. A redirect from https to http is refused.
// - TLS: peer verification is always on, against the system CA store
//   (OpenSSL's defaults, so SSL_CERT_FILE / SSL_CERT_DIR apply) plus
//   HttpOptions::ca_file when set; the certificate must name the host.
// - Timeouts: connecting (TCP + TLS handshake) is bounded by
//   connect_timeout_ms; after that every read or write that moves no byte for
//   stall_timeout_ms ends the transfer.
// - A transport failure before a response head arrives is an error Status.
//   Once the head of the final response arrived, a body that ends early (the
//   connection dropped, a stall, the sink refusing) is reported in
//   HttpResponse::body_status, so a caller can resume with a Range request.
// - Bodies of 2xx responses go to the sink when one is given; other bodies
//   (and all bodies without a sink) are kept in HttpResponse::body, the first
//   max_kept_body bytes.
// Each call owns its connections: calls may run on different threads
// concurrently. Never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace mtpc::hub {

struct HttpOptions {
  std::string ca_file;              // extra PEM bundle of trusted CAs (a private CA)
  int connect_timeout_ms = 10000;   // TCP connect + TLS handshake
  int stall_timeout_ms = 30000;     // longest wait for the next byte of a transfer
  int max_redirects = 10;           // hops before the request is abandoned
  size_t max_kept_body = 64 << 20;  // bytes of a body kept in memory (API replies, errors)
};

struct HttpRequest {
  std::string url;
  std::string bearer_token;  // empty: no Authorization header
  std::vector<std::pair<std::string, std::string>> headers;  // sent on every hop
};

struct HttpResponse {
  int status = 0;
  std::string url;  // the URL that answered (after redirects)
  // Header names in lower case. `headers` are the final response's;
  // `origin_headers` those of the last response from the first URL's
  // host:port, after same-host redirects and before any redirect away (the
  // hub puts X-Linked-Size / X-Linked-Etag / X-Repo-Commit on its redirect
  // to the file store, and ETag on a small file it serves itself).
  std::map<std::string, std::string> headers;
  std::map<std::string, std::string> origin_headers;
  std::string body;             // see the contract: non-2xx bodies or no sink
  uint64_t body_bytes = 0;      // body bytes received (all of them, sink or not)
  Status body_status;           // ok when the body arrived whole

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string origin_header(const std::string& lower_name) const {
    auto it = origin_headers.find(lower_name);
    return it == origin_headers.end() ? std::string() : it->second;
  }
};

// Receives the body of a 2xx response chunk by chunk; an error aborts the
// transfer (reported in body_status).
using BodySink = std::function<Status(std::string_view chunk)>;

// Sees the final response's status and headers (lower-case names) before its
// body: a resuming caller checks 200 against 206 and Content-Range here. An
// error skips the body and is reported in body_status.
using HeadHandler = std::function<Status(int status, const std::map<std::string, std::string>& headers)>;

Result<HttpResponse> http_get(const HttpRequest& request, const HttpOptions& options,
                              const BodySink& sink = nullptr, const HeadHandler& on_head = nullptr);

}  // namespace mtpc::hub
