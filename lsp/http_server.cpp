#include "lsp/http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <type_traits>

#include "lsp/tls.h"

namespace mtpc::lsp {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(HttpApi& a, Logger& l, HttpServerOptions o)
      : api(a), log(l), options(o), io(std::make_shared<net::io_context>()), acceptor(*io) {}
  void accept();

  HttpApi& api;
  Logger& log;
  HttpServerOptions options;
  std::shared_ptr<net::io_context> io;
  tcp::acceptor acceptor;
  std::atomic<size_t> connections{0};
};

namespace {

std::string status_line(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\r\n";
}

// A whole answer written before any request was read (over the connection
// limit; plain HTTP on the HTTPS port): it closes the connection.
std::string early_answer(int status, const std::string& message, const std::string& type) {
  const std::string body = error_body(message, type);
  return status_line(status) + "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + (status == 503 ? "Retry-After: 1\r\n" : "") + "Connection: close\r\n\r\n" + body;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// What an Exchange needs of a connection, whatever its stream.
class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  virtual ~ConnectionBase() = default;
  virtual void reply(HttpReply r) = 0;
  virtual void stream_begin() = 0;
  virtual void stream_data(const std::string& bytes) = 0;
  virtual void stream_end() = 0;
  virtual bool hold_user(const std::string& user) = 0;  // on the I/O thread
  virtual std::shared_ptr<CancellationToken> cancel() const = 0;
  virtual net::any_io_executor executor() = 0;
};

std::shared_ptr<HttpExchange> make_exchange(std::shared_ptr<ConnectionBase> c, std::shared_ptr<net::io_context> io);

// One client connection over Stream: beast::tcp_stream (HTTP) or
// TlsStream (HTTPS).
template <typename Stream>
class Connection : public ConnectionBase {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `admitted`: the connection holds an AccessControl --max-connections slot.
  template <typename... StreamArgs>
  Connection(std::shared_ptr<HttpServer::Impl> server, bool admitted, StreamArgs&&... stream_args)
      : server_(std::move(server)), stream_(std::forward<StreamArgs>(stream_args)...), admitted_(admitted) {
    ++server_->connections;
    beast::error_code ec;
    auto ep = lowest().socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string();
  }
  ~Connection() override {
    --server_->connections;
    if (AccessControl* access = server_->options.access.get()) {
      if (!user_.empty()) access->release_user_connection(user_);
      if (admitted_) access->release_connection(kHttp);
    }
  }

  void start() {
    if (!admitted_ && server_->options.access) {
      log("refused: over --max-connections");
      if constexpr (kTls) return close();  // no handshake is spent on it
      return early_close(early_answer(503, "too many connections (--max-connections)", "server_overloaded"));
    }
    if constexpr (kTls) {
      // The first bytes tell a TLS client (a handshake record, 0x16) from a
      // plain one, which gets a readable answer instead of a broken handshake.
      lowest().expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
      lowest().async_read_some(buffer_.prepare(4096), [self = self()](beast::error_code ec, size_t n) {
        self->buffer_.commit(n);
        if (ec) {
          if (ec == beast::error::timeout) self->timed_out("no TLS handshake within --http-read-timeout-ms");
          return self->close();
        }
        if (static_cast<unsigned char>(static_cast<const char*>(self->buffer_.data().data())[0]) != 0x16) {
          self->log("closed: plain HTTP on the HTTPS port");
          return self->early_close(early_answer(400, "this port speaks HTTPS (TLS): use https://", "invalid_request_error"));
        }
        self->stream_.async_handshake(net::ssl::stream_base::server, self->buffer_.data(),
                                      [self](beast::error_code hec, size_t) {
                                        self->buffer_.consume(self->buffer_.size());
                                        if (hec) {
                                          if (hec == beast::error::timeout)
                                            self->timed_out("TLS handshake not done within --http-read-timeout-ms");
                                          else
                                            self->log("TLS handshake failed: " + hec.message());
                                          return self->close();
                                        }
                                        self->read();
                                      });
      });
    } else {
      read();
    }
  }

  // Called through Exchange, posted onto the I/O thread.
  void reply(HttpReply r) override {
    if (r.close) keep_alive_ = false;
    std::string out = status_line(r.status);
    out += "Content-Type: " + r.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
    if (!keep_alive_) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head_) out += r.body;
    queue(std::move(out), true);
  }
  void stream_begin() override {
    std::string out = status_line(200);
    out += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
    if (!keep_alive_) out += "Connection: close\r\n";
    out += "\r\n";
    queue(std::move(out), false);
  }
  void stream_data(const std::string& bytes) override {
    if (bytes.empty()) return;  // an empty chunk would end the body
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
    queue(size + bytes + "\r\n", false);
  }
  void stream_end() override { queue("0\r\n\r\n", true); }
  // The connection's --max-connections-per-user slot follows the user its
  // requests authenticate as.
  bool hold_user(const std::string& user) override {
    AccessControl* access = server_->options.access.get();
    if (!access || user == user_) return true;
    if (!access->admit_user_connection(user, kHttp)) {
      log("refused: over --max-connections-per-user");
      return false;
    }
    if (!user_.empty()) access->release_user_connection(user_);
    user_ = user;
    return true;
  }
  std::shared_ptr<CancellationToken> cancel() const override { return cancel_; }
  net::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  std::shared_ptr<Connection> self() { return std::static_pointer_cast<Connection>(shared_from_this()); }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  void log(const std::string& what) {
    server_->log.line("http " + (peer_.empty() ? std::string("client") : peer_) + (kTls ? " (TLS) " : " ") + what);
  }
  void timed_out(const std::string& what) {
    if (server_->options.access) server_->options.access->count_timeout(kHttp);
    log("dropped: " + what);
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    lowest().expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = self()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // Clients that send "Expect: 100-continue" (curl, for bodies over 1 KiB)
  // wait for it before sending the body; the read timeout still covers the
  // whole request.
  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    const auto expect = parser_->get()[http::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue), [self = self()](beast::error_code ec, size_t) {
        if (ec) {
          if (ec == beast::error::timeout) self->timed_out("request not complete within --http-read-timeout-ms");
          return self->close();
        }
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = self()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      // Idle between requests or slow within one: either way the limit.
      timed_out(parser_ && parser_->got_some() ? "request not complete within --http-read-timeout-ms (slow client)"
                                               : "idle for --http-read-timeout-ms");
      return close();
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof) {
      return close();
    }
    if (ec) {
      if constexpr (!kTls) {
        if (requests_ == 0 && buffer_.size() > 0 &&
            static_cast<unsigned char>(static_cast<const char*>(buffer_.data().data())[0]) == 0x16) {
          log("closed: a TLS client on the plain HTTP port (the server has no --tls-cert)");
          return close();
        }
      }
      keep_alive_ = false;
      int status = 400;
      std::string message = "malformed request: " + ec.message();
      if (ec == http::error::body_limit) {
        status = 413;
        message = "the body is larger than " + std::to_string(server_->options.max_body_bytes) + " bytes";
      } else if (ec == http::error::header_limit) {
        status = 431;
        message = "the request headers are larger than " + std::to_string(server_->options.max_header_bytes) +
                  " bytes";
      } else if (ec.category() != http::make_error_code(http::error::body_limit).category()) {
        return close();  // a socket or TLS error, not a parse error: nothing to answer
      }
      HttpReply r;
      r.status = status;
      r.body = error_body(message, "invalid_request_error");
      return reply(std::move(r));
    }
    ++requests_;
    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    head_ = request.method() == http::verb::head;
    cancel_ = std::make_shared<CancellationToken>();
    lowest().expires_never();  // the request's deadline bounds the generation
    HttpRequest r;
    r.method = std::string(request.method_string());
    r.target = std::string(request.target());
    if (auto it = request.find(http::field::authorization); it != request.end())
      r.authorization = std::string(it->value());
    r.body = std::move(request.body());
    r.peer = peer_;
    server_->api.handle(std::move(r), make_exchange(shared_from_this(), server_->io));
  }

  void queue(std::string bytes, bool last) {
    writes_.push_back({std::move(bytes), last});
    if (!writing_) write_next();
  }

  void write_next() {
    if (writes_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    lowest().expires_after(std::chrono::milliseconds(server_->options.write_timeout_ms));
    net::async_write(stream_, net::buffer(writes_.front().bytes),
                     [self = self()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) {
      if (cancel_) cancel_->cancel();  // the client is gone: stop generating
      writes_.clear();
      writing_ = false;
      return close();
    }
    const bool last = writes_.front().last;
    writes_.pop_front();
    if (last) {
      lowest().expires_never();
      if (!keep_alive_) return linger_close();
      writes_.clear();
      writing_ = false;
      return read();
    }
    write_next();
  }

  // After an answer that closes the connection: stop sending (TLS: the
  // close_notify), then read and drop what the client still sends (bounded)
  // so that it sees the answer rather than a reset.
  void linger_close() {
    lowest().expires_after(std::chrono::seconds(1));
    if constexpr (kTls) {
      stream_.async_shutdown([self = self()](beast::error_code) { self->close(); });
    } else {
      beast::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      drain_.resize(64u << 10);
      drain();
    }
  }
  void drain() {
    lowest().async_read_some(net::buffer(drain_), [self = self()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > (1u << 20)) return self->close();
      self->drain();
    });
  }
  // An answer before any request (plain bytes on the TCP socket), then the close.
  void early_close(std::string answer) {
    keep_alive_ = false;
    early_ = std::make_shared<std::string>(std::move(answer));
    lowest().expires_after(std::chrono::milliseconds(server_->options.write_timeout_ms));
    net::async_write(lowest(), net::buffer(*early_), [self = self()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      beast::error_code ignored;
      self->lowest().expires_after(std::chrono::seconds(1));
      self->lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->drain_.resize(64u << 10);
      self->drain();
    });
  }

  void close() {
    if (cancel_) cancel_->cancel();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  struct Write {
    std::string bytes;
    bool last;  // the end of an answer
  };
  std::shared_ptr<HttpServer::Impl> server_;
  Stream stream_;
  bool admitted_;
  std::string peer_;  // the client's address
  std::string user_;  // whose --max-connections-per-user slot this holds
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<Write> writes_;
  bool writing_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  uint64_t requests_ = 0;
  std::shared_ptr<CancellationToken> cancel_;
  std::shared_ptr<std::string> early_;
  std::string drain_;
  size_t drained_ = 0;
};

// Thread-safe: every call but hold_user hops onto the connection's I/O
// thread (hold_user is called by HttpApi::handle, which runs there).
class Exchange : public HttpExchange {
 public:
  Exchange(std::shared_ptr<ConnectionBase> c, std::shared_ptr<net::io_context> io)
      : connection_(std::move(c)), io_(std::move(io)), cancel_(connection_->cancel()) {}
  void reply(HttpReply r) override {
    net::post(connection_->executor(), [c = connection_, r = std::move(r)]() mutable { c->reply(std::move(r)); });
  }
  void stream_begin() override { net::post(connection_->executor(), [c = connection_] { c->stream_begin(); }); }
  void stream_data(std::string bytes) override {
    net::post(connection_->executor(), [c = connection_, b = std::move(bytes)] { c->stream_data(b); });
  }
  void stream_end() override { net::post(connection_->executor(), [c = connection_] { c->stream_end(); }); }
  std::shared_ptr<const CancellationToken> cancel_token() override { return cancel_; }
  bool hold_user(const std::string& user) override { return connection_->hold_user(user); }

 private:
  std::shared_ptr<ConnectionBase> connection_;
  std::shared_ptr<net::io_context> io_;  // posts stay valid after the server stops
  std::shared_ptr<const CancellationToken> cancel_;
};

std::shared_ptr<HttpExchange> make_exchange(std::shared_ptr<ConnectionBase> c, std::shared_ptr<net::io_context> io) {
  return std::make_shared<Exchange>(std::move(c), std::move(io));
}

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(*io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      if (self->connections.load() >= self->options.max_connections) {
        self->log.line("http: connection limit reached; closing a new connection");
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        // Not admitted: still a Connection, which answers the refusal.
        const bool admitted = !self->options.access || self->options.access->admit_connection(kHttp);
        if (self->options.tls)
          std::make_shared<Connection<TlsStream>>(self, admitted, std::move(socket), self->options.tls->context())
              ->start();
        else
          std::make_shared<Connection<beast::tcp_stream>>(self, admitted, std::move(socket))->start();
      }
    }
    if (self->acceptor.is_open()) self->accept();
  });
}

HttpServer::HttpServer(HttpApi& api, Logger& log, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(api, log, options)) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return Status::Error("--http: not an IP address: " + host);
  tcp::endpoint endpoint(address, port);
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::Error("cannot listen for HTTP on " + host + ":" + std::to_string(port) + ": " + ec.message());
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->log.line("HTTP API on " + host + ":" + std::to_string(port_) + (impl_->options.tls ? " (HTTPS)" : ""));
  impl_->accept();
  thread_ = std::thread([io = impl_->io] {
    auto work = net::make_work_guard(*io);
    io->run();
  });
  return Status::Ok();
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  net::post(*impl_->io, [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  impl_->io->stop();
  thread_.join();
}

void wait_for_stop_signal(const std::function<void()>& on_hangup) {
  net::io_context io;
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  net::signal_set hangup(io, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](beast::error_code ec, int) {
      if (ec) return;
      if (on_hangup) on_hangup();
      wait_hangup();
    });
  };
  wait_hangup();
  io.run();
}

}  // namespace mtpc::lsp
