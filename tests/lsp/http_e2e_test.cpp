// The HTTP API through the real binary: `mtpc serve --http 127.0.0.1:0` with
// the fixture model, driven by curl, promtool, python3 sockets (slow client),
// the openai npm client and, beside it, the Node LSP client over TCP.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/test_util.h"
#include "lsp/http_serve.h"
#include "lsp/server_fixture.h"
#include "lsp/server_process.h"

namespace mtpc::lsp_testing {
namespace {

using json = nlohmann::json;
using mtpc::testing::CommandResult;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;

// The texts of an SSE body's events, and whether it ended with [DONE].
std::pair<std::vector<json>, bool> sse_events(const std::string& body) {
  std::vector<json> events;
  bool done = false;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    if (end == std::string::npos) break;
    const std::string data = body.substr(at + 6, end - at - 6);
    at = end + 2;
    if (data == "[DONE]") done = true;
    else events.push_back(json::parse(data));
  }
  return {events, done};
}

TEST(HttpServe, CurlHealthCompletionsInfillAndPromtoolMetrics) {
  HttpServe s;
  auto health = s.curl("/health");
  EXPECT_EQ(health.first, 200);
  EXPECT_EQ(json::parse(health.second), json({{"status", "ok"}}));

  auto done = s.post("/v1/completions", R"({"model":"any","prompt":"def add(a, b):\n    return","max_tokens":8,"temperature":0})");
  ASSERT_EQ(done.first, 200) << done.second;
  json j = json::parse(done.second);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "any");
  EXPECT_TRUE(j["choices"][0]["text"].is_string());
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);

  auto infill = s.post("/infill", R"({"input_prefix":"def f(x):\n    return ","input_suffix":"\n","n_predict":6})");
  ASSERT_EQ(infill.first, 200) << infill.second;
  EXPECT_EQ(json::parse(infill.second)["stop"], true);

  auto metrics = s.curl("/metrics");
  ASSERT_EQ(metrics.first, 200);
  const std::string file = s.dir() / "metrics.txt";
  mtpc::testing::write_file(file, metrics.second);
  ASSERT_EQ(run_command("command -v promtool").exit_code, 0) << "promtool is not installed: run scripts/setup";
  CommandResult check = run_command("promtool check metrics < " + quoted(file));
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << metrics.second;
  for (const char* name :
       {"mtpc_request_duration_seconds_bucket{endpoint=\"/v1/completions\",outcome=\"ok\",le=\"+Inf\"} 1",
        "mtpc_requests_total{endpoint=\"/infill\",outcome=\"ok\"} 1", "# TYPE mtpc_time_to_first_token_seconds histogram",
        "# TYPE mtpc_queue_wait_seconds histogram", "mtpc_queue_depth ", "mtpc_running_sequences 0",
        "mtpc_generation_tokens_total ", "mtpc_forward_passes_total ", "mtpc_spec_decode_num_draft_tokens_total ",
        "mtpc_spec_decode_num_accepted_tokens_total ", "mtpc_spec_decode_num_accepted_tokens_per_pos_total{position=\"1\"}",
        "mtpc_spec_decode_context_draft_tokens_total ", "mtpc_spec_decode_context_accepted_tokens_total ",
        "# TYPE mtpc_typeahead_hits_total counter", "# TYPE mtpc_cancellations_total counter",
        "# TYPE mtpc_auth_failures_total counter", "# TYPE mtpc_evictions_total counter",
        // The access numbers (AccessControl's, by transport), present at 0.
        "mtpc_auth_failures_total{transport=\"lsp\"} 0", "mtpc_rejected_connections_total{transport=\"http\"} 0",
        "mtpc_rejected_connections_total{transport=\"lsp\"} 0",
        "mtpc_rate_limited_requests_total{transport=\"http\"} 0",
        "mtpc_connection_timeouts_total{transport=\"http\"} 0", "mtpc_evictions_total{what=\"document\"} 0",
        "# TYPE mtpc_open_connections gauge", "mtpc_open_connections{transport=\"lsp\"} 0"})
    EXPECT_NE(metrics.second.find(name), std::string::npos) << name << "\n" << metrics.second;
}

TEST(HttpServe, ErrorsAreJsonWithTheRightStatus) {
  HttpServe s({"--max-body-bytes", "4096"});
  auto bad = s.post("/v1/completions", "{not json");
  EXPECT_EQ(bad.first, 400);
  EXPECT_EQ(json::parse(bad.second)["error"]["type"], "invalid_request_error");
  auto field = s.post("/v1/completions", R"({"prompt":"a","temperature":"warm"})");
  EXPECT_EQ(field.first, 400);
  EXPECT_NE(field.second.find("temperature"), std::string::npos) << field.second;
  auto big = s.post("/v1/completions", R"({"prompt":")" + std::string(10000, 'a') + R"("})");
  EXPECT_EQ(big.first, 413) << big.second;
  EXPECT_NE(big.second.find("larger than 4096"), std::string::npos) << big.second;
  auto missing = s.curl("/nowhere");
  EXPECT_EQ(missing.first, 404);
  EXPECT_EQ(json::parse(missing.second)["error"]["type"], "not_found_error");
  EXPECT_EQ(s.curl("/health", "-X POST").first, 405);
  EXPECT_EQ(s.curl("/v1/completions").first, 405);
  auto header = s.curl("/health", "-H " + quoted("X-Big: " + std::string(20000, 'h')));
  EXPECT_EQ(header.first, 431) << header.second;
  // The server still answers after all that.
  EXPECT_EQ(s.curl("/health").first, 200);
}

TEST(HttpServe, StreamedTextEqualsPlainAndGreedyEqualsMtpcComplete) {
  HttpServe s;
  const std::string prompt = "import os\n\ndef main():\n    ";
  const std::string params = R"("prompt":)" + json(prompt).dump() + R"(,"max_tokens":12,"temperature":0)";
  auto plain = s.post("/v1/completions", "{" + params + "}");
  ASSERT_EQ(plain.first, 200) << plain.second;
  const std::string text = json::parse(plain.second)["choices"][0]["text"];
  auto streamed = s.post("/v1/completions", "{" + params + R"(,"stream":true})");
  ASSERT_EQ(streamed.first, 200);
  auto [events, done] = sse_events(streamed.second);
  EXPECT_TRUE(done) << streamed.second;
  std::string joined;
  for (const json& e : events) joined += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(joined, text);
  EXPECT_FALSE(text.empty());

  CommandResult complete = run_command(quoted(kBinary) + " complete --model " + quoted(random_model_dir()) +
                                       " --prompt " + quoted(prompt) + " --max-new-tokens 12 --mode greedy --json");
  ASSERT_EQ(complete.exit_code, 0) << complete.output;
  const size_t brace = complete.output.find('{');
  ASSERT_NE(brace, std::string::npos) << complete.output;
  EXPECT_EQ(json::parse(complete.output.substr(brace))["completion"], text);

  // /infill streamed: llama.cpp's events, the last one with stop true.
  auto infill = s.post("/infill", R"({"input_prefix":"def f(x):\n    ","input_suffix":"\n","n_predict":5,"stream":true})");
  ASSERT_EQ(infill.first, 200);
  auto [ievents, idone] = sse_events(infill.second);
  ASSERT_FALSE(ievents.empty()) << infill.second;
  EXPECT_EQ(ievents.back()["stop"], true);
  EXPECT_FALSE(idone);
}

TEST(HttpServe, LargePromptWithExpectContinue) {
  HttpServe s;
  // curl sends "Expect: 100-continue" for bodies over 1 KiB and waits for the
  // server's 100 before sending the body.
  const std::string prompt = std::string(3000, '#') + "\ndef f():\n    ";
  const std::string file = s.dir() / "big.json";
  mtpc::testing::write_file(file, R"({"prompt":)" + json(prompt).dump() + R"(,"max_tokens":4,"temperature":0})");
  CommandResult r = run_command("curl -s -v --max-time 60 -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' "
                                "--expect100-timeout 30 --data-binary @" + quoted(file) + " " +
                                quoted(s.url("/v1/completions")));
  EXPECT_NE(r.output.find("HTTP/1.1 100 Continue"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("200"), std::string::npos) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(HttpServe, SlowClientIsDroppedAndOthersAreServed) {
  HttpServe s({"--http-read-timeout-ms", "1000"});
  // A client that sends one byte every 200 ms would need 8 s for its request
  // line and headers; the server must close the connection before it is done.
  const std::string script =
      "import socket, sys, time\n"
      "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
      "req = b'POST /v1/completions HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'\n"
      "req = req + b' ' * (40 - len(req))\n"
      "for i, b in enumerate(req):\n"
      "    try:\n"
      "        s.send(bytes([b]))\n"
      "        s.settimeout(0.2)\n"
      "        if s.recv(1) == b'':\n"
      "            print('dropped after', i + 1, 'bytes'); sys.exit(0)\n"
      "    except socket.timeout:\n"
      "        pass\n"
      "    except (BrokenPipeError, ConnectionResetError):\n"
      "        print('dropped after', i + 1, 'bytes'); sys.exit(0)\n"
      "print('never dropped'); sys.exit(1)\n";
  const std::string file = s.dir() / "slow.py";
  mtpc::testing::write_file(file, script);
  CommandResult r = run_command("timeout 60 python3 " + quoted(file) + " " + std::to_string(s.port()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("dropped after"), std::string::npos) << r.output;
  EXPECT_EQ(s.curl("/health").first, 200);
}

TEST(HttpServe, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpServe s;
  // curl reuses the connection for URLs given together; -w prints each status.
  CommandResult r = run_command("curl -s --max-time 60 -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\\n' " +
                                quoted(s.url("/health")) + " " + quoted(s.url("/metrics")) + " " + quoted(s.url("/health")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "200 1\n200 0\n200 0\n");
}

// --tokens with --http: the generation endpoints want `Authorization: Bearer`
// with a token of the tokens file; /health and /metrics stay open; failures
// are counted. Without tokens a non-loopback --http is refused.
TEST(HttpServe, BearerTokenFromTheTokensFile) {
  TempDir tokens_dir;
  const std::string tokens = tokens_dir / "tokens";
  CommandResult added = run_command(quoted(kBinary) + " token add alice --tokens " + quoted(tokens));
  ASSERT_EQ(added.exit_code, 0) << added.output;
  const std::string token = added.output.substr(0, added.output.find('\n'));
  ASSERT_EQ(token.rfind("mtpc_", 0), 0u) << added.output;

  HttpServe s({"--tokens", tokens});
  ASSERT_GT(s.port(), 0);
  const std::string file = s.dir() / "request.json";
  mtpc::testing::write_file(file, R"({"prompt":"def f(x):\n    return ","max_tokens":4,"temperature":0})");
  auto post_with = [&](const std::string& header) {
    return s.curl("/v1/completions", "-X POST -H 'Content-Type: application/json' " + header +
                                         " --data-binary @" + quoted(file));
  };
  auto none = post_with("");
  EXPECT_EQ(none.first, 401) << none.second;
  EXPECT_NE(none.second.find("Bearer"), std::string::npos) << none.second;
  EXPECT_EQ(post_with("-H 'Authorization: Bearer mtpc_wrong'").first, 401);
  EXPECT_EQ(post_with("-H 'Authorization: Basic " + token + "'").first, 401);
  auto ok = post_with("-H 'Authorization: Bearer " + token + "'");
  EXPECT_EQ(ok.first, 200) << ok.second;
  EXPECT_EQ(s.curl("/health").first, 200);
  auto metrics = s.curl("/metrics");
  EXPECT_EQ(metrics.first, 200);
  EXPECT_NE(metrics.second.find("mtpc_auth_failures_total{transport=\"http\"} 3"), std::string::npos)
      << metrics.second;
  // The token never reaches the log.
  EXPECT_EQ(mtpc::testing::read_file(s.log()).find(token), std::string::npos);

  CommandResult open = run_command(quoted(kBinary) + " serve --http 0.0.0.0:0");
  EXPECT_EQ(open.exit_code, 2) << open.output;
  EXPECT_NE(open.output.find("--insecure-no-auth"), std::string::npos) << open.output;
}

TEST(HttpServe, OpenAiNpmClientPlainAndStreamed) {
  // Like the Node client test: a missing npm fails, it never skips.
  if (!MTPC_E2E_OPENAI_REQUIRED) FAIL() << "npm was not found at configure time (scripts/setup installs Node and npm)";
  const std::string modules = std::string(MTPC_E2E_OPENAI_DIR) + "/node_modules";
  ASSERT_TRUE(std::filesystem::exists(modules + "/openai")) << "npm ci failed at configure time: " << modules;
  HttpServe s;
  CommandResult r = run_command("NODE_PATH=" + quoted(modules) + " timeout 120 node " +
                                quoted(std::string(MTPC_E2E_DIR) + "/openai/client.js") + " " + quoted(s.url("/v1")) +
                                " " + quoted("def add(a, b):\n    return") + " 10");
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nserver log:\n" << mtpc::testing::read_file(s.log());
  EXPECT_NE(r.output.find("\"plain\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"refused\":400"), std::string::npos) << r.output;
}

TEST(HttpServe, LspOverTcpAndHttpTogetherShareOneRegistry) {
  const std::string node_modules = std::string(MTPC_E2E_NODE_DIR) + "/node_modules";
  ASSERT_TRUE(std::filesystem::exists(node_modules + "/vscode-jsonrpc"))
      << "the Node LSP client's npm ci failed at configure time: " << node_modules;
  HttpServe s({"--listen", "127.0.0.1:0"});
  const int lsp_port = wait_for_port(s.log(), " listening on 127.0.0.1:");
  ASSERT_GT(lsp_port, 0) << mtpc::testing::read_file(s.log());
  // HTTP requests while the LSP client completes.
  std::thread http([&s] {
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(s.post("/v1/completions", R"({"prompt":"x = ","max_tokens":6,"temperature":0})").first, 200);
  });
  CommandResult r = run_command("NODE_PATH=" + quoted(node_modules) + " timeout 120 node " +
                                quoted(std::string(MTPC_E2E_DIR) + "/node/client.js") + " 127.0.0.1 " +
                                std::to_string(lsp_port));
  http.join();
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nserver log:\n" << mtpc::testing::read_file(s.log());
  const std::string metrics = s.curl("/metrics").second;
  EXPECT_NE(metrics.find("mtpc_requests_total{endpoint=\"lsp\",outcome=\"ok\"}"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("mtpc_requests_total{endpoint=\"/v1/completions\",outcome=\"ok\"} 5\n"), std::string::npos)
      << metrics;
}

// The value of an unlabelled series in a /metrics body (-1: absent).
double metric(const std::string& body, const std::string& name) {
  const size_t at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + name.size() + 2));
}

// `count` POSTs of `body` at once (curl in the background); their status
// codes in order, and writes each answer to DIR/answerN.
std::vector<int> concurrent_posts(const HttpServe& s, const std::string& path, const std::string& body, int count) {
  const std::string file = s.dir() / "concurrent.json";
  mtpc::testing::write_file(file, body);
  std::string script;
  for (int i = 0; i < count; ++i)
    script += "curl -s --max-time 120 -o " + quoted(s.dir() / ("answer" + std::to_string(i))) +
              " -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @" + quoted(file) + " " +
              quoted(s.url(path)) + " > " + quoted(s.dir() / ("code" + std::to_string(i))) + " & ";
  run_command("sh -c " + quoted(script + "wait"));
  std::vector<int> codes;
  for (int i = 0; i < count; ++i) {
    const std::string c = mtpc::testing::read_file(s.dir() / ("code" + std::to_string(i)));
    codes.push_back(c.empty() ? 0 : std::atoi(c.c_str()));
  }
  return codes;
}

// HTTP requests decode through the scheduler with each other: every one
// gets what it gets alone, and the scheduler's gauges and counts add up.
TEST(HttpServe, ConcurrentRequestsBatchAndGetWhatTheyGetAlone) {
  HttpServe s({"--max-batch", "4", "--max-connections-per-user", "0"});
  const std::string body = R"({"prompt":"def add(a, b):\n    ","max_tokens":24,"temperature":0})";
  auto alone = s.post("/v1/completions", body);
  ASSERT_EQ(alone.first, 200) << alone.second;
  const std::string text = json::parse(alone.second)["choices"][0]["text"];
  // More than the service's 16 HTTP sessions: some requests share one and
  // wait for it.
  const int n = 20;
  std::vector<int> codes = concurrent_posts(s, "/v1/completions", body, n);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(codes[i], 200) << i << ": " << mtpc::testing::read_file(s.dir() / ("answer" + std::to_string(i)));
    EXPECT_EQ(json::parse(mtpc::testing::read_file(s.dir() / ("answer" + std::to_string(i))))["choices"][0]["text"],
              text)
        << "request " << i;
  }
  const std::string m = s.curl("/metrics").second;
  EXPECT_EQ(metric(m, "mtpc_batch_size_count"), n + 1) << m;
  EXPECT_GE(metric(m, "mtpc_batch_size_sum"), n + 1) << m;
  EXPECT_EQ(metric(m, "mtpc_queue_wait_seconds_count"), n + 1) << m;
  EXPECT_EQ(metric(m, "mtpc_running_sequences"), 0) << m;
  EXPECT_EQ(metric(m, "mtpc_queue_depth"), 0) << m;
}

// SIGTERM with HTTP requests under way: each gets an answer (200, or 503
// when the drain refused or cut it), and the server ends with 0.
TEST(HttpServe, SigtermDrainsHttpRequestsAndExitsZero) {
  for (const char* grace : {"60", "0"}) {
    HttpServe s({"--max-batch", "1", "--drain-grace-s", grace});
    const std::string file = s.dir() / "long.json";
    mtpc::testing::write_file(file, R"({"prompt":"x = ","max_tokens":200,"temperature":0})");
    const int n = 6;
    std::string script;
    for (int i = 0; i < n; ++i)
      script += "curl -s --max-time 120 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' "
                "--data-binary @" + quoted(file) + " " +
                quoted(s.url("/v1/completions")) + " > " + quoted(s.dir() / ("code" + std::to_string(i))) + " & ";
    std::thread clients([&] { run_command("sh -c " + quoted(script + "wait")); });
    // Bounded: until every request is in (decoding or queued), or long
    // enough that all have connected (they may be done by then).
    for (int i = 0; i < 200; ++i) {
      const std::string m = s.curl("/metrics").second;
      if (metric(m, "mtpc_running_sequences") + metric(m, "mtpc_queue_depth") >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    s.process().terminate();
    clients.join();
    for (int i = 0; i < n; ++i) {
      const std::string c = mtpc::testing::read_file(s.dir() / ("code" + std::to_string(i)));
      EXPECT_TRUE(c == "200" || c == "503") << "grace " << grace << ", request " << i << ": '" << c << "'";
    }
    EXPECT_EQ(s.process().wait(std::chrono::seconds(60)), 0);
    const std::string log = mtpc::testing::read_file(s.log());
    EXPECT_NE(log.find("draining"), std::string::npos) << log;
    if (std::string(grace) == "60")
      EXPECT_NE(log.find("drained: every admitted request answered"), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace mtpc::lsp_testing
