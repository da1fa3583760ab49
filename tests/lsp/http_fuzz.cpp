// libFuzzer target: arbitrary bytes as an HTTP connection would deliver
// them, through Beast's request parser (with the server's header and body
// limits) into HttpApi's dispatch, its auth hook and generation. The real
// HttpApi, CompletionService, generate_text and metrics run; only the model
// is a torch-free stand-in that repeats the prompt's bytes (streaming them,
// honouring max tokens and cancellation). Checks: every parsed request gets
// exactly one answer, with a known status, and error bodies are JSON.
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
        r.status != 503)
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
  void wait() { done_.get_future().wait(); }

 private:
  std::mutex mu_;
  std::promise<void> done_;
  bool began_ = false;
  int answers_ = 0;
  std::shared_ptr<CancellationToken> cancel_ = std::make_shared<CancellationToken>();
};

struct Harness {
  Logger log;
  ServerMetrics metrics;
  CompletionService service;
  HttpApi api;
  static HttpApiOptions options() {
    HttpApiOptions o;
    o.max_tokens_limit = 64;
    o.deadline_ms = 1000;
    // The auth path: requests whose Authorization is not this are refused.
    o.authenticate = [](const std::string& header) {
      return header == "Bearer fuzz" ? AuthDecision{true, ""} : AuthDecision{false, "bad token"};
    };
    return o;
  }
  Harness()
      : service([](const std::string&) -> Result<std::unique_ptr<completion::CompletionModel>> {
          return std::unique_ptr<completion::CompletionModel>(new RepeatModel());
        }, log),
        api(service, metrics, options()) {
    log.open_file("/dev/null");
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
    auto exchange = std::make_shared<CheckedExchange>();
    h->api.handle(std::move(r), exchange);
    exchange->wait();
  }
  (void)h->metrics.render();
  return 0;
}
