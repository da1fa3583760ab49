// The HTTP port as safe as the LSP port, through the real binary: HTTPS with
// the LSP port's certificate (curl --cacert, the openai npm client with
// NODE_EXTRA_CA_CERTS), plain/TLS mismatches both ways, the per-user request
// bucket (429 + Retry-After) and the connection limits shared with LSP, slow
// clients, removed users, and the access numbers on /metrics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/test_util.h"
#include "lsp/access_client.h"
#include "lsp/http_serve.h"
#include "lsp/server_fixture.h"

namespace mtpc::lsp_testing {
namespace {

using json = nlohmann::json;
using mtpc::testing::read_file;

// A raw TCP client: bytes in, whatever comes back (bounded waits).
class RawConnection {
 public:
  explicit RawConnection(int port, int receive_timeout_s = 20) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{receive_timeout_s, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Reads until `until` has arrived, the peer closed or the timeout; all read.
  std::string receive(const std::string& until = "\r\n\r\n") {
    std::string got;
    char buf[4096];
    while (got.find(until) == std::string::npos) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = n == 0 || errno == ECONNRESET;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  // True when the server closed the connection within the timeout.
  bool closed_by_server() {
    receive("\x01never\x02");
    return closed_;
  }

 private:
  int fd_ = -1;
  bool connected_ = false, closed_ = false;
};

std::string add_token(const std::string& tokens, const std::string& name) {
  CommandResult r = run_command(quoted(kBinary) + " token add " + name + " --tokens " + quoted(tokens));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output.substr(0, r.output.find('\n'));
}

// A self-signed certificate for 127.0.0.1 (as an IP subjectAltName: curl
// and Node check the address there), made at test time.
void make_certificate(const TempDir& dir) {
  CommandResult r = run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                                "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                                quoted(dir / "key.pem") + " -out " + quoted(dir / "cert.pem"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

std::string wait_for_log(const std::string& log, const std::string& text) {
  std::string got;
  for (int i = 0; i < 300; ++i) {
    got = read_file(log);
    if (got.find(text) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

// The value of one sample line of the text format ("NAME{LABELS} VALUE"), -1 when absent.
double sample(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

json lsp_request(int64_t id, const std::string& method, const json& params) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}
json lsp_initialize(const std::string& token) {
  return lsp_request(1, "initialize",
                     {{"capabilities", json::object()}, {"initializationOptions", {{"mtpc", {{"token", token}}}}}});
}
int error_code(const json& m) { return m.is_object() && m.contains("error") ? m["error"].value("code", 0) : 0; }

std::string bearer(const std::string& token) { return "-H " + quoted("Authorization: Bearer " + token) + " "; }

TEST(HttpAccess, HttpsServesCurlAndTheOpenAiClientAndAnswersPlainHttpClearly) {
  TempDir certs;
  make_certificate(certs);
  const std::string cert = certs / "cert.pem", key = certs / "key.pem", tokens = certs / "tokens";
  const std::string alice = add_token(tokens, "alice");
  HttpServe s({"--tokens", tokens, "--tls-cert", cert, "--tls-key", key, "--listen", "127.0.0.1:0",
               "--http-read-timeout-ms", "3000", "--max-body-bytes", "8192"},
              cert);
  ASSERT_GT(s.port(), 0);
  EXPECT_NE(read_file(s.log()).find("(HTTPS)"), std::string::npos) << read_file(s.log());
  // curl verifies the certificate against the CA file.
  EXPECT_EQ(s.curl("/health").first, 200);
  auto done = s.curl("/v1/completions", bearer(alice) + "-H 'Content-Type: application/json' -d " +
                                            quoted(R"({"prompt":"def f(x):\n    return ","max_tokens":4})"));
  ASSERT_EQ(done.first, 200) << done.second;
  EXPECT_EQ(json::parse(done.second)["object"], "text_completion");
  EXPECT_EQ(s.curl("/v1/models").first, 401);
  // An answer that closes the connection (413) ends the TLS session cleanly.
  auto big = s.post("/v1/completions", R"({"prompt":")" + std::string(10000, 'a') + R"("})");
  EXPECT_EQ(big.first, 413) << big.second;
  EXPECT_NE(big.second.find("larger than 8192"), std::string::npos) << big.second;

  // The openai npm client over HTTPS, trusting the CA through Node's variable.
  if (!MTPC_E2E_OPENAI_REQUIRED) FAIL() << "npm was not found at configure time (scripts/setup installs Node and npm)";
  const std::string modules = std::string(MTPC_E2E_OPENAI_DIR) + "/node_modules";
  CommandResult node = run_command("NODE_EXTRA_CA_CERTS=" + quoted(cert) + " MTPC_API_KEY=" + quoted(alice) +
                                   " NODE_PATH=" + quoted(modules) + " timeout 120 node " +
                                   quoted(std::string(MTPC_E2E_DIR) + "/openai/client.js") + " " + quoted(s.url("/v1")) +
                                   " " + quoted("def add(a, b):\n    return") + " 6");
  EXPECT_EQ(node.exit_code, 0) << node.output << "\nserver log:\n" << read_file(s.log());
  EXPECT_NE(node.output.find("\"plain\""), std::string::npos) << node.output;
  // Without the CA the client refuses the certificate: it is really checked.
  CommandResult untrusted = run_command("MTPC_API_KEY=" + quoted(alice) + " NODE_PATH=" + quoted(modules) +
                                        " timeout 120 node " + quoted(std::string(MTPC_E2E_DIR) + "/openai/client.js") +
                                        " " + quoted(s.url("/v1")) + " x 2");
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.output;

  // Plain HTTP on the HTTPS port: a readable 400, then the close.
  const std::string plain_url = "http://127.0.0.1:" + std::to_string(s.port()) + "/health";
  CommandResult plain = run_command("curl -s --max-time 20 -w ' %{http_code}' " + quoted(plain_url));
  EXPECT_NE(plain.output.find(" 400"), std::string::npos) << plain.output;
  EXPECT_NE(plain.output.find("use https://"), std::string::npos) << plain.output;
  {  // A client that never starts its handshake is dropped after --http-read-timeout-ms.
    RawConnection silent(s.port());
    ASSERT_TRUE(silent.connected());
    EXPECT_TRUE(silent.closed_by_server());
  }
  {  // So is one that starts it (a TLS record's first byte) and stops.
    RawConnection stalled(s.port());
    ASSERT_TRUE(stalled.send("\x16\x03\x01"));
    EXPECT_TRUE(stalled.closed_by_server());
  }
  // The LSP port serves TLS with the same certificate.
  const int lsp_port = wait_for_port(s.log(), " listening on 127.0.0.1:");
  LspClient c(lsp_port, true);
  ASSERT_TRUE(c.connected());
  c.send(lsp_initialize(alice));
  EXPECT_TRUE(c.reply(1).contains("result"));
  EXPECT_EQ(s.curl("/health").first, 200);
  const std::string metrics = s.curl("/metrics").second;
  EXPECT_GE(sample(metrics, "mtpc_connection_timeouts_total{transport=\"http\"}"), 2) << metrics;
  const std::string log = read_file(s.log());
  EXPECT_NE(log.find("no TLS handshake within --http-read-timeout-ms"), std::string::npos) << log;
  EXPECT_NE(log.find("TLS handshake not done within --http-read-timeout-ms"), std::string::npos) << log;
  EXPECT_NE(log.find("plain HTTP on the HTTPS port"), std::string::npos) << log;
  EXPECT_EQ(log.find(alice), std::string::npos) << "tokens never reach the log";
}

// --http-plain keeps the HTTP port plain beside a TLS LSP port (deploy/: HAProxy
// health-checks and Prometheus scrapes it over HTTP); a TLS client there is closed.
TEST(HttpAccess, TlsClientOnThePlainPortFailsFastAndTheServerGoesOn) {
  TempDir certs;
  make_certificate(certs);
  HttpServe s({"--listen", "127.0.0.1:0", "--tls-cert", certs / "cert.pem", "--tls-key", certs / "key.pem",
               "--http-plain"});
  ASSERT_GT(s.port(), 0);
  EXPECT_EQ(read_file(s.log()).find("(HTTPS)"), std::string::npos) << read_file(s.log());
  EXPECT_NE(read_file(s.log()).find("TLS no tokens; listening"), std::string::npos) << read_file(s.log());
  CommandResult r = run_command("curl -s --max-time 20 -k -o /dev/null -w '%{http_code}' " +
                                quoted("https://127.0.0.1:" + std::to_string(s.port()) + "/health"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 28) << "the server must not leave a TLS client hanging: " << r.output;
  EXPECT_NE(wait_for_log(s.log(), "a TLS client on the plain HTTP port").find("a TLS client on the plain HTTP port"),
            std::string::npos);
  EXPECT_EQ(s.curl("/health").first, 200);
}

// One --requests-per-minute bucket per user for both ports: alice's LSP
// requests and HTTP requests draw from it; bob is not disturbed.
TEST(HttpAccess, RateLimitIsPerUserSharedWithLspAndAnswers429WithRetryAfter) {
  TempDir dir;
  const std::string tokens = dir / "tokens";
  const std::string alice = add_token(tokens, "alice"), bob = add_token(tokens, "bob");
  HttpServe s({"--tokens", tokens, "--listen", "127.0.0.1:0", "--requests-per-minute", "4"});
  ASSERT_GT(s.port(), 0);
  const int lsp_port = wait_for_port(s.log(), " listening on 127.0.0.1:");
  LspClient a(lsp_port, false);
  a.send(lsp_initialize(alice));
  ASSERT_TRUE(a.reply(1).contains("result"));
  for (int id = 2; id <= 3; ++id) {
    a.send(lsp_request(id, "mtpc/stats", json::object()));
    EXPECT_TRUE(a.reply(id).contains("result"));
  }
  const std::string headers = dir / "headers";
  auto models = [&](const std::string& token) {
    return s.curl("/v1/models", "-D " + quoted(headers) + " " + bearer(token));
  };
  EXPECT_EQ(models(alice).first, 200);
  EXPECT_EQ(models(alice).first, 200);
  auto limited = models(alice);  // alice's 5th request within the minute
  ASSERT_EQ(limited.first, 429) << limited.second;
  json error = json::parse(limited.second)["error"];
  EXPECT_EQ(error["type"], "rate_limit_error");
  EXPECT_EQ(error["code"], "rate_limit_exceeded");
  EXPECT_NE(error["message"].get<std::string>().find("--requests-per-minute"), std::string::npos);
  const std::string h = read_file(headers);
  const size_t retry = h.find("Retry-After: ");
  ASSERT_NE(retry, std::string::npos) << h;
  const int seconds = std::stoi(h.substr(retry + 13));
  EXPECT_GE(seconds, 1);
  EXPECT_LE(seconds, 15) << "one request's worth at 4 a minute";
  EXPECT_EQ(models(bob).first, 200);
  // The bucket is alice's on the LSP port too.
  a.send(lsp_request(4, "mtpc/stats", json::object()));
  EXPECT_EQ(error_code(a.reply(4)), -32012);
  // /health and /metrics are not limited.
  for (int i = 0; i < 6; ++i) EXPECT_EQ(s.curl("/health").first, 200);
  const std::string metrics = s.curl("/metrics").second;
  EXPECT_EQ(sample(metrics, "mtpc_rate_limited_requests_total{transport=\"http\"}"), 1) << metrics;
  EXPECT_EQ(sample(metrics, "mtpc_rate_limited_requests_total{transport=\"lsp\"}"), 1) << metrics;
  EXPECT_EQ(sample(metrics, "mtpc_requests_total{endpoint=\"/v1/models\",outcome=\"client_error\"}"), 1) << metrics;
}

// The openai npm client reads the 429 as its RateLimitError, with our
// message, code and Retry-After.
TEST(HttpAccess, OpenAiClientSeesRateLimitError) {
  if (!MTPC_E2E_OPENAI_REQUIRED) FAIL() << "npm was not found at configure time (scripts/setup installs Node and npm)";
  TempDir dir;
  const std::string tokens = dir / "tokens";
  const std::string alice = add_token(tokens, "alice");
  HttpServe s({"--tokens", tokens, "--requests-per-minute", "3"});
  ASSERT_GT(s.port(), 0);
  const std::string modules = std::string(MTPC_E2E_OPENAI_DIR) + "/node_modules";
  CommandResult r = run_command("MTPC_API_KEY=" + quoted(alice) + " NODE_PATH=" + quoted(modules) +
                                " timeout 120 node " + quoted(std::string(MTPC_E2E_DIR) + "/openai/rate_limit.js") +
                                " " + quoted(s.url("/v1")) + " 10");
  ASSERT_EQ(r.exit_code, 0) << r.output << "\nserver log:\n" << read_file(s.log());
  const json out = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(out["answered"], 3) << r.output;
  EXPECT_EQ(out["status"], 429);
  EXPECT_EQ(out["type"], "rate_limit_error");
}

TEST(HttpAccess, WithoutTokensTheBucketIsPerClientAddress) {
  HttpServe s({"--requests-per-minute", "2"});
  ASSERT_GT(s.port(), 0);
  EXPECT_EQ(s.curl("/v1/models").first, 200);
  EXPECT_EQ(s.curl("/v1/models").first, 200);  // a new connection, the same address
  auto limited = s.post("/v1/completions", R"({"prompt":"x","max_tokens":2})");
  EXPECT_EQ(limited.first, 429) << limited.second;
  EXPECT_EQ(json::parse(limited.second)["error"]["code"], "rate_limit_exceeded");
}

// --max-connections counts LSP and HTTP connections together;
// --max-connections-per-user counts a user's connections on both ports.
TEST(HttpAccess, ConnectionLimitsCountHttpAndLspTogether) {
  TempDir dir;
  const std::string tokens = dir / "tokens";
  const std::string alice = add_token(tokens, "alice"), bob = add_token(tokens, "bob");
  // A long read timeout: the kept-alive connections below stay open however slow the machine.
  HttpServe s({"--tokens", tokens, "--listen", "127.0.0.1:0", "--max-connections", "3", "--max-connections-per-user",
               "1", "--http-read-timeout-ms", "120000"});
  ASSERT_GT(s.port(), 0);
  const int lsp_port = wait_for_port(s.log(), " listening on 127.0.0.1:");
  {  // a wrong token on the LSP port: counted for /metrics
    LspClient wrong(lsp_port, false);
    wrong.send(lsp_initialize(alice + "x"));
    EXPECT_EQ(error_code(wrong.reply(1)), -32010);
    EXPECT_TRUE(wrong.closed_by_server());
  }
  LspClient a(lsp_port, false);
  a.send(lsp_initialize(alice));
  ASSERT_TRUE(a.reply(1).contains("result"));
  // alice's one connection is the LSP one: her HTTP request is refused.
  auto second = s.curl("/v1/models", bearer(alice));
  EXPECT_EQ(second.first, 429) << second.second;
  EXPECT_EQ(json::parse(second.second)["error"]["code"], "too_many_connections") << second.second;
  EXPECT_EQ(s.curl("/v1/models", bearer(bob)).first, 200);

  // A flood: two kept-alive HTTP connections and alice's LSP one fill the 3.
  const std::string get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  RawConnection r1(s.port()), r2(s.port());
  for (RawConnection* r : {&r1, &r2}) {
    ASSERT_TRUE(r->send(get));
    EXPECT_NE(r->receive("\"ok\"}").find("200 OK"), std::string::npos);
  }
  RawConnection r3(s.port());
  const std::string refused = r3.receive("}");
  EXPECT_NE(refused.find("503 Service Unavailable"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  EXPECT_NE(refused.find("--max-connections"), std::string::npos) << refused;
  EXPECT_TRUE(r3.closed_by_server());
  EXPECT_EQ(s.curl("/health").first, 503);
  {  // the LSP port is full too
    LspClient l(lsp_port, false, 10);
    EXPECT_EQ(error_code(l.reply(nullptr)), -32011);
  }
  // One HTTP connection goes: there is room again (the server sees the close soon).
  r1.close();
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    status = s.curl("/health").first;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200);
  // alice's LSP connection was not disturbed.
  a.send(lsp_request(2, "mtpc/stats", json::object()));
  EXPECT_TRUE(a.reply(2).contains("result"));

  auto metrics = s.curl("/metrics");
  ASSERT_EQ(metrics.first, 200);
  const std::string& m = metrics.second;
  EXPECT_EQ(sample(m, "mtpc_auth_failures_total{transport=\"lsp\"}"), 1) << m;
  EXPECT_GE(sample(m, "mtpc_rejected_connections_total{transport=\"http\"}"), 3) << m;  // alice's, r3, curl
  EXPECT_EQ(sample(m, "mtpc_rejected_connections_total{transport=\"lsp\"}"), 1) << m;
  EXPECT_EQ(sample(m, "mtpc_open_connections{transport=\"lsp\"}"), 1) << m;
  EXPECT_GE(sample(m, "mtpc_open_connections{transport=\"http\"}"), 2) << m;  // r2 and this scrape
  const std::string file = s.dir() / "metrics.txt";
  mtpc::testing::write_file(file, m);
  CommandResult check = run_command("promtool check metrics < " + quoted(file));
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << m;
}

// --http-read-timeout-ms covers the whole request: the header and the body.
TEST(HttpAccess, SlowBodyIsDroppedAndCounted) {
  HttpServe s({"--http-read-timeout-ms", "1000"});
  ASSERT_GT(s.port(), 0);
  RawConnection slow(s.port());
  ASSERT_TRUE(slow.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 40\r\n\r\n"));
  // A byte every 200 ms: the 40-byte body would take 8 s.
  size_t sent = 0;
  for (; sent < 40 && slow.send("{"); ++sent) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const bool closed = sent < 40 || slow.closed_by_server();
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, 40u) << "the server should have closed the connection before the body was complete";
  EXPECT_EQ(s.curl("/health").first, 200);
  const std::string metrics = s.curl("/metrics").second;
  EXPECT_GE(sample(metrics, "mtpc_connection_timeouts_total{transport=\"http\"}"), 1) << metrics;
  EXPECT_NE(read_file(s.log()).find("slow client"), std::string::npos) << read_file(s.log());
}

// `mtpc serve --http` alone: SIGHUP re-reads the tokens file; a removed
// user's token is refused from the next request on, others go on.
TEST(HttpAccess, RemovedUserIsRefusedAfterSighup) {
  TempDir dir;
  const std::string tokens = dir / "tokens";
  const std::string alice = add_token(tokens, "alice"), bob = add_token(tokens, "bob");
  HttpServe s({"--tokens", tokens});
  ASSERT_GT(s.port(), 0);
  EXPECT_EQ(s.curl("/v1/models", bearer(bob)).first, 200);
  CommandResult r = run_command(quoted(kBinary) + " token remove bob --tokens " + quoted(tokens));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(::kill(s.process().pid(), SIGHUP), 0);
  ASSERT_NE(wait_for_log(s.log(), "SIGHUP: tokens file reloaded").find("SIGHUP: tokens file reloaded"),
            std::string::npos);
  auto refused = s.curl("/v1/models", bearer(bob));
  EXPECT_EQ(refused.first, 401) << refused.second;
  EXPECT_EQ(json::parse(refused.second)["error"]["type"], "authentication_error");
  EXPECT_EQ(s.curl("/v1/models", bearer(alice)).first, 200);
}

}  // namespace
}  // namespace mtpc::lsp_testing
