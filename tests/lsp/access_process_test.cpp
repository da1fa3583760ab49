// The team server's access control through the real binary over TCP and TLS:
// tokens (none, wrong, revoked by SIGHUP, valid), the --listen rules, TLS
// and its mismatches, connection floods, rate and document limits, slow and
// idle clients, oversized messages, and isolation between connections.
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/test_util.h"
#include "lsp/access_client.h"
#include "lsp/server_fixture.h"
#include "lsp/server_process.h"

namespace mtpc::lsp_testing {
namespace {

using nlohmann::json;
using mtpc::testing::read_file;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
constexpr auto kWait = std::chrono::seconds(60);

json request(int64_t id, const std::string& method, const json& params) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}
json notification(const std::string& method, const json& params) {
  return {{"jsonrpc", "2.0"}, {"method", method}, {"params", params}};
}
json initialize(const std::string& token) {
  json p = {{"capabilities", json::object()}};
  if (!token.empty()) p["initializationOptions"] = {{"mtpc", {{"token", token}}}};
  return request(1, "initialize", p);
}
json open_doc(const std::string& uri, const std::string& text) {
  return notification("textDocument/didOpen",
                      {{"textDocument", {{"uri", uri}, {"languageId", "python"}, {"version", 1}, {"text", text}}}});
}
json complete_at(int64_t id, const std::string& uri, int64_t line, int64_t character) {
  return request(id, "textDocument/inlineCompletion",
                 {{"textDocument", {{"uri", uri}}}, {"position", {{"line", line}, {"character", character}}}});
}
int error_code(const json& m) { return m.is_object() && m.contains("error") ? m["error"].value("code", 0) : 0; }

// Waits (bounded) for `text` in the log; the log's text at the end.
std::string wait_for_log(const std::string& log, const std::string& text) {
  std::string got;
  for (int i = 0; i < 300; ++i) {
    got = read_file(log);
    if (got.find(text) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

int port_from_log(const std::string& log) {
  std::string text = wait_for_log(log, "listening on 127.0.0.1:");
  size_t at = text.find("listening on 127.0.0.1:");
  return at == std::string::npos ? -1 : std::stoi(text.substr(at + 23));
}

std::string add_token(const std::string& tokens, const std::string& name) {
  // run_command merges stderr (the notice) into the output: the token is
  // the first line, on stdout.
  auto r = run_command(quoted(kBinary) + " token add " + name + " --tokens " + quoted(tokens));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output.substr(0, r.output.find('\n'));
}

struct Server {
  std::unique_ptr<lsp::ServerProcess> process;
  std::string log;
  int port = -1;
};

Server start(const TempDir& dir, std::vector<std::string> extra) {
  Server s;
  s.log = dir / "serve.log";
  std::vector<std::string> argv = {kBinary, "serve", "--model", random_model_dir(), "--listen", "127.0.0.1:0", "--log", s.log};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = lsp::ServerProcess::spawn(argv);
  EXPECT_TRUE(p.ok());
  if (!p.ok()) return s;
  s.process = std::move(*p);
  s.port = port_from_log(s.log);
  return s;
}

void stop(Server& s) {
  s.process->terminate();
  EXPECT_EQ(s.process->wait(kWait), 0);
}

TEST(AccessProcess, TokensAdmitUsersAndRefuseEveryoneElse) {
  TempDir dir;
  const std::string tokens = dir / "tokens";
  const std::string alice = add_token(tokens, "alice"), bob = add_token(tokens, "bob");
  ASSERT_EQ(alice.rfind("mtpc_", 0), 0u) << alice;
  Server s = start(dir, {"--tokens", tokens, "--read-timeout-s", "2"});
  ASSERT_GT(s.port, 0) << read_file(s.log);

  {  // silent: an unauthenticated connection gets --read-timeout-s, not the idle timeout
    LspClient c(s.port, false);
    EXPECT_TRUE(c.closed_by_server());
  }
  {  // no token: the error, then the close
    LspClient c(s.port, false);
    c.send(initialize(""));
    EXPECT_EQ(error_code(c.reply(1)), -32010);
    EXPECT_TRUE(c.closed_by_server());
  }
  {  // a wrong token
    LspClient c(s.port, false);
    c.send(initialize(alice + "x"));
    EXPECT_EQ(error_code(c.reply(1)), -32010);
    EXPECT_TRUE(c.closed_by_server());
  }
  {  // anything before initialize: refused, nothing else answered
    LspClient c(s.port, false);
    c.send(request(5, "mtpc/stats", json::object()));
    EXPECT_EQ(error_code(c.reply(5)), -32010);
    EXPECT_TRUE(c.closed_by_server());
  }
  {  // a token in the wrong place or of the wrong type
    LspClient c(s.port, false);
    c.send(request(1, "initialize", {{"initializationOptions", {{"mtpc", {{"token", 42}}}, {"token", alice}}}}));
    EXPECT_EQ(error_code(c.reply(1)), -32010);
    EXPECT_TRUE(c.closed_by_server());
  }
  LspClient a(s.port, false), b(s.port, false);
  a.send(initialize(alice));
  b.send(initialize(bob));
  ASSERT_TRUE(a.reply(1).contains("result"));
  ASSERT_TRUE(b.reply(1).contains("result"));
  a.send(open_doc("file:///a.py", "x = 1\ny = "));
  a.send(complete_at(2, "file:///a.py", 1, 4));
  EXPECT_TRUE(a.reply(2).contains("result"));

  // bob removed; the server reloads on SIGHUP.
  auto r = run_command(quoted(kBinary) + " token remove bob --tokens " + quoted(tokens));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(::kill(s.process->pid(), SIGHUP), 0);
  ASSERT_NE(wait_for_log(s.log, "SIGHUP: tokens file reloaded").find("SIGHUP: tokens file reloaded"), std::string::npos);
  b.send(request(2, "mtpc/stats", json::object()));
  EXPECT_EQ(error_code(b.reply(2)), -32010);
  EXPECT_TRUE(b.closed_by_server());
  {
    LspClient again(s.port, false);
    again.send(initialize(bob));
    EXPECT_EQ(error_code(again.reply(1)), -32010);
  }
  // alice is not disturbed.
  a.send(request(3, "mtpc/stats", json::object()));
  json stats = a.reply(3);
  ASSERT_TRUE(stats.contains("result")) << stats.dump();
  EXPECT_EQ(stats["result"]["access"]["authFailures"], 6) << stats.dump();
  EXPECT_EQ(run_command(quoted(kBinary) + " token list --tokens " + quoted(tokens)).output, "alice\n");
  stop(s);
  const std::string log = read_file(s.log);
  EXPECT_EQ(log.find(alice), std::string::npos) << "tokens never reach the log";
  EXPECT_EQ(log.find(bob), std::string::npos);
  EXPECT_NE(log.find("refused: unknown token"), std::string::npos) << log;
  EXPECT_NE(log.find("no valid initialize within --read-timeout-s"), std::string::npos) << log;
}

TEST(AccessProcess, ListenRulesRefuseAnOpenAddressWithoutTokens) {
  TempDir dir;
  auto r = run_command(quoted(kBinary) + " serve --listen 0.0.0.0:0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--insecure-no-auth"), std::string::npos) << r.output;
  r = run_command(quoted(kBinary) + " serve --listen 127.0.0.1:0 --tokens " + quoted(dir / "missing"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
  mtpc::testing::write_file(dir / "bad", "alice 1234\n");
  r = run_command(quoted(kBinary) + " serve --listen 127.0.0.1:0 --tokens " + quoted(dir / "bad"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("bad:1:"), std::string::npos) << r.output;
  r = run_command(quoted(kBinary) + " serve --listen 127.0.0.1:0 --tls-cert " + quoted(dir / "bad"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // Without tokens, on loopback: served, and the log says so.
  Server s = start(dir, {});
  ASSERT_GT(s.port, 0);
  EXPECT_NE(read_file(s.log).find("serving loopback only, without authentication"), std::string::npos);
  stop(s);
}

TEST(AccessProcess, TlsServesTlsClientsAndDropsMismatches) {
  TempDir dir;
  auto r = run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " +
                       quoted(dir / "key.pem") + " -out " + quoted(dir / "cert.pem"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string tokens = dir / "tokens";
  const std::string alice = add_token(tokens, "alice");
  Server tls = start(dir, {"--tokens", tokens, "--tls-cert", dir / "cert.pem", "--tls-key", dir / "key.pem"});
  ASSERT_GT(tls.port, 0) << read_file(tls.log);
  {  // a plain client on the TLS port: closed, logged
    LspClient plain(tls.port, false);
    plain.send(initialize(alice));
    EXPECT_TRUE(plain.reply(1).is_null());
    EXPECT_TRUE(plain.closed_by_server());
  }
  EXPECT_NE(wait_for_log(tls.log, "TLS handshake failed").find("TLS handshake failed"), std::string::npos);
  LspClient c(tls.port, true);
  ASSERT_TRUE(c.connected());
  c.send(initialize(alice));
  ASSERT_TRUE(c.reply(1).contains("result"));
  c.send(open_doc("file:///t.py", "def f():\n    return "));
  c.send(complete_at(2, "file:///t.py", 1, 11));
  EXPECT_TRUE(c.reply(2).contains("result"));
  stop(tls);

  TempDir plain_dir;
  Server plain = start(plain_dir, {"--tokens", tokens});
  ASSERT_GT(plain.port, 0);
  {  // a TLS client on the plain port: the handshake fails, the server lives
    LspClient t(plain.port, true, 10);
    EXPECT_FALSE(t.connected());
  }
  EXPECT_NE(wait_for_log(plain.log, "a TLS client on a plain port").find("a TLS client on a plain port"),
            std::string::npos);
  LspClient ok(plain.port, false);
  ok.send(initialize(alice));
  EXPECT_TRUE(ok.reply(1).contains("result"));
  stop(plain);
}

TEST(AccessProcess, LimitsRefuseTheExcessAndDisturbNobodyElse) {
  TempDir dir;
  const std::string tokens = dir / "tokens";
  const std::string alice = add_token(tokens, "alice"), bob = add_token(tokens, "bob");
  Server s = start(dir, {"--tokens", tokens, "--max-connections", "4", "--max-connections-per-user", "2",
                         "--requests-per-minute", "6", "--max-documents-per-user", "2", "--max-message-bytes",
                         "4096"});
  ASSERT_GT(s.port, 0) << read_file(s.log);
  LspClient a1(s.port, false), a2(s.port, false), b(s.port, false);
  for (LspClient* c : {&a1, &a2}) c->send(initialize(alice));
  b.send(initialize(bob));
  ASSERT_TRUE(a1.reply(1).contains("result"));
  ASSERT_TRUE(a2.reply(1).contains("result"));
  ASSERT_TRUE(b.reply(1).contains("result"));
  {  // alice's third connection
    LspClient a3(s.port, false);
    a3.send(initialize(alice));
    EXPECT_EQ(error_code(a3.reply(1)), -32011);
    EXPECT_TRUE(a3.closed_by_server());
  }
  {  // a flood: the 4th connection is admitted, the ones after it refused
    std::vector<std::unique_ptr<LspClient>> flood;
    for (int i = 0; i < 6; ++i) flood.push_back(std::make_unique<LspClient>(s.port, false, 10));
    int refused = 0;
    for (auto& c : flood) {
      json m = c->reply(nullptr);
      if (error_code(m) == -32011) ++refused;
    }
    EXPECT_EQ(refused, 5);
  }
  // Documents: the least recently used of alice's (any connection) is closed.
  a1.send(open_doc("file:///one.py", "a = "));
  a2.send(open_doc("file:///two.py", "b = "));
  a1.send(complete_at(2, "file:///two.py", 0, 4));  // another connection's document: not visible
  EXPECT_EQ(error_code(a1.reply(2)), -32602);
  a1.send(open_doc("file:///three.py", "c = "));
  a1.send(complete_at(3, "file:///three.py", 0, 4));
  EXPECT_TRUE(a1.reply(3).contains("result"));
  a1.send(complete_at(4, "file:///one.py", 0, 4));  // evicted by three.py
  json evicted = a1.reply(4);
  EXPECT_EQ(error_code(evicted), -32602) << evicted.dump();
  a2.send(complete_at(2, "file:///two.py", 0, 4));
  EXPECT_TRUE(a2.reply(2).contains("result"));
  // Rate: a1 has used 3 of alice's 6; the bucket is per user (a2 used 1).
  int64_t id = 10;
  json limited;
  for (int i = 0; i < 4 && limited.is_null(); ++i) {
    a1.send(request(id, "mtpc/stats", json::object()));
    json m = a1.reply(id++);
    if (error_code(m) == -32012) limited = m;
  }
  ASSERT_FALSE(limited.is_null()) << "alice's 7th request in a minute is refused";
  EXPECT_GT(limited["error"]["data"]["retryAfterMs"].get<int64_t>(), 0) << limited.dump();
  // bob is not limited, and alice's cancel of bob's request id changes nothing.
  b.send(request(2, "mtpc/stats", json::object()));
  json bs = b.reply(2);
  ASSERT_TRUE(bs.contains("result")) << bs.dump();
  EXPECT_EQ(bs["result"]["access"]["evictions"], 1) << bs.dump();
  EXPECT_GE(bs["result"]["access"]["rateLimited"], 1);
  EXPECT_GE(bs["result"]["access"]["rejectedConnections"], 6);
  // (alice is out of requests; her notifications still count for nothing.)
  b.send(open_doc("file:///b.py", "z = "));
  b.send(complete_at(3, "file:///b.py", 0, 4));
  a2.send(notification("$/cancelRequest", {{"id", 3}}));
  a1.send(notification("$/cancelRequest", {{"id", 3}}));
  json b3 = b.reply(3);
  EXPECT_TRUE(b3.contains("result")) << "another connection's cancel has no effect: " << b3.dump();
  // An oversized message: an error, the connection goes on.
  b.send_raw(lsp::frame_message(std::string(5000, ' ') + "{}"));
  EXPECT_EQ(error_code(b.reply(nullptr)), -32700);
  b.send(request(4, "mtpc/stats", json::object()));
  EXPECT_TRUE(b.reply(4).contains("result"));
  stop(s);
}

TEST(AccessProcess, SlowAndIdleClientsAreDropped) {
  TempDir dir;
  Server s = start(dir, {"--read-timeout-s", "1", "--idle-timeout-s", "2"});
  ASSERT_GT(s.port, 0) << read_file(s.log);
  LspClient idle(s.port, false, 20);
  {  // slow loris: a byte every 300 ms; dropped once a message is 1 s old
    LspClient slow(s.port, false, 20);
    const std::string header = "Content-Length: 100\r\n\r\n" + std::string(100, ' ');
    size_t sent = 0;
    for (; sent < 40 && slow.send_raw(header.substr(sent, 1)); ++sent)
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_LT(sent, 40u) << "the server should have closed the slow connection";
    EXPECT_TRUE(slow.closed_by_server());
  }
  EXPECT_TRUE(idle.closed_by_server()) << "a silent connection is closed after --idle-timeout-s";
  // Others are served meanwhile.
  LspClient ok(s.port, false);
  ok.send(initialize(""));
  EXPECT_TRUE(ok.reply(1).contains("result"));
  const std::string log = read_file(s.log);
  EXPECT_NE(log.find("slow client"), std::string::npos) << log;
  EXPECT_NE(log.find("idle for --idle-timeout-s"), std::string::npos) << log;
  stop(s);
}

// A client that goes away just as its completion is answered: the end of
// file and the finished write of the reply reach the I/O thread together.
// The server died of "double free" there once (the close freed the buffer of
// a write whose completion was still to run). The race window is the
// moment the reply is written, so the disconnect sweeps across it.
TEST(AccessProcess, ClientsLeavingAsTheirAnswerIsWrittenLeaveTheServerUp) {
  TempDir dir;
  Server s = start(dir, {});
  ASSERT_GT(s.port, 0) << read_file(s.log);
  const std::string text = "def greet(name):\n    print(\"hello\", name)\n\n    ";
  // How long an answer takes here.
  double answer_ms = 0;
  {
    LspClient c(s.port, false);
    c.send(initialize(""));
    ASSERT_TRUE(c.reply(1).contains("result"));
    c.send(open_doc("file:///a.py", text));
    const auto t0 = std::chrono::steady_clock::now();
    c.send(complete_at(2, "file:///a.py", 3, 4));
    ASSERT_TRUE(c.reply(2).contains("result"));
    answer_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  for (int i = 0; i < 320; ++i) {
    LspClient c(s.port, false, 20);
    c.send(initialize(""));
    ASSERT_TRUE(c.reply(1).contains("result")) << "connection " << i << ": " << read_file(s.log);
    c.send(open_doc("file:///a.py", text));
    c.send(complete_at(2, "file:///a.py", 3, 4));
    // 0 to 2x the answer time, in 80 steps.
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(answer_ms * 1000 * (i % 80) / 40)));
    c.shutdown_write();
    c.closed_by_server();
  }
  LspClient after(s.port, false);
  after.send(initialize(""));
  EXPECT_TRUE(after.reply(1).contains("result")) << read_file(s.log);
  EXPECT_FALSE(s.process->wait(std::chrono::milliseconds(10)).has_value()) << "the server ended: " << read_file(s.log);
  stop(s);
}

}  // namespace
}  // namespace mtpc::lsp_testing
