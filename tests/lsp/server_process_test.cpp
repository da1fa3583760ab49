// The real `mtpc serve` driven as editors drive it: typed-ahead answers,
// several TCP clients at once, `mtpc complete FILE:LINE:COL`, `mtpc bench lsp`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/test_util.h"
#include "lsp/framing.h"
#include "lsp/server_fixture.h"
#include "lsp/serve_benchmark.h"
#include "lsp/server_process.h"

namespace mtpc::lsp_testing {
namespace {

using nlohmann::json;
using mtpc::testing::CommandResult;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
constexpr auto kWait = std::chrono::seconds(60);

json request(int64_t id, const std::string& method, const json& params) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}
json notification(const std::string& method, const json& params) {
  return {{"jsonrpc", "2.0"}, {"method", method}, {"params", params}};
}
json reply_to(lsp::ServerProcess& s, int64_t id) {
  for (;;) {
    auto m = s.receive(kWait);
    if (!m) return json();
    if (m->is_object() && m->value("id", json()) == id) return *m;
  }
}
json inline_at(const std::string& uri, int64_t line, int64_t character) {
  return {{"textDocument", {{"uri", uri}}}, {"position", {{"line", line}, {"character", character}}}};
}

TEST(ServerProcess, TypedAheadIsAnsweredFromTheShownCompletion) {
  auto spawned = lsp::ServerProcess::spawn({kBinary, "serve", "--model", repeating_model_dir('x'), "--deadline-ms", "10000"});
  ASSERT_TRUE(spawned.ok());
  auto& s = **spawned;
  ASSERT_TRUE(s.send(request(1, "initialize", {{"capabilities", {{"general", {{"positionEncodings", {"utf-8"}}}}}}})).ok());
  EXPECT_TRUE(reply_to(s, 1).contains("result"));
  // Plain text and no FIM: the completion runs to max tokens (12 x's).
  s.send(notification("workspace/didChangeConfiguration", {{"settings", {{"mtpc", {{"maxTokens", 12}}}}}}));
  const std::string uri = "file:///t.txt";
  std::string text = "the quick brown fox ";
  s.send(notification("textDocument/didOpen",
                      {{"textDocument", {{"uri", uri}, {"languageId", "plaintext"}, {"version", 1}, {"text", text}}}}));
  s.send(request(2, "textDocument/inlineCompletion", inline_at(uri, 0, static_cast<int64_t>(text.size()))));
  json first = reply_to(s, 2);
  ASSERT_TRUE(first.contains("result")) << first.dump();
  auto items = first["result"]["items"];
  ASSERT_EQ(items.size(), 1u) << first.dump();
  const std::string shown = items[0]["insertText"];
  ASSERT_EQ(shown, std::string(12, 'x')) << "the fixture model repeats 'x' up to maxTokens";
  // Type its first character, as the user accepting it letter by letter.
  json at = {{"line", 0}, {"character", text.size()}};
  json change = {{"range", {{"start", at}, {"end", at}}}, {"text", shown.substr(0, 1)}};
  s.send(notification("textDocument/didChange", {{"textDocument", {{"uri", uri}, {"version", 2}}},
                                                 {"contentChanges", json::array({change})}}));
  s.send(request(3, "textDocument/inlineCompletion", inline_at(uri, 0, static_cast<int64_t>(text.size() + 1))));
  json second = reply_to(s, 3);
  ASSERT_EQ(second["result"]["items"].size(), 1u) << second.dump();
  EXPECT_EQ(second["result"]["items"][0]["insertText"], shown.substr(1));
  EXPECT_EQ(second["result"]["items"][0]["range"]["start"], (json{{"line", 0}, {"character", text.size() + 1}}));
  s.send(request(4, "mtpc/stats", json::object()));
  json stats = reply_to(s, 4);
  EXPECT_EQ(stats["result"]["fromTypeahead"], 1) << stats.dump();
  EXPECT_EQ(stats["result"]["requests"], 2);
  s.send(request(5, "shutdown", nullptr));
  reply_to(s, 5);
  s.send(notification("exit", nullptr));
  EXPECT_EQ(s.wait(kWait), 0);
}

// A completion that breaks the syntax around the cursor makes the server
// (through its scheduler) and `mtpc complete` (directly) decode the same
// alternatives; the fixture only ever writes 'x', so none fits and both
// answer with the greedy text after the same number of retries.
TEST(ServerProcess, SyntaxRetriesRunThroughTheSchedulerAsInTheCore) {
  TempDir dir;
  const std::string text = "def f(a):\n    \n        return a\n";
  write_file(dir / "f.py", text);
  CommandResult cli = run_command(quoted(kBinary) + " complete --model " + quoted(repeating_model_dir('x')) + " " +
                                  quoted(dir / "f.py") + ":2:5 --json --deadline-ms 20000 --max-tokens 12");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  json c = json::parse(cli.output.substr(cli.output.find('{')));
  EXPECT_EQ(c["completion"], std::string(12, 'x'));
  EXPECT_EQ(c["syntax_retries"], 4) << c.dump();
  EXPECT_EQ(c["from_retry"], false);

  auto spawned = lsp::ServerProcess::spawn(
      {kBinary, "serve", "--model", repeating_model_dir('x'), "--deadline-ms", "20000", "--max-tokens", "12"});
  ASSERT_TRUE(spawned.ok());
  auto& s = **spawned;
  ASSERT_TRUE(s.send(request(1, "initialize", {{"capabilities", {{"general", {{"positionEncodings", {"utf-8"}}}}}}})).ok());
  EXPECT_TRUE(reply_to(s, 1).contains("result"));
  const std::string uri = "file:///f.py";
  s.send(notification("textDocument/didOpen",
                      {{"textDocument", {{"uri", uri}, {"languageId", "python"}, {"version", 1}, {"text", text}}}}));
  s.send(request(2, "textDocument/inlineCompletion", inline_at(uri, 1, 4)));
  json reply = reply_to(s, 2);
  ASSERT_EQ(reply["result"]["items"].size(), 1u) << reply.dump();
  EXPECT_EQ(reply["result"]["items"][0]["insertText"], c["completion"]);
  // Without retries (the client's setting): the same text, nothing retried.
  s.send(notification("workspace/didChangeConfiguration", {{"settings", {{"mtpc", {{"syntaxRetries", 0}}}}}}));
  s.send(notification("textDocument/didChange",
                      {{"textDocument", {{"uri", uri}, {"version", 2}}},
                       {"contentChanges", json::array({{{"text", text + "\n"}}})}}));
  s.send(request(3, "textDocument/inlineCompletion", inline_at(uri, 1, 4)));
  json again = reply_to(s, 3);
  ASSERT_EQ(again["result"]["items"].size(), 1u) << again.dump();
  EXPECT_EQ(again["result"]["items"][0]["insertText"], c["completion"]);
  s.send(request(4, "mtpc/stats", json::object()));
  json stats = reply_to(s, 4)["result"];
  EXPECT_EQ(stats["requests"], 2) << stats.dump();
  EXPECT_EQ(stats["answered"], 2) << stats.dump();
  EXPECT_EQ(stats["syntaxRetried"], 1) << stats.dump();
  EXPECT_EQ(stats["syntaxReplaced"], 0) << stats.dump();
  s.send(request(5, "shutdown", nullptr));
  reply_to(s, 5);
  s.send(notification("exit", nullptr));
  EXPECT_EQ(s.wait(kWait), 0);
}

// A minimal blocking LSP client over a TCP socket.
class TcpClient {
 public:
  explicit TcpClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{60, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~TcpClient() { close(fd_); }
  bool connected() const { return connected_; }
  void send(const json& m) {
    std::string bytes = lsp::frame_message(m.dump());
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  json reply(int64_t id) {
    std::vector<json> got;
    lsp::FrameReader reader({}, [&](std::string b) { got.push_back(json::parse(b, nullptr, false)); }, [](const std::string&) {});
    for (;;) {
      for (auto& m : pending_)
        if (m.value("id", json()) == id) return m;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return json();
      reader.feed(std::string_view(buf, static_cast<size_t>(n)));
      for (auto& m : got) pending_.push_back(m);
      got.clear();
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::vector<json> pending_;
};

int port_from_log(const std::string& log) {
  for (int i = 0; i < 600; ++i) {
    std::string text = mtpc::testing::read_file(log);
    size_t at = text.find("listening on 127.0.0.1:");
    if (at != std::string::npos) return std::stoi(text.substr(at + 23));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

TEST(ServerProcess, TcpServesSeveralClientsAtOnce) {
  TempDir dir;
  const std::string log = dir / "serve.log";
  auto server = lsp::ServerProcess::spawn(
      {kBinary, "serve", "--model", random_model_dir(), "--listen", "127.0.0.1:0", "--log", log});
  ASSERT_TRUE(server.ok());
  int port = port_from_log(log);
  ASSERT_GT(port, 0) << mtpc::testing::read_file(log);
  TcpClient a(port), b(port);
  ASSERT_TRUE(a.connected());
  ASSERT_TRUE(b.connected());
  for (TcpClient* c : {&a, &b}) c->send(request(1, "initialize", {{"capabilities", json::object()}}));
  EXPECT_TRUE(a.reply(1).contains("result"));
  EXPECT_TRUE(b.reply(1).contains("result"));
  // The same URI in both clients: each has its own document.
  a.send(notification("textDocument/didOpen",
                      {{"textDocument", {{"uri", "file:///same.py"}, {"languageId", "python"}, {"version", 1}, {"text", "x = 1\n"}}}}));
  b.send(notification("textDocument/didOpen",
                      {{"textDocument", {{"uri", "file:///same.py"}, {"languageId", "python"}, {"version", 1}, {"text", "a\nb\nc\nd = "}}}}));
  a.send(request(2, "textDocument/inlineCompletion", inline_at("file:///same.py", 3, 4)));
  b.send(request(2, "textDocument/inlineCompletion", inline_at("file:///same.py", 3, 4)));
  json ra = a.reply(2), rb = b.reply(2);
  EXPECT_EQ(ra["error"]["code"], -32602) << ra.dump();  // a's document has two lines
  EXPECT_TRUE(rb.contains("result")) << rb.dump();
  a.send(request(3, "shutdown", nullptr));
  EXPECT_TRUE(a.reply(3).contains("result"));
  a.send(notification("exit", nullptr));
  // b is still served after a left.
  b.send(request(3, "textDocument/completion", inline_at("file:///same.py", 3, 4)));
  EXPECT_TRUE(b.reply(3).contains("result"));
  (*server)->terminate();
  EXPECT_EQ((*server)->wait(kWait), 0);
  std::string text = mtpc::testing::read_file(log);
  EXPECT_NE(text.find("<-- textDocument/inlineCompletion(2)"), std::string::npos) << text;
  EXPECT_NE(text.find("--> reply(2)"), std::string::npos) << text;
}

TEST(CompleteCommand, CompletesAtFileLineColumn) {
  TempDir dir;
  write_file(dir / "a.py", "import os\n\ndef main():\n    print(\n");
  CommandResult r = run_command(quoted(kBinary) + " complete --model " + quoted(random_model_dir()) + " " +
                                quoted(dir / "a.py") + ":4:11 --json --deadline-ms 10000");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_TRUE(j["completion"].is_string());
  EXPECT_EQ(j["line"], 4);
  EXPECT_EQ(j["column"], 11);
  r = run_command(quoted(kBinary) + " complete --model " + quoted(random_model_dir()) + " " + quoted(dir / "a.py") + ":40:1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("outside the document"), std::string::npos) << r.output;
  r = run_command(quoted(kBinary) + " complete --model " + quoted(random_model_dir()) + " " + quoted(dir / "a.py") + ":x:1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // A directory or a missing file: exit 1, naming the path.
  for (const std::string& bad : {dir.path(), dir / "missing.py"}) {
    r = run_command(quoted(kBinary) + " complete --model " + quoted(random_model_dir()) + " " + quoted(bad) + ":1:1");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(bad + ": does not exist or is not a file"), std::string::npos) << r.output;
  }
}

TEST(BenchLsp, TypedScriptIsTheFileOrTheDefaultCutToMaxKeystrokes) {
  auto whole = lsp::typed_script("", 0);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  EXPECT_EQ(*whole, std::string(lsp::default_typed_script()));
  auto cut = lsp::typed_script("", 5);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(*cut, whole->substr(0, 5));
  mtpc::testing::TempDir dir;
  mtpc::testing::write_file(dir / "typed.py", "x = 1\ny = 2\n");
  auto file = lsp::typed_script(dir / "typed.py", 0);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*file, "x = 1\ny = 2\n");
  EXPECT_EQ(*lsp::typed_script(dir / "typed.py", 3), "x =");
  auto missing = lsp::typed_script(dir / "nowhere.py", 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot read"), std::string::npos) << missing.status().message();
}

TEST(BenchLsp, ReplaysATypingSessionAndPrintsPercentiles) {
  CommandResult r = run_command(quoted(kBinary) + " bench lsp --model " + quoted(random_model_dir()) +
                                " --max-keystrokes 30 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["requests"], 30);
  EXPECT_EQ(j["answered"].get<int64_t>() + j["cancellations"].get<int64_t>(), 30) << j.dump();
  EXPECT_GT(j["answered"].get<int64_t>(), 0);
  EXPECT_LE(j["p50_ms"].get<double>(), j["p95_ms"].get<double>());
  EXPECT_LE(j["p95_ms"].get<double>(), j["p99_ms"].get<double>());
  EXPECT_TRUE(j["machine"].contains("cpu"));
}

// SIGTERM under load: the completions sent before it are each answered once
// (decoded, or -32020 when not yet admitted), and the server ends with 0.
TEST(ServerProcess, SigtermDrainsTcpClientsAndExitsZero) {
  TempDir dir;
  const std::string log = dir / "serve.log";
  auto server = lsp::ServerProcess::spawn({kBinary, "serve", "--model", repeating_model_dir('x'), "--listen",
                                           "127.0.0.1:0", "--log", log, "--deadline-ms", "20000", "--max-batch", "2",
                                           "--drain-grace-s", "60"});
  ASSERT_TRUE(server.ok());
  int port = port_from_log(log);
  ASSERT_GT(port, 0) << mtpc::testing::read_file(log);
  std::vector<std::unique_ptr<TcpClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<TcpClient>(port));
    ASSERT_TRUE(clients.back()->connected());
    TcpClient& c = *clients.back();
    c.send(request(1, "initialize", {{"capabilities", json::object()}}));
    ASSERT_TRUE(c.reply(1).contains("result"));
    c.send(notification("textDocument/didOpen", {{"textDocument", {{"uri", "file:///a.py"}, {"languageId", "python"},
                                                                   {"version", 1}, {"text", "def f():\n    "}}}}));
    for (int id = 2; id < 5; ++id) c.send(request(id, "textDocument/inlineCompletion", inline_at("file:///a.py", 1, 4)));
  }
  (*server)->terminate();
  int answered = 0, busy = 0;
  for (auto& c : clients)
    for (int id = 2; id < 5; ++id) {
      json r = c->reply(id);
      if (r.contains("result")) ++answered;
      else if (r.contains("error") && r["error"]["code"] == -32020) ++busy;
      else if (r.contains("error") && (r["error"]["code"] == -32800 || r["error"]["code"] == -32801)) ++answered;  // superseded
      else ADD_FAILURE() << "request " << id << ": " << r.dump();
    }
  EXPECT_EQ(answered + busy, 12);
  EXPECT_EQ((*server)->wait(kWait), 0);
  std::string text = mtpc::testing::read_file(log);
  EXPECT_NE(text.find("draining"), std::string::npos) << text;
  EXPECT_NE(text.find("drained: every admitted request answered"), std::string::npos) << text;
}

TEST(ServerProcess, SigtermDrainsStdioAndExitsZero) {
  auto spawned = lsp::ServerProcess::spawn({kBinary, "serve", "--model", repeating_model_dir('x'), "--deadline-ms",
                                            "20000", "--drain-grace-s", "60"});
  ASSERT_TRUE(spawned.ok());
  auto& s = **spawned;
  s.send(request(1, "initialize", {{"capabilities", json::object()}}));
  ASSERT_TRUE(reply_to(s, 1).contains("result"));
  s.send(notification("textDocument/didOpen", {{"textDocument", {{"uri", "file:///a.py"}, {"languageId", "python"},
                                                                 {"version", 1}, {"text", "x = "}}}}));
  s.send(request(2, "textDocument/inlineCompletion", inline_at("file:///a.py", 0, 4)));
  s.terminate();
  json r = reply_to(s, 2);
  EXPECT_TRUE(r.contains("result") || (r.contains("error") && r["error"]["code"] == -32020)) << r.dump();
  EXPECT_EQ(s.wait(kWait), 0);
}

TEST(BenchServe, TypistsOverTcpWithAndWithoutBatching) {
  CommandResult r = run_command(quoted(kBinary) + " bench serve --model " + quoted(random_model_dir()) +
                                " --clients 1,3 --max-keystrokes 12 --keystroke-ms 100 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(j["runs"].size(), 4u) << j.dump();
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["requests"], 12 * run["clients"].get<int>()) << run.dump();
    EXPECT_TRUE(run["every_request_answered"].get<bool>()) << run.dump();
    EXPECT_EQ(run["errors"], 0) << run.dump();
    EXPECT_LE(run["p50_ms"].get<double>(), run["p99_ms"].get<double>());
    EXPECT_EQ(run["server_exit_code"], 0) << run.dump();
  }
  EXPECT_EQ(j["gain"].size(), 2u);
  EXPECT_TRUE(j["machine"].contains("cpu"));
  r = run_command(quoted(kBinary) + " bench serve --model " + quoted(random_model_dir()) + " --clients 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("1..256"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace mtpc::lsp_testing
