#include "lsp/http_api.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace mtpc::lsp {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// The JSON helpers: each names the field in its error.
Status field_error(const std::string& field, const std::string& what) {
  return Status::Error(field + " must be " + what);
}

Result<std::optional<std::string>> opt_string(const json& o, const char* field) {
  auto it = o.find(field);
  if (it == o.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return field_error(field, "a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<int64_t>> opt_int(const json& o, const char* field) {
  auto it = o.find(field);
  if (it == o.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_unsigned()) {
    if (it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return field_error(field, "an integer");
    return std::optional<int64_t>(static_cast<int64_t>(it->get<uint64_t>()));
  }
  if (!it->is_number_integer()) return field_error(field, "an integer");
  return std::optional<int64_t>(it->get<int64_t>());
}

Result<std::optional<double>> opt_number(const json& o, const char* field) {
  auto it = o.find(field);
  if (it == o.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number()) return field_error(field, "a number");
  return std::optional<double>(it->get<double>());
}

Result<std::optional<bool>> opt_bool(const json& o, const char* field) {
  auto it = o.find(field);
  if (it == o.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return field_error(field, "true or false");
  return std::optional<bool>(it->get<bool>());
}

// A string or an array of strings (OpenAI's and llama.cpp's `stop`).
Result<std::vector<std::string>> stop_list(const json& o, const char* field) {
  std::vector<std::string> out;
  auto it = o.find(field);
  if (it == o.end() || it->is_null()) return out;
  if (it->is_string()) {
    if (!it->get<std::string>().empty()) out.push_back(it->get<std::string>());
    return out;
  }
  if (!it->is_array()) return field_error(field, "a string or an array of strings");
  for (const json& s : *it) {
    if (!s.is_string()) return field_error(field, "a string or an array of strings");
    if (!s.get<std::string>().empty()) out.push_back(s.get<std::string>());
  }
  return out;
}

Result<json> parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error("the body is not valid JSON");
  if (!j.is_object()) return Status::Error("the body must be a JSON object");
  return j;
}

#define MTPC_TRY_ASSIGN(var, expr)       \
  auto var##_r = (expr);                 \
  if (!var##_r.ok()) return var##_r.status(); \
  auto var = std::move(*var##_r)

Status check_sampling(double temperature, double top_p) {
  if (!(temperature >= 0 && temperature <= 2)) return field_error("temperature", "between 0 and 2");
  if (!(top_p > 0 && top_p <= 1)) return field_error("top_p", "in (0, 1]");
  return Status::Ok();
}

// An exchange that counts its request in the metrics when it is answered.
class MeteredExchange : public HttpExchange {
 public:
  MeteredExchange(std::shared_ptr<HttpExchange> inner, ServerMetrics& metrics, std::string endpoint)
      : inner_(std::move(inner)), metrics_(metrics), endpoint_(std::move(endpoint)), start_(Clock::now()) {}
  void reply(HttpReply r) override {
    const char* outcome = r.status < 400 ? "ok" : r.status < 500 ? "client_error" : "error";
    record(outcome_override_.empty() ? outcome : outcome_override_);
    inner_->reply(std::move(r));
  }
  void stream_begin() override { inner_->stream_begin(); }
  void stream_data(std::string bytes) override { inner_->stream_data(std::move(bytes)); }
  void stream_end() override {
    record(outcome_override_.empty() ? "ok" : outcome_override_);
    inner_->stream_end();
  }
  std::shared_ptr<const CancellationToken> cancel_token() override { return inner_->cancel_token(); }
  bool hold_user(const std::string& user) override { return inner_->hold_user(user); }
  // "timeout" / "cancelled": set before the answer goes.
  void set_outcome(std::string outcome) { outcome_override_ = std::move(outcome); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  void record(const std::string& outcome) { metrics_.request_done(endpoint_, outcome, seconds()); }
  std::shared_ptr<HttpExchange> inner_;
  ServerMetrics& metrics_;
  std::string endpoint_;
  Clock::time_point start_;
  std::string outcome_override_;
};

HttpReply json_reply(int status, const json& body) {
  HttpReply r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpReply error_reply(int status, const std::string& message, const std::string& type) {
  HttpReply r;
  r.status = status;
  r.body = error_body(message, type);
  return r;
}

// OpenAI's 429 body: {"error":{"message","type":"rate_limit_error","code"}}.
HttpReply rate_limit_reply(const std::string& message, const std::string& code) {
  HttpReply r;
  r.status = 429;
  r.body = json{{"error", {{"message", message}, {"type", "rate_limit_error"}, {"code", code}}}}.dump();
  return r;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Shared by both generation endpoints: the answer for a finished generation
// that failed, or nullopt when it succeeded.
std::optional<HttpReply> failure_reply(const completion::TextGeneration& g) {
  using O = completion::TextGeneration::Outcome;
  switch (g.outcome) {
    case O::kOk: return std::nullopt;
    case O::kInvalidInput: return error_reply(400, g.error, "invalid_request_error");
    case O::kCancelled: return error_reply(503, "the request was cancelled", "cancelled");
    case O::kFailed: return error_reply(500, g.error, "server_error");
  }
  return error_reply(500, "unknown outcome", "server_error");
}

}  // namespace

size_t utf8_whole_prefix(std::string_view s) {
  // Look back at most 3 bytes for the lead byte of a last, unfinished character.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? s.size() - back : s.size();
  }
  return s.size();
}

Result<OpenAiCompletionParams> parse_openai_completion(const std::string& body, int default_max_tokens) {
  MTPC_TRY_ASSIGN(j, parse_object(body));
  OpenAiCompletionParams p;
  MTPC_TRY_ASSIGN(model, opt_string(j, "model"));
  p.model = model.value_or("");
  auto prompt = j.find("prompt");
  if (prompt == j.end() || prompt->is_null()) return Status::Error("prompt is required");
  if (prompt->is_string()) {
    p.prompt = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    p.prompt = (*prompt)[0].get<std::string>();
  } else {
    return field_error("prompt", "a string or an array of one string");
  }
  MTPC_TRY_ASSIGN(suffix, opt_string(j, "suffix"));
  p.suffix = suffix;
  MTPC_TRY_ASSIGN(max_tokens, opt_int(j, "max_tokens"));
  if (max_tokens && (*max_tokens < 0 || *max_tokens > INT32_MAX)) return field_error("max_tokens", "an integer >= 0");
  p.max_tokens = max_tokens ? static_cast<int>(*max_tokens) : default_max_tokens;
  MTPC_TRY_ASSIGN(temperature, opt_number(j, "temperature"));
  p.temperature = temperature.value_or(1.0);
  MTPC_TRY_ASSIGN(top_p, opt_number(j, "top_p"));
  p.top_p = top_p.value_or(1.0);
  if (Status s = check_sampling(p.temperature, p.top_p); !s.ok()) return s;
  MTPC_TRY_ASSIGN(stop, stop_list(j, "stop"));
  p.stop = std::move(stop);
  MTPC_TRY_ASSIGN(stream, opt_bool(j, "stream"));
  p.stream = stream.value_or(false);
  MTPC_TRY_ASSIGN(n, opt_int(j, "n"));
  if (n && *n != 1) return Status::Error("n: only 1 is supported");
  MTPC_TRY_ASSIGN(best_of, opt_int(j, "best_of"));
  if (best_of && *best_of != 1) return Status::Error("best_of: only 1 is supported");
  MTPC_TRY_ASSIGN(echo, opt_bool(j, "echo"));
  if (echo.value_or(false)) return Status::Error("echo is not supported");
  auto logprobs = j.find("logprobs");
  if (logprobs != j.end() && !logprobs->is_null() && !(logprobs->is_number_integer() && logprobs->get<int64_t>() == 0))
    return Status::Error("logprobs is not supported");
  MTPC_TRY_ASSIGN(seed, opt_int(j, "seed"));
  if (seed) p.seed = static_cast<uint64_t>(*seed);
  return p;
}

Result<InfillParams> parse_infill(const std::string& body) {
  MTPC_TRY_ASSIGN(j, parse_object(body));
  InfillParams p;
  MTPC_TRY_ASSIGN(prefix, opt_string(j, "input_prefix"));
  MTPC_TRY_ASSIGN(suffix, opt_string(j, "input_suffix"));
  MTPC_TRY_ASSIGN(prompt, opt_string(j, "prompt"));
  p.input_prefix = prefix.value_or("");
  p.input_suffix = suffix.value_or("");
  p.prompt = prompt.value_or("");
  MTPC_TRY_ASSIGN(n_predict, opt_int(j, "n_predict"));
  if (n_predict && (*n_predict < -1 || *n_predict > INT32_MAX)) return field_error("n_predict", "an integer >= -1");
  p.n_predict = n_predict ? static_cast<int>(*n_predict) : -1;
  MTPC_TRY_ASSIGN(temperature, opt_number(j, "temperature"));
  p.temperature = temperature.value_or(0.0);
  MTPC_TRY_ASSIGN(top_p, opt_number(j, "top_p"));
  p.top_p = top_p.value_or(1.0);
  if (Status s = check_sampling(p.temperature, p.top_p); !s.ok()) return s;
  MTPC_TRY_ASSIGN(stop, stop_list(j, "stop"));
  p.stop = std::move(stop);
  MTPC_TRY_ASSIGN(stream, opt_bool(j, "stream"));
  p.stream = stream.value_or(false);
  MTPC_TRY_ASSIGN(seed, opt_int(j, "seed"));
  if (seed) p.seed = static_cast<uint64_t>(*seed);
  return p;
}

std::string error_body(const std::string& message, const std::string& type) {
  return dump(json{{"error", {{"message", message}, {"type", type}}}});
}

std::string sse_event(const std::string& json_text) { return "data: " + json_text + "\n\n"; }

std::string finish_reason(const std::string& stop_reason) {
  if (stop_reason == "eos" || stop_reason == "stop_string" || stop_reason == "predicate") return "stop";
  return "length";  // max_tokens, deadline, context_full
}

HttpApi::HttpApi(CompletionService& service, ServerMetrics& metrics, HttpApiOptions options)
    : service_(service), metrics_(metrics), options_(std::move(options)) {}

void HttpApi::handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
  std::string path = request.target.substr(0, request.target.find('?'));
  struct Route {
    const char* path;
    const char* method;
    bool authenticated;
  };
  static const Route routes[] = {{"/v1/completions", "POST", true},
                                 {"/infill", "POST", true},
                                 {"/v1/models", "GET", true},
                                 {"/health", "GET", false},
                                 {"/metrics", "GET", false}};
  const Route* route = nullptr;
  for (const Route& r : routes)
    if (path == r.path) route = &r;
  // Unknown paths share one label: the label set stays bounded.
  auto metered = std::make_shared<MeteredExchange>(std::move(exchange), metrics_, route ? route->path : "other");
  if (!route) return metered->reply(error_reply(404, "no such endpoint: " + path, "not_found_error"));
  if (request.method != route->method && !(request.method == "HEAD" && std::string(route->method) == "GET")) {
    HttpReply r = error_reply(405, request.method + " is not allowed on " + path, "invalid_request_error");
    r.headers.emplace_back("Allow", route->method);
    return metered->reply(std::move(r));
  }
  std::string user;
  if (route->authenticated && options_.authenticate) {
    AuthDecision d = options_.authenticate(request.authorization);
    if (!d.ok) {
      metrics_.auth_failure("http");
      HttpReply r = error_reply(401, d.message.empty() ? "unauthorized" : d.message, "authentication_error");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return metered->reply(std::move(r));
    }
    user = d.user;
  }
  if (route->authenticated && options_.access) {
    if (user.empty()) user = "http:" + request.peer;
    if (!metered->hold_user(user)) {
      HttpReply r = rate_limit_reply(
          "too many connections of this user (--max-connections-per-user " +
              std::to_string(options_.access->limits().max_connections_per_user) + ")",
          "too_many_connections");
      r.close = true;
      return metered->reply(std::move(r));
    }
    const auto rate = options_.access->admit_request(user, kHttp);
    if (!rate.allowed) {
      HttpReply r = rate_limit_reply("rate limit reached: " +
                                         metrics::format_value(options_.access->limits().requests_per_minute) +
                                         " requests per minute (--requests-per-minute); retry in " +
                                         std::to_string(rate.retry_after_ms) + " ms",
                                     "rate_limit_exceeded");
      // Whole seconds, rounded up (RFC 9110's delay-seconds).
      r.headers.emplace_back("Retry-After", std::to_string(std::clamp<int64_t>((std::min<int64_t>(rate.retry_after_ms, 86400000) + 999) / 1000, 1, 86400)));
      return metered->reply(std::move(r));
    }
  }
  if (path == "/health") {
    if (service_.model_loaded()) return metered->reply(json_reply(200, {{"status", "ok"}}));
    return metered->reply(json_reply(503, {{"status", "loading"}}));
  }
  if (path == "/metrics") {
    HttpReply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.render();
    return metered->reply(std::move(r));
  }
  if (path == "/v1/models") {
    // OpenAI clients (and editors built on them) list models before using one.
    json model{{"id", options_.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "mtpc"}};
    return metered->reply(json_reply(200, {{"object", "list"}, {"data", json::array({model})}}));
  }
  if (!service_.model_loaded()) return metered->reply(error_reply(503, "the model is still loading", "unavailable_error"));
  if (path == "/v1/completions") return completions(request, metered);
  return infill(request, metered);
}

namespace {

// The state one streamed or plain generation shares between the engine
// thread's callbacks (chunks, then done; never concurrently).
struct Generation {
  std::shared_ptr<MeteredExchange> exchange;
  bool stream = false;
  bool begun = false;
  // Bytes of a UTF-8 character cut by a chunk boundary, held for the next
  // chunk: JSON text must be whole characters, and a character split over two
  // events would turn into two replacement characters.
  std::string pending;
  void begin() {
    if (!begun) exchange->stream_begin();
    begun = true;
  }
  // The text of `chunk` (after what was pending) that ends on a whole character.
  std::string take(std::string_view chunk) {
    pending.append(chunk.data(), chunk.size());
    const size_t whole = utf8_whole_prefix(pending);
    std::string out = pending.substr(0, whole);
    pending.erase(0, whole);
    return out;
  }
};

}  // namespace

void HttpApi::completions(const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
  auto metered = std::static_pointer_cast<MeteredExchange>(exchange);
  auto parsed = parse_openai_completion(request.body, options_.default_max_tokens);
  if (!parsed.ok()) return metered->reply(error_reply(400, parsed.status().message(), "invalid_request_error"));
  OpenAiCompletionParams p = std::move(*parsed);
  if (p.max_tokens > options_.max_tokens_limit)
    return metered->reply(error_reply(400, "max_tokens must be at most " + std::to_string(options_.max_tokens_limit),
                                      "invalid_request_error"));
  completion::TextRequest t;
  t.prefix = std::move(p.prompt);
  t.suffix = std::move(p.suffix);
  t.max_tokens = p.max_tokens;
  t.temperature = p.temperature;
  t.top_p = p.top_p;
  t.seed = p.seed.value_or(0);
  t.stop = std::move(p.stop);
  t.deadline = Clock::now() + std::chrono::milliseconds(options_.deadline_ms);
  t.cancel = metered->cancel_token();

  const std::string id = "cmpl-mtpc-" + std::to_string(next_id_++);
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string model = p.model.empty() ? options_.model_name : p.model;
  auto state = std::make_shared<Generation>();
  state->exchange = metered;
  state->stream = p.stream;
  auto chunk_json = [id, created, model](const std::string& text, const json& finish) {
    return json{{"id", id},
                {"object", "text_completion"},
                {"created", created},
                {"model", model},
                {"choices", json::array({{{"text", text}, {"index", 0}, {"finish_reason", finish}, {"logprobs", nullptr}}})}};
  };
  if (p.stream)
    t.on_chunk = [state, chunk_json](std::string_view chunk) {
      const std::string text = state->take(chunk);
      if (text.empty()) return;
      state->begin();
      state->exchange->stream_data(sse_event(dump(chunk_json(text, nullptr))));
    };
  service_.generate(std::move(t), "/v1/completions", [state, chunk_json](completion::TextGeneration g) {
    if (auto failed = failure_reply(g)) {
      if (g.outcome == completion::TextGeneration::Outcome::kCancelled) state->exchange->set_outcome("cancelled");
      if (!state->begun) return state->exchange->reply(std::move(*failed));
      // Mid-stream: the error as a last event, then the end.
      state->exchange->stream_data(sse_event(failed->body));
      return state->exchange->stream_end();
    }
    if (g.stop_reason == "deadline") state->exchange->set_outcome("timeout");
    const int64_t completion_tokens = g.stats ? g.stats->tokens : 0;
    json usage{{"prompt_tokens", g.prompt_tokens},
               {"completion_tokens", completion_tokens},
               {"total_tokens", g.prompt_tokens + completion_tokens}};
    json last = chunk_json(state->stream ? state->pending : g.text, finish_reason(g.stop_reason));
    last["usage"] = usage;
    if (!state->stream) return state->exchange->reply(json_reply(200, last));
    state->begin();
    state->exchange->stream_data(sse_event(dump(last)));
    state->exchange->stream_data(sse_done());
    state->exchange->stream_end();
  });
}

void HttpApi::infill(const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
  auto metered = std::static_pointer_cast<MeteredExchange>(exchange);
  auto parsed = parse_infill(request.body);
  if (!parsed.ok()) return metered->reply(error_reply(400, parsed.status().message(), "invalid_request_error"));
  InfillParams p = std::move(*parsed);
  const int n_predict = p.n_predict < 0 ? options_.default_max_tokens : p.n_predict;
  if (n_predict > options_.max_tokens_limit)
    return metered->reply(error_reply(400, "n_predict must be at most " + std::to_string(options_.max_tokens_limit),
                                      "invalid_request_error"));
  completion::TextRequest t;
  t.prefix = p.input_prefix + p.prompt;
  t.suffix = p.input_suffix;
  t.max_tokens = n_predict;
  t.temperature = p.temperature;
  t.top_p = p.top_p;
  t.seed = p.seed.value_or(0);
  t.stop = std::move(p.stop);
  t.deadline = Clock::now() + std::chrono::milliseconds(options_.deadline_ms);
  t.cancel = metered->cancel_token();
  auto state = std::make_shared<Generation>();
  state->exchange = metered;
  state->stream = p.stream;
  const std::string model = options_.model_name;
  if (p.stream)
    t.on_chunk = [state](std::string_view chunk) {
      const std::string text = state->take(chunk);
      if (text.empty()) return;
      state->begin();
      state->exchange->stream_data(sse_event(dump(json{{"content", text}, {"stop", false}})));
    };
  service_.generate(std::move(t), "/infill", [state, model](completion::TextGeneration g) {
    if (auto failed = failure_reply(g)) {
      if (g.outcome == completion::TextGeneration::Outcome::kCancelled) state->exchange->set_outcome("cancelled");
      if (!state->begun) return state->exchange->reply(std::move(*failed));
      state->exchange->stream_data(sse_event(failed->body));
      return state->exchange->stream_end();
    }
    if (g.stop_reason == "deadline") state->exchange->set_outcome("timeout");
    // llama.cpp's stop_type: eos | word (a stop string) | limit.
    const std::string stop_type =
        g.stop_reason == "eos" ? "eos" : g.stop_reason == "stop_string" ? "word" : "limit";
    json last{{"content", state->stream ? state->pending : g.text},
              {"stop", true},
              {"model", model},
              {"tokens_predicted", g.stats ? g.stats->tokens : 0},
              {"tokens_evaluated", g.prompt_tokens},
              {"truncated", g.prompt_truncated},
              {"stop_type", stop_type},
              {"stop_reason", g.stop_reason}};
    if (!state->stream) return state->exchange->reply(json_reply(200, last));
    state->begin();
    state->exchange->stream_data(sse_event(dump(last)));
    state->exchange->stream_end();
  });
}

}  // namespace mtpc::lsp
