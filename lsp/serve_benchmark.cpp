#include "lsp/serve_benchmark.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "base/machine.h"
#include "lsp/framing.h"
#include "lsp/replay_benchmark.h"
#include "lsp/server_process.h"

namespace mtpc::lsp {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// One LSP connection over a plain TCP socket (blocking writes, polled reads).
class Client {
 public:
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status connect(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return Status::Error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      return Status::Error("cannot connect to 127.0.0.1:" + std::to_string(port));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return Status::Ok();
  }
  bool send(const json& m) {
    const std::string bytes = frame_message(m.dump());
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // The next message, waiting until `until`; nullopt on timeout or a closed connection.
  std::optional<json> receive(Clock::time_point until) {
    for (;;) {
      if (!messages_.empty()) {
        json m = std::move(messages_.front());
        messages_.erase(messages_.begin());
        return m;
      }
      if (closed_) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        closed_ = true;
        continue;
      }
      reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
  std::vector<json> messages_;
  FrameReader reader_{FramingOptions{}, [this](std::string body) {
                        json m = json::parse(body, nullptr, false);
                        if (!m.is_discarded()) messages_.push_back(std::move(m));
                      },
                      [](const std::string&) {}};
};

// What one typist saw.
struct Tally {
  int64_t requests = 0, replies = 0, on_time = 0, busy = 0, cancelled = 0, errors = 0;
  std::vector<double> latencies;  // of replies with a result
  std::string failure;            // the typist could not run
};

void type_file(uint16_t port, int index, const std::string& script, const ServeBenchmarkOptions& o,
               Clock::time_point start, Tally& t) {
  Client c;
  if (Status s = c.connect(port); !s.ok()) {
    t.failure = s.message();
    return;
  }
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  int64_t next_id = 1;
  std::map<int64_t, Clock::time_point> sent;
  auto take = [&](const json& m) {
    if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer()) return;
    auto it = sent.find(m["id"].get<int64_t>());
    if (it == sent.end()) return;
    ++t.replies;
    if (m.contains("result")) {
      const double ms = ms_since(it->second);
      t.latencies.push_back(ms);
      if (ms <= o.keystroke_ms) ++t.on_time;
    } else {
      const int code = m.contains("error") ? m["error"].value("code", 0) : 0;
      if (code == -32800 || code == -32801) ++t.cancelled;
      else if (code == -32020) ++t.busy;
      else ++t.errors;
    }
    sent.erase(it);
  };
  auto call = [&](const std::string& method, const json& params) -> bool {
    const int64_t id = next_id++;
    if (!c.send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}})) return false;
    const auto until = Clock::now() + timeout;
    while (auto m = c.receive(until))
      if (m->is_object() && m->value("id", json()) == id) return true;
    return false;
  };
  if (!call("initialize", {{"capabilities", {{"general", {{"positionEncodings", {"utf-8"}}}}}}})) {
    t.failure = "no reply to initialize";
    return;
  }
  c.send({{"jsonrpc", "2.0"}, {"method", "initialized"}, {"params", json::object()}});
  TypedDocument doc("file:///bench/typist" + std::to_string(index) + ".py");
  const std::string& uri = doc.uri();
  c.send(doc.open());
  const auto period = std::chrono::milliseconds(o.keystroke_ms);
  for (size_t i = 0; i < script.size(); ++i) {
    const auto at = start + period * static_cast<int64_t>(i);
    while (Clock::now() < at)
      if (auto m = c.receive(at)) take(*m);
    c.send(doc.type(script[i]));
    const int64_t id = next_id++;
    sent[id] = Clock::now();
    ++t.requests;
    if (!c.send({{"jsonrpc", "2.0"},
                 {"id", id},
                 {"method", "textDocument/inlineCompletion"},
                 {"params", {{"textDocument", {{"uri", uri}}}, {"position", {{"line", doc.line()}, {"character", doc.character()}}},
                             {"context", {{"triggerKind", 2}}}}}})) {
      t.failure = "connection closed while typing";
      return;
    }
  }
  const auto until = Clock::now() + timeout;
  while (!sent.empty())
    if (auto m = c.receive(until)) take(*m);
    else break;
}

Result<uint16_t> wait_for_port(const std::string& log, ServerProcess& server, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  const std::string marker = "listening on 127.0.0.1:";
  while (Clock::now() < until) {
    std::ifstream in(log);
    std::string l;
    while (std::getline(in, l))
      if (auto p = l.find(marker); p != std::string::npos) return static_cast<uint16_t>(std::stoi(l.substr(p + marker.size())));
    if (server.wait(std::chrono::milliseconds(50))) return Status::Error("the server ended before listening (log: " + log + ")");
  }
  return Status::Error("the server did not listen within " + std::to_string(timeout.count()) + " ms (log: " + log + ")");
}

// The server's own counters, over a connection of their own.
json server_stats(uint16_t port, std::chrono::milliseconds timeout) {
  Client c;
  if (!c.connect(port).ok()) return json::object();
  c.send({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", {{"capabilities", json::object()}}}});
  c.send({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "mtpc/stats"}, {"params", json::object()}});
  const auto until = Clock::now() + timeout;
  while (auto m = c.receive(until))
    if (m->is_object() && m->value("id", json()) == 2) return m->value("result", json::object());
  return json::object();
}

Result<json> run_once(const ServeBenchmarkOptions& o, const std::string& script, int clients, bool batching) {
  const std::string log = o.log_dir + "/mtpc-bench-serve-" + std::to_string(::getpid()) + "-" +
                          std::to_string(clients) + (batching ? "-batched" : "-single") + ".log";
  std::remove(log.c_str());
  std::vector<std::string> argv = {o.mtpc_binary, "--threads", std::to_string(o.threads), "--device", o.device,
                                   "serve", "--model", o.model, "--listen", "127.0.0.1:0", "--log", log,
                                   "--deadline-ms", std::to_string(o.deadline_ms), "--syntax-retries",
                                   std::to_string(o.syntax_retries), "--max-batch",
                                   std::to_string(o.max_batch), "--max-queue", std::to_string(o.max_queue)};
  if (!batching) argv.push_back("--no-batching");
  auto server = ServerProcess::spawn(argv);
  if (!server.ok()) return server.status();
  auto port = wait_for_port(log, **server, std::chrono::milliseconds(std::max(o.timeout_ms, 60000)));
  if (!port.ok()) return port.status();

  std::vector<Tally> tallies(static_cast<size_t>(clients));
  std::vector<std::thread> typists;
  // Keystrokes of the typists spread over one interval, as real ones would be.
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  for (int i = 0; i < clients; ++i) {
    const auto offset = std::chrono::microseconds(static_cast<int64_t>(1000.0 * o.keystroke_ms * i / clients));
    typists.emplace_back(type_file, *port, i, std::cref(script), std::cref(o), start + offset,
                         std::ref(tallies[static_cast<size_t>(i)]));
  }
  for (auto& t : typists) t.join();
  const double seconds = ms_since(start) / 1000.0;
  const json stats = server_stats(*port, std::chrono::milliseconds(o.timeout_ms));
  (*server)->terminate();
  const auto code = (*server)->wait(std::chrono::milliseconds(o.timeout_ms));

  Tally all;
  for (const Tally& t : tallies) {
    if (!t.failure.empty()) return Status::Error("a typist failed: " + t.failure);
    all.requests += t.requests;
    all.replies += t.replies;
    all.on_time += t.on_time;
    all.busy += t.busy;
    all.cancelled += t.cancelled;
    all.errors += t.errors;
    all.latencies.insert(all.latencies.end(), t.latencies.begin(), t.latencies.end());
  }
  const int64_t tokens = stats.value("tokens", int64_t{0});
  return json{{"clients", clients},
              {"batching", batching},
              {"requests", all.requests},
              {"replies", all.replies},
              {"every_request_answered", all.replies == all.requests},
              {"answered", static_cast<int64_t>(all.latencies.size())},
              {"answered_before_next_keystroke", all.requests ? static_cast<double>(all.on_time) / all.requests : 0.0},
              {"busy", all.busy},
              {"cancelled", all.cancelled},
              {"errors", all.errors},
              {"p50_ms", percentile(all.latencies, 50)},
              {"p95_ms", percentile(all.latencies, 95)},
              {"p99_ms", percentile(all.latencies, 99)},
              {"tokens", tokens},
              {"tokens_per_s", seconds > 0 ? tokens / seconds : 0.0},
              {"seconds", seconds},
              {"server_exit_code", code ? json(*code) : json(nullptr)}};
}

}  // namespace

Result<json> run_serve_benchmark(const ServeBenchmarkOptions& o) {
  Result<std::string> typed = typed_script(o.file, o.max_keystrokes);
  if (!typed.ok()) return typed.status();
  const std::string script = std::move(typed.value());
  if (o.clients.empty()) return Status::Error("--clients: give at least one count");
  for (int n : o.clients)
    if (n < 1 || n > 256) return Status::Error("--clients: each count must be in 1..256, got " + std::to_string(n));
  json runs = json::array(), gain = json::array();
  for (int n : o.clients) {
    auto batched = run_once(o, script, n, true);
    if (!batched.ok()) return batched.status();
    runs.push_back(*batched);
    if (!o.compare_no_batching) continue;
    auto single = run_once(o, script, n, false);
    if (!single.ok()) return single.status();
    runs.push_back(*single);
    auto ratio = [](double a, double b) { return b > 0 ? json(a / b) : json(nullptr); };
    gain.push_back({{"clients", n},
                    {"p99_ratio", ratio((*single)["p99_ms"].get<double>(), (*batched)["p99_ms"].get<double>())},
                    {"tokens_per_s_ratio",
                     ratio((*batched)["tokens_per_s"].get<double>(), (*single)["tokens_per_s"].get<double>())},
                    {"on_time_ratio", ratio((*batched)["answered_before_next_keystroke"].get<double>(),
                                            (*single)["answered_before_next_keystroke"].get<double>())}});
  }
  return json{{"runs", runs},
              {"gain", gain},
              {"keystroke_ms", o.keystroke_ms},
              {"deadline_ms", o.deadline_ms},
              {"syntax_retries", o.syntax_retries},
              {"max_batch", o.max_batch},
              {"machine", machine_description(o.device, o.threads)}};
}

}  // namespace mtpc::lsp
