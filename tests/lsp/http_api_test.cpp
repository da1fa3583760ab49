// The HTTP API in process: request bodies parsed into structs (errors name
// the field), SSE and error formatting, and HttpApi's dispatch (routes,
// methods, auth hook, /health before and after the model loads, completions
// streamed and not) against the real engine with the fixture model.
#include "lsp/http_api.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <nlohmann/json.hpp>

#include "completion/model.h"
#include "lsp/server_fixture.h"

namespace mtpc::lsp {
namespace {

using json = nlohmann::json;

TEST(HttpApiParse, OpenAiCompletionFields) {
  auto p = parse_openai_completion(
      R"({"model":"m","prompt":["def f():"],"suffix":"\n","max_tokens":7,"temperature":0,"top_p":0.5,)"
      R"("stop":["\n\n","x"],"stream":true,"n":1,"echo":false,"logprobs":null,"seed":3,"user":"ignored"})",
      16);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->model, "m");
  EXPECT_EQ(p->prompt, "def f():");
  EXPECT_EQ(p->suffix, std::optional<std::string>("\n"));
  EXPECT_EQ(p->max_tokens, 7);
  EXPECT_EQ(p->temperature, 0);
  EXPECT_EQ(p->top_p, 0.5);
  EXPECT_EQ(p->stop, (std::vector<std::string>{"\n\n", "x"}));
  EXPECT_TRUE(p->stream);
  EXPECT_EQ(p->seed, std::optional<uint64_t>(3));
}

TEST(HttpApiParse, OpenAiDefaults) {
  auto p = parse_openai_completion(R"({"prompt":"a","stop":"\n"})", 16);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_tokens, 16);
  EXPECT_EQ(p->temperature, 1.0);
  EXPECT_FALSE(p->suffix);
  EXPECT_FALSE(p->stream);
  EXPECT_EQ(p->stop, std::vector<std::string>{"\n"});
}

TEST(HttpApiParse, OpenAiErrorsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"{bad", "not valid JSON"},
      {"[1]", "JSON object"},
      {"{}", "prompt is required"},
      {R"({"prompt":5})", "prompt must be"},
      {R"({"prompt":["a","b"]})", "prompt must be"},
      {R"({"prompt":"a","suffix":1})", "suffix must be a string"},
      {R"({"prompt":"a","max_tokens":"9"})", "max_tokens must be an integer"},
      {R"({"prompt":"a","max_tokens":-1})", "max_tokens must be"},
      {R"({"prompt":"a","max_tokens":1.5})", "max_tokens must be an integer"},
      {R"({"prompt":"a","temperature":"hot"})", "temperature must be a number"},
      {R"({"prompt":"a","temperature":3})", "temperature must be between"},
      {R"({"prompt":"a","top_p":0})", "top_p must be"},
      {R"({"prompt":"a","stop":[1]})", "stop must be"},
      {R"({"prompt":"a","stream":"yes"})", "stream must be true or false"},
      {R"({"prompt":"a","n":2})", "n: only 1"},
      {R"({"prompt":"a","echo":true})", "echo is not supported"},
      {R"({"prompt":"a","logprobs":5})", "logprobs is not supported"},
      {R"({"prompt":"a","best_of":3})", "best_of: only 1"},
  };
  for (const auto& [body, expected] : cases) {
    auto p = parse_openai_completion(body, 16);
    ASSERT_FALSE(p.ok()) << body;
    EXPECT_NE(p.status().message().find(expected), std::string::npos) << body << " -> " << p.status().message();
  }
}

TEST(HttpApiParse, InfillFieldsAndErrors) {
  auto p = parse_infill(R"({"input_prefix":"a","input_suffix":"c","prompt":"b","n_predict":5,"stop":"x","stream":true})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->input_prefix, "a");
  EXPECT_EQ(p->input_suffix, "c");
  EXPECT_EQ(p->prompt, "b");
  EXPECT_EQ(p->n_predict, 5);
  EXPECT_EQ(p->temperature, 0);
  EXPECT_TRUE(p->stream);
  auto bad = parse_infill(R"({"input_prefix":3})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("input_prefix must be a string"), std::string::npos);
  EXPECT_FALSE(parse_infill(R"({"n_predict":-2})").ok());
}

TEST(HttpApiFormat, SseErrorBodyAndFinishReason) {
  EXPECT_EQ(sse_event(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(std::string(sse_done()), "data: [DONE]\n\n");
  json e = json::parse(error_body("bad \"x\"", "invalid_request_error"));
  EXPECT_EQ(e["error"]["message"], "bad \"x\"");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(finish_reason("eos"), "stop");
  EXPECT_EQ(finish_reason("stop_string"), "stop");
  EXPECT_EQ(finish_reason("max_tokens"), "length");
  EXPECT_EQ(finish_reason("deadline"), "length");
}

TEST(HttpApiFormat, Utf8WholePrefixHoldsBackACutCharacter) {
  EXPECT_EQ(utf8_whole_prefix("abc"), 3u);
  EXPECT_EQ(utf8_whole_prefix("a\xC3"), 1u);             // first byte of a 2-byte character
  EXPECT_EQ(utf8_whole_prefix("a\xC3\xA9"), 3u);         // é, whole
  EXPECT_EQ(utf8_whole_prefix("a\xE2\x82"), 1u);         // 2 of €'s 3 bytes
  EXPECT_EQ(utf8_whole_prefix("\xF0\x9F\x98"), 0u);     // 3 of an emoji's 4
  EXPECT_EQ(utf8_whole_prefix("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(utf8_whole_prefix("a\x80"), 2u);              // a stray continuation byte: invalid, whole
  EXPECT_EQ(utf8_whole_prefix(""), 0u);
}

// Collects one answer; wait() returns once it is complete.
class RecordingExchange : public HttpExchange {
 public:
  void reply(HttpReply r) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++answers;
    status = r.status;
    body = r.body;
    headers = r.headers;
    close = r.close;
    done_.set_value();
  }
  void stream_begin() override {
    std::lock_guard<std::mutex> lock(mu_);
    streamed = true;
    status = 200;
  }
  void stream_data(std::string bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    body += bytes;
  }
  void stream_end() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++answers;
    done_.set_value();
  }
  std::shared_ptr<const CancellationToken> cancel_token() override { return cancel; }
  bool hold_user(const std::string& user) override {
    held = user;
    return user_slot_free;
  }
  void wait() { done_.get_future().wait(); }

  int status = 0, answers = 0;
  bool streamed = false, close = false;
  bool user_slot_free = true;  // what hold_user answers
  std::string held;            // the user it was asked for
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<CancellationToken> cancel = std::make_shared<CancellationToken>();

 private:
  std::mutex mu_;
  std::promise<void> done_;
};

struct ApiFixture {
  Logger log;
  ServerMetrics metrics;
  CompletionService service;
  HttpApi api;
  explicit ApiFixture(HttpApiOptions options = {})
      : service([](const std::string& dir) { return completion::load_engine_model(dir, EngineOptions{}); }, log),
        api(service, metrics, std::move(options)) {
    log.open_file("/dev/null");
    service.set_metrics(&metrics);
  }
  std::shared_ptr<RecordingExchange> call(const std::string& method, const std::string& target,
                                          const std::string& body = "", const std::string& auth = "") {
    auto x = std::make_shared<RecordingExchange>();
    api.handle(HttpRequest{method, target, auth, body}, x);
    x->wait();
    EXPECT_EQ(x->answers, 1);
    return x;
  }
};

TEST(HttpApiDispatch, RoutesMethodsAndHealthBeforeTheModel) {
  ApiFixture f;
  auto health = f.call("GET", "/health");
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(f.call("POST", "/v1/completions", R"({"prompt":"a"})")->status, 503);
  auto missing = f.call("GET", "/v2/nothing");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["type"], "not_found_error");
  auto wrong = f.call("GET", "/v1/completions");
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->headers, (std::vector<std::pair<std::string, std::string>>{{"Allow", "POST"}}));
  EXPECT_EQ(f.call("DELETE", "/health")->status, 405);
  ASSERT_TRUE(f.service.load_model(lsp_testing::random_model_dir()).ok());
  auto ok = f.call("GET", "/health?verbose=1");
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body), json({{"status", "ok"}}));
}

TEST(HttpApiDispatch, AuthenticationHookGuardsGenerationNotHealthOrMetrics) {
  HttpApiOptions o;
  o.authenticate = [](const std::string& header) {
    return header == "Bearer good" ? AuthDecision{true, ""} : AuthDecision{false, "bad token"};
  };
  ApiFixture f(o);
  ASSERT_TRUE(f.service.load_model(lsp_testing::random_model_dir()).ok());
  auto denied = f.call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":1})", "Bearer bad");
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(json::parse(denied->body)["error"]["message"], "bad token");
  EXPECT_EQ(f.call("POST", "/infill", "{}")->status, 401);
  EXPECT_EQ(f.call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":1})", "Bearer good")->status, 200);
  EXPECT_EQ(f.call("GET", "/health")->status, 200);
  EXPECT_EQ(f.call("GET", "/v1/models", "", "Bearer bad")->status, 401);
  auto models = f.call("GET", "/v1/models", "", "Bearer good");
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "mtpc");
  auto metrics = f.call("GET", "/metrics");
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("mtpc_auth_failures_total{transport=\"http\"} 3\n"), std::string::npos)
      << metrics->body;
}

// With an AccessControl: the authenticated routes take the user's connection
// slot and one request from its bucket (the token's user, else the address).
TEST(HttpApiDispatch, AccessLimitsAnswer429PerUserWithRetryAfter) {
  AccessLimits limits;
  limits.requests_per_minute = 2;
  HttpApiOptions o;
  o.access = std::make_shared<AccessControl>(limits, nullptr);
  ApiFixture f(o);
  auto call = [&f](const std::string& target, const std::string& peer, bool slot_free = true) {
    auto x = std::make_shared<RecordingExchange>();
    x->user_slot_free = slot_free;
    f.api.handle(HttpRequest{"GET", target, "", "", peer}, x);
    x->wait();
    return x;
  };
  EXPECT_EQ(call("/v1/models", "10.0.0.1")->status, 200);
  auto second = call("/v1/models", "10.0.0.1");
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->held, "http:10.0.0.1");
  auto third = call("/v1/models", "10.0.0.1");
  EXPECT_EQ(third->status, 429);
  json error = json::parse(third->body)["error"];
  EXPECT_EQ(error["type"], "rate_limit_error");
  EXPECT_EQ(error["code"], "rate_limit_exceeded");
  ASSERT_EQ(third->headers.size(), 1u);
  EXPECT_EQ(third->headers[0].first, "Retry-After");
  const int seconds = std::stoi(third->headers[0].second);
  EXPECT_GE(seconds, 1);
  EXPECT_LE(seconds, 30);  // one request at 2 a minute
  EXPECT_FALSE(third->close) << "a rate-limited client may keep its connection";
  EXPECT_EQ(call("/v1/models", "10.0.0.2")->status, 200) << "another address, another bucket";
  auto health = call("/health", "10.0.0.1");
  EXPECT_EQ(health->status, 503) << "not limited (the model is not loaded)";
  EXPECT_TRUE(health->held.empty()) << "probes take no user slot";
  auto full = call("/v1/models", "10.0.0.3", false);
  EXPECT_EQ(full->status, 429);
  EXPECT_EQ(json::parse(full->body)["error"]["code"], "too_many_connections");
  EXPECT_TRUE(full->close);
  EXPECT_EQ(o.access->stats(kHttp).rate_limited, 1u);
}

TEST(HttpApiDispatch, CompletionShapeStreamEqualsPlainAndMetricsCount) {
  ApiFixture f;
  ASSERT_TRUE(f.service.load_model(lsp_testing::random_model_dir()).ok());
  const std::string body = R"({"prompt":"def add(a, b):\n    return","max_tokens":9,"temperature":0})";
  auto plain = f.call("POST", "/v1/completions", body);
  ASSERT_EQ(plain->status, 200) << plain->body;
  json j = json::parse(plain->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "mtpc");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  const std::string text = j["choices"][0]["text"];
  const int completion_tokens = j["usage"]["completion_tokens"];
  EXPECT_GT(completion_tokens, 0);
  EXPECT_LE(completion_tokens, 9);
  EXPECT_EQ(j["choices"][0]["finish_reason"], completion_tokens == 9 ? "length" : "stop");

  auto streamed = f.call("POST", "/v1/completions",
                         R"({"prompt":"def add(a, b):\n    return","max_tokens":9,"temperature":0,"stream":true})");
  ASSERT_TRUE(streamed->streamed);
  std::string joined, finish;
  size_t at = 0, events = 0;
  bool done = false;
  while ((at = streamed->body.find("data: ", at)) != std::string::npos) {
    size_t end = streamed->body.find("\n\n", at);
    ASSERT_NE(end, std::string::npos);
    std::string data = streamed->body.substr(at + 6, end - at - 6);
    at = end + 2;
    ++events;
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    json c = json::parse(data);
    joined += c["choices"][0]["text"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done);
  EXPECT_GE(events, 3u);
  EXPECT_EQ(joined, text);
  EXPECT_EQ(finish, j["choices"][0]["finish_reason"]);

  auto infill = f.call("POST", "/infill", R"({"input_prefix":"def f(x):\n    ","input_suffix":"\n","n_predict":4})");
  ASSERT_EQ(infill->status, 200) << infill->body;
  json i = json::parse(infill->body);
  EXPECT_EQ(i["stop"], true);
  EXPECT_LE(i["tokens_predicted"].get<int>(), 4);
  EXPECT_TRUE(i["content"].is_string());

  const std::string m = f.call("GET", "/metrics")->body;
  EXPECT_NE(m.find("mtpc_requests_total{endpoint=\"/v1/completions\",outcome=\"ok\"} 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("mtpc_requests_total{endpoint=\"/infill\",outcome=\"ok\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("mtpc_time_to_first_token_seconds_count{endpoint=\"/v1/completions\"} 1\n"), std::string::npos)
      << m;
  EXPECT_EQ(m.find("mtpc_generation_tokens_total 0\n"), std::string::npos) << m;
  EXPECT_NE(m.find("mtpc_spec_decode_num_accepted_tokens_per_pos_total{position=\"1\"}"), std::string::npos) << m;
}

TEST(HttpApiDispatch, BadRequestsAnswer400NamingTheField) {
  HttpApiOptions o;
  o.max_tokens_limit = 100;
  ApiFixture f(o);
  ASSERT_TRUE(f.service.load_model(lsp_testing::random_model_dir()).ok());
  auto bad = f.call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":"x"})");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(json::parse(bad->body)["error"]["message"].get<std::string>().find("max_tokens"), std::string::npos);
  EXPECT_EQ(f.call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":101})")->status, 400);
  EXPECT_EQ(f.call("POST", "/infill", R"({"n_predict":"many"})")->status, 400);
  EXPECT_EQ(f.call("POST", "/v1/completions", "not json")->status, 400);
}

TEST(HttpApiDispatch, CancelledRequestIsAnsweredOnce) {
  ApiFixture f;
  ASSERT_TRUE(f.service.load_model(lsp_testing::random_model_dir()).ok());
  auto x = std::make_shared<RecordingExchange>();
  x->cancel->cancel();  // the client went away before the engine started
  f.api.handle(HttpRequest{"POST", "/v1/completions", "", R"({"prompt":"a","max_tokens":5})"}, x);
  x->wait();
  EXPECT_EQ(x->answers, 1);
  EXPECT_EQ(x->status, 503);
  EXPECT_NE(f.metrics.render().find("mtpc_cancellations_total{endpoint=\"/v1/completions\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace mtpc::lsp
