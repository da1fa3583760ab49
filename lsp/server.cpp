#include "lsp/server.h"

#include <algorithm>

namespace mtpc::lsp {

using nlohmann::json;

namespace {

std::string id_text(const json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Parses params into a struct; a JSON error becomes InvalidParams naming
// the field (nlohmann's message says which key or type was wrong).
template <typename T>
std::optional<T> parse_params(const json& params, std::string& error) {
  try {
    return params.get<T>();
  } catch (const json::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

}  // namespace

// The obligation to answer one request, exactly once. A Reply destroyed
// without an answer sends InternalError and logs: a dropped reply is a bug.
class LspServer::Reply {
 public:
  Reply(std::weak_ptr<LspServer> server, json id, std::string method)
      : server_(std::move(server)), id_(std::move(id)), method_(std::move(method)),
        start_(std::chrono::steady_clock::now()) {}
  Reply(Reply&& o) noexcept
      : server_(std::move(o.server_)), id_(std::move(o.id_)), method_(std::move(o.method_)),
        start_(o.start_), done_(o.done_) {
    o.done_ = true;
  }
  Reply& operator=(Reply&&) = delete;
  ~Reply() {
    if (!done_) error(ErrorCode::kInternalError, "internal error: no reply was produced for " + method_);
  }

  void result(json value) {
    if (done_) return;
    done_ = true;
    if (auto s = server_.lock()) {
      s->send_json({{"jsonrpc", "2.0"}, {"id", id_}, {"result", std::move(value)}});
      s->log_.line("--> reply(" + id_text(id_) + ") " + std::to_string(static_cast<int>(ms_since(start_))) + " ms");
    }
  }
  void error(ErrorCode code, const std::string& message, const json& data = nullptr) {
    if (done_) return;
    done_ = true;
    if (auto s = server_.lock()) {
      s->send_error(id_, code, message, data);
      s->log_.line("--> reply(" + id_text(id_) + ") error " + std::to_string(static_cast<int>(code)) + " " +
                   std::to_string(static_cast<int>(ms_since(start_))) + " ms: " + message);
    }
  }
  // The client is gone: nobody to answer, and nothing to log as dropped.
  void abandon() { done_ = true; }
  std::chrono::steady_clock::time_point start() const { return start_; }
  const json& id() const { return id_; }

 private:
  std::weak_ptr<LspServer> server_;
  json id_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
  bool done_ = false;
};

struct LspServer::Pending {
  Reply reply;
  std::shared_ptr<CancellationToken> token;
  std::string uri;
  uint64_t serial;  // tells a reused id apart from the request it replaced
};

namespace {

using RequestHandler = void (LspServer::*)(const json&, LspServer::Reply);
using NotificationHandler = void (LspServer::*)(const json&);

}  // namespace

std::shared_ptr<LspServer> LspServer::create(CompletionService& service, Logger& log,
                                             const ServerOptions& options, Send send, Post post,
                                             std::string peer) {
  return std::shared_ptr<LspServer>(
      new LspServer(service, log, options, std::move(send), std::move(post), std::move(peer)));
}

LspServer::LspServer(CompletionService& service, Logger& log, const ServerOptions& options, Send send,
                     Post post, std::string peer)
    : service_(service), log_(log), options_(options), send_(std::move(send)), post_(std::move(post)),
      peer_(std::move(peer)),
      reader_(options.framing, [this](std::string body) { on_message(std::move(body)); },
              [this](const std::string& error) {
                log_.line(peer_ + " framing error: " + error);
                send_error(nullptr, ErrorCode::kParseError, error);
              }),
      settings_(options.defaults) {
  client_ = service_.add_client();
}

LspServer::~LspServer() {
  if (!disconnected_) on_disconnect();
}

void LspServer::on_bytes(std::string_view bytes) { reader_.feed(bytes); }

void LspServer::on_disconnect() {
  if (disconnected_) return;
  disconnected_ = true;
  if (reader_.mid_message()) log_.line(peer_ + " disconnected in the middle of a message");
  for (auto& [key, p] : pending_) {
    p->token->cancel();
    p->reply.abandon();
  }
  pending_.clear();
  service_.remove_client(client_);
  if (options_.access) {
    options_.access->forget_client(user_, client_);
    if (holds_user_slot_) options_.access->release_user_connection(user_);
    if (!options_.access->requires_token()) options_.access->forget_user(user_);
    holds_user_slot_ = false;
  }
}

void LspServer::send_json(const json& message) {
  if (disconnected_) return;
  send_(frame_message(message.dump(-1, ' ', false, json::error_handler_t::replace)));
}

void LspServer::send_error(const json& id, ErrorCode code, const std::string& message, const json& data) {
  json error = {{"code", static_cast<int>(code)}, {"message", valid_utf8(message)}};
  if (!data.is_null()) error["data"] = data;
  send_json({{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
}

void LspServer::refuse(const json& id, bool has_id, ErrorCode code, const std::string& why) {
  log_.line(peer_ + " refused: " + why);
  if (has_id) send_error(id, code, why);
  close_requested_ = true;
}

bool LspServer::admit_message(const std::string& method, const json& id, bool has_id) {
  AccessControl* access = options_.access.get();
  if (!access || close_requested_) return !close_requested_;
  if (!access->requires_token()) return true;
  if (!identity_) {
    if (method == "initialize" && has_id) return true;
    access->authenticate(nullptr);  // counted
    refuse(id, has_id, ErrorCode::kUnauthorized, "unauthorized: send initialize with initializationOptions.mtpc.token first");
    return false;
  }
  if (!access->still_valid(*identity_)) {
    refuse(id, has_id, ErrorCode::kUnauthorized, "unauthorized: the token of user " + identity_->user + " was revoked");
    return false;
  }
  return true;
}

// initialize's part of access: the token (when the server has a tokens
// file) and the per-user connection limit.
bool LspServer::authenticate(const json& params, Reply& reply) {
  AccessControl* access = options_.access.get();
  if (!access) return true;
  if (access->requires_token()) {
    const std::string* token = nullptr;
    if (params.is_object()) {
      auto opts = params.find("initializationOptions");
      if (opts != params.end() && opts->is_object()) {
        auto m = opts->find("mtpc");
        if (m != opts->end() && m->is_object()) {
          auto t = m->find("token");
          if (t != m->end() && t->is_string()) token = t->get_ptr<const std::string*>();
        }
      }
    }
    identity_ = access->authenticate(token);
    if (!identity_) {
      // Never the token itself in the log.
      log_.line(peer_ + " refused: " + (token ? "unknown token" : "no token in initializationOptions.mtpc.token"));
      reply.error(ErrorCode::kUnauthorized, "unauthorized: a valid token is required in initializationOptions.mtpc.token");
      close_requested_ = true;
      return false;
    }
    user_ = identity_->user;
  } else {
    user_ = "anonymous/" + peer_ + "/" + std::to_string(client_);
  }
  if (!access->admit_user_connection(user_)) {
    log_.line(peer_ + " refused: user " + user_ + " is over --max-connections-per-user");
    reply.error(ErrorCode::kTooManyConnections,
                "too many connections for user " + user_ + " (--max-connections-per-user " +
                    std::to_string(access->limits().max_connections_per_user) + ")");
    close_requested_ = true;
    return false;
  }
  holds_user_slot_ = true;
  log_.line(peer_ + " user " + user_);
  return true;
}

void LspServer::touch_document(const std::string& uri, bool opening) {
  if (!options_.access) return;
  for (const auto& [client, evicted] : options_.access->touch_document(user_, client_, uri, opening)) {
    log_.line(peer_ + " evicted " + evicted + " of user " + user_ + " (--max-documents-per-user)");
    service_.close(client, evicted);
  }
}

void LspServer::on_message(std::string body) {
  static const std::map<std::string, RequestHandler> kRequests = {
      {"initialize", &LspServer::on_initialize},
      {"shutdown", &LspServer::on_shutdown},
      {"textDocument/inlineCompletion", &LspServer::on_inline_completion},
      {"textDocument/completion", &LspServer::on_completion},
      {"mtpc/stats", &LspServer::on_stats},
  };
  static const std::map<std::string, NotificationHandler> kNotifications = {
      {"initialized", &LspServer::on_initialized},
      {"exit", &LspServer::on_exit},
      {"textDocument/didOpen", &LspServer::on_did_open},
      {"textDocument/didChange", &LspServer::on_did_change},
      {"textDocument/didClose", &LspServer::on_did_close},
      {"$/cancelRequest", &LspServer::on_cancel},
      {"workspace/didChangeConfiguration", &LspServer::on_configuration},
  };

  json msg = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (msg.is_discarded()) {
    log_.line(peer_ + " <-- unparsable message (" + std::to_string(body.size()) + " bytes)");
    send_error(nullptr, ErrorCode::kParseError, "parse error: the body is not valid JSON (or not UTF-8)");
    return;
  }
  if (!msg.is_object()) {
    send_error(nullptr, ErrorCode::kInvalidRequest, "invalid request: a message must be a JSON object");
    return;
  }
  auto id_it = msg.find("id");
  bool has_id = id_it != msg.end();
  json id = has_id ? *id_it : json(nullptr);
  if (has_id && !id.is_number_integer() && !id.is_string()) {
    send_error(nullptr, ErrorCode::kInvalidRequest, "invalid request: id must be an integer or a string");
    return;
  }
  auto method_it = msg.find("method");
  if (method_it == msg.end()) {
    // A response to a request of ours (we send none) or junk.
    if (!has_id || (!msg.contains("result") && !msg.contains("error")))
      send_error(id, ErrorCode::kInvalidRequest, "invalid request: no method");
    return;
  }
  if (!method_it->is_string()) {
    send_error(id, ErrorCode::kInvalidRequest, "invalid request: method must be a string");
    return;
  }
  auto version = msg.find("jsonrpc");
  if (version == msg.end() || *version != "2.0") {
    if (has_id) send_error(id, ErrorCode::kInvalidRequest, "invalid request: jsonrpc must be \"2.0\"");
    return;
  }
  const std::string method = method_it->get<std::string>();
  json params = msg.contains("params") ? msg["params"] : json(nullptr);
  if (!params.is_null() && !params.is_object() && !params.is_array()) {
    if (has_id) send_error(id, ErrorCode::kInvalidRequest, "invalid request: params must be an object or array");
    return;
  }

  if (!admit_message(method, id, has_id)) return;
  if (!has_id) {
    log_.line(peer_ + " <-- " + method);
    auto n = kNotifications.find(method);
    if (n == kNotifications.end()) return;  // unknown notifications are ignored ($/ ones included)
    if (state_ == State::kUninitialized && method != "exit") return;  // dropped, as LSP says
    (this->*(n->second))(params);
    return;
  }
  log_.line(peer_ + " <-- " + method + "(" + id_text(id) + ")");
  Reply reply(weak_from_this(), id, method);
  auto r = kRequests.find(method);
  if (r == kRequests.end()) {
    reply.error(ErrorCode::kMethodNotFound, "method not found: " + method);
    return;
  }
  if (state_ == State::kUninitialized && method != "initialize") {
    reply.error(ErrorCode::kServerNotInitialized, "server not initialized: send initialize first");
    return;
  }
  if (state_ == State::kShutdown) {
    reply.error(ErrorCode::kInvalidRequest, "invalid request: the server is shut down");
    return;
  }
  if (options_.access && state_ == State::kRunning && method != "shutdown") {
    auto rate = options_.access->admit_request(user_);
    if (!rate.allowed) {
      reply.error(ErrorCode::kRateLimited,
                  "rate limited: over --requests-per-minute for user " + user_ + "; retry in " +
                      std::to_string(rate.retry_after_ms) + " ms",
                  {{"retryAfterMs", rate.retry_after_ms}});
      return;
    }
  }
  (this->*(r->second))(params, std::move(reply));
}

void LspServer::on_initialize(const json& params, Reply reply) {
  if (state_ != State::kUninitialized) {
    reply.error(ErrorCode::kInvalidRequest, "invalid request: initialize was already called");
    return;
  }
  if (!authenticate(params, reply)) return;
  std::string error;
  auto p = parse_params<InitializeParams>(params.is_null() ? json::object() : params, error);
  if (!p) {
    reply.error(ErrorCode::kInvalidParams, "invalid params: " + error);
    return;
  }
  Settings settings = settings_;
  if (p->initialization_options) {
    try {
      apply_settings(*p->initialization_options, settings);
    } catch (const json::exception& e) {
      reply.error(ErrorCode::kInvalidParams, std::string("invalid params: initializationOptions: ") + e.what());
      return;
    }
  }
  settings_ = settings;
  const auto& encs = p->position_encodings;
  encoding_ = std::find(encs.begin(), encs.end(), "utf-8") != encs.end() ? PositionEncoding::kUtf8
                                                                         : PositionEncoding::kUtf16;
  state_ = State::kRunning;
  // Tasks run in order, so the model is loaded before any completion.
  std::string dir = options_.model_dir.empty() ? settings_.model : options_.model_dir;
  std::weak_ptr<LspServer> self = weak_from_this();
  service_.ensure_model(dir, [self, post = post_](Status s) {
    if (s.ok()) return;
    post([self, s] {
      if (auto server = self.lock())
        server->send_json({{"jsonrpc", "2.0"},
                           {"method", "window/showMessage"},
                           {"params", {{"type", 1}, {"message", "mtpc: " + s.message()}}}});
    });
  });
  reply.result({{"capabilities",
                 {{"positionEncoding", position_encoding_name(encoding_)},
                  {"textDocumentSync", {{"openClose", true}, {"change", 2}}},  // 2: incremental
                  {"inlineCompletionProvider", true},
                  {"completionProvider", {{"resolveProvider", false}}}}},
                {"serverInfo", {{"name", "mtpc"}, {"version", "0.1"}}}});
}

void LspServer::on_initialized(const json&) {}

void LspServer::on_shutdown(const json&, Reply reply) {
  for (auto& [key, p] : pending_) {
    p->token->cancel();
    p->reply.error(ErrorCode::kRequestCancelled, "request cancelled: the server is shutting down");
  }
  pending_.clear();
  state_ = State::kShutdown;
  reply.result(nullptr);
}

void LspServer::on_exit(const json&) { exit_code_ = state_ == State::kShutdown ? 0 : 1; }

void LspServer::on_did_open(const json& params) {
  std::string error;
  auto p = parse_params<DidOpenParams>(params, error);
  if (!p) {
    log_.line(peer_ + " didOpen: invalid params: " + error);
    return;
  }
  const std::string uri = p->text_document.uri;
  service_.open(client_, std::move(p->text_document));
  touch_document(uri, true);
}

void LspServer::on_did_change(const json& params) {
  std::string error;
  auto p = parse_params<DidChangeParams>(params, error);
  if (!p) {
    log_.line(peer_ + " didChange: invalid params: " + error);
    return;
  }
  // Completions computed for the old text are stale.
  std::vector<std::string> stale;
  for (auto& [key, pending] : pending_)
    if (pending->uri == p->uri) stale.push_back(key);
  for (const auto& key : stale) cancel_pending(key, ErrorCode::kContentModified, "content modified");
  service_.change(client_, std::move(*p), encoding_);
}

void LspServer::on_did_close(const json& params) {
  std::string error;
  auto p = parse_params<DocumentParams>(params, error);
  if (!p) {
    log_.line(peer_ + " didClose: invalid params: " + error);
    return;
  }
  service_.close(client_, p->uri);
  if (options_.access) options_.access->forget_document(user_, client_, p->uri);
}

void LspServer::on_cancel(const json& params) {
  std::string error;
  auto p = parse_params<CancelParams>(params, error);
  if (!p) {
    log_.line(peer_ + " $/cancelRequest: invalid params: " + error);
    return;
  }
  cancel_pending(p->id.dump(), ErrorCode::kRequestCancelled, "request cancelled");
}

void LspServer::on_configuration(const json& params) {
  std::string error;
  auto p = parse_params<ConfigurationParams>(params, error);
  if (!p) {
    log_.line(peer_ + " didChangeConfiguration: invalid params: " + error);
    return;
  }
  Settings s = settings_;
  try {
    if (!p->settings.is_null()) apply_settings(p->settings, s);
  } catch (const json::exception& e) {
    log_.line(peer_ + " didChangeConfiguration: settings ignored: " + e.what());
    return;
  }
  settings_ = s;
  log_.line(peer_ + " settings " + settings_json(settings_).dump());
  if (options_.model_dir.empty() && !settings_.model.empty()) service_.ensure_model(settings_.model, [](Status) {});
}

void LspServer::cancel_pending(const std::string& key, ErrorCode code, const std::string& why) {
  auto it = pending_.find(key);
  if (it == pending_.end()) return;  // finished already, or never a completion
  it->second->token->cancel();
  it->second->reply.error(code, why);
  pending_.erase(it);
}

void LspServer::on_inline_completion(const json& params, Reply reply) {
  start_completion(params, std::move(reply), CompletionKind::kInline);
}

void LspServer::on_completion(const json& params, Reply reply) {
  start_completion(params, std::move(reply), CompletionKind::kList);
}

void LspServer::start_completion(const json& params, Reply reply, CompletionKind kind) {
  std::string error;
  auto p = parse_params<PositionParams>(params, error);
  if (!p) {
    reply.error(ErrorCode::kInvalidParams, "invalid params: " + error);
    return;
  }
  // A newer request for the document supersedes the older one.
  std::vector<std::string> older;
  for (auto& [key, pending] : pending_)
    if (pending->uri == p->uri) older.push_back(key);
  for (const auto& key : older) cancel_pending(key, ErrorCode::kRequestCancelled, "superseded by a newer request");

  static uint64_t next_serial = 1;
  const uint64_t serial = next_serial++;
  const std::string key = reply.id().dump();
  if (pending_.count(key)) {
    reply.error(ErrorCode::kInvalidRequest, "invalid request: id " + key + " is already in use");
    return;
  }
  if (options_.access) touch_document(p->uri, false);
  CompletionQuery q;
  q.uri = p->uri;
  q.position = p->position;
  q.encoding = encoding_;
  q.settings = settings_;
  q.received = reply.start();
  auto token = std::make_shared<CancellationToken>();
  pending_.emplace(key, std::make_unique<Pending>(Pending{std::move(reply), token, p->uri, serial}));

  std::weak_ptr<LspServer> self = weak_from_this();
  service_.complete(client_, std::move(q), token,
                    [self, post = post_, key, serial, kind](CompletionAnswer answer) {
    post([self, key, serial, kind, answer = std::move(answer)] {
      auto server = self.lock();
      if (!server) return;
      auto it = server->pending_.find(key);
      // Answered already (cancelled, superseded, content modified).
      if (it == server->pending_.end() || it->second->serial != serial) return;
      Reply reply = std::move(it->second->reply);
      server->pending_.erase(it);
      if (answer.cancelled) reply.error(ErrorCode::kRequestCancelled, "request cancelled");
      else if (!answer.ok) reply.error(answer.error, answer.message);
      else if (kind == CompletionKind::kInline) reply.result(inline_completion_json(answer.items));
      else reply.result(completion_list_json(answer.items));
    });
  });
}

void LspServer::on_stats(const json&, Reply reply) {
  ServiceStats s = service_.stats();
  json result = {{"requests", s.requests},
                {"answered", s.answered},
                {"fromTypeahead", s.from_typeahead},
                {"cancelled", s.cancelled},
                {"deadline", s.deadline},
                {"errors", s.errors},
                {"busy", s.busy},
                {"tokens", s.tokens},
                {"syntaxRetried", s.syntax_retried},
                {"syntaxReplaced", s.syntax_replaced}};
  if (options_.access) {
    AccessStats a = options_.access->stats();
    result["access"] = {{"authFailures", a.auth_failures},     {"rejectedConnections", a.rejected_connections},
                        {"rateLimited", a.rate_limited},       {"evictions", a.evictions},
                        {"timeouts", a.timeouts},              {"openConnections", a.open_connections}};
  }
  reply.result(std::move(result));
}

}  // namespace mtpc::lsp
