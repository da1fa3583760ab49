// libFuzzer target: arbitrary bytes as an HTTP connection would deliver
// them, through Beast's request parser (with the server's header and body
// limits) into HttpApi's dispatch, its auth hook and generation. The real
// HttpApi, CompletionService, generate_text and metrics run; only the model
// is a torch-free stand-in that repeats the prompt's bytes (streaming them,
// honouring max tokens and cancellation). Checks: every parsed request gets
// exactly one answer, with a known status, and error bodies are JSON.
// One input in four goes to an API with AccessControl (tokens from a table,
// a small per-user request bucket and one connection per user), so the
// 429 paths and the /metrics copy of the access numbers are fuzzed too.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "lsp/completion_service.h"
#include "lsp/http_api.h"
#include "tests/common/stand_in_tokenizer.h"

namespace mtpc::lsp {
namespace {

namespace http = boost::beast::http;

class RepeatModel final : public completion::CompletionModel {
 public:
  RepeatModel() { tokenizer_.fim = mtpc::testing::byte_psm(); }
  int max_seq_len() const override { return 256; }
  const Tokenizer& tokenizer() const override { return tokenizer_; }
  Result<std::unique_ptr<Sequence>> new_sequence() override { return std::make_unique<Sequence>(); }
  Result<GenerationResult> generate(Sequence&, const GenerationRequest& r) override {
    GenerationResult out;
    for (int i = 0; i < r.max_new_tokens && i < 64; ++i) {
      if (r.cancel && r.cancel->cancelled()) {
        out.reason = StopReason::kCancelled;
        return out;
      }
      int32_t id = r.prompt.empty() ? 'x' : r.prompt[static_cast<size_t>(i) % r.prompt.size()];
      if (id < 0 || id > 255) id = ' ';
      out.tokens.push_back(id);
      out.text.push_back(static_cast<char>(id));
      if (r.on_chunk) r.on_chunk(std::string_view(&out.text.back(), 1));
    }
    out.stats.tokens = static_cast<int64_t>(out.tokens.size());
    out.reason = StopReason::kMaxTokens;
    return out;
  }

 private:
  mtpc::testing::StandInTokenizer tokenizer_;
};

class CheckedExchange : public HttpExchange {
 public:
  void reply(HttpReply r) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (began_ || answers_++ != 0) __builtin_trap();  // exactly one answer
    if (r.status != 200 && r.status != 400 && r.status != 401 && r.status != 404 && r.status != 405 &&
        r.status != 429 && r.status != 503)
      __builtin_trap();
    if (r.status >= 400 && !nlohmann::json::accept(r.body)) __builtin_trap();
    done_.set_value();
  }
  void stream_begin() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (began_ || answers_ != 0) __builtin_trap();
    began_ = true;
  }
  void stream_data(std::string bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!began_ || bytes.rfind("data: ", 0) != 0) __builtin_trap();
  }
  void stream_end() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!began_ || answers_++ != 0) __builtin_trap();
    done_.set_value();
  }
  std::shared_ptr<const CancellationToken> cancel_token() override { return cancel_; }
  // As the server's connection does: one --max-connections-per-user slot,
  // following the user the requests authenticate as.
  bool hold_user(const std::string& user) override {
    if (!access_ || user == *held_) return true;
    if (!access_->admit_user_connection(user, kHttp)) return false;
    if (!held_->empty()) access_->release_user_connection(*held_);
    *held_ = user;
    return true;
  }
  void bind(AccessControl* access, std::string* held) {
    access_ = access;
    held_ = held;
  }
  void wait() { done_.get_future().wait(); }

 private:
  std::mutex mu_;
  std::promise<void> done_;
  bool began_ = false;
  int answers_ = 0;
  std::shared_ptr<CancellationToken> cancel_ = std::make_shared<CancellationToken>();
  AccessControl* access_ = nullptr;
  std::string* held_ = nullptr;
};

struct Harness {
  Logger log;
  ServerMetrics metrics;
  CompletionService service;
  HttpApi api;
  std::shared_ptr<AccessControl> access;
  HttpApi limited;  // the same, behind `access`
  static std::shared_ptr<AccessControl> make_access() {
    AccessLimits limits;
    limits.requests_per_minute = 3;
    limits.max_connections_per_user = 1;
    auto auth = std::make_shared<Authenticator>(std::vector<TokenEntry>{{"fuzz", sha256("fuzz")}});
    return std::make_shared<AccessControl>(limits, auth);
  }
  static HttpApiOptions limited_options(std::shared_ptr<AccessControl> access) {
    HttpApiOptions o = options();
    o.authenticate = [access](const std::string& header) {
      if (header.rfind("Bearer ", 0) != 0) return AuthDecision{false, "no token", ""};
      const std::string token = header.substr(7);
      auto id = access->authenticate(&token, kHttp);
      return id ? AuthDecision{true, "", id->user} : AuthDecision{false, "bad token", ""};
    };
    o.access = access;
    return o;
  }
  static HttpApiOptions options() {
    HttpApiOptions o;
    o.max_tokens_limit = 64;
    o.deadline_ms = 1000;
    // The auth path: requests whose Authorization is not this are refused.
    o.authenticate = [](const std::string& header) {
      return header == "Bearer fuzz" ? AuthDecision{true, "", ""} : AuthDecision{false, "bad token", ""};
    };
    return o;
  }
  Harness()
      : service([](const std::string&) -> Result<std::unique_ptr<completion::CompletionModel>> {
          return std::unique_ptr<completion::CompletionModel>(new RepeatModel());
        }, log),
        api(service, metrics, options()),
        access(make_access()),
        limited(service, metrics, limited_options(access)) {
    log.open_file("/dev/null");
    metrics.watch_access(access);
    service.set_metrics(&metrics);
    (void)service.load_model("fuzz");
  }
};

}  // namespace
}  // namespace mtpc::lsp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtpc::lsp;
  static Harness* h = new Harness();  // one engine thread for the whole run
  // Several requests on one "connection", as keep-alive delivers them.
  boost::asio::const_buffer input(data, size);
  const bool with_access = size % 4 == 3;
  HttpApi& api = with_access ? h->limited : h->api;
  std::string held;  // the connection's user slot
  for (int request = 0; request < 8 && input.size() > 0; ++request) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8192);
    parser.body_limit(65536);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done() && input.size() > 0) {
      const size_t used = parser.put(input, ec);
      input += used;
      if (ec == http::error::need_more) ec = {};
      if (ec || used == 0) break;
    }
    if (ec || !parser.is_done()) break;  // the server answers 400/413/431 and closes
    auto& req = parser.get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    if (auto it = req.find(http::field::authorization); it != req.end()) r.authorization = std::string(it->value());
    r.body = req.body();
    r.peer = "127.0.0.1";
    auto exchange = std::make_shared<CheckedExchange>();
    if (with_access) exchange->bind(h->access.get(), &held);
    api.handle(std::move(r), exchange);
    exchange->wait();
  }
  if (!held.empty()) h->access->release_user_connection(held);
  (void)h->metrics.render();
  return 0;
}
