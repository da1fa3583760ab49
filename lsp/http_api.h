// The HTTP API's requests and replies, protocol-side only: JSON bodies are
// parsed into plain structs here (nlohmann json stays in http_api.cpp), and
// HttpApi dispatches a parsed HTTP request to the CompletionService.
//
//   POST /v1/completions  OpenAI-compatible text completion (stream: SSE)
//   POST /infill          llama.cpp server's fill-in-the-middle
//   GET  /v1/models       OpenAI's model list: the one model served
//   GET  /health          200 {"status":"ok"} once the model is loaded, else 503
//   GET  /metrics         Prometheus text format (ServerMetrics)
//   anything else         404 / 405, JSON error body {"error":{"message","type"}}
//
// Access (options.access, shared with LSP): on the first three routes, after
// the token, the user (the token's, else "http:ADDRESS") takes a
// --max-connections-per-user slot for its connection and one request from
// its --requests-per-minute bucket; over either: 429, OpenAI's
// {"error":{"message","type":"rate_limit_error","code":...}}, with
// Retry-After (seconds) for the bucket. /health and /metrics are not limited.
//
// Threads: HttpApi::handle may be called from any thread; the exchange's
// methods are called from the engine thread (streams) or the caller's thread
// (immediate replies), so an HttpExchange must be thread-safe. Exactly one of
// reply() or stream_begin() ... stream_end() is called per request.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "lsp/access.h"
#include "lsp/completion_service.h"
#include "lsp/server_metrics.h"

namespace mtpc::lsp {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path, maybe with ?query
  std::string authorization;  // the Authorization header, empty when absent
  std::string body;
  std::string peer;  // the client's address ("127.0.0.1"), empty when unknown
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
  bool close = false;  // close the connection after this answer
};

// Where a request's answer goes (the connection). Thread-safe.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual void reply(HttpReply reply) = 0;
  // A server-sent-events stream: 200, text/event-stream, then each event's
  // bytes as they come ("data: ...\n\n"), then the end.
  virtual void stream_begin() = 0;
  virtual void stream_data(std::string bytes) = 0;
  virtual void stream_end() = 0;
  // Set when the client went away: generation stops at the next pass.
  virtual std::shared_ptr<const CancellationToken> cancel_token() = 0;
  // Binds the connection to `user` for --max-connections-per-user (called
  // by handle(), on its thread, before the answer): false when the user has
  // no slot left. The default holds nothing (in-process callers).
  virtual bool hold_user(const std::string& user) {
    (void)user;
    return true;
  }
};

// The authentication hook: given the Authorization header's value, ok or a
// message for a 401. Default (empty function): everyone is allowed.
struct AuthDecision {
  bool ok = true;
  std::string message;
  std::string user;  // who, when ok (empty: anonymous, named by address)
};
using HttpAuthenticator = std::function<AuthDecision(const std::string& authorization)>;

struct HttpApiOptions {
  HttpAuthenticator authenticate;  // empty: allow all
  int deadline_ms = 30000;         // per request, from arrival to the last token
  int default_max_tokens = 16;     // OpenAI's default for /v1/completions
  int max_tokens_limit = 2048;     // larger requests are refused (400)
  std::string model_name = "mtpc";  // echoed when the request names none
  std::shared_ptr<AccessControl> access;  // per-user limits; null: none
};

// /v1/completions' body.
struct OpenAiCompletionParams {
  std::string model;
  std::string prompt;
  std::optional<std::string> suffix;
  int max_tokens = 16;
  double temperature = 1.0;  // OpenAI's default
  double top_p = 1.0;
  std::vector<std::string> stop;
  bool stream = false;
  std::optional<uint64_t> seed;
};

// /infill's body (llama.cpp's names).
struct InfillParams {
  std::string input_prefix;
  std::string input_suffix;
  std::string prompt;  // extra text after the prefix, before the middle
  int n_predict = -1;  // -1: the server's default
  double temperature = 0;
  double top_p = 1.0;
  std::vector<std::string> stop;
  bool stream = false;
  std::optional<uint64_t> seed;
};

// Parsing errors name the field: "prompt must be a string or an array of one
// string". Unknown fields are ignored (clients send many).
Result<OpenAiCompletionParams> parse_openai_completion(const std::string& body, int default_max_tokens);
Result<InfillParams> parse_infill(const std::string& body);

// {"error":{"message":...,"type":...}}
std::string error_body(const std::string& message, const std::string& type);
// One server-sent event: "data: <json>\n\n".
std::string sse_event(const std::string& json);
inline const char* sse_done() { return "data: [DONE]\n\n"; }
// The length of the longest prefix of `s` that does not end inside a UTF-8
// character (invalid bytes count as whole: they are replaced either way).
size_t utf8_whole_prefix(std::string_view s);
// "stop" | "length" from the engine's stop reason.
std::string finish_reason(const std::string& stop_reason);

class HttpApi {
 public:
  // The service and metrics must outlive the API.
  HttpApi(CompletionService& service, ServerMetrics& metrics, HttpApiOptions options = {});
  void handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange);
  const HttpApiOptions& options() const { return options_; }

 private:
  void completions(const HttpRequest& request, std::shared_ptr<HttpExchange> exchange);
  void infill(const HttpRequest& request, std::shared_ptr<HttpExchange> exchange);

  CompletionService& service_;
  ServerMetrics& metrics_;
  HttpApiOptions options_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace mtpc::lsp
